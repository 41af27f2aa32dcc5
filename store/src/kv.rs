//! The ordered key-value space every row of the store lives in: a redb
//! database file (`store.redb`), with atomic batches, reads from one
//! consistent snapshot, and an explicit point where writes become durable.
//!
//! Owns: the redb file, its cache size, its two tables (`rows`, and
//! `apart` for the keys the store names at open, whose values run to
//! megabytes), and how a batch and a flush map onto redb's transactions.
//! Must never: interpret a key or a value (the layout, and which prefixes
//! live apart, are the rest of the crate's), or report a write durable
//! before a commit with [`redb::Durability::Immediate`] covered it.
//!
//! A batch is one redb write transaction. [`Kv::apply`] commits it durably
//! or not: a non-durable commit is visible to every later read at once and
//! becomes durable with the next durable commit, which is what
//! [`Kv::sync`] makes (an empty one). A process that dies between the two
//! loses the non-durable commits, whole, and nothing else; redb checks and
//! repairs the file at the next open (its two commit slots, checksummed).

use std::path::{Path, PathBuf};

use redb::TableDefinition;

/// The store's file in its directory.
pub(crate) const FILE: &str = "store.redb";
/// Every row but those kept apart: key → value, both raw bytes.
const ROWS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("rows");
/// The rows whose keys begin with a prefix the store keeps apart
/// ([`Kv::open`]). In `rows`, a value of megabytes shares its redb leaf
/// with the small rows whose keys sort beside it: every read of one of
/// those would read the whole page, every write of one copy it.
const APART: TableDefinition<&[u8], &[u8]> = TableDefinition::new("apart");
/// Bytes of non-durable commits after which the next commit is made
/// durable all the same: redb frees the pages a commit replaced only at a
/// durable commit, so a long run of non-durable ones (an import's batches
/// under one engine job) would grow the file by a copy of every page each
/// of them touched (2.5 GB for 100,000 records, against 0.9 GB). A
/// commit's bytes are counted with a [`PAGE`] per key: a run of small
/// commits copies pages, not only its bytes (`ayni compact`, a commit per
/// document counted by its bytes alone, grew a 98 MB file to 422 MB). So
/// an import's batch of 1,000 records (~9 keys each) is durable on its
/// own: a fsync per 1,000 records (BENCHMARKS.md: import not slower).
const RECLAIM_AFTER_BYTES: usize = 32 * 1024 * 1024;
/// redb's page size: what writing one key copies at least.
const PAGE: usize = 4096;
/// redb's page cache (nine tenths for reads, one for writes): bounded so
/// that a node's memory stays small on old laptops, and a scan of every
/// record keeps at most this much of the file in memory.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// The open database.
pub(crate) struct Kv {
    db: redb::Database,
    /// Bytes written by non-durable commits since the last durable one.
    pending: std::sync::atomic::AtomicUsize,
    /// [`RECLAIM_AFTER_BYTES`] (smaller in tests).
    reclaim_after: usize,
    /// The key prefixes whose rows live in [`APART`].
    apart: Apart,
}

/// Key prefixes whose rows live in the `apart` table.
pub(crate) type Apart = &'static [&'static [u8]];

/// How opening failed.
pub(crate) enum OpenError {
    /// Another process (or handle) holds the file.
    Busy,
    /// redb found the file damaged.
    Damaged(Box<dyn std::error::Error + Send + Sync>),
    /// Anything else (I/O).
    Other(redb::Error),
}

impl Kv {
    /// Opens (or creates) the database file at `path`, keeping the rows
    /// whose keys begin with a prefix in `apart` in a table of their own
    /// (rows an earlier build kept among the others are moved there, in
    /// one durable commit). A file a process left without closing is
    /// checked and repaired by redb first.
    pub(crate) fn open(path: &Path, apart: Apart) -> Result<Kv, OpenError> {
        if created_no_further(path) {
            // redb writes its header, fsyncs, then its magic number: a
            // file with none held no commit (kept aside all the same)
            let aside = path.with_extension("redb.unfinished");
            std::fs::rename(path, &aside).map_err(|e| OpenError::Other(redb::StorageError::Io(e).into()))?;
            tracing::warn!(
                "moved {} to {}: an interrupted process left its creation unfinished",
                path.display(),
                aside.display()
            );
        }
        let db = redb::Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create_with_file_format_v3(true)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => OpenError::Busy,
                redb::DatabaseError::Storage(redb::StorageError::Corrupted(_))
                | redb::DatabaseError::UpgradeRequired(_) => OpenError::Damaged(Box::new(redb::Error::from(e))),
                // what redb says of a file that does not begin with its magic number
                redb::DatabaseError::Storage(redb::StorageError::Io(io))
                    if io.kind() == std::io::ErrorKind::InvalidData =>
                {
                    OpenError::Damaged(format!("{} does not begin as a redb file does", path.display()).into())
                }
                other => OpenError::Other(other.into()),
            })?;
        let kv = Kv { db, pending: Default::default(), reclaim_after: RECLAIM_AFTER_BYTES, apart };
        kv.move_apart().map_err(OpenError::Other)?;
        Ok(kv)
    }

    /// Moves the rows of `rows` whose keys begin with an apart prefix into
    /// `apart`, one at a time, in one durable commit (nothing to do, and
    /// nothing written, when there are none).
    fn move_apart(&self) -> Result<(), redb::Error> {
        let misplaced = {
            let txn = self.db.begin_read()?;
            let Some(rows) = read_table(&txn, ROWS)? else { return Ok(()) };
            let mut keys = vec![];
            for prefix in self.apart {
                for row in within(&rows, prefix)? {
                    keys.push(row?.0.value().to_vec());
                }
            }
            keys
        };
        if misplaced.is_empty() {
            return Ok(());
        }
        let mut txn = self.db.begin_write()?;
        txn.set_durability(redb::Durability::Immediate);
        {
            let mut rows = txn.open_table(ROWS)?;
            let mut apart = txn.open_table(APART)?;
            for k in &misplaced {
                if let Some(v) = rows.remove(k.as_slice())? {
                    apart.insert(k.as_slice(), v.value())?;
                }
            }
        }
        txn.commit()?;
        tracing::info!("moved {} rows of megabytes into their own table", misplaced.len());
        Ok(())
    }

    /// Whether `k` lives in [`APART`].
    fn is_apart(&self, k: &[u8]) -> bool {
        kept_apart(self.apart, k)
    }

    /// A consistent snapshot to read from (writes after it are not seen).
    pub(crate) fn read(&self) -> Result<Reader, redb::Error> {
        let txn = self.db.begin_read()?;
        Ok(Reader { rows: read_table(&txn, ROWS)?, apart: read_table(&txn, APART)?, prefixes: self.apart })
    }

    /// One value, from the latest commit.
    pub(crate) fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>, redb::Error> {
        self.read()?.get(k)
    }

    /// Applies a batch atomically: every insert and removal in order, or
    /// none; durable before this returns if `durable`, else at the next
    /// durable commit.
    pub(crate) fn apply(&self, batch: Batch, durable: bool) -> Result<(), redb::Error> {
        use std::sync::atomic::Ordering;
        // what the commit copies: at least the page each key lives in
        let bytes: usize = batch.ops.iter().map(|(k, v)| PAGE + k.len() + v.as_ref().map_or(0, Vec::len)).sum();
        // more durable than asked is never wrong: it lets redb reuse pages
        let durable = durable || self.pending.fetch_add(bytes, Ordering::AcqRel) + bytes >= self.reclaim_after;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(if durable { redb::Durability::Immediate } else { redb::Durability::None });
        {
            let mut rows = txn.open_table(ROWS)?;
            let mut apart = txn.open_table(APART)?;
            for (k, v) in &batch.ops {
                let table = if self.is_apart(k) { &mut apart } else { &mut rows };
                match v {
                    Some(v) => {
                        table.insert(k.as_slice(), v.as_slice())?;
                    }
                    None => {
                        table.remove(k.as_slice())?;
                    }
                }
            }
        }
        txn.commit()?;
        if durable {
            self.pending.store(0, Ordering::Release);
        }
        Ok(())
    }

    /// Makes every commit before it durable.
    pub(crate) fn sync(&self) -> Result<(), redb::Error> {
        self.apply(Batch::default(), true)
    }

    /// A CRC32 of every key and value: `rows` in key order, then `apart`.
    pub(crate) fn checksum(&self) -> Result<u32, redb::Error> {
        let mut crc = crc32fast::Hasher::new();
        let reader = self.read()?;
        for table in [&reader.rows, &reader.apart].into_iter().flatten() {
            for row in table.range::<&[u8]>(..)? {
                let (k, v) = row?;
                crc.update(&(k.value().len() as u64).to_le_bytes());
                crc.update(k.value());
                crc.update(v.value());
            }
        }
        Ok(crc.finalize())
    }
}

/// Whether the file at `path` is one whose creation stopped before redb
/// wrote its magic number: not empty, its first 9 bytes zeros.
fn created_no_further(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0xffu8; 9];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && head == [0; 9]
}

/// Whether `key` (or every key it begins) lives in [`APART`].
fn kept_apart(prefixes: Apart, key: &[u8]) -> bool {
    prefixes.iter().any(|p| key.starts_with(p))
}

/// A table as a snapshot holds it.
type Table = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;
/// Rows of a table, as redb hands them out.
type Range = redb::Range<'static, &'static [u8], &'static [u8]>;

/// A table of a read transaction; `None` before its first write.
fn read_table(txn: &redb::ReadTransaction, def: TableDefinition<&[u8], &[u8]>) -> Result<Option<Table>, redb::Error> {
    match txn.open_table(def) {
        Ok(table) => Ok(Some(table)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The rows of `table` whose key starts with `prefix`, as a range bounded
/// at both ends.
fn within(table: &Table, prefix: &[u8]) -> Result<Range, redb::Error> {
    // the first key after every key with the prefix: the prefix
    // incremented as a big-endian number (none after an all-0xff one)
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            break;
        }
    }
    Ok(if end.is_empty() { table.range::<&[u8]>(prefix..)? } else { table.range::<&[u8]>(prefix..end.as_slice())? })
}

/// A row as redb hands it out, copied.
#[allow(clippy::type_complexity)]
fn owned(
    row: Result<
        (redb::AccessGuard<'static, &'static [u8]>, redb::AccessGuard<'static, &'static [u8]>),
        redb::StorageError,
    >,
) -> Result<(Vec<u8>, Vec<u8>), redb::Error> {
    let (k, v) = row?;
    Ok((k.value().to_vec(), v.value().to_vec()))
}

/// A snapshot of both tables (see [`Kv::read`]); iterators taken from it
/// own what they need and may outlive it. A key, a prefix or a start
/// reads the table its own bytes belong to: a scan shorter than an apart
/// prefix sees `rows` only (the store never makes one).
pub(crate) struct Reader {
    rows: Option<Table>,
    apart: Option<Table>,
    prefixes: Apart,
}

/// Rows in key order, owned.
pub(crate) type Rows = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), redb::Error>>>;

impl Reader {
    /// The table `key` (or every key it begins) lives in.
    fn table(&self, key: &[u8]) -> Option<&Table> {
        if kept_apart(self.prefixes, key) {
            self.apart.as_ref()
        } else {
            self.rows.as_ref()
        }
    }

    /// One value.
    pub(crate) fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>, redb::Error> {
        let Some(table) = self.table(k) else { return Ok(None) };
        Ok(table.get(k)?.map(|v| v.value().to_vec()))
    }

    /// Every row from `start` (inclusive) to the end of its table, in key
    /// order.
    pub(crate) fn from(&self, start: &[u8]) -> Result<Rows, redb::Error> {
        let Some(table) = self.table(start) else { return Ok(Box::new(std::iter::empty())) };
        Ok(Box::new(table.range::<&[u8]>(start..)?.map(owned)))
    }

    /// The keys of every row whose key starts with `prefix`, in order
    /// (values not copied).
    pub(crate) fn prefix_keys(
        &self,
        prefix: &[u8],
    ) -> Result<Box<dyn Iterator<Item = Result<Vec<u8>, redb::Error>>>, redb::Error> {
        let Some(table) = self.table(prefix) else { return Ok(Box::new(std::iter::empty())) };
        Ok(Box::new(within(table, prefix)?.map(|row| Ok(row?.0.value().to_vec()))))
    }

    /// Every row whose key starts with `prefix`, in key order.
    pub(crate) fn prefix(&self, prefix: &[u8]) -> Result<Rows, redb::Error> {
        let Some(table) = self.table(prefix) else { return Ok(Box::new(std::iter::empty())) };
        Ok(Box::new(within(table, prefix)?.map(owned)))
    }

    /// The last row whose key starts with `prefix`.
    pub(crate) fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>, redb::Error> {
        let Some(table) = self.table(prefix) else { return Ok(None) };
        within(table, prefix)?.next_back().map(owned).transpose()
    }
}

/// Inserts and removals applied together by [`Kv::apply`].
#[derive(Default)]
pub(crate) struct Batch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    /// Sets `k` to `v`.
    pub(crate) fn insert(&mut self, k: impl AsRef<[u8]>, v: impl AsRef<[u8]>) {
        self.ops.push((k.as_ref().to_vec(), Some(v.as_ref().to_vec())));
    }

    /// Removes `k` (nothing if absent).
    pub(crate) fn remove(&mut self, k: impl AsRef<[u8]>) {
        self.ops.push((k.as_ref().to_vec(), None));
    }
}

/// A redb error as the store reports it.
pub(crate) fn storage(path: &Path, e: impl Into<redb::Error>) -> ayni_model::error::Error {
    ayni_model::error::Error::Storage { path: PathBuf::from(path), source: Box::new(e.into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of a table, in order.
    fn keys(table: &Option<Table>) -> Vec<Vec<u8>> {
        let Some(t) = table else { return vec![] };
        t.range::<&[u8]>(..).unwrap().map(|row| row.unwrap().0.value().to_vec()).collect()
    }

    fn v(keys: &[&[u8]]) -> Vec<Vec<u8>> {
        keys.iter().map(|k| k.to_vec()).collect()
    }

    #[test]
    fn a_run_of_small_non_durable_commits_is_made_durable_by_the_pages_it_copies() {
        let dir = tempfile::tempdir().unwrap();
        let mut kv = Kv::open(&dir.path().join(FILE), &[]).ok().unwrap();
        kv.reclaim_after = 1 << 20;
        let pending = |kv: &Kv| kv.pending.load(std::sync::atomic::Ordering::Acquire);
        // two keys of 8 bytes and a value of 1 each: a page apiece
        let per_batch = 2 * (PAGE + 8 + 1);
        let reached = kv.reclaim_after.div_ceil(per_batch);
        let mut durable = vec![];
        for i in 0..reached + 8 {
            let mut b = Batch::default();
            b.insert(format!("k:{i:06}"), [1]);
            b.insert(format!("j:{i:06}"), [1]);
            let before = pending(&kv);
            kv.apply(b, false).unwrap();
            if pending(&kv) < before {
                assert_eq!(pending(&kv), 0);
                durable.push(i + 1);
            }
        }
        // the batch that reaches the mark is durable, and no other; counted
        // by their bytes alone (18 a batch), none would have been
        assert_eq!(durable, vec![reached]);
    }

    #[test]
    fn rows_kept_apart_read_as_any_other_and_an_earlier_layout_moves_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let big = vec![7u8; 3 << 20];
        {
            // an earlier build: every row in `rows`
            let kv = Kv::open(&path, &[]).ok().unwrap();
            let mut b = Batch::default();
            b.insert(b"p:a", b"peer");
            b.insert(b"q:a", &big);
            b.insert(b"q:a.sha256", [1; 32]);
            b.insert(b"r:b", b"revoked");
            kv.apply(b, true).unwrap();
        }
        let kv = Kv::open(&path, &[b"q:"]).ok().unwrap();
        {
            let r = kv.read().unwrap();
            assert_eq!(keys(&r.rows), v(&[b"p:a", b"r:b"]));
            assert_eq!(keys(&r.apart), v(&[b"q:a", b"q:a.sha256"]));
            assert_eq!(r.get(b"q:a").unwrap(), Some(big));
            assert_eq!(r.get(b"p:a").unwrap(), Some(b"peer".to_vec()));
            let scanned = |p: &[u8]| r.prefix(p).unwrap().map(|row| row.unwrap().0).collect::<Vec<_>>();
            assert_eq!(scanned(b"q:"), v(&[b"q:a", b"q:a.sha256"]));
            assert_eq!(scanned(b"p:"), v(&[b"p:a"]));
            assert_eq!(r.last_with_prefix(b"q:").unwrap().map(|(k, _)| k), Some(b"q:a.sha256".to_vec()));
        }
        // writes and removals go to the table their key belongs to
        let mut b = Batch::default();
        b.insert(b"q:c", b"c");
        b.remove(b"q:a");
        b.insert(b"p:c", b"c");
        kv.apply(b, false).unwrap();
        let r = kv.read().unwrap();
        assert_eq!(keys(&r.apart), v(&[b"q:a.sha256", b"q:c"]));
        assert_eq!(keys(&r.rows), v(&[b"p:a", b"p:c", b"r:b"]));
        // every snapshot gone: the file opens again
        drop(r);
        kv.sync().unwrap();
        drop(kv);
        let kv = Kv::open(&path, &[b"q:"]).ok().unwrap();
        assert_eq!(kv.get(b"q:c").unwrap(), Some(b"c".to_vec()));
        let before = kv.checksum().unwrap();
        {
            let r = kv.read().unwrap();
            assert_eq!(keys(&r.rows), v(&[b"p:a", b"p:c", b"r:b"]));
            assert_eq!(keys(&r.apart), v(&[b"q:a.sha256", b"q:c"]));
            let scanned: Vec<_> = r.prefix_keys(b"q:").unwrap().map(|k| k.unwrap()).collect();
            assert_eq!(scanned, v(&[b"q:a.sha256", b"q:c"]));
            let from: Vec<_> = r.from(b"p:b").unwrap().map(|row| row.unwrap().0).collect();
            assert_eq!(from, v(&[b"p:c", b"r:b"]), "a start outside the apart prefixes reads `rows`");
        }
        drop(kv);
        // an earlier build's write among the rows is newer than the copy
        // kept apart, and wins
        {
            let kv = Kv::open(&path, &[]).ok().unwrap();
            let mut b = Batch::default();
            b.insert(b"q:c", b"newer");
            kv.apply(b, true).unwrap();
        }
        let kv = Kv::open(&path, &[b"q:"]).ok().unwrap();
        assert_eq!(kv.get(b"q:c").unwrap(), Some(b"newer".to_vec()));
        assert_eq!(keys(&kv.read().unwrap().rows), v(&[b"p:a", b"p:c", b"r:b"]));
        assert_ne!(kv.checksum().unwrap(), before);
    }
}
