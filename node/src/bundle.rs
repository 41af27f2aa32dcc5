//! Bundles: replication by file, for teams with no network at all (a USB
//! stick carried between base camps).
//!
//! Owns: the bundle file format and its all-or-nothing import. Must never:
//! write part of a bundle, or accept one that is not whole and unaltered.
//!
//! # Bundle format, version 3
//! `"AYNIBNDL"` (8 bytes), format `u8` (3), header length `u32 BE`, header
//! (JSON: network ID, exporter node ID, created-at, `since` peer, document
//! count), body length `u64 BE`, body (zstd-compressed replication frames
//! from `sync::wire`: one `Members` frame; one `Ranges` frame holding the
//! exporter's whole summary as a single item list, so the importer learns
//! exactly what the exporter holds and its next `--since` bundle carries
//! only the difference; then, per document, a `Proofs` frame with the
//! proof of every change — its author's signature, or a client change's
//! attestation — and a `DocFull` frame with the document, saved whole
//! as a sync sends it; older builds wrote its changes, and are read),
//! and SHA-256 of everything before it (32 bytes). Any flipped or missing
//! byte fails the checksum or a length and the whole bundle is refused.
//!
//! # Format 4: with blobs
//! `bundle export --with-blobs` writes format 4: format 3 with, between
//! the body and the checksum, the blobs the bundle's records reference
//! that the exporter holds — count `u32 BE`, then per blob its SHA-256
//! (32 bytes), length `u64 BE` and bytes (photos are compressed already).
//! The header then says how many (`blobs`). Every blob is verified
//! (hash, size limit, media type) before anything is written.
//!
//! A bundle that holds no client change is written as format 2, the same
//! with `SigsOrdered` frames (signatures only), so nodes that do not read
//! format 3 yet still import it; format
//! 1 with `Sigs` frames (each signature with its change hash, 32 bytes
//! more a change); this build still imports both.

use crate::progress::{Observer, Reporter};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use automerge::Automerge;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::attest::Proof;
use crate::error::{Error, Result};
use crate::id::DocumentId;
use crate::identity::NodeId;
use crate::node::{Node, Reader};
use crate::sync::sigs::{document_hashes, Collector, WholeDocument, NONE};
use crate::sync::wire::{Bound, Frame, Range, RangeBody, MAX_FRAME};

const MAGIC: &[u8; 8] = b"AYNIBNDL";
const FORMAT: u8 = 3;
/// The format of a bundle that carries blobs.
const WITH_BLOBS: u8 = 4;
/// Formats this build imports.
const READS: &[u8] = &[1, 2, 3, 4];
/// Largest bundle body accepted once decompressed: far above a whole HQ
/// store of 100,000 seed-shaped EDANs (about 300 MB of frames), far below
/// what would hurt the serving node that imports it. The body is read frame
/// by frame, and every document is checked not to inflate past
/// `inflate::MAX_INFLATED` before it is loaded.
pub const MAX_BODY: u64 = 1024 * 1024 * 1024;

/// What a bundle says about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The network it belongs to.
    pub network: String,
    /// The node that wrote it.
    pub exporter: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// The peer it was cut for (`--since`), if any.
    #[serde(default)]
    pub since: Option<String>,
    /// Documents inside.
    pub documents: u64,
    /// Blobs inside (format 4).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub blobs: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Outcome of an export or import.
#[derive(Debug, Clone, Serialize)]
pub struct BundleReport {
    /// The bundle's header.
    pub header: Header,
    /// Bundle size in bytes.
    pub bytes: u64,
    /// Documents that gained changes here (import) or were written (export).
    pub documents_changed: u64,
    /// Membership records learned (import).
    pub members_learned: u64,
    /// Changes refused (import; see `ayni audit`).
    pub changes_refused: u64,
    /// Blobs written (export) or new here (import).
    pub blobs: u64,
}

fn bad(why: impl Into<String>) -> Error {
    Error::refused("bundle", format!("{}; nothing was written", why.into()))
}

impl Reader {
    /// Writes a bundle of every document (`since = None`) or of every
    /// document whose state differs from what `since` was last known to hold.
    #[cfg(test)]
    pub fn export_bundle(&self, since: Option<NodeId>) -> Result<(Vec<u8>, BundleReport)> {
        self.export_bundle_with_progress(since, false, &mut crate::progress::ignore)
    }

    /// [`Node::export_bundle`], with the blobs its records reference when
    /// `with_blobs` (format 4), reporting progress: `packing` every 256
    /// documents.
    pub fn export_bundle_with_progress(
        &self,
        since: Option<NodeId>,
        with_blobs: bool,
        progress: Observer<'_>,
    ) -> Result<(Vec<u8>, BundleReport)> {
        let mut report = Reporter::new("bundle export", "documents", 256, progress);
        let network = self.network()?.ok_or_else(|| Error::Precondition("this node belongs to no network".into()))?;
        // the summary first: a document written between the two reads is
        // then in the feed after the mark, and goes
        let summary = self.store().summary()?;
        let known = match &since {
            Some(p) => self.known_to(p)?,
            None => crate::peer_state::Known::default(),
        };
        let mut frames = vec![
            Frame::Members(self.membership_records()?),
            Frame::Ranges(vec![Range { upper: Bound::End, body: RangeBody::Items(summary.clone()) }]),
        ];
        let total = summary.len() as u64;
        let mut attested = false;
        let mut packed = HashSet::new();
        for (done, (id, hash)) in summary.into_iter().enumerate() {
            report.at("packing", done as u64, Some(total));
            if known.holds(&id, &hash) {
                continue;
            }
            packed.insert(id.to_string());
            let proofs = |h: &[automerge::ChangeHash]| {
                let proofs = self.signatures_of(h)?;
                attested |= proofs.iter().any(|(_, p)| p.signature().is_none());
                Ok::<_, Error>(proofs)
            };
            // as stored, when the store holds it whole with its hashes
            let whole = match self.store().whole(&id)? {
                Some((bytes, hashes)) => WholeDocument::stored(id, bytes, hashes, u16::from(FORMAT), proofs)?,
                None => match self.store().load_uncached(&id)? {
                    Some(doc) => WholeDocument::new(id, &doc, u16::from(FORMAT), proofs)?,
                    None => continue,
                },
            };
            frames.extend([whole.sigs, whole.doc]);
        }
        report.finished("packing", total);
        // the blobs the packed records reference, when asked
        let mut blobs = vec![];
        if with_blobs {
            let store = self.blobs();
            let mut hashes = std::collections::BTreeSet::new();
            self.attachment_references(|hash, rec, _| {
                if packed.contains(&rec.id) && store.has(hash) {
                    hashes.insert(hash.to_string());
                }
            })?;
            for h in hashes {
                blobs.push((h.clone(), store.get(&h)?));
            }
        }
        // a bundle with no client change is written as format 2, which
        // nodes that do not read format 3 yet still import
        let format = match (with_blobs, attested) {
            (true, _) => WITH_BLOBS,
            (false, true) => FORMAT,
            (false, false) => 2,
        };
        if format == 2 {
            for f in &mut frames {
                if let Frame::Proofs(id, proofs) = f {
                    let sigs = proofs.iter().map(|p| <[u8; 64]>::try_from(&p[..]).unwrap_or(NONE)).collect();
                    *f = Frame::SigsOrdered(*id, sigs);
                }
            }
        }
        let header = Header {
            network: network.id,
            exporter: self.id().to_string(),
            created_at: crate::node::now_rfc3339(),
            since: since.map(|p| p.to_string()),
            documents: frames.iter().filter(|f| matches!(f, Frame::DocFull(..))).count() as u64,
            blobs: blobs.len() as u64,
        };
        let mut body_raw = vec![];
        for f in &frames {
            f.encode(&mut body_raw);
        }
        let body = zstd::stream::encode_all(&body_raw[..], 9).map_err(|e| Error::Internal(e.to_string()))?;
        let header_json = serde_json::to_vec(&header).map_err(|e| Error::Internal(e.to_string()))?;
        let mut out = Vec::with_capacity(body.len() + header_json.len() + 60);
        out.extend_from_slice(MAGIC);
        out.push(format);
        out.extend_from_slice(&(header_json.len() as u32).to_be_bytes());
        out.extend_from_slice(&header_json);
        out.extend_from_slice(&(body.len() as u64).to_be_bytes());
        out.extend_from_slice(&body);
        if format == WITH_BLOBS {
            out.extend_from_slice(&(blobs.len() as u32).to_be_bytes());
            for (hash, bytes) in &blobs {
                out.extend_from_slice(&crate::blobs::hash_bytes(hash).unwrap_or([0; 32]));
                out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
                out.extend_from_slice(bytes);
            }
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        let report = BundleReport {
            documents_changed: header.documents,
            blobs: header.blobs,
            header,
            bytes: out.len() as u64,
            members_learned: 0,
            changes_refused: 0,
        };
        Ok((out, report))
    }
}

impl Node {
    /// Applies a bundle, all or nothing: the file must be whole and
    /// unaltered and of this node's network, and every document in it an
    /// Ayni record, or nothing is written. Importing a bundle twice changes
    /// nothing the second time.
    #[cfg(test)]
    pub fn import_bundle(&self, bytes: &[u8]) -> Result<BundleReport> {
        self.import_bundle_with_progress(bytes, &mut crate::progress::ignore)
    }

    /// [`Node::import_bundle`], reporting progress: `reading` then
    /// `merging`, every 256 documents.
    pub fn import_bundle_with_progress(&self, bytes: &[u8], progress: Observer<'_>) -> Result<BundleReport> {
        let mut report = Reporter::new("bundle import", "documents", 256, progress);
        let (header, frames, mut blobs) = parse(bytes)?;
        // every blob whole before anything is written: one whose bytes do
        // not hash to its name refuses the bundle; one this node does not
        // take (over its size limit, a media type it does not take) is
        // left out, the rest of the bundle imported
        let limits = crate::blobs::Limits::default();
        let mut kept = vec![];
        for (hash, bytes) in blobs.drain(..) {
            match crate::blobs::Blobs::judge(&bytes, Some(&hash), &limits, &format!("blob {hash}")) {
                Ok(_) => kept.push((hash, bytes)),
                Err(e @ (Error::TooLarge { .. } | Error::MediaType { .. })) => {
                    tracing::warn!("bundle: leaving out {e}");
                }
                Err(e) => return Err(bad(format!("blob {hash}: {e}"))),
            }
        }
        let blobs = kept;
        let network = self.network()?.ok_or_else(|| Error::Precondition("this node belongs to no network".into()))?;
        if header.network != network.id {
            return Err(bad(format!(
                "it is from network {}, this node is in {} ({})",
                header.network, network.name, network.id
            )));
        }
        let exporter: NodeId = header.exporter.parse().map_err(|_| bad("the exporter's node ID is malformed"))?;
        // check everything before writing anything
        let mut members = vec![];
        let mut exporter_holds = None;
        // each with whether it was one document chunk (`Node::ingest`)
        let mut docs: Vec<(DocumentId, Automerge, bool)> = vec![];
        let mut sigs = Collector::default();
        let mut seen = HashSet::new();
        for f in frames {
            let Some(f) = sigs.take(f) else { continue };
            match f {
                Frame::Members(tokens) => members.extend(tokens),
                Frame::Ranges(mut ranges) if exporter_holds.is_none() && ranges.len() == 1 => match ranges.pop() {
                    Some(Range { upper: Bound::End, body: RangeBody::Items(items) }) => exporter_holds = Some(items),
                    _ => return Err(bad("malformed summary")),
                },
                Frame::DocFull(id, raw) => {
                    if !seen.insert(id) {
                        return Err(bad(format!("document {id} appears twice")));
                    }
                    let doc = Automerge::load(&raw).map_err(|e| bad(format!("document {id}: {e}")))?;
                    sigs.arrived(&id, || Ok(document_hashes(&doc))).map_err(|e| bad(format!("document {id}: {e}")))?;
                    docs.push((id, doc, crate::sync::sigs::is_saved_document(&raw)));
                    report.at("reading", docs.len() as u64, Some(header.documents));
                }
                other => return Err(bad(format!("unexpected {} frame", other.name()))),
            }
        }
        let mut learned = 0;
        for t in &members {
            match self.accept_member(t) {
                Ok(true) => learned += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!("bundle from {exporter}: ignoring a membership record: {e}"),
            }
        }
        let mut exporter_state: BTreeMap<DocumentId, [u8; 16]> =
            exporter_holds.ok_or_else(|| bad("no summary"))?.into_iter().collect();
        report.finished("reading", docs.len() as u64);
        let from = format!("bundle from {exporter}");
        let (changed, refused) = self.merge_all(&mut docs, &mut exporter_state, sigs.by_hash(), &from, &mut report)?;
        self.set_peer_summary(&exporter, exporter_state.iter())?;
        let mut new_blobs = 0;
        for (hash, bytes) in &blobs {
            new_blobs += u64::from(self.blobs().put(bytes, Some(hash), &limits, &format!("blob {hash}"))?.1);
        }
        Ok(BundleReport {
            header,
            bytes: bytes.len() as u64,
            documents_changed: changed,
            members_learned: learned,
            changes_refused: refused,
            blobs: new_blobs,
        })
    }

    /// Merges received documents into the store in one atomic, durable
    /// batch, admitting only signed changes of members (see `trust`).
    /// Returns (documents changed, changes refused).
    fn merge_all(
        &self,
        docs: &mut [(DocumentId, Automerge, bool)],
        exporter_state: &mut BTreeMap<DocumentId, [u8; 16]>,
        sigs: &HashMap<[u8; 32], Proof>,
        from: &str,
        report: &mut Reporter<'_>,
    ) -> Result<(u64, u64)> {
        let _guard = self.write_lock();
        let mut ingested = vec![];
        let mut refused = 0;
        let total = docs.len() as u64;
        for (done, (id, theirs, saved)) in docs.iter_mut().enumerate() {
            report.at("merging", done as u64, Some(total));
            exporter_state.insert(*id, crate::sync::state_hash(id, &theirs.get_heads()));
            let whole = crate::ingest::Whole { saved: *saved, read: None };
            let outcome = self.ingest(id, std::mem::take(theirs), Some(whole), sigs, from)?;
            refused += outcome.refused as u64;
            ingested.extend(outcome.ingested);
        }
        let changed = ingested.len() as u64;
        let mut saved = vec![vec![]; ingested.len()];
        let writes = ingested
            .iter_mut()
            .zip(saved.iter_mut())
            .map(|(ing, s)| self.ingest_write(ing, None, s))
            .collect::<Result<Vec<_>>>()?;
        self.writer().write(&writes)?;
        report.finished("merging", total);
        Ok((changed, refused))
    }
}

/// A blob carried by a bundle: its hash (hex) and bytes.
type Carried = (String, Vec<u8>);

/// Checks a bundle's framing and checksum and decodes its frames (and,
/// in format 4, its blobs).
fn parse(bytes: &[u8]) -> Result<(Header, Vec<Frame>, Vec<Carried>)> {
    if bytes.len() < MAGIC.len() + 1 || &bytes[..8] != MAGIC {
        return Err(bad("not an Ayni bundle"));
    }
    if !READS.contains(&bytes[8]) {
        return Err(bad(format!("bundle format {} is not supported (this build reads {READS:?})", bytes[8])));
    }
    if bytes.len() < 8 + 1 + 4 + 8 + 32 {
        return Err(bad("truncated"));
    }
    let (content, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(content).as_slice() != sum {
        return Err(bad("checksum mismatch: the file is damaged, truncated or altered"));
    }
    let hlen = u32::from_be_bytes(content[9..13].try_into().map_err(|_| bad("truncated"))?) as usize;
    let header_end =
        13usize.checked_add(hlen).filter(|e| e + 8 <= content.len()).ok_or_else(|| bad("truncated header"))?;
    let header: Header =
        serde_json::from_slice(&content[13..header_end]).map_err(|e| bad(format!("bad header: {e}")))?;
    let blen = u64::from_be_bytes(content[header_end..header_end + 8].try_into().map_err(|_| bad("truncated"))?);
    let after = &content[header_end + 8..];
    let (body, tail) = match usize::try_from(blen).ok().filter(|b| *b <= after.len()) {
        Some(b) => after.split_at(b),
        None => return Err(bad("body length does not match")),
    };
    let blobs = if bytes[8] == WITH_BLOBS { blobs_of(tail)? } else { vec![] };
    if (bytes[8] != WITH_BLOBS && !tail.is_empty()) || blobs.len() as u64 != header.blobs {
        return Err(bad("body length does not match"));
    }
    // frame by frame from the decompressor: never the whole body at once
    let mut reader =
        zstd::stream::read::Decoder::new(body).map_err(|e| bad(format!("bad body: {e}")))?.take(MAX_BODY + 1);
    let mut frames = vec![];
    let mut read = 0u64;
    loop {
        let mut prefix = [0u8; 4];
        match read_full(&mut reader, &mut prefix).map_err(|e| bad(format!("bad body: {e}")))? {
            0 => break,
            4 => {}
            _ => return Err(bad("truncated frame")),
        }
        let len = Frame::body_len(prefix).map_err(|e| bad(e.to_string()))?;
        if len > MAX_FRAME {
            return Err(bad("frame too large"));
        }
        read += 4 + len as u64;
        if read > MAX_BODY {
            return Err(bad(format!("its body is over {} MiB once decompressed", MAX_BODY >> 20)));
        }
        let mut frame = vec![0u8; len];
        if read_full(&mut reader, &mut frame).map_err(|e| bad(format!("bad body: {e}")))? != len {
            return Err(bad("truncated frame"));
        }
        let frame = Frame::decode(&frame).map_err(|e| bad(e.to_string()))?;
        if let Frame::DocFull(id, raw) = &frame {
            crate::inflate::chunks(raw, crate::inflate::MAX_INFLATED)
                .map_err(|e| bad(format!("document {id}: {e}")))?;
        }
        frames.push(frame);
    }
    if frames.iter().filter(|f| matches!(f, Frame::DocFull(..))).count() as u64 != header.documents {
        return Err(bad("the document count does not match the header"));
    }
    Ok((header, frames, blobs))
}

/// Reads into `buf` until it is full or the reader ends; how many bytes.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The blobs section of a format 4 bundle.
fn blobs_of(mut rest: &[u8]) -> Result<Vec<Carried>> {
    let mut take = |n: usize| -> Result<&[u8]> {
        let (head, tail) = (rest.get(..n).ok_or_else(|| bad("truncated blobs"))?, &rest[n..]);
        rest = tail;
        Ok(head)
    };
    let count = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad("truncated blobs"))?);
    let mut out = vec![];
    for _ in 0..count {
        let hash: [u8; 32] = take(32)?.try_into().map_err(|_| bad("truncated blobs"))?;
        let len = u64::from_be_bytes(take(8)?.try_into().map_err(|_| bad("truncated blobs"))?);
        let len = usize::try_from(len).map_err(|_| bad("a blob too large"))?;
        out.push((crate::blobs::hash_hex(&hash), take(len)?.to_vec()));
    }
    if !rest.is_empty() {
        return Err(bad("bytes after the blobs"));
    }
    Ok(out)
}
