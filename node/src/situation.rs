//! The situation report of an emergency event: every EDAN of the event
//! with each zone's decided figures and the double counts still pending,
//! the needs by sector and priority against what has been covered, the
//! response so far, and where the zones are.
//!
//! Owns: gathering that from the event's records (EDANs by `event_id`,
//! missions by `emergency_event_id`) into one serialisable report. Must
//! never: sum two teams' counts of a zone, sum two EDANs of the event (a
//! preliminary and a complementary assessment describe the same zones), or
//! render (HTML and Markdown are the export crate's).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::node::{Reader, Record};
use crate::report::{self, EdanReport};

/// Need priorities, most urgent first (the EDAN schema's order).
const PRIORITIES: &[&str] = &["vital", "alta", "media"];

/// The situation report of one event.
#[derive(Debug, Clone, Serialize)]
pub struct EventReport {
    /// The event.
    pub event: Subject,
    /// Its hazard (`incendio_forestal`…).
    pub hazard_type: Option<String>,
    /// When it started.
    pub started_at: Option<String>,
    /// What the event record says of its impact.
    pub impact_text: Option<String>,
    /// Where: `department / province / municipality` per scope entry.
    pub scope: Vec<String>,
    /// Every EDAN of the event, newest status first as recorded.
    pub edans: Vec<EventEdan>,
    /// Every need of those EDANs, most urgent first.
    pub needs: Vec<Need>,
    /// Needs counted by sector and priority, by status.
    pub needs_by_sector: Vec<NeedGroup>,
    /// Missions for the event (during and after the emergency).
    pub missions: Vec<EventMission>,
    /// The response recorded in the EDANs, in time order.
    pub response: Vec<ResponseEntry>,
    /// Every zone with a place, for the map.
    pub map: Vec<MapZone>,
}

/// A record the report is about.
#[derive(Debug, Clone, Serialize)]
pub struct Subject {
    /// Document ID.
    pub id: String,
    /// Key.
    pub key: String,
    /// Title.
    pub title: Option<String>,
    /// Lifecycle state.
    pub status: Option<String>,
}

/// One EDAN of the event.
#[derive(Debug, Clone, Serialize)]
pub struct EventEdan {
    /// Key.
    pub key: String,
    /// Title.
    pub title: Option<String>,
    /// `preliminar`, `complementaria`, `sectorial`, `consolidada`.
    pub edan_type: Option<String>,
    /// Lifecycle state.
    pub status: Option<String>,
    /// Its zones, decisions and totals: exactly `ayni report` of it.
    pub report: EdanReport,
}

/// One need.
#[derive(Debug, Clone, Serialize)]
pub struct Need {
    /// The EDAN it belongs to.
    pub edan: String,
    /// Its item ID in the EDAN.
    pub item_id: String,
    /// Sector.
    pub sector: Option<String>,
    /// What is needed.
    pub item: Option<String>,
    /// How much.
    pub quantity: Option<f64>,
    /// Of what.
    pub unit: Option<String>,
    /// `vital`, `alta`, `media`.
    pub priority: Option<String>,
    /// `identified` unless recorded otherwise.
    pub status: String,
    /// The zone it was identified in.
    pub zone: Option<String>,
}

/// Needs of one sector and priority, by status.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NeedGroup {
    /// Sector.
    pub sector: String,
    /// Priority.
    pub priority: String,
    /// How many needs.
    pub needs: usize,
    /// Not yet covered (identified or requested).
    pub open: usize,
    /// Partly covered.
    pub partially_covered: usize,
    /// Covered.
    pub covered: usize,
    /// Cancelled.
    pub cancelled: usize,
}

/// A mission for the event.
#[derive(Debug, Clone, Serialize)]
pub struct EventMission {
    /// Key.
    pub key: String,
    /// Title.
    pub title: Option<String>,
    /// Lifecycle state.
    pub status: Option<String>,
    /// `during_emergency`, `after_emergency`…
    pub phase: Option<String>,
    /// How many results it recorded.
    pub results: usize,
    /// What it delivered: `(description, quantity, unit)`.
    pub delivered: Vec<(String, f64, Option<String>)>,
}

/// One response action recorded in an EDAN.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseEntry {
    /// The EDAN.
    pub edan: String,
    /// Who.
    pub actor: Option<String>,
    /// What.
    pub action: Option<String>,
    /// With what.
    pub resources: Option<String>,
    /// During or after the emergency.
    pub phase: Option<String>,
    /// When.
    pub at: Option<String>,
}

/// A zone on the map.
#[derive(Debug, Clone, Serialize)]
pub struct MapZone {
    /// The EDAN.
    pub edan: String,
    /// Zone ID.
    pub zone: String,
    /// Zone name.
    pub name: Option<String>,
    /// Latitude (WGS 84).
    pub lat: f64,
    /// Longitude (WGS 84).
    pub lon: f64,
    /// The zone's decision in its EDAN's report.
    pub decision: String,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

fn subject(r: &Record) -> Subject {
    Subject { id: r.id.clone(), key: r.key.clone(), title: r.title.clone(), status: r.status.clone() }
}

/// Builds the report of `event` from its EDANs and missions.
pub fn build(event: &Record, edans: &[Record], missions: &[Record]) -> EventReport {
    let f = &event.fields;
    let scope = f
        .get("scope")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| {
                    ["department", "province", "municipality"]
                        .iter()
                        .filter_map(|k| s.get(*k).and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join(" / ")
                })
                .collect()
        })
        .unwrap_or_default();
    let mut needs = vec![];
    let mut response = vec![];
    let mut map = vec![];
    let mut reports = vec![];
    for e in edans {
        let report = report::build(e);
        let items = |field: &str| e.fields.get(field).and_then(Value::as_object).cloned().unwrap_or_default();
        for (id, n) in items("needs") {
            needs.push(Need {
                edan: e.key.clone(),
                item_id: id,
                sector: text(&n, "sector"),
                item: text(&n, "item"),
                quantity: n.get("quantity").and_then(Value::as_f64),
                unit: text(&n, "unit"),
                priority: text(&n, "priority"),
                status: text(&n, "status").unwrap_or_else(|| "identified".into()),
                zone: text(&n, "zone"),
            });
        }
        for (_, r) in items("response") {
            response.push(ResponseEntry {
                edan: e.key.clone(),
                actor: text(&r, "actor"),
                action: text(&r, "action"),
                resources: text(&r, "resources"),
                phase: text(&r, "phase"),
                at: text(&r, "at"),
            });
        }
        for (zone, z) in items("zones") {
            let geo = z.get("geo");
            let coord = |k: &str| geo.and_then(|g| g.get(k)).and_then(Value::as_f64);
            if let (Some(lat), Some(lon)) = (coord("lat"), coord("lon")) {
                let decision = report.zones.iter().find(|r| r.zone == zone).map(|r| r.decision.clone());
                map.push(MapZone {
                    edan: e.key.clone(),
                    name: text(&z, "name"),
                    zone,
                    lat,
                    lon,
                    decision: decision.unwrap_or_else(|| "no_data".into()),
                });
            }
        }
        reports.push(EventEdan {
            key: e.key.clone(),
            title: e.title.clone(),
            edan_type: text(&e.fields, "edan_type"),
            status: e.status.clone(),
            report,
        });
    }
    let rank = |p: &Option<String>| p.as_deref().and_then(|p| PRIORITIES.iter().position(|x| *x == p)).unwrap_or(9);
    needs.sort_by(|a, b| {
        rank(&a.priority).cmp(&rank(&b.priority)).then(a.sector.cmp(&b.sector)).then(a.item.cmp(&b.item))
    });
    let mut groups: BTreeMap<(usize, String), NeedGroup> = BTreeMap::new();
    for n in &needs {
        let sector = n.sector.clone().unwrap_or_default();
        let priority = n.priority.clone().unwrap_or_default();
        let g = groups.entry((rank(&n.priority), sector.clone())).or_insert(NeedGroup {
            sector,
            priority,
            needs: 0,
            open: 0,
            partially_covered: 0,
            covered: 0,
            cancelled: 0,
        });
        g.needs += 1;
        match n.status.as_str() {
            "covered" => g.covered += 1,
            "partially_covered" => g.partially_covered += 1,
            "cancelled" => g.cancelled += 1,
            _ => g.open += 1,
        }
    }
    response.sort_by(|a, b| a.at.cmp(&b.at));
    let missions = missions
        .iter()
        .map(|m| EventMission {
            key: m.key.clone(),
            title: m.title.clone(),
            status: m.status.clone(),
            phase: text(&m.fields, "phase"),
            results: m.fields.get("results").and_then(Value::as_object).map_or(0, |r| r.len()),
            delivered: m
                .fields
                .get("donated_items")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| {
                            Some((text(i, "description")?, i.get("qty").and_then(Value::as_f64)?, text(i, "unit")))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    EventReport {
        event: subject(event),
        hazard_type: text(f, "hazard_type"),
        started_at: text(f, "started_at"),
        impact_text: text(f, "impact_text"),
        scope,
        edans: reports,
        needs,
        needs_by_sector: groups.into_values().collect(),
        missions,
        response,
        map,
    }
}

impl Reader {
    /// Like [`Node::event_report`], from only the records `keep` lets
    /// through (what a client may read); an event it does not keep is
    /// unknown.
    pub fn event_report_of(&self, reference: &str, keep: &dyn Fn(&Record) -> bool) -> Result<EventReport> {
        let event = match self.get(reference) {
            Err(_) if !reference.contains(':') && self.get(&format!("event:{reference}")).is_ok() => {
                self.get(&format!("event:{reference}"))?
            }
            other => other?,
        };
        if !keep(&event) {
            return Err(Error::NotFound(reference.to_string()));
        }
        if event.kind != "event" {
            return Err(Error::malformed("reference", format!("{reference} is a {}, not an event", event.kind)));
        }
        let id = Value::String(event.id.clone());
        let mut edans = self.list("edan", &[("event_id".into(), id.clone())])?;
        edans.retain(|r| keep(r));
        let mut missions = self.list("mission", &[("emergency_event_id".into(), id)])?;
        missions.retain(|r| keep(r));
        Ok(build(&event, &edans, &missions))
    }
}
