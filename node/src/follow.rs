//! Following the change feed through a node's handle: the entries after a
//! position, then each write as it becomes durable (`ayni watch`, `GET
//! /api/v1/changes`, the control socket).
//!
//! Owns: waiting for the feed to move and reading what moved it. Must
//! never: write, or miss a write that lands between a read and the wait.

use crate::error::Result;
use crate::feed::Change;
use crate::handle::NodeHandle;

/// A follower of a serving node's feed (`ayni watch`, `GET
/// /api/v1/changes`): the entries after a position, then each write as it
/// becomes durable.
pub struct Follower {
    handle: NodeHandle,
    at: u64,
    kind: Option<String>,
    watch: tokio::sync::watch::Receiver<u64>,
}

impl Follower {
    /// Follows the feed after position `since`, of `kind` only if given
    /// (an unknown kind is an error now, not later).
    pub async fn new(handle: &NodeHandle, since: u64, kind: Option<String>) -> Result<Follower> {
        if let Some(k) = &kind {
            handle.kind(k)?;
        }
        Ok(Follower { handle: handle.clone(), at: since, kind, watch: handle.feed_watch() })
    }

    /// The next entries, waiting for a write when there are none; `None`
    /// when the node stops, or, with `once`, when it has nothing more now.
    pub async fn next(&mut self, once: bool) -> Result<Option<Vec<Change>>> {
        loop {
            // mark the current position seen before reading, so a write
            // that lands after the read wakes the wait below
            self.watch.borrow_and_update();
            let (at, kind) = (self.at, self.kind.clone());
            let (changes, resume) = self.handle.changes_since(at, kind, 256).await?;
            self.at = resume;
            if !changes.is_empty() {
                return Ok(Some(changes));
            }
            if resume == at && (once || self.watch.changed().await.is_err()) {
                return Ok(None);
            }
        }
    }
}
