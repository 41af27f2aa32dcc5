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

use crate::admission::Admitted;
use crate::attest::Proof;
use crate::error::Result;
use crate::id::DocumentId;
use crate::identity::NodeId;
use crate::node::{Node, Reader};
use crate::policy::{Policy, Revoked};
use std::sync::Arc;

pub use crate::admission::Refusal;
pub use crate::attest::Signed;

impl Reader {
    /// Signs this node's own changes in `doc` made since `since`.
    pub(crate) fn sign_own(&self, doc: &Automerge, since: &[ChangeHash]) -> Vec<Signed> {
        let me = self.secret().public().actor_id();
        doc.get_changes(since)
            .iter()
            .filter(|c| *c.actor_id() == me)
            .map(|c| (c.hash().0, Proof::Signature(self.secret().sign(&c.hash().0))))
            .collect()
    }

    /// Signs the change this node just committed (its hash, as automerge's
    /// commit returns it; none for an empty transaction). Cheaper than
    /// [`Node::sign_own`], which has automerge encode the changes to find
    /// them.
    pub(crate) fn sign_committed(&self, committed: Option<ChangeHash>) -> Vec<Signed> {
        committed.map(|h| (h.0, Proof::Signature(self.secret().sign(&h.0)))).into_iter().collect()
    }

    /// Stored signatures of the given changes (those that have one).
    pub(crate) fn signatures_of(&self, hashes: &[ChangeHash]) -> Result<Vec<Signed>> {
        let mut out = Vec::with_capacity(hashes.len());
        for h in hashes {
            if let Some(proof) = self.proof(&h.0)? {
                out.push((h.0, proof));
            }
        }
        Ok(out)
    }

    /// The stored proof of a change (a signature, or a client change's
    /// attestation).
    pub(crate) fn proof(&self, hash: &[u8; 32]) -> Result<Option<Proof>> {
        match self.store().signature(hash)? {
            None => Ok(None),
            Some(bytes) => Proof::from_bytes(&bytes).map(Some).map_err(|reason| crate::error::Error::Damaged {
                id: format!("proof of change {}", ChangeHash(*hash)),
                reason,
            }),
        }
    }

    /// Every refused change, oldest first.
    pub fn audit(&self) -> Result<Vec<Refusal>> {
        Ok(self.store().rows_json(Table::Audit)?.into_iter().map(|(_, r)| r).collect())
    }
}

impl Node {
    /// Judges `incoming`'s changes that `stored` lacks under this node's
    /// policy now ([`crate::admission::admit`]), then records what follows
    /// from the decision: edits to frozen figures become amendment
    /// proposals (this node's own signed change in the document), refusals
    /// go to the audit log.
    pub(crate) fn admit(
        &self,
        id: &DocumentId,
        stored: Option<&Automerge>,
        offered: crate::admission::Offered<'_>,
        sigs: &HashMap<[u8; 32], Proof>,
        from: &str,
    ) -> Result<Admitted> {
        let policy = self.policy()?;
        let known = |hash: &[u8; 32]| match sigs.get(hash) {
            Some(s) => Ok(Some(s.clone())),
            None => self.proof(hash),
        };
        let now = crate::node::now_rfc3339();
        let mut decided = crate::admission::admit(&policy, id, stored, offered, &known, from, &now)?;
        if let (false, Some(d)) = (decided.proposals.is_empty(), decided.doc.as_mut()) {
            decided.sigs.extend(self.record_amendments(d, &decided.proposals)?);
        }
        for r in &decided.refused {
            tracing::warn!("refused change {} of document {} from {}: {}", r.change, r.doc, r.from, r.reason);
            self.writer().put_json(Table::Audit, &format!("{}-{}", r.at, r.change), r)?;
        }
        Ok(decided)
    }
}

impl Node {
    /// Records in the audit log a whole document from `from` that was
    /// refused before any of its changes could be read (no change or
    /// author to name).
    pub(crate) fn refuse_document(&self, id: &DocumentId, from: &str, why: &str) -> Result<()> {
        let r = Refusal {
            at: crate::node::now_rfc3339(),
            from: from.to_string(),
            doc: id.to_string(),
            change: String::new(),
            author: String::new(),
            reason: why.to_string(),
        };
        tracing::warn!("refused document {} from {}: {}", r.doc, r.from, r.reason);
        self.writer().put_json(Table::Audit, &format!("{}-{}", r.at, r.doc), &r)
    }
}

impl Reader {
    /// The policy as the store holds it now (cached until the store's
    /// policy generation moves).
    pub fn policy(&self) -> Result<Arc<Policy>> {
        let generation = self.store().policy_generation();
        let mut cache = self.policy_cache().0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((g, p)) = cache.as_ref() {
            if *g == generation {
                return Ok(p.clone());
            }
        }
        let p = Arc::new(self.read_policy()?);
        *cache = Some((generation, p.clone()));
        Ok(p)
    }

    fn read_policy(&self) -> Result<Policy> {
        let mut p = Policy::new(crate::schema::schemas()?).of(self.id());
        p.in_network = self.network()?.is_some();
        for c in self.clients()? {
            if let Some(at) = c.revoked_at.as_deref().and_then(crate::clients::unix_seconds) {
                p = p.with_client_revocation(self.id(), &c.name, at);
            }
        }
        for (name, bytes) in self.store().rows(Table::ClientRevocations)? {
            // one that does not verify revokes nobody (it was verified when
            // it arrived); the gateway's own token check still holds
            match crate::clients::ClientRevocation::from_bytes(&bytes) {
                Ok(r) => {
                    if let (Some(g), Some(at)) = (r.gateway_id(), crate::clients::unix_seconds(&r.revoked_at)) {
                        p = p.with_client_revocation(g, &r.client, at);
                    }
                }
                Err(e) => tracing::warn!("client revocation {name} does not verify: {e}"),
            }
        }
        // who is what: every verified membership and revocation, decided
        // together (`authority`); a revocation that does not verify makes
        // admission refuse that node's changes rather than admit them
        let mut memberships = vec![];
        for (_, bytes) in self.store().rows(Table::Members)? {
            if let Ok(m) = self.verified().membership(&bytes) {
                memberships.push(m);
            }
        }
        let mut revocations = vec![];
        for (name, bytes) in self.store().rows(Table::Revocations)? {
            match self.verified().revocation(&bytes) {
                Ok(r) => revocations.push(r),
                Err(e) => {
                    let node = name.split('.').next().unwrap_or_default();
                    if let Ok(node) = node.parse::<NodeId>() {
                        p.revocations.insert(node, Err(e.to_string()));
                    }
                }
            }
        }
        if let Some(network) = self.network()? {
            let authority = crate::authority::Authority::decide(&network.public_key, &memberships, &revocations);
            for (node, m) in authority.members() {
                p.members.insert(*node, m.payload.role);
            }
            for (node, r) in authority.revocations() {
                p.revocations
                    .entry(node)
                    .or_insert(Ok(Revoked { at: r.payload.revoked_at.clone(), kept: r.payload.kept.clone() }));
            }
            p.authority = Arc::new(authority);
        }
        for team in self.list("team", &[])? {
            let nodes = team
                .fields
                .get("node_ids")
                .cloned()
                .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
                .unwrap_or_default();
            p = p.with_team(&team.key, nodes);
        }
        Ok(p)
    }
}
