//! Writing a file whole or not at all — the one helper every crate uses
//! (the node's `node.json` and `network.json`, blobs, the HTTPS key and
//! certificate, the CLI's exports and QR codes).
//!
//! Owns: the temporary name beside the target, `fsync` of the file before
//! it takes the final name and of the directory after, and the file's
//! access mode from its creation on. Must never: leave half a file under
//! the final name, let a secret be readable by others for any moment, or
//! replace a file when asked to [`create`] one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Who may read the file written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Readable as the user's umask allows (mode 0666 before it).
    Shared,
    /// Readable and writable by its owner only (0600): keys, tokens.
    Owner,
}

/// Writes `bytes` to `path`, replacing what is there: a crash at any point
/// leaves the old file or the new one, never part of either.
pub fn replace(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    let tmp = written_aside(path, bytes, access)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    sync_dir(parent(path))
}

/// Writes `bytes` to a new file at `path`: an error of kind
/// `AlreadyExists` if something is there (nothing is replaced), and a
/// crash leaves no file or the whole one.
pub fn create(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    let tmp = written_aside(path, bytes, access)?;
    // a hard link, unlike a rename, never replaces its target
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked?;
    sync_dir(parent(path))
}

/// fsyncs a directory, so the names created, renamed or removed in it
/// survive a power loss.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all())
}

fn parent(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// The bytes in a synced temporary file beside `path`, under a name no
/// other writer (thread or process) uses at the same time.
fn written_aside(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{} is not a file path", path.display()))
    })?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = parent(path).join(format!(".{}.tmp-{}-{n}", name.to_string_lossy(), std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(match access {
            Access::Shared => 0o666,
            Access::Owner => 0o600,
        });
    }
    let mut f = options.open(&tmp)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_writes_whole_files_and_create_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.json");
        replace(&path, b"one", Access::Shared).unwrap();
        replace(&path, b"two", Access::Shared).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let e = create(&path, b"three", Access::Owner).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let key = dir.path().join("key");
        create(&key, b"secret", Access::Owner).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // no temporary is left behind
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
