//! Repair (`ayni check --repair`): bring a damaged store back to one that
//! opens and checks clean, keeping everything it can still read.
//!
//! Owns: [`Node::repair`] and its report. Must never: delete bytes it could
//! not read: every file and stored chunk it sets aside is copied into the
//! repair folder (`<home>/repair-<time>/`) first.
//!
//! What it does, in order:
//! 1. A store that does not open. One still in sled's files (an earlier
//!    build's, not moved to redb yet): sled's snapshot files are moved into
//!    the repair folder and sled replays its whole log (a snapshot only
//!    speeds up recovery; the log holds every page), then the store moves
//!    to redb. A redb file that fails its checksums holds no second copy
//!    to rebuild from (redb itself recovers from an interrupted commit at
//!    every open): the error says to restore the node from a peer, and the
//!    file is left as it is. A sled store whose log is damaged too: the
//!    same, and nothing moves but the snapshots.
//! 2. Every document is loaded. One that loads keeps every change; its
//!    view, kind/key index, conflict flag and replication summary are
//!    rebuilt when they differ from what the document says.
//! 3. A document that does not load is salvaged: its snapshot as far as it
//!    decodes, then every change chunk that still applies. The chunks left
//!    out are written to the repair folder; the document is stored again as
//!    one snapshot. Its summary changes, so the next sync with any peer
//!    brings back the changes the chunks held (a change acknowledged here
//!    and never synced anywhere is only in the repair folder).
//! 4. A document of which nothing readable is left is removed from the
//!    store (its bytes in the repair folder); a peer's copy comes back with
//!    the next sync.
//! 5. Index entries that name no document, or name one under another
//!    kind or key, are removed.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::DocumentId;
use crate::node::{CheckReport, Node, Reader, Record};
use crate::store::{Payload, Store};

/// What [`Node::repair`] did.
#[derive(Debug, Serialize)]
pub struct RepairReport {
    /// Where the files and chunks set aside were written (absent when none were).
    pub folder: Option<PathBuf>,
    /// Whether the store had to be reopened from its log (snapshots moved aside).
    pub reopened_from_log: bool,
    /// Documents examined.
    pub documents: usize,
    /// Documents whose view, index, conflict flag or summary were rebuilt.
    pub rebuilt: Vec<String>,
    /// Damaged documents stored again with what could be read.
    pub salvaged: Vec<Salvaged>,
    /// Documents with nothing readable left, removed (a sync brings them back).
    pub removed: Vec<String>,
    /// Index entries removed because they named no document or the wrong one.
    pub stray_index_entries: usize,
    /// `check` after the repair.
    pub check: CheckReport,
}

/// One salvaged document.
#[derive(Debug, Serialize)]
pub struct Salvaged {
    /// Document ID.
    pub id: String,
    /// Changes the document still holds.
    pub changes_kept: usize,
    /// Stored chunks (snapshot or change chunks) that could not be read,
    /// now files in the repair folder.
    pub chunks_set_aside: usize,
}

impl Reader {
    /// Whether the stored view, conflict flag, summary and index entry of a
    /// document say what `view` (computed from the document) says.
    fn derived_data_matches(
        &self,
        id: &DocumentId,
        view: &Record,
        summary: &HashMap<DocumentId, [u8; 16]>,
        index: &HashSet<Vec<u8>>,
    ) -> Result<bool> {
        let stored: Option<Record> = self.store().view(id)?.and_then(|v| serde_json::from_slice(&v).ok());
        let heads: Vec<automerge::ChangeHash> = view.heads.iter().filter_map(|h| h.parse().ok()).collect();
        let conflicted = self.store().conflicted_contains(id)?;
        Ok(stored.as_ref() == Some(view)
            && summary.get(id) == Some(&crate::sync::state_hash(id, &heads))
            && index.contains(&Store::index_key_of(&view.kind, &view.key, id))
            && self.store().index_tally(&view.kind, &view.key, id)? == Some(crate::status::tally_of(view))
            && conflicted == (view.conflicts > 0))
    }
}

impl Node {
    /// Repairs the store of the node in `home` (see the module docs for
    /// exactly what that means) and returns the opened node with a report.
    pub fn repair(home: &Path) -> Result<(Node, RepairReport)> {
        let folder = home.join(format!("repair-{}", crate::node::now_rfc3339().replace(':', "")));
        let (node, reopened_from_log) = match Node::open(home) {
            Ok(node) => (node, false),
            Err(Error::StoreDamaged { path, .. }) => {
                let (store, _moved) =
                    Store::open_from_log(&path, &folder.join("store-snapshots")).map_err(|e| match e {
                        Error::StoreDamaged { path, source } => Error::Unrepairable {
                            path,
                            reason: format!(
                                "its log is damaged too ({source}); the snapshots were moved to {}. Restore the node \
                             from a peer: `ayni init` a new home, join the network, sync",
                                folder.display()
                            ),
                        },
                        other => other,
                    })?;
                drop(store);
                (Node::open(home)?, true)
            }
            Err(e) => return Err(e),
        };
        let mut report = RepairReport {
            folder: reopened_from_log.then(|| folder.clone()),
            reopened_from_log,
            documents: 0,
            rebuilt: vec![],
            salvaged: vec![],
            removed: vec![],
            stray_index_entries: 0,
            check: CheckReport {
                documents: 0,
                ok: 0,
                problems: vec![],
                blobs: 0,
                damaged_blobs: vec![],
                missing_blobs: vec![],
            },
        };
        let ids = node.store().all_ids()?;
        report.documents = ids.len();
        let summary: HashMap<DocumentId, [u8; 16]> = node.store().summary_on_disk()?.into_iter().collect();
        let index: HashSet<Vec<u8>> = node.store().index_entries()?.into_iter().map(|(_, k)| k).collect();
        let mut keep_index = HashSet::new();
        for id in &ids {
            // `damaged`: stored again even when every chunk was kept (a
            // snapshot whose change hashes are not its changes')
            let (mut doc, dropped, damaged) = match node.store().load_uncached(id) {
                Ok(Some(doc)) => (doc, vec![], false),
                Ok(None) => continue,
                Err(Error::Damaged { .. }) => match node.store().salvage(id)? {
                    Some((doc, dropped)) => (doc, dropped, true),
                    None => continue,
                },
                Err(e) => return Err(e),
            };
            for (n, chunk) in dropped.iter().enumerate() {
                std::fs::create_dir_all(&folder).map_err(|e| Error::io(&folder, e))?;
                let path = folder.join(format!("{id}.{n}.chunk"));
                std::fs::write(&path, chunk).map_err(|e| Error::io(&path, e))?;
                report.folder = Some(folder.clone());
            }
            let view = match crate::record::envelope(&doc).map(|_| node.view_for_sync(id, &doc, None)) {
                Some(Ok(view)) => view,
                _ if !dropped.is_empty() => {
                    node.writer().forget_document(id)?;
                    report.removed.push(id.to_string());
                    continue;
                }
                // loads but is not a record this build can show: left for `check` to name
                _ => continue,
            };
            keep_index.insert(Store::index_key_of(&view.kind, &view.key, id));
            if damaged {
                node.writer().replace_document(id, &mut doc)?;
                report.salvaged.push(Salvaged {
                    id: id.to_string(),
                    changes_kept: doc.get_changes_meta(&[]).len(),
                    chunks_set_aside: dropped.len(),
                });
            }
            if !dropped.is_empty() || !node.derived_data_matches(id, &view, &summary, &index)? {
                let heads = doc.get_heads();
                node.rewrite_derived(*id, &doc, &heads, &view)?;
                if dropped.is_empty() {
                    report.rebuilt.push(id.to_string());
                }
            }
        }
        let stray: Vec<Vec<u8>> = node
            .store()
            .index_entries()?
            .into_iter()
            .filter(|(_, k)| !keep_index.contains(k))
            .map(|(_, k)| k)
            .collect();
        report.stray_index_entries = stray.len();
        node.writer().remove_raw(&stray)?;
        report.check = node.check()?;
        Ok((node, report))
    }

    /// Writes a document's view and indexes again (no new document bytes).
    fn rewrite_derived(
        &self,
        id: DocumentId,
        doc: &automerge::Automerge,
        heads: &[automerge::ChangeHash],
        view: &Record,
    ) -> Result<()> {
        self.writer().write(&[self.doc_write_for(id, Payload::Changed { doc, stored_heads: heads }, view, vec![])?])
    }
}
