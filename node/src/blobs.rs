//! Blobs: photos and documents stored under their SHA-256, beside the
//! records that reference them.
//!
//! Owns: the blob directory (`HOME/blobs/`: `FORMAT` holds `ayni-blobs 1`;
//! each blob is the file `sha256/ab/<64 hex>`, its bytes exactly, so its
//! name verifies it; a transfer in progress is `partial/<64 hex>`), the
//! limits (size, media types sniffed from the bytes — never trusted from
//! a name or a header), what EXIF tells of a photo (when and where it
//! was taken), and which fields of a record take attachments (a set-like
//! collection whose items are the common `attachment` definition) and so
//! which blobs a record references. Must never: keep a blob whose bytes do not hash to its
//! name, execute or render one, or let a half-written file take a blob's
//! name (temporary file, fsync, rename).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The on-disk format of the blob directory.
pub const FORMAT: &str = "ayni-blobs 1";

/// Default largest blob: 25 MB.
pub const DEFAULT_MAX_BYTES: u64 = 25 * 1000 * 1000;

/// Media types taken by default: photos (JPEG, PNG, WebP, HEIC/HEIF) and PDF.
pub const DEFAULT_TYPES: &[&str] = &["image/jpeg", "image/png", "image/webp", "image/heif", "application/pdf"];

/// What a node takes as blobs.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest blob, in bytes.
    pub max_bytes: u64,
    /// Media types taken.
    pub types: Vec<String>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_bytes: DEFAULT_MAX_BYTES, types: DEFAULT_TYPES.iter().map(|t| t.to_string()).collect() }
    }
}

/// A stored blob.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Blob {
    /// SHA-256, lower-case hex.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type, sniffed from the bytes.
    pub mime: String,
}

/// What a photo's EXIF says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exif {
    /// When it was taken, RFC 3339, when the camera recorded its offset.
    pub captured_at: Option<String>,
    /// When it was taken, the camera's local time (`YYYY-MM-DD HH:MM:SS`).
    pub taken_local: Option<String>,
    /// Where: latitude, longitude (WGS 84).
    pub geo: Option<(f64, f64)>,
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The 32 bytes of a hex hash.
pub fn hash_bytes(hash: &str) -> Option<[u8; 32]> {
    if !is_hash(hash) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A hash's hex.
pub fn hash_hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a blob arriving in pieces stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrival {
    /// Bytes up to this offset are kept (durable), more to come.
    Partial(u64),
    /// Whole, verified and stored.
    Complete(Blob),
}

/// Whether `hash` is 64 lower-case hex digits.
pub fn is_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The media type of `bytes`, from their content.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if infer::image::is_heif(bytes) {
        return Some("image/heif");
    }
    infer::get(bytes).map(|t| t.mime_type())
}

/// The blob directory of a node home.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    /// The blobs of the node at `home` (the directory is made on the
    /// first write).
    pub fn of(home: &Path) -> Blobs {
        Blobs { dir: home.join("blobs") }
    }

    fn path(&self, hash: &str) -> PathBuf {
        self.dir.join("sha256").join(&hash[..2]).join(hash)
    }

    /// Where a transfer of `hash` in progress is kept.
    pub fn partial_path(&self, hash: &str) -> PathBuf {
        self.dir.join("partial").join(hash)
    }

    fn check_format(&self) -> Result<()> {
        let format = self.dir.join("FORMAT");
        match std::fs::read_to_string(&format) {
            Ok(f) if f.trim() == FORMAT => Ok(()),
            Ok(f) => Err(Error::Format { path: format, found: f.trim().to_string(), supported: 1 }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
                write_durably(&format, format!("{FORMAT}\n").as_bytes())
            }
            Err(e) => Err(Error::io(format, e)),
        }
    }

    /// Whether the blob is here.
    pub fn has(&self, hash: &str) -> bool {
        is_hash(hash) && self.path(hash).is_file()
    }

    /// Checks `bytes` against `limits` (and against `hash`, if given)
    /// without storing them.
    pub fn judge(bytes: &[u8], hash: Option<&str>, limits: &Limits, what: &str) -> Result<Blob> {
        if bytes.len() as u64 > limits.max_bytes {
            return Err(Error::TooLarge { what: what.into(), size: bytes.len() as u64, limit: limits.max_bytes });
        }
        let actual = sha256(bytes);
        if let Some(h) = hash {
            if !is_hash(h) {
                return Err(Error::malformed("blob", format!("'{h}' is not a SHA-256 (64 lower-case hex digits)")));
            }
            if h != actual {
                return Err(Error::Invalid {
                    kind: "blob".into(),
                    path: h.into(),
                    reason: format!("the bytes hash to {actual}: refused whole"),
                });
            }
        }
        let mime = sniff(bytes).unwrap_or("application/octet-stream");
        if !limits.types.iter().any(|t| t == mime) {
            return Err(Error::MediaType { what: what.into(), found: mime.into(), allowed: limits.types.clone() });
        }
        Ok(Blob { hash: actual, size: bytes.len() as u64, mime: mime.into() })
    }

    /// Stores `bytes` (checked as [`Blobs::judge`] does); returns the blob
    /// and whether it is new here. Durable when it returns.
    pub fn put(&self, bytes: &[u8], hash: Option<&str>, limits: &Limits, what: &str) -> Result<(Blob, bool)> {
        let blob = Blobs::judge(bytes, hash, limits, what)?;
        if self.has(&blob.hash) && self.get(&blob.hash).is_ok() {
            return Ok((blob, false));
        }
        // absent, or damaged on disk: (re)written from these verified bytes
        self.check_format()?;
        let path = self.path(&blob.hash);
        let parent = path.parent().ok_or_else(|| Error::Internal("blob path".into()))?;
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        write_durably(&path, bytes)?;
        Ok((blob, true))
    }

    /// The blob's bytes, verified.
    pub fn get(&self, hash: &str) -> Result<Vec<u8>> {
        if !is_hash(hash) {
            return Err(Error::malformed("blob", format!("'{hash}' is not a SHA-256 (64 lower-case hex digits)")));
        }
        let path = self.path(hash);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound(format!("blob {hash}"))),
            Err(e) => return Err(Error::io(path, e)),
        };
        if sha256(&bytes) != hash {
            return Err(Error::Damaged {
                id: format!("blob {hash}"),
                reason: "its bytes no longer hash to its name".into(),
            });
        }
        Ok(bytes)
    }

    /// How many bytes of `hash` an interrupted transfer left here.
    pub fn partial_len(&self, hash: &str) -> u64 {
        std::fs::metadata(self.partial_path(hash)).map(|m| m.len()).unwrap_or(0)
    }

    /// Appends a piece of blob `hash` (`total` bytes in all) arriving at
    /// `offset`, durably. A piece that does not continue what is here
    /// restarts the transfer from 0 when it starts there and is refused
    /// otherwise; when the last piece arrives, the whole is verified
    /// against `hash` and `limits` and stored — or refused whole and
    /// dropped.
    pub fn append(&self, hash: &str, offset: u64, total: u64, piece: &[u8], limits: &Limits) -> Result<Arrival> {
        if !is_hash(hash) {
            return Err(Error::malformed("blob", format!("'{hash}' is not a SHA-256")));
        }
        if self.has(hash) {
            return Ok(Arrival::Complete(Blobs::judge(&self.get(hash)?, Some(hash), limits, "a blob")?));
        }
        if total > limits.max_bytes {
            return Err(Error::TooLarge { what: format!("blob {hash}"), size: total, limit: limits.max_bytes });
        }
        let end = offset.checked_add(piece.len() as u64).filter(|e| *e <= total);
        let Some(end) = end else {
            return Err(Error::malformed("blob", format!("blob {hash}: a piece beyond its {total} bytes")));
        };
        self.check_format()?;
        let path = self.partial_path(hash);
        let dir = path.parent().ok_or_else(|| Error::Internal("partial path".into()))?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let have = self.partial_len(hash);
        let mut f = match (offset, offset == have) {
            (_, true) => std::fs::OpenOptions::new().create(true).append(true).open(&path),
            (0, false) => std::fs::File::create(&path), // start again
            (_, false) => {
                return Err(Error::malformed(
                    "blob",
                    format!("blob {hash}: a piece at {offset}, but {have} bytes are here"),
                ))
            }
        }
        .map_err(|e| Error::io(&path, e))?;
        f.write_all(piece).and_then(|()| f.sync_data()).map_err(|e| Error::io(&path, e))?;
        if end < total {
            return Ok(Arrival::Partial(end));
        }
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let _ = std::fs::remove_file(&path);
        let (blob, _) = self.put(&bytes, Some(hash), limits, &format!("blob {hash}"))?;
        Ok(Arrival::Complete(blob))
    }

    /// Up to `len` bytes of blob `hash` from `offset`, and its size; `None`
    /// when it is not here, or (checked when a transfer starts) no longer
    /// hashes to its name: a damaged copy is never sent.
    pub fn read_at(&self, hash: &str, offset: u64, len: usize) -> Result<Option<(Vec<u8>, u64)>> {
        use std::io::{Read, Seek, SeekFrom};
        if !self.has(hash) {
            return Ok(None);
        }
        if offset == 0 && self.get(hash).is_err() {
            return Ok(None);
        }
        let path = self.path(hash);
        let mut f = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let total = f.metadata().map_err(|e| Error::io(&path, e))?.len();
        let mut buf = vec![0; len.min(total.saturating_sub(offset) as usize)];
        f.seek(SeekFrom::Start(offset.min(total)))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(|e| Error::io(&path, e))?;
        Ok(Some((buf, total)))
    }

    /// Removes a blob (one just stored for a write that then failed).
    pub fn remove(&self, hash: &str) -> Result<()> {
        let path = self.path(hash);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
            _ => Ok(()),
        }
    }

    /// The full hash of the one blob here whose hash starts with `prefix`
    /// (at least 8 hex digits, as `ayni blob list` shows them), or the hash
    /// itself when whole.
    pub fn resolve(&self, prefix: &str) -> Result<String> {
        if is_hash(prefix) {
            return Ok(prefix.to_string());
        }
        if prefix.len() < 8 || !prefix.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(Error::malformed(
                "blob",
                format!("'{prefix}' is not a SHA-256 or its first 8 or more hex digits (lower case)"),
            ));
        }
        let shard = self.dir.join("sha256").join(&prefix[..2]);
        let mut found: Vec<String> = match std::fs::read_dir(&shard) {
            Ok(files) => files
                .filter_map(|f| f.ok().map(|f| f.file_name().to_string_lossy().to_string()))
                .filter(|n| is_hash(n) && n.starts_with(prefix))
                .collect(),
            Err(_) => vec![],
        };
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::NotFound(format!("blob {prefix}…"))),
            _ => Err(Error::malformed(
                "blob",
                format!("'{prefix}' starts {} blobs' hashes: give more digits", found.len()),
            )),
        }
    }

    /// Every blob here, with its size and media type (read from its first
    /// bytes), by hash.
    pub fn list(&self) -> Result<Vec<Blob>> {
        let mut out = vec![];
        let root = self.dir.join("sha256");
        let Ok(shards) = std::fs::read_dir(&root) else { return Ok(out) };
        for shard in shards {
            let shard = shard.map_err(|e| Error::io(&root, e))?;
            let Ok(files) = std::fs::read_dir(shard.path()) else { continue };
            for f in files {
                let f = f.map_err(|e| Error::io(shard.path(), e))?;
                let name = f.file_name().to_string_lossy().to_string();
                if !is_hash(&name) {
                    continue; // a temporary file of an interrupted write
                }
                let size = f.metadata().map_err(|e| Error::io(f.path(), e))?.len();
                let mut head = vec![0; 64];
                let n = std::fs::File::open(f.path())
                    .and_then(|mut file| std::io::Read::read(&mut file, &mut head))
                    .map_err(|e| Error::io(f.path(), e))?;
                let mime = sniff(&head[..n]).unwrap_or("application/octet-stream").to_string();
                out.push(Blob { hash: name, size, mime });
            }
        }
        out.sort_by(|a, b| a.hash.cmp(&b.hash));
        Ok(out)
    }

    /// Reads every blob back and names those whose bytes no longer hash to
    /// their name.
    pub fn verify(&self) -> Result<(usize, Vec<String>)> {
        let mut damaged = vec![];
        let all = self.list()?;
        for b in &all {
            match self.get(&b.hash) {
                Ok(_) => {}
                Err(Error::Damaged { .. }) => damaged.push(b.hash.clone()),
                Err(e) => return Err(e),
            }
        }
        Ok((all.len(), damaged))
    }
}

/// Writes `bytes` to `path` whole or not at all.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::atomic_file::replace(path, bytes, crate::atomic_file::Access::Shared).map_err(|e| Error::io(path, e))
}

/// What a photo's EXIF says of when and where it was taken (nothing for
/// a file without EXIF).
pub fn exif(bytes: &[u8]) -> Exif {
    use exif::{In, Tag, Value};
    let Ok(data) = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(bytes)) else {
        return Exif::default();
    };
    let ascii = |tag: Tag| match data.get_field(tag, In::PRIMARY).map(|f| &f.value) {
        Some(Value::Ascii(v)) => v.first().map(|s| String::from_utf8_lossy(s).trim().to_string()),
        _ => None,
    };
    let taken_local = ascii(Tag::DateTimeOriginal).or_else(|| ascii(Tag::DateTime)).and_then(|t| {
        // "2024:05:01 10:20:30"
        let (d, time) = t.split_once(' ')?;
        let ascii = d.is_ascii() && time.is_ascii();
        (ascii && d.len() == 10 && time.len() >= 8).then(|| format!("{} {}", d.replace(':', "-"), &time[..8]))
    });
    let captured_at = match (&taken_local, ascii(Tag::OffsetTimeOriginal)) {
        (Some(local), Some(offset)) if offset.len() == 6 => Some(format!("{}{offset}", local.replace(' ', "T"))),
        _ => None,
    };
    let coord = |tag: Tag, reference: Tag, negative: &str| -> Option<f64> {
        let Value::Rational(parts) = &data.get_field(tag, In::PRIMARY)?.value else { return None };
        let v: f64 = parts.iter().zip([1.0, 60.0, 3600.0]).map(|(r, d)| r.to_f64() / d).sum();
        let sign = if ascii(reference).is_some_and(|r| r.eq_ignore_ascii_case(negative)) { -1.0 } else { 1.0 };
        // 7 decimals: about a centimetre, and no binary fractions shown
        v.is_finite().then_some(sign * (v * 1e7).round() / 1e7)
    };
    let geo = match (
        coord(Tag::GPSLatitude, Tag::GPSLatitudeRef, "S"),
        coord(Tag::GPSLongitude, Tag::GPSLongitudeRef, "W"),
    ) {
        (Some(lat), Some(lon)) if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) => Some((lat, lon)),
        _ => None,
    };
    Exif { captured_at, taken_local, geo }
}

/// The fields of `kind` that take attachments.
pub fn attachment_fields(kind: &str) -> Result<Vec<String>> {
    let schemas = crate::schema::schemas()?;
    schemas.kind(kind)?;
    let Some(props) = schemas.document(kind).and_then(|d| d.get("properties")).and_then(Value::as_object) else {
        return Ok(vec![]);
    };
    Ok(props
        .iter()
        .filter(|(_, p)| {
            p.get("x-merge").and_then(Value::as_str) == Some("set")
                && p.pointer("/additionalProperties/$ref")
                    .and_then(Value::as_str)
                    .is_some_and(|r| r.ends_with("#/$defs/attachment"))
        })
        .map(|(name, _)| name.clone())
        .collect())
}

/// The blobs a record's attachment collections reference (a deleted record
/// references none): what the store's blob index keeps of it.
pub(crate) fn referenced(kind: &str, fields: &Value, deleted: bool) -> Result<Vec<[u8; 32]>> {
    if deleted {
        return Ok(vec![]);
    }
    let mut out = vec![];
    for f in attachment_fields(kind)? {
        let entries = fields.get(&f).and_then(Value::as_object);
        out.extend(entries.into_iter().flat_map(|m| m.keys()).filter_map(|h| hash_bytes(h)));
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The smallest PNG header `infer` recognises (tests of blobs and attachments).
    pub(crate) const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

    #[test]
    fn a_blob_is_stored_under_its_hash_and_refused_when_it_does_not_match() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::of(dir.path());
        let limits = Limits::default();
        let (b, new) = blobs.put(PNG, None, &limits, "photo").unwrap();
        assert!(new && b.mime == "image/png" && b.size == PNG.len() as u64);
        assert_eq!(blobs.get(&b.hash).unwrap(), PNG);
        assert!(!blobs.put(PNG, Some(&b.hash), &limits, "photo").unwrap().1, "idempotent");
        let wrong = "0".repeat(64);
        assert!(matches!(blobs.put(PNG, Some(&wrong), &limits, "photo"), Err(Error::Invalid { .. })));
        assert!(!blobs.has(&wrong));
        assert!(matches!(blobs.put(b"#!/bin/sh\necho hi\n", None, &limits, "x"), Err(Error::MediaType { .. })));
        let small = Limits { max_bytes: 10, ..Limits::default() };
        assert!(matches!(blobs.put(PNG, None, &small, "photo"), Err(Error::TooLarge { .. })));
        assert_eq!(blobs.list().unwrap(), vec![b.clone()]);
        // a blob whose bytes changed on disk is damaged, and check says so
        std::fs::write(blobs.path(&b.hash), b"tampered").unwrap();
        assert!(matches!(blobs.get(&b.hash), Err(Error::Damaged { .. })));
        assert_eq!(blobs.verify().unwrap(), (1, vec![b.hash.clone()]));
        assert_eq!(blobs.read_at(&b.hash, 0, 10).unwrap(), None, "a damaged copy is never sent");
        // the right bytes again repair it
        assert!(blobs.put(PNG, Some(&b.hash), &limits, "photo").unwrap().1);
        assert_eq!(blobs.get(&b.hash).unwrap(), PNG);
        assert_eq!(std::fs::read_to_string(dir.path().join("blobs/FORMAT")).unwrap(), "ayni-blobs 1\n");
    }
}
