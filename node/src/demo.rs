//! The README's main job: a scripted field scenario on three nodes in a
//! temporary directory (HQ and two GAEM laptops), told step by step.
//!
//! Owns: the scenario. Must never: print (it returns the story for the CLI
//! to render) or leave files behind (the caller owns the directory).

use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::error::Result;
use crate::node::Node;
use crate::DocumentId;

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
    /// Whether every node ended with identical heads for every shared record.
    pub converged: bool,
    /// Conflicts HQ sees at the end.
    pub conflicts: usize,
    /// Document bytes moved between nodes.
    pub bytes_moved: u64,
}

struct Demo {
    steps: Vec<Step>,
    bytes: u64,
}

impl Demo {
    fn step(&mut self, title: impl Into<String>, lines: Vec<String>) {
        self.steps.push(Step { title: title.into(), lines });
    }

    /// Sends every shared record from `from` to `to`; returns how many changed.
    fn exchange(&mut self, from: &Node, to: &Node, ids: &[String]) -> Result<usize> {
        let mut changed = 0;
        for id in ids {
            let bytes = from.document_bytes(id)?;
            self.bytes += bytes.len() as u64;
            let doc: DocumentId = id.parse()?;
            let before = to.get(id).ok().map(|r| r.heads);
            let after = to.merge_document(&doc, &bytes)?.heads;
            if before.as_ref() != Some(&after) {
                changed += 1;
            }
        }
        Ok(changed)
    }
}

/// Runs the scenario in `dir` (which the caller removes afterwards).
pub fn run(dir: &Path) -> Result<DemoReport> {
    let mut d = Demo { steps: vec![], bytes: 0 };
    let hq = Node::init(&dir.join("hq"), "hq-la-paz")?;
    let seeded = hq.seed()?;
    d.step(
        "HQ in La Paz starts a node and loads the 2018 cooperation model",
        vec![
            format!("node {}", hq.id()),
            format!("{} records: practices, missions, agreements, the Sama fire and its EDAN", seeded.created),
        ],
    );
    let g1 = Node::init(&dir.join("gaem-1"), "gaem-1-laptop")?;
    let g2 = Node::init(&dir.join("gaem-2"), "gaem-2-laptop")?;
    let shared: Vec<String> = ["edan:edan-sama-1", "mission:ac-sama-after", "event:ev-sama"]
        .iter()
        .map(|r| hq.get(r).map(|rec| rec.id))
        .collect::<Result<_>>()?;
    d.exchange(&hq, &g1, &shared)?;
    d.exchange(&hq, &g2, &shared)?;
    d.step(
        "Two GAEM laptops take the Sama EDAN and mission to the field",
        vec![format!("GAEM-1 {}", g1.id()), format!("GAEM-2 {}", g2.id())],
    );

    let e = "edan:edan-sama-1";
    let m = "mission:ac-sama-after";
    g1.set(e, &[("tallies.z3.GAEM-1.families_affected".into(), json!(11)), ("tallies.z3.GAEM-1.method".into(), json!("door_to_door"))])?;
    g1.set(e, &[("needs.+".into(), json!({"sector": "albergue_nfi", "item": "frazada", "quantity": 60, "unit": "unidades", "priority": "alta", "identified_by_team": "GAEM-1"}))])?;
    g2.set(e, &[("tallies.z3.GAEM-2.families_affected".into(), json!(8)), ("tallies.z3.GAEM-2.method".into(), json!("estimate"))])?;
    g2.set(e, &[("needs.+".into(), json!({"sector": "albergue_nfi", "item": "frazada", "quantity": 40, "unit": "unidades", "priority": "alta", "identified_by_team": "GAEM-2"}))])?;
    g2.set(m, &[("log.+".into(), json!({"text": "Zona z3 recorrida con dirigentes comunales", "author": "GAEM-2"}))])?;
    g1.set(m, &[("participants_count".into(), json!(9))])?;
    hq.set(m, &[("participants_count".into(), json!(12))])?;
    d.step(
        "Offline, everyone works",
        vec![
            "GAEM-1 counts 11 affected families in zone z3 (door to door) and asks for 60 blankets".into(),
            "GAEM-2 counts 8 in the same zone (estimate), asks for 40 blankets, writes the mission log".into(),
            "GAEM-1 and HQ both correct the mission's participant count: 9 and 12".into(),
        ],
    );

    let a = d.exchange(&g1, &g2, &shared)?;
    let b = d.exchange(&g2, &hq, &shared)?;
    let c = d.exchange(&hq, &g1, &shared)?;
    let e2 = d.exchange(&hq, &g2, &shared)?;
    d.step(
        "They meet in a chain: GAEM-1 → GAEM-2 at base camp, GAEM-2 → HQ, HQ → both",
        vec![format!("records updated on each meeting: {a}, {b}, {c}, {e2}")],
    );

    let mut converged = true;
    for id in &shared {
        let heads: Vec<Vec<String>> = [&hq, &g1, &g2].iter().map(|n| n.get(id).map(|r| r.heads)).collect::<Result<_>>()?;
        converged &= heads.windows(2).all(|w| w[0] == w[1]);
    }
    let report = hq.edan_report(e)?;
    let z3 = report.zones.iter().find(|z| z.zone == "z3");
    let needs = hq.get(e)?.fields["needs"].as_object().map(|n| n.len()).unwrap_or(0);
    let conflicts = hq.conflicts()?;
    let mut lines = vec![
        format!("all three nodes hold identical records: {}", if converged { "yes" } else { "NO" }),
        format!(
            "zone z3 keeps both teams' counts ({}), and leaves z3 out of the totals until HQ accepts one",
            z3.map(|z| z.observations.iter().map(|(t, v)| format!("{t}: {}", v["families_affected"])).collect::<Vec<_>>().join(", ")).unwrap_or_default()
        ),
        format!("both blanket requests are kept: the EDAN now lists {needs} needs"),
    ];
    for c in &conflicts {
        for f in &c.fields {
            let vals: Vec<String> = f.values.iter().map(|v| v.to_string()).collect();
            lines.push(format!("HQ sees a conflict on {}:{} {}: {}", c.kind, c.key, f.path, vals.join(" vs ")));
        }
    }
    lines.push(format!("zones awaiting HQ's decision: {}", report.pending_zones.join(", ")));
    d.step("What converged", lines);
    Ok(DemoReport { steps: d.steps, converged, conflicts: conflicts.len(), bytes_moved: d.bytes })
}
