//! `serve`: accept enrolled peers, keep syncing with the peers this node
//! knows (retrying with backoff), and find peers on the local network by
//! mDNS.
//!
//! Owns: the schedule of reconnects and discovery. Must never: decide what
//! to replicate (that is the session's).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Endpoint;

/// The mDNS service type nodes announce.
pub const MDNS_SERVICE: &str = "_ayni._udp.local.";

/// Options of the serve loop.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Announce and browse with mDNS on the local network.
    pub mdns: bool,
    /// How often a reachable peer is synced again.
    pub resync: Duration,
    /// First retry delay after a failure (doubles up to `max_backoff`).
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            mdns: true,
            resync: Duration::from_secs(30),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
        }
    }
}

struct Attempt {
    next: Instant,
    backoff: Duration,
}

/// Runs until `shutdown` resolves.
pub async fn serve(endpoint: Arc<Endpoint>, options: ServeOptions, shutdown: impl std::future::Future<Output = ()>) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let accept = {
        let ep = endpoint.clone();
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            ep.accept_loop(async move {
                let _ = rx.changed().await;
            })
            .await
        })
    };
    let mdns = if options.mdns { start_mdns(&endpoint) } else { None };
    let dialer = {
        let ep = endpoint.clone();
        let mut rx = stop_rx.clone();
        let options = options.clone();
        tokio::spawn(async move {
            let mut attempts: HashMap<String, Attempt> = HashMap::new();
            loop {
                dial_due(&ep, &options, &mut attempts).await;
                tokio::select! {
                    _ = rx.changed() => break,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        })
    };
    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = dialer.await;
    let _ = accept.await;
    if let Some(daemon) = mdns {
        let _ = daemon.shutdown();
    }
}

async fn dial_due(ep: &Arc<Endpoint>, options: &ServeOptions, attempts: &mut HashMap<String, Attempt>) {
    let peers = match ep.engine().read(|node| node.peers()).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            tracing::warn!("reading peers: {e}");
            return;
        }
        Err(_) => return,
    };
    let me = ep.node().id().to_string();
    let local = ep.local_addr().ok();
    for peer in peers {
        if peer.node_id == me {
            continue;
        }
        let key = if peer.node_id.is_empty() { peer.addrs.join(",") } else { peer.node_id.clone() };
        let now = Instant::now();
        let attempt = attempts.entry(key.clone()).or_insert(Attempt { next: now, backoff: options.min_backoff });
        if attempt.next > now {
            continue;
        }
        let addr = peer.addrs.iter().filter_map(|a| a.parse::<SocketAddr>().ok()).find(|a| Some(*a) != local);
        let Some(addr) = addr else { continue };
        match ep.sync_with(addr).await {
            Ok(r) => {
                tracing::info!(
                    "synced with {} at {addr}: {} docs in, {} docs out",
                    r.peer,
                    r.docs_received,
                    r.docs_sent
                );
                attempt.backoff = options.min_backoff;
                attempt.next = Instant::now() + options.resync;
            }
            Err(e) => {
                tracing::info!("peer {key} at {addr} not reachable now ({e}); retrying in {:?}", attempt.backoff);
                attempt.next = Instant::now() + attempt.backoff;
                attempt.backoff = (attempt.backoff * 2).min(options.max_backoff);
                let (id, at, error) = (peer.node_id.parse().ok(), addr.to_string(), e.to_string());
                let _ = ep
                    .engine()
                    .call(crate::engine::Durability::Deferred, move |node| {
                        node.note_peer(id, &at, |p| {
                            p.state = "unreachable".into();
                            p.last_error = Some(error);
                        })
                    })
                    .await;
            }
        }
    }
}

fn start_mdns(ep: &Arc<Endpoint>) -> Option<mdns_sd::ServiceDaemon> {
    let port = ep.local_addr().ok()?.port();
    let network = ep.node().network().ok().flatten()?;
    let daemon = match mdns_sd::ServiceDaemon::new() {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!("mDNS unavailable: {e}");
            return None;
        }
    };
    let me = ep.node().id().to_string();
    let host = format!("{}.local.", &me[..6].to_lowercase());
    let props = [("network", network.id.as_str()), ("node", me.as_str())];
    match mdns_sd::ServiceInfo::new(MDNS_SERVICE, &me, &host, "", port, &props[..]) {
        Ok(info) => {
            if let Err(e) = daemon.register(info.enable_addr_auto()) {
                tracing::warn!("mDNS announce failed: {e}");
            }
        }
        Err(e) => tracing::warn!("mDNS announce failed: {e}"),
    }
    match daemon.browse(MDNS_SERVICE) {
        Ok(rx) => {
            let engine = ep.engine().clone();
            let me = ep.node().id();
            std::thread::spawn(move || {
                while let Ok(event) = rx.recv() {
                    if let mdns_sd::ServiceEvent::ServiceResolved(info) = event {
                        if info.get_property_val_str("network") != Some(network.id.as_str()) {
                            continue;
                        }
                        let Some(peer) = info.get_property_val_str("node").and_then(|n| n.parse().ok()) else {
                            continue;
                        };
                        if peer == me {
                            continue;
                        }
                        for ip in info.get_addresses() {
                            let addr = SocketAddr::new(*ip, info.get_port()).to_string();
                            let at = addr.clone();
                            let _ = engine.call_blocking(move |node| {
                                node.note_peer(Some(peer), &at, |p| {
                                    if p.state.is_empty() {
                                        p.state = "new".into();
                                    }
                                })
                            });
                            tracing::info!("found peer {peer} at {addr} by mDNS");
                        }
                    }
                }
            });
        }
        Err(e) => tracing::warn!("mDNS browse failed: {e}"),
    }
    Some(daemon)
}
