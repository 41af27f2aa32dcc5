//! The decisions that wait for HQ, gathered from the records: zones more
//! than one team counted and nobody accepted, fields with concurrent values
//! (each value with who wrote it and when), amendment proposals to
//! validated figures, and EDANs ready to be validated or published.
//!
//! Owns: what counts as waiting, what each needs shown to be decided, and
//! the order (newest first). Must never: decide anything (each is settled
//! by an ordinary write — `set accepted.Z.team`, `resolve`, an amendment's
//! decision, `transition` — judged like any), or render.

use std::collections::BTreeMap;

use automerge::{Automerge, ChangeHash, ObjId as ExId, ObjType, ReadDoc, Value as AmValue, ROOT};
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::Result;
use crate::id::DocumentId;
use crate::identity::NodeId;
use crate::node::{rfc3339, Reader, Record};

/// The record a decision is about.
#[derive(Debug, Clone, Serialize)]
pub struct About {
    /// Its kind.
    pub kind: String,
    /// Its key.
    pub key: String,
    /// Its document ID.
    pub id: String,
    /// Its title.
    pub title: Option<String>,
    /// Its lifecycle state.
    pub status: Option<String>,
}

impl About {
    fn of(rec: &Record) -> About {
        About {
            kind: rec.kind.clone(),
            key: rec.key.clone(),
            id: rec.id.clone(),
            title: rec.title.clone(),
            status: rec.status.clone(),
        }
    }
}

/// One of a field's concurrent values, with who wrote it and when.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// The value.
    pub value: Value,
    /// The node, or `client NAME via NODE`.
    pub by: Option<String>,
    /// When (the change's time).
    pub at: Option<String>,
}

/// One decision waiting for HQ; `at` is when what asks for it last changed.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Decision {
    /// Several teams counted one zone: accept one team's figures
    /// (`accepted.ZONE.team`).
    DoubleCount {
        /// The latest observation's time.
        at: String,
        /// The EDAN.
        record: About,
        /// The zone.
        zone: String,
        /// Its name.
        zone_name: Option<String>,
        /// Every team's figures, by team.
        observations: BTreeMap<String, Map<String, Value>>,
    },
    /// A field with concurrent values: settle on one (`resolve`).
    Conflict {
        /// The latest value's time.
        at: String,
        /// The record.
        record: About,
        /// The field's dotted path.
        path: String,
        /// Every value, with who and when.
        values: Vec<Written>,
    },
    /// An edit to validated figures, kept as a proposal: accept or reject.
    Amendment {
        /// When it was recorded.
        at: String,
        /// The EDAN.
        record: About,
        /// The proposed change's hash (its key in `amendments`).
        change: String,
        /// Who proposed it.
        by: String,
        /// The figures it proposes, by path.
        proposed: Map<String, Value>,
        /// Those figures as they are.
        current: Map<String, Value>,
    },
    /// A consolidated EDAN: validate it (with its report's totals).
    Validate {
        /// When the record last changed.
        at: String,
        /// The EDAN.
        record: About,
        /// Its report's totals.
        totals: BTreeMap<String, f64>,
    },
    /// A validated EDAN: publish it.
    Publish {
        /// When the record last changed.
        at: String,
        /// The EDAN.
        record: About,
        /// Its report's totals.
        totals: BTreeMap<String, f64>,
    },
}

impl Decision {
    fn at(&self) -> &str {
        match self {
            Decision::DoubleCount { at, .. }
            | Decision::Conflict { at, .. }
            | Decision::Amendment { at, .. }
            | Decision::Validate { at, .. }
            | Decision::Publish { at, .. } => at,
        }
    }
}

/// The queue: how many, and each, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct Decisions {
    /// How many wait.
    pub count: usize,
    /// Each, newest first.
    pub decisions: Vec<Decision>,
}

/// The latest time among `times` (RFC 3339 strings compare as times when
/// written alike; those that do not parse are ignored).
fn latest<'a>(times: impl Iterator<Item = &'a str>) -> Option<String> {
    times
        .filter_map(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
        .max()
        .map(rfc3339)
}

impl Reader {
    /// Every decision waiting for HQ (see the module).
    pub fn decisions(&self) -> Result<Decisions> {
        let mut out = vec![];
        for rec in self.list("edan", &[])? {
            let about = About::of(&rec);
            let report = crate::report::build(&rec);
            for z in report.zones.iter().filter(|z| z.decision == "needs_decision") {
                let observed = z.observations.values().filter_map(|o| o.get("observed_at").and_then(Value::as_str));
                out.push(Decision::DoubleCount {
                    at: latest(observed).unwrap_or_else(|| rec.created_at.clone()),
                    record: about.clone(),
                    zone: z.zone.clone(),
                    zone_name: z.name.clone(),
                    observations: z.observations.clone(),
                });
            }
            let totals = || report.totals.clone();
            match rec.status.as_deref() {
                Some("consolidated") => out.push(Decision::Validate {
                    at: self.last_change_at(&rec)?,
                    record: about.clone(),
                    totals: totals(),
                }),
                Some("validated") => out.push(Decision::Publish {
                    at: self.last_change_at(&rec)?,
                    record: about.clone(),
                    totals: totals(),
                }),
                _ => {}
            }
            let amendments = rec.fields.get("amendments").and_then(Value::as_object);
            for (change, entry) in amendments.into_iter().flatten() {
                if crate::tally::amendment_status(entry) != "proposed" {
                    continue;
                }
                let proposed = entry.get("proposed").and_then(Value::as_object).cloned().unwrap_or_default();
                let current = proposed
                    .keys()
                    .map(|path| {
                        let now =
                            path.split('.').try_fold(&rec.fields, |v, k| v.get(k)).cloned().unwrap_or(Value::Null);
                        (path.clone(), now)
                    })
                    .collect();
                out.push(Decision::Amendment {
                    at: entry.get("at").and_then(Value::as_str).unwrap_or(&rec.created_at).to_string(),
                    record: about.clone(),
                    change: change.clone(),
                    by: self.who(entry.get("by").and_then(Value::as_str).unwrap_or_default())?,
                    proposed,
                    current,
                });
            }
        }
        for c in self.conflicts()? {
            let id: DocumentId = c.id.parse()?;
            let doc = self.load(&id)?;
            let rec = self.get(&c.id)?;
            for f in c.fields {
                let values = self.written(&doc, &f.path)?;
                let at =
                    latest(values.iter().filter_map(|v| v.at.as_deref())).unwrap_or_else(|| rec.created_at.clone());
                let values = if values.is_empty() {
                    f.values.into_iter().map(|value| Written { value, by: None, at: None }).collect()
                } else {
                    values
                };
                out.push(Decision::Conflict { at, record: About::of(&rec), path: f.path, values });
            }
        }
        out.sort_by(|a, b| b.at().cmp(a.at()));
        Ok(Decisions { count: out.len(), decisions: out })
    }

    /// When the record last changed (its newest head's time).
    fn last_change_at(&self, rec: &Record) -> Result<String> {
        let heads: Vec<ChangeHash> = rec.heads.iter().filter_map(|h| h.parse().ok()).collect();
        let id: DocumentId = rec.id.parse()?;
        let doc = self.load(&id)?;
        let at = heads.iter().filter_map(|h| doc.get_change_by_hash(h)).map(|c| c.timestamp()).max().unwrap_or(0);
        Ok(OffsetDateTime::from_unix_timestamp(at).map(rfc3339).unwrap_or_else(|_| rec.created_at.clone()))
    }

    /// The concurrent values at `data.PATH` of `doc`, each with the author
    /// and time of the change that wrote it.
    fn written(&self, doc: &Automerge, path: &str) -> Result<Vec<Written>> {
        let mut objs = vec![ROOT.clone()];
        let mut keys: Vec<&str> = vec!["data"];
        keys.extend(path.split('.'));
        let (last, walk) = match keys.split_last() {
            Some(x) => x,
            None => return Ok(vec![]),
        };
        for key in walk {
            objs = objs
                .iter()
                .flat_map(|o| doc.get_all(o, *key).unwrap_or_default())
                .filter_map(|(v, id)| matches!(v, AmValue::Object(ObjType::Map | ObjType::Table)).then_some(id))
                .collect();
        }
        let mut out = vec![];
        // each change's op range, read once for all the values
        let changes = doc.get_changes(&[]);
        for o in &objs {
            for (v, id) in doc.get_all(o, *last).unwrap_or_default() {
                let value = match v {
                    AmValue::Scalar(s) => crate::record::scalar_to_json(&s),
                    AmValue::Object(ObjType::Text) => Value::String(doc.text(&id).unwrap_or_default()),
                    AmValue::Object(_) => continue,
                };
                let (by, at) = match self.author_of_op(&changes, &id)? {
                    Some((by, at)) => (Some(by), Some(at)),
                    None => (None, None),
                };
                out.push(Written { value, by, at });
            }
        }
        Ok(out)
    }

    /// A member by the name it was enrolled with (`field-0 (NODE-ID)`);
    /// anything else as it is.
    fn who(&self, node: &str) -> Result<String> {
        let Ok(id) = node.parse::<NodeId>() else { return Ok(node.to_string()) };
        Ok(match self.authority()?.membership(&id) {
            Some(m) if !m.payload.label.is_empty() => format!("{} ({node})", m.payload.label),
            _ => node.to_string(),
        })
    }

    /// Who made the change that holds operation `op`, and when.
    fn author_of_op(&self, changes: &[automerge::Change], op: &ExId) -> Result<Option<(String, String)>> {
        let ExId::Id(counter, actor, _) = op else { return Ok(None) };
        let Some(change) = changes.iter().find(|c| {
            c.actor_id() == actor && c.start_op().get() <= *counter && *counter < c.start_op().get() + c.len() as u64
        }) else {
            return Ok(None);
        };
        let by = match self.proof(&change.hash().0)? {
            Some(crate::attest::Proof::Attested(a)) => a.label(),
            _ => match NodeId::from_actor(change.actor_id()) {
                Some(node) => self.who(&node.to_string())?,
                None => change.actor_id().to_hex_string(),
            },
        };
        let at = OffsetDateTime::from_unix_timestamp(change.timestamp()).map(rfc3339).unwrap_or_default();
        Ok(Some((by, at)))
    }
}
