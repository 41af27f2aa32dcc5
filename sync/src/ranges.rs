//! A replica's set of `(document ID, state hash)` items, sorted by ID, with
//! prefix XORs so the fingerprint of any ID range costs two lookups.
//!
//! Owns: range arithmetic for range-based set reconciliation, and the
//! hashes it compares (a document's state hash, the members fingerprint).
//! Must never: read documents (items come from the store's summary).

use automerge::ChangeHash;
use sha2::{Digest, Sha256};

use super::wire::{Bound, Hash16};
use crate::id::DocumentId;

/// The items of one replica at the start of a session.
#[derive(Debug, Clone, Default)]
pub struct ItemSet {
    /// Sorted by ID, each ID once: kept as the store hands them over (a
    /// copy into separate ID and hash arrays cost a sync with nothing to
    /// exchange at 100,000 records 2 ms).
    items: Vec<(DocumentId, Hash16)>,
    /// `prefix[i]` = XOR of the hashes of `items[..i]`.
    prefix: Vec<Hash16>,
}

fn xor(a: &Hash16, b: &Hash16) -> Hash16 {
    let mut out = [0u8; 16];
    for i in 0..16 {
        out[i] = a[i] ^ b[i];
    }
    out
}

impl ItemSet {
    /// Builds the set (sorting by ID, unless the items come sorted, as
    /// the store's summary does).
    pub fn new(mut items: Vec<(DocumentId, Hash16)>) -> ItemSet {
        if !items.is_sorted_by(|a, b| a.0 < b.0) {
            items.sort_by(|a, b| a.0.cmp(&b.0));
            items.dedup_by(|a, b| a.0 == b.0);
        }
        let mut prefix = Vec::with_capacity(items.len() + 1);
        prefix.push([0u8; 16]);
        let mut acc = [0u8; 16];
        for (_, h) in &items {
            acc = xor(&acc, h);
            prefix.push(acc);
        }
        ItemSet { items, prefix }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Index of the first item at or after `bound`.
    pub fn position(&self, bound: &Bound) -> usize {
        match bound {
            Bound::End => self.items.len(),
            Bound::Id(id) => self.items.partition_point(|(x, _)| x < id),
        }
    }

    /// XOR of the hashes of items `lo..hi`.
    pub fn fingerprint(&self, lo: usize, hi: usize) -> Hash16 {
        xor(&self.prefix[hi], &self.prefix[lo])
    }

    /// The items `lo..hi`.
    pub fn items(&self, lo: usize, hi: usize) -> Vec<(DocumentId, Hash16)> {
        self.items[lo..hi].to_vec()
    }

    /// The ID at index `i`.
    pub fn id(&self, i: usize) -> DocumentId {
        self.items[i].0
    }

    /// The hash of `id`, if present.
    pub fn get(&self, id: &DocumentId) -> Option<Hash16> {
        self.items.binary_search_by(|(x, _)| x.cmp(id)).ok().map(|i| self.items[i].1)
    }

    /// Splits `lo..hi` into at most `parts` sub-ranges of similar item
    /// counts; returns each part's `(lo, hi, upper bound)`, the last one
    /// ending at `upper`.
    pub fn split(&self, lo: usize, hi: usize, parts: usize, upper: Bound) -> Vec<(usize, usize, Bound)> {
        let n = hi - lo;
        let parts = parts.clamp(1, n.max(1));
        let mut out = Vec::with_capacity(parts);
        let mut start = lo;
        for k in 1..=parts {
            let end = lo + n * k / parts;
            let bound = if k == parts { upper } else { Bound::Id(self.items[end].0) };
            out.push((start, end, bound));
            start = end;
        }
        out
    }
}

/// The state hash of a document: the first 16 bytes of SHA-256 over its ID
/// and its sorted heads. Two replicas of a document have the same state
/// hash exactly when they hold the same changes.
pub fn state_hash(id: &DocumentId, heads: &[ChangeHash]) -> Hash16 {
    let mut sorted: Vec<&ChangeHash> = heads.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    h.update(id.as_bytes());
    for head in sorted {
        h.update(head.0);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize()[..16]);
    out
}

/// Fingerprint of a set of membership tokens.
pub fn members_fingerprint(tokens: &[Vec<u8>]) -> Hash16 {
    let mut hashes: Vec<[u8; 32]> = tokens.iter().map(|t| Sha256::digest(t).into()).collect();
    hashes.sort();
    let mut h = Sha256::new();
    for x in hashes {
        h.update(x);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize()[..16]);
    out
}
