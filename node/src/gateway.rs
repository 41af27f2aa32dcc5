//! One automerge-repo client's connection as the node drives it: the
//! [`Session`] state machine, fed frames and feed positions, its work done
//! beside the engine (a client's changes go to the engine, which attests,
//! judges and stores them).
//!
//! Owns: which documents a connection is told of when the node writes,
//! and the client it serves (renewed by the front end as it re-checks the
//! token). Must never: touch a socket or a timer (the front end's), or
//! read a document for a client that may not read it.

use crate::clients::Client;
use crate::error::Result;
use crate::handle::NodeHandle;
use crate::id::DocumentId;
use crate::repo::{index::Scope, Records, Session, Step};

/// One client's connection (see the module).
pub struct Gateway {
    handle: NodeHandle,
    client: Client,
    session: Option<Session>,
    /// The client's index document: pushed whenever a record changes.
    index: DocumentId,
    /// The feed position this connection was told of.
    at: u64,
}

impl NodeHandle {
    /// A connection for `client`, told of every write from now on.
    pub async fn repo_gateway(&self, client: Client) -> Result<Gateway> {
        let scope = Scope::of(&client);
        let index = self.read(move |n| n.index_id(&scope)).await?;
        let node = self.node();
        let session = Session::new(crate::repo::peer_id(node), node.id().to_string());
        let at = *self.feed_watch().borrow();
        Ok(Gateway { handle: self.clone(), client, session: Some(session), index, at })
    }
}

impl Gateway {
    /// The client as it is now (after the front end checked its token again).
    pub fn renew(&mut self, client: Client) {
        self.client = client;
    }

    /// Feeds the frames that arrived together; the steps to take.
    pub async fn receive(&mut self, frames: Vec<Vec<u8>>) -> Result<Vec<Step>> {
        self.step(move |s, docs| {
            let mut out = vec![];
            for f in &frames {
                out.extend(s.receive(f, docs)?);
                if out.last() == Some(&Step::Close) {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }

    /// The node wrote: the documents written since the last call (and the
    /// index) are offered to the client as its session sees fit.
    pub async fn changed(&mut self) -> Result<Vec<Step>> {
        let after = self.at;
        let written = self.handle.read(move |n| n.store().feed_since(after, usize::MAX)).await?;
        if let Some((last, _)) = written.last() {
            self.at = *last;
        }
        let mut ids: Vec<DocumentId> = written.into_iter().map(|(_, id)| id).collect();
        ids.push(self.index);
        self.step(move |s, docs| s.changed(&ids, docs)).await
    }

    /// Runs one step of the session beside the engine.
    async fn step<F>(&mut self, f: F) -> Result<Vec<Step>>
    where
        F: FnOnce(&mut Session, &mut Records<'_>) -> Result<Vec<Step>> + Send + 'static,
    {
        let Some(mut session) = self.session.take() else {
            return Err(crate::Error::Internal("this connection failed before".into()));
        };
        let (client, engine) = (self.client.clone(), self.handle.engine().clone());
        let (session, steps) = self
            .handle
            .read(move |node| {
                let steps = f(&mut session, &mut Records::new(node, &client, &engine));
                Ok((session, steps))
            })
            .await?;
        self.session = Some(session);
        steps
    }
}
