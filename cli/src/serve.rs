//! `ayni serve`: the process that owns a node's home while it serves —
//! the engine, the QUIC endpoint, the control socket and the HTTP API —
//! until Ctrl-C or SIGTERM.
//!
//! Owns: starting and stopping those in order. Must never: leave the
//! control socket behind on a clean stop.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use ayni_node::replica::Served;
use ayni_node::NodeHandle;

use crate::output::Out;
use crate::{control, plan, resolve_addr, usage};

/// The HTTP API's address.
pub(crate) fn http_address(text: &str) -> Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    text.to_socket_addrs()
        .map_err(|e| usage(format!("--http '{text}' is not an address (HOST:PORT): {e}")))?
        .next()
        .ok_or_else(|| usage(format!("--http '{text}' resolves to no address")))
}

/// How the HTTP API is served: plain HTTP on loopback (or when the user
/// accepts the risk), else HTTPS.
pub(crate) enum Tls {
    None,
    Files(PathBuf, PathBuf),
    NodeCertificate,
}

/// `ayni serve`: the node's engine owns the store; peers sync over QUIC and
/// commands arrive on the control socket, until Ctrl-C or SIGTERM.
pub(crate) fn serve(
    node: NodeHandle,
    listen: &str,
    no_mdns: bool,
    config: ayni_node::net::NetConfig,
    resync: u64,
    http: Option<(std::net::SocketAddr, Tls, ayni_api::Options)>,
    out: &mut Out,
) -> Result<ExitCode> {
    let addr = resolve_addr(listen)?;
    let rt = tokio::runtime::Handle::current();
    let (listener, socket) = control::bind(node.home())?;
    let endpoint = std::sync::Arc::new(ayni_node::net::Endpoint::bind(&node, addr, config)?);
    let bound = endpoint.local_addr()?;
    rt.block_on(node.note_served(Served { listen: Some(bound.to_string()), http: None }))?;
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = match http {
        Some((addr, tls, options)) => {
            let tcp = rt
                .block_on(tokio::net::TcpListener::bind(addr))
                .map_err(|e| anyhow::anyhow!("binding the HTTP API to {addr}: {e}"))?;
            let bound = tcp.local_addr()?;
            let certificate = match tls {
                Tls::None => None,
                Tls::Files(cert, key) => Some(ayni_api::tls::from_files(&cert, &key).map_err(usage)?),
                Tls::NodeCertificate => {
                    Some(ayni_api::tls::node_certificate(node.home(), bound).map_err(|e| anyhow::anyhow!(e))?)
                }
            };
            let fingerprint = certificate.as_ref().map(|c| c.fingerprint.clone());
            let api_node = node.clone();
            let stopped = async move {
                let _ = http_stopped.await;
            };
            let connections = ayni_api::Connections::default();
            let counted = connections.clone();
            let served = match certificate {
                Some(c) => {
                    let listener = ayni_api::tls::listener(tcp, c).map_err(usage)?;
                    rt.spawn(ayni_api::serve(listener, api_node, options, counted, stopped))
                }
                None => rt.spawn(ayni_api::serve(tcp, api_node, options, counted, stopped)),
            };
            rt.spawn(async move {
                if let Ok(Err(e)) = served.await {
                    tracing::error!("the HTTP API stopped: {e}");
                }
            });
            let scheme = if fingerprint.is_some() { "https" } else { "http" };
            // where phones find the field app (`ayni client add --qr`)
            let served = Served { listen: None, http: Some(format!("{scheme}://{bound}")) };
            rt.block_on(node.note_served(served))?;
            Some(crate::output::HttpInfo { url: format!("{scheme}://{bound}"), fingerprint, connections })
        }
        None => None,
    };
    out.listening(&node, bound, http.as_ref())?;
    let server = std::sync::Arc::new(control::Server::new(node, endpoint.clone(), socket.clone(), http));
    rt.spawn(server.accept(listener, plan));
    let options = ayni_node::net::serve::ServeOptions {
        mdns: !no_mdns,
        resync: std::time::Duration::from_secs(resync.max(1)),
        ..Default::default()
    };
    rt.block_on(ayni_node::net::serve::serve(endpoint, options, shutdown_signal()));
    let _ = stop_http.send(());
    let _ = std::fs::remove_file(&socket);
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
