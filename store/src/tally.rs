//! What `ayni status` counts of each record — deleted or live, in
//! conflict, amendment proposals waiting — kept in the value of the
//! record's `k:` index entry, written in the same batch as the record, so
//! that counting a kind reads its index entries and never its records.
//!
//! A value is `1` (this encoding's version), a flags byte (bit 0 deleted,
//! bit 1 in conflict) and the number of proposals (u32, big-endian). A
//! store written before has empty values; the node fills them once
//! ([`StoreWriter::complete_tallies`]) and sets `m:tally`, after which
//! every entry carries one.
//!
//! Owns: that encoding, the `m:tally` marker, the count of a kind. Must
//! never: count a kind while `m:tally` is missing (the caller reads the
//! views then), or decide a record's tally (the node does, from its view).

use ayni_model::error::Result;
use ayni_model::id::DocumentId;

use super::kv::Batch;
use super::{index_key, Store, StoreWriter};

const VERSION: u8 = 1;
const MARKER: &[u8] = b"m:tally";

/// What status counts of one record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// The record is deleted (a tombstone).
    pub deleted: bool,
    /// Its document holds concurrent values.
    pub conflicted: bool,
    /// Amendment proposals waiting for HQ's decision.
    pub proposals: u32,
}

/// What status counts of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindTally {
    /// Records not deleted.
    pub live: usize,
    /// Live records in conflict.
    pub conflicted: usize,
    /// Amendment proposals waiting, in live records.
    pub proposals: usize,
}

impl Tally {
    pub(crate) fn encode(&self) -> [u8; 6] {
        let p = self.proposals.to_be_bytes();
        [VERSION, u8::from(self.deleted) | u8::from(self.conflicted) << 1, p[0], p[1], p[2], p[3]]
    }

    fn decode(v: &[u8]) -> Option<Tally> {
        match v {
            [VERSION, flags, p @ ..] if flags & !3 == 0 => Some(Tally {
                deleted: flags & 1 != 0,
                conflicted: flags & 2 != 0,
                proposals: u32::from_be_bytes(<[u8; 4]>::try_from(p).ok()?),
            }),
            _ => None,
        }
    }
}

impl Store {
    /// The records of `kind` counted from their index entries; `None` when
    /// the store's entries do not all carry a tally yet (or one of this
    /// kind's does not: an older build wrote it since — repair rewrites it).
    pub fn tally(&self, kind: &str) -> Result<Option<KindTally>> {
        if !self.tallied()? {
            return Ok(None);
        }
        let mut prefix = b"k:".to_vec();
        prefix.extend_from_slice(kind.as_bytes());
        prefix.push(0);
        let mut out = KindTally::default();
        for entry in self.read()?.prefix(&prefix).map_err(|e| self.err(e))? {
            let (_, v) = entry.map_err(|e| self.err(e))?;
            let Some(t) = Tally::decode(&v) else { return Ok(None) };
            if !t.deleted {
                out.live += 1;
                out.conflicted += usize::from(t.conflicted);
                out.proposals += t.proposals as usize;
            }
        }
        Ok(Some(out))
    }

    /// Whether every index entry carries a tally (`m:tally` is set).
    pub fn tallied(&self) -> Result<bool> {
        Ok(self.get(MARKER)?.is_some())
    }

    /// The tally in a record's index entry (`None`: no entry, or one
    /// without a tally), for repair to compare with the record.
    pub fn index_tally(&self, kind: &str, key: &str, id: &DocumentId) -> Result<Option<Tally>> {
        Ok(self.get(&index_key(kind, key, Some(id)))?.and_then(|v| Tally::decode(&v)))
    }
}

impl StoreWriter {
    /// Writes records' tallies into their index entries (`entries`: kind,
    /// key, document, tally, read by the node from the views), in one
    /// batch, durably; with `last`, sets `m:tally` in it: every entry
    /// carries one from then on. (A part written before a crash is
    /// written again: the marker comes last.)
    pub fn complete_tallies(&self, entries: &[(String, String, DocumentId, Tally)], last: bool) -> Result<()> {
        let mut batch = Batch::default();
        for (kind, key, id, t) in entries {
            batch.insert(index_key(kind, key, Some(id)), t.encode());
        }
        if last {
            batch.insert(MARKER, [VERSION]);
        }
        self.commit(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn a_tally_reads_back_as_written_and_nothing_else_reads_as_one() {
        for t in [
            Tally::default(),
            Tally { deleted: true, conflicted: false, proposals: 0 },
            Tally { deleted: false, conflicted: true, proposals: 70_000 },
        ] {
            assert_eq!(Tally::decode(&t.encode()), Some(t));
        }
        for bad in [&[][..], &[1, 0, 0, 0, 0], &[2, 0, 0, 0, 0, 0], &[1, 4, 0, 0, 0, 0], &[1, 0, 0, 0, 0, 0, 0]] {
            assert_eq!(Tally::decode(bad), None, "{bad:?}");
        }
    }
}
