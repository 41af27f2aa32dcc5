//! The one door into a running node: [`NodeHandle`], a cheap, cloneable
//! handle whose typed methods are all a front end (the CLI, the HTTP API,
//! the WebSocket gateway, tests) may do with a node.
//!
//! Owns: which operations read and which write, and who each is made for.
//! Each method says it itself: a write runs on the engine thread, judged as
//! the [`Actor`] it is given and durable when it returns (the engine's
//! group commit); a read runs on a thread beside the engine, so a long
//! listing holds up no write, and sees only what its actor may read. The
//! logic lives in the per-feature modules; every method here is a line or
//! two (rust-analyzer's `Analysis` is the model). Must never: hold domain
//! logic, or let a read reach the write path.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::attach::{Attached, Listed, Meta};
use crate::blobs::{Blob, Limits};
use crate::bundle::BundleReport;
use crate::catalogue::Catalogue;
use crate::clients::{Actor, AuthError, Client, ClientRole, NewClient};
use crate::cooperation::CooperationReport;
use crate::engine::{Durability, Engine};
use crate::error::{Error, Result};
use crate::feed::Change;
use crate::id::DocumentId;
use crate::identity::NodeId;
use crate::listing::{RecordStream, References};
use crate::network::{Membership, NetworkInfo, Revocation, Role};
use crate::node::{
    CheckReport, CompactReport, HistoryEntry, ImportReport, Node, NodeInfo, Reader, Record, RecordConflicts,
};
use crate::progress::Sink;
use crate::repair::RepairReport;
use crate::replica::{PeerInfo, Served};
use crate::repo::index::{Listing, Scope};
use crate::report::EdanReport;
use crate::schema::KindSchema;
use crate::seed::SeedReport;
use crate::situation::EventReport;
use crate::status::NodeStatus;
use crate::submissions::{Submission, SubmissionReport};
use crate::trust::Refusal;

/// A running node: its engine thread and what needs no store work (ID,
/// home, schemas). Cloning it is cheap; the engine stops when the last
/// clone is dropped, after the work already asked of it.
#[derive(Clone)]
pub struct NodeHandle {
    engine: Engine,
}

impl NodeHandle {
    // ------------------------------------------------------------ opening

    /// Creates a node in `home` ([`Node::init`]) and starts it.
    pub fn init(home: &Path, name: &str) -> Result<NodeHandle> {
        NodeHandle::start(Node::init(home, name)?)
    }

    /// Opens the node in `home` and starts its engine. Reads no record.
    pub fn open(home: &Path) -> Result<NodeHandle> {
        NodeHandle::start(Node::open(home)?)
    }

    pub(crate) fn start(node: Node) -> Result<NodeHandle> {
        let engine = Engine::spawn(node).map_err(|e| Error::io("the engine thread", e))?;
        Ok(NodeHandle { engine })
    }

    /// Rebuilds the store in `home` from what can be read of it (the node
    /// must not be running): `ayni check --repair`.
    pub fn repair(home: &Path) -> Result<RepairReport> {
        Node::repair(home).map(|(_, report)| report)
    }

    /// Stops the engine, closes the store and opens the home again: what
    /// a restart of the process sees (tests, benchmarks).
    pub fn reopen(self) -> Result<NodeHandle> {
        NodeHandle::start(self.stop()?.reopen()?)
    }

    /// Stops the engine once the work already asked of it is done, and
    /// closes the store: when it returns, the home may be opened again.
    pub fn close(self) -> Result<()> {
        self.stop().map(drop)
    }

    /// The node, back from its engine; refused while other clones of this
    /// handle are alive (they still use it).
    fn stop(self) -> Result<Node> {
        let engine = self.engine.clone();
        drop(self);
        engine.stop().ok_or_else(|| Error::Precondition("the node is still in use elsewhere".into()))
    }

    // ------------------------------------------------- who (no store work)

    /// The node ID.
    pub fn id(&self) -> NodeId {
        self.node().id()
    }

    /// What `node.json` says.
    pub fn info(&self) -> &NodeInfo {
        self.node().info()
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        self.node().home()
    }

    /// The schema of `kind`.
    pub fn kind(&self, kind: &str) -> Result<&'static KindSchema> {
        self.node().kind(kind)
    }

    /// Whether `actor` may read `rec`.
    pub fn may_read(&self, actor: &Actor, rec: &Record) -> bool {
        self.node().visible_to(actor, rec)
    }

    /// The feed's last durable position, woken as it moves.
    pub fn feed_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.node().feed_watch()
    }

    // ------------------------------------------------------ records, read

    /// One record, as `actor` may see it.
    pub async fn get(&self, actor: &Actor, reference: &str) -> Result<Record> {
        let (actor, r) = (actor.clone(), reference.to_string());
        self.read(move |n| n.get_as(&actor, &r)).await
    }

    /// The live records of `kind` matching `filters` that `actor` may read.
    pub async fn list(&self, actor: &Actor, kind: &str, filters: Vec<(String, Value)>) -> Result<Vec<Record>> {
        let mut stream = self.records(actor, kind, filters, References::Ids);
        let mut out = vec![];
        while let Some(rec) = stream.next().await {
            out.push(rec?);
        }
        Ok(out)
    }

    /// [`NodeHandle::list`], one record at a time.
    pub fn records(&self, actor: &Actor, kind: &str, filters: Vec<(String, Value)>, refs: References) -> RecordStream {
        crate::listing::start(self.node().clone(), actor.clone(), kind.to_string(), filters, refs)
    }

    /// A record's history, as `actor` may see it.
    pub async fn history(&self, actor: &Actor, reference: &str) -> Result<Vec<HistoryEntry>> {
        let (actor, r) = (actor.clone(), reference.to_string());
        self.read(move |n| n.get_as(&actor, &r).and_then(|_| n.history(&r))).await
    }

    /// The records that the document IDs in `texts` name: ID → `kind:key — title`.
    pub async fn names_of(&self, texts: Vec<String>) -> Result<BTreeMap<String, String>> {
        self.read(move |n| n.names_of(texts.iter().map(String::as_str))).await
    }

    /// The records a record's fields reference: ID → `kind:key — title`.
    pub async fn names_in(&self, fields: Value) -> Result<BTreeMap<String, String>> {
        self.read(move |n| n.names_in(&fields)).await
    }

    /// The records with concurrent values that `actor` may read.
    pub async fn conflicts(&self, actor: &Actor) -> Result<Vec<RecordConflicts>> {
        let actor = actor.clone();
        self.read(move |n| {
            let mut all = n.conflicts()?;
            all.retain(|c| n.get_as(&actor, &c.id).is_ok());
            Ok(all)
        })
        .await
    }

    /// An EDAN's report, as `actor` may see it.
    pub async fn edan_report(&self, actor: &Actor, reference: &str) -> Result<EdanReport> {
        let (actor, r) = (actor.clone(), reference.to_string());
        self.read(move |n| n.get_as(&actor, &r).and_then(|_| n.edan_report(&r))).await
    }

    /// An emergency's situation report, of the records `actor` may read.
    pub async fn event_report(&self, actor: &Actor, reference: &str) -> Result<EventReport> {
        let (actor, r) = (actor.clone(), reference.to_string());
        self.read(move |n| n.event_report_of(&r, &|rec| n.visible_to(&actor, rec))).await
    }

    /// The cooperation report of `year` (or every year), as of `today`, of
    /// the records `actor` may read.
    pub async fn cooperation_report(
        &self,
        actor: &Actor,
        year: Option<i32>,
        today: time::Date,
    ) -> Result<CooperationReport> {
        let actor = actor.clone();
        self.read(move |n| n.cooperation_report(year, today, &|rec| n.visible_to(&actor, rec))).await
    }

    /// The published catalogue of good practices.
    pub async fn catalogue(&self, edition: Option<usize>) -> Result<Catalogue> {
        self.read(move |n| n.catalogue(edition)).await
    }

    /// A record's automerge document, saved.
    pub async fn document_bytes(&self, reference: &str) -> Result<Vec<u8>> {
        let r = reference.to_string();
        self.read(move |n| n.document_bytes(&r)).await
    }

    /// Feed entries after `after`, of `kind` if given, at most `limit`, and
    /// the position to resume from.
    pub async fn changes_since(&self, after: u64, kind: Option<String>, limit: usize) -> Result<(Vec<Change>, u64)> {
        self.read(move |n| n.changes_since(after, kind.as_deref(), limit)).await
    }

    // --------------------------------------------------- the node, read

    /// Every document this node holds and its state hash, as sync compares
    /// them (two nodes that agree on this hold the same records).
    pub async fn summary(&self) -> Result<Vec<(DocumentId, [u8; 16])>> {
        self.read(|n| n.store().summary()).await
    }

    /// The node at a glance.
    pub async fn status(&self) -> Result<NodeStatus> {
        self.read(Reader::status).await
    }

    /// Every document and blob checked.
    pub async fn check(&self) -> Result<CheckReport> {
        self.read(Reader::check).await
    }

    /// The network this node belongs to.
    pub async fn network(&self) -> Result<Option<NetworkInfo>> {
        self.read(Reader::network).await
    }

    /// This node's own membership, once enrolled.
    pub async fn membership(&self) -> Result<Option<Membership>> {
        self.read(Reader::membership).await
    }

    /// The network's members.
    pub async fn members(&self) -> Result<Vec<Membership>> {
        self.read(Reader::members).await
    }

    /// The peers this node knows.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>> {
        self.read(Reader::peers).await
    }

    /// Where `ayni serve` serves this node.
    pub async fn served(&self) -> Result<Served> {
        self.read(Reader::served).await
    }

    /// The clients this node issued tokens to.
    pub async fn clients(&self) -> Result<Vec<Client>> {
        self.read(Reader::clients).await
    }

    /// The client a token stands for, if it is valid now.
    pub async fn authenticate(&self, token: Option<String>) -> Result<std::result::Result<Client, AuthError>> {
        match self.node().authenticate_cached(token.as_deref()) {
            Some(answer) => Ok(answer), // the clients cached and current: no store read, no hop
            None => self.read(move |n| Ok(n.authenticate(token.as_deref()))).await,
        }
    }

    /// The changes this node refused, and why.
    pub async fn audit(&self) -> Result<Vec<Refusal>> {
        self.read(Reader::audit).await
    }

    /// The document ID of entity `e` (`entity:KEY`, `KEY` or an ID).
    pub async fn entity_id(&self, e: &str) -> Result<String> {
        let e = e.to_string();
        self.read(move |n| n.entity_id(&e)).await
    }

    /// The document ID of the index for `scope`.
    pub async fn index_id(&self, scope: Scope) -> Result<DocumentId> {
        self.read(move |n| n.index_id(&scope)).await
    }

    /// The index for `scope`, current: read beside the engine when it is
    /// current, else brought up to date (and stored) by the engine first.
    pub async fn index_listing(&self, scope: Scope) -> Result<Listing> {
        let s = scope.clone();
        let doc = match self.read(move |n| n.index_current(&s)).await? {
            Some(doc) => doc,
            None => {
                let s = scope.clone();
                self.write(move |n| n.refresh_index(&s)).await?
            }
        };
        let id = self.index_id(scope.clone()).await?;
        Ok(crate::repo::index::listing(&doc, id, &scope))
    }

    /// The blobs this node holds, with the records that reference them.
    pub async fn blob_listing(&self) -> Result<Vec<Listed>> {
        self.read(Reader::blob_listing).await
    }

    /// The full hash of the one blob whose hash starts with `prefix`.
    pub async fn resolve_blob(&self, prefix: &str) -> Result<String> {
        let p = prefix.to_string();
        self.read(move |n| n.blobs().resolve(&p)).await
    }

    /// A blob's bytes, verified, for `actor`: a partner's client gets a
    /// blob only when a record it may read references it.
    pub async fn blob(&self, actor: &Actor, hash: &str) -> Result<Vec<u8>> {
        let (actor, h) = (actor.clone(), hash.to_string());
        self.read(move |n| {
            if let Actor::Client(c) = &actor {
                if !c.reads_everything() && !n.blob_references(&h)?.iter().any(|(r, _)| n.visible_to(&actor, r)) {
                    return Err(Error::NotFound(format!("blob {h}")));
                }
            }
            n.blobs().get(&h)
        })
        .await
    }

    /// A bundle of every document, or of those `since` lacks, with the
    /// blobs they reference when `with_blobs`.
    pub async fn export_bundle(
        &self,
        since: Option<NodeId>,
        with_blobs: bool,
        mut progress: Sink,
    ) -> Result<(Vec<u8>, BundleReport)> {
        self.read(move |n| n.export_bundle_with_progress(since, with_blobs, &mut *progress)).await
    }

    // ----------------------------------------------------- records, write

    /// Creates a record for `actor`: built, validated, judged and signed
    /// beside the engine (several at once); stored by it, with the key
    /// check that counts and the client checked again.
    pub async fn create(&self, actor: &Actor, kind: &str, key: Option<&str>, fields: Value) -> Result<Record> {
        let (a, kind, key) = (actor.clone(), kind.to_string(), key.map(String::from));
        let new = self
            .read(move |n| {
                let a = n.may_write(&a, None)?;
                n.build_new(&a, &kind, key.as_deref(), fields)
            })
            .await?;
        let a = actor.clone();
        self.write(move |n| n.may_write(&a, None).and_then(|_| n.insert(new))).await
    }

    /// Sets fields of a record, for `actor`.
    pub async fn set(&self, actor: &Actor, reference: &str, assignments: Vec<(String, Value)>) -> Result<Record> {
        self.on_record(actor, reference, move |n, a, r| n.by(a).set(r, &assignments)).await
    }

    /// Removes fields of a record in one change, for `actor`.
    pub async fn unset(&self, actor: &Actor, reference: &str, paths: Vec<String>) -> Result<Record> {
        self.on_record(actor, reference, move |n, a, r| n.by(a).unset_many(r, &paths)).await
    }

    /// Deletes a record, for `actor`.
    pub async fn delete(&self, actor: &Actor, reference: &str) -> Result<Record> {
        self.on_record(actor, reference, |n, a, r| n.by(a).delete(r)).await
    }

    /// Moves a record through its lifecycle, for `actor`.
    pub async fn transition(&self, actor: &Actor, reference: &str, to: &str, note: Option<String>) -> Result<Record> {
        let to = to.to_string();
        self.on_record(actor, reference, move |n, a, r| n.by(a).transition(r, &to, note.as_deref())).await
    }

    /// Settles concurrent values at `path` with `value`, for `actor`.
    pub async fn resolve(&self, actor: &Actor, reference: &str, path: &str, value: Value) -> Result<Record> {
        let path = path.to_string();
        self.on_record(actor, reference, move |n, a, r| n.by(a).resolve_conflict(r, &path, value)).await
    }

    /// Accepts or rejects an amendment proposal to an EDAN's frozen
    /// figures, as `actor` (judged like any write).
    pub async fn decide_amendment(&self, actor: &Actor, reference: &str, change: &str, accept: bool) -> Result<Record> {
        let change = change.to_string();
        self.on_record(actor, reference, move |n, a, r| n.decide_amendment(a, r, &change, accept)).await
    }

    /// The decisions waiting for HQ, newest first.
    pub async fn decisions(&self) -> Result<crate::decisions::Decisions> {
        self.read(|n| n.decisions()).await
    }

    /// The laptops enrolled in this node's network, as HQ's desk lists them.
    pub async fn laptops(&self) -> Result<Vec<crate::laptops::Laptop>> {
        self.read(|n| n.laptops()).await
    }

    /// Attaches a file to a record's field, as the node.
    pub async fn attach(
        &self,
        reference: &str,
        field: &str,
        bytes: Vec<u8>,
        meta: Meta,
        limits: Limits,
    ) -> Result<Attached> {
        let (r, f) = (reference.to_string(), field.to_string());
        self.write(move |n| n.attach(&r, &f, &bytes, &meta, &limits)).await
    }

    /// Stores a blob for `actor` (its hash checked against `hash` when
    /// given); `true` when it was new.
    pub async fn put_blob(
        &self,
        actor: &Actor,
        bytes: Vec<u8>,
        hash: Option<String>,
        limits: Limits,
    ) -> Result<(Blob, bool)> {
        let actor = actor.clone();
        self.write(move |n| {
            n.may_write(&actor, None)?;
            n.blobs().put(&bytes, hash.as_deref(), &limits, "the blob")
        })
        .await
    }

    /// Imports the records of a JSON array or JSON Lines file, all or none.
    pub async fn import(&self, kind: &str, text: String, mut progress: Sink) -> Result<ImportReport> {
        let kind = kind.to_string();
        self.write(move |n| n.import_with_progress(&kind, || crate::bulk::items(&text), &mut *progress)).await
    }

    /// Imports ODK or Kobo submissions (updating those imported before).
    pub async fn import_submissions(&self, subs: Vec<Submission>) -> Result<SubmissionReport> {
        self.write(move |n| n.import_submissions(subs)).await
    }

    /// Imports a bundle: every change verified and judged.
    pub async fn import_bundle(&self, bytes: Vec<u8>, mut progress: Sink) -> Result<BundleReport> {
        self.write(move |n| n.import_bundle_with_progress(&bytes, &mut *progress)).await
    }

    /// Merges another replica's copy of a document: every change judged.
    pub async fn merge_document(&self, id: DocumentId, bytes: Vec<u8>) -> Result<Record> {
        self.write(move |n| n.merge_document(&id, &bytes)).await
    }

    /// Adds the demo records (seed data).
    pub async fn seed(&self) -> Result<SeedReport> {
        self.write(Node::seed).await
    }

    /// Compacts every document's history into one snapshot.
    pub async fn compact(&self) -> Result<CompactReport> {
        self.write(Node::compact).await
    }

    // ---------------------------------------------- the network, write

    /// Founds a network with this node as its first HQ.
    pub async fn create_network(&self, name: &str) -> Result<(NetworkInfo, Membership)> {
        let name = name.to_string();
        self.write(move |n| n.create_network(&name)).await
    }

    /// Enrols a node (HQ only), counted in `team` when given.
    pub async fn enroll(
        &self,
        node: NodeId,
        role: Role,
        label: &str,
        addr: Option<String>,
        team: Option<String>,
    ) -> Result<Membership> {
        let label = label.to_string();
        self.write(move |n| n.enroll_in(node, role, &label, addr, team.as_deref())).await
    }

    /// Revokes a node's membership (HQ only).
    pub async fn revoke(&self, node: NodeId, reason: &str) -> Result<Revocation> {
        let reason = reason.to_string();
        self.write(move |n| n.revoke(node, &reason)).await
    }

    /// Joins the network a token enrols this node in.
    pub async fn join(&self, token: &str) -> Result<Membership> {
        let token = token.to_string();
        self.write(move |n| n.join(&token)).await
    }

    /// Takes a membership record another node passed on (a sync brings
    /// them); `true` when it was new.
    pub async fn accept_member(&self, bytes: Vec<u8>) -> Result<bool> {
        self.write(move |n| n.accept_member(&bytes)).await
    }

    /// Issues a client token: the client, and the token (shown once).
    pub async fn add_client(
        &self,
        name: &str,
        role: ClientRole,
        team: Option<String>,
        entity: Option<String>,
        expires_in: Option<time::Duration>,
    ) -> Result<(Client, String)> {
        let name = name.to_string();
        self.write(move |n| {
            let new = NewClient { team: team.as_deref(), entity: entity.as_deref(), expires_in };
            n.add_client(&name, role, new)
        })
        .await
    }

    /// Revokes a client's token.
    pub async fn revoke_client(&self, name: &str) -> Result<Client> {
        let name = name.to_string();
        self.write(move |n| n.revoke_client(&name)).await
    }

    /// Notes where this node is served now, on disk before it answers:
    /// `enroll` and `client add --qr` hand it out after `serve` has stopped
    /// (a `serve` stopped right after it started once lost it).
    pub async fn note_served(&self, served: Served) -> Result<()> {
        self.engine.call(Durability::OnDisk, move |n| n.note_served(&served)).await?
    }

    // ------------------------------------------------------------ in here

    /// Runs a write on the engine thread; answered once it is durable.
    pub(crate) async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Node) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.engine.call(Durability::OnDisk, f).await?
    }

    /// Runs a read on a thread beside the engine: it gets the node's
    /// [`Reader`], which has no way to write.
    pub(crate) async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Reader) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.engine.read(f).await?
    }

    /// A write on the record `reference`, for `actor` as it is now.
    async fn on_record<R: Send + 'static>(
        &self,
        actor: &Actor,
        reference: &str,
        f: impl FnOnce(&Node, &Actor, &str) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (actor, r) = (actor.clone(), reference.to_string());
        self.write(move |n| {
            let actor = n.may_write(&actor, Some(&r))?;
            f(n, &actor, &r)
        })
        .await
    }

    /// The engine, for the node's own drivers (sync sessions, gateways).
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The node as readers see it, for what needs no store work.
    pub(crate) fn node(&self) -> &Arc<Reader> {
        self.engine.reader()
    }
}
