//! Moving a store that an earlier build wrote with sled into redb, once,
//! when a node first opens it: every row copied as it is (the layout is
//! the same), then sled's files removed.
//!
//! Owns: telling a sled store from a redb one, the copy, and every step
//! of it being safe to interrupt. Must never: remove a sled file before
//! the redb file holding all of its rows is durable under its final name,
//! or copy while another process holds the sled store.
//!
//! The steps, and what a kill at each leaves:
//! 1. sled opens the store (holding its lock: another process gets
//!    [`Error::Busy`]); a `store.redb` already there means an earlier move
//!    ended: go to 4.
//! 2. every row is copied into `store.redb.moving` (a file left by an
//!    interrupted copy is discarded first), the last commit durable;
//! 3. that file is renamed to `store.redb` and the directory fsynced: from
//!    here on the store is the redb file;
//! 4. sled's files (`conf`, `db`, `snap.*`, `blobs/`) are removed. A kill
//!    before it ends leaves some of them beside `store.redb`; the next open
//!    removes them.

use std::path::Path;

use ayni_model::error::{Error, Result};

use crate::{files, kv};

/// The copy's file until it is whole.
const MOVING: &str = "store.redb.moving";
/// Rows copied per commit.
const ROWS_PER_COMMIT: usize = 4096;

/// Whether `dir` holds a store in sled's files.
pub(crate) fn present(dir: &Path) -> bool {
    dir.join("conf").exists() || dir.join("db").exists()
}

/// Moves the sled store in `dir`, if there is one, into redb (see the
/// module header); removes what a move interrupted after its step 3 left.
pub(crate) fn migrate(dir: &Path) -> Result<()> {
    if !present(dir) {
        return Ok(());
    }
    if dir.join(kv::FILE).exists() {
        return remove_sled_files(dir);
    }
    let sled = open_sled(dir)?;
    if dir.join(kv::FILE).exists() {
        // another process moved it while this one waited for the lock
        drop(sled);
        return remove_sled_files(dir);
    }
    let started = std::time::Instant::now();
    let moving = dir.join(MOVING);
    match std::fs::remove_file(&moving) {
        Ok(()) => tracing::warn!("discarded {}, a copy an interrupted process left", moving.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&moving, e)),
    }
    let rows = {
        let target = kv::Kv::open(&moving).map_err(|e| match e {
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
    remove_sled_files(dir)
}

/// Copies every row of `sled` into `target`, the last commit durable.
fn copy(sled: &sled::Db, target: &kv::Kv, dir: &Path) -> Result<u64> {
    let sled_err = |e: sled::Error| Error::Storage { path: dir.to_path_buf(), source: Box::new(e) };
    let mut batch = kv::Batch::default();
    let mut rows = 0u64;
    for row in sled.iter() {
        let (k, v) = row.map_err(sled_err)?;
        batch.insert(k, v);
        rows += 1;
        if rows % ROWS_PER_COMMIT as u64 == 0 {
            target.apply(std::mem::take(&mut batch), false).map_err(|e| kv::storage(dir, e))?;
        }
    }
    target.apply(batch, true).map_err(|e| kv::storage(dir, e))?;
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

/// Removes sled's files from `dir` (the rows are in `store.redb`).
fn remove_sled_files(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let gone = if name == "blobs" {
            std::fs::remove_dir_all(&path)
        } else if name == "conf" || name == "db" || name.starts_with("snap.") {
            std::fs::remove_file(&path)
        } else {
            continue;
        };
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
    use crate::{Store, FORMAT};
    use ayni_model::id::DocumentId;

    /// A store as a build of the sled days left it: compressed pages, a
    /// view and a table row.
    fn sled_store(dir: &Path) {
        let db = sled::Config::new().path(dir).use_compression(true).compression_factor(3).open().unwrap();
        db.insert(b"m:format", FORMAT.to_string().as_bytes()).unwrap();
        db.insert(b"v:0123456789abcdef", crate::versioned(&[b'x'; 4000])).unwrap();
        db.insert(b"self:listen", crate::versioned(b"127.0.0.1:1")).unwrap();
        db.flush().unwrap();
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
        let dir = tempfile::tempdir().unwrap();
        sled_store(dir.path());
        assert_moved(dir.path());
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
        assert_moved(dir.path());
        std::fs::write(dir.path().join("conf"), b"left").unwrap();
        std::fs::write(dir.path().join("snap.0000000000000001"), b"left").unwrap();
        assert_moved(dir.path());
    }

    #[test]
    fn a_sled_store_another_process_holds_is_busy_not_moved() {
        let dir = tempfile::tempdir().unwrap();
        sled_store(dir.path());
        std::thread::sleep(std::time::Duration::from_millis(500));
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
