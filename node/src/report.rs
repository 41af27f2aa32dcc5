//! The EDAN report view: per zone, the accepted observation, the single
//! observation, or every team's observation when two teams counted the same
//! zone and nobody has accepted one yet (DOMAIN.md §3 row 1).
//!
//! Owns: that view and its totals. Must never: sum two teams' counts of the
//! same zone, or pick one of them by itself.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::node::{Reader, Record};

/// Fields of a tally that describe it rather than count something.
const NOT_COUNTS: &[&str] = &["observed_at", "method", "note", "synthetic"];

/// The report of one EDAN.
#[derive(Debug, Clone, Serialize)]
pub struct EdanReport {
    /// Document ID.
    pub id: String,
    /// Record key.
    pub key: String,
    /// Lifecycle state.
    pub status: Option<String>,
    /// Every zone.
    pub zones: Vec<ZoneReport>,
    /// Sums over the zones that have a decided value.
    pub totals: BTreeMap<String, f64>,
    /// Zones whose observations disagree and await HQ's decision.
    pub pending_zones: Vec<String>,
}

/// One zone of the report.
#[derive(Debug, Clone, Serialize)]
pub struct ZoneReport {
    /// Zone ID.
    pub zone: String,
    /// Zone name, if recorded.
    pub name: Option<String>,
    /// `accepted`, `single_observation`, `needs_decision` or `no_data`.
    pub decision: String,
    /// The team whose observation counts (or `manual` for values HQ typed).
    pub source: Option<String>,
    /// The counts that go into the totals (absent while undecided).
    pub values: Option<Map<String, Value>>,
    /// Every team's observation of this zone.
    pub observations: BTreeMap<String, Map<String, Value>>,
}

fn counts(tally: &Value) -> Map<String, Value> {
    tally
        .as_object()
        .map(|m| {
            m.iter().filter(|(k, _)| !NOT_COUNTS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
        })
        .unwrap_or_default()
}

fn add_totals(prefix: &str, values: &Map<String, Value>, totals: &mut BTreeMap<String, f64>) {
    for (k, v) in values {
        let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            Value::Number(n) => *totals.entry(name).or_default() += n.as_f64().unwrap_or(0.0),
            Value::Object(m) => add_totals(&name, m, totals),
            _ => {}
        }
    }
}

/// Builds the report from an EDAN record.
pub fn build(rec: &Record) -> EdanReport {
    let f = &rec.fields;
    let empty = Map::new();
    let zones_meta = f.get("zones").and_then(Value::as_object).unwrap_or(&empty);
    let tallies = f.get("tallies").and_then(Value::as_object).unwrap_or(&empty);
    let accepted = f.get("accepted").and_then(Value::as_object).unwrap_or(&empty);
    let ids: BTreeSet<&String> = zones_meta.keys().chain(tallies.keys()).chain(accepted.keys()).collect();
    let mut zones = vec![];
    let mut totals = BTreeMap::new();
    let mut pending = vec![];
    for zone in ids {
        let observations: BTreeMap<String, Map<String, Value>> = tallies
            .get(zone)
            .and_then(Value::as_object)
            .map(|teams| teams.iter().map(|(t, v)| (t.clone(), counts(v))).collect())
            .unwrap_or_default();
        let choice = accepted.get(zone);
        let (decision, source, values) = if let Some(team) = choice.and_then(|a| a.get("team")).and_then(Value::as_str)
        {
            ("accepted", Some(team.to_string()), observations.get(team).cloned())
        } else if let Some(v) = choice.and_then(|a| a.get("values")) {
            ("accepted", Some("manual".to_string()), Some(counts(v)))
        } else if observations.len() == 1 {
            let (team, v) = observations.iter().next().map(|(t, v)| (t.clone(), v.clone())).unzip();
            ("single_observation", team, v)
        } else if observations.is_empty() {
            ("no_data", None, None)
        } else {
            pending.push(zone.clone());
            ("needs_decision", None, None)
        };
        if let Some(v) = &values {
            add_totals("", v, &mut totals);
        }
        zones.push(ZoneReport {
            zone: zone.clone(),
            name: zones_meta.get(zone).and_then(|z| z.get("name")).and_then(Value::as_str).map(String::from),
            decision: decision.to_string(),
            source,
            values,
            observations,
        });
    }
    EdanReport {
        id: rec.id.clone(),
        key: rec.key.clone(),
        status: rec.status.clone(),
        zones,
        totals,
        pending_zones: pending,
    }
}

fn line(values: &Map<String, Value>) -> String {
    let mut parts = vec![];
    let mut flat = BTreeMap::new();
    add_totals("", values, &mut flat);
    for (k, v) in flat {
        parts.push(format!("{k}={v}"));
    }
    parts.join(", ")
}

impl EdanReport {
    /// The report as plain text for a terminal.
    pub fn to_text(&self) -> String {
        let mut s = format!("EDAN {} ({})\n", self.key, self.status.as_deref().unwrap_or("-"));
        for z in &self.zones {
            let name = z.name.as_deref().unwrap_or("");
            match z.decision.as_str() {
                "needs_decision" => {
                    s += &format!("  {} {name}: ⚠ {} observations, HQ must accept one\n", z.zone, z.observations.len());
                    for (team, v) in &z.observations {
                        s += &format!("      {team}: {}\n", line(v));
                    }
                }
                "no_data" => s += &format!("  {} {name}: no observation yet\n", z.zone),
                d => {
                    let how = if d == "accepted" { "accepted from" } else { "single observation by" };
                    s += &format!("  {} {name}: {how} {}\n", z.zone, z.source.as_deref().unwrap_or("?"));
                    if let Some(v) = &z.values {
                        s += &format!("      {}\n", line(v));
                    }
                }
            }
        }
        let totals: Vec<String> = self.totals.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s += &format!(
            "  totals over decided zones: {}\n",
            if totals.is_empty() { "-".into() } else { totals.join(", ") }
        );
        if !self.pending_zones.is_empty() {
            s += &format!(
                "  pending: {} (accept one with: ayni set edan:{} accepted.ZONE.team=TEAM)\n",
                self.pending_zones.join(", "),
                self.key
            );
        }
        s
    }
}

impl Reader {
    /// The report view of an EDAN record.
    pub fn edan_report(&self, reference: &str) -> Result<EdanReport> {
        let rec = self.get(reference)?;
        if rec.kind != "edan" {
            return Err(Error::malformed("reference", format!("{reference} is a {}, not an edan", rec.kind)));
        }
        Ok(build(&rec))
    }
}
