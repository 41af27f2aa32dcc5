//! Moving a store that an earlier build wrote with sled into redb, once,
//! when a node first opens it: every row copied as it is (the layout is
//! the same), then sled's files removed.
//!
//! Owns: telling a sled store from a redb one, the copy, the
//! `moved-from-sled` file, and every step of it being safe to interrupt. Must never: remove a
//! sled file before the redb file holding all of its rows is durable under
//! its final name and has opened, remove a sled store written after the
//! move, or copy while another process holds the sled store.
//!
//! The steps, and what a kill at each leaves:
//! 1. sled opens the store (holding its lock: another process gets
//!    [`Error::Busy`]); a `store.redb` already there means an earlier move
//!    ended: go to 4.
//! 2. every row is copied into `store.redb.moving` (a file left by an
//!    interrupted copy is discarded first), the last commit durable; then
//!    the file `moved-from-sled` is written (empty, fsynced): the sled
//!    files beside it are the ones copied;
//! 3. that file is renamed to `store.redb` and the directory fsynced: from
//!    here on the store is the redb file;
//! 4. once `store.redb` has opened, sled's files are removed — `snap.*`
//!    and `blobs/`, `db`, `conf` — and `moved-from-sled` last. A kill
//!    before it ends leaves some of them; the next open removes them. Sled
//!    files without `moved-from-sled` beside them (a store an earlier
//!    build started after the move) are not removed: the store does not
//!    open until someone moves them or `store.redb` away.

use std::path::Path;

use ayni_model::error::{Error, Result};

use crate::{files, kv};

/// The copy's file until it is whole.
const MOVING: &str = "store.redb.moving";
/// The file saying that the sled files beside it are the ones moved.
const MOVED: &str = "moved-from-sled";
/// Rows, and bytes, copied per commit at most.
const ROWS_PER_COMMIT: usize = 4096;
const BYTES_PER_COMMIT: usize = 16 << 20;

/// Whether `dir` holds a store in sled's files (or what is left of one).
pub(crate) fn present(dir: &Path) -> bool {
    dir.join("conf").exists() || dir.join("db").exists()
}

/// Moves the sled store in `dir`, if there is one and no `store.redb` yet,
/// into redb (steps 1–3 of the module header).
pub(crate) fn migrate(dir: &Path) -> Result<()> {
    if !present(dir) || dir.join(kv::FILE).exists() {
        return Ok(());
    }
    let sled = open_sled(dir)?;
    if dir.join(kv::FILE).exists() {
        // another process moved it while this one waited for the lock
        return Ok(());
    }
    let started = std::time::Instant::now();
    let moving = dir.join(MOVING);
    match std::fs::remove_file(&moving) {
        Ok(()) => tracing::warn!("discarded {}, a copy an interrupted process left", moving.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&moving, e)),
    }
    let rows = {
        let target = kv::Kv::open(&moving, crate::tables::APART).map_err(|e| match e {
            kv::OpenError::Busy => Error::Busy(dir.to_path_buf()),
            kv::OpenError::Damaged(source) => Error::Storage { path: dir.to_path_buf(), source },
            kv::OpenError::Other(e) => kv::storage(dir, e),
        })?;
        copy(&sled, &target, dir)?
    };
    let to = dir.join(kv::FILE);
    std::fs::rename(&moving, &to).map_err(|e| Error::io(&to, e))?;
    files::sync_dir(dir)?;
    drop(sled);
    tracing::info!(
        "moved the store in {} from sled to redb: {rows} rows in {:.1} s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Copies every row of `sled` into `target`, the last commit durable;
/// then writes [`MOVED`].
fn copy(sled: &sled::Db, target: &kv::Kv, dir: &Path) -> Result<u64> {
    let sled_err = |e: sled::Error| Error::Storage { path: dir.to_path_buf(), source: Box::new(e) };
    let mut batch = kv::Batch::default();
    let (mut rows, mut in_batch, mut bytes) = (0u64, 0usize, 0usize);
    for row in sled.iter() {
        let (k, v) = row.map_err(sled_err)?;
        bytes += k.len() + v.len();
        batch.insert(k, v);
        rows += 1;
        in_batch += 1;
        if in_batch == ROWS_PER_COMMIT || bytes >= BYTES_PER_COMMIT {
            target.apply(std::mem::take(&mut batch), false).map_err(|e| kv::storage(dir, e))?;
            (in_batch, bytes) = (0, 0);
        }
    }
    target.apply(batch, true).map_err(|e| kv::storage(dir, e))?;
    let moved = dir.join(MOVED);
    crate::atomic_file::replace(&moved, b"", crate::atomic_file::Access::Owner).map_err(|e| Error::io(&moved, e))?;
    Ok(rows)
}

/// Opens the sled store as the build that wrote it did; its errors as the
/// store reports them.
fn open_sled(dir: &Path) -> Result<sled::Db> {
    sled::Config::new()
        .path(dir)
        .mode(sled::Mode::LowSpace)
        .cache_capacity(32 * 1024 * 1024)
        .use_compression(files::compressed(dir)?)
        .compression_factor(3)
        .open()
        .map_err(|source| match &source {
            sled::Error::Io(e)
                if e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("could not acquire lock") =>
            {
                Error::Busy(dir.to_path_buf())
            }
            sled::Error::Corruption { .. } | sled::Error::Unsupported(_) | sled::Error::ReportableBug(_) => {
                Error::StoreDamaged { path: dir.to_path_buf(), source: Box::new(source) }
            }
            _ => Error::Storage { path: dir.to_path_buf(), source: Box::new(source) },
        })
}

/// Step 4 of the module header (once `store.redb` has opened): removes
/// what is left of the sled store it was moved from.
pub(crate) fn remove_leftovers(dir: &Path) -> Result<()> {
    let mut names: Vec<String> = vec![];
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let name = entry.map_err(|e| Error::io(dir, e))?.file_name().to_string_lossy().into_owned();
        if name == "blobs" || name == "conf" || name == "db" || name.starts_with("snap.") || name == MOVED {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Ok(());
    }
    if names.iter().any(|n| n == "db" || n == "conf") && !names.iter().any(|n| n == MOVED) {
        return Err(Error::Storage {
            path: dir.to_path_buf(),
            source: format!(
                "{} holds both {} and a sled store written after it (by a build of ayni from before the move \
                 to redb?): move one of them out of the directory",
                dir.display(),
                kv::FILE
            )
            .into(),
        });
    }
    // the marker last: while it is there, what is left is the moved store's
    names.sort_by_key(|n| n == MOVED);
    for name in names {
        let path = dir.join(&name);
        let gone = if name == "blobs" { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        match gone {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    files::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use ayni_model::id::DocumentId;

    /// A store as a build of the sled days left it: compressed pages, a
    /// view and a table row.
    fn sled_store(dir: &Path) {
        let db = sled::Config::new().path(dir).use_compression(true).compression_factor(3).open().unwrap();
        // the sled days were format 1
        db.insert(b"m:format", b"1").unwrap();
        db.insert(b"v:0123456789abcdef", crate::versioned(&[b'x'; 4000])).unwrap();
        db.insert(b"self:listen", crate::versioned(b"127.0.0.1:1")).unwrap();
        db.flush().unwrap();
        drop(db);
        // sled's threads hold its lock a moment after its handle goes
        std::thread::sleep(std::time::Duration::from_millis(500));
    }

    /// A directory holding a sled store already moved into redb.
    fn moved_store() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        sled_store(dir.path());
        assert_moved(dir.path());
        dir
    }

    fn assert_moved(dir: &Path) {
        // sled's threads hold its lock a moment after its handle goes
        let (store, _writer) = crate::tests::reopen(dir);
        let id = DocumentId::from_bytes(*b"0123456789abcdef");
        assert_eq!(store.view(&id).unwrap().unwrap(), vec![b'x'; 4000]);
        assert_eq!(store.row(crate::Table::Local, "listen").unwrap().unwrap(), b"127.0.0.1:1");
        let names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(!names.iter().any(|n| n == "conf" || n == "db" || n == "blobs" || n.starts_with("snap.")), "{names:?}");
        assert!(!names.iter().any(|n| n == MOVING), "{names:?}");
        assert!(names.iter().any(|n| n == kv::FILE), "{names:?}");
    }

    #[test]
    fn a_sled_store_is_moved_into_redb_whole_at_its_first_open() {
        let dir = moved_store();
        // and the next open finds nothing to move
        assert_moved(dir.path());
    }

    #[test]
    fn a_move_interrupted_at_any_step_ends_at_the_next_open() {
        // killed while copying: a partial copy beside the sled store
        let dir = tempfile::tempdir().unwrap();
        sled_store(dir.path());
        std::fs::write(dir.path().join(MOVING), b"half a redb file").unwrap();
        assert_moved(dir.path());

        // killed after the rename, before sled's files were all removed
        let dir = tempfile::tempdir().unwrap();
        sled_store(dir.path());
        let sled = open_sled(dir.path()).unwrap();
        let target = kv::Kv::open(&dir.path().join(kv::FILE), crate::tables::APART).ok().unwrap();
        copy(&sled, &target, dir.path()).unwrap();
        drop((sled, target));
        assert!(dir.path().join("db").exists() && dir.path().join("conf").exists());
        assert_moved(dir.path());
    }

    #[test]
    fn a_sled_store_an_earlier_build_started_beside_the_moved_one_is_kept_and_named() {
        let dir = moved_store();
        // an earlier build finds no sled files and starts a store of its own
        sled_store(dir.path());
        let err = Store::open(dir.path()).err().expect("opened beside a newer sled store");
        assert!(err.to_string().contains("a sled store written after it"), "{err}");
        assert!(dir.path().join("db").exists(), "the later sled store was removed");
    }

    #[test]
    fn a_sled_store_another_process_holds_is_busy_not_moved() {
        let dir = tempfile::tempdir().unwrap();
        sled_store(dir.path());
        let held = sled::Config::new().path(dir.path()).use_compression(true).open().unwrap();
        assert!(matches!(Store::open(dir.path()), Err(Error::Busy(_))));
        assert!(!dir.path().join(kv::FILE).exists());
        drop(held);
    }

    #[test]
    fn a_sled_store_whose_snapshot_is_damaged_is_reopened_from_its_log_then_moved() {
        let dir = tempfile::tempdir().unwrap();
        sled_store(dir.path());
        // sled writes a snapshot when an open finds its log advanced
        for _ in 0..2 {
            std::thread::sleep(std::time::Duration::from_millis(500));
            drop(sled::Config::new().path(dir.path()).use_compression(true).open().unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        let snap = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("snap."))
            .expect("sled took no snapshot: the test would prove nothing");
        let mut bytes = std::fs::read(&snap).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        std::fs::write(&snap, &bytes).unwrap();
        assert!(matches!(Store::open(dir.path()), Err(Error::StoreDamaged { .. })));
        let aside = tempfile::tempdir().unwrap();
        let (store, moved) = Store::open_from_log(dir.path(), aside.path()).unwrap();
        assert_eq!(moved, vec![aside.path().join(snap.file_name().unwrap())]);
        assert!(moved[0].exists(), "the damaged snapshot is kept");
        drop(store);
        assert_moved(dir.path());
    }
}
