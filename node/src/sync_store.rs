//! The node's store as one sync session sees it ([`SyncStore`]): what the
//! session offers, loads, and the documents it received, judged one by one
//! and written together.
//!
//! A session hands over a run of documents per frame; each is judged
//! (`Node::ingest`, the same admission as every other door) as it arrives,
//! and what was admitted waits in a batch that is written in one store
//! batch — a store commit costs more than a key — at the end of the
//! frame, at [`PENDING_MAX`] documents, and before anything could read a
//! waiting document back: the session loading it, another copy of it
//! arriving, or the next document's judgement when this one decides who
//! may write what (a team). A session's frame is one engine job, and the
//! engine is the store's only writer, so nothing writes a waiting
//! document between its judgement and its write.
//!
//! Owns: the waiting batch and when it is written. Must never: let a
//! document be judged against a stored copy that misses a waiting write,
//! return a frame's job with a document still waiting, or write a document
//! admission did not judge.

use std::cell::RefCell;
use std::collections::HashMap;

use automerge::Automerge;

use crate::attest::{Proof, Signed};
use crate::error::{Error, Result};
use crate::id::DocumentId;
use crate::ingest::{Ingested, Outcome};
use crate::node::Node;
use crate::sync::DocStore;

/// Documents written in one batch at most.
const PENDING_MAX: usize = 64;

/// The node's store as one sync session sees it.
pub struct SyncStore<'a> {
    node: &'a Node,
    /// Who the documents come from (for the audit log).
    from: String,
    /// Admitted documents not written yet, each with the bytes it arrived
    /// as when it may be stored as they are.
    pending: RefCell<Vec<(Ingested, Option<Vec<u8>>)>>,
    /// Documents written as they arrived, each with the state hash written
    /// (see [`SyncStore::take_written`]).
    written: RefCell<Vec<(DocumentId, [u8; 16])>>,
}

impl Node {
    /// This node's store, as a sync session with `from` sees it.
    pub(crate) fn sync_store(&self, from: &str) -> SyncStore<'_> {
        SyncStore { node: self, from: from.to_string(), pending: RefCell::new(vec![]), written: RefCell::new(vec![]) }
    }
}

impl SyncStore<'_> {
    /// Writes the waiting documents in one batch (durable at the session's
    /// next [`DocStore::commit`]). A document whose write cannot be made
    /// is left out and its error returned after the others are written
    /// (as is, in debug builds, one whose stored copy moved since it was
    /// judged: only a node used from several threads at once could do that).
    pub fn write_pending(&self) -> Result<()> {
        // taken out first: if the store write itself fails, the batch is
        // dropped with the error, and the peer offers it again next time
        let mut pending = std::mem::take(&mut *self.pending.borrow_mut());
        if pending.is_empty() {
            return Ok(());
        }
        debug_assert!(
            pending.iter().enumerate().all(|(i, (a, _))| pending[..i].iter().all(|(b, _)| a.id != b.id)),
            "a document waits twice in one batch"
        );
        let _guard = self.node.write_lock();
        let mut saved = vec![vec![]; pending.len()];
        let mut first_error = None;
        let as_arrived: std::collections::HashSet<DocumentId> =
            pending.iter().filter(|(ing, _)| ing.as_arrived).map(|(ing, _)| ing.id).collect();
        let mut writes = Vec::with_capacity(pending.len());
        for ((ing, received), s) in pending.iter_mut().zip(saved.iter_mut()) {
            // the engine is the only writer: checked where tests run
            let unmoved = if cfg!(debug_assertions) { self.unmoved(ing) } else { Ok(()) };
            let built = unmoved.and_then(|()| self.node.ingest_write(ing, received.as_deref(), s));
            match built {
                Ok(w) => writes.push(w),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        self.node.writer().write_deferred(&writes)?;
        self.written
            .borrow_mut()
            .extend(writes.iter().filter(|w| as_arrived.contains(&w.id)).map(|w| (w.id, w.summary)));
        first_error.map_or(Ok(()), Err)
    }

    /// The documents written so far, as they arrived (no change refused,
    /// nothing merged in that was stored meanwhile), with the state hash
    /// each was written with; taken, so the next call returns only later
    /// ones. After a completed session the peer holds each of them in that
    /// state (`peer_state`).
    pub fn take_written(&self) -> Vec<(DocumentId, [u8; 16])> {
        std::mem::take(&mut *self.written.borrow_mut())
    }

    /// Checks that the stored copy is still the one `ing` was judged against.
    fn unmoved(&self, ing: &Ingested) -> Result<()> {
        let now = self.node.store().state_hash(&ing.id)?;
        let then = ing.stored_heads.as_ref().map(|h| crate::sync::state_hash(&ing.id, h));
        if now == then {
            Ok(())
        } else {
            Err(Error::Internal(format!(
                "document {} changed while a sync judged it; it syncs again next time",
                ing.id
            )))
        }
    }

    /// Writes the waiting documents first if `id` is one of them.
    fn written_if_waiting(&self, id: &DocumentId) -> Result<()> {
        if self.pending.borrow().iter().any(|(ing, _)| ing.id == *id) {
            self.write_pending()?;
        }
        Ok(())
    }

    /// Puts what admission kept of a document in the batch; returns how
    /// many changes it refused.
    fn stage(&self, outcome: Outcome, received: Option<&[u8]>) -> Result<usize> {
        if let Some(ing) = outcome.ingested {
            let decides = crate::policy::decides(&ing.record.kind);
            let mut pending = self.pending.borrow_mut();
            pending.push((ing, received.map(<[u8]>::to_vec)));
            let full = pending.len() >= PENDING_MAX;
            drop(pending);
            if decides || full {
                self.write_pending()?;
            }
        }
        Ok(outcome.refused)
    }
}

impl Drop for SyncStore<'_> {
    fn drop(&mut self) {
        // every path of a session writes its batch (`write_pending`, or
        // `commit`); this only keeps a forgotten one from being lost. A
        // job that panicked writes nothing: it reported nothing stored,
        // and the peer offers the same documents again next time
        if !self.pending.get_mut().is_empty() && !std::thread::panicking() {
            if let Err(e) = self.write_pending() {
                tracing::error!("documents received from {} could not be stored: {e}", self.from);
            }
            debug_assert!(false, "a sync store was dropped with documents waiting");
        }
    }
}

impl DocStore for SyncStore<'_> {
    fn items(&self) -> Result<Vec<(DocumentId, [u8; 16])>> {
        self.node.store().summary()
    }

    fn load(&self, id: &DocumentId) -> Result<Option<Automerge>> {
        self.written_if_waiting(id)?;
        self.node.store().load(id)
    }

    fn whole(&self, id: &DocumentId) -> Result<Option<(Vec<u8>, Vec<automerge::ChangeHash>)>> {
        self.written_if_waiting(id)?;
        self.node.store().whole(id)
    }

    fn save(
        &mut self,
        id: &DocumentId,
        doc: &Automerge,
        arrived: Option<crate::sync::Arrived<'_>>,
        sigs: &HashMap<[u8; 32], Proof>,
    ) -> Result<usize> {
        self.written_if_waiting(id)?;
        let received = arrived.as_ref().map(|a| a.bytes);
        let outcome = {
            let _guard = self.node.write_lock();
            let whole = arrived
                .map(|a| crate::ingest::Whole { saved: crate::sync::sigs::is_saved_document(a.bytes), read: a.read });
            self.node.ingest(id, doc.clone(), whole, sigs, &self.from)?
        };
        self.stage(outcome, received)
    }

    fn unreadable(&mut self, id: &DocumentId, why: &str) -> Result<()> {
        self.node.refuse_document(id, &self.from, why)
    }

    fn signatures(&self, hashes: &[automerge::ChangeHash]) -> Result<Vec<Signed>> {
        self.node.signatures_of(hashes)
    }

    fn commit(&mut self) -> Result<()> {
        self.write_pending()?;
        self.node.writer().make_durable()
    }

    fn members(&self) -> Result<Vec<Vec<u8>>> {
        self.node.membership_records()
    }

    fn add_member(&mut self, token: &[u8]) -> Result<bool> {
        match self.node.accept_member(token) {
            Ok(new) => Ok(new),
            Err(e) => {
                tracing::warn!("ignoring a membership record from the peer: {e}");
                Ok(false)
            }
        }
    }
}
