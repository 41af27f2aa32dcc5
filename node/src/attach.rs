//! Attaching a file to a record: the blob stored under its hash, then an
//! entry referencing it added to one of the record's attachment
//! collections (a set keyed by hash: the same photo twice is one entry).
//!
//! Owns: the entry written (hash, size, media type, file name, caption,
//! author, EXIF time and place), and finding which records reference which
//! blobs through the store's blob index.
//! Must never: write the entry before its blob is durable, or leave a
//! blob it added when the record write is refused.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::blobs::{self, Blob, Blobs, Limits};
use crate::error::{Error, Result};
use crate::node::{Node, Reader, Record};

/// The outcome of [`Node::attach`].
#[derive(Debug, Clone, Serialize)]
pub struct Attached {
    /// The blob.
    pub blob: Blob,
    /// Whether the blob was new here.
    pub new_blob: bool,
    /// The entry's path in the record (`attachments.<hash>`).
    pub path: String,
    /// The record after the write.
    pub record: Record,
}

impl Node {
    /// Builds the store's blob index from every record's view when it was
    /// built for other attachment fields than this node's schemas have (or
    /// never, in a store written before it); a no-op otherwise.
    pub(crate) fn complete_blob_index(&self) -> Result<()> {
        let mut built_for = String::new();
        for kind in crate::schema::KINDS {
            for f in blobs::attachment_fields(kind)? {
                built_for.push_str(&format!("{kind}.{f}\n"));
            }
        }
        if self.store().blob_index_built_for()?.as_deref() == Some(built_for.as_bytes()) {
            return Ok(());
        }
        let mut refs = vec![];
        for kind in crate::schema::KINDS {
            if blobs::attachment_fields(kind)?.is_empty() {
                continue;
            }
            for item in self.store().views_of_kind_iter(kind) {
                // a damaged view is left to `check`/repair, whose rewrite
                // of the record indexes it like any write
                let (id, bytes) = match item {
                    Ok(item) => item,
                    Err(Error::Damaged { .. }) => continue,
                    Err(e) => return Err(e),
                };
                if let Ok(r) = serde_json::from_slice::<Record>(&bytes) {
                    refs.push((id, blobs::referenced(&r.kind, &r.fields, r.deleted)?));
                }
            }
        }
        self.writer().complete_blob_index(&refs, built_for.as_bytes())
    }
}

/// A blob and who references it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// The blob.
    #[serde(flatten)]
    pub blob: Blob,
    /// The records that reference it (none: unreferenced).
    pub references: Vec<Reference>,
}

/// A record's reference to a blob.
#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    /// The record's kind.
    pub kind: String,
    /// Its key.
    pub key: String,
    /// The field holding the entry.
    pub field: String,
}

/// What a file brings with it besides its bytes.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The file's name.
    pub name: Option<String>,
    /// A caption.
    pub caption: Option<String>,
}

impl Reader {
    /// The node's blobs.
    pub fn blobs(&self) -> Blobs {
        Blobs::of(self.home())
    }

    /// Every live record's attachment references: `(hash, record, field)`.
    /// Only the records the store's blob index names are read.
    pub(crate) fn attachment_references(&self, mut each: impl FnMut(&str, &Record, &str)) -> Result<()> {
        for (id, _) in self.store().blob_references()? {
            let Some(view) = self.store().view(&id)? else { continue };
            let r: Record = serde_json::from_slice(&view)
                .map_err(|e| Error::Damaged { id: id.to_string(), reason: format!("view: {e}") })?;
            if r.deleted {
                continue;
            }
            let r = self.shown(r);
            for f in blobs::attachment_fields(&r.kind)? {
                for hash in r.fields.get(&f).and_then(Value::as_object).into_iter().flat_map(|m| m.keys()) {
                    each(hash, &r, &f);
                }
            }
        }
        Ok(())
    }

    /// The records that reference blob `hash`, as `(record, field)`.
    pub fn blob_references(&self, hash: &str) -> Result<Vec<(Record, String)>> {
        let mut out = vec![];
        self.attachment_references(|h, r, f| {
            if h == hash {
                out.push((r.clone(), f.to_string()));
            }
        })?;
        Ok(out)
    }

    /// Every blob referenced by a record that this node does not hold,
    /// from the store's blob index: a sync asks at every session, and pays
    /// for the records that have attachments, not for every record.
    pub fn missing_blobs(&self) -> Result<Vec<String>> {
        let blobs = self.blobs();
        let mut missing = std::collections::BTreeSet::new();
        for (_, hashes) in self.store().blob_references()? {
            missing.extend(hashes.iter().map(blobs::hash_hex).filter(|h| !blobs.has(h)));
        }
        Ok(missing.into_iter().collect())
    }

    /// What a sync asks a peer for: each missing blob with the bytes of it
    /// already here from an interrupted transfer.
    pub fn blob_wants(&self) -> Result<Vec<([u8; 32], u64)>> {
        let blobs = self.blobs();
        Ok(self.missing_blobs()?.iter().filter_map(|h| Some((blobs::hash_bytes(h)?, blobs.partial_len(h)))).collect())
    }

    /// Every blob here with the records that reference it.
    pub fn blob_listing(&self) -> Result<Vec<Listed>> {
        let mut by_hash: std::collections::BTreeMap<String, Vec<Reference>> = Default::default();
        self.attachment_references(|h, r, f| {
            by_hash.entry(h.to_string()).or_default().push(Reference {
                kind: r.kind.clone(),
                key: r.key.clone(),
                field: f.into(),
            })
        })?;
        Ok(self
            .blobs()
            .list()?
            .into_iter()
            .map(|blob| Listed { references: by_hash.remove(&blob.hash).unwrap_or_default(), blob })
            .collect())
    }
}

/// The attachment entry for `blob` (its `bytes`): hash, type and size, who
/// attached it, its name and caption, and when and where the photo was
/// taken as its EXIF says.
pub(crate) fn attachment_entry(blob: &blobs::Blob, bytes: &[u8], meta: &Meta, author: &str) -> Map<String, Value> {
    let mut entry = Map::new();
    entry.insert("hash".into(), json!(blob.hash));
    entry.insert("mime".into(), json!(blob.mime));
    entry.insert("size".into(), json!(blob.size));
    entry.insert("author".into(), json!(author));
    if let Some(n) = &meta.name {
        entry.insert("name".into(), json!(n.chars().take(255).collect::<String>()));
    }
    if let Some(c) = &meta.caption {
        entry.insert("caption".into(), json!(c));
    }
    let exif = blobs::exif(bytes);
    if let Some(t) = exif.captured_at {
        entry.insert("captured_at".into(), json!(t));
    }
    if let Some(t) = exif.taken_local {
        entry.insert("taken_local".into(), json!(t));
    }
    if let Some((lat, lon)) = exif.geo {
        entry.insert("geo".into(), json!({"lat": lat, "lon": lon, "captured_by": "gps"}));
    }
    entry
}

impl Node {
    /// Stores `bytes` as a blob and adds an entry for it to `field` of
    /// the record `reference` names. The write is judged like any other
    /// (schema, role, frozen fields); if it is refused, a blob this call
    /// added is removed again.
    pub fn attach(&self, reference: &str, field: &str, bytes: &[u8], meta: &Meta, limits: &Limits) -> Result<Attached> {
        let rec = self.get(reference)?;
        let fields = blobs::attachment_fields(&rec.kind)?;
        if !fields.iter().any(|f| f == field) {
            let takes = if fields.is_empty() { "none".to_string() } else { fields.join(", ") };
            return Err(Error::Invalid {
                kind: rec.kind.clone(),
                path: field.into(),
                reason: format!("not a field that takes attachments (a {} takes: {takes})", rec.kind),
            });
        }
        let what = meta.name.clone().unwrap_or_else(|| "the file".into());
        let (blob, new_blob) = self.blobs().put(bytes, None, limits, &what)?;
        let entry = attachment_entry(&blob, bytes, meta, &self.info().name);
        let path = format!("{field}.{}", blob.hash);
        match self.set(&rec.id, &[(path.clone(), Value::Object(entry))]) {
            Ok(record) => Ok(Attached { blob, new_blob, path, record }),
            Err(e) => {
                // unless a record took it meanwhile (another upload of the same photo)
                if new_blob && self.blob_references(&blob.hash).map(|r| r.is_empty()).unwrap_or(false) {
                    let _ = self.blobs().remove(&blob.hash);
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::tests::PNG;

    #[test]
    fn the_missing_blobs_follow_the_records_as_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::init(&dir.path().join("n"), "n").unwrap();
        node.seed().unwrap();
        let a = node.attach("edan:edan-sama-1", "attachments", PNG, &Meta::default(), &Limits::default()).unwrap();
        assert!(node.missing_blobs().unwrap().is_empty());
        node.blobs().remove(&a.blob.hash).unwrap();
        assert_eq!(node.missing_blobs().unwrap(), vec![a.blob.hash.clone()], "the index is built once");
        // a record that stops referencing it: read again from the feed
        node.set("edan:edan-sama-1", &[("attachments".into(), serde_json::json!({}))]).unwrap();
        assert!(node.missing_blobs().unwrap().is_empty());
        node.set("edan:edan-sama-1", &[(a.path.clone(), serde_json::json!({"hash": a.blob.hash}))]).unwrap();
        assert_eq!(node.missing_blobs().unwrap(), vec![a.blob.hash.clone()]);
        node.delete("edan:edan-sama-1").unwrap();
        assert!(node.missing_blobs().unwrap().is_empty(), "a deleted record references nothing");
    }
}
