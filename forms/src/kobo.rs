//! KoboToolbox's exports: XLSX ("XML values and headers", group separator
//! `/`) with the root sheet first and one sheet per repeat, rows linked by
//! `_parent_index` to the root's `_index`; the submission's `_uuid`
//! (`meta/rootUuid` once edited, which stays the same across edits);
//! geopoints as `_PATH_latitude`, `_PATH_longitude`, `_PATH_altitude`,
//! `_PATH_precision` (or `lat lon alt precision` in the question's own
//! column); select_multiple space-separated. Also Kobo's CSV, `;`-separated
//! and without repeats. Photos are named in their column; their files come
//! from `--media DIR` (Kobo exports them apart).
//!
//! Owns: opening those files and laying their tables out for
//! [`crate::read`]. Must never: guess a column it cannot find.

use std::collections::BTreeMap;
use std::path::Path;

use ayni_node::submissions::Submission;
use calamine::{Data, Reader};

use crate::odk::csv_table;
use crate::read::{submissions, Layout, Table};
use crate::Error;

fn text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::DateTime(dt) => {
            let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
        }
        other => other.to_string(),
    }
}

fn sheets(name: &str, bytes: &[u8]) -> Result<Vec<Table>, Error> {
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes))
        .map_err(|e| Error::File { file: name.into(), reason: format!("not an XLSX workbook: {e}") })?;
    let mut out = vec![];
    for sheet in book.sheet_names() {
        let range = book
            .worksheet_range(&sheet)
            .map_err(|e| Error::File { file: name.into(), reason: format!("sheet {sheet}: {e}") })?;
        let mut rows = range.rows();
        let columns: Vec<String> = rows.next().map(|r| r.iter().map(text).collect()).unwrap_or_default();
        let rows = rows.map(|r| r.iter().map(text).collect()).collect();
        out.push(Table { file: format!("{name} sheet {sheet}"), columns, rows });
    }
    Ok(out)
}

/// Every submission in a KoboToolbox export (`.xlsx`, or `.csv` with `;`).
pub fn read(name: &str, bytes: &[u8], media: Option<&Path>) -> Result<Vec<Submission>, Error> {
    let (root, repeats) = if name.to_ascii_lowercase().ends_with(".csv") {
        (csv_table(name, bytes, b';')?, BTreeMap::new())
    } else {
        let mut tables = sheets(name, bytes)?.into_iter();
        let root = tables.next().ok_or_else(|| Error::File { file: name.into(), reason: "no sheets".into() })?;
        let repeats =
            tables.map(|t| (t.file.rsplit("sheet ").next().unwrap_or("").to_string(), t)).collect::<BTreeMap<_, _>>();
        (root, repeats)
    };
    let media_of = |f: &str| {
        let dir = media?;
        // a file name only: never a path out of the directory
        (!f.contains(['/', '\\']) && f != ".." && f != ".").then(|| std::fs::read(dir.join(f)).ok()).flatten()
    };
    let geo = |path: &[&str], part: &str| {
        let part = if part == "accuracy" { "precision" } else { part };
        vec![format!("_{}_{part}", path.join("/")), format!("_{}_{part}", path.last().unwrap_or(&""))]
    };
    let hint =
        if media.is_some() { " (the --media directory)" } else { ": give --media DIR with the export's attachments" };
    submissions(&Layout {
        tool: "kobo",
        sep: '/',
        root,
        repeats,
        id_columns: &["meta/rootUuid", "_uuid", "meta/instanceID"],
        link: ("_index", "_parent_index"),
        media: &media_of,
        media_hint: hint,
        geo_columns: &geo,
    })
}
