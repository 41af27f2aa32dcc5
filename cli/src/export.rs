//! `ayni export` and `ayni report event|cooperation`: records and reports as files a
//! person opens.
//!
//! Owns: reading the records (streamed, each once) and the references
//! they name, and where the bytes go — stdout, or `-o FILE` written
//! atomically. Must never: shape a table, lay out a report or encode a
//! format (that is `ayni-export`), or leave half a file under the name
//! asked for.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use ayni_export::csv_dialect::{CsvWriter, Dialect};
use ayni_export::geojson::GeoJsonWriter;
use ayni_export::{References, Tidy, TidyRow};
use ayni_node::NodeHandle as Node;
use ayni_node::{RecordStream, References as Refs};

use crate::args::{CsvDialect, Format, ReportFormat};
use crate::files::{outside_home, writable_target, write_file_atomically};
use crate::output::Out;
use crate::usage;

/// What `ayni export` was asked for.
pub(crate) struct Request {
    pub kind: String,
    pub format: Format,
    pub table: Option<String>,
    pub dialect: Option<CsvDialect>,
    pub output: Option<PathBuf>,
}

/// Writes the tidy export `request` names.
pub(crate) fn export(node: &Node, request: Request, out: &mut Out, cwd: &Path) -> Result<()> {
    let Request { kind, format, table, dialect, output } = request;
    if dialect.is_some() && format != Format::Csv {
        return Err(usage("--dialect is for --format csv"));
    }
    if let Some(path) = &output {
        writable_target(path, cwd)?;
        outside_home(node, path, cwd)?;
    } else if format == Format::Xlsx {
        return Err(usage("xlsx is a binary file: give -o FILE"));
    }
    if table.is_none() && matches!(format, Format::Json | Format::Jsonl) {
        // the records whole, as `import` reads them, into the file
        let path = output.as_ref().ok_or_else(|| usage("the record dump goes to stdout or -o FILE"))?;
        let mut buffer = vec![];
        let mut first = true;
        buffer.extend_from_slice(if format == Format::Json { b"[" } else { b"" });
        node.kind(&kind)?;
        // references by key: the dump means the same on any node
        for r in node.records(&crate::NODE, &kind, vec![], Refs::Keys) {
            if format == Format::Json && !std::mem::take(&mut first) {
                buffer.push(b',');
            }
            serde_json::to_writer(&mut buffer, &r?)?;
            if format == Format::Jsonl {
                buffer.push(b'\n');
            }
        }
        if format == Format::Json {
            buffer.extend_from_slice(b"]\n");
        }
        return write_file_atomically(path, cwd, &buffer);
    }
    let tables = ayni_node::tables::Tables::of(ayni_node::schema::schemas()?);
    // one table unless a workbook is asked for without --table
    let only = table.clone().or_else(|| (format != Format::Xlsx).then(|| kind.clone()));
    let tidy = Tidy::new(tables, &kind, only.as_deref()).map_err(|e| usage(e.to_string()))?;
    let mut refs = References::new(|id| crate::wait(node.get(&crate::NODE, id)).ok().map(|r| (r.key, r.title)));
    let records = || -> RecordStream { node.records(&crate::NODE, &kind, vec![], Refs::Ids) };
    let shown = output.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "standard output".into());
    let io =
        |e: ayni_export::Error| ayni_node::Error::Io { path: shown.clone().into(), source: std::io::Error::other(e) };

    let mut buffer = vec![];
    {
        let w: &mut dyn Write = if output.is_some() { &mut buffer } else { out.raw() };
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, w);
        let layout = &tidy.layouts[0];
        match format {
            Format::Csv => {
                let dialect = if dialect == Some(CsvDialect::Rfc4180) { Dialect::Rfc4180 } else { Dialect::Excel };
                let mut csv = CsvWriter::new(&mut w, dialect, layout)?;
                for r in records() {
                    csv.rows(&tidy.rows(0, &r?, &mut refs)).map_err(io)?;
                }
                csv.finish()?;
            }
            Format::Geojson => {
                let mut geo = GeoJsonWriter::new(&mut w, layout)?;
                for r in records() {
                    geo.rows(layout, &tidy.rows(0, &r?, &mut refs)).map_err(io)?;
                }
                geo.finish()?;
            }
            Format::Jsonl => {
                for r in records() {
                    ayni_export::write_jsonl(&mut w, layout, &tidy.rows(0, &r?, &mut refs)).map_err(io)?;
                }
            }
            Format::Json => {
                let mut rows = vec![];
                for r in records() {
                    rows.extend(tidy.rows(0, &r?, &mut refs).iter().map(|row| ayni_export::json_object(layout, row)));
                }
                serde_json::to_writer_pretty(&mut w, &rows)?;
                w.write_all(b"\n")?;
            }
            Format::Xlsx => {
                let mut sheets: Vec<Vec<TidyRow>> = vec![vec![]; tidy.layouts.len()];
                for r in records() {
                    let r = r?;
                    for (n, rows) in sheets.iter_mut().enumerate() {
                        rows.extend(tidy.rows(n, &r, &mut refs));
                    }
                }
                let pairs: Vec<_> = tidy.layouts.iter().zip(&sheets).map(|(l, r)| (l, r.as_slice())).collect();
                w.write_all(&ayni_export::xlsx::workbook(&pairs)?)?;
            }
        }
        w.flush()?;
    }
    if let Some(path) = &output {
        write_file_atomically(path, cwd, &buffer)?;
    }
    Ok(())
}

/// A report `ayni report` writes.
pub(crate) enum Report {
    Event(ayni_node::situation::EventReport),
    Cooperation(ayni_node::cooperation::CooperationReport),
}

/// Writes a report in `format`, to stdout or `output`.
pub(crate) fn report(
    node: &Node,
    report: &Report,
    format: ReportFormat,
    output: Option<&Path>,
    out: &mut Out,
    cwd: &Path,
) -> Result<()> {
    if let Some(path) = output {
        writable_target(path, cwd)?;
        outside_home(node, path, cwd)?;
    }
    let generated = ayni_export::generated_label(time::OffsetDateTime::now_utc());
    use ayni_export::{cooperation, situation};
    let text = match (report, format) {
        (Report::Event(r), ReportFormat::Md) => situation::markdown(r, &generated),
        (Report::Event(r), ReportFormat::Html) => situation::html(r, &generated),
        (Report::Event(r), ReportFormat::Json) => serde_json::to_string_pretty(r)? + "\n",
        (Report::Cooperation(r), ReportFormat::Md) => cooperation::markdown(r, &generated),
        (Report::Cooperation(r), ReportFormat::Html) => cooperation::html(r, &generated),
        (Report::Cooperation(r), ReportFormat::Json) => serde_json::to_string_pretty(r)? + "\n",
    };
    match output {
        Some(path) => write_file_atomically(path, cwd, text.as_bytes()),
        None => {
            out.raw().write_all(text.as_bytes())?;
            Ok(out.raw().flush()?)
        }
    }
}
