//! The replication wire format: length-prefixed, typed frames.
//!
//! Owns: encoding and decoding of every frame. Must never: trust a length
//! it has not checked against the bytes present and [`MAX_FRAME`].
//!
//! A frame is `len: u32 BE` (of what follows), `type: u8`, payload. IDs are
//! 16 raw bytes, hashes and fingerprints 16 bytes, integers big-endian.
//!
//! | type | frame | payload |
//! |---|---|---|
//! | 1 | `Hello` | `"AYNS"`, n: u8, n × version u16, node ID (20), doc count u64, set fingerprint (16), members fingerprint (16) |
//! | 2 | `Members` | n: u16, n × (len u16, signed membership token) |
//! | 3 | `Ranges` | n: u32, n × range; range = upper bound (flag u8: 0 = ID follows, 1 = end of ID space) then kind u8: 0 = fingerprint (16) / 1 = items (n: u32, n × (ID, hash)) |
//! | 4 | `Want` | n: u32, n × ID: documents the sender lacks |
//! | 5 | `DocSync` | ID, len u32, an automerge sync message |
//! | 6 | `DocFull` | ID, len u32, a whole automerge document: saved whole, uncompressed (older builds: every change, as concatenated change chunks) |
//! | 7 | `End` | nothing: the sender's batch is complete |
//! | 8 | `Error` | code u16, len u16, UTF-8 text |
//! | 10 | `Sigs` | ID, n: u32, n × (change hash (32), Ed25519 signature (64)): signatures of changes about to be sent for that document (version 1) |
//! | 11 | `SigsOrdered` | ID, n: u32, n × Ed25519 signature (64): one for each change of the next `DocFull`/`DocSync` frame of that document, in ascending change-hash order, 64 zero bytes for none (version 2; see [`super::sigs`]) |
//! | 12 | `Proofs` | ID, n: u32, n × (len u16, proof): one for each change of the next `DocFull`/`DocSync` frame of that document, in ascending change-hash order — a signature (64 bytes), a client change's attestation ([`crate::attest`]), or nothing (len 0) (version 3) |
//! | 9 | `Zstd` | zstd-compressed concatenation of other encoded frames (never `Zstd`), at most [`MAX_FRAME`] bytes once decompressed |
//!
//! A batch is sent with [`encode_batch`]: frames are packed into `Zstd`
//! frames of about [`PACK_BYTES`] when that makes them smaller, so whole
//! documents travel compressed *across* documents (field names and values
//! repeat from one record to the next).

use crate::id::DocumentId;

/// Protocol versions this build speaks (the highest common one is used).
/// Version 2 sends signatures without their change hashes
/// (`SigsOrdered`); version 3 sends proofs, so a client's change travels
/// with its gateway's attestation (`Proofs`); version 4 is version 3
/// followed, on a second stream of the same connection, by the blob
/// exchange (`blob_wire`). Each version still reads every frame of the
/// ones before.
pub const VERSIONS: &[u16] = &[1, 2, 3, 4];
/// Largest frame accepted (a whole document travels in one frame).
pub const MAX_FRAME: usize = 64 * 1024 * 1024;
const MAGIC: &[u8; 4] = b"AYNS";
/// Raw bytes packed into one `Zstd` frame.
pub const PACK_BYTES: usize = 4 * 1024 * 1024;
const ZSTD_LEVEL: i32 = 9;

/// A 16-byte hash of one document's state, or an XOR of such hashes.
pub type Hash16 = [u8; 16];

/// The end of a range: a document ID (exclusive), or the end of the ID space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bound {
    /// Up to, not including, this ID.
    Id(DocumentId),
    /// Up to the end of the ID space.
    End,
}

/// What a range message says about a range of document IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeBody {
    /// The XOR of the item hashes in the range.
    Fingerprint(Hash16),
    /// Every item in the range: (document ID, state hash).
    Items(Vec<(DocumentId, Hash16)>),
}

/// One range; its lower bound is the previous range's upper bound (or the
/// start of the ID space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// Upper bound (exclusive).
    pub upper: Bound,
    /// What the sender says about it.
    pub body: RangeBody,
}

/// The first frame each side sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Protocol versions the sender speaks.
    pub versions: Vec<u16>,
    /// The sender's node ID.
    pub node_id: [u8; 20],
    /// How many documents the sender holds.
    pub doc_count: u64,
    /// Fingerprint of the sender's whole document set.
    pub set_fp: Hash16,
    /// Fingerprint of the sender's membership records.
    pub members_fp: Hash16,
}

/// A protocol frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Versions and summary.
    Hello(Hello),
    /// Signed membership records.
    Members(Vec<Vec<u8>>),
    /// Range-based set reconciliation.
    Ranges(Vec<Range>),
    /// Documents the sender lacks.
    Want(Vec<DocumentId>),
    /// An automerge sync message for one document.
    DocSync(DocumentId, Vec<u8>),
    /// A whole document the receiver lacks.
    DocFull(DocumentId, Vec<u8>),
    /// End of the sender's batch.
    End,
    /// The sender gives up, saying why.
    Error(u16, String),
    /// Other frames, zstd-compressed (see [`unpack`]).
    Zstd(Vec<u8>),
    /// Signatures of changes of one document: (change hash, signature).
    Sigs(DocumentId, Vec<([u8; 32], [u8; 64])>),
    /// Signatures of the changes of the next document frame of one
    /// document, in ascending change-hash order (version 2).
    SigsOrdered(DocumentId, Vec<[u8; 64]>),
    /// Proofs of the changes of the next document frame of one document,
    /// in ascending change-hash order, empty for none (version 3).
    Proofs(DocumentId, Vec<Vec<u8>>),
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The frame is larger than [`MAX_FRAME`].
    #[error("frame of {0} bytes is over the limit of {MAX_FRAME}")]
    TooLarge(usize),
    /// The bytes end before the frame does.
    #[error("truncated frame: {0}")]
    Truncated(&'static str),
    /// An unknown frame type or field value.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Truncated(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_be_bytes(a))
    }
    fn arr<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }
    fn id(&mut self) -> Result<DocumentId, WireError> {
        Ok(DocumentId::from_bytes(self.arr::<16>("document ID")?))
    }
    /// A count of items each at least `min` bytes long: refused when the
    /// remaining bytes cannot hold them (no huge allocation from a lie).
    fn count(&mut self, n: usize, min: usize, what: &'static str) -> Result<usize, WireError> {
        if n.saturating_mul(min) > self.buf.len() {
            return Err(WireError::Truncated(what));
        }
        Ok(n)
    }
    fn bytes(&mut self, what: &'static str) -> Result<Vec<u8>, WireError> {
        let n = self.u32(what)? as usize;
        Ok(self.take(n, what)?.to_vec())
    }
    fn finish(&self) -> Result<(), WireError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::Malformed(format!("{} trailing bytes", self.buf.len())))
        }
    }
}

impl Frame {
    /// The frame's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Frame::Hello(_) => "Hello",
            Frame::Members(_) => "Members",
            Frame::Ranges(_) => "Ranges",
            Frame::Want(_) => "Want",
            Frame::DocSync(..) => "DocSync",
            Frame::DocFull(..) => "DocFull",
            Frame::End => "End",
            Frame::Error(..) => "Error",
            Frame::Zstd(_) => "Zstd",
            Frame::Sigs(..) => "Sigs",
            Frame::SigsOrdered(..) => "SigsOrdered",
            Frame::Proofs(..) => "Proofs",
        }
    }

    /// Appends the encoded frame (length prefix included) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0]);
        match self {
            Frame::Hello(h) => {
                out.push(1);
                out.extend_from_slice(MAGIC);
                out.push(h.versions.len() as u8);
                for v in &h.versions {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                out.extend_from_slice(&h.node_id);
                out.extend_from_slice(&h.doc_count.to_be_bytes());
                out.extend_from_slice(&h.set_fp);
                out.extend_from_slice(&h.members_fp);
            }
            Frame::Members(tokens) => {
                out.push(2);
                out.extend_from_slice(&(tokens.len() as u16).to_be_bytes());
                for t in tokens {
                    out.extend_from_slice(&(t.len() as u16).to_be_bytes());
                    out.extend_from_slice(t);
                }
            }
            Frame::Ranges(ranges) => {
                out.push(3);
                out.extend_from_slice(&(ranges.len() as u32).to_be_bytes());
                for r in ranges {
                    match r.upper {
                        Bound::Id(id) => {
                            out.push(0);
                            out.extend_from_slice(id.as_bytes());
                        }
                        Bound::End => out.push(1),
                    }
                    match &r.body {
                        RangeBody::Fingerprint(fp) => {
                            out.push(0);
                            out.extend_from_slice(fp);
                        }
                        RangeBody::Items(items) => {
                            out.push(1);
                            out.extend_from_slice(&(items.len() as u32).to_be_bytes());
                            for (id, h) in items {
                                out.extend_from_slice(id.as_bytes());
                                out.extend_from_slice(h);
                            }
                        }
                    }
                }
            }
            Frame::Want(ids) => {
                out.push(4);
                out.extend_from_slice(&(ids.len() as u32).to_be_bytes());
                for id in ids {
                    out.extend_from_slice(id.as_bytes());
                }
            }
            Frame::DocSync(id, bytes) | Frame::DocFull(id, bytes) => {
                out.push(if matches!(self, Frame::DocSync(..)) { 5 } else { 6 });
                out.extend_from_slice(id.as_bytes());
                out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                out.extend_from_slice(bytes);
            }
            Frame::End => out.push(7),
            Frame::Error(code, text) => {
                out.push(8);
                let text = &text.as_bytes()[..text.len().min(1024)];
                out.extend_from_slice(&code.to_be_bytes());
                out.extend_from_slice(&(text.len() as u16).to_be_bytes());
                out.extend_from_slice(text);
            }
            Frame::Zstd(bytes) => {
                out.push(9);
                out.extend_from_slice(bytes);
            }
            Frame::Sigs(id, sigs) => {
                out.push(10);
                out.extend_from_slice(id.as_bytes());
                out.extend_from_slice(&(sigs.len() as u32).to_be_bytes());
                for (h, s) in sigs {
                    out.extend_from_slice(h);
                    out.extend_from_slice(s);
                }
            }
            Frame::SigsOrdered(id, sigs) => {
                out.push(11);
                out.extend_from_slice(id.as_bytes());
                out.extend_from_slice(&(sigs.len() as u32).to_be_bytes());
                for s in sigs {
                    out.extend_from_slice(s);
                }
            }
            Frame::Proofs(id, proofs) => {
                out.push(12);
                out.extend_from_slice(id.as_bytes());
                out.extend_from_slice(&(proofs.len() as u32).to_be_bytes());
                for p in proofs {
                    out.extend_from_slice(&(p.len() as u16).to_be_bytes());
                    out.extend_from_slice(p);
                }
            }
        }
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// Reads the length prefix of a frame: how many bytes follow it.
    pub fn body_len(prefix: [u8; 4]) -> Result<usize, WireError> {
        let n = u32::from_be_bytes(prefix) as usize;
        if n > MAX_FRAME {
            return Err(WireError::TooLarge(n));
        }
        if n == 0 {
            return Err(WireError::Malformed("empty frame".into()));
        }
        Ok(n)
    }

    /// Decodes one frame body (the bytes after the length prefix).
    pub fn decode(body: &[u8]) -> Result<Frame, WireError> {
        if body.len() > MAX_FRAME {
            return Err(WireError::TooLarge(body.len()));
        }
        let mut r = Reader { buf: body };
        let frame = match r.u8("frame type")? {
            1 => {
                if r.take(4, "magic")? != MAGIC {
                    return Err(WireError::Malformed("not an Ayni sync stream (bad magic)".into()));
                }
                let n = r.u8("version count")? as usize;
                let n = r.count(n, 2, "versions")?;
                let versions = (0..n).map(|_| r.u16("version")).collect::<Result<_, _>>()?;
                Frame::Hello(Hello {
                    versions,
                    node_id: r.arr("node ID")?,
                    doc_count: r.u64("doc count")?,
                    set_fp: r.arr("set fingerprint")?,
                    members_fp: r.arr("members fingerprint")?,
                })
            }
            2 => {
                let n = r.u16("member count")? as usize;
                let n = r.count(n, 2, "members")?;
                let mut tokens = Vec::with_capacity(n);
                for _ in 0..n {
                    let len = r.u16("member length")? as usize;
                    tokens.push(r.take(len, "member")?.to_vec());
                }
                Frame::Members(tokens)
            }
            3 => {
                let n = r.u32("range count")? as usize;
                let n = r.count(n, 2, "ranges")?;
                let mut ranges = Vec::with_capacity(n);
                for _ in 0..n {
                    let upper = match r.u8("bound")? {
                        0 => Bound::Id(r.id()?),
                        1 => Bound::End,
                        x => return Err(WireError::Malformed(format!("unknown bound tag {x}"))),
                    };
                    let body = match r.u8("range kind")? {
                        0 => RangeBody::Fingerprint(r.arr("fingerprint")?),
                        1 => {
                            let m = r.u32("item count")? as usize;
                            let m = r.count(m, 32, "items")?;
                            let mut items = Vec::with_capacity(m);
                            for _ in 0..m {
                                items.push((r.id()?, r.arr("item hash")?));
                            }
                            RangeBody::Items(items)
                        }
                        x => return Err(WireError::Malformed(format!("unknown range kind {x}"))),
                    };
                    ranges.push(Range { upper, body });
                }
                Frame::Ranges(ranges)
            }
            4 => {
                let n = r.u32("want count")? as usize;
                let n = r.count(n, 16, "wanted IDs")?;
                Frame::Want((0..n).map(|_| r.id()).collect::<Result<_, _>>()?)
            }
            5 => Frame::DocSync(r.id()?, r.bytes("sync message")?),
            6 => Frame::DocFull(r.id()?, r.bytes("document")?),
            7 => Frame::End,
            8 => {
                let code = r.u16("error code")?;
                let len = r.u16("error length")? as usize;
                let text = String::from_utf8_lossy(r.take(len, "error text")?).into_owned();
                Frame::Error(code, text)
            }
            9 => Frame::Zstd(r.take(r.buf.len(), "compressed frames")?.to_vec()),
            10 => {
                let id = r.id()?;
                let n = r.u32("signature count")? as usize;
                let n = r.count(n, 96, "signatures")?;
                let mut sigs = Vec::with_capacity(n);
                for _ in 0..n {
                    sigs.push((r.arr::<32>("change hash")?, r.arr::<64>("signature")?));
                }
                Frame::Sigs(id, sigs)
            }
            11 => {
                let id = r.id()?;
                let n = r.u32("signature count")? as usize;
                let n = r.count(n, 64, "signatures")?;
                Frame::SigsOrdered(id, (0..n).map(|_| r.arr::<64>("signature")).collect::<Result<_, _>>()?)
            }
            12 => {
                let id = r.id()?;
                let n = r.u32("proof count")? as usize;
                let n = r.count(n, 2, "proofs")?;
                // as many as 64-byte signatures fit in a frame: empty proofs
                // (2 bytes each) must not become a larger allocation
                if n > MAX_FRAME / 64 {
                    return Err(WireError::Malformed(format!("{n} proofs in one frame")));
                }
                let mut proofs = Vec::with_capacity(n);
                for _ in 0..n {
                    let len = r.u16("proof length")? as usize;
                    proofs.push(r.take(len, "proof")?.to_vec());
                }
                Frame::Proofs(id, proofs)
            }
            x => return Err(WireError::Malformed(format!("unknown frame type {x}"))),
        };
        r.finish()?;
        Ok(frame)
    }
}

/// Encodes a batch for the wire, packing runs of frames into `Zstd` frames
/// where compression pays (`End` always travels unpacked).
pub fn encode_batch(frames: &[Frame]) -> Vec<u8> {
    let mut out = vec![];
    let mut pending = vec![];
    let flush = |pending: &mut Vec<u8>, out: &mut Vec<u8>| {
        if pending.len() > 512 {
            if let Ok(z) = zstd::block::compress(pending, ZSTD_LEVEL) {
                if z.len() + 5 < pending.len() {
                    Frame::Zstd(z).encode(out);
                    pending.clear();
                    return;
                }
            }
        }
        out.append(pending);
    };
    for f in frames {
        if *f == Frame::End {
            // the end of a batch is never packed: the reader looks for it
            flush(&mut pending, &mut out);
            f.encode(&mut out);
            continue;
        }
        f.encode(&mut pending);
        if pending.len() >= PACK_BYTES {
            flush(&mut pending, &mut out);
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decompresses a `Zstd` frame into its frames; refuses more than
/// [`MAX_FRAME`] bytes of output (no decompression bombs) and nesting.
pub fn unpack(compressed: &[u8]) -> Result<Vec<Frame>, WireError> {
    use std::io::Read;
    let mut raw = vec![];
    zstd::stream::read::Decoder::new(compressed)
        .map_err(|e| WireError::Malformed(format!("bad compressed frames: {e}")))?
        .take(MAX_FRAME as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| WireError::Malformed(format!("bad compressed frames: {e}")))?;
    if raw.len() > MAX_FRAME {
        return Err(WireError::TooLarge(raw.len()));
    }
    let mut frames = vec![];
    let mut rest = &raw[..];
    while !rest.is_empty() {
        let prefix: [u8; 4] =
            rest.get(..4).and_then(|p| p.try_into().ok()).ok_or(WireError::Truncated("packed frame length"))?;
        let len = Frame::body_len(prefix)?;
        let body = rest.get(4..4 + len).ok_or(WireError::Truncated("packed frame"))?;
        let f = Frame::decode(body)?;
        if matches!(f, Frame::Zstd(_)) {
            return Err(WireError::Malformed("nested compressed frames".into()));
        }
        frames.push(f);
        rest = &rest[4 + len..];
    }
    Ok(frames)
}

/// Whether an automerge bloom filter (as `BloomFilter::to_bytes` gives it:
/// nothing, or entries, bits per entry, probes as LEB128, then the bits) can
/// be probed. automerge 0.12 divides by its bit count, so a filter claiming
/// entries with zero bits per entry would panic it (found by the
/// `reconcile` fuzz target).
pub fn bloom_is_sound(bytes: &[u8]) -> bool {
    let mut values = [0u64; 2];
    let mut rest = bytes;
    for v in &mut values {
        let (mut x, mut shift) = (0u64, 0);
        loop {
            let Some((&b, tail)) = rest.split_first() else { return bytes.is_empty() };
            rest = tail;
            x |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        *v = x;
    }
    let [entries, bits_per_entry] = values;
    entries == 0 || bits_per_entry > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(f: Frame) {
        let mut buf = vec![];
        f.encode(&mut buf);
        let n = Frame::body_len(buf[..4].try_into().unwrap()).unwrap();
        assert_eq!(n, buf.len() - 4);
        assert_eq!(Frame::decode(&buf[4..]).unwrap(), f);
        // every truncation is an error, never a panic
        for cut in 4..buf.len() {
            assert!(Frame::decode(&buf[4..cut]).is_err(), "{} cut at {cut}", f.name());
        }
    }

    #[test]
    fn every_frame_round_trips_and_truncation_is_caught() {
        let id = DocumentId::from_bytes([7; 16]);
        round_trip(Frame::Hello(Hello {
            versions: vec![1, 2],
            node_id: [3; 20],
            doc_count: 9,
            set_fp: [1; 16],
            members_fp: [2; 16],
        }));
        round_trip(Frame::Members(vec![vec![1, 2, 3], vec![]]));
        round_trip(Frame::Ranges(vec![
            Range { upper: Bound::Id(id), body: RangeBody::Fingerprint([5; 16]) },
            Range { upper: Bound::End, body: RangeBody::Items(vec![(id, [6; 16])]) },
        ]));
        round_trip(Frame::Want(vec![id, id]));
        round_trip(Frame::DocSync(id, vec![1, 2, 3]));
        round_trip(Frame::DocFull(id, vec![]));
        round_trip(Frame::End);
        round_trip(Frame::Error(3, "versión".into()));
        round_trip(Frame::Sigs(id, vec![([1; 32], [2; 64])]));
        round_trip(Frame::SigsOrdered(id, vec![[2; 64], [0; 64]]));
        round_trip(Frame::Proofs(id, vec![vec![2; 64], vec![], vec![0xA1; 200]]));
    }

    #[test]
    fn batches_pack_and_unpack() {
        let id = DocumentId::from_bytes([7; 16]);
        let frames: Vec<Frame> = (0..200)
            .map(|i| Frame::DocFull(id, format!("documento {i} del incendio de Sama").repeat(20).into_bytes()))
            .chain([Frame::End])
            .collect();
        let wire = encode_batch(&frames);
        let raw: usize = frames
            .iter()
            .map(|f| {
                let mut b = vec![];
                f.encode(&mut b);
                b.len()
            })
            .sum();
        assert!(wire.len() < raw / 5, "{} vs {raw}", wire.len());
        let mut back = vec![];
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let len = Frame::body_len(rest[..4].try_into().unwrap()).unwrap();
            match Frame::decode(&rest[4..4 + len]).unwrap() {
                Frame::Zstd(z) => back.extend(unpack(&z).unwrap()),
                f => back.push(f),
            }
            rest = &rest[4 + len..];
        }
        assert_eq!(back, frames);
        // a bomb: 100 MB of zeros compresses to a few KB but is refused
        let bomb = zstd::block::compress(&vec![0u8; 100 * 1024 * 1024], 3).unwrap();
        assert!(unpack(&bomb).is_err());
    }

    #[test]
    fn hostile_lengths_are_refused_without_allocating() {
        assert!(matches!(Frame::body_len((MAX_FRAME as u32 + 1).to_be_bytes()), Err(WireError::TooLarge(_))));
        // a Ranges frame claiming 4 billion ranges in 5 bytes
        assert!(matches!(Frame::decode(&[3, 0xff, 0xff, 0xff, 0xff]), Err(WireError::Truncated(_))));
        assert!(matches!(Frame::decode(&[99]), Err(WireError::Malformed(_))));
        assert!(matches!(Frame::decode(&[7, 0]), Err(WireError::Malformed(_))));
        let mut bad_magic = vec![];
        Frame::Hello(Hello { versions: vec![1], node_id: [0; 20], doc_count: 0, set_fp: [0; 16], members_fp: [0; 16] })
            .encode(&mut bad_magic);
        bad_magic[5] = b'X';
        assert!(Frame::decode(&bad_magic[4..]).is_err());
    }
}
