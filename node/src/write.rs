//! Writing records: the one write path for a node's own changes — add,
//! set, unset, delete, transition, resolve a conflict — each made for an
//! [`Actor`]: the node itself, or a client through it.
//!
//! Owns: resolve → load → edit in one automerge transaction → validate
//! against the kind's schema → judge by the permits (as the node, and as
//! the client it acts for) → sign → store durably. Must never: store a
//! change that fails any of those, leave half of one behind, or learn who
//! it writes for from anywhere but its [`Actor`] argument.
use std::collections::HashSet;

use automerge::transaction::{CommitOptions, Transaction};
use automerge::Automerge;
use serde_json::Value;

use crate::clients::{Actor, ClientRole};
use crate::effect::Snapshot;
use crate::error::{Error, Result};
use crate::id::{new_item_id, DocumentId};
use crate::lifecycle::Transition;
use crate::node::{now, parse_path, rfc3339, Built, Node, Reader, Record};
use crate::record::valid_key;
use crate::record::{self, Envelope};
use crate::schema::KindSchema;
use crate::store::Payload;

/// A new record built, validated, judged and signed, not stored yet (see
/// [`Writer::build_new`]).
pub struct NewRecord(Built);

/// A node's writes made for one [`Actor`] ([`Node::by`]).
pub struct Writer<'a> {
    node: &'a Node,
    actor: &'a Actor,
}

/// The node acting for itself.
const ITSELF: Actor = Actor::Node;

impl Node {
    /// This node's writes, made for `actor`: judged by the actor's role as
    /// well as the node's own, and named after it in each change's message.
    pub fn by<'a>(&'a self, actor: &'a Actor) -> Writer<'a> {
        Writer { node: self, actor }
    }

    /// Creates a record, as the node itself ([`Writer::add`]).
    pub fn add(&self, kind: &str, key: Option<&str>, fields: Value) -> Result<Record> {
        self.by(&ITSELF).add(kind, key, fields)
    }

    /// Sets fields, as the node itself ([`Writer::set`]).
    pub fn set(&self, reference: &str, assignments: &[(String, Value)]) -> Result<Record> {
        self.by(&ITSELF).set(reference, assignments)
    }

    /// Deletes a record, as the node itself.
    #[cfg(test)]
    pub fn delete(&self, reference: &str) -> Result<Record> {
        self.by(&ITSELF).delete(reference)
    }

    /// Moves a record through its lifecycle, as the node itself.
    pub fn transition(&self, reference: &str, to: &str, note: Option<&str>) -> Result<Record> {
        self.by(&ITSELF).transition(reference, to, note)
    }

    /// Settles a conflict, as the node itself ([`Writer::resolve_conflict`]).
    #[cfg(test)]
    pub fn resolve_conflict(&self, reference: &str, path: &str, value: Value) -> Result<Record> {
        self.by(&ITSELF).resolve_conflict(reference, path, value)
    }

    /// Stores a record built by [`Writer::build_new`], durably, unless a
    /// record of that kind and key was stored meanwhile (the check that
    /// counts is this one, made by the thread that writes).
    pub fn insert(&self, new: NewRecord) -> Result<Record> {
        let b = new.0;
        if !self.store().ids_by_key(&b.rec.kind, &b.rec.key)?.is_empty() {
            let (kind, key) = (&b.rec.kind, &b.rec.key);
            return Err(Error::invalid(kind, "key", format!("a {kind} with key '{key}' already exists")));
        }
        self.store_write(b.id, Payload::New { bytes: &b.doc, hashes: &b.hashes }, &b.rec, b.sigs.clone())?;
        Ok(self.shown(b.rec))
    }
}

/// A change's message, naming the client it is made for, if any.
fn message(actor: &Actor, message: &str) -> String {
    match actor {
        Actor::Client(c) => format!("{message} (client {})", c.name),
        Actor::Node => message.to_string(),
    }
}

impl Writer<'_> {
    /// The one write path for an existing record: `f` edits inside a
    /// transaction; the result is validated against the kind's schema and
    /// committed and stored durably only if valid. Nothing is written on error.
    pub(crate) fn edit<F>(&self, reference: &str, what: &str, allow_deleted: bool, f: F) -> Result<Record>
    where
        F: FnOnce(&Node, &'static KindSchema, &mut Transaction<'_>, &str) -> Result<()>,
    {
        let node = self.node;
        let id = node.resolve(reference)?;
        let _guard = node.write_lock();
        let mut doc = node.load(&id)?;
        let env = record::envelope(&doc)
            .ok_or_else(|| Error::Damaged { id: id.to_string(), reason: "not an Ayni record".into() })?;
        if !allow_deleted && !record::is_live(&doc) {
            return Err(Error::Deleted { kind: env.kind, key: env.key, id: id.to_string() });
        }
        let schema = node.kind(&env.kind)?;
        let stored_heads = doc.get_heads();
        let before = Snapshot::read(&doc, None);
        let mut tx = doc.transaction();
        let label = id.to_string();
        let outcome = f(node, schema, &mut tx, &label).and_then(|()| {
            if record::is_live(&tx) {
                record::touch(&mut tx, &id.to_string())?;
            }
            schema.validate(&record::fields(&tx))
        });
        if let Err(e) = outcome {
            tx.rollback();
            return Err(e);
        }
        let opts = CommitOptions::default().with_message(message(self.actor, what)).with_time(now().unix_timestamp());
        let (committed, _) = tx.commit_with(opts);
        node.judge_write(self.actor, &id, schema, &before, &doc)?;
        let rec = node.view_of(&id, &doc)?;
        let sigs = node.sign_committed(committed);
        node.store_write(id, Payload::Changed { doc: &doc, stored_heads: &stored_heads }, &rec, sigs)?;
        Ok(node.shown(rec))
    }

    /// [`Reader::build_for`], as this writer's actor.
    pub(crate) fn build_from(
        &self,
        kind: &str,
        key: Option<&str>,
        fields: Value,
        taken: &mut HashSet<String>,
        import: Option<&Planned>,
    ) -> Result<Built> {
        self.node.build_for(self.actor, kind, key, fields, taken, import)
    }
}

impl Reader {
    /// Builds (without storing) a new record's document; given `import`, one
    /// of an import:
    /// `fields` may carry `status` (the record is created at that state, its
    /// transition log holding the moves from the initial one), and
    /// references to keys of `import` (the records of the same kind in the
    /// same import) take the document IDs planned for them.
    pub(crate) fn build_for(
        &self,
        actor: &Actor,
        kind: &str,
        key: Option<&str>,
        fields: Value,
        taken: &mut HashSet<String>,
        import: Option<&Planned>,
    ) -> Result<Built> {
        let node = self;
        let Prepared { schema, id, key, fields, moves } = node.prepare(kind, key, fields, taken, import)?;

        let env = Envelope {
            kind: kind.to_string(),
            key,
            id: id.to_string(),
            created_at: rfc3339(now()),
            created_by: node.id().to_string(),
        };
        let mut doc = Automerge::new().with_actor(node.secret().public().actor_id());
        let mut tx = doc.transaction();
        record::create(&mut tx, &id.to_string(), &env, &fields)?;
        let mut status = schema.lifecycle.as_ref().map(|lc| lc.initial.clone());
        for (seq, to) in moves.iter().enumerate() {
            let entry = Transition {
                id: new_item_id(),
                from: status.clone().unwrap_or_default(),
                to: to.clone(),
                seq: seq as u64 + 1,
                at: env.created_at.clone(),
                by: env.created_by.clone(),
                note: Some("import".into()),
                resolves: vec![],
            };
            record::append_transition(&mut tx, &id.to_string(), &entry)?;
            status = Some(to.clone());
        }
        let (committed, _) = tx.commit_with(
            CommitOptions::default()
                .with_message(message(actor, &format!("add {kind} {}", env.key)))
                .with_time(now().unix_timestamp()),
        );
        node.judge_write(actor, &id, schema, &Snapshot::default(), &doc)?;
        // a new document by one writer has no conflicts and its fields are
        // exactly what was written: the view needs no read-back
        let rec = Record {
            id: id.to_string(),
            kind: env.kind,
            key: env.key,
            title: schema.title_field.as_ref().and_then(|f| fields.get(f)).and_then(Value::as_str).map(String::from),
            status,
            deleted: false,
            flags: vec![],
            conflicts: 0,
            created_at: env.created_at,
            created_by: env.created_by,
            heads: doc.get_heads().iter().map(|h| h.to_string()).collect(),
            fields,
            url: None,
        };
        let sigs = node.sign_committed(committed);
        Ok(Built { id, doc: doc.save_nocompress(), hashes: crate::sync::sigs::document_hashes(&doc), rec, sigs })
    }
}

/// The (zone, team) pairs of a `tallies` map.
fn tallies_teams(tallies: &Value) -> Vec<(String, String)> {
    tallies
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(zone, teams)| {
            teams.as_object().into_iter().flatten().map(move |(team, _)| (zone.clone(), team.clone()))
        })
        .collect()
}

/// Document IDs planned, by key, for the records of one kind in one import
/// (so they may reference one another by key).
pub(crate) type Planned = std::collections::HashMap<String, DocumentId>;

/// A new record's input, checked: what to build it from.
pub(crate) struct Prepared {
    pub schema: &'static KindSchema,
    pub id: DocumentId,
    pub key: String,
    pub fields: Value,
    /// The lifecycle moves from the initial state to the record's state
    /// (an import's `status`), in order.
    pub moves: Vec<String>,
}

impl Reader {
    /// Builds a new record for `actor` ([`Reader::build_for`]), not stored yet.
    pub(crate) fn build_new(&self, actor: &Actor, kind: &str, key: Option<&str>, fields: Value) -> Result<NewRecord> {
        self.build_for(actor, kind, key, fields, &mut HashSet::new(), None).map(NewRecord)
    }

    /// Judges a change this node is about to store — `before` the record
    /// as stored (empty for a new one), `doc` with the change made — by the
    /// permits, as this node and, when it acts for a client, as that
    /// client; the same judgement every peer applies on receipt. Refuses
    /// edits to frozen figures by anyone but HQ (HQ amends them).
    pub(crate) fn judge_write(
        &self,
        actor: &Actor,
        id: &DocumentId,
        schema: &'static KindSchema,
        before: &Snapshot,
        doc: &Automerge,
    ) -> Result<()> {
        use crate::permits::{judge, Author};
        let policy = self.policy()?;
        let permits = crate::permits::permits()?;
        let after = Snapshot::read(doc, None);
        let me = self.id().to_string();
        let node_role = match policy.role_of(&self.id()) {
            Some(crate::network::Role::Hq) => "hq",
            Some(crate::network::Role::Field) => "field",
            None if !policy.has_network() => "hq",
            None => {
                return Err(Error::Forbidden(format!(
                    "this node ({me}) is not an enrolled member of its network (or its enrolment was voided)"
                )))
            }
        };
        let node_in_team = |team: &str| policy.in_team(&me, team);
        let kinds = |k: &str| policy.kind(k).ok();
        let id_text = id.to_string();
        let fields = || record::fields(doc);
        let mut roles = vec![node_role];
        if let Actor::Client(c) = actor {
            let role = match c.role {
                ClientRole::Read => return Err(Error::Forbidden(format!("client '{}' may only read", c.name))),
                ClientRole::Hq if node_role != "hq" => {
                    return Err(Error::Forbidden(format!(
                        "client '{}' is an hq client of a field node: a client's role is never more than its node's",
                        c.name
                    )))
                }
                ClientRole::Hq => "hq",
                ClientRole::Field => "field",
            };
            let in_team = |team: &str| c.team.as_deref() == Some(team) && (node_role == "hq" || node_in_team(team));
            let author =
                Author { label: format!("client '{}'", c.name), names: vec![me.clone()], role, in_team: &in_team };
            judge(permits, &kinds, &id_text, &author, before, &after, &fields).map_err(Error::Forbidden)?;
            roles.push(role);
        }
        let author = Author { label: me.clone(), names: vec![me.clone()], role: node_role, in_team: &node_in_team };
        let allowed = judge(permits, &kinds, &id_text, &author, before, &after, &fields).map_err(Error::Forbidden)?;
        if roles.iter().any(|r| *r != "hq") && !allowed.created {
            let state = before.state(schema);
            if !crate::amend::frozen_paths(schema, state.as_deref(), &allowed.fields).is_empty() {
                return Err(Error::Forbidden(format!(
                    "this {} was validated: its figures are frozen (HQ amends them)",
                    schema.kind
                )));
            }
        }
        Ok(())
    }

    /// Refuses EDAN tallies (`value`, written at `path`) for a team that
    /// has no record here (on a node that holds teams): a mistyped team
    /// (`gaem-2` for `GAEM-2`) would otherwise be counted as one more team.
    fn teams_exist(&self, schema: &KindSchema, path: &[String], value: &Value) -> Result<()> {
        if schema.kind != "edan" {
            return Ok(());
        }
        // the team keys `value` writes, by where it sits under `tallies`
        let teams: Vec<(String, String)> = match path {
            [t, zone, team, ..] if t == "tallies" => vec![(zone.clone(), team.clone())],
            [t, zone] if t == "tallies" => {
                value.as_object().map_or(vec![], |m| m.keys().map(|k| (zone.clone(), k.clone())).collect())
            }
            [t] if t == "tallies" => tallies_teams(value),
            [] => value.get("tallies").map(tallies_teams).unwrap_or_default(),
            _ => vec![],
        };
        for (zone, team) in teams {
            if self.store().ids_by_key("team", &team)?.is_empty() {
                let known: Vec<String> = self.list("team", &[])?.into_iter().map(|t| t.key).collect();
                if known.is_empty() {
                    continue; // a node that holds no team yet judges no team's name
                }
                return Err(Error::invalid(
                    "edan",
                    &format!("tallies.{zone}.{team}"),
                    format!("no team with key '{team}' (teams: {})", known.join(", ")),
                ));
            }
        }
        Ok(())
    }

    /// Checks a new record of an import without building it (its first
    /// pass).
    pub(crate) fn check_new(
        &self,
        kind: &str,
        fields: Value,
        taken: &mut HashSet<String>,
        planned: &Planned,
    ) -> Result<()> {
        self.prepare(kind, None, fields, taken, Some(planned)).map(|_| ())
    }

    /// Validates a new record's key and fields (an import's may carry
    /// `status`, and reference records of `planned` by key).
    pub(crate) fn prepare(
        &self,
        kind: &str,
        key: Option<&str>,
        fields: Value,
        taken: &mut HashSet<String>,
        import: Option<&Planned>,
    ) -> Result<Prepared> {
        let schema = self.kind(kind)?;
        let importing = import.is_some();
        let none = Planned::new();
        let planned = import.unwrap_or(&none);
        let (key_in_fields, status, fields) = match fields {
            Value::Object(mut m) => {
                let status = if importing { m.remove("status") } else { None };
                (m.remove("key"), status, Value::Object(m))
            }
            Value::Null => (None, None, Value::Object(Default::default())),
            other => {
                return Err(Error::invalid(kind, "", format!("a record is a JSON object, not {other}")));
            }
        };
        let key = match (key, key_in_fields) {
            (Some(k), _) => Some(k.to_string()),
            (None, Some(Value::String(k))) => Some(k),
            (None, Some(other)) => return Err(Error::invalid(kind, "key", format!("{other} is not a string"))),
            (None, None) => None,
        };
        let id = match key.as_ref().and_then(|k| planned.get(k)) {
            Some(id) => *id,
            None => DocumentId::random()?,
        };
        let key = key.unwrap_or_else(|| id.to_string());
        if !valid_key(&key) {
            return Err(Error::invalid(
                kind,
                "key",
                format!("'{key}' is not a valid key (letters, digits, '.', '_', '-'; at most 64)"),
            ));
        }
        if fields.get("status").is_some() && schema.lifecycle.is_some() {
            return Err(Error::invalid(
                kind,
                "status",
                "status is never set directly: use `ayni transition REF STATE`",
            ));
        }
        if !taken.insert(key.clone()) || !self.store().ids_by_key(kind, &key)?.is_empty() {
            return Err(Error::invalid(kind, "key", format!("a {kind} with key '{key}' already exists")));
        }
        let mut stored = self.key_resolver();
        let mut resolve = |target: &str, key: &str| match (target == kind).then(|| planned.get(key)).flatten() {
            Some(id) => Ok(Some(id.to_string())),
            None => stored(target, key),
        };
        let fields = schema.normalize(self.schemas(), fields, &mut resolve)?;
        schema.validate(&fields)?;
        self.teams_exist(schema, &[], &fields)?;
        let moves = match (status, &schema.lifecycle) {
            (None, _) => vec![],
            (Some(_), None) => return Err(Error::invalid(kind, "status", format!("{kind} records have no lifecycle"))),
            (Some(Value::String(to)), Some(lc)) => {
                // a name shown for a state (an agreement's `expiring`) stands for it
                let to = lc
                    .derived
                    .iter()
                    .find(|(_, d)| [&d.before, &d.warning, &d.after].contains(&&to))
                    .map_or(to.clone(), |(state, _)| state.clone());
                if !lc.states.contains_key(&to) {
                    let states: Vec<&str> = lc.states.keys().map(String::as_str).collect();
                    return Err(Error::invalid(
                        kind,
                        "status",
                        format!("'{to}' is not a state of {kind} ({})", states.join(", ")),
                    ));
                }
                lc.path(&lc.initial, &to, &fields).ok_or_else(|| {
                    Error::invalid(
                        kind,
                        "status",
                        format!("'{to}' cannot be reached from '{}' with these fields", lc.initial),
                    )
                })?
            }
            (Some(other), Some(_)) => return Err(Error::invalid(kind, "status", format!("{other} is not a state"))),
        };
        Ok(Prepared { schema, id, key, fields, moves })
    }
}

impl Writer<'_> {
    /// Creates a record. `fields` may carry `"key"`; `key` wins over it.
    pub fn add(&self, kind: &str, key: Option<&str>, fields: Value) -> Result<Record> {
        let new = self.build_new(kind, key, fields)?;
        self.node.insert(new)
    }

    /// The first half of [`Writer::add`]: validates, builds, judges and
    /// signs a new record without storing it. It reads the store but never
    /// writes, so a serving node runs it beside the engine, several at
    /// once; [`Node::insert`] then stores it on the engine.
    pub fn build_new(&self, kind: &str, key: Option<&str>, fields: Value) -> Result<NewRecord> {
        self.build_from(kind, key, fields, &mut HashSet::new(), None).map(NewRecord)
    }

    /// Sets fields: `(dotted path, value)` pairs, all in one change.
    pub fn set(&self, reference: &str, assignments: &[(String, Value)]) -> Result<Record> {
        if assignments.is_empty() {
            return Err(Error::malformed("assignment", "nothing to set: give PATH=VALUE"));
        }
        let msg = assignments.iter().map(|(p, v)| format!("set {p}={v}")).collect::<Vec<_>>().join(", ");
        self.edit(reference, &msg, false, |node, schema, tx, id| {
            for (path, value) in assignments {
                let segs = parse_path(path)?;
                if segs[0] == "status" && schema.lifecycle.is_some() {
                    return Err(Error::invalid(
                        schema.kind,
                        "status",
                        "status is never set directly: use `ayni transition REF STATE`",
                    ));
                }
                let value = schema.normalize_at_path(node.schemas(), &segs, value.clone(), &mut node.key_resolver())?;
                node.teams_exist(schema, &segs, &value)?;
                record::set_path(tx, id, &segs, &value)?;
            }
            Ok(())
        })
    }

    /// Removes several fields in one change.
    pub fn unset_many(&self, reference: &str, paths: &[String]) -> Result<Record> {
        let segs = paths.iter().map(|p| parse_path(p)).collect::<Result<Vec<_>>>()?;
        self.edit(reference, &format!("unset {}", paths.join(", ")), false, |_, schema, tx, id| {
            for (path, segs) in paths.iter().zip(&segs) {
                if !record::unset_path(tx, id, segs)? {
                    return Err(Error::invalid(schema.kind, path, "no such field"));
                }
            }
            Ok(())
        })
    }

    /// Deletes a record (a tombstone that syncs).
    pub fn delete(&self, reference: &str) -> Result<Record> {
        let at = rfc3339(now());
        let by = self.node.id().to_string();
        self.edit(reference, "delete", false, |_, _, tx, id| record::mark_deleted(tx, id, &at, &by))
    }

    /// Moves a record to `to` through its lifecycle.
    pub fn transition(&self, reference: &str, to: &str, note: Option<&str>) -> Result<Record> {
        let by = self.node.id().to_string();
        let message = match note {
            Some(n) => format!("transition to {to}: {n}"),
            None => format!("transition to {to}"),
        };
        self.edit(reference, &message, false, |_, schema, tx, id| {
            let env = record::envelope(tx).ok_or_else(|| Error::NotFound(reference.to_string()))?;
            let refuse = |from: &str, why: String| Error::Transition {
                kind: env.kind.clone(),
                key: env.key.clone(),
                from: from.to_string(),
                to: to.to_string(),
                why,
            };
            let lc = schema
                .lifecycle
                .as_ref()
                .ok_or_else(|| Error::Precondition(format!("{} records have no lifecycle", schema.kind)))?;
            let folded = lc.fold(&record::transitions(tx));
            let from = folded.state.as_str();
            if let Some(why) = lc.refusal(from, to, &record::fields(tx)) {
                return Err(refuse(from, why));
            }
            let entry = Transition {
                id: new_item_id(),
                from: from.to_string(),
                to: to.to_string(),
                seq: folded.max_seq + 1,
                at: rfc3339(now()),
                by: by.clone(),
                note: note.map(String::from),
                resolves: vec![],
            };
            record::append_transition(tx, id, &entry)
        })
    }

    /// Settles a conflict: `status` (a lifecycle conflict), `deleted`
    /// (`true` deletes, `false` keeps a record edited while deleted), or a
    /// field path (the value replaces every concurrent value).
    pub fn resolve_conflict(&self, reference: &str, path: &str, value: Value) -> Result<Record> {
        let by = self.node.id().to_string();
        let at = rfc3339(now());
        self.edit(reference, &format!("resolve {path}={value}"), true, |node, schema, tx, id| {
            let none = || Error::invalid(schema.kind, path, "has no conflict to resolve");
            match path {
                "status" => {
                    let lc = schema.lifecycle.as_ref().ok_or_else(none)?;
                    let folded = lc.fold(&record::transitions(tx));
                    if folded.conflicts.is_empty() {
                        return Err(none());
                    }
                    let to = value.as_str().filter(|s| lc.states.contains_key(*s)).ok_or_else(|| {
                        Error::invalid(schema.kind, "status", format!("{value} is not a state of {}", schema.kind))
                    })?;
                    let entry = Transition {
                        id: new_item_id(),
                        from: folded.state.clone(),
                        to: to.to_string(),
                        seq: folded.max_seq + 1,
                        at: at.clone(),
                        by: by.clone(),
                        note: Some("conflict resolved".into()),
                        resolves: folded.conflicts.iter().map(|c| c.id.clone()).collect(),
                    };
                    record::append_transition(tx, id, &entry)
                }
                "deleted" => {
                    if !(record::is_live(tx) && record::tombstone(tx).is_some()) {
                        return Err(none());
                    }
                    match value {
                        Value::Bool(true) => record::mark_deleted(tx, id, &at, &by),
                        Value::Bool(false) => record::clear_tombstone(tx, id),
                        other => Err(Error::invalid(schema.kind, "deleted", format!("{other} is not true or false"))),
                    }
                }
                _ => {
                    if !record::conflicts(tx).iter().any(|c| c.path == path) {
                        return Err(none());
                    }
                    let segs = parse_path(path)?;
                    let value =
                        schema.normalize_at_path(node.schemas(), &segs, value.clone(), &mut node.key_resolver())?;
                    record::resolve_path(tx, id, &segs, &value)
                }
            }
        })
    }
}
