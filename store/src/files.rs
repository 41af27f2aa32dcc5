//! The files of a store directory written outside the store's own
//! transactions — the replication summary's, and those sled wrote outside
//! its log in a store not yet moved to redb ([`crate::from_sled`]) — and
//! what a kill can leave of them.
//!
//! Owns: clearing what an interrupted write of those files leaves behind,
//! before the store opens, and moving sled's snapshots aside for a repair.
//! Must never: touch sled's data file (`db`) or a complete snapshot when the
//! store opens normally, or the redb file; every file it removes is one
//! that its writer would have replaced or rebuilt.
//!
//! # The windows, read in sled 0.34.7
//! - `snap.<lsn>.generating`: when an open finds that the log advanced past
//!   the last snapshot, sled writes a new snapshot under this name, fsyncs
//!   it and renames it to `snap.<lsn>`. Until that rename the previous
//!   snapshot (or none) and the whole log are intact, so the store recovers
//!   the same state without the new one. But sled lists every `snap.*`
//!   file, sorts them and reads the last: a partial `.generating` file
//!   sorts after its complete siblings, fails its CRC, and the store never
//!   opens again. We delete these files before sled looks.
//! - `conf`: the storage parameters, written once by the first open,
//!   neither via a temporary name nor fsynced. sled takes a file of at most
//!   8 bytes as absent, but a longer partial one fails to parse. It is
//!   written before any page, so a `conf` whose checksum fails belongs to
//!   an empty store: it is deleted and sled writes it again. Its
//!   `use_compression` line says how the pages are written ([`compressed`]):
//!   sled refuses another setting, so every open repeats the recorded one.
//! - `blobs/`: values too large for a log segment, written by sled with
//!   `create_new` before the log entry that points to them; on open sled
//!   deletes every blob above the log's stable point, so a kill leaves no
//!   stray blob.

use std::path::{Path, PathBuf};

use ayni_model::error::{Error, Result};

/// Removes what an interrupted sled write left in `dir`: partial
/// snapshots and a torn `conf`. Returns the files removed.
pub(crate) fn clear_interrupted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = vec![];
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // and a replication summary whose writing a process exit cut short
        // (the summary file itself is whole or absent: see `summary`)
        let interrupted = (name.starts_with("snap.") && name.ends_with(".generating"))
            || name.starts_with(&format!(".{}.tmp-", crate::summary::FILE))
            || (name == "conf" && !conf_is_whole(&entry.path()).map_err(|e| Error::io(entry.path(), e))?);
        if interrupted {
            std::fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            removed.push(entry.path());
        }
    }
    if !removed.is_empty() {
        sync_dir(dir)?;
        for path in &removed {
            tracing::warn!("removed {}, left half-written by an interrupted process", path.display());
        }
    }
    Ok(removed)
}

/// Whether sled's `conf` holds its text and a matching CRC32 in its last
/// four bytes (little-endian, as sled writes it). Files of at most 8 bytes
/// count as whole: sled itself treats them as absent and rewrites them.
fn conf_is_whole(path: &Path) -> std::io::Result<bool> {
    let bytes = std::fs::read(path)?;
    if bytes.len() <= 8 {
        return Ok(true);
    }
    let (text, crc) = bytes.split_at(bytes.len() - 4);
    let expected = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    Ok(crc32fast::hash(text) == expected)
}

/// Whether the store in `dir` was created with sled's page compression
/// (every store made before pages went uncompressed): sled refuses to
/// open a store with another setting than the one its `conf` records, and
/// reads its pages as that setting says. A store without a `conf` is new.
pub(crate) fn compressed(dir: &Path) -> Result<bool> {
    let path = dir.join("conf");
    match std::fs::read(&path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).lines().any(|l| l.trim() == "use_compression: true")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// Moves every `snap.*` file of `dir` into `aside`, so that sled rebuilds
/// its page table by replaying the whole log. Returns the files moved.
pub(crate) fn move_snapshots_aside(dir: &Path, aside: &Path) -> Result<Vec<PathBuf>> {
    let mut moved = vec![];
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry.file_name().to_string_lossy().starts_with("snap.") {
            std::fs::create_dir_all(aside).map_err(|e| Error::io(aside, e))?;
            let to = aside.join(entry.file_name());
            std::fs::rename(entry.path(), &to).map_err(|e| Error::io(&to, e))?;
            moved.push(to);
        }
    }
    sync_dir(dir)?;
    Ok(moved)
}

/// fsyncs a directory, so the names created, renamed or removed in it
/// survive a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    crate::atomic_file::sync_dir(dir).map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_conf_is_told_from_a_whole_one() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"segment_size: 524288\nuse_compression: true\nversion: 0.34\n";
        let mut whole = text.to_vec();
        whole.extend_from_slice(&crc32fast::hash(text).to_le_bytes());
        let path = dir.path().join("conf");
        std::fs::write(&path, &whole).unwrap();
        assert!(conf_is_whole(&path).unwrap());
        assert!(clear_interrupted(dir.path()).unwrap().is_empty());
        std::fs::write(&path, &whole[..30]).unwrap();
        assert!(!conf_is_whole(&path).unwrap());
        assert_eq!(clear_interrupted(dir.path()).unwrap(), vec![path.clone()]);
        assert!(!path.exists());
    }
}
