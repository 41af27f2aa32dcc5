//! The offer-approach catalogue of good municipal practices, as the 2018
//! model publishes it: an edition's practices, each with its managing
//! unit, its model, what can be transferred, what a requesting entity must
//! provide, the results achieved with other municipalities, and whom to
//! contact.
//!
//! Owns: choosing an edition's practices (a recorded `catalogue_edition`,
//! or the next edition as a draft of what is on offer now) and gathering
//! each practice's missions and results. Must never: render (the static
//! site is the export crate's) or write.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::node::{Reader, Record};

/// Practice states a next edition draws from.
const ON_OFFER: &[&str] = &["offered", "systematised"];

/// A catalogue edition, ready to publish.
#[derive(Debug, Clone, Serialize)]
pub struct Catalogue {
    /// Its number: 1 for the first recorded edition, by year.
    pub edition: usize,
    /// Its title.
    pub title: String,
    /// Its year, when recorded.
    pub year: Option<i64>,
    /// Whether it is a draft of the next edition (not recorded yet).
    pub draft: bool,
    /// Where it was presented.
    pub presented_at: Option<String>,
    /// The unit that endorsed it.
    pub endorsed_by: Option<Unit>,
    /// The unit that wrote it.
    pub authored_by: Option<Unit>,
    /// Where requests go: the unit that coordinates cooperation.
    pub coordinator: Option<Unit>,
    /// Its practices, by catalogue number then code.
    pub practices: Vec<Practice>,
}

/// An organisational unit, as a contact.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Unit {
    /// Key.
    pub key: String,
    /// Name.
    pub name: String,
    /// Acronym.
    pub acronym: Option<String>,
    /// Address.
    pub address: Option<String>,
}

/// One practice of the catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct Practice {
    /// Key.
    pub key: String,
    /// Code (`BP-GIRD`).
    pub code: String,
    /// Its number in this edition, when recorded.
    pub number: Option<i64>,
    /// Title in Spanish.
    pub title: String,
    /// Title in English.
    pub title_en: Option<String>,
    /// `bpm`, `management_model`, `programme`.
    pub kind: Option<String>,
    /// Lifecycle state.
    pub status: Option<String>,
    /// Thematic areas.
    pub thematic_areas: Vec<String>,
    /// The model, in short.
    pub summary: Option<String>,
    /// Premises.
    pub premises: Vec<String>,
    /// What can be transferred.
    pub characteristics: Vec<String>,
    /// What a requesting entity must provide: `(item, mandatory)`.
    pub prerequisites: Vec<(String, bool)>,
    /// How ready it is to transfer.
    pub transfer_readiness: Option<String>,
    /// Certifications: `(scheme, status)`.
    pub certifications: Vec<(String, String)>,
    /// The unit that manages it.
    pub managing_unit: Option<Unit>,
    /// The unit that operates it, if another.
    pub operated_by: Option<Unit>,
    /// A related course.
    pub related_course: Option<String>,
    /// Missions that transferred it, with their results.
    pub results: Vec<Transfer>,
}

/// A mission that transferred a practice.
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    /// Mission key.
    pub mission: String,
    /// Its title.
    pub title: Option<String>,
    /// Its type.
    pub mission_type: Option<String>,
    /// Its year.
    pub year: Option<i64>,
    /// The municipalities and entities it worked with (titles).
    pub with: Vec<String>,
    /// What it achieved (result descriptions).
    pub achieved: Vec<String>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

fn unit(r: &Record) -> Unit {
    Unit {
        key: r.key.clone(),
        name: text(&r.fields, "name_es").unwrap_or_else(|| r.key.clone()),
        acronym: text(&r.fields, "acronym"),
        address: text(&r.fields, "address"),
    }
}

/// Builds edition `edition` (1-based, by year; one past the last recorded
/// is the draft of the next; `None` is the latest recorded, or the draft
/// when none is).
pub fn build(
    editions: &[Record],
    practices: &[Record],
    missions: &[Record],
    units: &[Record],
    entities: &[Record],
    edition: Option<usize>,
) -> Result<Catalogue> {
    let mut editions: Vec<&Record> = editions.iter().collect();
    editions.sort_by_key(|e| (e.fields.get("year").and_then(Value::as_i64), e.key.clone()));
    let n = edition.unwrap_or(editions.len().max(1));
    if n == 0 || n > editions.len() + 1 {
        return Err(Error::malformed(
            "edition",
            format!(
                "no edition {n}: {} edition(s) recorded, so choose 1 to {} (the last is the draft of the next)",
                editions.len(),
                editions.len() + 1
            ),
        ));
    }
    let units_by_id: BTreeMap<&str, &Record> = units.iter().map(|u| (u.id.as_str(), u)).collect();
    let unit_of = |id: Option<String>| id.and_then(|id| units_by_id.get(id.as_str()).map(|u| unit(u)));
    let names: BTreeMap<&str, String> =
        entities.iter().map(|e| (e.id.as_str(), e.title.clone().unwrap_or_else(|| e.key.clone()))).collect();
    let recorded = editions.get(n - 1).copied();
    let year = recorded.and_then(|e| e.fields.get("year").and_then(Value::as_i64));
    let chosen: Vec<&Record> = match recorded {
        Some(e) => {
            let ids = strings(&e.fields, "practice_ids");
            practices.iter().filter(|p| ids.contains(&p.id)).collect()
        }
        None => practices.iter().filter(|p| p.status.as_deref().is_some_and(|s| ON_OFFER.contains(&s))).collect(),
    };
    let mut out: Vec<Practice> = chosen
        .into_iter()
        .map(|p| {
            let f = &p.fields;
            let number = f.get("catalogue_entries").and_then(Value::as_array).and_then(|entries| {
                entries
                    .iter()
                    .find(|e| e.get("edition").and_then(Value::as_i64) == year && year.is_some())?
                    .get("number")?
                    .as_i64()
            });
            let results = missions
                .iter()
                .filter(|m| strings(&m.fields, "practice_ids").contains(&p.id))
                .map(|m| Transfer {
                    mission: m.key.clone(),
                    title: m.title.clone(),
                    mission_type: text(&m.fields, "type"),
                    year: m.fields.get("year").and_then(Value::as_i64),
                    with: strings(&m.fields, "counterpart_entity_ids")
                        .iter()
                        .map(|id| names.get(id.as_str()).cloned().unwrap_or_else(|| id.clone()))
                        .collect(),
                    achieved: m
                        .fields
                        .get("results")
                        .and_then(Value::as_object)
                        .map(|r| r.values().filter_map(|x| text(x, "description")).collect())
                        .unwrap_or_default(),
                })
                .collect();
            Practice {
                key: p.key.clone(),
                code: text(f, "code").unwrap_or_else(|| p.key.clone()),
                number,
                title: text(f, "title_es").unwrap_or_else(|| p.key.clone()),
                title_en: text(f, "title_en"),
                kind: text(f, "kind"),
                status: p.status.clone(),
                thematic_areas: strings(f, "thematic_areas"),
                summary: text(f, "summary"),
                premises: strings(f, "premises"),
                characteristics: strings(f, "characteristics"),
                prerequisites: f
                    .get("prerequisites")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| {
                                Some((text(x, "item")?, x.get("mandatory").and_then(Value::as_bool).unwrap_or(false)))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                transfer_readiness: text(f, "transfer_readiness"),
                certifications: f
                    .get("certifications")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|x| Some((text(x, "scheme")?, text(x, "status")?))).collect())
                    .unwrap_or_default(),
                managing_unit: unit_of(text(f, "managing_unit_id")),
                operated_by: unit_of(text(f, "operated_by_unit_id")),
                related_course: text(f, "related_course"),
                results,
            }
        })
        .collect();
    out.sort_by(|a, b| a.number.unwrap_or(i64::MAX).cmp(&b.number.unwrap_or(i64::MAX)).then(a.code.cmp(&b.code)));
    let coordinator =
        units.iter().find(|u| strings(&u.fields, "roles").iter().any(|r| r == "coordinates_cooperation")).map(unit);
    Ok(Catalogue {
        edition: n,
        title: match recorded {
            Some(e) => e.title.clone().unwrap_or_else(|| e.key.clone()),
            None => format!("Catálogo de Buenas Prácticas Municipales — edición {n} (borrador)"),
        },
        year,
        draft: recorded.is_none(),
        presented_at: recorded.and_then(|e| text(&e.fields, "presented_at")),
        endorsed_by: unit_of(recorded.and_then(|e| text(&e.fields, "endorsed_by_unit_id"))),
        authored_by: unit_of(recorded.and_then(|e| text(&e.fields, "authored_by_unit_id"))),
        coordinator,
        practices: out,
    })
}

impl Reader {
    /// Edition `edition` of the practice catalogue (see [`build`]).
    pub fn catalogue(&self, edition: Option<usize>) -> Result<Catalogue> {
        build(
            &self.list("catalogue_edition", &[])?,
            &self.list("practice", &[])?,
            &self.list("mission", &[])?,
            &self.list("org_unit", &[])?,
            &self.list("entity", &[])?,
            edition,
        )
    }
}
