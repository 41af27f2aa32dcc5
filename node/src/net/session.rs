//! One replication session on one byte stream — a QUIC stream in use, any
//! `AsyncRead`/`AsyncWrite` pair in tests (an in-memory duplex): reading
//! frames with a stall timer, and handing the sans-IO `sync::Session` to
//! the engine for each part it produces and each run of frames it is fed.
//!
//! Owns: the ping-pong of batches on the stream, commits after each batch
//! (and every 256 frames within a long one). Must never: touch the store
//! itself (only the engine does), or wait on the peer without a timer.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::*;

#[derive(Default)]
pub(super) struct Io {
    pub(super) sent: u64,
    pub(super) received: u64,
    /// What the session vouches the peer holds, once it completes.
    pub(super) exchanged: crate::peer_state::Exchanged,
}

/// Whole-document bytes per part of a batch handed to the stream.
const PART_BYTES: usize = 256 * 1024;
/// Bytes written at a time, each within the stall timeout: 16 KiB takes
/// under 3 s even at 50 kbit/s, so only a peer that takes nothing stalls.
const WRITE_CHUNK: usize = 16 * 1024;

/// Reads one frame's length prefix and body; `Ok(None)` when the stream
/// ended before a frame. `Err(Stalled)` when no byte arrives for `stall`: a
/// large frame on a slow link is not a stall as long as bytes keep coming
/// (the timer starts again with every read that brings some). The body
/// grows as bytes arrive, so a hostile length prefix costs no memory up
/// front. `body_len` judges the prefix (each stream has its own limit).
/// Shared by the replication session and the blob stream.
pub(super) async fn read_prefixed<R: AsyncRead + Unpin>(
    recv: &mut R,
    stall: Duration,
    body_len: impl FnOnce([u8; 4]) -> Result<usize, SyncError>,
) -> Result<Option<Vec<u8>>, ReadError> {
    let truncated = || ReadError::Sync(WireError::Truncated("stream ended mid-frame").into());
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match tokio::time::timeout(stall, recv.read(&mut prefix[got..])).await {
            Err(_) => return Err(ReadError::Stalled),
            Ok(Ok(0)) if got == 0 => return Ok(None),
            Ok(Ok(0)) => return Err(truncated()),
            Ok(Ok(n)) => got += n,
            Ok(Err(e)) => return Err(ReadError::from(e)),
        }
    }
    let len = body_len(prefix).map_err(ReadError::Sync)?;
    let mut body = Vec::with_capacity(len.min(1 << 16));
    let mut chunk = vec![0u8; len.min(1 << 16)];
    while body.len() < len {
        let want = (len - body.len()).min(chunk.len());
        match tokio::time::timeout(stall, recv.read(&mut chunk[..want])).await {
            Err(_) => return Err(ReadError::Stalled),
            Ok(Ok(0)) => return Err(truncated()),
            Ok(Ok(n)) => body.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => return Err(ReadError::from(e)),
        }
    }
    Ok(Some(body))
}

/// Reads one replication frame ([`read_prefixed`]).
async fn read_frame<R: AsyncRead + Unpin>(
    recv: &mut R,
    io: &mut Io,
    stall: Duration,
) -> Result<Option<Frame>, ReadError> {
    let Some(body) = read_prefixed(recv, stall, |p| Frame::body_len(p).map_err(SyncError::from)).await? else {
        return Ok(None);
    };
    io.received += 4 + body.len() as u64;
    Frame::decode(&body).map(Some).map_err(|e| ReadError::Sync(e.into()))
}

/// Why no frame was read.
pub(super) enum ReadError {
    /// Nothing arrived for the stall timeout.
    Stalled,
    /// The connection ended.
    Lost(quinn::ConnectionError),
    /// The stream broke or the bytes are not a frame.
    Sync(SyncError),
}

impl ReadError {
    /// As the session reports it: who stalled, was lost or broke the protocol.
    pub(super) fn into_net(self, peer: &str, stall: Duration) -> NetError {
        match self {
            ReadError::Stalled => NetError::Stalled { peer: peer.to_string(), secs: stall.as_secs() },
            ReadError::Lost(reason) => NetError::Lost { peer: peer.to_string(), reason },
            ReadError::Sync(source) => NetError::Sync { peer: peer.to_string(), source },
        }
    }
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> ReadError {
        match lost_connection(&e) {
            Some(c) => ReadError::Lost(c),
            None => ReadError::Sync(SyncError::Protocol(format!("stream: {e}"))),
        }
    }
}

/// The QUIC connection's end behind a stream's I/O error, if that is what
/// it was (quinn's stream errors travel inside `std::io::Error`).
fn lost_connection(e: &std::io::Error) -> Option<quinn::ConnectionError> {
    let inner = e.get_ref()?;
    match (inner.downcast_ref::<quinn::ReadError>(), inner.downcast_ref::<quinn::WriteError>()) {
        (Some(quinn::ReadError::ConnectionLost(c)), _) | (_, Some(quinn::WriteError::ConnectionLost(c))) => {
            Some(c.clone())
        }
        _ => None,
    }
}

/// Runs a session on one stream: the ping-pong of batches described in
/// `sync`. The session's store work (loading documents for a batch,
/// admitting what arrives) is done on the node's engine, a part or a
/// packed run of frames at a time; this task only moves bytes and timers.
/// Received documents are made durable after each batch (and every 256
/// frames within a long one), so a cut connection keeps them. A session
/// that fails on this side tells the peer why in an `Error` frame (the
/// driver then finishes the stream, which alone would read as an end the
/// peer cannot tell from a cut).
pub(super) async fn run_session<W: AsyncWrite + Unpin, R: AsyncRead + Unpin>(
    engine: &Engine,
    role: Role,
    send: &mut W,
    recv: &mut R,
    peer: &str,
    config: &NetConfig,
    progress: &Arc<AtomicU64>,
) -> Result<(Stats, Io), NetError> {
    // the turns, until the session ends or fails
    let outcome: Result<(Stats, Io), NetError> = async {
        let sync_err = |source: SyncError| NetError::Sync { peer: peer.to_string(), source };
        let write_err = |e: std::io::Error| match lost_connection(&e) {
            Some(reason) => NetError::Lost { peer: peer.to_string(), reason },
            None => sync_err(SyncError::Protocol(format!("stream: {e}"))),
        };
        let from = peer.to_string();
        let (session, start) = engine
            .call(Durability::OnDisk, move |node| {
                let start = node.store().feed_written();
                (Session::new(role, *node.id().as_bytes(), &node.sync_store(&from)), start)
            })
            .await?;
        let mut session = session?;
        let mut io = Io::default();
        io.exchanged.start = start;
        let mut my_turn = role == Role::Initiator;
        let mut handled = 0usize;
        loop {
            if my_turn {
                // the batch goes out part by part, so the next part is loaded
                // while the stream window drains the previous one
                let mut done = false;
                while !done {
                    let from = peer.to_string();
                    let (back, part) = engine
                        .call(Durability::OnDisk, move |node| {
                            let part = session.next_part(&node.sync_store(&from), PART_BYTES);
                            (session, part)
                        })
                        .await?;
                    session = back;
                    let Some(frames) = part.map_err(sync_err)? else {
                        return Ok((session.stats().clone(), io));
                    };
                    done = frames.last() == Some(&Frame::End);
                    let buf = crate::sync::wire::encode_batch(&frames);
                    io.sent += buf.len() as u64;
                    // a peer that takes no byte for the stall timeout is gone
                    // (killed mid-session): without this, a write into its full
                    // window waited for QUIC's idle timeout
                    for chunk in buf.chunks(WRITE_CHUNK) {
                        match tokio::time::timeout(config.stall_timeout, send.write_all(chunk)).await {
                            Ok(written) => written.map_err(write_err)?,
                            Err(_) => {
                                commit(engine, peer).await?;
                                return Err(NetError::Stalled {
                                    peer: peer.to_string(),
                                    secs: config.stall_timeout.as_secs(),
                                });
                            }
                        }
                    }
                }
                send.flush().await.map_err(|e| sync_err(SyncError::Protocol(format!("stream: {e}"))))?;
            } else {
                let mut read_in_turn = 0usize;
                loop {
                    let frame = match read_frame(recv, &mut io, config.stall_timeout).await {
                        Ok(frame) => frame,
                        Err(e) => {
                            commit(engine, peer).await?;
                            return Err(e.into_net(peer, config.stall_timeout));
                        }
                    };
                    let Some(frame) = frame else {
                        commit(engine, peer).await?;
                        // the peer finished: the session is over, if that is
                        // where a session ends (else the peer failed, and a
                        // completed sync would be recorded for what it never stored)
                        if read_in_turn == 0 && session.peer_may_end() {
                            return Ok((session.stats().clone(), io));
                        }
                        return Err(sync_err(SyncError::EndedEarly));
                    };
                    read_in_turn += 1;
                    let end = frame == Frame::End;
                    let (from, counter) = (peer.to_string(), progress.clone());
                    let (back, outcome, wrote) = engine
                        .call(Durability::OnDisk, move |node| {
                            let mut store = node.sync_store(&from);
                            let before = handled;
                            let outcome = feed(&mut session, &mut store, frame, &mut handled, &counter).and_then(|d| {
                                if end {
                                    store.commit().map(|()| d).map_err(SyncError::from)
                                } else {
                                    Ok(d)
                                }
                            });
                            (
                                session,
                                outcome.map(|durable| (handled, durable.filter(|_| handled / 256 > before / 256))),
                                store.take_written(),
                            )
                        })
                        .await?;
                    session = back;
                    io.exchanged.wrote.extend(wrote);
                    match outcome {
                        Ok((n, durable)) => {
                            if let Some(docs) = durable {
                                // what `feed` made durable (tests watch for this line)
                                tracing::debug!("stored {docs} document(s) from {peer} so far");
                            }
                            handled = n;
                        }
                        Err(e) => return Err(sync_err(e)),
                    }
                    if end {
                        tracing::debug!("stored {} document(s) from {peer} so far", session.stats().docs_received);
                        break;
                    }
                }
            }
            my_turn = !my_turn;
        }
    }
    .await;
    let why = match &outcome {
        // the peer's own failure, or a stream that is gone: nothing to tell
        Ok(_) | Err(NetError::Lost { .. } | NetError::Stalled { .. }) => None,
        Err(NetError::Sync { source: SyncError::Peer(_) | SyncError::EndedEarly, .. }) => None,
        Err(NetError::Sync { source, .. }) => Some(source.to_string()),
        Err(e) => Some(e.to_string()),
    };
    if let Some(why) = why {
        let mut buf = vec![];
        Frame::Error(1, why).encode(&mut buf);
        let _ = tokio::time::timeout(Duration::from_secs(2), send.write_all(&buf)).await;
    }
    outcome
}

/// Feeds one frame from the stream to the session (a packed run of frames
/// one by one, so long packs of whole documents are still made durable
/// every 256 documents). On error, what arrived before it is made durable.
/// Returns how many documents had been received at the last of those
/// commits, if there was one.
fn feed(
    session: &mut Session,
    store: &mut crate::sync_store::SyncStore<'_>,
    frame: Frame,
    handled: &mut usize,
    progress: &AtomicU64,
) -> Result<Option<u64>, SyncError> {
    let frames = match frame {
        Frame::Zstd(packed) => match crate::sync::wire::unpack(&packed) {
            Ok(fs) if fs.contains(&Frame::End) => Err(SyncError::Protocol("End inside compressed frames".into())),
            other => other.map_err(SyncError::from),
        },
        f => Ok(vec![f]),
    };
    let mut durable = None;
    let outcome = frames.and_then(|frames| {
        super::ahead::each(frames, &mut |item| {
            match item {
                super::ahead::Item::Whole(id, bytes, loaded) => {
                    progress.fetch_add(1, Ordering::Relaxed);
                    session.handle_loaded(id, bytes, loaded, store)?;
                }
                super::ahead::Item::Frame(frame) => {
                    if matches!(frame, Frame::DocSync(..)) {
                        progress.fetch_add(1, Ordering::Relaxed);
                    }
                    session.handle_frame(frame, store)?;
                }
            }
            *handled += 1;
            if *handled % 256 == 0 {
                store.commit()?;
                durable = Some(session.stats().docs_received);
            }
            Ok(())
        })
    });
    if outcome.is_err() {
        store.commit()?;
    } else {
        // the frame's documents, in one batch: durable at the next commit
        store.write_pending()?;
    }
    outcome.map(|()| durable)
}

/// Makes what a session stored so far durable.
async fn commit(engine: &Engine, peer: &str) -> Result<(), NetError> {
    let from = peer.to_string();
    Ok(engine.call(Durability::OnDisk, move |node| node.sync_store(&from).commit()).await??)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::clients::Actor;

    /// Two nodes of one network.
    async fn pair(dir: &std::path::Path) -> (NodeHandle, NodeHandle) {
        let a = NodeHandle::init(&dir.join("a"), "a").unwrap();
        a.create_network("duplex").await.unwrap();
        let b = NodeHandle::init(&dir.join("b"), "b").unwrap();
        let token = a.enroll(b.id(), crate::network::Role::Hq, "b", None, None).await.unwrap().to_token();
        b.join(&token).await.unwrap();
        (a, b)
    }

    /// One session between `a` (initiating) and `b` over an in-memory
    /// duplex of `window` bytes; each side closes its end when done, as
    /// the QUIC driver finishes its stream.
    async fn session_over_duplex(a: &NodeHandle, b: &NodeHandle, window: usize) -> (Stats, Stats) {
        let (a_end, b_end) = tokio::io::duplex(window);
        let ((mut a_read, mut a_write), (mut b_read, mut b_write)) = (tokio::io::split(a_end), tokio::io::split(b_end));
        let (config, progress) = (NetConfig::default(), Arc::new(AtomicU64::new(0)));
        let (a_id, b_id) = (a.id().to_string(), b.id().to_string());
        let initiator = async {
            let r =
                run_session(a.engine(), Role::Initiator, &mut a_write, &mut a_read, &b_id, &config, &progress).await;
            a_write.shutdown().await.unwrap();
            r
        };
        let responder = async {
            let r = run_session(b.engine(), Role::Acceptor, &mut b_write, &mut b_read, &a_id, &config, &progress).await;
            b_write.shutdown().await.unwrap();
            r
        };
        let (ra, rb) = tokio::join!(initiator, responder);
        (ra.unwrap().0, rb.unwrap().0)
    }

    /// `n` teams created on `node`, `T0`, `T1`…
    async fn teams(node: &NodeHandle, n: usize) {
        for i in 0..n {
            let team = json!({"name": format!("Equipo {i}")});
            node.create(&Actor::Node, "team", Some(&format!("T{i}")), team).await.unwrap();
        }
    }

    /// `a` starts a session with `b` by hand: its first batch, `b`'s answer
    /// read whole, then `then` (frames of a next batch, no `End`), and its
    /// stream ends. Returns `b`'s answer, what `b` sent after it, and how
    /// `b`'s session ended.
    async fn cut_session(
        a: &NodeHandle,
        b: &NodeHandle,
        then: Vec<Frame>,
    ) -> ((Vec<Frame>, Vec<Frame>), Result<Stats, String>) {
        let (a_end, b_end) = tokio::io::duplex(64 * 1024);
        let ((mut a_read, mut a_write), (mut b_read, mut b_write)) = (tokio::io::split(a_end), tokio::io::split(b_end));
        let (config, progress) = (NetConfig::default(), Arc::new(AtomicU64::new(0)));
        let (a_id, b_id) = (a.id().to_string(), b.id().to_string());
        let initiator = async {
            let first = a
                .engine()
                .call(Durability::OnDisk, move |node| {
                    let store = node.sync_store(&b_id);
                    let mut session = Session::new(Role::Initiator, *node.id().as_bytes(), &store).unwrap();
                    session.next_batch(&store).unwrap().unwrap()
                })
                .await
                .unwrap();
            a_write.write_all(&crate::sync::wire::encode_batch(&first)).await.unwrap();
            let mut answer = vec![];
            let mut io = Io::default();
            while let Ok(Some(frame)) = read_frame(&mut a_read, &mut io, config.stall_timeout).await {
                let end = frame == Frame::End;
                answer.push(frame);
                if end {
                    break;
                }
            }
            a_write.write_all(&crate::sync::wire::encode_batch(&then)).await.unwrap();
            a_write.shutdown().await.unwrap();
            let mut after = vec![];
            while let Ok(Some(frame)) = read_frame(&mut a_read, &mut io, config.stall_timeout).await {
                after.push(frame);
            }
            (answer, after)
        };
        let responder = async {
            let r = run_session(b.engine(), Role::Acceptor, &mut b_write, &mut b_read, &a_id, &config, &progress).await;
            b_write.shutdown().await.unwrap();
            r.map(|(stats, _)| stats).map_err(|e| e.to_string())
        };
        tokio::join!(initiator, responder)
    }

    /// A peer that fails on its side ends its stream without answering
    /// (the QUIC driver finishes its stream whatever the outcome), or
    /// within its next batch. Neither is a completed session: the node
    /// would record that the peer holds what it sent (`bundle export
    /// --since`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_ended_before_its_answer_is_no_completed_session() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = pair(dir.path()).await;
        teams(&b, 3).await;
        // `b` answers with what `a` owes an answer to (its documents); `a` stops
        let ((answer, _), outcome) = cut_session(&a, &b, vec![]).await;
        assert!(answer.iter().any(|f| !matches!(f, Frame::Hello(_) | Frame::End)), "{answer:?}");
        let err = outcome.expect_err("a session cut short was taken for a completed one");
        assert!(err.contains("ended the session early"), "{err}");

        // a whole session between the two completes, both ways
        let (sent, received) = session_over_duplex(&b, &a, 64 * 1024).await;
        assert_eq!((sent.docs_sent, received.docs_received), (3, 3), "{sent:?} {received:?}");
        session_over_duplex(&a, &b, 64 * 1024).await;

        // in step: `b` answers with nothing to answer, where `a` may end the
        // session; `a` begins a batch instead, and its stream ends within it
        let ((answer, after), outcome) = cut_session(&a, &b, vec![Frame::Want(vec![])]).await;
        assert!(answer.iter().all(|f| matches!(f, Frame::Hello(_) | Frame::End)), "{answer:?}");
        let err = outcome.expect_err("a batch cut short was taken for the end of the session");
        assert!(err.contains("ended the session early"), "{err}");
        // (the peer's own failure is not echoed back to it)
        assert!(after.is_empty(), "{after:?}");

        // a session that fails on `b`'s side tells `a` why
        let garbage = Frame::DocSync(crate::id::DocumentId::random().unwrap(), vec![1, 2, 3]);
        let ((_, after), outcome) = cut_session(&a, &b, vec![garbage]).await;
        let err = outcome.expect_err("a bad sync message is an error");
        assert!(err.contains("bad sync message"), "{err}");
        assert!(matches!(after.as_slice(), [Frame::Error(_, why)] if why.contains("bad sync message")), "{after:?}");
        // where the session may end, it ends
        let ((_, after), outcome) = cut_session(&a, &b, vec![]).await;
        assert!(outcome.is_ok() && after.is_empty(), "{outcome:?} {after:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_driver_syncs_over_any_byte_stream() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = pair(dir.path()).await;
        teams(&a, 30).await;
        // a small window: frames arrive and leave in many partial reads and writes
        let (sent, received) = session_over_duplex(&a, &b, 1024).await;
        assert_eq!(sent.docs_sent, 30, "{sent:?}");
        assert_eq!(received.docs_received, 30, "{received:?}");
        assert_eq!(b.list(&Actor::Node, "team", vec![]).await.unwrap().len(), 30);

        // a change on the receiving side goes back the other way, by automerge's sync
        let set = vec![("name".to_string(), json!("Equipo siete"))];
        b.set(&Actor::Node, "team:T7", set).await.unwrap();
        let (_, back) = session_over_duplex(&b, &a, 64 * 1024).await;
        assert_eq!(back.docs_received, 1, "{back:?}");
        assert_eq!(a.get(&Actor::Node, "team:T7").await.unwrap().fields["name"], "Equipo siete");

        // nothing left to exchange: no document moves
        let (quiet, _) = session_over_duplex(&a, &b, 64 * 1024).await;
        assert_eq!((quiet.docs_sent, quiet.docs_received), (0, 0), "{quiet:?}");
    }
}
