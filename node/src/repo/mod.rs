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

pub mod message;
mod session;

pub use session::{Docs, Session, Step};

use automerge::Automerge;

use crate::id::DocumentId;
use crate::node::Node;

pub use crate::id::automerge_url as url;

/// The peer ID this node answers `join` with.
pub fn peer_id(node: &Node) -> String {
    format!("ayni-{}", node.id())
}

/// The node's documents as its clients see them: every record, whatever
/// the client's role, as through the HTTP API (field teams work offline on
/// everything; `read` tokens are HQ's panels). A document that is not an
/// Ayni record is never shared. (Narrower reading rights for partners'
/// `read` tokens, bound to their entity, come with client writes.)
pub struct Records<'a>(pub &'a Node);

impl Docs for Records<'_> {
    fn readable(&mut self, id: &DocumentId) -> crate::Result<Option<Automerge>> {
        match self.0.store().load(id)? {
            Some(doc) if crate::record::envelope(&doc).is_some() => Ok(Some(doc)),
            _ => Ok(None),
        }
    }

    fn state_hash(&mut self, id: &DocumentId) -> crate::Result<Option<[u8; 16]>> {
        // every stored document is a record: admission lets nothing else in
        self.0.store().state_hash(id)
    }
}
