//! The node's key files on disk: `node.key` and, on a network's founder,
//! `network.key` (the bytes: [`SecretKey::file_bytes`]).
//!
//! Owns: reading them and writing them once. Must never: replace a key
//! file that exists, or let one be readable by others for any moment
//! (written mode 0600 from its creation, whole or not at all).

use std::path::Path;

use crate::atomic_file::{self, Access};
use crate::error::{Error, Result};
use crate::identity::SecretKey;

/// Writes `key` to a new key file at `path`, refusing to overwrite one.
pub fn write_new(key: &SecretKey, path: &Path) -> Result<()> {
    atomic_file::create(path, &key.file_bytes(), Access::Owner).map_err(|e| Error::io(path, e))
}

/// Reads the key file at `path`.
pub fn read(path: &Path) -> Result<SecretKey> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    SecretKey::from_file_bytes(&bytes, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trips_and_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let key = SecretKey::generate().unwrap();
        write_new(&key, &path).unwrap();
        assert!(write_new(&key, &path).is_err());
        let back = read(&path).unwrap();
        assert_eq!(back.public(), key.public());
    }
}
