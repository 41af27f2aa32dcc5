//! The blob stream: after a replication session of protocol version 4 or
//! later, a second stream on the same connection where both sides fetch
//! the blobs their records reference and the other holds — documents
//! first, photos after, so a slow link delivers the records before them.
//!
//! Owns: moving `sync::blob_wire` frames with a stall timer, reading and
//! writing pieces beside the engine (blob files are not store work), and
//! the policy (`--blobs none`: neither ask nor send). Must never: keep a
//! blob before all of it arrived and verified (`Blobs::append`), or ask
//! for more than the node's limit. An interrupted transfer leaves its
//! bytes in `blobs/partial/`, and the next session asks from there.

use std::collections::HashSet;

use super::*;
use crate::blobs::{hash_hex, Arrival};
use crate::sync::blob_wire::{BlobFrame, BLOB_VERSION, MAX_WANTS, PIECE};

/// Blobs some session of this process is receiving: another session does
/// not ask for them meanwhile (two transfers into one partial file would
/// spoil each other).
fn receiving() -> &'static std::sync::Mutex<HashSet<[u8; 32]>> {
    static SET: std::sync::OnceLock<std::sync::Mutex<HashSet<[u8; 32]>>> = std::sync::OnceLock::new();
    SET.get_or_init(Default::default)
}

/// The blobs this session claimed, released when it ends however it ends.
struct Claimed(Vec<[u8; 32]>);

impl Drop for Claimed {
    fn drop(&mut self) {
        if let Ok(mut set) = receiving().lock() {
            for h in &self.0 {
                set.remove(h);
            }
        }
    }
}

/// Whether this node exchanges blobs with its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlobPolicy {
    /// Ask for every blob its records reference; send any blob asked for.
    #[default]
    Referenced,
    /// Neither ask nor send (a laptop on a metered link).
    None,
}

/// What one blob exchange moved.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BlobStats {
    /// Blobs received whole and verified.
    pub received: u64,
    /// Blob bytes received (pieces).
    pub bytes_received: u64,
    /// Blobs sent (whole or from where the peer's transfer stopped).
    pub sent: u64,
    /// Blob bytes sent.
    pub bytes_sent: u64,
    /// Blobs refused whole (wrong hash, over the limit, a media type not taken).
    pub refused: u64,
}

fn protocol(peer: &str, what: String) -> NetError {
    NetError::Sync { peer: peer.to_string(), source: SyncError::Protocol(format!("blob stream: {what}")) }
}

/// One blob frame, with the session's stall timer: a piece on a slow link
/// takes longer than the timeout to arrive, and that is not a stall while
/// its bytes keep coming.
async fn read(recv: &mut quinn::RecvStream, stall: Duration, peer: &str) -> Result<Option<BlobFrame>, NetError> {
    let body_len = |p| BlobFrame::body_len(p).map_err(|e| SyncError::Protocol(e.to_string()));
    match session::read_prefixed(recv, stall, body_len).await {
        Ok(Some(body)) => BlobFrame::decode(&body).map(Some).map_err(|e| protocol(peer, e.to_string())),
        Ok(None) => Ok(None),
        Err(session::ReadError::Sync(e)) => Err(protocol(peer, e.to_string())),
        Err(e) => Err(e.into_net(peer, stall)),
    }
}

async fn write(send: &mut quinn::SendStream, frame: &BlobFrame, stall: Duration, peer: &str) -> Result<u64, NetError> {
    let bytes = frame.encode();
    for chunk in bytes.chunks(16 * 1024) {
        match tokio::time::timeout(stall, send.write_all(chunk)).await {
            Err(_) => return Err(NetError::Stalled { peer: peer.to_string(), secs: stall.as_secs() }),
            Ok(Err(quinn::WriteError::ConnectionLost(reason))) => {
                return Err(NetError::Lost { peer: peer.to_string(), reason })
            }
            Ok(Err(e)) => return Err(protocol(peer, e.to_string())),
            Ok(Ok(())) => {}
        }
    }
    Ok(bytes.len() as u64)
}

/// Runs one blob exchange on its stream (both sides alike). An exchange
/// that fails resets our end: dropped unfinished, quinn would finish it,
/// and the peer would take that for "all you sent has arrived".
pub(super) async fn run_blobs(
    engine: &Engine,
    conn: &quinn::Connection,
    send: &mut quinn::SendStream,
    recv: &mut quinn::RecvStream,
    peer: &str,
    config: &NetConfig,
) -> Result<BlobStats, NetError> {
    let outcome = exchange(engine, conn, send, recv, peer, config).await;
    if outcome.is_err() {
        let _ = send.reset(1u32.into());
    }
    outcome
}

async fn exchange(
    engine: &Engine,
    conn: &quinn::Connection,
    send: &mut quinn::SendStream,
    recv: &mut quinn::RecvStream,
    peer: &str,
    config: &NetConfig,
) -> Result<BlobStats, NetError> {
    let stall = config.stall_timeout;
    let all = match config.blobs {
        BlobPolicy::Referenced => engine.read(|n| n.blob_wants()).await??,
        BlobPolicy::None => vec![],
    };
    // at most MAX_WANTS, none another session is already receiving
    let claimed = {
        let mut set = receiving().lock().map_err(|_| crate::Error::Internal("blob claims lock".into()))?;
        Claimed(all.iter().map(|(h, _)| *h).filter(|h| set.insert(*h)).take(MAX_WANTS).collect())
    };
    let mine: HashSet<[u8; 32]> = claimed.0.iter().copied().collect();
    let wants: Vec<([u8; 32], u64)> = all.into_iter().filter(|(h, _)| mine.contains(h)).collect();
    let (theirs_tx, theirs_rx) = tokio::sync::oneshot::channel::<(u64, Vec<([u8; 32], u64)>)>();
    let blobs = engine.reader().blobs();
    let limits = config.blob_limits.clone();

    // what we send: hello, our wants, then the answers to theirs
    let sending = async {
        let mut stats = BlobStats::default();
        let hello = BlobFrame::Hello { version: BLOB_VERSION, max_bytes: limits.max_bytes };
        write(send, &hello, stall, peer).await?;
        write(send, &BlobFrame::Want(wants.clone()), stall, peer).await?;
        let Ok((their_max, theirs)) = theirs_rx.await else { return Ok(stats) };
        for (hash, mut offset) in theirs {
            let hex = hash_hex(&hash);
            let mut sent_any = false;
            loop {
                let piece = match config.blobs {
                    BlobPolicy::None => None,
                    BlobPolicy::Referenced => {
                        let (b, h) = (blobs.clone(), hex.clone());
                        tokio::task::spawn_blocking(move || b.read_at(&h, offset, PIECE))
                            .await
                            .map_err(|e| crate::Error::Internal(e.to_string()))??
                    }
                };
                // not here, damaged, or larger than the peer takes: not sent
                let Some((bytes, total)) = piece.filter(|(_, total)| *total <= their_max) else {
                    write(send, &BlobFrame::Missing(hash), stall, peer).await?;
                    break;
                };
                let len = bytes.len() as u64;
                stats.bytes_sent += len;
                write(send, &BlobFrame::Piece { hash, offset, total, bytes }, stall, peer).await?;
                sent_any = true;
                offset += len;
                if offset >= total || len == 0 {
                    break;
                }
            }
            if sent_any {
                stats.sent += 1;
            }
        }
        write(send, &BlobFrame::Done, stall, peer).await?;
        Ok::<BlobStats, NetError>(stats)
    };

    // what we receive: their hello and wants, then the answers to ours
    let receiving = async {
        let mut stats = BlobStats::default();
        let their_max = match read(recv, stall, peer).await? {
            Some(BlobFrame::Hello { version, max_bytes }) if version == BLOB_VERSION => max_bytes,
            other => return Err(protocol(peer, format!("expected Hello version {BLOB_VERSION}, got {other:?}"))),
        };
        match read(recv, stall, peer).await? {
            Some(BlobFrame::Want(list)) => {
                let _ = theirs_tx.send((their_max, list));
            }
            other => return Err(protocol(peer, format!("expected Want, got {other:?}"))),
        }
        let asked: HashSet<[u8; 32]> = wants.iter().map(|(h, _)| *h).collect();
        let mut refused: HashSet<[u8; 32]> = HashSet::new();
        loop {
            match read(recv, stall, peer).await? {
                Some(BlobFrame::Done) | None => break,
                Some(BlobFrame::Missing(_)) => {}
                Some(BlobFrame::Piece { hash, offset, total, bytes }) => {
                    if !asked.contains(&hash) {
                        return Err(protocol(peer, format!("a piece of {} we did not ask for", hash_hex(&hash))));
                    }
                    stats.bytes_received += bytes.len() as u64;
                    if refused.contains(&hash) {
                        continue;
                    }
                    let (b, l, hex) = (blobs.clone(), limits.clone(), hash_hex(&hash));
                    let arrival = tokio::task::spawn_blocking(move || b.append(&hex, offset, total, &bytes, &l))
                        .await
                        .map_err(|e| crate::Error::Internal(e.to_string()))?;
                    match arrival {
                        Ok(Arrival::Complete(_)) => stats.received += 1,
                        Ok(Arrival::Partial(_)) => {}
                        Err(e) if e.is_invalid_input() => {
                            tracing::warn!("blob {} from {peer} refused whole: {e}", hash_hex(&hash));
                            let _ = std::fs::remove_file(blobs.partial_path(&hash_hex(&hash)));
                            refused.insert(hash);
                            stats.refused += 1;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Some(other) => return Err(protocol(peer, format!("unexpected {other:?}"))),
            }
        }
        Ok::<BlobStats, NetError>(stats)
    };
    let (sent, received) = tokio::join!(sending, receiving);
    let (sent, received) = (sent?, received?);
    // our end says "all you sent has arrived"; the peer's end says the
    // same of what we sent, so neither side closes with pieces in flight
    let _ = send.finish();
    peer_end(conn, send, recv, stall, peer).await?;
    Ok(BlobStats { sent: sent.sent, bytes_sent: sent.bytes_sent, ..received })
}

/// Waits until the peer has all we sent and our end, then for its end.
///
/// First our bytes acknowledged: on a slow link that takes longer than the
/// stall timeout while nothing comes on the stream, only the peer's
/// acknowledgements, so here a stall is a whole stall period without any
/// datagram from the peer. It ends however the peer's application
/// behaves, because what is left to acknowledge fits in the peer's receive
/// window (each write waited for room in it under the stall timer); a
/// peer that closed the connection as done (code 0) has read our `Done`.
/// Then the peer's end, which it sends once it has read our `Done`, under
/// the stall timer of any frame. The side that closes the connection next
/// must not close it on an end still in flight: the peer would see
/// "connection lost" where the exchange had ended.
async fn peer_end(
    conn: &quinn::Connection,
    send: &quinn::SendStream,
    recv: &mut quinn::RecvStream,
    stall: Duration,
    peer: &str,
) -> Result<(), NetError> {
    let acknowledged = send.stopped();
    tokio::pin!(acknowledged);
    let mut heard = conn.stats().udp_rx.datagrams;
    loop {
        match tokio::time::timeout(stall, &mut acknowledged).await {
            // all acknowledged, or the peer stopped reading (its end says why)
            Ok(Ok(_)) => break,
            // closed as done before our acknowledgements got back to us
            Ok(Err(quinn::StoppedError::ConnectionLost(quinn::ConnectionError::ApplicationClosed(c))))
                if c.error_code == 0u32.into() =>
            {
                break
            }
            Ok(Err(quinn::StoppedError::ConnectionLost(reason))) => {
                return Err(NetError::Lost { peer: peer.to_string(), reason })
            }
            Ok(Err(e)) => return Err(protocol(peer, e.to_string())),
            Err(_) => {
                let now = conn.stats().udp_rx.datagrams;
                if now == heard {
                    return Err(NetError::Stalled { peer: peer.to_string(), secs: stall.as_secs() });
                }
                heard = now;
            }
        }
    }
    match read(recv, stall, peer).await? {
        None => Ok(()),
        Some(other) => Err(protocol(peer, format!("{other:?} after Done"))),
    }
}
