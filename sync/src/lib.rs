//! Replication, sans I/O (crate `ayni-sync`): one [`Session`] per
//! connection, fed the peer's frames and polled for its own, with storage
//! behind the [`DocStore`] trait; the proofs that travel with changes
//! ([`attest`], [`identity`]) and [`inflate`], which bounds every
//! compressed input before it is read.
//!
//! Owns: the replication protocol (see FORMATS.md): version
//! negotiation, membership exchange, range-based set reconciliation over
//! `(document ID, state hash)` items, then automerge's own sync protocol
//! for documents that differ and whole documents for those one side lacks.
//! Must never: touch sockets, tokio, quinn or sled, read the clock, or use
//! randomness (key generation asks the OS, nothing else); the driver in
//! the node's `net` does all of that. Depends on `ayni-model` only.
//!
//! # Calling contract
//! The initiator calls [`Session::next_batch`] first and sends the frames;
//! then both sides alternate: feed every frame of the peer's batch (up to
//! and including `End`) to [`Session::handle_frame`], call
//! [`DocStore::commit`], then [`Session::next_batch`]. `None` from
//! `next_batch` means the session is complete: close the stream. A driver
//! may take a batch in parts instead ([`Session::next_part`], sending each
//! as it comes, until the part that ends with `End`).

pub mod attest;
pub mod blob_wire;
pub mod identity;
pub mod inflate;
#[cfg(any(test, feature = "fuzzing"))]
pub mod memory;
pub mod ranges;
mod receive;
pub mod sigs;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use automerge::sync::{State, SyncDoc};
use automerge::{Automerge, ChangeHash};
use serde::Serialize;

use ayni_model::{error, id};

use crate::attest::Proof;
use crate::id::DocumentId;
use ranges::ItemSet;
pub use ranges::{members_fingerprint, state_hash};
pub use receive::Loaded;
use wire::{Bound, Frame, Hash16, Hello, Range, RangeBody, WireError, VERSIONS};

/// Ranges with at most this many items are sent as item lists.
pub const ITEMS_THRESHOLD: usize = 8;
/// A range that differs is split into this many parts.
pub const SPLIT: usize = 8;
/// Whole documents sent in one batch stop being added past this many bytes.
pub const BATCH_BYTES: usize = 16 * 1024 * 1024;

/// What a session needs from the node's storage.
pub trait DocStore {
    /// Every document's `(ID, state hash)`, from the store's summary (no
    /// document is loaded).
    fn items(&self) -> crate::error::Result<Vec<(DocumentId, Hash16)>>;
    /// Loads a document.
    fn load(&self, id: &DocumentId) -> crate::error::Result<Option<Automerge>>;
    /// A document as it is stored, whole, without loading it: its bytes
    /// (one saved document) and the hashes of its changes; `None` when the
    /// store cannot tell them without loading it (then it is loaded).
    fn whole(&self, _id: &DocumentId) -> crate::error::Result<Option<(Vec<u8>, Vec<ChangeHash>)>> {
        Ok(None)
    }
    /// Stores a document that gained changes from the peer, admitting only
    /// changes whose signatures (`sigs`, or already stored) verify; returns
    /// how many changes were refused. A document that arrived whole comes
    /// with `arrived`: the bytes it arrived as, which may be stored as they
    /// are when every change of a document new to this node is admitted.
    /// It becomes durable at the next [`DocStore::commit`].
    fn save(
        &mut self,
        id: &DocumentId,
        doc: &Automerge,
        arrived: Option<Arrived<'_>>,
        sigs: &HashMap<[u8; 32], Proof>,
    ) -> crate::error::Result<usize>;
    /// A whole document from the peer that does not load (`why`): it is
    /// refused, and the session goes on without it. The node records it;
    /// this default does nothing.
    fn unreadable(&mut self, _id: &DocumentId, _why: &str) -> crate::error::Result<()> {
        Ok(())
    }

    /// Stored signatures of the changes with these hashes.
    fn signatures(&self, hashes: &[ChangeHash]) -> crate::error::Result<Vec<crate::attest::Signed>>;
    /// Makes every saved document durable.
    fn commit(&mut self) -> crate::error::Result<()>;
    /// Membership tokens this node knows.
    fn members(&self) -> crate::error::Result<Vec<Vec<u8>>>;
    /// Verifies and records a membership token from the peer; `Ok(false)`
    /// when it was already known. An invalid token is an error.
    fn add_member(&mut self, token: &[u8]) -> crate::error::Result<bool>;
}

/// A document that arrived whole (a `DocFull` frame), as
/// [`DocStore::save`] takes it.
pub struct Arrived<'a> {
    /// The bytes it arrived as.
    pub bytes: &'a [u8],
    /// The document read as values at its heads, when the session has that
    /// reading already ([`Loaded::read_ahead`]).
    pub read: Option<ayni_model::effect::Snapshot>,
}

/// Why a session failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The peer broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A frame could not be decoded.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// No protocol version in common.
    #[error("no common protocol version: we speak {ours:?}, the peer {theirs:?}")]
    Version {
        /// Ours.
        ours: Vec<u16>,
        /// Theirs.
        theirs: Vec<u16>,
    },
    /// The peer gave up and said why.
    #[error("the peer reported an error: {0}")]
    Peer(String),
    /// The peer ended its stream where the session does not end: it
    /// failed on its side without saying why (see [`Session::peer_may_end`]).
    #[error("the peer ended the session early, with an answer still owed (it failed on its side); what arrived before is kept")]
    EndedEarly,
    /// A document from the peer was refused, or storage failed.
    #[error("{0}")]
    Store(#[from] crate::error::Error),
}

/// Who opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The side that connected: it sends the first batch.
    Initiator,
    /// The side that accepted.
    Acceptor,
}

/// What a session did, for `ayni sync --json`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// Documents this side sent changes for.
    pub docs_sent: u64,
    /// Documents that gained changes here.
    pub docs_received: u64,
    /// Changes sent (counted against what the peer showed it had).
    pub changes_sent: u64,
    /// Changes that were new here.
    pub changes_received: u64,
    /// Batches this side received from the peer.
    pub batches_received: u64,
    /// Membership records learned from the peer.
    pub members_learned: u64,
    /// The protocol version in use (0 until the peer's hello arrives).
    pub version: u16,
}

/// One replication session with one peer.
pub struct Session {
    role: Role,
    local: Hello,
    peer: Option<Hello>,
    set: ItemSet,
    sent_hello: bool,
    sent_first_ranges: bool,
    members_needed: bool,
    sent_members: bool,
    out_ranges: Vec<Range>,
    want: BTreeSet<DocumentId>,
    send_full: BTreeSet<DocumentId>,
    syncing: BTreeMap<DocumentId, State>,
    docs: BTreeMap<DocumentId, Automerge>,
    sent_docs: HashSet<DocumentId>,
    received_docs: HashSet<DocumentId>,
    received_content: bool,
    /// Whether the last batch this side sent carried anything the peer
    /// must answer (`None` before the first).
    sent_content: Option<bool>,
    finished: bool,
    stats: Stats,
    /// Signatures received for changes about to arrive.
    sigs: sigs::Collector,
    /// Documents with refused changes: not synced further this session.
    blocked: HashSet<DocumentId>,
    /// Whole documents refused this session because they did not load.
    unreadable: usize,
    /// The batch being produced part by part, if one is under way.
    batch: Option<BatchInProgress>,
}

/// A batch handed out in parts by [`Session::next_part`].
struct BatchInProgress {
    /// Whether the batch carries anything the peer must answer.
    content: bool,
    /// Whether the batch answers content from the peer.
    received_content: bool,
    /// Whole-document bytes in the batch so far.
    bytes: usize,
}

impl Session {
    /// A new session. `node_id` is this node's; the store's summary is read
    /// once, here.
    pub fn new<S: DocStore>(role: Role, node_id: [u8; 20], store: &S) -> crate::error::Result<Session> {
        let set = ItemSet::new(store.items()?);
        let local = Hello {
            versions: VERSIONS.to_vec(),
            node_id,
            doc_count: set.len() as u64,
            set_fp: set.fingerprint(0, set.len()),
            members_fp: members_fingerprint(&store.members()?),
        };
        Ok(Session {
            role,
            local,
            peer: None,
            set,
            sent_hello: false,
            sent_first_ranges: false,
            members_needed: false,
            sent_members: false,
            out_ranges: vec![],
            want: BTreeSet::new(),
            send_full: BTreeSet::new(),
            syncing: BTreeMap::new(),
            docs: BTreeMap::new(),
            sent_docs: HashSet::new(),
            received_docs: HashSet::new(),
            received_content: false,
            sent_content: None,
            finished: false,
            stats: Stats::default(),
            sigs: sigs::Collector::default(),
            blocked: HashSet::new(),
            unreadable: 0,
            batch: None,
        })
    }

    /// Limits the protocol versions this side offers (a node pinned to an
    /// older protocol; tests of mixed networks). Call before the first batch.
    pub fn offering(mut self, versions: &[u16]) -> Session {
        self.local.versions = versions.to_vec();
        self
    }

    /// The protocol version in use: the highest both sides speak (1 until
    /// the peer's hello arrives; no document is sent before it does).
    pub fn version(&self) -> u16 {
        let theirs = self.peer.as_ref().map(|h| &h.versions[..]).unwrap_or(&[]);
        self.local.versions.iter().filter(|v| theirs.contains(v)).max().copied().unwrap_or(1)
    }

    /// The frame carrying the signatures of `hashes`, as the version in use
    /// sends them.
    fn signatures_frame<S: DocStore>(
        &self,
        store: &S,
        id: DocumentId,
        hashes: Vec<ChangeHash>,
    ) -> crate::error::Result<Frame> {
        let known = store.signatures(&hashes)?;
        Ok(sigs::proofs_frame(id, self.version(), hashes, &known))
    }

    /// What happened so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The peer's hello, once received.
    pub fn peer(&self) -> Option<&Hello> {
        self.peer.as_ref()
    }

    /// Whether the session is complete.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether the peer may end the session where it is this side's turn
    /// to receive: only a side with nothing to send that was sent nothing
    /// to answer finishes, so the last batch this side sent carried
    /// nothing the peer must answer (only `Hello` and `End`). A stream that
    /// ends anywhere else was cut short: the peer failed on its side, and
    /// what this side sent in its last batch may not be stored there.
    /// (A peer that fails after such a batch, while it still had documents
    /// to send, ends where a session may end: it had stored all this side
    /// sent, so what is recorded of it holds; only this side lacks what it
    /// did not send, and the next sync brings it.)
    pub fn peer_may_end(&self) -> bool {
        self.finished || self.sent_content == Some(false)
    }

    /// The next batch to send, whole: [`Session::next_part`] until `End`.
    pub fn next_batch<S: DocStore>(&mut self, store: &S) -> Result<Option<Vec<Frame>>, SyncError> {
        let mut frames = vec![];
        while let Some(part) = self.next_part(store, usize::MAX)? {
            frames.extend(part);
            if frames.last() == Some(&Frame::End) {
                return Ok(Some(frames));
            }
        }
        Ok(None)
    }

    /// The next part of the batch to send: frames holding about `budget`
    /// bytes of whole documents at most (at least one document), the last
    /// part ending with `End`; `None` when the session is complete. A
    /// driver sends each part as soon as it has it, so loading documents
    /// overlaps with sending them (on a slow link the first bytes leave
    /// after one part's work, not the whole batch's).
    pub fn next_part<S: DocStore>(&mut self, store: &S, budget: usize) -> Result<Option<Vec<Frame>>, SyncError> {
        if self.finished {
            return Ok(None);
        }
        let mut frames = vec![];
        let mut batch = match self.batch.take() {
            Some(b) => b,
            None => self.open_batch(store, &mut frames)?,
        };
        let mut part_bytes = 0;
        while batch.bytes <= BATCH_BYTES && part_bytes < budget.max(1) {
            let Some(id) = self.send_full.pop_first() else { break };
            let version = self.version();
            let whole = match store.whole(&id)? {
                Some((bytes, hashes)) => {
                    Some(sigs::WholeDocument::stored(id, bytes, hashes, version, |h| store.signatures(h))?)
                }
                None => match store.load(&id)? {
                    Some(doc) => Some(sigs::WholeDocument::new(id, &doc, version, |h| store.signatures(h))?),
                    None => None,
                },
            };
            if let Some(whole) = whole {
                batch.bytes += whole.bytes;
                part_bytes += whole.bytes;
                self.stats.changes_sent += whole.changes as u64;
                if self.sent_docs.insert(id) {
                    self.stats.docs_sent += 1;
                }
                frames.extend([whole.sigs, whole.doc]);
                batch.content = true;
            }
        }
        if batch.bytes <= BATCH_BYTES && !self.send_full.is_empty() {
            // budget spent: more of this batch in the next part
            self.batch = Some(batch);
            return Ok(Some(frames));
        }
        if !self.send_full.is_empty() {
            batch.content = true; // more next batch
        }
        let ids: Vec<DocumentId> = self.syncing.keys().copied().collect();
        for id in ids {
            let doc = receive::cached(&mut self.docs, store, &id)?;
            let Some(state) = self.syncing.get_mut(&id) else { continue };
            // only the changes the peer lacks, one by one: to a peer that
            // speaks its V2 messages automerge sends the whole document
            // whenever the peer lacks a third of its changes, which costs
            // this side a save and the peer a load of every change
            state.their_capabilities = None;
            if let Some(msg) = doc.generate_sync_message(state) {
                if !msg.changes.is_empty() {
                    if self.sent_docs.insert(id) {
                        self.stats.docs_sent += 1;
                    }
                    // the signatures of exactly the changes the message carries
                    let hashes = sigs::chunk_hashes(msg.changes.iter())
                        .map_err(|e| SyncError::Protocol(format!("document {id}: our own sync message: {e}")))?;
                    self.stats.changes_sent += hashes.len() as u64;
                    frames.push(self.signatures_frame(store, id, hashes)?);
                }
                frames.push(Frame::DocSync(id, msg.encode()));
                batch.content = true;
            }
        }
        if !batch.content && !batch.received_content && self.stats.batches_received > 0 {
            self.finish();
            return Ok(None);
        }
        self.sent_content = Some(batch.content);
        frames.push(Frame::End);
        Ok(Some(frames))
    }

    /// Starts a batch: the frames that come before any document.
    fn open_batch<S: DocStore>(&mut self, store: &S, frames: &mut Vec<Frame>) -> Result<BatchInProgress, SyncError> {
        let mut batch =
            BatchInProgress { content: false, received_content: std::mem::take(&mut self.received_content), bytes: 0 };
        if !self.sent_hello {
            frames.push(Frame::Hello(self.local.clone()));
            self.sent_hello = true;
        }
        if self.role == Role::Initiator && !self.sent_first_ranges {
            self.sent_first_ranges = true;
            let body = if self.set.len() <= ITEMS_THRESHOLD {
                RangeBody::Items(self.set.items(0, self.set.len()))
            } else {
                RangeBody::Fingerprint(self.local.set_fp)
            };
            frames.push(Frame::Ranges(vec![Range { upper: Bound::End, body }]));
            batch.content = true;
        }
        if self.members_needed && !self.sent_members {
            frames.push(Frame::Members(store.members()?));
            self.sent_members = true;
            batch.content = true;
        }
        if !self.out_ranges.is_empty() {
            frames.push(Frame::Ranges(std::mem::take(&mut self.out_ranges)));
            batch.content = true;
        }
        if !self.want.is_empty() {
            frames.push(Frame::Want(std::mem::take(&mut self.want).into_iter().collect()));
            batch.content = true;
        }
        Ok(batch)
    }

    fn finish(&mut self) {
        self.finished = true;
    }

    /// Feeds one frame of the peer's batch.
    pub fn handle_frame<S: DocStore>(&mut self, frame: Frame, store: &mut S) -> Result<(), SyncError> {
        self.may_take(&frame)?;
        match frame {
            Frame::Hello(h) => {
                if self.peer.is_some() {
                    return Err(SyncError::Protocol("a second Hello".into()));
                }
                if !h.versions.iter().any(|v| VERSIONS.contains(v)) {
                    return Err(SyncError::Version { ours: VERSIONS.to_vec(), theirs: h.versions });
                }
                self.members_needed = h.members_fp != self.local.members_fp;
                self.peer = Some(h);
                self.stats.version = self.version();
            }
            Frame::Members(tokens) => {
                self.received_content = true;
                for t in tokens {
                    if store.add_member(&t)? {
                        self.stats.members_learned += 1;
                    }
                }
            }
            Frame::Ranges(ranges) => {
                self.received_content = true;
                self.reconcile(ranges)
            }
            Frame::Want(ids) => {
                self.received_content = true;
                for id in ids {
                    if self.set.get(&id).is_some() {
                        self.send_full.insert(id);
                    }
                }
            }
            f @ (Frame::Sigs(..) | Frame::SigsOrdered(..) | Frame::Proofs(..)) => {
                self.received_content = true;
                self.sigs.take(f);
            }
            Frame::DocSync(id, _) | Frame::DocFull(id, _) if self.blocked.contains(&id) => {
                // content all the same: the sender counts it so, and ends
                // the session only after a batch that brought it nothing
                self.received_content = true;
                self.sigs.skipped(&id)
            }
            Frame::DocSync(id, bytes) => {
                self.received_content = true;
                self.doc_sync(id, &bytes, store)?;
            }
            Frame::DocFull(id, bytes) => self.handle_loaded(id, &bytes, Loaded::of(&bytes), store)?,
            Frame::End => self.stats.batches_received += 1,
            Frame::Error(_, text) => return Err(SyncError::Peer(text)),
            Frame::Zstd(packed) => {
                for f in wire::unpack(&packed)? {
                    if f == Frame::End {
                        return Err(SyncError::Protocol("End inside compressed frames".into()));
                    }
                    self.handle_frame(f, store)?;
                }
            }
        }
        Ok(())
    }

    /// Whether the session takes `frame` now: not after it ended, and
    /// nothing but a `Hello` (or an error, or frames packed together)
    /// before the peer's `Hello`.
    pub(crate) fn may_take(&self, frame: &Frame) -> Result<(), SyncError> {
        if self.finished {
            return Err(SyncError::Protocol(format!("{} after the session ended", frame.name())));
        }
        if self.peer.is_none() && !matches!(frame, Frame::Hello(_) | Frame::Error(..) | Frame::Zstd(_)) {
            return Err(SyncError::Protocol(format!("expected Hello, got {}", frame.name())));
        }
        Ok(())
    }

    /// Range-based set reconciliation: answers each range of the peer's
    /// message from this side's items (see FORMATS.md, "Reconciliation").
    fn reconcile(&mut self, ranges: Vec<Range>) {
        let mut out: Vec<Range> = vec![];
        let mut lo = 0usize;
        for r in ranges {
            let hi = self.set.position(&r.upper).max(lo);
            match r.body {
                RangeBody::Fingerprint(fp) => {
                    if fp == SKIP || self.set.fingerprint(lo, hi) == fp {
                        skip(&mut out, r.upper);
                    } else if hi - lo <= ITEMS_THRESHOLD {
                        out.push(Range { upper: r.upper, body: RangeBody::Items(self.set.items(lo, hi)) });
                    } else {
                        for (a, b, bound) in self.set.split(lo, hi, SPLIT, r.upper) {
                            out.push(Range { upper: bound, body: RangeBody::Fingerprint(self.set.fingerprint(a, b)) });
                        }
                    }
                }
                RangeBody::Items(theirs) => {
                    let their_ids: HashSet<DocumentId> = theirs.iter().map(|(id, _)| *id).collect();
                    for (id, h) in &theirs {
                        match self.set.get(id) {
                            None => {
                                self.want.insert(*id);
                            }
                            Some(mine) if mine != *h => {
                                self.syncing.entry(*id).or_default();
                            }
                            Some(_) => {}
                        }
                    }
                    for (id, _) in self.set.items(lo, hi) {
                        if !their_ids.contains(&id) {
                            self.send_full.insert(id);
                        }
                    }
                    skip(&mut out, r.upper);
                }
            }
            lo = hi;
        }
        while is_skip(out.last()) {
            out.pop();
        }
        self.out_ranges.extend(out);
    }
}

/// Marks a range both sides agree on. It is sent only to carry the next
/// range's lower bound, as the [`SKIP`] fingerprint; consecutive agreed
/// ranges merge into one, and trailing ones are dropped.
fn skip(out: &mut Vec<Range>, upper: Bound) {
    if is_skip(out.last()) {
        if let Some(last) = out.last_mut() {
            last.upper = upper;
        }
    } else {
        out.push(Range { upper, body: RangeBody::Fingerprint(SKIP) });
    }
}

/// The fingerprint that marks an agreed range (all ones: XOR fingerprints
/// of real item sets hit it with probability 2^-128).
pub const SKIP: Hash16 = [0xff; 16];

fn is_skip(r: Option<&Range>) -> bool {
    matches!(r, Some(Range { body: RangeBody::Fingerprint(fp), .. }) if *fp == SKIP)
}

#[cfg(test)]
mod tests;
