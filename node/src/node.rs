//! A node: its home directory, identity and store, the types its API
//! returns, and what every operation shares — resolving a reference,
//! loading a document, building a record's view and its store write.
//! The operations live beside it: `write` (the one write path), `read`,
//! `bulk` (import, check, compact), `ingest` (another replica's changes),
//! `replica`, `bundle`, `clients`, `amend`.
//!
//! Owns: opening and creating a home, the record view. Must never: print,
//! exit, or hold field rules (those are in `schemas/`).
//!
//! Home directory layout: `node.key` (see `identity`), `node.json`
//! (`{"format":1,"name","node_id","created_at"}`), `store/` (see `store`).

use std::path::{Path, PathBuf};

use automerge::Automerge;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::attest::Signed;
use crate::error::{Error, Result};
use crate::id::{new_item_id, DocumentId};
use crate::identity::{NodeId, SecretKey};
use crate::record::{self, FieldConflict};
use crate::schema::{schemas, KindSchema, Schemas};
use crate::store::{DocWrite, Payload, Store, StoreWriter};

const NODE_FORMAT: u32 = 1;
/// Records per atomic write batch of [`Node::import`].
pub const IMPORT_BATCH: usize = 1_000;

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
    /// Its automerge URL (`automerge:` + ID), by which automerge-repo
    /// clients open it; shown, not stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One change in a record's history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// Change hash (hex).
    pub hash: String,
    /// When (RFC 3339, the writer's clock).
    pub at: String,
    /// Node ID of the writer; for a client's change, of its gateway (the
    /// node that attested it).
    pub node: String,
    /// What changed.
    pub message: String,
    /// The client that made the change through its gateway (`node`), if a
    /// client made it (an automerge-repo app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
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
    /// Blobs read back and verified.
    #[serde(default)]
    pub blobs: usize,
    /// Blobs whose bytes no longer hash to their name (a problem: exit 1).
    #[serde(default)]
    pub damaged_blobs: Vec<String>,
    /// Blobs records reference that this node does not hold yet (they
    /// arrive with a sync or a bundle; not a problem).
    #[serde(default)]
    pub missing_blobs: Vec<String>,
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
pub(crate) struct Built {
    pub(crate) id: DocumentId,
    pub(crate) doc: Vec<u8>,
    /// The hashes of the document's changes.
    pub(crate) hashes: Vec<automerge::ChangeHash>,
    pub(crate) rec: Record,
    pub(crate) sigs: Vec<Signed>,
}

/// A node as its readers see it: identity, home, the store to read, and
/// what is cached from it. Everything a read needs, and no way to write:
/// the store's writer is [`Node`]'s alone.
pub(crate) struct Reader {
    home: PathBuf,
    key: SecretKey,
    node_id: NodeId,
    info: NodeInfo,
    store: std::sync::Arc<Store>,
    schemas: &'static Schemas,
    verified: crate::network::Verified,
    /// The last policy snapshot (see `crate::policy`).
    policy: crate::policy::Cache,
    /// The index documents, by scope (see the `repo::index` module); its lock
    /// serialises their updates.
    index: std::sync::Mutex<std::collections::HashMap<String, (u64, automerge::Automerge)>>,
    /// The clients table's rows as of a policy generation (see the
    /// clients module): authentication without a store read.
    pub(crate) clients: RowCache,
}

/// A node table's rows by name, as of a policy generation (every write to
/// the members', revocations' or clients' tables moves it).
pub(crate) type RowCache = std::sync::Mutex<Option<(u64, Rows)>>;
/// A table's rows by name.
pub(crate) type Rows = std::sync::Arc<std::collections::HashMap<String, Vec<u8>>>;

/// A node that can write: its [`Reader`] (which it derefs to) and the
/// store's one writer. Whoever holds it makes the node's writes — in a
/// running node, the engine thread alone.
pub(crate) struct Node {
    reader: std::sync::Arc<Reader>,
    writer: StoreWriter,
    /// Serialises every read-merge-write of a document on this node. In a
    /// running node the engine thread is the only writer, so it is never
    /// contended there; it keeps a node used directly (tests with threads)
    /// from losing a write (a sync's batch: see `sync_store`).
    writes: std::sync::Mutex<()>,
}

impl std::ops::Deref for Node {
    type Target = Reader;

    fn deref(&self) -> &Reader {
        &self.reader
    }
}

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Makes a home directory its owner's alone (mode 0700): nobody else may
/// list it, read the store or reach the control socket inside it.
pub fn restrict_to_owner(home: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700)).map_err(|e| Error::io(home, e))
}

/// Now, as RFC 3339 (UTC).
pub fn now_rfc3339() -> String {
    rfc3339(now())
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
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
        // the home holds the node's key, its store and (when it serves) its
        // control socket: its owner's alone, whatever the umask
        restrict_to_owner(home)?;
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
        crate::key_file::write_new(&key, &key_path)?;
        let json = serde_json::to_vec_pretty(&info).map_err(|e| Error::Internal(e.to_string()))?;
        let path = home.join("node.json");
        crate::atomic_file::replace(&path, &json, crate::atomic_file::Access::Shared)
            .map_err(|e| Error::io(&path, e))?;
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
        let key = crate::key_file::read(&home.join("node.key"))?;
        let node_id = key.public().node_id();
        let (store, writer) = Store::open(&home.join("store"))?;
        Ok(Node::of(home, key, node_id, info, store, writer)?)
    }

    /// Closes the node's store and opens the home again: what a restart
    /// of the process sees (tests, benchmarks).
    pub fn reopen(self) -> Result<Node> {
        let home = self.home.clone();
        drop(self);
        // a handle of the store another thread still drops lets go of its
        // lock a moment later: this process's own, so wait for it briefly
        for _ in 0..100 {
            match Node::open(&home) {
                Err(Error::Busy(_)) => std::thread::sleep(std::time::Duration::from_millis(20)),
                other => return other,
            }
        }
        Node::open(&home)
    }

    /// A node over an open store.
    pub(crate) fn of(
        home: &Path,
        key: SecretKey,
        node_id: NodeId,
        info: NodeInfo,
        store: std::sync::Arc<Store>,
        writer: StoreWriter,
    ) -> Result<Node> {
        let reader = Reader {
            home: home.to_path_buf(),
            key,
            node_id,
            info,
            store,
            schemas: schemas()?,
            verified: Default::default(),
            policy: Default::default(),
            index: Default::default(),
            clients: Default::default(),
        };
        let node = Node { reader: std::sync::Arc::new(reader), writer, writes: Default::default() };
        node.complete_blob_index()?;
        node.complete_tallies()?;
        Ok(node)
    }

    /// The reading half, shared with readers beside the writer.
    pub(crate) fn reader(&self) -> &std::sync::Arc<Reader> {
        &self.reader
    }

    /// The store's writer.
    pub(crate) fn writer(&self) -> &StoreWriter {
        &self.writer
    }

    /// From now on the node's writes are flushed as `flush` says (the
    /// engine takes them into its group commit).
    pub(crate) fn set_flush(&mut self, flush: crate::store::Flush) {
        self.writer.set_flush(flush);
    }

    /// Holds this node's write lock (see `Node::writes`).
    pub(crate) fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writes.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn store_write(
        &self,
        id: DocumentId,
        payload: Payload<'_>,
        rec: &Record,
        sigs: Vec<Signed>,
    ) -> Result<()> {
        self.writer.write(&[self.doc_write(id, payload, rec, sigs)?])
    }
}

impl Reader {
    pub(crate) fn policy_cache(&self) -> &crate::policy::Cache {
        &self.policy
    }

    pub(crate) fn index_cache(
        &self,
    ) -> &std::sync::Mutex<std::collections::HashMap<String, (u64, automerge::Automerge)>> {
        &self.index
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

    /// Tokens this node already verified (see [`crate::network::Verified`]).
    pub(crate) fn verified(&self) -> &crate::network::Verified {
        &self.verified
    }

    /// The store, to read.
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

    pub(crate) fn schemas(&self) -> &'static Schemas {
        self.schemas
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

    pub(crate) fn key_resolver(&self) -> impl FnMut(&str, &str) -> Result<Option<String>> + '_ {
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

    pub(crate) fn load(&self, id: &DocumentId) -> Result<Automerge> {
        let doc = self.store.load(id)?.ok_or_else(|| Error::NotFound(id.to_string()))?;
        Ok(doc.with_actor(self.key.public().actor_id()))
    }

    // ------------------------------------------------------------ views

    pub(crate) fn view_of(&self, id: &DocumentId, doc: &Automerge) -> Result<Record> {
        self.view_with(id, doc, None)
    }

    pub(crate) fn view_with(&self, id: &DocumentId, doc: &Automerge, read: Option<record::Read>) -> Result<Record> {
        let read = read.unwrap_or_else(|| record::Read::of(doc));
        let outline = read.outline.unwrap_or_else(|| record::Outline::of(doc));
        let (fields, field_conflicts) = (read.fields, read.conflicts);
        let env = outline.envelope.ok_or_else(|| Error::Damaged {
            id: id.to_string(),
            reason: "not an Ayni record (no kind or key)".into(),
        })?;
        let schema = self.kind(&env.kind)?;
        let live = outline.live;
        let mut flags = vec![];
        let mut conflicts = field_conflicts.len();
        if live && outline.tombstone {
            flags.push("deleted_while_edited".to_string());
            conflicts += 1;
        }
        let status = schema.lifecycle.as_ref().map(|lc| {
            let folded = lc.fold(&outline.transitions);
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
            url: None,
        })
    }

    /// The status as shown today (date-derived names such as `expiring`).
    pub(crate) fn shown(&self, mut r: Record) -> Record {
        r.url = Some(crate::id::automerge_url(&r.id));
        if let (Some(state), Ok(schema)) = (&r.status, self.kind(&r.kind)) {
            if let Some(lc) = &schema.lifecycle {
                r.status = Some(lc.shown_state(state, &r.fields, now().date()));
            }
        }
        r
    }

    pub(crate) fn doc_write<'a>(
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
            tally: crate::tally::of(rec.deleted, rec.conflicts, &rec.fields),
            summary: crate::sync::state_hash(&id, &heads),
            sigs: sigs.iter().map(|(h, p)| (*h, p.to_bytes())).collect(),
            policy: crate::policy::decides(&rec.kind),
            blobs: crate::blobs::referenced(&rec.kind, &rec.fields, rec.deleted)?,
        })
    }
}
