//! One automerge-repo client connection, sans I/O: fed the client's frames
//! and told when documents change on the node, it says what to send back.
//!
//! Owns: the `join`/`peer` handshake, one automerge sync state per document
//! the client has open, `request` and `doc-unavailable`, and the changes of
//! this client that were refused. Must never: touch sockets, the clock or
//! the store (documents come through [`Docs`], which also decides what the
//! client may read and judges what it writes), or keep a refused change
//! anywhere but in this connection's memory.
//!
//! A client that may write syncs read-write: the changes a sync message
//! brings are handed to [`Docs::write`] (the node attests and judges them,
//! stores the admitted ones). Each refused one is answered with an `error`
//! naming the change and why, and stays in *this connection's view* of the
//! document (the stored document plus the client's refused changes), so
//! automerge's sync sees the client's heads and neither side asks for
//! them again; they are never stored or sent on, and a reconnect offers
//! them (and refuses them) once more. A `read` client syncs read-only: its
//! changes are not applied, and it is told so.
//!
//! A document the client made (`repo.create()`) arrives as a `sync` for a
//! document the node does not hold: a writing client's is synced from
//! nothing, so the client sends its changes, and they are judged like any
//! (the first creates the record: kind, key, envelope, the client's role);
//! a `request` for an unknown document is `doc-unavailable`, as before.

use std::collections::HashMap;

use automerge::sync::{self, SyncDoc};
use automerge::Automerge;

use super::message::{Message, PROTOCOL_VERSION};
use crate::id::DocumentId;

/// What became of a client's changes to one document.
pub type Written = std::result::Result<crate::ingest::ClientChanges, String>;

/// What the connection's documents come from.
pub trait Docs {
    /// Whether the connection's client may write at all (else its sync
    /// states are read-only).
    fn may_write(&self) -> bool;

    /// Takes the client's changes: `doc` is the readable document with
    /// the changes a sync message brought applied. `Ok(Err(why))` when the
    /// client may not write; `Err` is a failure of the node.
    fn write(&mut self, id: &DocumentId, doc: &Automerge) -> crate::Result<Written>;

    /// The document, when it exists and the connection's client may read
    /// it; `None` for both an unknown and a denied document (the client
    /// cannot tell them apart).
    fn readable(&mut self, id: &DocumentId) -> crate::Result<Option<Automerge>>;

    /// The document's state hash (`sync::state_hash` of its heads) when the
    /// client may read it, without loading it.
    fn state_hash(&mut self, id: &DocumentId) -> crate::Result<Option<[u8; 16]>>;
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send this message to the client.
    Send(Message),
    /// Close the connection (after what was sent before).
    Close,
}

/// Documents kept loaded per connection between its messages (a first
/// sync is several messages per document); bounded, so a connection's
/// memory does not grow with the documents it touches.
const CACHED: usize = 32;

/// Refused (and held) changes kept in one connection's view before it is
/// closed (a client that insists on refused changes does not grow the
/// node's memory).
const REFUSED_BYTES: usize = 8 * 1024 * 1024;

/// Documents a client may be creating at once on one connection (offered,
/// not yet records); another new one is `doc-unavailable` until some are.
const CREATING: usize = 64;

/// One client connection.
pub struct Session {
    us: String,
    storage_id: String,
    them: Option<String>,
    states: HashMap<DocumentId, sync::State>,
    /// Recently used documents as this connection sees them (the stored
    /// document plus `refused`; the node's writes evict them through
    /// [`Session::changed`]), oldest first.
    cache: Vec<(DocumentId, Automerge)>,
    /// This client's refused changes, per document (see the module).
    refused: HashMap<DocumentId, Vec<automerge::Change>>,
    refused_bytes: usize,
    /// Documents the client offered that the node did not hold: made by
    /// the client, synced from nothing (see [`Session::sync`]).
    created: std::collections::HashSet<DocumentId>,
    /// Changes of such a document that make no record yet (held, unjudged).
    held: HashMap<DocumentId, Vec<automerge::Change>>,
    held_bytes: usize,
}

impl Session {
    /// A connection to this node, whose peer ID and storage ID are given.
    pub fn new(us: impl Into<String>, storage_id: impl Into<String>) -> Session {
        Session {
            us: us.into(),
            storage_id: storage_id.into(),
            them: None,
            states: HashMap::new(),
            cache: vec![],
            refused: HashMap::new(),
            refused_bytes: 0,
            created: Default::default(),
            held: HashMap::new(),
            held_bytes: 0,
        }
    }

    /// The documents the client has open (synced at least once).
    pub fn open_documents(&self) -> Vec<DocumentId> {
        self.states.keys().copied().collect()
    }

    fn to_them(&self) -> String {
        self.them.clone().unwrap_or_default()
    }

    fn error(&self, message: impl Into<String>) -> Step {
        Step::Send(Message::Error { sender: self.us.clone(), target: self.to_them(), message: message.into() })
    }

    /// Feeds one frame from the client. `Err` is a failure of the node
    /// (the store), not of the client: the driver closes the connection.
    pub fn receive(&mut self, frame: &[u8], docs: &mut dyn Docs) -> crate::Result<Vec<Step>> {
        let msg = match Message::decode(frame) {
            Ok(m) => m,
            Err(e) => return Ok(vec![self.error(format!("a malformed message: {e}")), Step::Close]),
        };
        if self.them.is_none() && !matches!(msg, Message::Join { .. }) {
            return Ok(vec![self.error("the first message must be 'join'"), Step::Close]);
        }
        match msg {
            Message::Join { sender, versions, .. } => {
                self.them = Some(sender.clone());
                if !versions.iter().any(|v| v == PROTOCOL_VERSION) {
                    let why = format!("unsupported protocol version (this node speaks {PROTOCOL_VERSION})");
                    return Ok(vec![self.error(why), Step::Close]);
                }
                Ok(vec![Step::Send(Message::Peer {
                    sender: self.us.clone(),
                    target: sender,
                    storage_id: self.storage_id.clone(),
                    version: PROTOCOL_VERSION.to_string(),
                })])
            }
            Message::Sync { doc, data, .. } => self.sync(doc, &data, true, docs),
            Message::Request { doc, data, .. } => self.sync(doc, &data, false, docs),
            // ephemeral messages (presence, cursors) are dropped: this node
            // keeps no session state for them and relays none
            Message::Ephemeral { .. } => Ok(vec![]),
            Message::Peer { .. } | Message::Error { .. } | Message::DocUnavailable { .. } | Message::Other { .. } => {
                Ok(vec![])
            }
        }
    }

    fn unavailable(&self, doc: DocumentId) -> Step {
        Step::Send(Message::DocUnavailable { sender: self.us.clone(), target: self.to_them(), doc })
    }

    /// One sync message for `id`: a `sync` (`has`: the client holds the
    /// document) or a `request` (it asks for one it lacks).
    fn sync(&mut self, id: DocumentId, data: &[u8], has: bool, docs: &mut dyn Docs) -> crate::Result<Vec<Step>> {
        let msg = match sync::Message::decode(data) {
            Ok(m) => m,
            Err(e) => return Ok(vec![self.error(format!("document {id}: a malformed sync message: {e}"))]),
        };
        if let Err(e) = crate::inflate::sync_message(data, crate::inflate::MAX_INFLATED) {
            return Ok(vec![self.error(format!("document {id}: a sync message refused: {e}"))]);
        }
        if msg.have.iter().any(|h| !crate::sync::wire::bloom_is_sound(&h.bloom.to_bytes())) {
            return Ok(vec![self.error(format!("document {id}: a sync message with an unsound bloom filter"))]);
        }
        let offered_changes = !msg.changes.is_empty();
        // a client reconnecting with documents it holds up to date costs no
        // document load: its heads match the store's state hash. The
        // document is open all the same (a later change is pushed; the
        // first push then finds out what the client has).
        if !self.states.contains_key(&id) && !offered_changes {
            if let Some(ours) = docs.state_hash(&id)? {
                if crate::sync::state_hash(&id, &msg.heads) == ours {
                    self.states.insert(id, Self::new_state(docs));
                    return Ok(vec![]);
                }
            }
        }
        let mut doc = match self.load(&id, docs)? {
            Some(doc) => doc,
            // a document the client holds and the node does not: one it
            // made (`repo.create()`). The node syncs it from nothing, so the
            // client sends its changes, which are judged as a creation
            None if has && docs.may_write() && (self.created.contains(&id) || self.created.len() < CREATING) => {
                self.created.insert(id);
                self.view(&id, Automerge::new())
            }
            None => {
                self.states.remove(&id);
                return Ok(vec![self.unavailable(id)]);
            }
        };
        let state = self.states.entry(id).or_insert_with(|| Self::new_state(docs));
        let mut out = vec![];
        let before = doc.get_heads();
        if let Err(e) = doc.receive_sync_message(state, msg) {
            out.push(self.error(format!("document {id}: {e}")));
            return Ok(out);
        }
        if doc.get_heads() != before {
            // what this message brought; a change that builds on one refused
            // earlier on this connection is refused with it, unjudged
            let mut refused: std::collections::HashSet<automerge::ChangeHash> =
                self.refused.get(&id).map(|v| v.iter().map(|c| c.hash()).collect()).unwrap_or_default();
            let mut fresh = vec![];
            for c in doc.get_changes(&before) {
                if c.deps().iter().any(|d| refused.contains(d)) {
                    refused.insert(c.hash());
                    out.push(
                        self.error(format!(
                            "document {id}: change {} refused: it builds on a refused change",
                            c.hash()
                        )),
                    );
                    self.remember_refused(id, c);
                } else {
                    fresh.push(c);
                }
            }
            // the stored document with the fresh changes is what the node judges
            let mut creating = false;
            let judged = match (fresh.is_empty(), docs.readable(&id)?) {
                (false, Some(mut stored)) => {
                    let _ = stored.apply_changes(fresh.iter().cloned());
                    Some(docs.write(&id, &stored)?)
                }
                (false, None) if self.created.contains(&id) => {
                    // a client's new document: judged whole (with what was
                    // held) once its changes make a record
                    creating = true;
                    let held = self.held.remove(&id).unwrap_or_default();
                    self.held_bytes -= held.iter().map(|c| c.raw_bytes().len()).sum::<usize>();
                    fresh.splice(0..0, held);
                    let mut new = Automerge::new();
                    let _ = new.apply_changes(fresh.iter().cloned());
                    if crate::record::envelope(&new).is_some() {
                        Some(docs.write(&id, &new)?)
                    } else {
                        // `repo.create()`'s empty change, before the one
                        // that writes the record: held in this connection's
                        // view, unjudged, until that one arrives
                        for c in std::mem::take(&mut fresh) {
                            self.held_bytes += c.raw_bytes().len();
                            self.held.entry(id).or_default().push(c);
                        }
                        None
                    }
                }
                _ => None,
            };
            match judged {
                None => {}
                Some(Err(why)) => {
                    out.push(self.error(format!("document {id}: {why}")));
                    for c in fresh {
                        self.remember_refused(id, c);
                    }
                }
                Some(Ok(written)) => {
                    for r in &written.refused {
                        out.push(self.error(format!("document {id}: change {} refused: {}", r.change, r.reason)));
                        if let Some(c) = fresh.iter().find(|c| c.hash().to_string() == r.change) {
                            self.remember_refused(id, c.clone());
                        }
                    }
                    // a refused creation stores nothing: the changes that
                    // went with it (its empty first change) stay with it;
                    // a stored one is a record like any other from now on
                    if creating && written.admitted == 0 {
                        let named: Vec<String> = written.refused.iter().map(|r| r.change.clone()).collect();
                        for c in fresh.into_iter().filter(|c| !named.contains(&c.hash().to_string())) {
                            self.remember_refused(id, c);
                        }
                    } else if creating {
                        self.created.remove(&id);
                    }
                }
            }
            if self.refused_bytes + self.held_bytes > REFUSED_BYTES {
                out.push(self.error("too many refused changes on this connection"));
                out.push(Step::Close);
                return Ok(out);
            }
        } else if offered_changes && !docs.may_write() {
            out.push(self.error(format!("document {id}: this client may only read; its changes stay on the device")));
        }
        out.extend(self.reply(id, &doc, true));
        self.keep(id, doc);
        Ok(out)
    }

    /// Keeps a refused change in this connection's view of `id` (see the
    /// module).
    fn remember_refused(&mut self, id: DocumentId, change: automerge::Change) {
        self.refused_bytes += change.raw_bytes().len();
        self.refused.entry(id).or_default().push(change);
    }

    fn new_state(docs: &dyn Docs) -> sync::State {
        if docs.may_write() {
            sync::State::new()
        } else {
            sync::State::new_read_only()
        }
    }

    /// The stored document `id` as this connection sees it: with the
    /// client's refused changes (see the module).
    fn view(&self, id: &DocumentId, mut doc: Automerge) -> Automerge {
        for changes in [self.refused.get(id), self.held.get(id)].into_iter().flatten() {
            // they applied once on top of an older copy, so they apply here
            let _ = doc.apply_changes(changes.iter().cloned());
        }
        doc
    }

    /// The document, from the cache or the store.
    fn load(&mut self, id: &DocumentId, docs: &mut dyn Docs) -> crate::Result<Option<Automerge>> {
        match self.cache.iter().position(|(c, _)| c == id) {
            Some(i) => Ok(Some(self.cache.remove(i).1)),
            None => Ok(match docs.readable(id)? {
                Some(d) => {
                    // stored meanwhile (through another connection): a record
                    self.created.remove(id);
                    Some(self.view(id, d))
                }
                // one the client made, refused or not yet admitted
                None if self.created.contains(id) => Some(self.view(id, Automerge::new())),
                None => None,
            }),
        }
    }

    fn keep(&mut self, id: DocumentId, doc: Automerge) {
        if self.cache.len() >= CACHED {
            self.cache.remove(0);
        }
        self.cache.push((id, doc));
    }

    /// What to send the client about `id`: what it lacks, or when
    /// `answer`ing one of its messages, at least our heads.
    fn reply(&mut self, id: DocumentId, doc: &Automerge, answer: bool) -> Option<Step> {
        let state = self.states.get_mut(&id)?;
        let m = match doc.generate_sync_message(state) {
            Some(m) => m,
            // once both sides hold the same heads, an answer to the client's
            // message all the same: the official client's first sync of
            // many documents runs twice as long when its last message goes
            // unanswered (BENCHMARKS.md). In sync, the client does not
            // answer an answer that brings nothing; heads that differ for
            // good (a read-only client's own changes) get none, else the
            // two would answer each other forever
            None if answer && state.their_heads.as_ref() == Some(&doc.get_heads()) => {
                state.have_responded = false;
                doc.generate_sync_message(state)?
            }
            None => return None,
        };
        Some(Step::Send(Message::Sync { sender: self.us.clone(), target: self.to_them(), doc: id, data: m.encode() }))
    }

    /// Documents `ids` changed on the node: sync messages for those the
    /// client has open. A document it may no longer read is closed.
    pub fn changed(&mut self, ids: &[DocumentId], docs: &mut dyn Docs) -> crate::Result<Vec<Step>> {
        let mut out = vec![];
        self.cache.retain(|(c, _)| !ids.contains(c));
        let open: Vec<DocumentId> = ids.iter().filter(|id| self.states.contains_key(id)).copied().collect();
        for id in &open {
            match docs.readable(id)?.map(|d| self.view(id, d)) {
                Some(doc) => {
                    out.extend(self.reply(*id, &doc, false));
                    self.keep(*id, doc);
                }
                None => {
                    self.states.remove(id);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{ReadDoc, ROOT};

    /// Documents in memory, counting how many times one is loaded.
    struct Fixed(HashMap<DocumentId, Automerge>, usize);

    impl Docs for Fixed {
        fn may_write(&self) -> bool {
            false
        }

        fn write(&mut self, _: &DocumentId, _: &Automerge) -> crate::Result<Written> {
            Ok(Err("read only".into()))
        }

        fn readable(&mut self, id: &DocumentId) -> crate::Result<Option<Automerge>> {
            self.1 += 1;
            Ok(self.0.get(id).cloned())
        }

        fn state_hash(&mut self, id: &DocumentId) -> crate::Result<Option<[u8; 16]>> {
            Ok(self.0.get(id).map(|d| crate::sync::state_hash(id, &d.get_heads())))
        }
    }

    fn join(versions: &[&str]) -> Vec<u8> {
        Message::Join {
            sender: "client".into(),
            storage_id: None,
            ephemeral: true,
            versions: versions.iter().map(|v| v.to_string()).collect(),
        }
        .encode()
    }

    fn sent(steps: &[Step]) -> Vec<&Message> {
        steps.iter().filter_map(|s| if let Step::Send(m) = s { Some(m) } else { None }).collect()
    }

    /// A document with a title, and its ID.
    fn one_document() -> (DocumentId, Automerge) {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        tx.put(ROOT, "title", "EDAN Sama").unwrap();
        tx.commit();
        (DocumentId::random().unwrap(), doc)
    }

    /// Syncs `client` with the session until neither side has more to say:
    /// the errors the node sent.
    fn sync_until_quiet(
        s: &mut Session,
        docs: &mut dyn Docs,
        id: DocumentId,
        client: &mut Automerge,
        state: &mut sync::State,
    ) -> Vec<String> {
        messages_until_quiet(s, docs, id, client, state).1
    }

    #[test]
    fn a_client_joins_reads_a_document_and_follows_its_changes_but_cannot_change_it() {
        let (id, mut doc) = one_document();
        let mut docs = Fixed(HashMap::from([(id, doc.clone())]), 0);
        let mut s = Session::new("node", "storage-1");

        let steps = s.receive(&join(&["1"]), &mut docs).unwrap();
        assert!(
            matches!(sent(&steps)[..], [Message::Peer { target, version, .. }] if target == "client" && version == "1")
        );

        // a client with nothing asks, and gets the document
        let (mut client, mut state) = (Automerge::new(), sync::State::new());
        assert!(sync_until_quiet(&mut s, &mut docs, id, &mut client, &mut state).is_empty());
        assert_eq!(client.get_heads(), doc.get_heads());

        // the node's change reaches the client that has it open
        let mut tx = doc.transaction();
        tx.put(ROOT, "title", "EDAN Sama (validada)").unwrap();
        tx.commit();
        docs.0.insert(id, doc.clone());
        let steps = s.changed(&[id, DocumentId::random().unwrap()], &mut docs).unwrap();
        let [Message::Sync { data, .. }] = sent(&steps)[..] else { panic!("{steps:?}") };
        client.receive_sync_message(&mut state, sync::Message::decode(data).unwrap()).unwrap();
        assert!(sync_until_quiet(&mut s, &mut docs, id, &mut client, &mut state).is_empty());
        assert_eq!(client.get_heads(), doc.get_heads());

        // the client's own change: our read-only flag keeps a current client
        // from even sending it; one that ignores the flag is told why, and
        // nothing is applied either way
        let mut tx = client.transaction();
        tx.put(ROOT, "title", "cambiado").unwrap();
        tx.commit();
        assert!(state.is_peer_read_only());
        assert!(sync_until_quiet(&mut s, &mut docs, id, &mut client, &mut state).is_empty());
        state.peer_read_only = false;
        state.in_flight = false;
        let errors = sync_until_quiet(&mut s, &mut docs, id, &mut client, &mut state);
        assert!(errors.iter().any(|e| e.contains("may only read")), "{errors:?}");
        assert_eq!(docs.0[&id].get_heads(), doc.get_heads());
    }

    /// A writable store that admits every change except one setting the
    /// key `forbidden`, and what depends on it.
    struct Judging(Fixed);

    impl Docs for Judging {
        fn may_write(&self) -> bool {
            true
        }

        fn write(&mut self, id: &DocumentId, doc: &Automerge) -> crate::Result<Written> {
            let stored = self.0 .0.get(id).cloned().unwrap_or_default();
            let mut kept = stored.clone();
            let mut out = crate::ingest::ClientChanges::default();
            for c in doc.get_changes(&stored.get_heads()) {
                let mut trial = kept.clone();
                trial.apply_changes([c.clone()]).unwrap();
                let bad = trial.get(ROOT, "forbidden").unwrap().is_some()
                    || c.deps().iter().any(|d| out.refused.iter().any(|r| r.change == d.to_string()));
                if bad {
                    out.refused.push(crate::admission::Refusal {
                        at: String::new(),
                        from: "client".into(),
                        doc: id.to_string(),
                        change: c.hash().to_string(),
                        author: "client".into(),
                        reason: "role: not that".into(),
                    });
                } else {
                    kept = trial;
                    out.admitted += 1;
                }
            }
            // as admission: changes that make no record store nothing
            if stored.get_heads().is_empty() && kept.get(ROOT, "kind").unwrap().is_none() {
                out.admitted = 0;
                return Ok(Ok(out));
            }
            self.0 .0.insert(*id, kept);
            Ok(Ok(out))
        }

        fn readable(&mut self, id: &DocumentId) -> crate::Result<Option<Automerge>> {
            self.0.readable(id)
        }

        fn state_hash(&mut self, id: &DocumentId) -> crate::Result<Option<[u8; 16]>> {
            self.0.state_hash(id)
        }
    }

    /// Syncs like [`sync_until_quiet`], counting the client's messages.
    fn messages_until_quiet(
        s: &mut Session,
        docs: &mut dyn Docs,
        id: DocumentId,
        client: &mut Automerge,
        state: &mut sync::State,
    ) -> (usize, Vec<String>) {
        let (mut sent_by_client, mut errors) = (0, vec![]);
        for _ in 0..20 {
            let Some(m) = client.generate_sync_message(state) else { return (sent_by_client, errors) };
            sent_by_client += 1;
            let frame = Message::Sync { sender: "client".into(), target: "node".into(), doc: id, data: m.encode() };
            for step in s.receive(&frame.encode(), docs).unwrap() {
                match step {
                    Step::Send(Message::Sync { data, .. }) => {
                        client.receive_sync_message(state, sync::Message::decode(&data).unwrap()).unwrap()
                    }
                    Step::Send(Message::Error { message, .. }) => errors.push(message),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        panic!("the client and the node never went quiet: {errors:?}");
    }

    #[test]
    fn a_writing_clients_changes_are_judged_a_refused_one_stays_in_its_connection_and_nobody_asks_again() {
        let (id, doc) = one_document();
        let mut docs = Judging(Fixed(HashMap::from([(id, doc.clone())]), 0));
        let mut s = Session::new("node", "storage-1");
        s.receive(&join(&["1"]), &mut docs).unwrap();
        let (mut client, mut state) = (Automerge::new(), sync::State::new());
        messages_until_quiet(&mut s, &mut docs, id, &mut client, &mut state);

        // an allowed change is stored
        let mut tx = client.transaction();
        tx.put(ROOT, "dead", 2).unwrap();
        tx.commit();
        let (_, errors) = messages_until_quiet(&mut s, &mut docs, id, &mut client, &mut state);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(docs.0 .0[&id].get_heads(), client.get_heads());

        // a refused one is named, not stored, and not asked for again: the
        // exchange goes quiet with the client's heads ahead of the store's
        let mut tx = client.transaction();
        tx.put(ROOT, "forbidden", 1).unwrap();
        tx.commit();
        let (count, errors) = messages_until_quiet(&mut s, &mut docs, id, &mut client, &mut state);
        assert!(count <= 3, "{count} messages");
        assert!(errors.len() == 1 && errors[0].contains("refused: role: not that"), "{errors:?}");
        assert!(docs.0 .0[&id].get(ROOT, "forbidden").unwrap().is_none());
        assert_ne!(docs.0 .0[&id].get_heads(), client.get_heads());

        // the node's later change still reaches the client, and the view
        // of this connection keeps the refused change out of the reply
        let mut stored = docs.0 .0[&id].clone();
        let mut tx = stored.transaction();
        tx.put(ROOT, "title", "EDAN Sama (revisada)").unwrap();
        tx.commit();
        docs.0 .0.insert(id, stored.clone());
        for step in s.changed(&[id], &mut docs).unwrap() {
            if let Step::Send(Message::Sync { data, .. }) = step {
                client.receive_sync_message(&mut state, sync::Message::decode(&data).unwrap()).unwrap();
            }
        }
        let (_, errors) = messages_until_quiet(&mut s, &mut docs, id, &mut client, &mut state);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(client.get_heads().contains(&stored.get_heads()[0]));
        assert!(docs.0 .0[&id].get(ROOT, "forbidden").unwrap().is_none());
    }

    #[test]
    fn a_clients_new_document_is_judged_once_its_changes_make_a_record_and_a_refused_one_stays_with_it() {
        let mut docs = Judging(Fixed(HashMap::new(), 0));
        let mut s = Session::new("node", "storage-1");
        s.receive(&join(&["1"]), &mut docs).unwrap();

        // `repo.create()`: an empty change first, synced on its own; held
        let (id, mut client, mut state) = (DocumentId::random().unwrap(), Automerge::new(), sync::State::new());
        client.empty_commit(Default::default());
        let (_, errors) = messages_until_quiet(&mut s, &mut docs, id, &mut client, &mut state);
        assert!(errors.is_empty() && !docs.0 .0.contains_key(&id), "{errors:?}");
        // then the change that writes the record: both judged, both stored
        let mut tx = client.transaction();
        tx.put(ROOT, "kind", "edan").unwrap();
        tx.put(ROOT, "key", "edan-nueva").unwrap();
        tx.commit();
        let (_, errors) = messages_until_quiet(&mut s, &mut docs, id, &mut client, &mut state);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(docs.0 .0[&id].get_heads(), client.get_heads());

        // a refused creation: named, stored nowhere, and not asked for again
        let (other, mut client, mut state) = (DocumentId::random().unwrap(), Automerge::new(), sync::State::new());
        client.empty_commit(Default::default());
        let mut tx = client.transaction();
        tx.put(ROOT, "kind", "practice").unwrap();
        tx.put(ROOT, "key", "p-1").unwrap();
        tx.put(ROOT, "forbidden", 1).unwrap();
        tx.commit();
        let (count, errors) = messages_until_quiet(&mut s, &mut docs, other, &mut client, &mut state);
        assert!(errors.len() == 1 && errors[0].contains("refused: role: not that"), "{errors:?}");
        assert!(count <= 4, "{count} messages");
        assert!(docs.0 .0.get(&other).is_none_or(|d| d.get_heads().is_empty()), "nothing stored");

        // a connection creates at most CREATING documents at once: then a
        // new one is unavailable (its memory is bounded)
        let mut s = Session::new("node", "storage-1");
        s.receive(&join(&["1"]), &mut docs).unwrap();
        let unavailable = (0..CREATING + 5)
            .filter(|_| {
                let m = Automerge::new().generate_sync_message(&mut sync::State::new()).unwrap();
                let id = DocumentId::random().unwrap();
                let frame = Message::Sync { sender: "c".into(), target: "n".into(), doc: id, data: m.encode() };
                matches!(sent(&s.receive(&frame.encode(), &mut docs).unwrap())[..], [Message::DocUnavailable { .. }])
            })
            .count();
        assert_eq!(unavailable, 5);

        // a read-only client's `sync` of an unknown document, and anyone's
        // `request` for one, are unavailable
        let mut read = Fixed(HashMap::new(), 0);
        let mut s = Session::new("node", "storage-1");
        s.receive(&join(&["1"]), &mut read).unwrap();
        let m = client.generate_sync_message(&mut sync::State::new()).unwrap();
        let frame = Message::Sync { sender: "c".into(), target: "n".into(), doc: other, data: m.encode() };
        let steps = s.receive(&frame.encode(), &mut read).unwrap();
        assert!(matches!(sent(&steps)[..], [Message::DocUnavailable { .. }]), "{steps:?}");
    }

    #[test]
    fn a_clients_last_message_of_a_first_sync_is_answered_and_the_exchange_ends_there() {
        let (id, doc) = one_document();
        let mut docs = Fixed(HashMap::from([(id, doc.clone())]), 0);
        let mut s = Session::new("node", "storage-1");
        s.receive(&join(&["1"]), &mut docs).unwrap();
        let (mut client, mut state) = (Automerge::new(), sync::State::new());
        let mut answers = 0;
        for _ in 0..3 {
            let Some(m) = client.generate_sync_message(&mut state) else { break };
            let frame = Message::Sync { sender: "client".into(), target: "node".into(), doc: id, data: m.encode() };
            for step in s.receive(&frame.encode(), &mut docs).unwrap() {
                let Step::Send(Message::Sync { data, .. }) = step else { panic!("{step:?}") };
                answers += 1;
                client.receive_sync_message(&mut state, sync::Message::decode(&data).unwrap()).unwrap();
            }
        }
        assert_eq!(client.get_heads(), doc.get_heads());
        assert_eq!(answers, 2, "the document, then an answer to the client's acknowledgement");
        assert!(client.generate_sync_message(&mut state).is_none(), "which the client does not answer");
    }

    #[test]
    fn an_up_to_date_client_reconnecting_costs_no_document_load_and_still_follows() {
        let ids: Vec<DocumentId> = (0..100).map(|_| DocumentId::random().unwrap()).collect();
        let mut docs = Fixed(HashMap::new(), 0);
        let mut clients = vec![];
        for (i, id) in ids.iter().enumerate() {
            let mut doc = Automerge::new();
            let mut tx = doc.transaction();
            tx.put(ROOT, "n", i as i64).unwrap();
            tx.commit();
            docs.0.insert(*id, doc.clone());
            clients.push(doc);
        }
        // the client reconnects holding all of them, as they are on the node
        let mut s = Session::new("node", "storage-1");
        s.receive(&join(&["1"]), &mut docs).unwrap();
        let mut states: Vec<sync::State> = ids.iter().map(|_| sync::State::new()).collect();
        for ((id, client), state) in ids.iter().zip(&clients).zip(&mut states) {
            let m = client.generate_sync_message(state).unwrap();
            let frame = Message::Sync { sender: "c".into(), target: "n".into(), doc: *id, data: m.encode() };
            assert!(s.receive(&frame.encode(), &mut docs).unwrap().is_empty());
        }
        assert_eq!(docs.1, 0, "no document was loaded");
        assert_eq!(s.open_documents().len(), 100);
        // one changes on the node: the client that holds it catches up
        let mut doc = docs.0[&ids[7]].clone();
        let mut tx = doc.transaction();
        tx.put(ROOT, "n", 700).unwrap();
        tx.commit();
        docs.0.insert(ids[7], doc.clone());
        let steps = s.changed(&ids[7..8], &mut docs).unwrap();
        let [Message::Sync { data, .. }] = sent(&steps)[..] else { panic!("{steps:?}") };
        clients[7].receive_sync_message(&mut states[7], sync::Message::decode(data).unwrap()).unwrap();
        assert!(sync_until_quiet(&mut s, &mut docs, ids[7], &mut clients[7], &mut states[7]).is_empty());
        assert_eq!(clients[7].get_heads(), doc.get_heads());
    }

    #[test]
    fn unknown_documents_bad_versions_and_bad_frames_are_answered_not_panicked_on() {
        let mut docs = Fixed(HashMap::new(), 0);
        let mut s = Session::new("node", "storage-1");
        let steps = s.receive(&join(&["2"]), &mut docs).unwrap();
        assert!(
            matches!(sent(&steps)[..], [Message::Error { message, .. }] if message.contains("unsupported protocol"))
        );
        assert_eq!(steps.last(), Some(&Step::Close));

        let mut s = Session::new("node", "storage-1");
        let early = Message::Request {
            sender: "c".into(),
            target: "n".into(),
            doc: DocumentId::random().unwrap(),
            data: vec![0x42],
        };
        assert_eq!(s.receive(&early.encode(), &mut docs).unwrap().last(), Some(&Step::Close), "join first");

        let mut s = Session::new("node", "storage-1");
        s.receive(&join(&["1"]), &mut docs).unwrap();
        let id = DocumentId::random().unwrap();
        let empty = Automerge::new().generate_sync_message(&mut sync::State::new()).unwrap();
        let request = Message::Request { sender: "c".into(), target: "n".into(), doc: id, data: empty.encode() };
        let steps = s.receive(&request.encode(), &mut docs).unwrap();
        assert!(matches!(sent(&steps)[..], [Message::DocUnavailable { doc, .. }] if *doc == id));
        let junk = Message::Sync { sender: "c".into(), target: "n".into(), doc: id, data: vec![1, 2, 3] };
        let steps = s.receive(&junk.encode(), &mut docs).unwrap();
        assert!(matches!(sent(&steps)[..], [Message::Error { message, .. }] if message.contains("malformed sync")));
        assert!(s.receive(b"\x00\x01", &mut docs).unwrap().contains(&Step::Close));
    }
}
