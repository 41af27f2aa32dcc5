//! Writing records: the one write path for a node's own changes — add,
//! set, unset, delete, transition, resolve a conflict.
//!
//! Owns: resolve → load → edit in one automerge transaction → validate
//! against the kind's schema → judge by role (this node's, and the acting
//! client's) → sign → store durably. Must never: store a change that fails
//! any of those, or leave half of one behind.
use std::collections::HashSet;

use automerge::transaction::{CommitOptions, Transaction};
use automerge::Automerge;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::id::{new_item_id, DocumentId};
use crate::lifecycle::Transition;
use crate::node::{now, parse_path, rfc3339, valid_key, Built, Node, Record};
use crate::record::{self, Envelope};
use crate::schema::KindSchema;
use crate::store::Payload;

/// A new record built, validated, judged and signed, not stored yet (see
/// [`Node::build_new`]).
pub struct NewRecord(Built);

impl Node {
    /// A change's message, naming the client it is made for, if any.
    pub(crate) fn message_for(&self, message: &str) -> String {
        match crate::clients::acting_for(self.id()) {
            Some(c) => format!("{message} (client {})", c.name),
            None => message.to_string(),
        }
    }

    /// Refuses, before anything is stored, a change this node's role does
    /// not allow (the same rule every peer applies on receipt).
    /// A client acting through this node (`Node::acting_as`) is judged by
    /// its own role too: `read` writes nothing, `field` what a field member
    /// may, tallies only for its team.
    pub(crate) fn check_own_role(&self, kind: &str, doc: &Automerge, before: &[automerge::ChangeHash]) -> Result<()> {
        use crate::clients::ClientRole;
        let client = crate::clients::acting_for(self.id());
        if let Some(c) = client.as_ref().filter(|c| c.role == ClientRole::Read) {
            return Err(Error::Forbidden(format!("client '{}' may only read", c.name)));
        }
        let field_client = client.filter(|c| c.role == ClientRole::Field);
        let policy = self.policy()?;
        let node_is_field =
            !(matches!(policy.role_of(&self.id()), Some(crate::network::Role::Hq)) || !policy.has_network());
        if !node_is_field && field_client.is_none() {
            return Ok(());
        }
        let prior =
            doc.fork_at(before).map_err(|e| Error::Automerge { id: format!("{kind} before this write"), source: e })?;
        let touched = crate::roles::touched(&prior, doc);
        if let Some(c) = &field_client {
            let in_team = |team: &str| c.team.as_deref() == Some(team);
            let who = format!("client '{}'", c.name);
            if let Some(why) =
                crate::roles::field_violation(&policy, &who, &in_team, "the client's --team", kind, &touched)
            {
                return Err(Error::Forbidden(why));
            }
        }
        if node_is_field {
            if let Some(why) = crate::roles::role_violation(&policy, &self.id(), kind, &touched) {
                return Err(Error::Forbidden(why));
            }
        }
        if crate::roles::frozen_edit(self.kind(kind)?, &prior, doc, &touched).is_some() {
            return Err(Error::Forbidden(format!(
                "this {kind} was validated: its figures are frozen (HQ amends them)"
            )));
        }
        Ok(())
    }

    /// The one write path for an existing record: `f` edits inside a
    /// transaction; the result is validated against the kind's schema and
    /// committed and stored durably only if valid. Nothing is written on error.
    pub(crate) fn edit<F>(&self, reference: &str, message: &str, allow_deleted: bool, f: F) -> Result<Record>
    where
        F: FnOnce(&Node, &'static KindSchema, &mut Transaction<'_>, &str) -> Result<()>,
    {
        let id = self.resolve(reference)?;
        let _guard = self.write_lock();
        let mut doc = self.load(&id)?;
        let env = record::envelope(&doc)
            .ok_or_else(|| Error::Damaged { id: id.to_string(), reason: "not an Ayni record".into() })?;
        if !allow_deleted && !record::is_live(&doc) {
            return Err(Error::Deleted { kind: env.kind, key: env.key, id: id.to_string() });
        }
        let schema = self.kind(&env.kind)?;
        let stored_heads = doc.get_heads();
        let mut tx = doc.transaction();
        let label = id.to_string();
        let outcome = f(self, schema, &mut tx, &label).and_then(|()| {
            if record::is_live(&tx) {
                record::touch(&mut tx, &id.to_string())?;
                schema.validate(&record::fields(&tx))?;
            }
            Ok(())
        });
        if let Err(e) = outcome {
            tx.rollback();
            return Err(e);
        }
        let opts = CommitOptions::default().with_message(self.message_for(message)).with_time(now().unix_timestamp());
        let (committed, _) = tx.commit_with(opts);
        self.check_own_role(&env.kind, &doc, &stored_heads)?;
        let rec = self.view_of(&id, &doc)?;
        let sigs = self.sign_committed(committed);
        self.store_write(id, Payload::Changed { doc: &doc, stored_heads: &stored_heads }, &rec, sigs)?;
        Ok(self.shown(rec))
    }

    /// Checks a new record without building it (the first pass of import).
    pub(crate) fn check_new(&self, kind: &str, fields: Value, taken: &mut HashSet<String>) -> Result<()> {
        self.prepare(kind, None, fields, taken).map(|_| ())
    }

    /// Builds (without storing) a new record's document.
    pub(crate) fn build(
        &self,
        kind: &str,
        key: Option<&str>,
        fields: Value,
        taken: &mut HashSet<String>,
    ) -> Result<Built> {
        let (schema, id, key, fields) = self.prepare(kind, key, fields, taken)?;

        let env =
            Envelope { kind: kind.to_string(), key, created_at: rfc3339(now()), created_by: self.id().to_string() };
        let mut doc = Automerge::new().with_actor(self.secret().public().actor_id());
        let mut tx = doc.transaction();
        record::create(&mut tx, &id.to_string(), &env, &fields)?;
        let (committed, _) = tx.commit_with(
            CommitOptions::default()
                .with_message(self.message_for(&format!("add {kind} {}", env.key)))
                .with_time(now().unix_timestamp()),
        );
        self.check_own_role(kind, &doc, &[])?;
        // a new document by one writer has no conflicts and its fields are
        // exactly what was written: the view needs no read-back
        let rec = Record {
            id: id.to_string(),
            kind: env.kind,
            key: env.key,
            title: schema.title_field.as_ref().and_then(|f| fields.get(f)).and_then(Value::as_str).map(String::from),
            status: schema.lifecycle.as_ref().map(|lc| lc.initial.clone()),
            deleted: false,
            flags: vec![],
            conflicts: 0,
            created_at: env.created_at,
            created_by: env.created_by,
            heads: doc.get_heads().iter().map(|h| h.to_string()).collect(),
            fields,
            url: None,
        };
        let sigs = self.sign_committed(committed);
        Ok(Built { id, doc: doc.save(), rec, sigs })
    }

    /// Validates a new record's key and fields; returns what to build it from.
    pub(crate) fn prepare(
        &self,
        kind: &str,
        key: Option<&str>,
        fields: Value,
        taken: &mut HashSet<String>,
    ) -> Result<(&'static KindSchema, DocumentId, String, Value)> {
        let schema = self.kind(kind)?;
        let (key_in_fields, fields) = match fields {
            Value::Object(mut m) => (m.remove("key"), Value::Object(m)),
            Value::Null => (None, Value::Object(Default::default())),
            other => {
                return Err(Error::invalid(kind, "", format!("a record is a JSON object, not {other}")));
            }
        };
        let id = DocumentId::random()?;
        let key = match (key, key_in_fields) {
            (Some(k), _) => k.to_string(),
            (None, Some(Value::String(k))) => k,
            (None, Some(other)) => return Err(Error::invalid(kind, "key", format!("{other} is not a string"))),
            (None, None) => id.to_string(),
        };
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
        let fields = schema.normalize(self.schemas(), fields, &mut self.key_resolver())?;
        schema.validate(&fields)?;
        Ok((schema, id, key, fields))
    }

    /// Creates a record. `fields` may carry `"key"`; `key` wins over it.
    pub fn add(&self, kind: &str, key: Option<&str>, fields: Value) -> Result<Record> {
        let new = self.build_new(kind, key, fields)?;
        self.insert(new)
    }

    /// The first half of [`Node::add`]: validates, builds and signs a new
    /// record (as the acting client, if any) without storing it. It reads
    /// the store but never writes, so a serving node runs it beside the
    /// engine, several at once; [`Node::insert`] then stores it on the
    /// engine.
    pub fn build_new(&self, kind: &str, key: Option<&str>, fields: Value) -> Result<NewRecord> {
        self.build(kind, key, fields, &mut HashSet::new()).map(NewRecord)
    }

    /// The second half of [`Node::add`]: stores a record built by
    /// [`Node::build_new`], durably, unless a record of that kind and key
    /// was stored meanwhile (the check that counts is this one, made by
    /// the thread that writes).
    pub fn insert(&self, new: NewRecord) -> Result<Record> {
        let b = new.0;
        if !self.store().ids_by_key(&b.rec.kind, &b.rec.key)?.is_empty() {
            let (kind, key) = (&b.rec.kind, &b.rec.key);
            return Err(Error::invalid(kind, "key", format!("a {kind} with key '{key}' already exists")));
        }
        self.store_write(b.id, Payload::New(&b.doc), &b.rec, b.sigs.clone())?;
        Ok(self.shown(b.rec))
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
                record::set_path(tx, id, &segs, &value)?;
            }
            Ok(())
        })
    }

    /// Removes a field.
    pub fn unset(&self, reference: &str, path: &str) -> Result<Record> {
        self.unset_many(reference, &[path.to_string()])
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
        let by = self.id().to_string();
        self.edit(reference, "delete", false, |_, _, tx, id| record::mark_deleted(tx, id, &at, &by))
    }

    /// Moves a record to `to` through its lifecycle.
    pub fn transition(&self, reference: &str, to: &str, note: Option<&str>) -> Result<Record> {
        let by = self.id().to_string();
        self.edit(reference, &format!("transition to {to}"), false, |_, schema, tx, id| {
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
        let by = self.id().to_string();
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
