//! automerge-repo's own protocol, so the official clients (JavaScript in
//! browsers and React Native, Swift on iOS) sync records with a node
//! unmodified, over a WebSocket the HTTP API serves at `/automerge`.
//!
//! Owns: the messages (`message`), one connection's state machine
//! (`session`, sans I/O like the QUIC `sync::Session`) and what a client
//! may read of this node (`Records`). Must never: let a client's change into
//! the store without admission, or tell a client that a document it may
//! not read exists.
//!
//! A record's automerge URL is `automerge:` followed by its document ID:
//! a node's document IDs are already automerge-repo's (bs58check of 16
//! bytes).

pub mod index;
pub mod message;
mod session;

pub use session::{Docs, Session, Step, Written};

use automerge::Automerge;

use crate::clients::{Client, ClientRole};
use crate::engine::Engine;
use crate::id::DocumentId;
use crate::node::Reader;

pub use crate::id::automerge_url as url;

/// The peer ID this node answers `join` with.
pub(crate) fn peer_id(node: &Reader) -> String {
    format!("ayni-{}", node.id())
}

/// The node's documents as one client sees them: the records it may read
/// ([`Client::may_read`]: everything, unless it is a partner's `read`
/// client bound to its entity), as through the HTTP API. A document that
/// is not an Ayni record is never shared. The client's changes go to the
/// node's engine, which attests and judges them
/// ([`Node::ingest_from_client`]).
pub struct Records<'a> {
    node: &'a Reader,
    client: &'a Client,
    engine: &'a Engine,
    /// The client's index document ([`index`]), once asked for.
    index: Option<DocumentId>,
}

impl<'a> Records<'a> {
    /// `node`'s records as `client` sees them, the client's changes written
    /// by `engine` (the store's one writer; call from a thread that may
    /// block, beside the engine, not on it).
    pub(crate) fn new(node: &'a Reader, client: &'a Client, engine: &'a Engine) -> Records<'a> {
        Records { node, client, engine, index: None }
    }

    /// Whether `id` is the client's index document.
    fn is_index(&mut self, id: &DocumentId) -> crate::Result<bool> {
        let index = match self.index {
            Some(i) => i,
            None => *self.index.insert(self.node.index_id(&index::Scope::of(self.client))?),
        };
        Ok(*id == index)
    }

    /// The client's index, current: as read, or brought up to date by the
    /// engine (a write) when it is behind the feed.
    fn index(&self) -> crate::Result<Automerge> {
        let scope = index::Scope::of(self.client);
        if let Some(doc) = self.node.index_current(&scope)? {
            return Ok(doc);
        }
        self.engine.call_blocking(move |node| node.refresh_index(&scope))?
    }

    /// Whether the client may read the stored record `id` (read from its
    /// view, without loading the document).
    fn may_read(&self, id: &DocumentId) -> crate::Result<bool> {
        if self.client.reads_everything() {
            return Ok(true);
        }
        let Some(view) = self.node.store().view(id)? else { return Ok(false) };
        Ok(serde_json::from_slice::<crate::node::Record>(&view)
            .is_ok_and(|rec| self.node.readable_by(self.client, &rec)))
    }
}

impl Docs for Records<'_> {
    fn may_write(&self) -> bool {
        self.client.role != ClientRole::Read
    }

    fn write(&mut self, id: &DocumentId, doc: &Automerge) -> crate::Result<Written> {
        if self.is_index(id)? {
            return Ok(Err("the index is kept by the node and takes no changes".into()));
        }
        if !self.may_write() {
            return Ok(Err(format!("client '{}' may only read; its changes stay on the device", self.client.name)));
        }
        // a client that may not read a stored document learns nothing of it
        // by offering one under its ID
        if !self.may_read(id)? && self.node.store().contains(id)? {
            return Ok(Err("no such document here".into()));
        }
        let (client, id, doc) = (self.client.clone(), *id, doc.clone());
        let written = self
            .engine
            .call_blocking(move |node| node.ingest_from_client(&client, &id, &doc))
            .map_err(|e| crate::Error::Internal(e.to_string()))?;
        match written {
            Ok(w) => Ok(Ok(w)),
            Err(crate::Error::Forbidden(why)) => Ok(Err(why)),
            Err(e) => Err(e),
        }
    }

    fn readable(&mut self, id: &DocumentId) -> crate::Result<Option<Automerge>> {
        if self.is_index(id)? {
            return self.index().map(Some);
        }
        if !self.may_read(id)? {
            return Ok(None);
        }
        match self.node.store().load(id)? {
            Some(doc) if crate::record::envelope(&doc).is_some() => Ok(Some(doc)),
            _ => Ok(None),
        }
    }

    fn state_hash(&mut self, id: &DocumentId) -> crate::Result<Option<[u8; 16]>> {
        if self.is_index(id)? {
            let index = self.index()?;
            return Ok(Some(crate::sync::state_hash(id, &index.get_heads())));
        }
        if !self.may_read(id)? {
            return Ok(None);
        }
        self.node.store().state_hash(id)
    }
}
