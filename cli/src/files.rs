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
use ayni_node::atomic_file::{self, Access};
use ayni_node::NodeHandle as Node;

use crate::usage;

/// Writes `bytes` to `path` (relative to `cwd`) via a temporary file and a
/// rename, durably: a crash leaves the old file or the new one, never half
/// of one. Messages name `path` as it was given.
pub(crate) fn write_file_atomically(path: &Path, cwd: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, cwd, bytes, Access::Shared)
}

/// Like [`write_file_atomically`], readable by its owner only (a file that
/// carries a secret: the QR code of a client token).
pub(crate) fn write_private_file_atomically(path: &Path, cwd: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, cwd, bytes, Access::Owner)
}

fn write_atomically(path: &Path, cwd: &Path, bytes: &[u8], access: Access) -> Result<()> {
    let shown = path;
    let path = &cwd.join(path);
    if path.file_name().is_none() {
        return Err(usage(format!("{} is not a file path", shown.display())));
    }
    if path.is_dir() {
        return Err(usage(format!("cannot write {}: it is a directory", shown.display())));
    }
    atomic_file::replace(path, bytes, access).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            usage(format!("cannot write {}: {e}", shown.display()))
        }
        _ => anyhow::Error::new(e).context(format!("writing {}", shown.display())),
    })
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

/// What marks a directory as one `ayni catalogue publish` wrote (and may
/// replace).
pub(crate) const SITE_MARK: &str = ".ayni-site";

/// Writes a static site into `dir` (relative to `cwd`) whole or not at
/// all: every file goes into a sibling temporary directory, synced, which
/// then takes `dir`'s name. A `dir` that exists is replaced only if an
/// earlier publish made it (it holds [`SITE_MARK`]); anything else there
/// is refused, never overwritten.
pub(crate) fn write_dir_atomically(dir: &Path, cwd: &Path, files: &[(String, String)]) -> Result<()> {
    let shown = dir;
    let dir = &cwd.join(dir);
    let name = dir.file_name().ok_or_else(|| usage(format!("{} is not a directory path", shown.display())))?;
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(usage(format!("cannot write {}: no directory {}", shown.display(), parent.display())));
    }
    let replacing = dir.exists();
    if replacing && !dir.join(SITE_MARK).is_file() {
        return Err(usage(format!(
            "{} exists and was not written by `ayni catalogue publish`: choose a new directory",
            shown.display()
        )));
    }
    let tmp = parent.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let written = (|| -> Result<()> {
        for (path, text) in files.iter().map(|(p, t)| (p.as_str(), t.as_str())).chain([(SITE_MARK, "ayni site\n")]) {
            let full = tmp.join(path);
            if let Some(p) = full.parent() {
                std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
            }
            atomic_file::create(&full, text.as_bytes(), Access::Shared)
                .with_context(|| format!("writing {}", full.display()))?;
        }
        let old = parent.join(format!(".{}.old-{}", name.to_string_lossy(), std::process::id()));
        if replacing {
            std::fs::rename(dir, &old).with_context(|| format!("moving the old {} aside", shown.display()))?;
        }
        if let Err(e) = std::fs::rename(&tmp, dir) {
            if replacing {
                let _ = std::fs::rename(&old, dir); // the old site stays where it was
            }
            return Err(e).with_context(|| format!("writing {}", shown.display()));
        }
        if replacing {
            let _ = std::fs::remove_dir_all(&old);
        }
        atomic_file::sync_dir(parent).with_context(|| format!("syncing {}", parent.display()))?;
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}
