//! Files the CLI reads and writes on the user's behalf, in the directory
//! the command was typed in (a command through a serving node carries it).
//!
//! Owns: bounded reads of input files, atomic writes (temporary file, sync,
//! rename), the checks that make a write refusable before anything changes
//! (not a directory, a directory that exists, never inside the node's home).
//! Must never: leave a half-written file under the final name, or read an
//! input past its limit.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ayni_node::Node;

use crate::usage;

/// Writes `bytes` to `path` (relative to `cwd`) via a temporary file and a
/// rename, durably: a crash leaves the old file or the new one, never half
/// of one. Messages name `path` as it was given.
pub(crate) fn write_file_atomically(path: &Path, cwd: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, cwd, bytes, 0o666)
}

/// Like [`write_file_atomically`], readable by its owner only (a file that
/// carries a secret: the QR code of a client token).
pub(crate) fn write_private_file_atomically(path: &Path, cwd: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, cwd, bytes, 0o600)
}

fn write_atomically(path: &Path, cwd: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path;
    let path = &cwd.join(path);
    let name = path.file_name().ok_or_else(|| usage(format!("{} is not a file path", path.display())))?;
    if path.is_dir() {
        return Err(usage(format!("cannot write {}: it is a directory", shown.display())));
    }
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| usage(format!("cannot write {}: {e}", shown.display())))?;
    let written = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("writing {}", shown.display()));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Largest file `import` and `bundle import` read.
pub(crate) const MAX_INPUT_BYTES: u64 = 1024 * 1024 * 1024;

/// Reads a whole input file of at most `limit` bytes: a directory, a
/// device that never ends (`/dev/zero`) or a file over the limit is an
/// error naming the file, never a hang or an exhausted memory.
pub(crate) fn read_limited(path: &Path, cwd: &Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let cannot = |e: std::io::Error| usage(format!("cannot read {}: {e}", path.display()));
    let file = std::fs::File::open(cwd.join(path)).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    let kind = meta.file_type();
    if kind.is_dir() {
        return Err(usage(format!("cannot read {}: it is a directory", path.display())));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() || kind.is_block_device() || kind.is_socket() {
            return Err(usage(format!("cannot read {}: it is a device, not a file", path.display())));
        }
    }
    if meta.len() > limit {
        return Err(usage(format!("{} is larger than the limit of {} MiB", path.display(), limit >> 20)));
    }
    let mut bytes = vec![];
    file.take(limit + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() as u64 > limit {
        return Err(usage(format!("{} is larger than the limit of {} MiB", path.display(), limit >> 20)));
    }
    Ok(bytes)
}

pub(crate) fn read_input(path: &Path, cwd: &Path, limit: u64) -> Result<String> {
    let bytes = read_limited(path, cwd, limit)?;
    String::from_utf8(bytes).map_err(|e| usage(format!("{} is not UTF-8 text: {e}", path.display())))
}

/// Refuses an output file inside the node's home, where it could replace
/// the node's key or store (`--home h bundle export h/store/db`).
/// Refuses (bad usage) a path that [`write_file_atomically`] could not
/// write: a directory, or one in a directory that does not exist.
pub(crate) fn writable_target(path: &Path, cwd: &Path) -> Result<()> {
    let full = cwd.join(path);
    let parent = full.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if full.is_dir() {
        return Err(usage(format!("cannot write {}: it is a directory", path.display())));
    }
    if !parent.is_dir() {
        return Err(usage(format!("cannot write {}: no directory {}", path.display(), parent.display())));
    }
    Ok(())
}

pub(crate) fn outside_home(node: &Node, path: &Path, cwd: &Path) -> Result<()> {
    let shown = path;
    let path = &cwd.join(path);
    let abs = |p: &Path| std::path::absolute(p).map(|a| a.components().collect::<PathBuf>());
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let (Ok(home), Ok(dir)) = (node.home().canonicalize(), parent.canonicalize()) else {
        return Ok(()); // a missing directory is reported by the write itself
    };
    if dir.starts_with(&home) || abs(path).is_ok_and(|p| p.starts_with(&home)) {
        return Err(usage(format!(
            "refusing to write {} inside the node's home {}: choose a path elsewhere",
            shown.display(),
            home.display()
        )));
    }
    Ok(())
}
