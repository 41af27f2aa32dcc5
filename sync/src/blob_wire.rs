//! The blob stream's frames: after a replication session of protocol
//! version 4 or later, the initiator opens a second stream on the same
//! connection and both sides exchange the blobs their records reference.
//!
//! Owns: the frames and their encoding. A frame is `len u32 BE | type u8 |
//! payload`, at most [`MAX_BLOB_FRAME`] bytes:
//! - `1 Hello`: magic `AYNB`, version u16 (1), the largest blob the
//!   sender takes, u64 (a peer never sends it a larger one);
//! - `2 Want`: count u32 (at most [`MAX_WANTS`]: more wait for the next
//!   session), then per blob its SHA-256 (32 bytes) and the offset u64 BE
//!   to send from (what an interrupted transfer left);
//! - `3 Piece`: SHA-256, offset u64, total u64, bytes (≤ [`PIECE`]);
//! - `4 Missing`: SHA-256 (not here, or this node declines to send blobs);
//! - `5 Done`: the sender has answered every want.
//!
//! Each side sends `Hello`, `Want`, then answers the peer's wants in
//! order and ends with `Done`; it ends its stream once it also has the
//! peer's `Done` (so the peer knows everything it sent has arrived), and
//! closes when the peer's stream ends. Must never: touch files, sockets
//! or the clock (the driver in `net` does).

/// Bytes of a blob per `Piece` frame.
pub const PIECE: usize = 256 * 1024;
/// Largest blob frame accepted.
pub const MAX_BLOB_FRAME: usize = PIECE + 1024;
const MAGIC: &[u8; 4] = b"AYNB";
/// The blob stream's version.
pub const BLOB_VERSION: u16 = 1;
/// Blobs asked for in one session (a `Want` frame stays far under
/// [`MAX_BLOB_FRAME`]); the rest are asked for at the next.
pub const MAX_WANTS: usize = 4096;

/// One frame of the blob stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobFrame {
    /// Magic, version, and the largest blob the sender takes.
    Hello {
        /// The blob stream's version.
        version: u16,
        /// The largest blob the sender takes, in bytes.
        max_bytes: u64,
    },
    /// The blobs the sender lacks, each with the offset to send from.
    Want(Vec<([u8; 32], u64)>),
    /// A piece of a blob.
    Piece {
        /// Its SHA-256.
        hash: [u8; 32],
        /// Where the piece starts.
        offset: u64,
        /// The blob's size.
        total: u64,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// A wanted blob the sender will not send.
    Missing([u8; 32]),
    /// Every want answered.
    Done,
}

/// Why bytes are not a blob frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed blob frame: {0}")]
pub struct BlobWireError(pub String);

impl BlobFrame {
    /// The frame with its length prefix.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = vec![];
        match self {
            BlobFrame::Hello { version, max_bytes } => {
                body.push(1);
                body.extend_from_slice(MAGIC);
                body.extend_from_slice(&version.to_be_bytes());
                body.extend_from_slice(&max_bytes.to_be_bytes());
            }
            BlobFrame::Want(list) => {
                body.push(2);
                body.extend_from_slice(&(list.len() as u32).to_be_bytes());
                for (h, off) in list {
                    body.extend_from_slice(h);
                    body.extend_from_slice(&off.to_be_bytes());
                }
            }
            BlobFrame::Piece { hash, offset, total, bytes } => {
                body.push(3);
                body.extend_from_slice(hash);
                body.extend_from_slice(&offset.to_be_bytes());
                body.extend_from_slice(&total.to_be_bytes());
                body.extend_from_slice(bytes);
            }
            BlobFrame::Missing(h) => {
                body.push(4);
                body.extend_from_slice(h);
            }
            BlobFrame::Done => body.push(5),
        }
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend(body);
        out
    }

    /// The body's length from a frame's 4-byte prefix, refused over the limit.
    pub fn body_len(prefix: [u8; 4]) -> Result<usize, BlobWireError> {
        let len = u32::from_be_bytes(prefix) as usize;
        if len == 0 || len > MAX_BLOB_FRAME {
            return Err(BlobWireError(format!("a frame of {len} bytes")));
        }
        Ok(len)
    }

    /// Decodes a frame's body (after the length prefix).
    pub fn decode(body: &[u8]) -> Result<BlobFrame, BlobWireError> {
        let bad = |what: &str| BlobWireError(what.to_string());
        let (&kind, rest) = body.split_first().ok_or_else(|| bad("empty"))?;
        let hash = |b: &[u8]| -> Result<[u8; 32], BlobWireError> {
            b.get(..32).and_then(|h| h.try_into().ok()).ok_or_else(|| bad("short hash"))
        };
        let u64_at = |b: &[u8], at: usize| -> Result<u64, BlobWireError> {
            Ok(u64::from_be_bytes(
                b.get(at..at + 8).and_then(|x| x.try_into().ok()).ok_or_else(|| bad("short number"))?,
            ))
        };
        Ok(match kind {
            1 if rest.len() == 14 && &rest[..4] == MAGIC => {
                BlobFrame::Hello { version: u16::from_be_bytes([rest[4], rest[5]]), max_bytes: u64_at(rest, 6)? }
            }
            1 => return Err(bad("not an Ayni blob stream")),
            2 => {
                let n =
                    u32::from_be_bytes(rest.get(..4).and_then(|x| x.try_into().ok()).ok_or_else(|| bad("short want"))?)
                        as usize;
                let items = &rest[4..];
                if n > MAX_WANTS || items.len() != n * 40 {
                    return Err(bad("want of the wrong length"));
                }
                items
                    .chunks(40)
                    .map(|c| Ok((hash(c)?, u64_at(c, 32)?)))
                    .collect::<Result<_, _>>()
                    .map(BlobFrame::Want)?
            }
            3 => BlobFrame::Piece {
                hash: hash(rest)?,
                offset: u64_at(rest, 32)?,
                total: u64_at(rest, 40)?,
                bytes: rest.get(48..).ok_or_else(|| bad("short piece"))?.to_vec(),
            },
            4 if rest.len() == 32 => BlobFrame::Missing(hash(rest)?),
            5 if rest.is_empty() => BlobFrame::Done,
            k => return Err(BlobWireError(format!("unknown frame type {k} of {} bytes", rest.len()))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_decodes_to_itself_and_garbage_is_refused() {
        for f in [
            BlobFrame::Hello { version: BLOB_VERSION, max_bytes: 25_000_000 },
            BlobFrame::Want(vec![([7; 32], 0), ([9; 32], 262_144)]),
            BlobFrame::Piece { hash: [1; 32], offset: 5, total: 9, bytes: vec![1, 2, 3, 4] },
            BlobFrame::Missing([3; 32]),
            BlobFrame::Done,
        ] {
            let bytes = f.encode();
            let len = BlobFrame::body_len(bytes[..4].try_into().unwrap()).unwrap();
            assert_eq!(BlobFrame::decode(&bytes[4..4 + len]).unwrap(), f);
        }
        assert!(BlobFrame::body_len((MAX_BLOB_FRAME as u32 + 1).to_be_bytes()).is_err());
        assert!(BlobFrame::decode(&[2, 0, 0, 0, 2, 1]).is_err());
        assert!(BlobFrame::decode(&[1, b'X', b'Y', b'N', b'S', 0, 1]).is_err());
        assert!(BlobFrame::decode(&[9]).is_err());
        let too_many = BlobFrame::Want(vec![([1; 32], 0); MAX_WANTS + 1]).encode();
        assert!(BlobFrame::decode(&too_many[4..]).is_err(), "a want list longer than the cap");
    }
}
