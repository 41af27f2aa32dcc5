//! The one value that changes a store: [`StoreWriter`], and the
//! documents it writes ([`DocWrite`]).
//!
//! Owns: the atomic batch of each write (document, view, indexes,
//! signatures, feed position), compaction of documents in batches, and when a
//! write reaches the disk ([`Flush`]). Must never: be cloned or shared —
//! who holds it (the engine thread) is who writes — or leave a write it
//! reported durable in memory only.

use automerge::{Automerge, ChangeHash};

use super::kv::Batch;
use super::{change_key, index_key, key, versioned, whole, Flush, Store, COMPACT_AFTER};
use ayni_model::error::Result;
use ayni_model::id::DocumentId;

/// The one value that writes a [`Store`] (it derefs to it for reads).
/// Not `Clone`: who holds it decides when the store changes, and when its
/// writes are flushed ([`Flush`]).
pub struct StoreWriter {
    pub(super) store: std::sync::Arc<Store>,
    pub(super) flush: Flush,
}

impl std::ops::Deref for StoreWriter {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

/// The document bytes of a [`DocWrite`].
pub enum Payload<'a> {
    /// A new document: its `save()` snapshot.
    New {
        /// The snapshot.
        bytes: &'a [u8],
        /// The hashes of its changes, when known: stored with it, so that
        /// a sync sends it without loading it ([`Store::whole`]).
        hashes: &'a [ChangeHash],
    },
    /// An existing document after a change: the store appends the changes
    /// since `stored_heads` (or compacts it on reaching [`COMPACT_AFTER`] chunks).
    Changed {
        /// The whole document after the change.
        doc: &'a Automerge,
        /// The heads already stored.
        stored_heads: &'a [ChangeHash],
    },
}

/// One document to write, with what the store indexes about it.
pub struct DocWrite<'a> {
    /// The document ID.
    pub id: DocumentId,
    /// What to store of the document.
    pub payload: Payload<'a>,
    /// Record kind (index).
    pub kind: &'a str,
    /// Record key (index).
    pub key: &'a str,
    /// The record view, stored as given.
    pub view: Vec<u8>,
    /// What status counts of the record (kept in its index entry; its
    /// conflicts also in the `x:` index).
    pub tally: super::Tally,
    /// The document's state hash (the replication summary).
    pub summary: [u8; 16],
    /// Signatures of changes to store with it: (change hash, signature).
    pub sigs: Vec<([u8; 32], Vec<u8>)>,
    /// Whether the record counts for who may write what (a team): the
    /// policy generation moves once it is written.
    pub policy: bool,
    /// The blobs (SHA-256) the record references (index): what a sync asks
    /// its peer for is read from here, not from every view.
    pub blobs: Vec<[u8; 32]>,
}

impl StoreWriter {
    /// Makes what was just written durable as this writer's [`Flush`]
    /// says: flushed now, or marked for its owner's next flush.
    pub(super) fn durable(&self) -> Result<()> {
        match self.flush {
            Flush::EachWrite => self.flush_now(),
            Flush::ByOwner => {
                self.unflushed.store(true, std::sync::atomic::Ordering::Release);
                Ok(())
            }
        }
    }

    /// Applies a batch atomically, durable as this writer's [`Flush`] says:
    /// in the same commit, or at its owner's next flush.
    pub(super) fn commit(&self, batch: Batch) -> Result<()> {
        let each = self.flush == Flush::EachWrite;
        let last = *self.feed.lock().unwrap_or_else(|p| p.into_inner());
        self.db.apply(batch, each).map_err(|e| self.err(e))?;
        if each {
            self.announce_durable(last);
        } else {
            self.unflushed.store(true, std::sync::atomic::Ordering::Release);
        }
        Ok(())
    }

    /// From now on, this writer's writes are flushed as `flush` says.
    pub fn set_flush(&mut self, flush: Flush) {
        self.flush = flush;
    }

    /// Writes documents, views and indexes in one atomic batch, durably.
    pub fn write(&self, writes: &[DocWrite<'_>]) -> Result<()> {
        match self.flush {
            Flush::EachWrite => {
                let last = self.write_batch(writes, true)?;
                self.announce_durable(last);
                Ok(())
            }
            Flush::ByOwner => {
                self.write_batch(writes, false)?;
                self.durable()
            }
        }
    }

    /// Like [`StoreWriter::write`], atomic but durable only at the next
    /// [`StoreWriter::make_durable`] (a sync stores many documents, then flushes once).
    pub fn write_deferred(&self, writes: &[DocWrite<'_>]) -> Result<()> {
        self.write_batch(writes, false).map(|_| ())
    }

    /// The batch of [`StoreWriter::write`], committed durably or not;
    /// returns the last feed position it took.
    fn write_batch(&self, writes: &[DocWrite<'_>], durable: bool) -> Result<u64> {
        let mut batch = Batch::default();
        let mut feed = self.feed.lock().unwrap_or_else(|p| p.into_inner());
        let mut position = *feed;
        let mut in_batch = std::collections::HashMap::new();
        let stored = self.read()?;
        for w in writes {
            // the document's feed entry moves to the next position
            let old = match in_batch.get(&w.id) {
                Some(p) => Some(u64::to_be_bytes(*p).to_vec()),
                None => stored.get(&key(b"fi:", &w.id)).map_err(|e| self.err(e))?,
            };
            if let Some(old) = old {
                let mut k = b"f:".to_vec();
                k.extend_from_slice(&old);
                batch.remove(k);
            }
            in_batch.insert(w.id, position + 1);
            position += 1;
            let mut k = b"f:".to_vec();
            k.extend_from_slice(&position.to_be_bytes());
            batch.insert(k, w.id.as_bytes());
            batch.insert(key(b"fi:", &w.id), position.to_be_bytes());
            match &w.payload {
                Payload::New { bytes, hashes } => batch.insert(key(b"d:", &w.id), whole::value(bytes, hashes)),
                Payload::Changed { doc, stored_heads } => {
                    let chunk = doc.save_after(stored_heads);
                    if !chunk.is_empty() {
                        let existing: Vec<Vec<u8>> = stored
                            .prefix_keys(&key(b"c:", &w.id))
                            .map_err(|e| self.err(e))?
                            .collect::<std::result::Result<_, _>>()
                            .map_err(|e| self.err(e))?;
                        if existing.len() + 1 >= COMPACT_AFTER {
                            for k in existing {
                                batch.remove(k);
                            }
                            batch.insert(key(b"d:", &w.id), snapshot(doc));
                        } else {
                            let next = existing
                                .last()
                                .and_then(|k| k.get(k.len() - 8..))
                                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                                .map_or(0, |b| u64::from_be_bytes(b) + 1);
                            batch.insert(change_key(&w.id, next), versioned(&chunk));
                        }
                    }
                }
            }
            batch.insert(key(b"v:", &w.id), versioned(&w.view));
            batch.insert(key(b"h:", &w.id), w.summary);
            for (hash, sig) in &w.sigs {
                let mut k = b"g:".to_vec();
                k.extend_from_slice(hash);
                batch.insert(k, sig);
            }
            batch.insert(index_key(w.kind, w.key, Some(&w.id)), w.tally.encode());
            if w.tally.conflicted {
                batch.insert(key(b"x:", &w.id), []);
            } else {
                batch.remove(key(b"x:", &w.id));
            }
            if w.blobs.is_empty() {
                batch.remove(key(b"b:", &w.id));
            } else {
                batch.insert(key(b"b:", &w.id), w.blobs.concat());
            }
        }
        drop(stored);
        // with the cache held: a load that read the old bytes meanwhile cannot keep them
        self.docs.writing(writes.iter().map(|w| &w.id), || self.db.apply(batch, durable)).map_err(|e| self.err(e))?;
        self.summary.wrote(writes.iter().map(|w| (w.id, w.summary)), position);
        *feed = position;
        if writes.iter().any(|w| w.policy) {
            self.policy_changed();
        }
        Ok(position)
    }

    /// Builds the blob reference index anew (every `b:` entry replaced,
    /// then `m:blobs` set to `built_for`), in one batch, durably: `refs`
    /// are every record's references, read by the node from the views.
    pub fn complete_blob_index(&self, refs: &[(DocumentId, Vec<[u8; 32]>)], built_for: &[u8]) -> Result<()> {
        let mut batch = Batch::default();
        for k in self.read()?.prefix_keys(b"b:").map_err(|e| self.err(e))? {
            batch.remove(k.map_err(|e| self.err(e))?);
        }
        for (id, hashes) in refs.iter().filter(|(_, h)| !h.is_empty()) {
            batch.insert(key(b"b:", id), hashes.concat());
        }
        batch.insert(b"m:blobs", built_for);
        self.commit(batch)
    }

    /// Makes every write so far durable (see [`StoreWriter::write`]).
    pub fn make_durable(&self) -> Result<()> {
        self.durable()
    }

    /// Rewrites documents as single snapshots, dropping their change
    /// chunks, in one batch made durable at once (those with no chunks are
    /// left as they are). redb frees the pages a commit replaced only at a
    /// later durable commit: left to the owner's next flush, a run of
    /// batches would each keep a copy of the pages it touched, where made
    /// durable one by one they reuse each other's. Returns the bytes saved.
    pub fn compact(&self, ids: &[DocumentId]) -> Result<u64> {
        let mut batch = Batch::default();
        let mut compacted = vec![];
        let mut saved = 0;
        // the engine is the only writer: what this reads stays as read
        // until the batch is written
        let read = self.read()?;
        for id in ids {
            let chunks: Vec<Vec<u8>> = read
                .prefix_keys(&key(b"c:", id))
                .map_err(|e| self.err(e))?
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| self.err(e))?;
            if chunks.is_empty() {
                continue;
            }
            let Some((doc, size)) = self.read_document(id)? else { continue };
            let fresh = snapshot(&doc);
            for k in chunks {
                batch.remove(k);
            }
            saved += size.saturating_sub(fresh.len()) as u64;
            batch.insert(key(b"d:", id), fresh);
            compacted.push(*id);
        }
        drop(read);
        if !compacted.is_empty() {
            self.docs.writing(&compacted, || self.commit(batch))?;
            self.flush_now()?;
        }
        Ok(saved)
    }
}

impl Drop for StoreWriter {
    /// A writer going away leaves nothing unflushed behind, and the
    /// replication summary on disk for the next process.
    fn drop(&mut self) {
        if self.take_unflushed() {
            if let Err(e) = self.flush_now() {
                tracing::error!("the store's last writes could not be made durable: {e}");
                return;
            }
        }
        // a cache: without it the next process scans `h:` once (and a home
        // being deleted under a closing node is no one's concern)
        if let Err(e) = self.keep_summary() {
            tracing::debug!("the replication summary was not kept for the next process: {e}");
        }
    }
}

/// The `d:` value of `doc` compacted: saved whole, with its change hashes.
pub(crate) fn snapshot(doc: &Automerge) -> Vec<u8> {
    let hashes: Vec<ChangeHash> = doc.get_changes_meta(&[]).iter().map(|m| m.hash).collect();
    whole::value(&doc.save_nocompress(), &hashes)
}
