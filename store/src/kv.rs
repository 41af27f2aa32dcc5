//! The one ordered key-value table every row of the store lives in: a
//! redb database file (`store.redb`), with atomic batches, reads from one
//! consistent snapshot, and an explicit point where writes become durable.
//!
//! Owns: the redb file, its cache size, its one table, and how a batch and
//! a flush map onto redb's transactions. Must never: interpret a key or a
//! value (the layout is the rest of the crate's), or report a write
//! durable before a commit with [`redb::Durability::Immediate`] covered it.
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
/// Every row: key → value, both raw bytes.
const ROWS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("rows");
/// Bytes of non-durable commits after which the next commit is made
/// durable all the same: redb frees the pages a commit replaced only at a
/// durable commit, so a long run of non-durable ones (an import's batches
/// under one engine job) would grow the file by a copy of every page each
/// of them touched (2.5 GB for 100,000 records, against 0.9 GB).
const RECLAIM_AFTER_BYTES: usize = 32 * 1024 * 1024;
/// redb's page cache (nine tenths for reads, one for writes): bounded so
/// that a node's memory stays small on old laptops, and a scan of every
/// record keeps at most this much of the file in memory.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// The open database.
pub(crate) struct Kv {
    db: redb::Database,
    /// Bytes written by non-durable commits since the last durable one.
    pending: std::sync::atomic::AtomicUsize,
}

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
    /// Opens (or creates) the database file at `path`. A file a process
    /// left without closing is checked and repaired by redb first.
    pub(crate) fn open(path: &Path) -> Result<Kv, OpenError> {
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
        Ok(Kv { db, pending: Default::default() })
    }

    /// A consistent snapshot to read from (writes after it are not seen).
    pub(crate) fn read(&self) -> Result<Reader, redb::Error> {
        let txn = self.db.begin_read()?;
        match txn.open_table(ROWS) {
            Ok(table) => Ok(Reader { table: Some(table) }),
            // a new store before its first write
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(Reader { table: None }),
            Err(e) => Err(e.into()),
        }
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
        let bytes: usize = batch.ops.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len)).sum();
        // more durable than asked is never wrong: it lets redb reuse pages
        let durable = durable || self.pending.fetch_add(bytes, Ordering::AcqRel) + bytes >= RECLAIM_AFTER_BYTES;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(if durable { redb::Durability::Immediate } else { redb::Durability::None });
        {
            let mut table = txn.open_table(ROWS)?;
            for (k, v) in &batch.ops {
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

    /// A CRC32 of every key and value, in key order.
    pub(crate) fn checksum(&self) -> Result<u32, redb::Error> {
        let mut crc = crc32fast::Hasher::new();
        for row in self.read()?.from(&[])? {
            let (k, v) = row?;
            crc.update(&(k.len() as u64).to_le_bytes());
            crc.update(&k);
            crc.update(&v);
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

/// A snapshot of the table (see [`Kv::read`]); iterators taken from it own
/// what they need and may outlive it.
pub(crate) struct Reader {
    table: Option<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>,
}

/// Rows in key order, owned.
pub(crate) type Rows = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), redb::Error>>>;

impl Reader {
    /// One value.
    pub(crate) fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>, redb::Error> {
        let Some(table) = &self.table else { return Ok(None) };
        Ok(table.get(k)?.map(|v| v.value().to_vec()))
    }

    /// Every row from `start` (inclusive) to the end, in key order.
    pub(crate) fn from(&self, start: &[u8]) -> Result<Rows, redb::Error> {
        let Some(table) = &self.table else { return Ok(Box::new(std::iter::empty())) };
        let range = table.range::<&[u8]>(start..)?;
        Ok(Box::new(range.map(|row| {
            let (k, v) = row?;
            Ok((k.value().to_vec(), v.value().to_vec()))
        })))
    }

    /// The keys of every row whose key starts with `prefix`, in order
    /// (values not copied).
    pub(crate) fn prefix_keys(
        &self,
        prefix: &[u8],
    ) -> Result<Box<dyn Iterator<Item = Result<Vec<u8>, redb::Error>>>, redb::Error> {
        let Some(range) = self.within(prefix)? else { return Ok(Box::new(std::iter::empty())) };
        Ok(Box::new(range.map(|row| Ok(row?.0.value().to_vec()))))
    }

    /// Every row whose key starts with `prefix`, in key order.
    pub(crate) fn prefix(&self, prefix: &[u8]) -> Result<Rows, redb::Error> {
        let Some(range) = self.within(prefix)? else { return Ok(Box::new(std::iter::empty())) };
        Ok(Box::new(range.map(|row| {
            let (k, v) = row?;
            Ok((k.value().to_vec(), v.value().to_vec()))
        })))
    }

    /// The last row whose key starts with `prefix`.
    pub(crate) fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>, redb::Error> {
        let Some(mut range) = self.within(prefix)? else { return Ok(None) };
        match range.next_back() {
            Some(row) => {
                let (k, v) = row?;
                Ok(Some((k.value().to_vec(), v.value().to_vec())))
            }
            None => Ok(None),
        }
    }

    /// The rows whose key starts with `prefix`, as a range bounded at both
    /// ends. redb still reads the page where the end bound falls, which may
    /// hold the next table's first row (a peer's whole summary after `p:`).
    fn within(&self, prefix: &[u8]) -> Result<Option<redb::Range<'static, &'static [u8], &'static [u8]>>, redb::Error> {
        let Some(table) = &self.table else { return Ok(None) };
        // the first key after every key with the prefix: the prefix
        // incremented as a big-endian number (none after an all-0xff one)
        let mut end = prefix.to_vec();
        while let Some(last) = end.pop() {
            if last < 0xff {
                end.push(last + 1);
                break;
            }
        }
        Ok(Some(if end.is_empty() {
            table.range::<&[u8]>(prefix..)?
        } else {
            table.range::<&[u8]>(prefix..end.as_slice())?
        }))
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
