//! Proofs (signatures, attestations) as they travel beside a document
//! frame.
//!
//! Owns: matching proofs to the changes a `DocFull` or `DocSync` frame
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
//! Version 3 (and bundle format 3) sends, in the same order, every proof
//! as bytes ([`crate::attest::Proof::to_bytes`]: a signature, or a
//! gateway's attestation of a client's change), empty for none.

use std::collections::HashMap;

use automerge::{Automerge, Change, ChangeHash};

use crate::attest::{Proof, Signed};
use crate::id::DocumentId;
use crate::wire::Frame;

/// The proofs received with a stream of frames (a sync session, a bundle,
/// one document's bytes), by change hash, whichever version sent them.
#[derive(Debug, Default)]
pub struct Collector {
    by_hash: HashMap<[u8; 32], Proof>,
    /// Version 2 and 3 proofs waiting for their document's next frame.
    waiting: HashMap<DocumentId, Waiting>,
}

#[derive(Debug)]
enum Waiting {
    Signatures(Vec<[u8; 64]>),
    Proofs(Vec<Vec<u8>>),
}

impl Collector {
    /// Takes a proofs frame (`Sigs`, `SigsOrdered` or `Proofs`); any other
    /// frame is handed back.
    pub fn take(&mut self, frame: Frame) -> Option<Frame> {
        match frame {
            Frame::Sigs(_, list) => self.by_hash.extend(list.into_iter().map(|(h, s)| (h, Proof::Signature(s)))),
            Frame::SigsOrdered(id, list) => {
                self.waiting.insert(id, Waiting::Signatures(list));
            }
            Frame::Proofs(id, list) => {
                self.waiting.insert(id, Waiting::Proofs(list));
            }
            other => return Some(other),
        }
        None
    }

    /// A document frame of `id` arrived carrying the changes `hashes`
    /// computes: the version 2 or 3 proofs waiting for it are paired with
    /// them (`hashes` is only called when some are waiting).
    pub fn arrived(
        &mut self,
        id: &DocumentId,
        hashes: impl FnOnce() -> Result<Vec<ChangeHash>, String>,
    ) -> Result<(), String> {
        match self.waiting.remove(id) {
            Some(Waiting::Signatures(list)) => {
                let paired = pair(hashes()?, list, |s| *s == NONE)?;
                self.by_hash.extend(paired.into_iter().map(|(h, s)| (h, Proof::Signature(s))));
            }
            Some(Waiting::Proofs(list)) => {
                for (h, bytes) in pair(hashes()?, list, Vec::is_empty)? {
                    // a proof this build cannot read (a later format) is
                    // none: its change is judged unproven, the rest goes on
                    if let Ok(p) = Proof::from_bytes(&bytes) {
                        self.by_hash.insert(h, p);
                    }
                }
            }
            None => {}
        }
        Ok(())
    }

    /// A document frame of `id` arrived and is ignored: so are the
    /// proofs waiting for it.
    pub fn skipped(&mut self, id: &DocumentId) {
        self.waiting.remove(id);
    }

    /// Every proof received so far, by change hash.
    pub fn by_hash(&self) -> &HashMap<[u8; 32], Proof> {
        &self.by_hash
    }
}

/// The frame carrying the proofs `known` holds of the changes `hashes`
/// of document `id`, as protocol (or bundle format) `version` sends them:
/// version 1 signatures with their hashes, version 2 signatures in order,
/// version 3 every proof in order (attestations too; versions 1 and 2
/// cannot carry them, so a client's change reaches an older node unproven
/// and is refused there).
pub fn proofs_frame(id: DocumentId, version: u16, hashes: Vec<ChangeHash>, known: &[Signed]) -> Frame {
    match version {
        1 => Frame::Sigs(id, known.iter().filter_map(|(h, p)| Some((*h, *p.signature()?))).collect()),
        2 => Frame::SigsOrdered(id, ordered(hashes, known, |p| p.signature().copied(), NONE)),
        _ => Frame::Proofs(id, ordered(hashes, known, |p| Some(p.to_bytes()), vec![])),
    }
}

/// A whole document as it travels (bundles, one document's bytes, a
/// sync's `DocFull`): its proofs, then the document saved whole without
/// automerge's own compression. It loads in about half the time its
/// changes take to parse and apply, its sender saves it in a few
/// microseconds (its changes take eight times that to rebuild), and
/// frames compress it across documents nearly as well as its changes
/// (deflated columns would not: BENCHMARKS.md, issue 27, tenth session).
pub struct WholeDocument {
    /// The `Sigs`, `SigsOrdered` or `Proofs` frame (see [`proofs_frame`]).
    pub sigs: Frame,
    /// The `DocFull` frame.
    pub doc: Frame,
    /// How many changes it carries.
    pub changes: usize,
    /// How many bytes of changes.
    pub bytes: usize,
}

impl WholeDocument {
    /// `doc` as document `id`; `proofs` gives the stored proofs of some
    /// change hashes.
    pub fn new<E>(
        id: DocumentId,
        doc: &Automerge,
        version: u16,
        proofs: impl FnOnce(&[ChangeHash]) -> Result<Vec<Signed>, E>,
    ) -> Result<WholeDocument, E> {
        // (changes whose dependencies are missing are no part of it)
        let raw = doc.save_with_options(automerge::SaveOptions { deflate: false, retain_orphans: false });
        WholeDocument::stored(id, raw, document_hashes(doc), version, proofs)
    }

    /// Document `id` as a store holds it whole: `bytes`, one saved
    /// document (uncompressed or not: every build loads either), and
    /// `hashes`, those of its changes.
    pub fn stored<E>(
        id: DocumentId,
        bytes: Vec<u8>,
        hashes: Vec<ChangeHash>,
        version: u16,
        proofs: impl FnOnce(&[ChangeHash]) -> Result<Vec<Signed>, E>,
    ) -> Result<WholeDocument, E> {
        let changes = hashes.len();
        let known = proofs(&hashes)?;
        let sigs = proofs_frame(id, version, hashes, &known);
        Ok(WholeDocument { sigs, changes, bytes: bytes.len(), doc: Frame::DocFull(id, bytes) })
    }
}

/// 64 zero bytes: the sender holds no signature for that change.
pub const NONE: [u8; 64] = [0; 64];

/// The proofs of `hashes`, from `known`, in the order versions 2 and 3
/// send them: ascending change hash, `none` where `as_sent` gives nothing.
fn ordered<T: Clone>(
    mut hashes: Vec<ChangeHash>,
    known: &[Signed],
    as_sent: impl Fn(&Proof) -> Option<T>,
    none: T,
) -> Vec<T> {
    let known: HashMap<&[u8; 32], &Proof> = known.iter().map(|(h, s)| (h, s)).collect();
    hashes.sort_unstable();
    hashes.iter().map(|h| known.get(&h.0).and_then(|p| as_sent(p)).unwrap_or_else(|| none.clone())).collect()
}

/// Pairs proofs received in version 2 or 3 order with the changes they
/// vouch for; those `is_none` marks are left out. A count that does not
/// match the changes is the peer's error.
fn pair<T>(
    mut hashes: Vec<ChangeHash>,
    sent: Vec<T>,
    is_none: impl Fn(&T) -> bool,
) -> Result<Vec<([u8; 32], T)>, String> {
    if hashes.len() != sent.len() {
        return Err(format!("{} signatures for {} changes", sent.len(), hashes.len()));
    }
    hashes.sort_unstable();
    Ok(hashes.into_iter().zip(sent).filter(|(_, s)| !is_none(s)).map(|(h, s)| (h.0, s)).collect())
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

/// Whether `bytes` are one automerge document chunk and nothing else (a
/// whole document as [`WholeDocument`] sends it). Loaded, such a
/// document's change hashes are those automerge computes by encoding each
/// change — the hashes the changes have anywhere — where change chunks
/// (an older build's `DocFull`, or chunks trailing a document) keep the
/// hash of however they arrived encoded.
pub fn is_saved_document(bytes: &[u8]) -> bool {
    matches!(split_chunk(bytes), Ok((0, chunk)) if chunk.len() == bytes.len())
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
    fn proofs_pair_back_with_their_changes_in_any_order_in_every_version() {
        let doc = doc_of(5);
        let hashes = document_hashes(&doc);
        let gateway = crate::identity::SecretKey::generate().unwrap();
        let proof = |i: usize, h: &ChangeHash| match i {
            3 => Proof::Attested(Box::new(
                crate::attest::Attestation::sign(&gateway, h.0, "tablet", crate::attest::ClientRole::Field, None, 1)
                    .unwrap(),
            )),
            _ => Proof::Signature([i as u8 + 1; 64]),
        };
        // change 2 has no proof, change 3 a client's attestation
        let known: Vec<Signed> =
            hashes.iter().enumerate().filter(|(i, _)| *i != 2).map(|(i, h)| (h.0, proof(i, h))).collect();
        let id = DocumentId::random().unwrap();
        for version in [1, 2, 3] {
            let frame = proofs_frame(id, version, hashes.clone(), &known);
            let mut c = Collector::default();
            assert!(c.take(frame).is_none());
            let mut reversed = hashes.clone();
            reversed.reverse();
            c.arrived(&id, || Ok(reversed)).unwrap();
            let mut back: Vec<Signed> = c.by_hash().iter().map(|(h, p)| (*h, p.clone())).collect();
            back.sort_by_key(|(h, _)| *h);
            let mut want: Vec<Signed> =
                known.iter().filter(|(_, p)| version >= 3 || p.signature().is_some()).cloned().collect();
            want.sort_by_key(|(h, _)| *h);
            assert_eq!(back, want, "version {version}");
            if version > 1 {
                let mut c = Collector::default();
                c.take(proofs_frame(id, version, hashes.clone(), &known));
                assert!(c.arrived(&id, || Ok(hashes[1..].to_vec())).is_err(), "a count that does not match");
            }
        }
        assert_eq!(doc.get_changes(&[]).len(), 5);
        assert!(doc.get(ROOT, "k4").unwrap().is_some());
    }

    #[test]
    fn only_one_document_chunk_alone_is_a_saved_document() {
        let doc = doc_of(4);
        let whole = WholeDocument::new(DocumentId::random().unwrap(), &doc, 3, |_| Ok::<_, ()>(vec![])).unwrap();
        let Frame::DocFull(_, saved) = whole.doc else { panic!("a DocFull frame") };
        assert!(is_saved_document(&saved), "a document as this build sends it");
        assert_eq!(Automerge::load(&saved).unwrap().get_heads(), doc.get_heads());
        assert!(is_saved_document(&doc.save()), "compressed too");
        let chunks: Vec<u8> = doc.get_changes(&[]).iter().flat_map(|c| c.raw_bytes().to_vec()).collect();
        assert!(!is_saved_document(&chunks), "an older build's change chunks");
        let trailing = [saved.clone(), doc.get_changes(&[])[0].raw_bytes().to_vec()].concat();
        assert!(!is_saved_document(&trailing), "a document with a change chunk after it");
        assert!(!is_saved_document(&saved[..saved.len() - 1]), "a truncated chunk");
        assert!(!is_saved_document(&[]), "nothing");
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
