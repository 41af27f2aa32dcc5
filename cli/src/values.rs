//! Values given on the command line: `PATH=VALUE` assignments, peer
//! addresses.
//!
//! Owns: turning that text into what the node takes, naming what is
//! wrong (exit 2). Must never: touch a node or its store.

use anyhow::Result;
use serde_json::Value;

use ayni_node::node::parse_path;

use ayni_node::node::parse_value;

use crate::usage;

pub(crate) fn resolve_addr(text: &str) -> Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    let with_port =
        if text.contains(':') { text.to_string() } else { format!("{text}:{}", ayni_node::net::DEFAULT_PORT) };
    with_port
        .to_socket_addrs()
        .map_err(|e| usage(format!("'{text}' is not an address (HOST:PORT): {e}")))?
        .next()
        .ok_or_else(|| usage(format!("'{text}' resolves to no address")))
}

pub(crate) fn split_assignment(text: &str) -> Result<(String, Value)> {
    let (path, value) = text.split_once('=').ok_or_else(|| usage(format!("'{text}' is not PATH=VALUE")))?;
    parse_path(path)?;
    Ok((path.to_string(), parse_value(value)))
}

/// The address of a peer given by node ID (its last known address) or as
/// HOST[:PORT].
pub(crate) fn sync_address(peer: &str, known: &[ayni_node::replica::PeerInfo]) -> Result<std::net::SocketAddr> {
    match peer.parse::<ayni_node::identity::NodeId>() {
        Ok(id) => {
            let known = known.iter().find(|p| p.node_id == id.to_string());
            let a = known
                .and_then(|p| p.addrs.first().cloned())
                .ok_or_else(|| usage(format!("no known address for peer {id}: give HOST:PORT")))?;
            resolve_addr(&a)
        }
        Err(_) => resolve_addr(peer),
    }
}
