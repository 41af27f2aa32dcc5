//! Rendering: human tables by default, one JSON document with `--json`.
//!
//! Owns: every byte the CLI writes to stdout (or, for a command that came
//! through the control socket, sends back to its client). Must never:
//! compute anything the library did not return. Records and the store
//! here; the network, serving and sync side in `network.rs`.

mod network;
pub use network::{HttpInfo, Serving, Status};

use std::io::Write;

use anyhow::Result;
use ayni_node::node::{CheckReport, CompactReport, HistoryEntry, ImportReport, RecordConflicts};
use ayni_node::progress::Progress;
use ayni_node::repair::RepairReport;
use ayni_node::seed::SeedReport;
use ayni_node::{NodeHandle as Node, Record};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::Serialize;
use serde_json::Value;

/// A progress line on a terminal while a sync runs (never in `--json` mode).
pub fn progress(received: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} syncing: {msg} document message(s) received [{elapsed}]")
            .ok()?,
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let b = bar.clone();
    std::thread::spawn(move || {
        while !b.is_finished() {
            b.set_message(received.load(std::sync::atomic::Ordering::Relaxed).to_string());
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    });
    Some(bar)
}

pub struct Out {
    pub json: bool,
    stdout: Box<dyn Write + Send>,
    /// Where progress reports go, when they are wanted.
    progress: Option<std::sync::Arc<std::sync::Mutex<ayni_node::progress::Sink>>>,
}

/// A progress report as a line of stderr: on a terminal it rewrites the
/// current line (and ends it when the step is done), elsewhere one line per
/// report.
pub fn render_progress(p: &Progress, terminal: bool) -> String {
    let of = p.total.map(|t| format!(" of {t}")).unwrap_or_default();
    let text = format!("ayni: {}: {} {}{of} {}", p.task, p.step, p.done, p.unit);
    match (terminal, p.total == Some(p.done)) {
        (true, true) => format!("\r\x1b[K{text}\n"),
        (true, false) => format!("\r\x1b[K{text}"),
        (false, _) => format!("{text}\n"),
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header.to_vec());
    t
}

/// One line per leaf field: `tallies.z2.GAEM-1.dead  0`.
/// `text` with each document ID in `names` followed by what it names.
fn named(text: &str, names: &std::collections::BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (id, name) in names {
        if out.contains(id.as_str()) {
            out = out.replace(id.as_str(), &format!("{id} ({name})"));
        }
    }
    out
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&p, v, out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

impl Out {
    pub fn new(json: bool) -> Out {
        Out { json, stdout: Box::new(std::io::stdout()), progress: None }
    }

    /// Output written to `w` instead of stdout.
    pub fn to(json: bool, w: impl Write + Send + 'static) -> Out {
        Out { json, stdout: Box::new(w), progress: None }
    }

    /// Progress reports of long commands go to `sink`.
    pub fn with_progress(mut self, sink: impl FnMut(&Progress) + Send + 'static) -> Out {
        self.progress = Some(std::sync::Arc::new(std::sync::Mutex::new(Box::new(sink))));
        self
    }

    /// Where the node sends a long command's progress: to this output's
    /// sink, from the node's engine thread.
    pub fn progress_sink(&self) -> ayni_node::progress::Sink {
        match &self.progress {
            Some(sink) => {
                let sink = sink.clone();
                Box::new(move |p| (sink.lock().unwrap_or_else(|e| e.into_inner()))(p))
            }
            None => Box::new(|_| {}),
        }
    }

    /// Progress reports rendered on this process's stderr.
    pub fn with_stderr_progress(self) -> Out {
        use std::io::IsTerminal;
        let terminal = std::io::stderr().is_terminal();
        self.with_progress(move |p| {
            let _ = std::io::stderr().write_all(render_progress(p, terminal).as_bytes());
        })
    }

    /// Where raw bytes go (an export's file on stdout).
    pub fn raw(&mut self) -> &mut (dyn Write + Send) {
        &mut *self.stdout
    }

    fn write(&mut self, text: &str) -> Result<()> {
        match self.stdout.write_all(text.as_bytes()).and_then(|()| self.stdout.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        }
    }

    fn emit<T: Serialize>(&mut self, value: &T, human: impl FnOnce() -> String) -> Result<()> {
        let text = if self.json { serde_json::to_string_pretty(value)? + "\n" } else { human() };
        self.write(&text)
    }

    /// Streams records as they are read: a JSON array exactly as `--json`
    /// prints any list (or JSON Lines with `lines`), written record by
    /// record, so a kind of any size lists in constant memory. `drive` calls
    /// the callback once per record.
    pub fn stream_records(
        &mut self,
        lines: bool,
        drive: impl FnOnce(&mut dyn FnMut(Record) -> ayni_node::Result<()>) -> ayni_node::Result<usize>,
    ) -> Result<()> {
        use serde::ser::{SerializeSeq, Serializer};
        let io = |e: std::io::Error| ayni_node::Error::Io { path: "standard output".into(), source: e };
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, &mut self.stdout);
        let result = if lines {
            drive(&mut |rec| {
                serde_json::to_writer(&mut w, &rec).map_err(|e| io(e.into()))?;
                w.write_all(b"\n").map_err(io)
            })
            .map(|_| ())
        } else {
            let mut ser = serde_json::Serializer::pretty(&mut w);
            let started = ser.serialize_seq(None).map_err(|e| io(e.into()));
            started
                .and_then(|mut seq| {
                    drive(&mut |rec| seq.serialize_element(&rec).map_err(|e| io(e.into())))?;
                    seq.end().map_err(|e| io(e.into()))
                })
                .and_then(|()| w.write_all(b"\n").map_err(io))
        };
        let result = result.and_then(|()| w.flush().map_err(io));
        match result {
            Err(ayni_node::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        }
    }

    pub fn text_or_json(&mut self, text: &str, json: &Value) -> Result<()> {
        self.emit(json, || text.to_string())
    }

    pub fn init(&mut self, node: &Node) -> Result<()> {
        let v = serde_json::json!({"node_id": node.id().to_string(), "name": node.info().name, "home": node.home()});
        self.emit(&v, || format!("{}\n", node.id()))
    }

    pub fn index(&mut self, listing: &ayni_node::repo::index::Listing) -> Result<()> {
        self.emit(listing, || format!("{}\n", listing.url))
    }

    pub fn id(&mut self, node: &Node) -> Result<()> {
        let v = serde_json::json!({"node_id": node.id().to_string(), "name": node.info().name});
        self.emit(&v, || format!("{}\n", node.id()))
    }

    pub fn added(&mut self, r: &Record) -> Result<()> {
        self.emit(r, || format!("{}\n", r.id))
    }

    /// One record.
    pub fn record(&mut self, r: &Record) -> Result<()> {
        self.record_named(r, &Default::default())
    }

    /// One record; in text, each reference (a document ID) followed by the
    /// key and title of the record it names (`names`).
    pub fn record_named(&mut self, r: &Record, names: &std::collections::BTreeMap<String, String>) -> Result<()> {
        self.emit(r, || {
            let mut head = format!("{}:{}  {}", r.kind, r.key, r.id);
            if let Some(s) = &r.status {
                head += &format!("  [{s}]");
            }
            if r.deleted {
                head += "  DELETED";
            }
            for f in &r.flags {
                head += &format!("  ⚠ {f}");
            }
            if r.conflicts > 0 {
                head += &format!("  ⚠ {} conflict(s): see `ayni conflicts`", r.conflicts);
            }
            let mut t = table(&["field", "value"]);
            let mut rows = vec![];
            flatten("", &r.fields, &mut rows);
            for (k, v) in rows {
                t.add_row(vec![k, named(&v, names)]);
            }
            format!("{head}\n{t}\n")
        })
    }

    /// A listing as a table, built row by row from the stream: only the
    /// five cells of each record are kept (a table needs every row to size
    /// its columns), never the records themselves.
    pub fn list(
        &mut self,
        records: impl Iterator<Item = ayni_node::Result<Record>>,
        title: Option<&str>,
    ) -> Result<()> {
        let mut t = table(&["key", "status", title.unwrap_or("title"), "id", "!"]);
        let mut n = 0usize;
        for r in records {
            let r = r?;
            t.add_row(vec![
                r.key,
                r.status.unwrap_or_default(),
                r.title.unwrap_or_default(),
                r.id,
                if r.conflicts > 0 { format!("⚠{}", r.conflicts) } else { String::new() },
            ]);
            n += 1;
        }
        self.write(&format!("{t}\n{n} record(s)\n"))
    }

    /// A record's history; in text, references in the messages named.
    pub fn history(
        &mut self,
        entries: &[HistoryEntry],
        names: &std::collections::BTreeMap<String, String>,
    ) -> Result<()> {
        self.emit(&entries, || {
            let mut t = table(&["at", "node", "change", "hash"]);
            for e in entries {
                let mut node: String = e.node.chars().take(13).collect();
                if let Some(client) = &e.client {
                    node = format!("client {client} via {node}");
                }
                t.add_row(vec![
                    e.at.clone(),
                    node,
                    named(&e.message, names),
                    e.hash[..12.min(e.hash.len())].to_string(),
                ]);
            }
            format!("{t}\n")
        })
    }

    pub fn conflicts(&mut self, all: &[RecordConflicts]) -> Result<()> {
        self.emit(&all, || {
            if all.is_empty() {
                return "no conflicts\n".to_string();
            }
            let mut t = table(&["record", "path", "concurrent values"]);
            for rc in all {
                let name = format!("{}:{}", rc.kind, rc.key);
                for f in &rc.fields {
                    let vals: Vec<String> = f.values.iter().map(Value::to_string).collect();
                    t.add_row(vec![name.clone(), f.path.clone(), vals.join("  |  ")]);
                }
                for s in &rc.status {
                    t.add_row(vec![
                        name.clone(),
                        "status".into(),
                        format!("\"{}\"  |  \"{}\" (by {})", s.current, s.wanted, &s.by[..13.min(s.by.len())]),
                    ]);
                }
                if rc.deleted_while_edited {
                    t.add_row(vec![name.clone(), "deleted".into(), "deleted on one replica, edited on another".into()]);
                }
            }
            format!("{t}\nsettle one with: ayni resolve REF PATH VALUE\n")
        })
    }

    pub fn imported(&mut self, r: &ImportReport) -> Result<()> {
        self.emit(r, || format!("imported {} {} record(s)\n", r.created, r.kind))
    }

    /// CSV of records: one column per leaf field any record has.
    pub fn check(&mut self, r: &CheckReport) -> Result<()> {
        self.emit(r, || {
            let mut s = format!("{} document(s) checked, {} ok, {} damaged\n", r.documents, r.ok, r.problems.len());
            for p in &r.problems {
                let name = match (&p.kind, &p.key) {
                    (Some(k), Some(key)) => format!(" ({k}:{key})"),
                    _ => String::new(),
                };
                s += &format!("  damaged: {}{name}: {}\n", p.id, p.reason);
            }
            if r.blobs > 0 || !r.missing_blobs.is_empty() {
                s += &format!("{} blob(s) verified, {} damaged\n", r.blobs, r.damaged_blobs.len());
            }
            for b in &r.damaged_blobs {
                s += &format!("  damaged blob: {b}: its bytes no longer hash to its name\n");
            }
            if !r.missing_blobs.is_empty() {
                s += &format!(
                    "{} referenced blob(s) not here yet (they arrive with a sync or a bundle)\n",
                    r.missing_blobs.len()
                );
            }
            s
        })
    }

    pub fn repair(&mut self, r: &RepairReport) -> Result<()> {
        self.emit(r, || {
            let mut s = String::new();
            if r.reopened_from_log {
                s += "the store did not open: reopened from its log (its snapshots were set aside)\n";
            }
            s += &format!(
                "{} document(s): {} rebuilt (views, indexes), {} salvaged, {} removed (a sync brings them back), {} stray index entries removed\n",
                r.documents,
                r.rebuilt.len(),
                r.salvaged.len(),
                r.removed.len(),
                r.stray_index_entries
            );
            for d in &r.salvaged {
                s += &format!("  salvaged: {}: {} change(s) kept, {} chunk(s) set aside\n", d.id, d.changes_kept, d.chunks_set_aside);
            }
            for id in &r.removed {
                s += &format!("  removed: {id}: nothing readable left\n");
            }
            if let Some(folder) = &r.folder {
                s += &format!("what was set aside is in {}\n", folder.display());
            }
            s += &format!("after repair: {} document(s) checked, {} ok, {} damaged\n", r.check.documents, r.check.ok, r.check.problems.len());
            for p in &r.check.problems {
                s += &format!("  damaged: {}: {}\n", p.id, p.reason);
            }
            s
        })
    }

    pub fn submissions(&mut self, r: &ayni_node::submissions::SubmissionReport) -> Result<()> {
        self.emit(r, || {
            format!(
                "{} submission(s): {} record(s) created, {} updated, {} unchanged; {} photo(s) attached\n",
                r.submissions, r.created, r.updated, r.unchanged, r.photos
            )
        })
    }

    pub fn attached(&mut self, a: &ayni_node::attach::Attached) -> Result<()> {
        self.emit(a, || {
            format!(
                "attached {} ({}, {} bytes) to {}:{} as {}{}\n",
                a.blob.hash,
                a.blob.mime,
                a.blob.size,
                a.record.kind,
                a.record.key,
                a.path,
                if a.new_blob { "" } else { " (the blob was here already)" }
            )
        })
    }

    pub fn blobs(&mut self, all: &[ayni_node::attach::Listed]) -> Result<()> {
        self.emit(&all, || {
            let mut t = table(&["hash", "size", "type", "referenced by"]);
            for l in all {
                let refs: Vec<String> =
                    l.references.iter().map(|r| format!("{}:{} ({})", r.kind, r.key, r.field)).collect();
                t.add_row(vec![
                    l.blob.hash.clone(),
                    l.blob.size.to_string(),
                    l.blob.mime.clone(),
                    if refs.is_empty() { "(none)".into() } else { refs.join(", ") },
                ]);
            }
            format!("{t}\n{} blob(s)\n", all.len())
        })
    }

    pub fn blob_written(&mut self, hash: &str, size: usize, to: &std::path::Path) -> Result<()> {
        let json = serde_json::json!({"hash": hash, "size": size, "file": to.display().to_string()});
        self.emit(&json, || format!("wrote blob {hash} ({size} bytes) to {}\n", to.display()))
    }

    /// What `catalogue publish` wrote: `{edition, title, draft, practices, dir}`.
    pub fn published(&mut self, c: &ayni_node::catalogue::Catalogue, dir: &std::path::Path) -> Result<()> {
        let json = serde_json::json!({
            "edition": c.edition, "title": c.title, "year": c.year, "draft": c.draft,
            "practices": c.practices.len(), "dir": dir.display().to_string(),
        });
        self.emit(&json, || {
            format!(
                "published edition {} ({}{}): {} practice(s) in {}/index.html\n",
                c.edition,
                c.title,
                if c.draft { ", draft" } else { "" },
                c.practices.len(),
                dir.display()
            )
        })
    }

    pub fn compact(&mut self, r: &CompactReport) -> Result<()> {
        self.emit(r, || {
            format!(
                "compacted {} document(s), {} bytes saved; store is {} bytes on disk\n",
                r.documents, r.bytes_saved, r.disk_bytes
            )
        })
    }

    pub fn seed(&mut self, r: &SeedReport) -> Result<()> {
        self.emit(r, || {
            let mut t = table(&["kind", "created", "already there"]);
            for (kind, (created, existing)) in &r.by_kind {
                t.add_row(vec![kind.clone(), created.to_string(), existing.to_string()]);
            }
            format!("{t}\nseeded {} record(s), {} already present\n", r.created, r.existing)
        })
    }

    pub fn demo(&mut self, r: &ayni_node::demo::DemoReport) -> Result<()> {
        self.emit(r, || {
            let mut s = String::new();
            for (i, step) in r.steps.iter().enumerate() {
                s += &format!("{}. {}\n", i + 1, step.title);
                for l in &step.lines {
                    s += &format!("     {l}\n");
                }
            }
            s += &format!(
                "\n{} bytes of sync traffic ({} UDP bytes); {} record(s) in conflict at HQ\n",
                r.bytes_moved, r.udp_bytes, r.conflicts
            );
            s
        })
    }
}
