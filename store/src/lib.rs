//! The durable store (crate `ayni-store`): every record's automerge
//! document (a compacted snapshot plus incremental changes), the
//! materialised view of each record, and the indexes, as the rows of an
//! ordered key space in one redb file ([`kv`]); and [`atomic_file`], how every
//! crate writes a file whole or not at all.
//!
//! Owns: the layout of the rows, atomic batches, durability, compaction.
//! Reading is [`Store`]'s, shared by every reader; writing is
//! [`StoreWriter`]'s, the one value that can change the store, held by
//! whoever owns the node's writes (the engine thread). Must never:
//! interpret record fields (it stores views as opaque bytes) or validate,
//! or depend on the node (only on `ayni-model`: the compiler keeps the
//! layers). No other crate knows the layout or the storage engine.
//!
//! # On-disk layout, format 2
//! The directory holds `store.redb` (redb's file format 3: table `rows`,
//! and table `apart` for the `q:` rows — what peers are known to hold:
//! a feed mark after a sync, or the summary a peer's bundle carried,
//! megabytes in a large store — which among the others made every read
//! of a peer's row read them; a store that held them in `rows` has
//! them moved at its next open) and the replication summary's file
//! ([`summary`]). A store an earlier build wrote with sled (the same
//! rows, in sled's files) is moved
//! into it at its first open ([`from_sled`]). Keys are ASCII prefixes
//! followed by binary parts; values begin with a format byte (`1`).
//! | key | value |
//! |---|---|
//! | `m:format` | store format, decimal ASCII (`2`; a store of format 1 becomes 2 at its first open: format 2 adds `d:` values that begin with `2`, which a build of format 1 does not read) |
//! | `d:` id(16) | `1` + the document saved whole: a `save()` snapshot, or the bytes a sync received it as (saved uncompressed; from a build before issue 27's tenth session, its change chunks); or `2`, n (u32 BE), the n hashes of its changes (ascending), then those bytes: what a sync sends without loading the document ([`Store::whole`], store format 2) |
//! | `c:` id(16) seq(u64 BE) | `1` + automerge change chunk (changes since the snapshot) |
//! | `v:` id(16) | `1` + record view (JSON) |
//! | `k:` kind `0x00` key `0x00` id(16) | the kind/key index; its value the record's tally for `ayni status` (`1`, flags: deleted 1, in conflict 2, proposals u32 BE; [`Tally`]), empty in a store from before |
//! | `m:tally` | `1`: every `k:` entry carries a tally (the node fills a store from before at its first open) |
//! | `x:` id(16) | empty: the record has conflicts |
//! | `h:` id(16) | the document's state hash (16 bytes): the replication summary |
//! | `g:` change hash(32) | its proof: the author's Ed25519 signature of that change hash (64 bytes), or a client change's attestation (longer; see `attest`) |
//! | `n:`, `r:`, `p:`, `q:`, `cl:`, `cr:`, `a:`, `self:` name | the node's own tables ([`Table`]): memberships, revocations, peers, what peers hold, clients, client revocations, audit log, local settings |
//! | `f:` position(u64 BE) | document ID (16): the change feed, one entry per document, at the position of its latest write |
//! | `fi:` id(16) | that position (u64 BE) |
//! | `m:feed` | `1`: every document has its feed entry (a store from before the feed gets them at its first open) |
//! | `b:` id(16) | the SHA-256 of each blob the record references, 32 bytes each (absent: none) |
//! | `m:blobs` | which fields took attachments when `b:` was built (the node's description); absent in a store from before the index, rebuilt by the node at open when it differs |
//!
//! A write is one redb write transaction (all keys or none), committed
//! durably (fsync) or not, then made durable by the writer's owner with
//! the next durable commit ([`Flush`]); what that guarantees:
//! ARCHITECTURE.md, Invariants, "Durability".

pub mod atomic_file;
mod doc_cache;
mod feed;
mod files;
mod from_sled;
mod kv;
mod repair;
mod summary;
mod tables;
mod tally;
mod whole;
mod writer;

pub use tables::Table;
pub use tally::{KindTally, Tally};
pub use writer::{DocWrite, Payload, StoreWriter};

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use automerge::{Automerge, ChangeHash, ReadDoc};

use ayni_model::error::{Error, Result};
use ayni_model::id::DocumentId;

/// When a [`StoreWriter`]'s writes reach the disk: decided by whoever
/// holds the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Each write is flushed and fdatasync'd before it returns.
    EachWrite,
    /// The writer's owner flushes (after [`Store::take_unflushed`] says a
    /// write was made, with [`Store::flush_now`]) before it reports any of
    /// them done: the engine's group commit.
    ByOwner,
}

/// Store format written in `m:format`.
pub const FORMAT: u32 = 2;
const VALUE_VERSION: u8 = 1;
/// A document is compacted to one snapshot when a write would give it this
/// many change chunks (so it keeps at most one fewer). Each chunk kept
/// costs every later load of it ~5 µs (the first ~15); saving it whole
/// costs ~54 µs once. At 8, a record edited again and again loads in at
/// most ~1.7 times its snapshot's time (~2.3 times while its snapshot is
/// the change chunk a first sync by a build before the tenth session
/// stored), where at 64 it took up to 4.9 times (BENCHMARKS.md, issue 27,
/// ninth session).
pub const COMPACT_AFTER: usize = 8;

/// The store of one node.
pub struct Store {
    db: kv::Kv,
    dir: PathBuf,
    /// The last change-feed position given out; held while a batch that
    /// takes positions is applied, so positions land in order.
    feed: Mutex<u64>,
    /// The last feed position made durable, for those who follow the feed.
    feed_durable: tokio::sync::watch::Sender<u64>,
    /// Bumped after every write that can change who may write what: a row
    /// of the members or revocations tables, a document whose
    /// [`DocWrite::policy`] is set. A cached policy snapshot is current
    /// while this has not moved.
    policy_generation: std::sync::atomic::AtomicU64,
    /// Documents loaded lately (a session loads one several times).
    docs: doc_cache::DocCache,
    /// Whether a [`Flush::ByOwner`] write is not flushed yet.
    unflushed: std::sync::atomic::AtomicBool,
    /// The replication summary, once read (see [`summary`]).
    summary: summary::Cached,
}

/// What [`Store::salvage`] could read of a damaged document, and the stored
/// chunks it had to leave out (byte for byte).
pub type Salvage = (Automerge, Vec<Vec<u8>>);

/// What [`Store::check`] found wrong with one document.
#[derive(Debug, Clone)]
pub struct Damage {
    /// The document.
    pub id: DocumentId,
    /// What failed.
    pub reason: String,
}

fn key(prefix: &[u8], id: &DocumentId) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

fn change_key(id: &DocumentId, seq: u64) -> Vec<u8> {
    let mut k = key(b"c:", id);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn index_key(kind: &str, k: &str, id: Option<&DocumentId>) -> Vec<u8> {
    let mut out = b"k:".to_vec();
    out.extend_from_slice(kind.as_bytes());
    out.push(0);
    out.extend_from_slice(k.as_bytes());
    out.push(0);
    if let Some(id) = id {
        out.extend_from_slice(id.as_bytes());
    }
    out
}

fn id_from_tail(k: &[u8]) -> Option<DocumentId> {
    let tail: [u8; 16] = k.get(k.len().checked_sub(16)?..)?.try_into().ok()?;
    Some(DocumentId::from_bytes(tail))
}

/// The 32-byte hashes of a `b:` value.
fn hashes(v: &[u8]) -> Vec<[u8; 32]> {
    v.chunks_exact(32).filter_map(|h| h.try_into().ok()).collect()
}

fn versioned(bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(bytes.len() + 1);
    v.push(VALUE_VERSION);
    v.extend_from_slice(bytes);
    v
}

impl Store {
    /// Opens (or creates) the store in `dir`. Opening reads no document.
    ///
    /// A store an earlier build wrote with sled is first moved into redb,
    /// once ([`from_sled`]); a store that cannot open is reported as
    /// [`Error::StoreDamaged`], one another process holds as [`Error::Busy`].
    pub fn open(dir: &Path) -> Result<(std::sync::Arc<Store>, StoreWriter)> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        files::clear_interrupted(dir)?;
        from_sled::migrate(dir)?;
        let db = kv::Kv::open(&dir.join(kv::FILE), tables::APART).map_err(|e| match e {
            kv::OpenError::Busy => Error::Busy(dir.to_path_buf()),
            kv::OpenError::Damaged(source) => Error::StoreDamaged { path: dir.to_path_buf(), source },
            kv::OpenError::Other(e) => kv::storage(dir, e),
        })?;
        // what a move from sled left behind, once the redb file opened
        from_sled::remove_leftovers(dir)?;
        let last = match db.read().and_then(|r| r.last_with_prefix(b"f:")).map_err(|e| kv::storage(dir, e))? {
            Some((k, _)) => k.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()).map_or(0, u64::from_be_bytes),
            None => 0,
        };
        let store = Store {
            db,
            dir: dir.to_path_buf(),
            feed: Mutex::new(last),
            feed_durable: tokio::sync::watch::Sender::new(last),
            policy_generation: Default::default(),
            docs: Default::default(),
            unflushed: Default::default(),
            summary: Default::default(),
        };
        let store = StoreWriter { store: std::sync::Arc::new(store), flush: Flush::EachWrite };
        match store.get(b"m:format")? {
            None => {
                let mut batch = kv::Batch::default();
                batch.insert(b"m:format", FORMAT.to_string());
                store.commit(batch)?;
            }
            Some(v) if v == FORMAT.to_string().as_bytes() => {}
            // format 2 only adds to format 1: marked, so that a build of
            // format 1 refuses the store rather than a document in it
            Some(v) if v == b"1" => {
                let mut batch = kv::Batch::default();
                batch.insert(b"m:format", FORMAT.to_string());
                store.commit(batch)?;
            }
            Some(v) => {
                return Err(Error::Format {
                    path: dir.to_path_buf(),
                    found: String::from_utf8_lossy(&v).into_owned(),
                    supported: FORMAT,
                })
            }
        }
        store.feed_every_document()?;
        Ok((store.store.clone(), store))
    }

    /// Opens a store that [`Store::open`] reported damaged. A store still
    /// in sled's files (not yet moved to redb): its snapshot files are
    /// moved into `aside` (kept, not deleted) and sled rebuilds its page
    /// table by replaying the whole log, as it does for a store that never
    /// took a snapshot; the store is then moved to redb. A redb file has no
    /// second copy to rebuild from: [`Error::Unrepairable`], the file left
    /// as it is. Returns the store and the files moved.
    pub fn open_from_log(dir: &Path, aside: &Path) -> Result<((std::sync::Arc<Store>, StoreWriter), Vec<PathBuf>)> {
        if !from_sled::present(dir) {
            return Err(Error::Unrepairable {
                path: dir.to_path_buf(),
                reason: format!(
                    "its file {} fails redb's checksums and holds no second copy to rebuild from; it is left as it \
                     is. Restore the node from a peer: `ayni init` a new home, join the network, sync",
                    dir.join(kv::FILE).display()
                ),
            });
        }
        let moved = files::move_snapshots_aside(dir, aside)?;
        // a cache of what the log held: read again from the store
        let _ = std::fs::remove_file(dir.join(summary::FILE));
        Ok((Store::open(dir)?, moved))
    }

    fn err(&self, source: impl Into<redb::Error>) -> Error {
        kv::storage(&self.dir, source)
    }

    fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.get(k).map_err(|e| self.err(e))
    }

    fn read(&self) -> Result<kv::Reader> {
        self.db.read().map_err(|e| self.err(e))
    }

    fn payload<'v>(&self, id: &DocumentId, v: &'v [u8]) -> Result<&'v [u8]> {
        match v.split_first() {
            Some((&VALUE_VERSION, rest)) => Ok(rest),
            Some((other, _)) => {
                Err(Error::Damaged { id: id.to_string(), reason: format!("unknown value format {other}") })
            }
            None => Err(Error::Damaged { id: id.to_string(), reason: "empty value".into() }),
        }
    }

    /// Whether a [`Flush::ByOwner`] write was made since the last call:
    /// a [`Store::flush_now`] then makes it durable.
    pub fn take_unflushed(&self) -> bool {
        self.unflushed.swap(false, std::sync::atomic::Ordering::AcqRel)
    }

    /// Makes every write applied before the call durable (one durable
    /// redb commit, which covers every commit before it); followers of the
    /// feed learn of positions written before it.
    pub fn flush_now(&self) -> Result<()> {
        // positions given out before the flush are durable after it; one
        // written while it runs may not be, so it is not announced
        let last = *self.feed.lock().unwrap_or_else(|p| p.into_inner());
        self.db.sync().map_err(|e| self.err(e))?;
        self.announce_durable(last);
        Ok(())
    }

    /// Followers of the feed learn that positions up to `last` are durable
    /// (two flushes may end out of order: the position only moves forward).
    fn announce_durable(&self, last: u64) {
        self.feed_durable.send_if_modified(|d| {
            let moved = last > *d;
            *d = (*d).max(last);
            moved
        });
    }

    /// Whether the document exists.
    pub fn contains(&self, id: &DocumentId) -> Result<bool> {
        Ok(self.get(&key(b"d:", id))?.is_some())
    }

    /// The stored bytes of a document: snapshot and change chunks.
    /// A document's snapshot, the change hashes stored with it (format 2),
    /// and its change chunks.
    #[allow(clippy::type_complexity)]
    fn chunks(&self, id: &DocumentId) -> Result<Option<(Vec<u8>, Option<Vec<ChangeHash>>, Vec<Vec<u8>>)>> {
        // one snapshot: the chunks of one write, never half of two
        let r = self.read()?;
        let Some(snap) = r.get(&key(b"d:", id)).map_err(|e| self.err(e))? else { return Ok(None) };
        let (hashes, snap) = match snap.split_first() {
            // its hashes cut short: what follows the first byte is read as
            // the snapshot, fails to load, and is salvaged as damage is
            Some((&whole::WITH_HASHES, rest)) => match whole::split(rest) {
                Some((hashes, bytes)) => (Some(hashes), bytes.to_vec()),
                None => (None, rest.to_vec()),
            },
            _ => (None, self.payload(id, &snap)?.to_vec()),
        };
        let mut changes = vec![];
        for item in r.prefix(&key(b"c:", id)).map_err(|e| self.err(e))? {
            let (_, v) = item.map_err(|e| self.err(e))?;
            changes.push(self.payload(id, &v)?.to_vec());
        }
        Ok(Some((snap, hashes, changes)))
    }

    /// Loads a document, verifying every chunk and the hash chain (once:
    /// a document loaded lately comes from the cache of them).
    pub fn load(&self, id: &DocumentId) -> Result<Option<Automerge>> {
        if let Some(doc) = self.docs.get(id) {
            return Ok(Some(doc));
        }
        let generation = self.docs.generation();
        let Some((doc, size)) = self.read_document(id)? else { return Ok(None) };
        self.docs.put(*id, &doc, size, generation);
        Ok(Some(doc))
    }

    /// [`Store::load`] from the stored bytes every time, keeping nothing:
    /// for a check of the disk and for scans of every document (which
    /// would only push out what sessions are using).
    pub fn load_uncached(&self, id: &DocumentId) -> Result<Option<Automerge>> {
        Ok(self.read_document_checked(id, true)?.map(|(doc, _)| doc))
    }

    /// A document from its stored bytes, verified, and their size.
    fn read_document(&self, id: &DocumentId) -> Result<Option<(Automerge, usize)>> {
        self.read_document_checked(id, false)
    }

    /// [`Store::read_document`]; `hashes`: the change hashes stored with
    /// its snapshot, if any, are checked against the document too (a sync
    /// sends the snapshot by them without loading it: `check` names a
    /// snapshot whose hashes are not its changes', repair rewrites it).
    fn read_document_checked(&self, id: &DocumentId, hashes: bool) -> Result<Option<(Automerge, usize)>> {
        let Some((snap, stored, changes)) = self.chunks(id)? else { return Ok(None) };
        let size = snap.len() + changes.iter().map(Vec::len).sum::<usize>();
        let damaged = |e: automerge::AutomergeError| Error::Damaged { id: id.to_string(), reason: e.to_string() };
        let mut doc = Automerge::load(&snap).map_err(damaged)?;
        if !changes.is_empty() {
            // one call for all the chunks: automerge applies them as one batch
            doc.load_incremental(&changes.concat()).map_err(damaged)?;
        }
        let missing = doc.get_missing_deps(&[]);
        if !missing.is_empty() {
            return Err(Error::Damaged {
                id: id.to_string(),
                reason: format!("{} change(s) missing from the hash chain", missing.len()),
            });
        }
        if let Some(stored) = stored.filter(|_| hashes && changes.is_empty()) {
            whole::check(id, &doc, &stored)?;
        }
        Ok(Some((doc, size)))
    }

    /// See `Store::policy_generation`.
    pub fn policy_generation(&self) -> u64 {
        self.policy_generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn policy_changed(&self) {
        self.policy_generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// The stored proof of a change, as bytes (a signature, or an
    /// attestation).
    pub fn signature(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        let mut k = b"g:".to_vec();
        k.extend_from_slice(hash);
        self.get(&k)
    }

    /// One document's state hash (its replication summary item), without
    /// loading it.
    pub fn state_hash(&self, id: &DocumentId) -> Result<Option<[u8; 16]>> {
        Ok(self.get(&key(b"h:", id))?.and_then(|v| <[u8; 16]>::try_from(v.as_ref()).ok()))
    }

    /// The replication summary as the `h:` index holds it, scanned whole
    /// (what `check` and repair compare against; syncs use [`Store::summary`]).
    pub fn summary_on_disk(&self) -> Result<Vec<(DocumentId, [u8; 16])>> {
        let mut out = vec![];
        for item in self.read()?.prefix(b"h:").map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if let (Some(id), Ok(hash)) = (id_from_tail(&k), <[u8; 16]>::try_from(v.as_ref())) {
                out.push((id, hash));
            }
        }
        Ok(out)
    }

    /// The stored view of a record.
    pub fn view(&self, id: &DocumentId) -> Result<Option<Vec<u8>>> {
        match self.get(&key(b"v:", id))? {
            Some(v) => Ok(Some(self.payload(id, &v)?.to_vec())),
            None => Ok(None),
        }
    }

    /// Every record that references blobs, with their SHA-256 (the `b:`
    /// index: as many entries as such records, whatever the store's size).
    pub fn blob_references(&self) -> Result<Vec<(DocumentId, Vec<[u8; 32]>)>> {
        let mut out = vec![];
        for entry in self.read()?.prefix(b"b:").map_err(|e| self.err(e))? {
            let (k, v) = entry.map_err(|e| self.err(e))?;
            if let Some(id) = id_from_tail(&k) {
                out.push((id, hashes(&v)));
            }
        }
        Ok(out)
    }

    /// The blobs one record references.
    pub fn referenced_blobs(&self, id: &DocumentId) -> Result<Vec<[u8; 32]>> {
        Ok(self.get(&key(b"b:", id))?.map(|v| hashes(&v)).unwrap_or_default())
    }

    /// What the blob index was built for (`m:blobs`: the node's
    /// description of which fields take attachments), if it was: a store
    /// written before the index lacks it until the node completes it, and
    /// a node whose attachment fields changed rebuilds it
    /// ([`StoreWriter::complete_blob_index`]).
    pub fn blob_index_built_for(&self) -> Result<Option<Vec<u8>>> {
        self.get(b"m:blobs")
    }

    /// The documents of `kind` with key `k`.
    pub fn ids_by_key(&self, kind: &str, k: &str) -> Result<Vec<DocumentId>> {
        let prefix = index_key(kind, k, None);
        let mut out = vec![];
        for item in self.read()?.prefix_keys(&prefix).map_err(|e| self.err(e))? {
            let item = item.map_err(|e| self.err(e))?;
            if item.len() == prefix.len() + 16 {
                out.extend(id_from_tail(&item));
            }
        }
        Ok(out)
    }

    /// Every document of `kind`, in key order, with its view, one at a time,
    /// so that listing a large kind holds one record in memory; all read
    /// from one snapshot of the store.
    pub fn views_of_kind_iter<'s>(
        &'s self,
        kind: &str,
    ) -> Box<dyn Iterator<Item = Result<(DocumentId, Vec<u8>)>> + 's> {
        let mut prefix = b"k:".to_vec();
        prefix.extend_from_slice(kind.as_bytes());
        prefix.push(0);
        let (reader, entries) = match self.read().and_then(|r| Ok((r.prefix(&prefix).map_err(|e| self.err(e))?, r))) {
            Ok((entries, reader)) => (reader, entries),
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        Box::new(entries.filter_map(move |item| {
            let item = match item {
                Ok((k, _)) => k,
                Err(e) => return Some(Err(self.err(e))),
            };
            let id = id_from_tail(&item)?;
            match reader.get(&key(b"v:", &id)) {
                Ok(Some(v)) => Some(self.payload(&id, &v).map(|view| (id, view.to_vec()))),
                Ok(None) => None,
                Err(e) => Some(Err(self.err(e))),
            }
        }))
    }

    /// Every document with conflicts.
    pub fn conflicted(&self) -> Result<Vec<DocumentId>> {
        self.ids_with_prefix(b"x:")
    }

    /// Whether the document is flagged as having conflicts.
    pub fn conflicted_contains(&self, id: &DocumentId) -> Result<bool> {
        Ok(self.get(&key(b"x:", id))?.is_some())
    }

    /// Every document.
    pub fn all_ids(&self) -> Result<Vec<DocumentId>> {
        self.ids_with_prefix(b"d:")
    }

    fn ids_with_prefix(&self, prefix: &[u8]) -> Result<Vec<DocumentId>> {
        let mut out = vec![];
        for item in self.read()?.prefix_keys(prefix).map_err(|e| self.err(e))? {
            let item = item.map_err(|e| self.err(e))?;
            if item.len() == prefix.len() + 16 {
                out.extend(id_from_tail(&item));
            }
        }
        Ok(out)
    }

    /// A checksum of every key and value the store holds (for tests that
    /// prove a path wrote nothing).
    #[doc(hidden)]
    pub fn checksum(&self) -> Result<u32> {
        self.db.checksum().map_err(|e| self.err(e))
    }

    /// Bytes the store occupies on disk: the blocks its files hold, not
    /// their length (redb lengthens its file ahead of use, sparsely).
    pub fn disk_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            use std::os::unix::fs::MetadataExt;
            std::fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| match e.metadata() {
                            Ok(m) if m.is_dir() => walk(&e.path()),
                            Ok(m) => m.blocks() * 512,
                            Err(_) => 0,
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens the store in `dir`, waiting while another handle still holds
    /// it.
    pub(crate) fn reopen(dir: &Path) -> (std::sync::Arc<Store>, StoreWriter) {
        for _ in 0..200 {
            match Store::open(dir) {
                Err(Error::Busy(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
                other => return other.unwrap(),
            }
        }
        panic!("{} stayed locked", dir.display());
    }

    #[test]
    fn a_store_from_before_the_feed_gets_every_document_in_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<DocumentId> = (0..5).map(|_| DocumentId::random().unwrap()).collect();
        {
            let (_, store) = reopen(dir.path());
            for id in &ids {
                let doc = Automerge::new().save();
                store.write(&[person(*id, Payload::New { bytes: &doc, hashes: &[] }, 1)]).unwrap();
            }
            // what a store written before the feed looks like
            let mut batch = kv::Batch::default();
            for prefix in [&b"f:"[..], &b"fi:"[..]] {
                for k in store.read().unwrap().prefix_keys(prefix).unwrap() {
                    batch.remove(k.unwrap());
                }
            }
            batch.remove(b"m:feed");
            store.commit(batch).unwrap();
        }
        let (_, store) = reopen(dir.path());
        let feed = store.feed_since(0, 100).unwrap();
        assert_eq!(feed.len(), 5);
        let mut got: Vec<DocumentId> = feed.iter().map(|(_, id)| *id).collect();
        got.sort();
        let mut want = ids.clone();
        want.sort();
        assert_eq!(got, want);
        drop(store);
        // and only once
        let (_, store) = reopen(dir.path());
        assert_eq!(store.feed_since(0, 100).unwrap().len(), 5);
        assert_eq!(store.feed_position(), 5);
    }

    /// The write of `payload` as document `id`: a person with an empty
    /// view, its state hash `summary` repeated.
    pub(crate) fn person(id: DocumentId, payload: Payload<'_>, summary: u8) -> DocWrite<'_> {
        DocWrite {
            id,
            payload,
            kind: "person",
            key: "k",
            view: b"{}".to_vec(),
            tally: Tally::default(),
            summary: [summary; 16],
            sigs: vec![],
            policy: false,
            blobs: vec![],
        }
    }

    fn write_docs(store: &StoreWriter, n: usize, hash: u8) -> Vec<DocumentId> {
        let doc = Automerge::new().save();
        (0..n)
            .map(|_| {
                let id = DocumentId::random().unwrap();
                store.write(&[person(id, Payload::New { bytes: &doc, hashes: &[] }, hash)]).unwrap();
                id
            })
            .collect()
    }

    #[test]
    fn the_summary_kept_between_processes_is_what_the_index_holds() {
        let dir = tempfile::tempdir().unwrap();
        let copy = tempfile::tempdir().unwrap();
        {
            let (_, store) = reopen(dir.path());
            write_docs(&store, 3, 1);
            assert_eq!(store.summary().unwrap(), store.summary_on_disk().unwrap());
            // written while the summary is in memory: kept current
            write_docs(&store, 2, 2);
            assert_eq!(store.summary().unwrap().len(), 5);
            assert_eq!(store.summary().unwrap(), store.summary_on_disk().unwrap());
        }
        assert!(dir.path().join(summary::FILE).exists(), "kept as the writer went away");
        // a copy of the store as it is now, file included
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
            }
        }
        {
            // another process writes without reading the summary
            let (_, store) = reopen(dir.path());
            write_docs(&store, 4, 3);
        }
        let (_, store) = reopen(dir.path());
        let summary = store.summary().unwrap();
        assert_eq!(summary.len(), 9, "the file, brought up to date from the feed");
        assert_eq!(summary, store.summary_on_disk().unwrap());
        drop(store);
        // the newer file beside an older copy of the store, which went on
        // with other writes to the same feed position: not believed
        {
            let (_, store) = reopen(copy.path());
            write_docs(&store, 4, 4);
        }
        std::fs::copy(dir.path().join(summary::FILE), copy.path().join(summary::FILE)).unwrap();
        let (_, store) = reopen(copy.path());
        assert_eq!(store.summary().unwrap(), store.summary_on_disk().unwrap());
        assert_eq!(store.summary().unwrap().len(), 9);
        assert!(store.summary().unwrap().iter().filter(|(_, h)| *h == [4; 16]).count() == 4);
        drop(store);
        // the file written as that store closed, then repair forgets a
        // document (its `h:` goes without the feed moving): not believed
        let (_, store) = reopen(copy.path());
        let gone = store.summary().unwrap()[0].0;
        write_docs(&store, 1, 5);
        drop(store);
        assert!(copy.path().join(summary::FILE).exists());
        let (_, store) = reopen(copy.path());
        store.forget_document(&gone).unwrap();
        let (_, store) = {
            drop(store);
            reopen(copy.path())
        };
        assert_eq!(store.summary().unwrap(), store.summary_on_disk().unwrap());
        assert!(store.summary().unwrap().iter().all(|(id, _)| *id != gone));
    }
}
