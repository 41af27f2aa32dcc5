//! Roles: what a member may change, decided from the author's enrolment and
//! the kind's schema, both when a node makes a change (refused before it is
//! stored) and when a change arrives (refused like a bad signature).
//!
//! Owns: the role rules. `hq` may do everything. `field` may not change
//! catalogue kinds (`x-ayni.catalogue`) beyond their `field_editable`
//! fields, may not write `hq_fields`, may not make the transitions the
//! lifecycle lists as `hq_only`, and writes EDAN tallies only for a team
//! whose record lists it in `node_ids`. Must never: read the store, the
//! network or signatures: the rules judge a [`Policy`] snapshot.

use automerge::{Automerge, PatchAction, Prop};

use crate::identity::NodeId;
use crate::network::Role;
use crate::policy::Policy;
use crate::record::ENVELOPE_KEYS;
use crate::schema::KindSchema;
use serde_json::{Map, Value};

/// The field paths and new transitions a change (from `before` to the
/// document's heads) makes.
#[derive(Default)]
pub(crate) struct Touched {
    /// Field paths under `data`, as segments.
    pub fields: Vec<Vec<String>>,
    /// States that new transition-log entries move to.
    pub transitions: Vec<String>,
    /// Whether the change created the record (wrote its envelope).
    pub created: bool,
}

fn prop(p: &Prop) -> String {
    match p {
        Prop::Map(k) => k.to_string(),
        Prop::Seq(i) => i.to_string(),
    }
}

/// What changed from `prior` to `doc`, a later state of the same
/// document (the caller holds both: rebuilding the earlier state from
/// `doc`'s history would cost a document load per judged change).
pub(crate) fn touched(prior: &Automerge, doc: &Automerge) -> Touched {
    let before = prior.get_heads();
    let before = before.as_slice();
    let mut t = Touched { fields: vec![], transitions: vec![], created: before.is_empty() };
    let log_before: std::collections::HashSet<String> =
        crate::record::transitions(prior).into_iter().map(|e| e.id).collect();
    for p in doc.diff(before, &doc.get_heads()) {
        let mut path: Vec<String> = p.path.iter().map(|(_, pr)| prop(pr)).collect();
        match &p.action {
            PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => path.push(key.to_string()),
            PatchAction::Conflict { prop: pr } | PatchAction::Increment { prop: pr, .. } => path.push(prop(pr)),
            _ => {}
        }
        match path.first().map(String::as_str) {
            Some("data") => t.fields.push(path[1..].to_vec()),
            Some(k) if path.len() == 1 && ENVELOPE_KEYS.contains(&k) => t.created = true,
            _ => {}
        }
    }
    for e in crate::record::transitions(doc) {
        if !log_before.contains(&e.id) {
            t.transitions.push(e.to);
        }
    }
    t
}

/// Why `author` may not make the change `t` to a record of `kind`, or
/// `None` when it may.
pub(crate) fn role_violation(policy: &Policy, author: &NodeId, kind: &str, t: &Touched) -> Option<String> {
    match policy.role_of(author) {
        Some(Role::Hq) => return None,
        Some(Role::Field) => {}
        None => {
            // a node outside any network (no enrolment yet) edits only its own store
            if !policy.has_network() {
                return None;
            }
            return Some(format!("{author} is not an enrolled member"));
        }
    }
    let who = author.to_string();
    let in_team = |team: &str| policy.in_team(&who, team);
    field_violation(policy, &who, &in_team, "team:{team} node_ids", kind, t)
}

/// Why a field member (`who`) may not make the change `t` to a record of
/// `kind`, or `None` when it may. `in_team` says whether it counts for a
/// team; `team_rule` says where that is decided, for the message (`{team}`
/// stands for the team).
pub(crate) fn field_violation(
    policy: &Policy,
    who: &str,
    in_team: &dyn Fn(&str) -> bool,
    team_rule: &str,
    kind: &str,
    t: &Touched,
) -> Option<String> {
    let Ok(schema) = policy.kind(kind) else {
        return Some(format!("unknown record kind '{kind}'"));
    };
    let meta = schema.meta();
    let editable = meta.get("field_editable").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    let is_editable =
        |path: &[String]| path.first().is_some_and(|f| editable.iter().any(|e| e.as_str() == Some(f.as_str())));
    if schema.catalogue {
        if t.created {
            return Some(format!("only hq may create {kind} records (catalogue)"));
        }
        if let Some(p) = t.fields.iter().find(|p| !is_editable(p)) {
            return Some(format!("only hq may change {kind} {} (catalogue)", p.join(".")));
        }
        if !t.transitions.is_empty() {
            return Some(format!("only hq may move {kind} records through their lifecycle (catalogue)"));
        }
    }
    let hq_fields = meta.get("hq_fields").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    if let Some(p) =
        t.fields.iter().find(|p| p.first().is_some_and(|f| hq_fields.iter().any(|h| h.as_str() == Some(f.as_str()))))
    {
        return Some(format!("only hq may write {kind} {}", p.join(".")));
    }
    if let Some(lc) = &schema.lifecycle {
        if let Some(to) = t.transitions.iter().find(|to| lc.hq_only.contains(to)) {
            return Some(format!("only hq may move a {kind} to '{to}'"));
        }
    }
    if kind == "edan" {
        for p in &t.fields {
            if p.first().map(String::as_str) == Some("tallies") && p.len() >= 3 {
                let team = &p[2];
                if !in_team(team) {
                    return Some(format!(
                        "{who} is not in team {team} ({}), so it cannot write tallies.{}",
                        team_rule.replace("{team}", team),
                        p[1..3].join(".")
                    ));
                }
            }
        }
    }
    None
}

/// If the change from `before` to `after` edits fields the kind freezes
/// (`x-ayni.frozen`) while `before` is at or past the freezing state,
/// the values it would set (dotted path → value).
pub(crate) fn frozen_edit(
    schema: &KindSchema,
    before: &Automerge,
    after: &Automerge,
    t: &Touched,
) -> Option<Map<String, Value>> {
    let frozen = schema.meta().get("frozen")?;
    let from = frozen.get("from")?.as_str()?;
    let fields: Vec<&str> = frozen.get("fields")?.as_array()?.iter().filter_map(Value::as_str).collect();
    let lc = schema.lifecycle.as_ref()?;
    let state = lc.fold(&crate::record::transitions(before)).state;
    if lc.precedence(&state) < lc.precedence(from) {
        return None;
    }
    let edits: Vec<&Vec<String>> =
        t.fields.iter().filter(|p| p.first().is_some_and(|f| fields.contains(&f.as_str()))).collect();
    if edits.is_empty() {
        return None;
    }
    let values = crate::record::fields(after);
    let mut out = Map::new();
    for p in edits {
        let pointer = format!("/{}", p.join("/"));
        out.insert(p.join("."), values.pointer(&pointer).cloned().unwrap_or(Value::Null));
    }
    Some(out)
}
