//! The README's main job: HQ and two GAEM field laptops as three nodes on
//! loopback, in a temporary directory, enrolled in one network, syncing over
//! QUIC; told step by step.
//!
//! Owns: the scenario. Must never: print (it returns the story for the CLI
//! to render) or leave files behind (the caller owns the directory).

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use crate::clients::Actor;
use crate::error::{Error, Result};
use crate::handle::NodeHandle;
use crate::net::{Endpoint, NetConfig, Serving, SyncReport};
use crate::network::Role;
use crate::node::Node;

/// One step of the story.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What happens, in plain words.
    pub title: String,
    /// Details.
    pub lines: Vec<String>,
}

/// What the demo showed.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// The story.
    pub steps: Vec<Step>,
    /// Whether every node ended with identical heads for every record.
    pub converged: bool,
    /// Conflicts HQ sees at the end.
    pub conflicts: usize,
    /// Application bytes moved over QUIC, both ways, all syncs.
    pub bytes_moved: u64,
    /// UDP bytes sent by quinn, all syncs.
    pub udp_bytes: u64,
}

struct Peer {
    name: &'static str,
    node: NodeHandle,
    ep: Arc<Endpoint>,
    serving: Serving,
}

impl Peer {
    fn start(name: &'static str, node: Node) -> Result<Peer> {
        let handle = NodeHandle::start(node)?;
        let ep = Arc::new(
            Endpoint::bind(&handle, ([127, 0, 0, 1], 0).into(), NetConfig::default())
                .map_err(|e| Error::Internal(e.to_string()))?,
        );
        let serving = ep.serve_in_background();
        Ok(Peer { name, node: handle, ep, serving })
    }

    /// Sets fields of a record, as the node itself.
    async fn set(&self, reference: &str, assignments: Vec<(String, serde_json::Value)>) -> Result<()> {
        self.node.set(&Actor::Node, reference, assignments).await.map(|_| ())
    }

    async fn sync(&self, other: &Peer, bytes: &mut (u64, u64)) -> Result<SyncReport> {
        let addr = other.ep.local_addr().map_err(|e| Error::Internal(e.to_string()))?;
        let r = self
            .ep
            .sync_with(addr)
            .await
            .map_err(|e| Error::Internal(format!("{} → {}: {e}", self.name, other.name)))?;
        bytes.0 += r.bytes_sent + r.bytes_received;
        bytes.1 += r.udp_tx_bytes + r.udp_rx_bytes;
        Ok(r)
    }

    /// Stops serving and closes the node, so that its store is closed
    /// (and its summary file written) before the caller removes the home.
    async fn stop(self) {
        self.serving.stop().await;
        self.ep.close().await;
        drop(self.ep);
        let node = self.node;
        match tokio::task::spawn_blocking(move || node.close()).await {
            Ok(Err(e)) => tracing::debug!("{}: the store is left to close with its last handle: {e}", self.name),
            Err(e) => tracing::debug!("{}: closing the node: {e}", self.name),
            Ok(Ok(())) => {}
        }
    }
}

/// Runs the scenario in `dir` (which the caller removes afterwards).
pub async fn run(dir: &Path) -> Result<DemoReport> {
    let mut steps = vec![];
    let mut step = |title: &str, lines: Vec<String>| steps.push(Step { title: title.into(), lines });
    let mut bytes = (0u64, 0u64);

    // HQ founds the network and enrols two laptops
    let hq_node = Node::init(&dir.join("hq"), "hq-la-paz")?;
    let (network, _) = hq_node.create_network("gamlp-cooperacion")?;
    let g1_node = Node::init(&dir.join("gaem-1"), "gaem-1-laptop")?;
    let g2_node = Node::init(&dir.join("gaem-2"), "gaem-2-laptop")?;
    for (n, label) in [(&g1_node, "gaem-1-laptop"), (&g2_node, "gaem-2-laptop")] {
        let m = hq_node.enroll(n.id(), Role::Field, label, None)?;
        n.join(&m.to_token())?;
    }
    let seeded = hq_node.seed()?;
    // HQ assigns each laptop to its team: only a team's members write its EDAN tallies
    for (team, n) in [("GAEM-1", &g1_node), ("GAEM-2", &g2_node)] {
        hq_node.set(&format!("team:{team}"), &[("node_ids".into(), json!([n.id().to_string()]))])?;
    }
    step(
        "HQ in La Paz founds the network, enrols two GAEM laptops and loads the 2018 cooperation model",
        vec![
            format!("network {} ({}); HQ node {}", network.name, network.id, hq_node.id()),
            format!("enrolled GAEM-1 {} and GAEM-2 {} (role field), each in its team", g1_node.id(), g2_node.id()),
            format!("{} records: practices, missions, agreements, the Sama fire and its EDAN", seeded.created),
        ],
    );
    let hq = Peer::start("HQ", hq_node)?;
    let g1 = Peer::start("GAEM-1", g1_node)?;
    let g2 = Peer::start("GAEM-2", g2_node)?;

    let r1 = g1.sync(&hq, &mut bytes).await?;
    let r2 = g2.sync(&hq, &mut bytes).await?;
    step(
        "Before leaving, each laptop syncs with HQ over QUIC (mutual TLS, enrolment checked in the handshake)",
        vec![
            format!(
                "GAEM-1 received {} records in {} ms ({} bytes)",
                r1.docs_received, r1.duration_ms, r1.bytes_received
            ),
            format!("GAEM-2 received {} records in {} ms", r2.docs_received, r2.duration_ms),
        ],
    );

    let e = "edan:edan-sama-1";
    let m = "mission:ac-sama-after";
    g1.set(
        e,
        vec![
            ("tallies.z3.GAEM-1.families_affected".into(), json!(11)),
            ("tallies.z3.GAEM-1.method".into(), json!("door_to_door")),
        ],
    )
    .await?;
    g1.set(e, vec![("needs.+".into(), json!({"sector": "albergue_nfi", "item": "frazada", "quantity": 60, "unit": "unidades", "priority": "alta", "identified_by_team": "GAEM-1"}))]).await?;
    g2.set(
        e,
        vec![
            ("tallies.z3.GAEM-2.families_affected".into(), json!(8)),
            ("tallies.z3.GAEM-2.method".into(), json!("estimate")),
        ],
    )
    .await?;
    g2.set(e, vec![("needs.+".into(), json!({"sector": "albergue_nfi", "item": "frazada", "quantity": 40, "unit": "unidades", "priority": "alta", "identified_by_team": "GAEM-2"}))]).await?;
    g2.set(
        m,
        vec![("log.+".into(), json!({"text": "Zona z3 recorrida con dirigentes comunales", "author": "GAEM-2"}))],
    )
    .await?;
    g1.set(m, vec![("participants_count".into(), json!(9))]).await?;
    hq.set(m, vec![("participants_count".into(), json!(12))]).await?;
    step(
        "Offline in the Sama range, everyone works",
        vec![
            "GAEM-1 counts 11 affected families in zone z3 (door to door) and asks for 60 blankets".into(),
            "GAEM-2 counts 8 in the same zone (estimate), asks for 40 blankets, writes the mission log".into(),
            "GAEM-1 and HQ both correct the mission's participant count: 9 and 12".into(),
        ],
    );

    let a = g1.sync(&g2, &mut bytes).await?;
    let b = g2.sync(&hq, &mut bytes).await?;
    let c = hq.sync(&g1, &mut bytes).await?;
    step(
        "They meet in a chain: GAEM-1 meets GAEM-2 at base camp, GAEM-2 reaches HQ, HQ syncs GAEM-1",
        [("GAEM-1 ↔ GAEM-2", &a), ("GAEM-2 ↔ HQ", &b), ("HQ ↔ GAEM-1", &c)]
            .iter()
            .map(|(who, r)| {
                format!(
                    "{who}: {} record(s) sent, {} received, {} bytes, {} round trip(s)",
                    r.docs_sent,
                    r.docs_received,
                    r.bytes_sent + r.bytes_received,
                    r.round_trips
                )
            })
            .collect(),
    );
    // what GAEM-1 brought to HQ via GAEM-2 has reached everyone; one more
    // contact brings GAEM-2 what HQ had
    hq.sync(&g2, &mut bytes).await?;

    let mut converged = true;
    for kind in crate::schema::KINDS {
        let mut sets: Vec<Vec<(String, Vec<String>)>> = vec![];
        for p in [&hq, &g1, &g2] {
            sets.push(p.node.list(&Actor::Node, kind, vec![]).await?.into_iter().map(|r| (r.id, r.heads)).collect());
        }
        converged &= sets.windows(2).all(|w| w[0] == w[1]);
    }
    let report = hq.node.edan_report(&Actor::Node, e).await?;
    let z3 = report.zones.iter().find(|z| z.zone == "z3");
    let needs = hq.node.get(&Actor::Node, e).await?.fields["needs"].as_object().map(|n| n.len()).unwrap_or(0);
    let conflicts = hq.node.conflicts(&Actor::Node).await?;
    let mut lines = vec![
        format!("all three nodes hold identical records: {}", if converged { "yes" } else { "NO" }),
        format!(
            "zone z3 keeps both teams' counts ({}) and stays out of the totals until HQ accepts one",
            z3.map(|z| z
                .observations
                .iter()
                .map(|(t, v)| format!("{t}: {}", v["families_affected"]))
                .collect::<Vec<_>>()
                .join(", "))
                .unwrap_or_default()
        ),
        format!("both blanket requests are kept: the EDAN now lists {needs} needs"),
    ];
    for c in &conflicts {
        for f in &c.fields {
            let vals: Vec<String> = f.values.iter().map(|v| v.to_string()).collect();
            lines.push(format!(
                "HQ sees a conflict on {}:{} {}: {} (settle with `ayni resolve`)",
                c.kind,
                c.key,
                f.path,
                vals.join(" vs ")
            ));
        }
    }
    lines.push(format!("zones awaiting HQ's decision: {}", report.pending_zones.join(", ")));
    step("What converged", lines);
    for p in [hq, g1, g2] {
        p.stop().await;
    }
    Ok(DemoReport { steps, converged, conflicts: conflicts.len(), bytes_moved: bytes.0, udp_bytes: bytes.1 })
}
