//! Work on many records at once: `import` (every item checked before
//! anything is written), `check`, `compact`, counts by kind.
//!
//! Owns: batching and parallel building of imports, the store-wide check.
//! Must never: write part of a refused import.
use std::collections::HashSet;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::node::{Built, CheckReport, CompactReport, ImportReport, Node, Problem, Reader, Record, IMPORT_BATCH};
use crate::progress::{Observer, Reporter};
use crate::record::{self};
use crate::store::{DocWrite, Payload};

/// Documents `compact` rewrites per store commit.
const COMPACT_BATCH: usize = 256;

/// One item of an import file, labelled for errors (`item 3`, `line 7`).
pub(crate) type Item = (String, std::result::Result<Value, String>);

/// The items of an import file — a JSON array, or JSON Lines parsed one
/// line at a time as the import consumes them.
pub(crate) fn items(text: &str) -> Box<dyn Iterator<Item = Item> + '_> {
    if text.trim_start().starts_with('[') {
        match serde_json::from_str::<Vec<Value>>(text) {
            Ok(items) => Box::new(items.into_iter().enumerate().map(|(i, v)| (format!("item {}", i + 1), Ok(v)))),
            Err(e) => Box::new(std::iter::once((format!("line {}", e.line()), Err(format!("not a JSON array: {e}"))))),
        }
    } else {
        Box::new(text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| {
            (format!("line {}", i + 1), serde_json::from_str(l).map_err(|e| format!("invalid JSON: {e}")))
        }))
    }
}

impl Node {
    /// [`Node::import`], reporting progress: `checking` (every
    /// [`IMPORT_BATCH`] items), then `writing` (every batch).
    pub fn import_with_progress<F, I>(&self, kind: &str, items: F, progress: Observer<'_>) -> Result<ImportReport>
    where
        F: Fn() -> I,
        I: Iterator<Item = (String, std::result::Result<Value, String>)>,
    {
        self.kind(kind)?;
        let items = || items().map(|(at, item)| (at, item.and_then(|v| intake(kind, v))));
        let mut report = Reporter::new(format!("import {kind}"), "records", IMPORT_BATCH as u64, progress);
        // every keyed record of the file gets its document ID first, so
        // records of the file reference one another by key
        let mut planned = crate::write::Planned::new();
        for (_, item) in items() {
            if let Some(key) = item.ok().as_ref().and_then(|v| v.get("key")).and_then(Value::as_str) {
                planned.insert(key.to_string(), crate::id::DocumentId::random()?);
            }
        }
        let planned = &planned;
        let mut taken = HashSet::new();
        let mut errors = vec![];
        let mut total = 0;
        for (at, item) in items() {
            if let Err(e) = item.and_then(|v| self.check_new(kind, v, &mut taken, planned).map_err(|e| e.to_string())) {
                errors.push((at, e));
            }
            total += 1;
            report.at("checking", total, None);
        }
        report.finished("checking", total);
        if !errors.is_empty() {
            return Err(Error::Import(errors));
        }
        // records are built on every core, a batch at a time, and each batch
        // is written as one atomic, durable store write
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        let mut created = 0;
        let mut items = items().peekable();
        while items.peek().is_some() {
            let mut chunk: Vec<(String, std::result::Result<Value, String>)> =
                items.by_ref().take(IMPORT_BATCH).collect();
            let per_worker = chunk.len().div_ceil(workers);
            let mut parts = vec![];
            while !chunk.is_empty() {
                let rest = chunk.split_off(per_worker.min(chunk.len()));
                parts.push(std::mem::replace(&mut chunk, rest));
            }
            // each record built, with its view bytes, summary hash and blob references
            type Ready = (Built, Vec<u8>, [u8; 16], Vec<[u8; 32]>);
            let built: Vec<Result<Vec<Ready>>> = std::thread::scope(|scope| {
                let handles: Vec<_> = parts
                    .into_iter()
                    .map(|part| {
                        scope.spawn(move || {
                            let mut taken = HashSet::new();
                            part.into_iter()
                                .map(|(at, item)| {
                                    let value = item.map_err(|e| Error::Import(vec![(at, e)]))?;
                                    let b = self.by(&crate::clients::Actor::Node).build_from(
                                        kind,
                                        None,
                                        value,
                                        &mut taken,
                                        Some(planned),
                                    )?;
                                    let w = self.doc_write(
                                        b.id,
                                        Payload::New { bytes: &b.doc, hashes: &[] },
                                        &b.rec,
                                        vec![],
                                    )?;
                                    let (view, summary, blobs) = (w.view, w.summary, w.blobs);
                                    Ok((b, view, summary, blobs))
                                })
                                .collect::<Result<Vec<_>>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(Error::Internal("an import worker panicked".into()))))
                    .collect()
            });
            let mut batch = vec![];
            for part in built {
                batch.extend(part?);
            }
            let writes: Vec<DocWrite<'_>> = batch
                .iter_mut()
                .map(|(b, view, summary, blobs)| DocWrite {
                    id: b.id,
                    payload: Payload::New { bytes: &b.doc, hashes: &b.hashes },
                    kind,
                    key: &b.rec.key,
                    view: std::mem::take(view),
                    tally: crate::status::tally_of(&b.rec),
                    summary: *summary,
                    sigs: b.sigs.iter().map(|(h, p)| (*h, p.to_bytes())).collect(),
                    policy: crate::policy::decides(kind),
                    blobs: std::mem::take(blobs),
                })
                .collect();
            self.writer().write(&writes)?;
            created += batch.len();
            report.at("writing", created as u64, Some(total));
        }
        Ok(ImportReport { kind: kind.to_string(), created })
    }
}

/// An item of an import as the record input it is: a record's fields (and
/// `key`, `status`), or a whole record as `ayni export --format json`
/// writes it (`kind`, `key`, `status`, `fields`; the rest is this node's to
/// make anew).
fn intake(kind: &str, v: Value) -> std::result::Result<Value, String> {
    let Value::Object(mut m) = v else { return Ok(v) };
    let Some(Value::Object(fields)) = m.get("fields").cloned() else { return Ok(Value::Object(m)) };
    if !m.contains_key("kind") || !m.contains_key("heads") {
        return Ok(Value::Object(m));
    }
    match m.get("kind").and_then(Value::as_str) {
        Some(k) if k == kind => {}
        other => return Err(format!("a {} record, not a {kind}", other.unwrap_or("?"))),
    }
    let mut out = fields;
    for k in ["key", "status"] {
        if let Some(v) = m.remove(k).filter(|v| !v.is_null()) {
            out.insert(k.to_string(), v);
        }
    }
    Ok(Value::Object(out))
}

impl Reader {
    /// Verifies every stored document: it loads (chunk checksums, hash
    /// chain), is an Ayni record, passes its schema, and its view is current.
    /// A damaged document is reported, never fatal.
    pub fn check(&self) -> Result<CheckReport> {
        let ids = self.store().all_ids()?;
        let mut problems = vec![];
        for id in &ids {
            let view: Option<Record> = self.store().view(id)?.and_then(|v| serde_json::from_slice(&v).ok());
            let problem = |reason: String| Problem {
                id: id.to_string(),
                kind: view.as_ref().map(|r| r.kind.clone()),
                key: view.as_ref().map(|r| r.key.clone()),
                reason,
            };
            let doc = match self.store().load_uncached(id) {
                Ok(Some(doc)) => doc,
                Ok(None) => continue,
                Err(Error::Damaged { reason, .. }) => {
                    problems.push(problem(reason));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if record::layout(&doc) != Some(record::LAYOUT_VERSION) {
                problems.push(problem("not an Ayni record of layout 1".into()));
                continue;
            }
            let current = match self.view_of(id, &doc) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(problem(e.to_string()));
                    continue;
                }
            };
            if !current.deleted {
                if let Err(e) = self.kind(&current.kind).and_then(|s| s.validate(&current.fields)) {
                    problems.push(problem(format!("schema: {e}")));
                    continue;
                }
            }
            if view.as_ref() != Some(&current) {
                problems.push(problem("stored view is stale (run `ayni compact` to rebuild it)".into()));
            }
        }
        let (blobs, damaged_blobs) = self.blobs().verify()?;
        Ok(CheckReport {
            documents: ids.len(),
            ok: ids.len() - problems.len(),
            problems,
            blobs,
            damaged_blobs,
            missing_blobs: self.missing_blobs()?,
        })
    }
}

impl Node {
    /// Compacts every document to one snapshot and rebuilds stale views.
    pub fn compact(&self) -> Result<CompactReport> {
        self.compact_by(COMPACT_BATCH)
    }

    /// [`Node::compact`], `batch` documents per store commit.
    fn compact_by(&self, batch: usize) -> Result<CompactReport> {
        let ids = self.store().all_ids()?;
        let mut saved = 0;
        // a batch of documents per commit: a commit each would copy the
        // pages they share again and again
        for group in ids.chunks(batch) {
            saved += self.writer().compact(group)?;
            // views an earlier build wrote otherwise, rewritten in one batch
            let mut stale = vec![];
            for id in group {
                if let Ok(Some(doc)) = self.store().load_uncached(id) {
                    let rec = self.view_of(id, &doc)?;
                    let stored: Option<Record> = self.store().view(id)?.and_then(|v| serde_json::from_slice(&v).ok());
                    if stored.as_ref() != Some(&rec) {
                        let heads = doc.get_heads();
                        stale.push((*id, doc, heads, rec));
                    }
                }
            }
            let writes = stale
                .iter()
                .map(|(id, doc, heads, rec)| {
                    self.doc_write_for(*id, Payload::Changed { doc, stored_heads: heads }, rec, vec![])
                })
                .collect::<Result<Vec<_>>>()?;
            if !writes.is_empty() {
                self.writer().write(&writes)?;
            }
        }
        Ok(CompactReport { documents: ids.len(), bytes_saved: saved, disk_bytes: self.store().disk_bytes() })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::clients::Actor;
    use crate::handle::NodeHandle;

    /// `compact` under the engine, whose commits are durable only at its
    /// next flush: each document's own commit copied the pages it shares
    /// with the others again, and redb frees those copies only at a
    /// durable commit, so the file grew with every document (98 MB to
    /// 422 MB for 10,113 EDANs: BENCHMARKS.md, issue 27, ninth session).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compact_keeps_every_record_and_does_not_grow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("hq");
        let node = NodeHandle::init(&home, "hq").unwrap();
        let me = Actor::Node;
        // 1,500 teams, 150 of them edited twice: a snapshot and two change
        // chunks beside it
        let teams: Vec<String> =
            (0..1500).map(|i| json!({ "key": format!("T-{i}"), "name": format!("T {i}") }).to_string()).collect();
        node.import("team", teams.join("\n"), Box::new(|_| {})).await.unwrap();
        let ids: Vec<String> = (0..150).map(|i| format!("team:T-{}", i * 10)).collect();
        for round in 0..2 {
            for id in &ids {
                node.set(&me, id, vec![("name".into(), json!(format!("{id} {round}")))]).await.unwrap();
            }
        }
        let mut before = vec![];
        for id in &ids {
            before.push(node.get(&me, id).await.unwrap());
        }
        let size = || node.read(|n| Ok(n.store().disk_bytes()));
        let file = size().await.unwrap();
        // groups of 8 documents: ~150 commits, as many as there are
        // documents to compact (by 256, 6 would not show the growth)
        let report = node.write(|n| n.compact_by(8)).await.unwrap();
        assert!(report.bytes_saved > 0, "{report:?}");
        let after = size().await.unwrap();
        assert!(after <= file + file / 20, "the store grew from {file} to {after} bytes");
        // and `ayni compact`, with nothing left to compact
        assert_eq!(node.compact().await.unwrap().bytes_saved, 0);
        for (id, was) in ids.iter().zip(before) {
            assert_eq!(node.get(&me, id).await.unwrap(), was);
        }
        // and it reopens with every record
        let node = node.reopen().unwrap();
        assert_eq!(node.get(&me, "team:T-1490").await.unwrap().fields["name"], json!("team:T-1490 1"));
    }
}
