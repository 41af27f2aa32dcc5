//! Trust in changes: every change a node authors is signed with its key
//! (over the change hash), and a change from elsewhere is admitted only if
//! its signature verifies against its author's key — the change's actor ID
//! *is* that key — and the author is an enrolled member. Refusals are kept
//! for `ayni audit`.
//!
//! Owns: signing, verification, admission of incoming changes, the audit
//! log. Must never: admit a change whose dependencies were refused, or
//! drop the rest of a document because one change was refused.

use crate::store::Table;
use std::collections::HashMap;

use automerge::{Automerge, ChangeHash};
use serde::{Deserialize, Serialize};

use crate::admission::Admitted;
use crate::error::Result;
use crate::id::DocumentId;
use crate::node::Node;

/// A change hash and its author's signature.
pub type Signed = ([u8; 32], [u8; 64]);

/// A change that was not admitted, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Refusal {
    /// When it was refused (RFC 3339).
    pub at: String,
    /// Where it came from (peer node ID, or `bundle from …`).
    pub from: String,
    /// The document.
    pub doc: String,
    /// The change hash (hex).
    pub change: String,
    /// The author its actor ID names (node ID, or the raw actor in hex).
    pub author: String,
    /// Why.
    pub reason: String,
}

impl Node {
    /// Signs this node's own changes in `doc` made since `since`.
    pub(crate) fn sign_own(&self, doc: &Automerge, since: &[ChangeHash]) -> Vec<Signed> {
        let me = self.secret().public().actor_id();
        doc.get_changes(since)
            .iter()
            .filter(|c| *c.actor_id() == me)
            .map(|c| (c.hash().0, self.secret().sign(&c.hash().0)))
            .collect()
    }

    /// Signs the change this node just committed (its hash, as automerge's
    /// commit returns it; none for an empty transaction). Cheaper than
    /// [`Node::sign_own`], which has automerge encode the changes to find
    /// them.
    pub(crate) fn sign_committed(&self, committed: Option<ChangeHash>) -> Vec<Signed> {
        committed.map(|h| (h.0, self.secret().sign(&h.0))).into_iter().collect()
    }

    /// Stored signatures of the given changes (those that have one).
    pub(crate) fn signatures_of(&self, hashes: &[ChangeHash]) -> Result<Vec<Signed>> {
        let mut out = Vec::with_capacity(hashes.len());
        for h in hashes {
            if let Some(sig) = self.store().signature(&h.0)? {
                out.push((h.0, sig));
            }
        }
        Ok(out)
    }

    /// Judges `incoming`'s changes that `stored` lacks under this node's
    /// policy now ([`crate::admission::admit`]), then records what follows
    /// from the decision: edits to frozen figures become amendment
    /// proposals (this node's own signed change in the document), refusals
    /// go to the audit log.
    pub(crate) fn admit(
        &self,
        id: &DocumentId,
        stored: Option<&Automerge>,
        incoming: &Automerge,
        sigs: &HashMap<[u8; 32], [u8; 64]>,
        from: &str,
    ) -> Result<Admitted> {
        let policy = self.policy()?;
        let known = |hash: &[u8; 32]| match sigs.get(hash) {
            Some(s) => Ok(Some(*s)),
            None => self.store().signature(hash),
        };
        let now = crate::node::now_rfc3339();
        let mut decided = crate::admission::admit(&policy, id, stored, incoming, &known, from, &now)?;
        if let (false, Some(d)) = (decided.proposals.is_empty(), decided.doc.as_mut()) {
            decided.sigs.extend(self.record_amendments(d, &decided.proposals)?);
        }
        for r in &decided.refused {
            tracing::warn!("refused change {} of document {} from {}: {}", r.change, r.doc, r.from, r.reason);
            self.store().put_json(Table::Audit, &format!("{}-{}", r.at, r.change), r)?;
        }
        Ok(decided)
    }

    /// Every refused change, oldest first.
    pub fn audit(&self) -> Result<Vec<Refusal>> {
        Ok(self.store().rows_json(Table::Audit)?.into_iter().map(|(_, r)| r).collect())
    }
}
