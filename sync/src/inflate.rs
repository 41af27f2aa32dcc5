//! Bounded inflation: how large an automerge byte string from elsewhere — a
//! document, changes, a sync message — becomes once inflated, counted
//! before automerge inflates it. automerge inflates compressed changes and
//! compressed document columns with no limit, so a few kilobytes of
//! deflate bomb in a client's WebSocket frame, a peer's sync message or a
//! bundle would take the serving process's memory.
//!
//! Owns: reading just enough of automerge's binary formats (chunk headers,
//! a document's column metadata, a sync message's list of changes) to find
//! the compressed parts, and inflating each into a counter, up to a limit.
//! Must never: keep what it inflates, or call a byte string safe that it
//! cannot read (it refuses it; automerge would refuse it too).

use std::io::Read;

/// The most an automerge byte string from elsewhere may inflate to: far
/// above a record's history (a record is at most 1 MiB of JSON), far below
/// what would hurt a serving node.
pub const MAX_INFLATED: u64 = 64 * 1024 * 1024;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// A column spec's "deflated" bit.
const DEFLATE: u64 = 0b1000;

/// Why a byte string is refused.
fn bomb(limit: u64) -> String {
    format!(
        "it inflates to more than {} MiB (a compression bomb, or a document far larger than any record)",
        limit >> 20
    )
}

/// A cursor over bytes from elsewhere.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn uleb(&mut self) -> Result<u64, String> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first().ok_or("truncated")?;
            self.0 = rest;
            out |= u64::from(b & 0x7f).checked_shl(shift).ok_or("a number too large")?;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err("a number too large".into())
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).map_err(|_| "a length too large")?;
        if n > self.0.len() {
            return Err("truncated".into());
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(taken)
    }
}

/// Inflates `data` (raw DEFLATE) into a counter; adds what it became to
/// `total`, refusing past `limit`.
fn inflate(data: &[u8], total: &mut u64, limit: u64) -> Result<(), String> {
    let room = limit.saturating_sub(*total);
    let mut decoder = flate2::read::DeflateDecoder::new(data).take(room + 1);
    let n = std::io::copy(&mut decoder, &mut std::io::sink())
        .map_err(|e| format!("a compressed part does not inflate: {e}"))?;
    *total += n;
    if n > room {
        return Err(bomb(limit));
    }
    Ok(())
}

/// The columns of a document chunk: (spec, length) of each.
fn columns(c: &mut Cursor<'_>) -> Result<Vec<(u64, u64)>, String> {
    let n = c.uleb()?;
    let mut out = vec![];
    for _ in 0..n {
        let spec = c.uleb()?;
        let len = c.uleb()?;
        if out.len() > 4096 {
            return Err("too many columns".into());
        }
        out.push((spec, len));
    }
    Ok(out)
}

/// A document chunk's body: its compressed columns inflated.
fn document(data: &[u8], total: &mut u64, limit: u64) -> Result<(), String> {
    let mut c = Cursor(data);
    let actors = c.uleb()?;
    for _ in 0..actors {
        let len = c.uleb()?;
        c.take(len)?;
    }
    let heads = c.uleb()?;
    c.take(heads.checked_mul(32).ok_or("too many heads")?)?;
    let change_cols = columns(&mut c)?;
    let op_cols = columns(&mut c)?;
    for (spec, len) in change_cols.into_iter().chain(op_cols) {
        let col = c.take(len)?;
        *total += len;
        if spec & DEFLATE != 0 {
            inflate(col, total, limit)?;
        }
        if *total > limit {
            return Err(bomb(limit));
        }
    }
    Ok(())
}

/// Checks automerge chunks (a saved document, changes, or both, one after
/// another) inflate to no more than `limit` bytes; returns how much.
pub fn chunks(bytes: &[u8], limit: u64) -> Result<u64, String> {
    let mut total = 0;
    let mut c = Cursor(bytes);
    while !c.0.is_empty() {
        if c.take(4)? != MAGIC {
            return Err("not an automerge chunk".into());
        }
        c.take(4)?; // checksum
        let kind = c.take(1)?[0];
        let len = c.uleb()?;
        let data = c.take(len)?;
        total += len;
        match kind {
            0 => document(data, &mut total, limit)?,
            1 => {} // a change: its columns are never compressed
            2 => inflate(data, &mut total, limit)?,
            other => return Err(format!("automerge chunk type {other} is not accepted here")),
        }
        if total > limit {
            return Err(bomb(limit));
        }
    }
    Ok(total)
}

/// Checks an automerge sync message: every change or document it carries
/// inflates, all together, to no more than `limit` bytes.
pub fn sync_message(bytes: &[u8], limit: u64) -> Result<u64, String> {
    let mut c = Cursor(bytes);
    c.take(1)?; // version
    for _ in 0..2 {
        let n = c.uleb()?; // heads, need
        c.take(n.checked_mul(32).ok_or("too many hashes")?)?;
    }
    let haves = c.uleb()?;
    for _ in 0..haves {
        let n = c.uleb()?;
        c.take(n.checked_mul(32).ok_or("too many hashes")?)?;
        let bloom = c.uleb()?;
        c.take(bloom)?;
    }
    let changes = c.uleb()?;
    let mut total = 0;
    for _ in 0..changes {
        let len = c.uleb()?;
        total += chunks(c.take(len)?, limit - total.min(limit))?;
        if total > limit {
            return Err(bomb(limit));
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{sync::SyncDoc, Automerge, ROOT};

    fn doc(text_len: usize) -> Automerge {
        let mut d = Automerge::new();
        let mut tx = d.transaction();
        for i in 0..text_len {
            tx.put(ROOT, format!("k{i}"), "x".repeat(50)).unwrap();
        }
        tx.commit();
        d
    }

    #[test]
    fn real_documents_changes_and_sync_messages_pass_and_are_counted() {
        let d = doc(400);
        let saved = d.save();
        let n = chunks(&saved, MAX_INFLATED).unwrap();
        assert!(n as usize > saved.len(), "compressed columns counted as inflated: {n} vs {}", saved.len());
        let changes: Vec<u8> = d.get_changes(&[]).iter().flat_map(|c| c.raw_bytes().to_vec()).collect();
        chunks(&changes, MAX_INFLATED).unwrap();
        let mut state = automerge::sync::State::new();
        let msg = d.generate_sync_message(&mut state).unwrap().encode();
        sync_message(&msg, MAX_INFLATED).unwrap();
        // a smaller limit refuses the same bytes, naming why
        assert!(chunks(&saved, 1000).unwrap_err().contains("inflates to more than"));
    }

    /// `n` as an unsigned LEB128, as automerge writes lengths.
    fn uleb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { b } else { b | 0x80 });
            if n == 0 {
                return;
            }
        }
    }

    #[test]
    fn a_compressed_change_that_inflates_past_the_limit_is_refused_before_automerge_reads_it() {
        use std::io::Write;
        let mut enc = flate2::write::DeflateEncoder::new(vec![], flate2::Compression::best());
        enc.write_all(&vec![0u8; 8 << 20]).unwrap();
        let body = enc.finish().unwrap();
        assert!(body.len() < 64 * 1024, "a bomb is small: {}", body.len());
        let mut chunk = MAGIC.to_vec();
        chunk.extend([0, 0, 0, 0, 2]);
        uleb(body.len(), &mut chunk);
        chunk.extend(&body);
        assert!(chunks(&chunk, 4 << 20).unwrap_err().contains("inflates to more than 4 MiB"));
        // the same inside a sync message, as a client or a peer would send it
        let mut msg = vec![0x42, 0, 0, 0, 1];
        uleb(chunk.len(), &mut msg);
        msg.extend(&chunk);
        assert!(automerge::sync::Message::decode(&msg).is_ok(), "automerge would take it");
        assert!(sync_message(&msg, 4 << 20).unwrap_err().contains("inflates to more than"));
        assert!(chunks(&chunk[..chunk.len() - 10], 4 << 20).is_err(), "a truncated chunk is refused");
        assert!(chunks(b"not automerge", MAX_INFLATED).is_err());
    }
}
