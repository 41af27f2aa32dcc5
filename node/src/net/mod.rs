//! The network edge: QUIC (quinn, rustls) endpoints that admit only
//! enrolled members of this node's network and drive replication
//! [`Session`]s over one bidirectional stream per connection.
//!
//! Owns: sockets, TLS configuration, framing on streams, timeouts, the
//! `serve` loop with its reconnects and local discovery. Must never:
//! contain protocol logic; every decision about what to send is the
//! session's.

mod ahead;
mod blobs;
pub mod serve;
mod session;
pub mod tls;

pub use blobs::{BlobPolicy, BlobStats};

/// The first protocol version whose sessions are followed by a blob stream.
pub const BLOB_STREAM_VERSION: u16 = 4;

use session::run_session;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::engine::{Durability, Engine, EngineGone};
use crate::handle::NodeHandle;
use crate::identity::NodeId;
use crate::replica::PeerInfo;
use crate::sync::wire::{Frame, WireError};
use crate::sync::{DocStore, Role, Session, Stats, SyncError};

/// ALPN of the replication protocol (QUIC); the wire version is negotiated
/// inside the stream (see `sync::wire`).
pub const ALPN: &[u8] = b"ayni-sync";
/// Default UDP port.
pub const DEFAULT_PORT: u16 = 7420;

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// This node cannot take part yet.
    #[error("{0}")]
    NotReady(String),
    /// Binding or socket failure.
    #[error("socket {addr}: {source}")]
    Socket {
        /// The address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The connection could not be made or was refused in the handshake.
    #[error("peer {addr}: {reason}")]
    Connect {
        /// Peer address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The session failed.
    #[error("sync with {peer}: {source}")]
    Sync {
        /// Peer (node ID or address).
        peer: String,
        /// Cause.
        #[source]
        source: SyncError,
    },
    /// The connection ended under the session.
    #[error("sync with {peer}: connection lost: {reason}")]
    Lost {
        /// Peer.
        peer: String,
        /// How it ended.
        reason: quinn::ConnectionError,
    },
    /// The peer sent nothing for too long.
    #[error("sync with {peer}: the peer stalled (nothing received for {secs} s)")]
    Stalled {
        /// Peer.
        peer: String,
        /// The timeout.
        secs: u64,
    },
    /// A node error (storage…).
    #[error(transparent)]
    Node(#[from] crate::Error),
    /// The node's engine stopped.
    #[error(transparent)]
    Engine(#[from] EngineGone),
}

/// Transport tuning.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// How long a peer may send nothing, or take nothing we send, mid-session before it is dropped.
    pub stall_timeout: Duration,
    /// QUIC idle timeout.
    pub idle_timeout: Duration,
    /// QUIC keep-alive interval.
    pub keep_alive: Duration,
    /// Congestion control and loss detection.
    pub transport: Transport,
    /// Whether blobs are fetched and sent after each session.
    pub blobs: BlobPolicy,
    /// What a blob fetched from a peer may be.
    pub blob_limits: crate::blobs::Limits,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            stall_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            keep_alive: Duration::from_secs(10),
            transport: Transport::FIELD,
            blobs: BlobPolicy::default(),
            blob_limits: crate::blobs::Limits::default(),
        }
    }
}

/// Which congestion controller QUIC runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Congestion {
    /// Loss-based (quinn's default): halves its window at every loss.
    Cubic,
    /// Model-based: paces at the measured bottleneck rate, so random loss
    /// on a radio or satellite link does not collapse throughput.
    Bbr,
}

/// The QUIC settings that decide how a sync behaves on a bad link
/// (figures for each in BENCHMARKS.md, "Degraded links").
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    /// Congestion controller.
    pub congestion: Congestion,
    /// Packets received after a later one before it counts as lost.
    pub packet_threshold: u32,
    /// Time, in RTTs, after a later packet before one counts as lost.
    pub time_threshold: f32,
    /// RTT assumed before the first measurement.
    pub initial_rtt: Duration,
    /// Bytes a peer may send on the sync stream ahead of what this side
    /// has read. It also bounds what is still in flight once a batch is
    /// written, and so how long the writer then waits for the reply before
    /// its stall timer may fire: 128 KiB drain in 16 s at 64 kbit/s, well
    /// inside the default 30 s.
    pub stream_window: u32,
}

impl Transport {
    /// quinn's defaults (the baseline of the link benchmarks).
    pub const QUINN_DEFAULTS: Transport = Transport {
        congestion: Congestion::Cubic,
        packet_threshold: 3,
        time_threshold: 9.0 / 8.0,
        initial_rtt: Duration::from_millis(333),
        stream_window: 1_250_000,
    };
    /// Tuned for the field profiles: BBR, loss detection that tolerates
    /// the reordering and jitter of radio links, and a stream window small
    /// enough to drain within the stall timeout on a 2G link.
    pub const FIELD: Transport = Transport {
        congestion: Congestion::Bbr,
        packet_threshold: 5,
        time_threshold: 1.5,
        initial_rtt: Duration::from_millis(333),
        stream_window: 128 * 1024,
    };
}

/// What one sync did (`ayni sync --json`).
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    /// The peer's node ID.
    pub peer: String,
    /// Documents this side sent changes for.
    pub docs_sent: u64,
    /// Documents that gained changes here.
    pub docs_received: u64,
    /// Changes sent.
    pub changes_sent: u64,
    /// Changes new here.
    pub changes_received: u64,
    /// Application bytes written on the stream.
    pub bytes_sent: u64,
    /// Application bytes read from the stream.
    pub bytes_received: u64,
    /// Round trips (batches received by this side).
    pub round_trips: u64,
    /// Wall time.
    pub duration_ms: u64,
    /// The blob exchange after the documents.
    pub blobs: BlobStats,
    /// UDP payload bytes sent by quinn on the connection.
    pub udp_tx_bytes: u64,
    /// UDP payload bytes received by quinn on the connection.
    pub udp_rx_bytes: u64,
    /// Membership records learned.
    pub members_learned: u64,
}

/// An accept loop running in the background
/// ([`Endpoint::serve_in_background`]).
pub struct Serving {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Serving {
    /// Stops accepting and waits for the loop to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// A node's QUIC endpoint.
pub struct Endpoint {
    engine: Engine,
    endpoint: quinn::Endpoint,
    config: NetConfig,
    progress: Arc<AtomicU64>,
}

fn transport(config: &NetConfig) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(quinn::IdleTimeout::try_from(config.idle_timeout).ok());
    t.keep_alive_interval(Some(config.keep_alive));
    let tr = config.transport;
    if tr.congestion == Congestion::Bbr {
        t.congestion_controller_factory(Arc::new(quinn::congestion::BbrConfig::default()));
    }
    t.packet_threshold(tr.packet_threshold);
    t.time_threshold(tr.time_threshold);
    t.initial_rtt(tr.initial_rtt);
    t.stream_receive_window(tr.stream_window.into());
    Arc::new(t)
}

impl Endpoint {
    /// Binds a UDP socket for the node `handle` runs, which must be
    /// enrolled in a network; every session's store work goes through its
    /// engine.
    pub fn bind(handle: &NodeHandle, listen: SocketAddr, config: NetConfig) -> Result<Endpoint, NetError> {
        let engine = handle.engine().clone();
        let node = engine.reader().clone();
        let network = node.network()?.ok_or_else(|| {
            NetError::NotReady(
                "this node belongs to no network: run `ayni network create` (HQ) or `ayni join TOKEN`".into(),
            )
        })?;
        let membership = node
            .membership()?
            .ok_or_else(|| NetError::NotReady("this node is not enrolled: run `ayni join TOKEN`".into()))?;
        let (cert, key) = tls::identity(node.secret(), &membership).map_err(NetError::NotReady)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(tls::PeerVerifier::new(
            network,
            Arc::new(tls::NotRevoked(Arc::downgrade(&node))),
            provider.clone(),
        ));
        let tls_err = |e: rustls::Error| NetError::NotReady(format!("TLS configuration: {e}"));

        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_err)?
            .with_client_cert_verifier(verifier.clone())
            .with_single_cert(vec![cert.clone()], key.clone_key())
            .map_err(tls_err)?;
        server.alpn_protocols = vec![ALPN.to_vec()];
        let server = QuicServerConfig::try_from(server).map_err(|e| NetError::NotReady(format!("QUIC: {e}")))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server));
        server.transport_config(transport(&config));

        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_err)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(vec![cert], key)
            .map_err(tls_err)?;
        client.alpn_protocols = vec![ALPN.to_vec()];
        let client = QuicClientConfig::try_from(client).map_err(|e| NetError::NotReady(format!("QUIC: {e}")))?;
        let mut client = quinn::ClientConfig::new(Arc::new(client));
        client.transport_config(transport(&config));

        let mut endpoint =
            quinn::Endpoint::server(server, listen).map_err(|source| NetError::Socket { addr: listen, source })?;
        endpoint.set_default_client_config(client);
        Ok(Endpoint { engine, endpoint, config, progress: Arc::new(AtomicU64::new(0)) })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.endpoint.local_addr().map_err(|source| NetError::Socket { addr: ([0, 0, 0, 0], 0).into(), source })
    }

    /// Document frames received so far (for progress displays).
    pub fn progress(&self) -> Arc<AtomicU64> {
        self.progress.clone()
    }

    /// The node, as readers see it.
    pub(crate) fn node(&self) -> &Arc<crate::node::Reader> {
        self.engine.reader()
    }

    /// The node's engine.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Notes something about a peer, on the engine.
    async fn note_peer(&self, peer: NodeId, addr: String, f: impl FnOnce(&mut PeerInfo) + Send + 'static) {
        let _ = self.engine.call(Durability::Deferred, move |node| node.note_peer(Some(peer), &addr, f)).await;
    }

    /// The peer's node ID from its certificate; its membership is recorded.
    async fn peer_node(&self, conn: &quinn::Connection) -> Result<NodeId, NetError> {
        let addr = conn.remote_address();
        let certs = conn
            .peer_identity()
            .and_then(|i| i.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>().ok())
            .ok_or_else(|| NetError::Connect { addr, reason: "no peer certificate".into() })?;
        let cert =
            certs.first().ok_or_else(|| NetError::Connect { addr, reason: "no peer certificate".into() })?.clone();
        self.engine
            .call(Durability::OnDisk, move |node| {
                let network = node.network()?.ok_or_else(|| NetError::NotReady("no network".into()))?;
                let (id, m) = tls::peer_of(&cert, &network).map_err(|reason| NetError::Connect { addr, reason })?;
                // the peer's membership replicates like any other
                let _ = node.accept_member(&m.bytes);
                Ok(id)
            })
            .await?
    }

    /// One sync with the peer at `addr`, as initiator.
    pub async fn sync_with(&self, addr: SocketAddr) -> Result<SyncReport, NetError> {
        self.sync_with_stall(addr, self.config.stall_timeout, self.config.blobs).await
    }

    /// [`Endpoint::sync_with`], dropping the peer when it sends (or takes) nothing for
    /// `stall` (instead of the endpoint's own stall timeout), with this
    /// blob policy: one command's `ayni sync --stall-timeout --blobs`
    /// through a serving node.
    pub async fn sync_with_stall(
        &self,
        addr: SocketAddr,
        stall: Duration,
        blobs: BlobPolicy,
    ) -> Result<SyncReport, NetError> {
        let config = NetConfig { stall_timeout: stall, blobs, ..self.config.clone() };
        let started = Instant::now();
        let connect_err = |reason: String| NetError::Connect { addr, reason };
        let conn = self
            .endpoint
            .connect(addr, "ayni")
            .map_err(|e| connect_err(e.to_string()))?
            .await
            .map_err(|e| connect_err(handshake_reason(&e)))?;
        let peer = self.peer_node(&conn).await?;
        self.note_peer(peer, addr.to_string(), |p| {
            p.last_seen = Some(crate::node::now_rfc3339());
        })
        .await;
        // in TLS 1.3 the server checks our certificate after our side of the
        // handshake completes, so its refusal shows up here
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| connect_err(handshake_reason(&e)))?;
        let mut outcome = run_session(
            &self.engine,
            Role::Initiator,
            &mut send,
            &mut recv,
            &peer.to_string(),
            &config,
            &self.progress,
        )
        .await;
        let _ = send.finish();
        if outcome.is_ok() {
            // let the peer see our end of the stream before the connection closes
            let _ = tokio::time::timeout(Duration::from_secs(2), recv.read_to_end(1 << 16)).await;
        }
        // documents first, blobs after, on a second stream
        let documents_synced = outcome.is_ok();
        let exchanged = outcome.as_mut().map(|(_, io)| std::mem::take(&mut io.exchanged)).unwrap_or_default();
        let outcome = match outcome {
            Ok((s, io)) if s.version >= BLOB_STREAM_VERSION => {
                let blobs = async {
                    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| connect_err(handshake_reason(&e)))?;
                    blobs::run_blobs(&self.engine, &conn, &mut send, &mut recv, &peer.to_string(), &config).await
                }
                .await;
                blobs.map(|b| (s, io, b))
            }
            Ok((s, io)) => Ok((s, io, BlobStats::default())),
            Err(e) => Err(e),
        };
        let stats = conn.stats();
        conn.close(0u32.into(), b"done");
        let (s, io, blobs) = match outcome {
            Ok(v) => v,
            Err(e) => {
                if documents_synced {
                    // the documents merged: the peer holds what we hold
                    self.record_sync(peer, addr.to_string(), exchanged).await;
                }
                // a refusal of our certificate arrives as a closed connection
                // once the stream is in use: report it as what it is (not
                // once the documents synced: the peer let us in)
                let e = match e {
                    NetError::Lost {
                        reason:
                            r @ (quinn::ConnectionError::ConnectionClosed(_) | quinn::ConnectionError::TransportError(_)),
                        ..
                    } if !documents_synced => NetError::Connect { addr, reason: handshake_reason(&r) },
                    e => e,
                };
                self.record_failure(peer, addr.to_string(), &e).await;
                return Err(e);
            }
        };
        self.record_sync(peer, addr.to_string(), exchanged).await;
        Ok(SyncReport {
            peer: peer.to_string(),
            docs_sent: s.docs_sent,
            docs_received: s.docs_received,
            changes_sent: s.changes_sent,
            changes_received: s.changes_received,
            bytes_sent: io.sent,
            bytes_received: io.received,
            round_trips: s.batches_received,
            duration_ms: started.elapsed().as_millis() as u64,
            udp_tx_bytes: stats.udp_tx.bytes,
            udp_rx_bytes: stats.udp_rx.bytes,
            members_learned: s.members_learned,
            blobs,
        })
    }

    /// Runs [`Endpoint::accept_loop`] on its own task (on the current tokio
    /// runtime) until [`Serving::stop`].
    pub fn serve_in_background(self: &Arc<Self>) -> Serving {
        let (stop, mut rx) = tokio::sync::watch::channel(false);
        let me = self.clone();
        let task = tokio::spawn(async move {
            me.accept_loop(async move {
                let _ = rx.changed().await;
            })
            .await
        });
        Serving { stop, task }
    }

    /// Accepts peers until `shutdown` resolves, serving each on its own task.
    pub async fn accept_loop(self: &Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    let this = self.clone();
                    tokio::spawn(async move {
                        let addr = incoming.remote_address();
                        if let Err(e) = this.serve_one(incoming).await {
                            tracing::warn!("connection from {addr} closed: {e}");
                        }
                    });
                }
            }
        }
        self.endpoint.close(0u32.into(), b"shutting down");
        self.endpoint.wait_idle().await;
    }

    async fn serve_one(&self, incoming: quinn::Incoming) -> Result<(), NetError> {
        let addr = incoming.remote_address();
        let conn = incoming.await.map_err(|e| NetError::Connect { addr, reason: handshake_reason(&e) })?;
        let peer = self.peer_node(&conn).await?;
        tracing::info!("peer {peer} connected from {addr}");
        self.note_peer(peer, String::new(), |p| {
            p.last_seen = Some(crate::node::now_rfc3339());
        })
        .await;
        let (mut send, mut recv) = match tokio::time::timeout(self.config.stall_timeout, conn.accept_bi()).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(NetError::Connect { addr, reason: e.to_string() }),
            Err(_) => {
                let e = NetError::Stalled { peer: peer.to_string(), secs: self.config.stall_timeout.as_secs() };
                tracing::warn!("{e}; connection closed");
                conn.close(1u32.into(), e.to_string().as_bytes());
                return Err(e);
            }
        };
        let mut outcome = run_session(
            &self.engine,
            Role::Acceptor,
            &mut send,
            &mut recv,
            &peer.to_string(),
            &self.config,
            &self.progress,
        )
        .await;
        let documents_synced = outcome.is_ok();
        let exchanged = outcome.as_mut().map(|(_, io)| std::mem::take(&mut io.exchanged)).unwrap_or_default();
        let outcome = match outcome {
            Ok((s, _)) if s.version >= BLOB_STREAM_VERSION => {
                let _ = send.finish();
                // the initiator opens the blob stream once it has our end
                match tokio::time::timeout(self.config.stall_timeout, conn.accept_bi()).await {
                    Ok(Ok((mut bsend, mut brecv))) => {
                        blobs::run_blobs(&self.engine, &conn, &mut bsend, &mut brecv, &peer.to_string(), &self.config)
                            .await
                            .map(|_| ())
                    }
                    Ok(Err(e)) => Err(NetError::Lost { peer: peer.to_string(), reason: e }),
                    Err(_) => {
                        Err(NetError::Stalled { peer: peer.to_string(), secs: self.config.stall_timeout.as_secs() })
                    }
                }
            }
            Ok(_) => {
                let _ = send.finish();
                Ok(())
            }
            Err(e) => Err(e),
        };
        match &outcome {
            Ok(()) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
                self.record_sync(peer, String::new(), exchanged).await;
            }
            Err(e) => {
                if documents_synced {
                    self.record_sync(peer, String::new(), exchanged).await;
                } else {
                    // `ayni peers` here shows it, as it does at the initiator
                    self.record_failure(peer, String::new(), e).await;
                }
                tracing::warn!("sync with {peer} ({addr}) failed, connection closed: {e}");
                conn.close(1u32.into(), e.to_string().as_bytes());
            }
        }
        outcome.map(|_| ())
    }

    /// Notes a completed sync: the peer's state, and what it now holds (for
    /// `bundle export --since`) — on disk before the sync is reported done,
    /// so `ayni peers` shows it even if the node stops right after.
    async fn record_sync(&self, peer: NodeId, addr: String, exchanged: crate::peer_state::Exchanged) {
        let remembered = self
            .engine
            .call(Durability::OnDisk, move |node| {
                let _ = node.note_peer(Some(peer), &addr, |p| {
                    p.state = "ok".into();
                    p.last_sync = Some(crate::node::now_rfc3339());
                    p.last_error = None;
                });
                node.remember_peer_state(&peer, &exchanged)
            })
            .await;
        if let Ok(Err(e)) = remembered {
            tracing::warn!("recording what {peer} holds: {e}");
        }
    }

    /// Notes a failed sync: `ayni peers` shows the peer's state and why.
    async fn record_failure(&self, peer: NodeId, addr: String, e: &NetError) {
        let error = e.to_string();
        self.note_peer(peer, addr, move |p| {
            p.state = "failed".into();
            p.last_error = Some(error);
        })
        .await;
    }

    /// Closes the endpoint.
    pub async fn close(&self) {
        self.endpoint.close(0u32.into(), b"bye");
        self.endpoint.wait_idle().await;
    }
}

fn handshake_reason(e: &quinn::ConnectionError) -> String {
    match e {
        quinn::ConnectionError::TransportError(t) => format!("refused in the handshake: {}", t.reason),
        quinn::ConnectionError::ConnectionClosed(c) => format!("the peer refused us in the handshake ({})", c),
        other => other.to_string(),
    }
}
