//! Amendment proposals (DOMAIN.md §3 row 7): an edit to frozen figures
//! (an EDAN's tallies once validated) made by a replica that had not seen
//! the validation does not change the validated numbers. An HQ node that
//! receives one refuses it from the document and records it in the
//! record's `amendments`, for HQ to accept or reject; other nodes refuse it
//! (it stays with its author, and reaches HQ with the author's next sync
//! with HQ).
//!
//! Owns: detecting edits to frozen figures ([`frozen_paths`]), recording
//! proposals (HQ only) and deciding them. Must never: let a non-hq change
//! alter frozen figures, record a proposal on a node that is not HQ, or
//! apply, on acceptance, anything but frozen figures.

use automerge::transaction::CommitOptions;
use automerge::Automerge;
use serde_json::{json, Map, Value};

use crate::attest::Signed;
use crate::effect::Path;
use crate::error::{Error, Result};
use crate::node::Reader;
use crate::schema::KindSchema;

/// An edit to frozen figures that arrived after they were validated.
#[derive(Debug, Clone)]
pub(crate) struct Proposal {
    /// The refused change (hex hash).
    pub change: String,
    /// Its author.
    pub by: String,
    /// The values it would have set: dotted field path → value.
    pub proposed: serde_json::Map<String, serde_json::Value>,
}

/// The kind's frozen fields and the state from which they are frozen
/// (`x-ayni.frozen`).
fn frozen(schema: &KindSchema) -> Option<(&str, Vec<&str>)> {
    let f = schema.meta().get("frozen")?;
    let from = f.get("from")?.as_str()?;
    let fields = f.get("fields")?.as_array()?.iter().filter_map(Value::as_str).collect();
    Some((from, fields))
}

/// Of the field paths a change touched (`fields`), those the kind freezes
/// while the record is in `state` (at or past the freezing state).
pub(crate) fn frozen_paths<'p>(schema: &KindSchema, state: Option<&str>, fields: &'p [Path]) -> Vec<&'p Path> {
    let (Some((from, frozen)), Some(lc), Some(state)) = (frozen(schema), schema.lifecycle.as_ref(), state) else {
        return vec![];
    };
    if lc.precedence(state) < lc.precedence(from) {
        return vec![];
    }
    fields.iter().filter(|p| p.first().is_some_and(|f| frozen.contains(&f.as_str()))).collect()
}

/// The values `paths` hold in `values` (a record's fields): what a
/// proposal would set, by dotted path.
pub(crate) fn proposed(values: &Value, paths: &[&Path]) -> Map<String, Value> {
    let mut out = Map::new();
    for p in paths {
        let pointer = format!("/{}", p.join("/"));
        out.insert(p.join("."), values.pointer(&pointer).cloned().unwrap_or(Value::Null));
    }
    out
}

impl Reader {
    /// Writes received proposals into the record's `amendments` as this
    /// node's own (signed) change; returns the signatures to store. Only
    /// an HQ node records proposals (admission decides).
    pub(crate) fn record_amendments(&self, doc: &mut Automerge, proposals: &[Proposal]) -> Result<Vec<Signed>> {
        // a proposal already recorded (the same change offered again, by a
        // reconnecting client) is not reopened: HQ may have decided it
        let known =
            crate::record::fields(doc).get("amendments").and_then(Value::as_object).cloned().unwrap_or_default();
        let proposals: Vec<&Proposal> = proposals.iter().filter(|p| !known.contains_key(&p.change)).collect();
        if proposals.is_empty() {
            return Ok(vec![]);
        }
        let before = doc.get_heads();
        let mut d = std::mem::take(doc).with_actor(self.secret().public().actor_id());
        let mut tx = d.transaction();
        for p in &proposals {
            let entry = json!({
                "by": p.by,
                "recorded_by": self.id().to_string(),
                "at": crate::node::now_rfc3339(),
                "proposed": p.proposed,
                "status": "proposed",
            });
            crate::record::set_path(&mut tx, "amendments", &["amendments".to_string(), p.change.clone()], &entry)?;
        }
        crate::record::touch(&mut tx, "amendments")?;
        tx.commit_with(
            CommitOptions::default()
                .with_message(format!("record {} amendment proposal(s)", proposals.len()))
                .with_time(time::OffsetDateTime::now_utc().unix_timestamp()),
        );
        let sigs = self.sign_own(&d, &before);
        *doc = d;
        Ok(sigs)
    }
}

impl crate::node::Node {
    /// Accepts (applying its figures as HQ's own change) or rejects an
    /// amendment proposal, for `actor`. HQ only (an HQ node, and an hq
    /// client if one acts); only frozen figures are applied.
    pub fn decide_amendment(
        &self,
        actor: &crate::clients::Actor,
        reference: &str,
        change: &str,
        accept: bool,
    ) -> Result<crate::Record> {
        let node = self;
        if node.policy()?.role_of(&node.id()) != Some(crate::network::Role::Hq) {
            return Err(Error::Forbidden("only hq may decide amendments".into()));
        }
        if let crate::clients::Actor::Client(c) = actor {
            if c.role != crate::clients::ClientRole::Hq {
                return Err(Error::Forbidden(format!(
                    "client '{}' is a {} client: only hq decides amendments",
                    c.name, c.role
                )));
            }
        }
        let rec = node.get(reference)?;
        let schema = node.kind(&rec.kind)?;
        let amendments = rec.fields.get("amendments").and_then(Value::as_object).cloned().unwrap_or_default();
        let (key, entry) = amendments
            .iter()
            .find(|(k, _)| k.starts_with(change))
            .ok_or_else(|| Error::malformed("amendment", format!("{reference} has no amendment {change}")))?;
        if crate::tally::amendment_status(entry) != "proposed" {
            return Err(Error::Precondition(format!("amendment {key} was already decided")));
        }
        let frozen_fields = frozen(schema).map(|(_, f)| f).unwrap_or_default();
        let mut set: Vec<(String, Value)> = vec![];
        if accept {
            for (path, value) in entry.get("proposed").and_then(Value::as_object).into_iter().flatten() {
                let segs = crate::node::parse_path(path)?;
                if !frozen_fields.contains(&segs[0].as_str()) {
                    return Err(Error::Forbidden(format!(
                        "amendment {key} proposes {path}, which is not a frozen figure: only frozen figures are amended"
                    )));
                }
                set.push((path.clone(), value.clone()));
            }
        }
        let by = match actor {
            crate::clients::Actor::Client(c) => c.author(&node.id()),
            crate::clients::Actor::Node => node.id().to_string(),
        };
        let decision = json!({
            "status": if accept { "accepted" } else { "rejected" },
            "by": by,
            "at": crate::node::now_rfc3339(),
        });
        set.push((format!("amendments.{key}.decision"), decision));
        self.by(actor).set(reference, &set)
    }
}
