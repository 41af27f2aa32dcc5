//! Rendering of the network, serving and sync side: networks and
//! memberships, peers, `ayni status`, `ayni serve`'s banner, the change
//! feed, clients, syncs, bundles, the audit log and the EDAN report.
//!
//! Owns: those outputs, human and `--json`. Must never: compute anything
//! the library did not return.

use anyhow::Result;
use ayni_node::net::SyncReport;
use ayni_node::network::{Membership, NetworkInfo};
use ayni_node::replica::PeerInfo;
use ayni_node::report::EdanReport;
use ayni_node::NodeHandle as Node;
use serde::Serialize;
use serde_json::Value;

use super::{table, Out};

impl Out {
    pub fn network(&mut self, info: &NetworkInfo, members: &[Membership]) -> Result<()> {
        let list: Vec<Value> = members
            .iter()
            .map(|m| serde_json::json!({"node_id": m.payload.node_id, "role": m.payload.role, "label": m.payload.label, "issued_at": m.payload.issued_at}))
            .collect();
        let v = serde_json::json!({"network": info, "members": list});
        self.emit(&v, || {
            let mut t = table(&["node", "role", "label", "issued"]);
            for m in members {
                t.add_row(vec![
                    m.payload.node_id.clone(),
                    m.payload.role.to_string(),
                    m.payload.label.clone(),
                    m.payload.issued_at.clone(),
                ]);
            }
            format!("network {} ({})\n{t}\n", info.name, info.id)
        })
    }

    pub fn token(&mut self, m: &Membership) -> Result<()> {
        let v = serde_json::json!({"token": m.to_token(), "node_id": m.payload.node_id, "role": m.payload.role, "label": m.payload.label, "network": m.payload.network});
        self.emit(&v, || format!("{}\n", m.to_token()))
    }

    pub fn revoked(&mut self, r: &ayni_node::network::Revocation) -> Result<()> {
        let p = &r.payload;
        let v = serde_json::json!({"node_id": p.node_id, "reason": p.reason, "revoked_at": p.revoked_at, "documents_kept": p.kept.len()});
        self.emit(&v, || {
            format!(
                "revoked {} ({} document(s) with its changes kept); every node refuses it once it learns of this\n",
                p.node_id,
                p.kept.len()
            )
        })
    }

    pub fn joined(&mut self, m: &Membership) -> Result<()> {
        let v = serde_json::json!({"network": m.payload.network, "node_id": m.payload.node_id, "role": m.payload.role, "label": m.payload.label, "addr_hint": m.payload.addr_hint});
        self.emit(&v, || {
            format!(
                "joined network {} ({}) as {} ({}){}\n",
                m.payload.network.name,
                m.payload.network.id,
                m.payload.label,
                m.payload.role,
                m.payload.addr_hint.as_ref().map(|a| format!("; HQ at {a}")).unwrap_or_default()
            )
        })
    }

    pub fn peers(&mut self, peers: &[PeerInfo]) -> Result<()> {
        self.emit(&peers, || {
            let mut t = table(&["node", "label", "addresses", "last seen", "last sync", "state"]);
            for p in peers {
                t.add_row(vec![
                    if p.node_id.is_empty() { "(not met yet)".into() } else { p.node_id.clone() },
                    p.label.clone(),
                    p.addrs.join(" "),
                    p.last_seen.clone().unwrap_or_else(|| "never".into()),
                    p.last_sync.clone().unwrap_or_else(|| "never".into()),
                    match &p.last_error {
                        Some(e) if p.state != "ok" => format!("{}: {e}", p.state),
                        _ => p.state.clone(),
                    },
                ]);
            }
            format!("{t}\n")
        })
    }

    pub fn status(&mut self, s: &Status) -> Result<()> {
        self.emit(s, || {
            let n = &s.node;
            let mut out = String::new();
            match &s.serving {
                Some(v) => {
                    out += &format!(
                        "serving since {} (pid {}): sync on {}, control socket {}, {} command(s) running\n",
                        v.since,
                        v.pid,
                        v.listen.join(" "),
                        v.control,
                        v.commands_running
                    );
                    if let Some(h) = &v.http {
                        out += &format!("HTTP API on {}/api/v1/", h.url);
                        if let Some(f) = &h.fingerprint {
                            out += &format!(", certificate SHA-256 {f}");
                        }
                        out += &format!(", {} connection(s) open\n", h.connections.live());
                    }
                }
                None => out += "not serving (commands open the store directly)\n",
            }
            out += &format!("node {} ({}), home {}\n", n.node_id, n.name, n.home);
            match (&n.network, n.role) {
                (Some(net), Some(role)) => {
                    out += &format!(
                        "network {} ({}), role {}\n",
                        net.name,
                        net.id,
                        match role {
                            ayni_node::network::Role::Hq => "hq",
                            ayni_node::network::Role::Field => "field",
                        }
                    )
                }
                (Some(net), None) => out += &format!("network {} ({}), not enrolled\n", net.name, net.id),
                _ => out += "no network yet: `ayni network create` (HQ) or `ayni join TOKEN`\n",
            }
            let held: Vec<String> =
                n.records.iter().filter(|(_, c)| **c > 0).map(|(k, c)| format!("{k} {c}")).collect();
            out += &format!("records: {}\n", if held.is_empty() { "none".into() } else { held.join(", ") });
            out += &format!(
                "waiting for a person: {} conflict(s), {} amendment proposal(s)\n",
                n.conflicts, n.pending_amendments
            );
            if n.peers.is_empty() {
                out += "peers: none known\n";
            } else {
                let mut t = table(&["peer", "label", "addresses", "last sync", "state"]);
                for p in &n.peers {
                    t.add_row(vec![
                        if p.node_id.is_empty() { "(not met yet)".into() } else { p.node_id.clone() },
                        p.label.clone(),
                        p.addrs.join(" "),
                        p.last_sync.clone().unwrap_or_else(|| "never".into()),
                        p.state.clone(),
                    ]);
                }
                out += &format!("{t}\n");
            }
            out
        })
    }

    pub fn listening(&mut self, node: &Node, addr: std::net::SocketAddr, http: Option<&HttpInfo>) -> Result<()> {
        let v = serde_json::json!({
            "listening": addr.to_string(),
            "node_id": node.id().to_string(),
            "http": http.map(|h| h.url.clone()),
            "https_fingerprint": http.and_then(|h| h.fingerprint.clone()),
        });
        self.emit(&v, || {
            let mut text = format!("listening on {addr} as {}\n", node.id());
            if let Some(h) = http {
                text += &format!("HTTP API on {}/api/v1/", h.url);
                if let Some(f) = &h.fingerprint {
                    text += &format!(" (certificate SHA-256 {f})");
                }
                text += "\n";
            }
            text
        })
    }

    pub fn change(&mut self, c: &ayni_node::feed::Change) -> Result<()> {
        let text = if self.json {
            serde_json::to_string(c)? + "\n"
        } else {
            let r = &c.record;
            let deleted = if r.deleted { "  (deleted)" } else { "" };
            format!("{}  {}:{}  {}{deleted}\n", c.position, r.kind, r.key, r.id)
        };
        self.write(&text)
    }

    /// A new client's token, and with `--qr` the field app's sign-in link
    /// and its QR code (the code drawn in text mode only).
    pub fn client_token(&mut self, c: &ayni_node::clients::Client, token: &str, link: Option<&str>) -> Result<()> {
        let mut v = serde_json::to_value(c)?;
        v["token"] = Value::String(token.to_string());
        if let Some(link) = link {
            v["link"] = Value::String(link.to_string());
        }
        let drawn = link.map(crate::qr::terminal).transpose()?;
        self.emit(&v, || match (link, &drawn) {
            (Some(link), Some(code)) => format!("{code}\nScan to sign in to the field app, or open: {link}\n{token}\n"),
            _ => format!("{token}\n"),
        })
    }

    pub fn clients(&mut self, clients: &[ayni_node::clients::Client]) -> Result<()> {
        self.emit(&clients, || {
            let mut t = table(&["client", "role", "team", "issued", "expires", "revoked"]);
            for c in clients {
                t.add_row(vec![
                    c.name.clone(),
                    c.role.to_string(),
                    c.team.clone().unwrap_or_default(),
                    c.created_at.clone(),
                    c.expires_at.clone().unwrap_or_else(|| "never".into()),
                    c.revoked_at.clone().unwrap_or_default(),
                ]);
            }
            format!("{t}\n")
        })
    }

    pub fn synced(&mut self, r: &SyncReport) -> Result<()> {
        self.emit(r, || {
            format!(
                "synced with {}: {} document(s) received ({} changes), {} sent ({} changes); {} bytes out, {} bytes in, {} round trip(s), {} ms{}\n",
                r.peer, r.docs_received, r.changes_received, r.docs_sent, r.changes_sent, r.bytes_sent, r.bytes_received, r.round_trips, r.duration_ms,
                if r.blobs == Default::default() { String::new() } else {
                    format!("; blobs: {} received ({} bytes), {} sent ({} bytes){}", r.blobs.received, r.blobs.bytes_received, r.blobs.sent, r.blobs.bytes_sent,
                        if r.blobs.refused > 0 { format!(", {} refused", r.blobs.refused) } else { String::new() })
                }
            )
        })
    }

    pub fn bundle(&mut self, r: &ayni_node::bundle::BundleReport, verb: &str) -> Result<()> {
        self.emit(r, || {
            if verb == "exported" {
                format!(
                    "exported {} document(s){} in {} bytes{}\n",
                    r.header.documents,
                    if r.blobs > 0 { format!(" and {} blob(s)", r.blobs) } else { String::new() },
                    r.bytes,
                    r.header.since.as_ref().map(|s| format!(" (what {s} may lack)")).unwrap_or_default()
                )
            } else {
                format!(
                    "imported a bundle from {}: {} document(s) changed here, {} new blob(s), {} new member(s){}\n",
                    r.header.exporter,
                    r.documents_changed,
                    r.blobs,
                    r.members_learned,
                    if r.changes_refused > 0 {
                        format!(", {} change(s) refused (see `ayni audit`)", r.changes_refused)
                    } else {
                        String::new()
                    }
                )
            }
        })
    }

    /// The permits (`ayni roles`): per role, per kind, what it may do.
    pub fn roles(&mut self, permits: &Value) -> Result<()> {
        self.emit(permits, || {
            let mut text = String::new();
            for (role, r) in permits["roles"].as_object().into_iter().flatten() {
                text.push_str(&format!("{role}: {}\n", r["about"].as_str().unwrap_or("")));
                let mut t = table(&["kind", "records", "moves", "fields"]);
                let mut any = false;
                for (kind, k) in r["kinds"].as_object().into_iter().flatten() {
                    let flags: Vec<&str> = ["create", "delete", "undelete", "settle"]
                        .into_iter()
                        .filter(|f| k[*f].as_bool() == Some(true))
                        .collect();
                    let list = |v: &Value| -> Vec<String> {
                        v.as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from).collect()
                    };
                    let fields: Vec<String> = k["fields"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(path, ops)| format!("{path}: {}", list(ops).join(", ")))
                        .collect();
                    let moves = list(&k["moves"]);
                    if flags.is_empty() && moves.is_empty() && fields.is_empty() {
                        continue;
                    }
                    any = true;
                    t.add_row(vec![kind.clone(), flags.join(", "), moves.join("\n"), fields.join("\n")]);
                }
                if any {
                    text.push_str(&format!("{t}\n"));
                } else {
                    text.push_str("  changes nothing\n");
                }
                text.push('\n');
            }
            for (kind, entries) in permits["entries"].as_object().into_iter().flatten() {
                let list: Vec<&str> = entries.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                text.push_str(&format!(
                    "never change once written, for every role: {kind} {} and every transition entry\n",
                    list.join(", ")
                ));
            }
            text.push_str("everything not listed is refused (schemas/permits.json)\n");
            text
        })
    }

    pub fn audit(&mut self, refusals: &[ayni_node::trust::Refusal]) -> Result<()> {
        self.emit(&refusals, || {
            if refusals.is_empty() {
                return "no refused changes\n".to_string();
            }
            let mut t = table(&["at", "from", "document", "change", "author", "reason"]);
            for r in refusals {
                t.add_row(vec![
                    r.at.clone(),
                    r.from.clone(),
                    r.doc.clone(),
                    r.change[..12.min(r.change.len())].to_string(),
                    r.author.clone(),
                    r.reason.clone(),
                ]);
            }
            format!("{t}\n")
        })
    }

    pub fn report(&mut self, r: &EdanReport) -> Result<()> {
        self.emit(r, || r.to_text())
    }
}

/// What a serving node says about itself in `ayni status`.
#[derive(Debug, Serialize)]
pub struct Serving {
    /// The serving process.
    pub pid: u32,
    /// Since when (RFC 3339).
    pub since: String,
    /// The sync (QUIC) addresses it listens on.
    pub listen: Vec<String>,
    /// The control socket.
    pub control: String,
    /// Commands from the control socket running now (this one included).
    pub commands_running: usize,
    /// The HTTP API, when served.
    pub http: Option<HttpInfo>,
}

/// Where the HTTP API is served.
#[derive(Debug, Clone, Serialize)]
pub struct HttpInfo {
    /// `http://ADDR` or `https://ADDR`.
    pub url: String,
    /// SHA-256 of the HTTPS certificate (`AB:CD:…`), for those who must
    /// check or pin it.
    pub fingerprint: Option<String>,
    /// The API's open connections (each client's requests and change feeds).
    #[serde(rename = "connections_open", serialize_with = "live_connections")]
    pub connections: ayni_api::Connections,
}

fn live_connections<S: serde::Serializer>(c: &ayni_api::Connections, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(c.live() as u64)
}

/// `ayni status`: serving or not, and the node.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Present while `ayni serve` runs on this home.
    pub serving: Option<Serving>,
    /// The node.
    #[serde(flatten)]
    pub node: ayni_node::status::NodeStatus,
}
