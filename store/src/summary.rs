//! The replication summary — every document's `(ID, state hash)` — kept
//! in memory once read, and in a file beside sled's between processes, so
//! that a sync costs what changed, not what the store holds.
//!
//! Owns: the in-memory summary (current with every write of this process:
//! the writer updates it in the same call that writes `h:`), the `summary`
//! file (what it was at a durable change-feed position; format below), and
//! bringing a file's summary up to date from the change feed. Must never:
//! hand out a summary that misses a write (a file that cannot be proven to
//! belong to this store's feed is ignored and `h:` scanned whole), or write
//! the file ahead of what is durable.
//!
//! Each file is bound to the store by a random nonce written durably into
//! the store (`m:summary`) just before the file, and inside it: a file
//! beside a store restored from a backup, or one that repair has changed
//! (repair deletes `m:summary` in the store), does not match and is not
//! believed.
//!
//! # The `summary` file, format 1
//! `AYSUM` (5 bytes), format `1` (u8), the nonce (16 bytes, as in the
//! store's `m:summary`), feed position (u64 BE), the document written at
//! that position (16 bytes; zeros at position 0), count n (u64 BE), n ×
//! (document ID (16) + state hash (16)) sorted by ID, then the CRC32 of
//! everything before it (u32 LE). Written whole or not at all
//! ([`crate::atomic_file::replace`]) when the writer goes away and the
//! summary moved since the file was written. It is a cache: deleting it
//! costs one scan of `h:`.

use std::collections::BTreeMap;

use ayni_model::error::Result;
use ayni_model::id::DocumentId;

use super::{key, Store};

const MAGIC: &[u8; 5] = b"AYSUM";
const VERSION: u8 = 1;
/// The store key holding the nonce of the current file.
const NONCE: &[u8] = b"m:summary";
/// The file's name in the store directory.
pub(crate) const FILE: &str = "summary";

/// The summary as of a feed position.
pub(crate) struct Summary {
    /// Every document's state hash, in ID order, as last folded: read
    /// from the file as it lies there, with no map to build.
    items: Vec<(DocumentId, [u8; 16])>,
    /// What changed since the last fold: a document's new state hash, or
    /// `None` for one that is gone. Folded into `items` at the next read.
    since: BTreeMap<DocumentId, Option<[u8; 16]>>,
    /// The last feed position it includes.
    position: u64,
    /// The document written at that position: a file is believed only
    /// where this store's feed has that document at it or later.
    last: DocumentId,
    /// The position the file holds (nothing to write while they agree).
    saved: Option<u64>,
    /// The nonce a file carries (see the module header).
    nonce: [u8; 16],
}

/// The in-memory summary, read once per process.
#[derive(Default)]
pub(crate) struct Cached(std::sync::Mutex<Option<Summary>>);

impl Cached {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Summary>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A write of `(id, state hash)` landed at feed `position`: kept, if the
    /// summary was read (else the next read finds it in the store).
    pub(crate) fn wrote(&self, writes: impl IntoIterator<Item = (DocumentId, [u8; 16])>, position: u64) {
        if let Some(s) = self.lock().as_mut() {
            for (id, h) in writes {
                s.since.insert(id, Some(h));
                s.last = id;
            }
            s.position = position;
        }
    }
}

impl Store {
    /// The replication summary: every document's `(ID, state hash)`, in ID
    /// order, without loading any document — from memory, else from the
    /// `summary` file brought up to date from the change feed, else by
    /// scanning `h:`.
    pub fn summary(&self) -> Result<Vec<(DocumentId, [u8; 16])>> {
        self.with_summary(|s| s.fold().clone())
    }

    /// `f` on the summary, read first if this process has not read it.
    fn with_summary<T>(&self, f: impl FnOnce(&mut Summary) -> T) -> Result<T> {
        // the feed lock first: no write lands while the summary is read
        let feed = self.feed.lock().unwrap_or_else(|p| p.into_inner());
        let mut cached = self.summary.lock();
        let s = match cached.take() {
            Some(s) => s,
            None => self.read_summary(*feed)?,
        };
        Ok(f(cached.insert(s)))
    }

    /// The summary as of feed position `feed`: the file's, if it belongs
    /// to this store, brought up to date; else a scan of `h:`.
    fn read_summary(&self, feed: u64) -> Result<Summary> {
        let nonce = self.get(NONCE)?;
        let from_file = match std::fs::read(self.dir.join(FILE)) {
            Ok(bytes) => decode(&bytes)
                .filter(|s| nonce.as_deref() == Some(&s.nonce[..]))
                .filter(|s| self.belongs(s, feed).unwrap_or(false)),
            Err(_) => None,
        };
        Ok(match from_file {
            Some(mut s) => {
                self.catch_up(&mut s, feed)?;
                s
            }
            None => Summary {
                items: sorted(self.summary_on_disk()?),
                since: BTreeMap::new(),
                position: feed,
                last: self.written_at(feed)?.unwrap_or(DocumentId::from_bytes([0; 16])),
                saved: None,
                nonce: [0; 16],
            },
        })
    }

    /// Whether a file's summary was taken from this store's feed: its
    /// position is not beyond the feed, and the document it names as
    /// written there has its feed entry at that position or later (a store
    /// restored from a copy older than the file, or one that went on
    /// elsewhere, fails this).
    fn belongs(&self, s: &Summary, last: u64) -> Result<bool> {
        if s.position > last {
            return Ok(false);
        }
        if s.position == 0 {
            return Ok(true);
        }
        let at = self.get(&key(b"fi:", &s.last))?.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok());
        Ok(at.is_some_and(|p| u64::from_be_bytes(p) >= s.position))
    }

    /// The document whose feed entry is at `position`.
    fn written_at(&self, position: u64) -> Result<Option<DocumentId>> {
        let mut k = b"f:".to_vec();
        k.extend_from_slice(&position.to_be_bytes());
        Ok(self.get(&k)?.and_then(|v| <[u8; 16]>::try_from(v.as_ref()).ok()).map(DocumentId::from_bytes))
    }

    /// Forgets the summary, in memory and for every later process (the
    /// store's nonce goes, in the caller's next durable write): repair may
    /// have changed any `h:` without the feed.
    pub(crate) fn forget_summary(&self) -> Result<()> {
        *self.summary.lock() = None;
        let mut batch = super::kv::Batch::default();
        batch.remove(NONCE);
        self.db.apply(batch, false).map_err(|e| self.err(e))?;
        let _ = std::fs::remove_file(self.dir.join(FILE));
        Ok(())
    }

    /// Brings a file's summary to the feed's `last` position: each document
    /// written after the file's position is read again from `h:`.
    fn catch_up(&self, s: &mut Summary, last: u64) -> Result<()> {
        let stored = self.read()?;
        self.walk_feed(&stored, s.position, |_, id| {
            s.last = id;
            let h = stored
                .get(&key(b"h:", &id))
                .map_err(|e| self.err(e))?
                .and_then(|v| <[u8; 16]>::try_from(v.as_ref()).ok());
            s.since.insert(id, h);
            Ok(true)
        })?;
        s.position = last;
        Ok(())
    }

    /// Writes the summary file if the summary moved since it was read or
    /// written, and only up to what is durable (called by the writer's
    /// owner as it goes away, after its last flush).
    pub(crate) fn keep_summary(&self) -> Result<()> {
        let durable = self.feed_position();
        let mut cached = self.summary.lock();
        let Some(s) = cached.as_mut() else { return Ok(()) };
        if s.saved == Some(s.position) || s.position > durable || !self.dir.is_dir() {
            return Ok(());
        }
        // a new nonce, durable in the store before the file names it
        s.nonce = *DocumentId::random()?.as_bytes();
        let mut batch = super::kv::Batch::default();
        batch.insert(NONCE, s.nonce);
        self.db.apply(batch, true).map_err(|e| self.err(e))?;
        let path = self.dir.join(FILE);
        s.fold();
        crate::atomic_file::replace(&path, &encode(s), crate::atomic_file::Access::Owner)
            .map_err(|e| ayni_model::error::Error::io(&path, e))?;
        s.saved = Some(s.position);
        Ok(())
    }
}

impl Summary {
    /// Folds what changed since into `items`, in one merge of two sorted
    /// runs (a map rebuilt per read cost a no-op sync at 100,000 records
    /// a fifth of its CPU), and returns them.
    fn fold(&mut self) -> &Vec<(DocumentId, [u8; 16])> {
        if self.since.is_empty() {
            return &self.items;
        }
        let since = std::mem::take(&mut self.since);
        let old = std::mem::take(&mut self.items);
        let mut items = Vec::with_capacity(old.len() + since.len());
        let mut old = old.into_iter().peekable();
        for (id, h) in since {
            while let Some(kept) = old.next_if(|(o, _)| *o < id) {
                items.push(kept);
            }
            old.next_if(|(o, _)| *o == id);
            if let Some(h) = h {
                items.push((id, h));
            }
        }
        items.extend(old);
        self.items = items;
        &self.items
    }
}

/// `h:`'s items in ID order, each ID once: keys of another length than
/// the writer's (which repair's raw writes can leave) would otherwise read
/// out of order.
fn sorted(mut items: Vec<(DocumentId, [u8; 16])>) -> Vec<(DocumentId, [u8; 16])> {
    if !items.is_sorted_by(|a, b| a.0 < b.0) {
        items.sort_by_key(|(id, _)| *id);
        items.dedup_by_key(|(id, _)| *id);
    }
    items
}

/// The file's bytes; `s` folded.
fn encode(s: &Summary) -> Vec<u8> {
    let mut out = Vec::with_capacity(54 + s.items.len() * 32 + 4);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&s.nonce);
    out.extend_from_slice(&s.position.to_be_bytes());
    out.extend_from_slice(s.last.as_bytes());
    out.extend_from_slice(&(s.items.len() as u64).to_be_bytes());
    debug_assert!(s.since.is_empty(), "encoded unfolded");
    for (id, h) in &s.items {
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(h);
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A summary file's content; `None` for anything but a whole one of
/// this format.
fn decode(bytes: &[u8]) -> Option<Summary> {
    let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    let rest = body.strip_prefix(MAGIC)?.strip_prefix(&[VERSION])?;
    let nonce: [u8; 16] = rest.get(..16)?.try_into().ok()?;
    let rest = rest.get(16..)?;
    let position = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    let last = DocumentId::from_bytes(rest.get(8..24)?.try_into().ok()?);
    let n = usize::try_from(u64::from_be_bytes(rest.get(24..32)?.try_into().ok()?)).ok()?;
    let items = rest.get(32..)?;
    if items.len() != n.checked_mul(32)? {
        return None;
    }
    // into a vector of its exact size (collecting through `Option` grows
    // one by doubling); a file out of ID order is not a summary
    let mut pairs: Vec<(DocumentId, [u8; 16])> = Vec::with_capacity(n);
    for c in items.chunks_exact(32) {
        let (id, h) = c.split_at(16);
        let id = DocumentId::from_bytes(id.try_into().ok()?);
        if pairs.last().is_some_and(|(before, _)| *before >= id) {
            return None;
        }
        pairs.push((id, <[u8; 16]>::try_from(h).ok()?));
    }
    Some(Summary { items: pairs, since: BTreeMap::new(), position, last, saved: Some(position), nonce })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_round_trips_and_a_damaged_one_is_ignored() {
        let items: Vec<_> = (0..5u8).map(|i| (DocumentId::from_bytes([i; 16]), [i + 1; 16])).collect();
        let s = Summary {
            items,
            since: BTreeMap::new(),
            position: 42,
            last: DocumentId::from_bytes([3; 16]),
            saved: None,
            nonce: [7; 16],
        };
        let bytes = encode(&s);
        let back = decode(&bytes).unwrap();
        assert_eq!((back.position, back.last, back.nonce, back.items.clone()), (42, s.last, s.nonce, s.items.clone()));
        for cut in [0, 1, 53, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        assert!(decode(&flipped).is_none());
        // two items swapped, the CRC made right: not in ID order, not believed
        let mut swapped = bytes[..bytes.len() - 4].to_vec();
        let first = 54;
        let (a, b) = swapped[first..first + 64].split_at_mut(32);
        a.swap_with_slice(b);
        let crc = crc32fast::hash(&swapped);
        swapped.extend_from_slice(&crc.to_le_bytes());
        assert!(decode(&swapped).is_none());
    }

    #[test]
    fn a_scan_read_out_of_order_is_sorted_once_per_id() {
        let (a, b) = (DocumentId::from_bytes([1; 16]), DocumentId::from_bytes([2; 16]));
        assert_eq!(sorted(vec![(b, [0; 16]), (a, [1; 16]), (a, [2; 16])]), vec![(a, [1; 16]), (b, [0; 16])]);
        assert_eq!(sorted(vec![(a, [1; 16]), (b, [0; 16])]), vec![(a, [1; 16]), (b, [0; 16])]);
    }

    /// Folding what changed into the items gives what a map of every
    /// change applied in order gives, for random runs of changes.
    #[test]
    fn changes_fold_into_the_items_as_a_map_would_hold_them() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let id = |n: u64| DocumentId::from_bytes([(n % 24) as u8; 16]);
            let mut model = BTreeMap::new();
            for _ in 0..next() % 12 {
                model.insert(id(next()), [(next() % 200) as u8; 16]);
            }
            let mut s = Summary {
                items: model.iter().map(|(id, h)| (*id, *h)).collect(),
                since: BTreeMap::new(),
                position: 0,
                last: id(0),
                saved: None,
                nonce: [0; 16],
            };
            for _ in 0..3 {
                for _ in 0..next() % 10 {
                    let (k, gone) = (id(next()), next() % 3 == 0);
                    let h = [(next() % 200) as u8; 16];
                    s.since.insert(k, (!gone).then_some(h));
                    if gone {
                        model.remove(&k);
                    } else {
                        model.insert(k, h);
                    }
                }
                let want: Vec<_> = model.iter().map(|(id, h)| (*id, *h)).collect();
                assert_eq!(s.fold(), &want);
                assert!(s.since.is_empty());
            }
        }
    }
}
