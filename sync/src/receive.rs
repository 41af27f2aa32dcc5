//! Receiving documents: the peer's automerge sync messages (`DocSync`)
//! for documents both sides hold, and whole documents (`DocFull`) for
//! those this side lacks.
//!
//! Owns: checking each against its size bounds and its proofs, applying it
//! to the session's copy or handing it to the [`DocStore`] (which admits
//! what it may), and the counts and blocks that follow. Must never: store
//! a change itself (the store judges every one), or keep a document that
//! arrived whole in memory.

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::sync::{Message, SyncDoc};
use automerge::{Automerge, ChangeHash};

use crate::attest::Proof;
use crate::id::DocumentId;
use crate::wire::bloom_is_sound;
use ayni_model::effect::Snapshot;

use crate::{sigs, Arrived, DocStore, Session, Stats, SyncError};

/// Whole documents that do not load a session refuses one by one, at
/// most; one more ends it.
const MAX_UNREADABLE: usize = 16;

impl Session {
    /// A `DocSync` frame: the peer's automerge sync message for `id`.
    pub(crate) fn doc_sync<S: DocStore>(
        &mut self,
        id: DocumentId,
        bytes: &[u8],
        store: &mut S,
    ) -> Result<(), SyncError> {
        let msg =
            Message::decode(bytes).map_err(|e| SyncError::Protocol(format!("document {id}: bad sync message: {e}")))?;
        crate::inflate::sync_message(bytes, crate::inflate::MAX_INFLATED)
            .map_err(|e| SyncError::Protocol(format!("document {id}: sync message refused: {e}")))?;
        self.sigs
            .arrived(&id, || sigs::chunk_hashes(msg.changes.iter()))
            .map_err(|e| SyncError::Protocol(format!("document {id}: {e}")))?;
        if msg.have.iter().any(|h| !bloom_is_sound(&h.bloom.to_bytes())) {
            return Err(SyncError::Protocol(format!("document {id}: sync message with an empty bloom filter")));
        }
        let doc = cached(&mut self.docs, store, &id)?;
        let state = self.syncing.entry(id).or_default();
        let before = doc.get_heads();
        doc.receive_sync_message(state, msg).map_err(|e| SyncError::Protocol(format!("document {id}: {e}")))?;
        if after_change(&mut self.stats, &mut self.received_docs, store, id, doc, &before, self.sigs.by_hash())? > 0 {
            self.block(id);
        }
        Ok(())
    }

    /// Feeds a `DocFull` frame of the peer's batch: document `id` whole,
    /// saved whole (or, from an older build, as its changes), `loaded`
    /// from `bytes` ([`Loaded::of`], or ahead by the caller).
    /// [`Session::handle_frame`] hands its `DocFull` frames here.
    pub fn handle_loaded<S: DocStore>(
        &mut self,
        id: DocumentId,
        bytes: &[u8],
        loaded: Loaded,
        store: &mut S,
    ) -> Result<(), SyncError> {
        self.may_take(&crate::wire::Frame::DocFull(id, vec![]))?;
        self.received_content = true;
        if self.blocked.contains(&id) {
            self.sigs.skipped(&id);
            return Ok(());
        }
        let loaded =
            loaded.0.map_err(|e| SyncError::Protocol(format!("document {id}: not an automerge document: {e}")))?;
        // documents that arrive whole are not kept in memory
        let ours = match self.docs.get(&id) {
            Some(d) => Some(d.clone()),
            None => store.load(&id)?,
        };
        // a document that does not load (a sender's copy automerge cannot
        // read back, its heads not those of its changes as encoded) is
        // refused alone: the rest of the session still reaches this side
        let (theirs, read) = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                // a few such are a sender's damaged copies; many, a peer
                // filling the audit log
                self.unreadable += 1;
                if self.unreadable > MAX_UNREADABLE {
                    return Err(SyncError::Protocol(format!(
                        "more than {MAX_UNREADABLE} documents that do not load as automerge documents"
                    )));
                }
                store.unreadable(&id, &format!("it does not load as an automerge document: {e}"))?;
                self.sigs.skipped(&id);
                self.block(id);
                return Ok(());
            }
        };
        self.sigs
            .arrived(&id, || Ok(sigs::document_hashes(&theirs)))
            .map_err(|e| SyncError::Protocol(format!("document {id}: {e}")))?;
        match ours {
            None => {
                let all = theirs.get_changes_meta(&[]).len();
                let refused = store.save(&id, &theirs, Some(Arrived { bytes, read }), self.sigs.by_hash())?;
                self.received_whole(id, all, refused);
            }
            Some(mut doc) => {
                let before = doc.get_heads();
                doc.merge(&mut theirs.clone()).map_err(|e| SyncError::Protocol(format!("document {id}: {e}")))?;
                if after_change(
                    &mut self.stats,
                    &mut self.received_docs,
                    store,
                    id,
                    &doc,
                    &before,
                    self.sigs.by_hash(),
                )? > 0
                {
                    self.block(id);
                } else {
                    // stored here meanwhile (the summary this session began
                    // with lacked it): what that copy holds beyond theirs
                    // reaches the peer by the sync that follows
                    self.docs.insert(id, doc);
                    self.syncing.entry(id).or_default();
                }
            }
        }
        Ok(())
    }

    /// Counts a document that arrived whole with `all` changes, `refused`
    /// of them refused (blocked for the rest of the session, then).
    fn received_whole(&mut self, id: DocumentId, all: usize, refused: usize) {
        self.stats.changes_received += (all - refused.min(all)) as u64;
        if refused < all && self.received_docs.insert(id) {
            self.stats.docs_received += 1;
        }
        if refused > 0 {
            self.block(id);
        }
    }

    /// Stops syncing a document whose incoming changes were (partly)
    /// refused: the in-memory copy is dropped and its automerge sync state
    /// with it, so the refused changes are not asked for again this session.
    fn block(&mut self, id: DocumentId) {
        self.blocked.insert(id);
        self.syncing.remove(&id);
        self.docs.remove(&id);
    }
}

/// A `DocFull` frame's document as [`Session::handle_loaded`] takes it:
/// its bytes checked against the inflation bound ([`crate::inflate`]),
/// then loaded. Loading needs nothing of the session, so a driver may load
/// the documents of a run of frames ahead, on another thread, while the
/// session judges earlier ones.
pub struct Loaded(Result<Result<(Automerge, Option<Snapshot>), String>, String>);

impl Loaded {
    /// The document in a `DocFull` frame's `bytes`: an error that ends the
    /// session when they would inflate past the bound (or are no automerge
    /// chunks), one that refuses the document alone when automerge cannot
    /// load them.
    pub fn of(bytes: &[u8]) -> Loaded {
        Loaded(
            crate::inflate::chunks(bytes, crate::inflate::MAX_INFLATED)
                .map(|_| Automerge::load(bytes).map(|doc| (doc, None)).map_err(|e| e.to_string())),
        )
    }

    /// The document, if it loaded.
    pub fn document(&self) -> Option<&Automerge> {
        self.0.as_ref().ok()?.as_ref().ok().map(|(doc, _)| doc)
    }

    /// [`Loaded::of`] for a driver that loads ahead on another thread,
    /// the document also read as values at its heads ([`Snapshot::read`],
    /// what admission reads of a new document) when it is one saved
    /// document (the only form admission takes that reading from).
    /// `None` when its bytes would inflate past `most`: what is loaded
    /// ahead waits in memory, so large documents are loaded as they come.
    pub fn read_ahead(bytes: &[u8], most: u64) -> Option<Loaded> {
        let doc = match crate::inflate::chunks(bytes, crate::inflate::MAX_INFLATED) {
            Err(e) => return Some(Loaded(Err(e))),
            Ok(n) if n > most => return None,
            Ok(_) => Automerge::load(bytes).map_err(|e| e.to_string()),
        };
        let saved = sigs::is_saved_document(bytes);
        Some(Loaded(Ok(doc.map(|doc| {
            let read = saved.then(|| Snapshot::read(&doc, None));
            (doc, read)
        }))))
    }
}

/// The session's in-memory copy of a document, loaded on first use.
pub(crate) fn cached<'d, S: DocStore>(
    docs: &'d mut BTreeMap<DocumentId, Automerge>,
    store: &S,
    id: &DocumentId,
) -> crate::error::Result<&'d mut Automerge> {
    Ok(match docs.entry(*id) {
        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::btree_map::Entry::Vacant(v) => v.insert(store.load(id)?.unwrap_or_default()),
    })
}

/// Stores a document that gained changes and counts them; returns how
/// many changes the store refused.
fn after_change<S: DocStore>(
    stats: &mut Stats,
    received: &mut HashSet<DocumentId>,
    store: &mut S,
    id: DocumentId,
    doc: &Automerge,
    before: &[ChangeHash],
    sigs: &HashMap<[u8; 32], Proof>,
) -> Result<usize, SyncError> {
    if doc.get_heads() == before {
        return Ok(0);
    }
    let new = doc.get_changes(before).len();
    let refused = store.save(&id, doc, None, sigs)?;
    stats.changes_received += (new - refused.min(new)) as u64;
    if refused < new && received.insert(id) {
        stats.docs_received += 1;
    }
    Ok(refused)
}
