//! Signatures as they travel beside a document frame.
//!
//! Owns: matching signatures to the changes a `DocFull` or `DocSync` frame
//! carries. Must never: pair a signature with a change by position without
//! both sides agreeing on the changes and their order.
//!
//! Protocol version 1 (and bundle format 1) sends each signature with the
//! hash of its change (`Sigs`: 96 bytes a change). The receiver can compute
//! every hash itself from the changes that follow, so version 2 (and bundle
//! format 2) sends only the signatures (`SigsOrdered`: 64 bytes a change),
//! one for each change of the next document frame of that document, in
//! ascending order of change hash; 64 zero bytes stand for "no signature
//! known" (the receiver then treats the change as unsigned, and refuses it).

use std::collections::HashMap;

use automerge::{Automerge, Change, ChangeHash};

use crate::id::DocumentId;
use crate::sync::wire::Frame;

/// The signatures received with a stream of frames (a sync session, a
/// bundle, one document's bytes), by change hash, whichever version sent
/// them.
#[derive(Debug, Default)]
pub struct Collector {
    by_hash: HashMap<[u8; 32], [u8; 64]>,
    /// Version 2 signatures waiting for their document's next frame.
    waiting: HashMap<DocumentId, Vec<[u8; 64]>>,
}

impl Collector {
    /// Takes a signatures frame (`Sigs` or `SigsOrdered`); any other frame
    /// is handed back.
    pub fn take(&mut self, frame: Frame) -> Option<Frame> {
        match frame {
            Frame::Sigs(_, list) => self.by_hash.extend(list),
            Frame::SigsOrdered(id, list) => {
                self.waiting.insert(id, list);
            }
            other => return Some(other),
        }
        None
    }

    /// A document frame of `id` arrived carrying the changes `hashes`
    /// computes: the version 2 signatures waiting for it are paired with
    /// them (`hashes` is only called when some are waiting).
    pub fn arrived(
        &mut self,
        id: &DocumentId,
        hashes: impl FnOnce() -> Result<Vec<ChangeHash>, String>,
    ) -> Result<(), String> {
        if let Some(list) = self.waiting.remove(id) {
            self.by_hash.extend(pair(hashes()?, list)?);
        }
        Ok(())
    }

    /// A document frame of `id` arrived and is ignored: so are the
    /// signatures waiting for it.
    pub fn skipped(&mut self, id: &DocumentId) {
        self.waiting.remove(id);
    }

    /// Every signature received so far, by change hash.
    pub fn by_hash(&self) -> &HashMap<[u8; 32], [u8; 64]> {
        &self.by_hash
    }
}

/// A whole document as it travels (bundles, one document's bytes, a
/// sync's `DocFull`): its signatures, then every change as concatenated
/// change chunks (they compress far better across documents than columnar
/// snapshots do).
pub struct WholeDocument {
    /// The `Sigs` (version 1) or `SigsOrdered` (version 2) frame.
    pub sigs: Frame,
    /// The `DocFull` frame.
    pub doc: Frame,
    /// How many changes it carries.
    pub changes: usize,
    /// How many bytes of changes.
    pub bytes: usize,
}

impl WholeDocument {
    /// `doc` as document `id`; `signatures` gives the stored signatures of
    /// some change hashes.
    pub fn new<E>(
        id: DocumentId,
        doc: &Automerge,
        version: u16,
        signatures: impl FnOnce(&[ChangeHash]) -> Result<Vec<([u8; 32], [u8; 64])>, E>,
    ) -> Result<WholeDocument, E> {
        let changes = doc.get_changes(&[]);
        let mut raw = Vec::with_capacity(changes.iter().map(|c| c.raw_bytes().len()).sum());
        for c in &changes {
            raw.extend_from_slice(c.raw_bytes());
        }
        let hashes: Vec<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
        let known = signatures(&hashes)?;
        let sigs = if version >= 2 { Frame::SigsOrdered(id, ordered(hashes, &known)) } else { Frame::Sigs(id, known) };
        Ok(WholeDocument { sigs, changes: changes.len(), bytes: raw.len(), doc: Frame::DocFull(id, raw) })
    }
}

/// 64 zero bytes: the sender holds no signature for that change.
pub const NONE: [u8; 64] = [0; 64];

/// The signatures of `hashes`, from `known`, in the order version 2 sends
/// them: ascending change hash, [`NONE`] where unknown.
pub fn ordered(mut hashes: Vec<ChangeHash>, known: &[([u8; 32], [u8; 64])]) -> Vec<[u8; 64]> {
    let known: HashMap<&[u8; 32], &[u8; 64]> = known.iter().map(|(h, s)| (h, s)).collect();
    hashes.sort_unstable();
    hashes.iter().map(|h| known.get(&h.0).map_or(NONE, |s| **s)).collect()
}

/// Pairs signatures received in version 2 order with the changes they
/// sign; signatures marked [`NONE`] are left out. A count that does not
/// match the changes is the peer's error.
pub fn pair(mut hashes: Vec<ChangeHash>, sigs: Vec<[u8; 64]>) -> Result<Vec<([u8; 32], [u8; 64])>, String> {
    if hashes.len() != sigs.len() {
        return Err(format!("{} signatures for {} changes", sigs.len(), hashes.len()));
    }
    hashes.sort_unstable();
    Ok(hashes.into_iter().zip(sigs).filter(|(_, s)| *s != NONE).map(|(h, s)| (h.0, s)).collect())
}

/// The hashes of every change in a whole document.
pub fn document_hashes(doc: &Automerge) -> Vec<ChangeHash> {
    doc.get_changes_meta(&[]).iter().map(|m| m.hash).collect()
}

/// The hashes of the changes in the chunks of an automerge sync message.
/// Each item holds one or more concatenated chunks (automerge's V2
/// messages put every change in one item); a chunk is a change (type 1, or
/// 2 compressed) or a whole document (type 0) standing for all of its
/// changes.
pub fn chunk_hashes<'a>(items: impl Iterator<Item = &'a [u8]>) -> Result<Vec<ChangeHash>, String> {
    let mut out = vec![];
    for item in items {
        let mut rest = item;
        while !rest.is_empty() {
            let (kind, chunk) = split_chunk(rest)?;
            rest = &rest[chunk.len()..];
            match kind {
                0 => {
                    let doc = Automerge::load(chunk).map_err(|e| format!("bad document chunk: {e}"))?;
                    out.extend(document_hashes(&doc));
                }
                1 | 2 => out.push(Change::try_from(chunk).map_err(|e| format!("bad change chunk: {e}"))?.hash()),
                k => return Err(format!("a chunk of unknown type {k} in a sync message")),
            }
        }
    }
    Ok(out)
}

/// The first chunk of `bytes` and its type, from automerge's binary
/// format: magic (4 bytes), checksum (4), type (1), body length (ULEB128),
/// body.
fn split_chunk(bytes: &[u8]) -> Result<(u8, &[u8]), String> {
    let truncated = || "a truncated chunk in a sync message".to_string();
    let kind = *bytes.get(8).ok_or_else(truncated)?;
    let (mut len, mut shift, mut at) = (0u64, 0u32, 9usize);
    loop {
        let b = *bytes.get(at).ok_or_else(truncated)?;
        at += 1;
        if shift > 56 {
            return Err("a chunk length that does not fit in 64 bits".into());
        }
        len |= u64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let end = usize::try_from(len).ok().and_then(|l| at.checked_add(l)).filter(|e| *e <= bytes.len());
    Ok((kind, &bytes[..end.ok_or_else(truncated)?]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{transaction::Transactable, ReadDoc, ROOT};

    fn doc_of(n: usize) -> Automerge {
        let mut doc = Automerge::new();
        for i in 0..n {
            let mut tx = doc.transaction();
            tx.put(ROOT, format!("k{i}"), i as i64).unwrap();
            tx.commit();
        }
        doc
    }

    #[test]
    fn signatures_pair_back_with_their_changes_in_any_order() {
        let doc = doc_of(5);
        let hashes = document_hashes(&doc);
        let known: Vec<([u8; 32], [u8; 64])> =
            hashes.iter().enumerate().filter(|(i, _)| *i != 2).map(|(i, h)| (h.0, [i as u8 + 1; 64])).collect();
        let sent = ordered(hashes.clone(), &known);
        assert_eq!(sent.iter().filter(|s| **s == NONE).count(), 1);
        let mut reversed = hashes.clone();
        reversed.reverse();
        let mut back = pair(reversed, sent.clone()).unwrap();
        back.sort();
        let mut want = known.clone();
        want.sort();
        assert_eq!(back, want);
        assert!(pair(hashes[1..].to_vec(), sent).is_err());
        assert_eq!(doc.get_changes(&[]).len(), 5);
        assert!(doc.get(ROOT, "k4").unwrap().is_some());
    }

    #[test]
    fn chunks_of_both_kinds_give_their_hashes() {
        let doc = doc_of(3);
        let changes = doc.get_changes(&[]);
        let chunks: Vec<Vec<u8>> = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
        let mut from_changes = chunk_hashes(chunks.iter().map(|c| &c[..])).unwrap();
        from_changes.sort();
        let saved = doc.save();
        let mut from_doc = chunk_hashes([&saved[..]].into_iter()).unwrap();
        // changes concatenated in one item, as automerge's V2 messages send them
        let joined = chunks.concat();
        let mut from_joined = chunk_hashes([&joined[..]].into_iter()).unwrap();
        from_joined.sort();
        assert_eq!(from_joined, from_changes);
        assert!(chunk_hashes([&joined[..joined.len() - 1]].into_iter()).is_err());
        from_doc.sort();
        let mut want = document_hashes(&doc);
        want.sort();
        assert_eq!(from_changes, want);
        assert_eq!(from_doc, want);
        assert!(chunk_hashes([&b"not a chunk"[..]].into_iter()).is_err());
    }
}
