//! An in-memory [`DocStore`]: the sans-IO session driven without sled, for
//! unit tests and fuzzing (the `fuzzing` feature exposes it to `fuzz/`).
//!
//! Owns: a map of documents, their changes' stand-in signatures and a list
//! of membership tokens. Must never: be used by a node: it admits every
//! change (no signature, member or role check) and nothing it holds is
//! durable.

use std::collections::{BTreeMap, HashMap};

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ChangeHash, ROOT};

use super::{state_hash, DocStore, Hash16};
use crate::attest::{Proof, Signed};
use crate::error::{Error, Result};
use crate::id::DocumentId;

/// Documents and membership tokens held in memory.
#[derive(Default, Clone)]
pub struct MemoryStore {
    /// The documents.
    pub docs: BTreeMap<DocumentId, Automerge>,
    /// Membership tokens, as received (not verified).
    pub members: Vec<Vec<u8>>,
    /// Signatures by change hash: [`stand_in_signature`] for local edits,
    /// what arrived with them for received changes (not verified), so tests
    /// see that signatures travel with the changes they sign.
    pub sigs: HashMap<[u8; 32], Proof>,
    /// How many times [`DocStore::commit`] was called.
    pub commits: usize,
    /// Documents refused whole because they did not load, and why.
    pub unreadable: Vec<(DocumentId, String)>,
}

/// What a [`MemoryStore`] signs its own changes with: 64 bytes that look
/// as random as a real signature (so they compress as badly), derived from
/// the change hash; nothing checks them.
pub fn stand_in_signature(hash: &ChangeHash) -> [u8; 64] {
    use sha2::{Digest, Sha256};
    let mut s = [0; 64];
    s[..32].copy_from_slice(&Sha256::digest([&b"left"[..], &hash.0].concat()));
    s[32..].copy_from_slice(&Sha256::digest([&b"right"[..], &hash.0].concat()));
    s
}

/// A deterministic document ID for sample document `n`.
pub fn doc_id(n: u64) -> DocumentId {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    b[8..].copy_from_slice(&n.to_be_bytes());
    DocumentId::from_bytes(b)
}

impl MemoryStore {
    /// Sample documents `0..n`, each with one change by `actor`.
    pub fn replica(n: u64, actor: u8) -> MemoryStore {
        let mut s = MemoryStore::default();
        for i in 0..n {
            s.edit(actor, i, "v", i as i64);
        }
        s
    }

    /// Puts `key = value` in sample document `doc` as `actor` (creating it).
    pub fn edit(&mut self, actor: u8, doc: u64, key: &str, value: i64) {
        let d = self.docs.entry(doc_id(doc)).or_insert_with(Automerge::new);
        d.set_actor(ActorId::from(vec![actor; 16]));
        let mut tx = d.transaction();
        // a put of a scalar at the root of a map cannot fail
        let _ = tx.put(ROOT, key, value);
        if let (Some(hash), _) = tx.commit() {
            self.sigs.insert(hash.0, Proof::Signature(stand_in_signature(&hash)));
        }
    }

    /// Every document's heads.
    pub fn heads(&self) -> BTreeMap<DocumentId, Vec<ChangeHash>> {
        self.docs.iter().map(|(id, d)| (*id, d.get_heads())).collect()
    }
}

impl DocStore for MemoryStore {
    fn unreadable(&mut self, id: &DocumentId, why: &str) -> Result<()> {
        self.unreadable.push((*id, why.to_string()));
        Ok(())
    }

    fn items(&self) -> Result<Vec<(DocumentId, Hash16)>> {
        Ok(self.docs.iter().map(|(id, d)| (*id, state_hash(id, &d.get_heads()))).collect())
    }

    fn load(&self, id: &DocumentId) -> Result<Option<Automerge>> {
        Ok(self.docs.get(id).cloned())
    }

    fn signatures(&self, hashes: &[automerge::ChangeHash]) -> Result<Vec<Signed>> {
        Ok(hashes.iter().filter_map(|h| self.sigs.get(&h.0).map(|s| (h.0, s.clone()))).collect())
    }

    fn save(
        &mut self,
        id: &DocumentId,
        doc: &Automerge,
        _: Option<crate::Arrived<'_>>,
        sigs: &HashMap<[u8; 32], Proof>,
    ) -> Result<usize> {
        for change in doc.get_changes_meta(&[]) {
            if let Some(s) = sigs.get(&change.hash.0) {
                self.sigs.entry(change.hash.0).or_insert_with(|| s.clone());
            }
        }
        let mut doc = doc.clone();
        match self.docs.get_mut(id) {
            Some(d) => {
                d.merge(&mut doc).map_err(|e| Error::Damaged { id: id.to_string(), reason: e.to_string() })?;
            }
            None => {
                self.docs.insert(*id, doc);
            }
        }
        Ok(0)
    }

    fn commit(&mut self) -> Result<()> {
        self.commits += 1;
        Ok(())
    }

    fn members(&self) -> Result<Vec<Vec<u8>>> {
        Ok(self.members.clone())
    }

    fn add_member(&mut self, token: &[u8]) -> Result<bool> {
        if self.members.iter().any(|m| m == token) {
            return Ok(false);
        }
        self.members.push(token.to_vec());
        Ok(true)
    }
}
