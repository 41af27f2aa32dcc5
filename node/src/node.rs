//! A node: its home directory, identity and store, and every operation on
//! records that the CLI (and later the sync driver) calls.
//!
//! Owns: the write path (resolve → load → edit in a transaction → validate
//! → commit → store view and indexes durably) and the read views. Must
//! never: print, exit, or hold field rules (those are in `schemas/`).
//!
//! Home directory layout: `node.key` (see `identity`), `node.json`
//! (`{"format":1,"name","node_id","created_at"}`), `store/` (see `store`).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use automerge::transaction::{CommitOptions, Transaction};
use automerge::Automerge;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::id::{new_item_id, DocumentId};
use crate::identity::{NodeId, SecretKey};
use crate::lifecycle::Transition;
use crate::record::{self, Envelope, FieldConflict};
use crate::schema::{schemas, KindSchema, Schemas};
use crate::store::{DocWrite, Payload, Store};
use crate::trust::Signed;

const NODE_FORMAT: u32 = 1;
/// Records per atomic write batch of [`Node::import`].
pub const IMPORT_BATCH: usize = 1_000;
/// Records written by one command past which front ends call
/// [`Node::checkpoint`] before they report.
pub const CHECKPOINT_AFTER: u64 = 2_000;

/// `node.json`: what a home says about its node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Format of this file.
    pub format: u32,
    /// Human name given at `init`.
    pub name: String,
    /// The node ID.
    pub node_id: String,
    /// When the node was created (RFC 3339).
    pub created_at: String,
}

/// A record as shown to people and scripts (and stored as its view).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// Document ID.
    pub id: String,
    /// Record kind.
    pub kind: String,
    /// Human key, unique within the kind.
    pub key: String,
    /// The title field's value, for tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Current lifecycle state (the fold of the transition log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Whether the record is deleted (a tombstone).
    pub deleted: bool,
    /// Flags such as `deleted_while_edited`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// How many conflicts the record has (fields, status, delete).
    pub conflicts: usize,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Node ID of the creator.
    pub created_by: String,
    /// The document's heads (hex change hashes).
    pub heads: Vec<String>,
    /// The record's fields.
    pub fields: Value,
}

/// One change in a record's history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// Change hash (hex).
    pub hash: String,
    /// When (RFC 3339, the writer's clock).
    pub at: String,
    /// Node ID of the writer.
    pub node: String,
    /// What changed.
    pub message: String,
}

/// A status conflict: a transition that lost to an incompatible one.
#[derive(Debug, Clone, Serialize)]
pub struct StatusConflict {
    /// The current state.
    pub current: String,
    /// The state the losing transition wanted.
    pub wanted: String,
    /// Who wrote the losing transition.
    pub by: String,
    /// Its entry ID.
    pub entry: String,
}

/// Everything in conflict on one record.
#[derive(Debug, Clone, Serialize)]
pub struct RecordConflicts {
    /// Document ID.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// Key.
    pub key: String,
    /// Fields with concurrent values.
    pub fields: Vec<FieldConflict>,
    /// Incompatible concurrent transitions.
    pub status: Vec<StatusConflict>,
    /// The record was edited on one replica while deleted on another.
    pub deleted_while_edited: bool,
}

/// Outcome of `import`.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// Kind imported.
    pub kind: String,
    /// Records created.
    pub created: usize,
}

/// Outcome of `check`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Documents examined.
    pub documents: usize,
    /// Documents with no problem.
    pub ok: usize,
    /// Problems found, one per document.
    pub problems: Vec<Problem>,
}

/// One damaged or inconsistent document.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// Document ID.
    pub id: String,
    /// Kind, when the view still tells.
    pub kind: Option<String>,
    /// Key, when the view still tells.
    pub key: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// Outcome of `compact`.
#[derive(Debug, Clone, Serialize)]
pub struct CompactReport {
    /// Documents examined.
    pub documents: usize,
    /// Bytes of document data saved.
    pub bytes_saved: u64,
    /// Store size on disk after compaction.
    pub disk_bytes: u64,
}

/// A new record, built but not stored.
struct Built {
    id: DocumentId,
    doc: Vec<u8>,
    rec: Record,
    sigs: Vec<Signed>,
}

/// A running node.
pub struct Node {
    home: PathBuf,
    key: SecretKey,
    node_id: NodeId,
    info: NodeInfo,
    store: Store,
    schemas: &'static Schemas,
    verified: crate::network::Verified,
    acting: crate::clients::Acting,
    /// Serialises every read-merge-write of a document on this node. In a
    /// serving node the engine thread is the only writer, so it is never
    /// contended there; it keeps a node used directly (a library caller with
    /// threads) from losing a write.
    writes: std::sync::Mutex<()>,
    /// The last policy snapshot (see `crate::policy`).
    policy: crate::policy::Cache,
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Now, as RFC 3339 (UTC).
pub fn now_rfc3339() -> String {
    rfc3339(now())
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Splits a dotted field path; a `+` segment becomes a new item ID (to add
/// an item to a set-like collection: `needs.+={...}`).
pub fn parse_path(path: &str) -> Result<Vec<String>> {
    let segs: Vec<String> = path.split('.').map(|s| if s == "+" { new_item_id() } else { s.to_string() }).collect();
    if path.is_empty() || segs.iter().any(String::is_empty) {
        return Err(Error::malformed(
            "field path",
            format!("'{path}' is not a field path (use dotted names like tallies.z2.gaem-2.dead)"),
        ));
    }
    Ok(segs)
}

/// Sets `value` at `path` inside a JSON object, creating intermediate
/// objects (how `--set` options build a new record's fields).
pub fn assign(target: &mut Value, path: &[String], value: Value) -> Result<()> {
    let mut cur = target;
    for (i, seg) in path.iter().enumerate() {
        if !cur.is_object() {
            return Err(Error::malformed("field path", format!("{} is not an object", path[..i].join("."))));
        }
        let obj = cur.as_object_mut().ok_or_else(|| Error::malformed("field path", "not an object"))?;
        if i + 1 == path.len() {
            obj.insert(seg.clone(), value);
            return Ok(());
        }
        cur = obj.entry(seg.clone()).or_insert_with(|| Value::Object(Default::default()));
    }
    Err(Error::malformed("field path", "empty field path"))
}

/// A CLI value: JSON when it parses as JSON, else the text as a string.
pub fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && key.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

impl Node {
    /// Creates a node in `home`: key, `node.json`, store. Refuses to
    /// overwrite an existing node.
    pub fn init(home: &Path, name: &str) -> Result<Node> {
        if name.trim().is_empty() {
            return Err(Error::malformed("node name", "the node name must not be empty"));
        }
        if home.join("node.json").exists() {
            return Err(Error::NodeExists(home.to_path_buf()));
        }
        std::fs::create_dir_all(home).map_err(|e| Error::io(home, e))?;
        // `node.json` is written last: a key without it is what an init killed
        // before its end leaves (its node ID was never printed). Kept aside, never deleted.
        let key_path = home.join("node.key");
        if key_path.exists() {
            let aside = home.join(format!("node.key.interrupted-{}", now().unix_timestamp()));
            std::fs::rename(&key_path, &aside).map_err(|e| Error::io(&aside, e))?;
        }
        let key = SecretKey::generate()?;
        let info = NodeInfo {
            format: NODE_FORMAT,
            name: name.to_string(),
            node_id: key.public().node_id().to_string(),
            created_at: rfc3339(now()),
        };
        key.write_new(&key_path)?;
        let json = serde_json::to_vec_pretty(&info).map_err(|e| Error::Internal(e.to_string()))?;
        crate::store::write_atomic(&home.join("node.json"), &json)?;
        Node::open(home)
    }

    /// Opens the node in `home`. Reads no record.
    pub fn open(home: &Path) -> Result<Node> {
        let info_path = home.join("node.json");
        if !info_path.exists() {
            return Err(Error::NoNode(home.to_path_buf()));
        }
        let text = std::fs::read(&info_path).map_err(|e| Error::io(&info_path, e))?;
        let info: NodeInfo = serde_json::from_slice(&text)
            .map_err(|e| Error::Damaged { id: info_path.display().to_string(), reason: e.to_string() })?;
        if info.format != NODE_FORMAT {
            return Err(Error::Format { path: info_path, found: info.format.to_string(), supported: NODE_FORMAT });
        }
        let key = SecretKey::read(&home.join("node.key"))?;
        let node_id = key.public().node_id();
        let store = Store::open(&home.join("store"))?;
        Ok(Node {
            home: home.to_path_buf(),
            key,
            node_id,
            info,
            store,
            schemas: schemas()?,
            verified: Default::default(),
            acting: Default::default(),
            writes: Default::default(),
            policy: Default::default(),
        })
    }

    /// Closes and reopens the node's store, so that sled writes its
    /// snapshot now: after a bulk write (an import, a first sync) the next
    /// open would otherwise replay every page written since the last
    /// snapshot (seconds for 100,000 records). Front ends call it after
    /// writing many records, before they report, so the cost lands on the
    /// command that caused it.
    pub fn checkpoint(self) -> Result<Node> {
        let home = self.home.clone();
        drop(self);
        Node::open(&home)
    }

    pub(crate) fn policy_cache(&self) -> &crate::policy::Cache {
        &self.policy
    }

    /// Holds this node's write lock (see `Node::writes`).
    pub(crate) fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node ID.
    pub fn id(&self) -> NodeId {
        self.node_id
    }

    /// What `node.json` says.
    pub fn info(&self) -> &NodeInfo {
        &self.info
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The client writes are made for, if any (see `Node::acting_as`).
    pub(crate) fn acting(&self) -> &crate::clients::Acting {
        &self.acting
    }

    /// Tokens this node already verified (see [`crate::network::Verified`]).
    pub(crate) fn verified(&self) -> &crate::network::Verified {
        &self.verified
    }

    /// The store (for tools and tests that need raw access).
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn secret(&self) -> &SecretKey {
        &self.key
    }

    /// The view of a document received from a peer, reusing what
    /// admission already read of it (`read`, when its heads still match).
    pub(crate) fn view_for_sync(&self, id: &DocumentId, doc: &Automerge, read: Option<record::Read>) -> Result<Record> {
        self.view_with(id, doc, read.filter(|r| r.heads == doc.get_heads()))
    }

    /// The store write for a document received from a peer.
    pub(crate) fn doc_write_for<'a>(
        &self,
        id: DocumentId,
        payload: Payload<'a>,
        rec: &'a Record,
        sigs: Vec<Signed>,
    ) -> Result<DocWrite<'a>> {
        self.doc_write(id, payload, rec, sigs)
    }

    /// The schema of `kind`.
    pub fn kind(&self, kind: &str) -> Result<&'static KindSchema> {
        self.schemas.kind(kind)
    }

    // ------------------------------------------------------------ lookup

    /// Finds a record by `ID` or `KIND:KEY`.
    pub fn resolve(&self, reference: &str) -> Result<DocumentId> {
        if let Some((kind, key)) = reference.split_once(':') {
            if kind != "automerge" {
                self.kind(kind)?;
                let ids = self.store.ids_by_key(kind, key)?;
                return match ids.as_slice() {
                    [] => Err(Error::NotFound(reference.to_string())),
                    [one] => Ok(*one),
                    many => Err(Error::Ambiguous {
                        reference: reference.to_string(),
                        ids: many.iter().map(ToString::to_string).collect(),
                    }),
                };
            }
        }
        match reference.parse::<DocumentId>() {
            Ok(id) if self.store.contains(&id)? => Ok(id),
            _ => Err(Error::NotFound(reference.to_string())),
        }
    }

    fn key_resolver(&self) -> impl FnMut(&str, &str) -> Result<Option<String>> + '_ {
        move |kind: &str, key: &str| {
            let ids = self.store.ids_by_key(kind, key)?;
            match ids.as_slice() {
                [] => Ok(None),
                [one] => Ok(Some(one.to_string())),
                many => Err(Error::Ambiguous {
                    reference: format!("{kind}:{key}"),
                    ids: many.iter().map(ToString::to_string).collect(),
                }),
            }
        }
    }

    fn load(&self, id: &DocumentId) -> Result<Automerge> {
        let doc = self.store.load(id)?.ok_or_else(|| Error::NotFound(id.to_string()))?;
        Ok(doc.with_actor(self.key.public().actor_id()))
    }

    // ------------------------------------------------------------ views

    fn view_of(&self, id: &DocumentId, doc: &Automerge) -> Result<Record> {
        self.view_with(id, doc, None)
    }

    fn view_with(&self, id: &DocumentId, doc: &Automerge, read: Option<record::Read>) -> Result<Record> {
        let env = record::envelope(doc).ok_or_else(|| Error::Damaged {
            id: id.to_string(),
            reason: "not an Ayni record (no kind or key)".into(),
        })?;
        let schema = self.kind(&env.kind)?;
        let (fields, field_conflicts) = match read {
            Some(r) => (r.fields, r.conflicts),
            None => record::read_data(doc),
        };
        let live = record::is_live(doc);
        let mut flags = vec![];
        let mut conflicts = field_conflicts.len();
        if live && record::tombstone(doc).is_some() {
            flags.push("deleted_while_edited".to_string());
            conflicts += 1;
        }
        let status = schema.lifecycle.as_ref().map(|lc| {
            let folded = lc.fold(&record::transitions(doc));
            conflicts += folded.conflicts.len();
            folded.state
        });
        Ok(Record {
            id: id.to_string(),
            title: schema.title_field.as_ref().and_then(|f| fields.get(f)).and_then(Value::as_str).map(String::from),
            kind: env.kind,
            key: env.key,
            status,
            deleted: !live,
            flags,
            conflicts,
            created_at: env.created_at,
            created_by: env.created_by,
            heads: doc.get_heads().iter().map(|h| h.to_string()).collect(),
            fields,
        })
    }

    /// The status as shown today (date-derived names such as `expiring`).
    pub(crate) fn shown(&self, mut r: Record) -> Record {
        if let (Some(state), Ok(schema)) = (&r.status, self.kind(&r.kind)) {
            if let Some(lc) = &schema.lifecycle {
                r.status = Some(lc.shown_state(state, &r.fields, now().date()));
            }
        }
        r
    }

    fn doc_write<'a>(
        &self,
        id: DocumentId,
        payload: Payload<'a>,
        rec: &'a Record,
        sigs: Vec<Signed>,
    ) -> Result<DocWrite<'a>> {
        let view = serde_json::to_vec(rec).map_err(|e| Error::Internal(e.to_string()))?;
        let heads: Vec<automerge::ChangeHash> = rec.heads.iter().filter_map(|h| h.parse().ok()).collect();
        Ok(DocWrite {
            id,
            payload,
            kind: &rec.kind,
            key: &rec.key,
            view,
            conflicted: rec.conflicts > 0,
            summary: crate::sync::state_hash(&id, &heads),
            sigs,
            policy: crate::policy::KINDS.contains(&rec.kind.as_str()),
        })
    }

    fn store_write(&self, id: DocumentId, payload: Payload<'_>, rec: &Record, sigs: Vec<Signed>) -> Result<()> {
        self.store.write(&[self.doc_write(id, payload, rec, sigs)?])
    }

    // ------------------------------------------------------------ writes

    /// A change's message, naming the client it is made for, if any.
    fn message_for(&self, message: &str) -> String {
        match self.acting.current() {
            Some(c) => format!("{message} (client {})", c.name),
            None => message.to_string(),
        }
    }

    /// Refuses, before anything is stored, a change this node's role does
    /// not allow (the same rule every peer applies on receipt).
    /// A client acting through this node (`Node::acting_as`) is judged by
    /// its own role too: `read` writes nothing, `field` what a field member
    /// may, tallies only for its team.
    fn check_own_role(&self, kind: &str, doc: &Automerge, before: &[automerge::ChangeHash]) -> Result<()> {
        use crate::clients::ClientRole;
        let client = self.acting.current();
        if let Some(c) = client.as_ref().filter(|c| c.role == ClientRole::Read) {
            return Err(Error::Forbidden(format!("client '{}' may only read", c.name)));
        }
        let field_client = client.filter(|c| c.role == ClientRole::Field);
        let policy = self.policy()?;
        let node_is_field =
            !(matches!(policy.role_of(&self.node_id), Some(crate::network::Role::Hq)) || !policy.has_network());
        if !node_is_field && field_client.is_none() {
            return Ok(());
        }
        let touched = crate::roles::touched(doc, before);
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
            if let Some(why) = crate::roles::role_violation(&policy, &self.node_id, kind, &touched) {
                return Err(Error::Forbidden(why));
            }
        }
        if let Ok(prior) = doc.fork_at(before) {
            if crate::amend::frozen_edit(self.kind(kind)?, &prior, doc, &touched).is_some() {
                return Err(Error::Forbidden(format!(
                    "this {kind} was validated: its figures are frozen (HQ amends them)"
                )));
            }
        }
        Ok(())
    }

    /// The one write path for an existing record: `f` edits inside a
    /// transaction; the result is validated against the kind's schema and
    /// committed and stored durably only if valid. Nothing is written on error.
    fn edit<F>(&self, reference: &str, message: &str, allow_deleted: bool, f: F) -> Result<Record>
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
        tx.commit_with(opts);
        self.check_own_role(&env.kind, &doc, &stored_heads)?;
        let rec = self.view_of(&id, &doc)?;
        let sigs = self.sign_own(&doc, &stored_heads);
        self.store_write(id, Payload::Changed { doc: &doc, stored_heads: &stored_heads }, &rec, sigs)?;
        Ok(self.shown(rec))
    }

    /// Checks a new record without building it (the first pass of import).
    fn check_new(&self, kind: &str, fields: Value, taken: &mut HashSet<String>) -> Result<()> {
        self.prepare(kind, None, fields, taken).map(|_| ())
    }

    /// Builds (without storing) a new record's document.
    fn build(&self, kind: &str, key: Option<&str>, fields: Value, taken: &mut HashSet<String>) -> Result<Built> {
        let (schema, id, key, fields) = self.prepare(kind, key, fields, taken)?;

        let env =
            Envelope { kind: kind.to_string(), key, created_at: rfc3339(now()), created_by: self.node_id.to_string() };
        let mut doc = Automerge::new().with_actor(self.key.public().actor_id());
        let mut tx = doc.transaction();
        record::create(&mut tx, &id.to_string(), &env, &fields)?;
        tx.commit_with(
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
        };
        let sigs = self.sign_own(&doc, &[]);
        Ok(Built { id, doc: doc.save(), rec, sigs })
    }

    /// Validates a new record's key and fields; returns what to build it from.
    fn prepare(
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
        if !taken.insert(key.clone()) || !self.store.ids_by_key(kind, &key)?.is_empty() {
            return Err(Error::invalid(kind, "key", format!("a {kind} with key '{key}' already exists")));
        }
        let fields = schema.normalize(self.schemas, fields, &mut self.key_resolver())?;
        schema.validate(&fields)?;
        Ok((schema, id, key, fields))
    }

    /// Creates a record. `fields` may carry `"key"`; `key` wins over it.
    pub fn add(&self, kind: &str, key: Option<&str>, fields: Value) -> Result<Record> {
        let b = self.build(kind, key, fields, &mut HashSet::new())?;
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
                let value = schema.normalize_at_path(node.schemas, &segs, value.clone(), &mut node.key_resolver())?;
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
        let by = self.node_id.to_string();
        self.edit(reference, "delete", false, |_, _, tx, id| record::mark_deleted(tx, id, &at, &by))
    }

    /// Moves a record to `to` through its lifecycle.
    pub fn transition(&self, reference: &str, to: &str, note: Option<&str>) -> Result<Record> {
        let by = self.node_id.to_string();
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
        let by = self.node_id.to_string();
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
                        schema.normalize_at_path(node.schemas, &segs, value.clone(), &mut node.key_resolver())?;
                    record::resolve_path(tx, id, &segs, &value)
                }
            }
        })
    }

    // ------------------------------------------------------------ reads

    /// One record, read from its document.
    pub fn get(&self, reference: &str) -> Result<Record> {
        let id = self.resolve(reference)?;
        let doc = self.load(&id)?;
        Ok(self.shown(self.view_of(&id, &doc)?))
    }

    /// Live records of `kind` whose fields match every `(path, value)`
    /// filter (`status`, `key` and `id` match the record itself; a list
    /// matches when it contains the value). Reads only the views of `kind`.
    pub fn list(&self, kind: &str, filters: &[(String, Value)]) -> Result<Vec<Record>> {
        let mut out = vec![];
        self.list_each(kind, filters, |rec| {
            out.push(rec);
            Ok(())
        })?;
        Ok(out)
    }

    /// Like [`Node::list`], handing each record to `f` as it is read, so a
    /// front end can stream a large kind with one record in memory.
    /// Returns how many records matched.
    pub fn list_each(
        &self,
        kind: &str,
        filters: &[(String, Value)],
        mut f: impl FnMut(Record) -> Result<()>,
    ) -> Result<usize> {
        self.kind(kind)?;
        let mut n = 0;
        for item in self.store.views_of_kind_iter(kind) {
            let (id, bytes) = item?;
            let rec: Record = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Damaged { id: id.to_string(), reason: format!("view: {e}") })?;
            if rec.deleted {
                continue;
            }
            let rec = self.shown(rec);
            if filters.iter().all(|(path, want)| matches(&rec, path, want)) {
                n += 1;
                f(rec)?;
            }
        }
        Ok(n)
    }

    /// Every change to a record, oldest first.
    pub fn history(&self, reference: &str) -> Result<Vec<HistoryEntry>> {
        let id = self.resolve(reference)?;
        let doc = self.load(&id)?;
        Ok(doc
            .get_changes(&[])
            .into_iter()
            .map(|c| HistoryEntry {
                hash: c.hash().to_string(),
                at: OffsetDateTime::from_unix_timestamp(c.timestamp()).map(rfc3339).unwrap_or_default(),
                node: NodeId::from_actor(c.actor_id()).map_or_else(|| c.actor_id().to_hex_string(), |n| n.to_string()),
                message: c.message().unwrap_or_default().to_string(),
            })
            .collect())
    }

    /// Every record with conflicts.
    pub fn conflicts(&self) -> Result<Vec<RecordConflicts>> {
        let mut out = vec![];
        for id in self.store.conflicted()? {
            let doc = self.load(&id)?;
            let Some(env) = record::envelope(&doc) else { continue };
            let schema = self.kind(&env.kind)?;
            let status = schema
                .lifecycle
                .as_ref()
                .map(|lc| {
                    let folded = lc.fold(&record::transitions(&doc));
                    folded
                        .conflicts
                        .iter()
                        .map(|c| StatusConflict {
                            current: folded.state.clone(),
                            wanted: c.to.clone(),
                            by: c.by.clone(),
                            entry: c.id.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let rc = RecordConflicts {
                id: id.to_string(),
                kind: env.kind,
                key: env.key,
                fields: record::conflicts(&doc),
                status,
                deleted_while_edited: record::is_live(&doc) && record::tombstone(&doc).is_some(),
            };
            if !rc.fields.is_empty() || !rc.status.is_empty() || rc.deleted_while_edited {
                out.push(rc);
            }
        }
        out.sort_by(|a, b| (&a.kind, &a.key).cmp(&(&b.kind, &b.key)));
        Ok(out)
    }

    // ------------------------------------------------------------ bulk

    /// Creates many records of one kind. Every item is checked before
    /// anything is written, and any bad item (labelled as the caller
    /// labelled it, e.g. `line 7`) refuses the whole import. `items` is
    /// called twice, once to check and once to write, so a large import
    /// never holds every built document in memory; the write goes in
    /// atomic, durable batches of [`IMPORT_BATCH`] records.
    pub fn import<F, I>(&self, kind: &str, items: F) -> Result<ImportReport>
    where
        F: Fn() -> I,
        I: Iterator<Item = (String, std::result::Result<Value, String>)>,
    {
        self.kind(kind)?;
        let mut taken = HashSet::new();
        let mut errors = vec![];
        for (at, item) in items() {
            if let Err(e) = item.and_then(|v| self.check_new(kind, v, &mut taken).map_err(|e| e.to_string())) {
                errors.push((at, e));
            }
        }
        if !errors.is_empty() {
            return Err(Error::Import(errors));
        }
        // records are built on every core, a batch at a time, and each batch
        // is written as one atomic, durable store write
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        let mut created = 0;
        let mut items = items().peekable();
        while items.peek().is_some() {
            let mut chunk: Vec<(String, std::result::Result<Value, String>)> =
                items.by_ref().take(IMPORT_BATCH).collect();
            let per_worker = chunk.len().div_ceil(workers);
            let mut parts = vec![];
            while !chunk.is_empty() {
                let rest = chunk.split_off(per_worker.min(chunk.len()));
                parts.push(std::mem::replace(&mut chunk, rest));
            }
            // each record built, with its view bytes and summary hash
            type Ready = (Built, Vec<u8>, [u8; 16]);
            let built: Vec<Result<Vec<Ready>>> = std::thread::scope(|scope| {
                let handles: Vec<_> = parts
                    .into_iter()
                    .map(|part| {
                        scope.spawn(move || {
                            let mut taken = HashSet::new();
                            part.into_iter()
                                .map(|(at, item)| {
                                    let value = item.map_err(|e| Error::Import(vec![(at, e)]))?;
                                    let b = self.build(kind, None, value, &mut taken)?;
                                    let w = self.doc_write(b.id, Payload::New(&b.doc), &b.rec, vec![])?;
                                    let (view, summary) = (w.view, w.summary);
                                    Ok((b, view, summary))
                                })
                                .collect::<Result<Vec<_>>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(Error::Internal("an import worker panicked".into()))))
                    .collect()
            });
            let mut batch = vec![];
            for part in built {
                batch.extend(part?);
            }
            let writes: Vec<DocWrite<'_>> = batch
                .iter_mut()
                .map(|(b, view, summary)| DocWrite {
                    id: b.id,
                    payload: Payload::New(&b.doc),
                    kind,
                    key: &b.rec.key,
                    view: std::mem::take(view),
                    conflicted: false,
                    summary: *summary,
                    sigs: std::mem::take(&mut b.sigs),
                    policy: crate::policy::KINDS.contains(&kind),
                })
                .collect();
            self.store.write(&writes)?;
            created += batch.len();
        }
        Ok(ImportReport { kind: kind.to_string(), created })
    }

    /// Verifies every stored document: it loads (chunk checksums, hash
    /// chain), is an Ayni record, passes its schema, and its view is current.
    /// A damaged document is reported, never fatal.
    pub fn check(&self) -> Result<CheckReport> {
        let ids = self.store.all_ids()?;
        let mut problems = vec![];
        for id in &ids {
            let view: Option<Record> = self.store.view(id)?.and_then(|v| serde_json::from_slice(&v).ok());
            let problem = |reason: String| Problem {
                id: id.to_string(),
                kind: view.as_ref().map(|r| r.kind.clone()),
                key: view.as_ref().map(|r| r.key.clone()),
                reason,
            };
            let doc = match self.store.load(id) {
                Ok(Some(doc)) => doc,
                Ok(None) => continue,
                Err(Error::Damaged { reason, .. }) => {
                    problems.push(problem(reason));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if record::layout(&doc) != Some(record::LAYOUT_VERSION) {
                problems.push(problem("not an Ayni record of layout 1".into()));
                continue;
            }
            let current = match self.view_of(id, &doc) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(problem(e.to_string()));
                    continue;
                }
            };
            if !current.deleted {
                if let Err(e) = self.kind(&current.kind).and_then(|s| s.validate(&current.fields)) {
                    problems.push(problem(format!("schema: {e}")));
                    continue;
                }
            }
            if view.as_ref() != Some(&current) {
                problems.push(problem("stored view is stale (run `ayni compact` to rebuild it)".into()));
            }
        }
        Ok(CheckReport { documents: ids.len(), ok: ids.len() - problems.len(), problems })
    }

    /// Compacts every document to one snapshot and rebuilds stale views.
    pub fn compact(&self) -> Result<CompactReport> {
        let ids = self.store.all_ids()?;
        let mut saved = 0;
        for id in &ids {
            saved += self.store.compact(id)?;
            if let Ok(Some(doc)) = self.store.load(id) {
                let rec = self.view_of(id, &doc)?;
                let stored: Option<Record> = self.store.view(id)?.and_then(|v| serde_json::from_slice(&v).ok());
                if stored.as_ref() != Some(&rec) {
                    let heads = doc.get_heads();
                    self.store_write(*id, Payload::Changed { doc: &doc, stored_heads: &heads }, &rec, vec![])?;
                }
            }
        }
        Ok(CompactReport { documents: ids.len(), bytes_saved: saved, disk_bytes: self.store.disk_bytes() })
    }

    /// How many live records of each kind the node holds.
    pub fn counts(&self) -> Result<BTreeMap<String, usize>> {
        let mut out = BTreeMap::new();
        for kind in crate::schema::KINDS {
            out.insert(kind.to_string(), self.list(kind, &[])?.len());
        }
        Ok(out)
    }

    // ------------------------------------------------------------ replication primitives

    /// A record's document as it travels between replicas: every change
    /// with its author's signature (a `Sigs` and a `DocFull` frame of the
    /// replication protocol).
    pub fn document_bytes(&self, reference: &str) -> Result<Vec<u8>> {
        let id = self.resolve(reference)?;
        let doc = self.load(&id)?;
        let whole = crate::sync::sigs::WholeDocument::new(id, &doc, 2, |h| self.signatures_of(h))?;
        let mut out = vec![];
        whole.sigs.encode(&mut out);
        whole.doc.encode(&mut out);
        Ok(out)
    }

    /// Merges another replica's [`Node::document_bytes`] of document `id`
    /// into this node's copy (creating it if new), admitting only signed
    /// changes of enrolled members, as a sync does. Returns the record.
    pub fn merge_document(&self, id: &DocumentId, bytes: &[u8]) -> Result<Record> {
        use crate::sync::wire::Frame;
        let bad = |why: String| Error::Damaged { id: id.to_string(), reason: why };
        let mut sigs = crate::sync::sigs::Collector::default();
        let mut incoming: Option<Automerge> = None;
        let mut rest = bytes;
        while !rest.is_empty() {
            let prefix: [u8; 4] =
                rest.get(..4).and_then(|p| p.try_into().ok()).ok_or_else(|| bad("truncated".into()))?;
            let len = Frame::body_len(prefix).map_err(|e| bad(e.to_string()))?;
            let body = rest.get(4..4 + len).ok_or_else(|| bad("truncated".into()))?;
            match sigs.take(Frame::decode(body).map_err(|e| bad(e.to_string()))?) {
                None => {}
                Some(Frame::DocFull(of, raw)) => {
                    let doc = Automerge::load(&raw).map_err(|e| bad(e.to_string()))?;
                    sigs.arrived(&of, || Ok(crate::sync::sigs::document_hashes(&doc))).map_err(bad)?;
                    incoming = Some(doc);
                }
                Some(other) => return Err(bad(format!("unexpected {} frame", other.name()))),
            }
            rest = &rest[4 + len..];
        }
        let incoming = incoming.ok_or_else(|| bad("no document".into()))?;
        let _guard = self.write_lock();
        let outcome = self.ingest(id, incoming, sigs.by_hash(), "merge_document")?;
        match outcome.ingested {
            Some(mut ing) => {
                let mut saved = vec![];
                {
                    let write = self.ingest_write(&mut ing, None, &mut saved)?;
                    self.store.write(&[write])?;
                }
                Ok(self.shown(ing.record))
            }
            // nothing new was admitted: the record as stored, if there is one
            None if self.store.contains(id)? => self.get(&id.to_string()),
            None => {
                Err(Error::refused(format!("document {id}"), "none of its new changes is admitted (see `ayni audit`)"))
            }
        }
    }
}

fn matches(rec: &Record, path: &str, want: &Value) -> bool {
    let got = match path {
        "status" => rec.status.clone().map(Value::String),
        "key" => Some(Value::String(rec.key.clone())),
        "id" => Some(Value::String(rec.id.clone())),
        _ => {
            let pointer = format!("/{}", path.replace('~', "~0").replace('/', "~1").replace('.', "/"));
            rec.fields.pointer(&pointer).cloned()
        }
    };
    match got {
        Some(Value::Array(items)) => items.contains(want) || Some(&Value::Array(items.clone())) == Some(want),
        Some(v) => &v == want || (want.is_string() && v.to_string() == *want.as_str().unwrap_or_default()),
        None => false,
    }
}
