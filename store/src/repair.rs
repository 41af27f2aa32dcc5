//! The store's side of `ayni check --repair`: salvaging what still reads
//! of a damaged document, replacing or forgetting one, and raw access to
//! the index and snapshots.
//!
//! Owns: every write that bypasses the normal batch (each bumps the
//! policy generation: a repair may touch anything). Must never: be used
//! outside a repair.

use super::*;

impl Store {
    /// What can still be read of a damaged document: its snapshot as far as
    /// it decodes, then every change chunk that still applies. Returns the
    /// document and the stored chunks (snapshot first) that had to be left
    /// out, byte for byte.
    pub fn salvage(&self, id: &DocumentId) -> Result<Option<Salvage>> {
        let Some((snap, _, changes)) = self.chunks(id)? else { return Ok(None) };
        let mut dropped = vec![];
        let partial = automerge::LoadOptions::new().on_partial_load(automerge::OnPartialLoad::Ignore);
        let mut doc = match Automerge::load_with_options(&snap, partial) {
            Ok(doc) if Automerge::load(&snap).is_ok() => doc,
            Ok(doc) => {
                dropped.push(snap);
                doc
            }
            Err(_) => {
                dropped.push(snap);
                Automerge::new()
            }
        };
        let mut applied = vec![];
        for c in changes {
            let mut trial = doc.clone();
            match trial.load_incremental(&c) {
                Ok(_) => {
                    doc = trial;
                    applied.push(c);
                }
                Err(_) => dropped.push(c),
            }
        }
        if !doc.get_missing_deps(&[]).is_empty() {
            // changes whose dependencies were lost wait in automerge's queue
            // and a new snapshot would leave them out: keep their chunks too
            dropped.extend(applied);
        }
        Ok(Some((doc, dropped)))
    }

    /// Every kind/key index entry (`k:`), raw, with the document it names.
    pub fn index_entries(&self) -> Result<Vec<(DocumentId, Vec<u8>)>> {
        let mut out = vec![];
        for k in self.read()?.prefix_keys(b"k:").map_err(|e| self.err(e))? {
            let k = k.map_err(|e| self.err(e))?;
            out.extend(id_from_tail(&k).map(|id| (id, k)));
        }
        Ok(out)
    }

    /// The raw index key under which a document of `kind` and `key` is listed.
    pub fn index_key_of(kind: &str, k: &str, id: &DocumentId) -> Vec<u8> {
        index_key(kind, k, Some(id))
    }

    /// The raw stored snapshot of a document, for repair tools and for tests
    /// that simulate a damaged disk.
    pub fn raw_snapshot(&self, id: &DocumentId) -> Result<Option<Vec<u8>>> {
        Ok(self.chunks(id)?.map(|(s, _, _)| s))
    }
}

impl StoreWriter {
    /// Replaces a document's stored bytes with one fresh snapshot of `doc`
    /// (its change chunks dropped), durably.
    pub fn replace_document(&self, id: &DocumentId, doc: &mut Automerge) -> Result<()> {
        let mut batch = kv::Batch::default();
        for k in self.read()?.prefix_keys(&key(b"c:", id)).map_err(|e| self.err(e))? {
            batch.remove(k.map_err(|e| self.err(e))?);
        }
        batch.insert(key(b"d:", id), super::writer::snapshot(doc));
        self.db.apply(batch, false).map_err(|e| self.err(e))?;
        self.policy_changed(); // repair may touch anything
        self.docs.clear();
        self.forget_summary()?;
        self.durable()
    }

    /// Removes every trace of a document: bytes, view, indexes, summary.
    /// Used by repair for a document of which nothing readable is left (a
    /// peer's copy comes back with the next sync, as for any missing one).
    pub fn forget_document(&self, id: &DocumentId) -> Result<()> {
        let mut batch = kv::Batch::default();
        let stored = self.read()?;
        for prefix in [&b"c:"[..], b"d:", b"v:", b"h:", b"x:", b"b:"] {
            for k in stored.prefix_keys(&key(prefix, id)).map_err(|e| self.err(e))? {
                batch.remove(k.map_err(|e| self.err(e))?);
            }
        }
        for k in stored.prefix_keys(b"k:").map_err(|e| self.err(e))? {
            let k = k.map_err(|e| self.err(e))?;
            if id_from_tail(&k).as_ref() == Some(id) {
                batch.remove(k);
            }
        }
        drop(stored);
        self.db.apply(batch, false).map_err(|e| self.err(e))?;
        self.policy_changed(); // repair may touch anything
        self.docs.clear();
        self.forget_summary()?;
        self.durable()
    }

    /// Removes raw keys (stray index entries found by repair), durably.
    pub fn remove_raw(&self, keys: &[Vec<u8>]) -> Result<()> {
        let mut batch = kv::Batch::default();
        for k in keys {
            batch.remove(k);
        }
        self.db.apply(batch, false).map_err(|e| self.err(e))?;
        self.policy_changed(); // repair may touch anything
        self.docs.clear();
        self.forget_summary()?;
        self.durable()
    }

    /// Sets one raw row as given, outside every index (damage tests: what a
    /// bad disk or an older build could leave).
    pub fn overwrite_raw(&self, k: &[u8], v: &[u8]) -> Result<()> {
        let mut batch = kv::Batch::default();
        batch.insert(k, v);
        self.commit(batch)
    }

    /// Replaces the raw snapshot of a document (repair tools, damage tests).
    pub fn overwrite_raw_snapshot(&self, id: &DocumentId, bytes: &[u8]) -> Result<()> {
        let mut batch = kv::Batch::default();
        batch.insert(key(b"d:", id), versioned(bytes));
        self.db.apply(batch, false).map_err(|e| self.err(e))?;
        self.policy_changed(); // repair may touch anything
        self.docs.clear();
        self.forget_summary()?;
        self.durable()
    }
}
