//! Trust in changes: every change a node authors is signed with its key
//! (over the change hash), and a change from elsewhere is admitted only if
//! its signature verifies against its author's key — the change's actor ID
//! *is* that key — and the author is an enrolled member. Refusals are kept
//! for `ayni audit`.
//!
//! Owns: signing, verification, admission of incoming changes, the audit
//! log. Must never: admit a change whose dependencies were refused, or
//! drop the rest of a document because one change was refused.

use std::collections::{HashMap, HashSet};

use automerge::{Automerge, Change, ChangeHash};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::DocumentId;
use crate::identity::NodeId;
use crate::node::Node;

/// A change hash and its author's signature.
pub type Signed = ([u8; 32], [u8; 64]);

/// A rule's verdict on one change: `Err` holds why it is refused.
type Verdict<T> = std::result::Result<T, String>;

/// What a change does to a record, once judged admissible (rules 4 to 6).
struct Judged {
    /// The document with the change applied.
    trial: Automerge,
    /// The record's kind.
    kind: String,
    /// What the change touched (empty for HQ authors).
    touched: crate::roles::Touched,
    /// Fields and conflicts of `trial`, when validation read them there.
    read: Option<crate::record::Read>,
}

/// Who signed a change, once judged admissible (rules 2 and 3).
type Author = ([u8; 64], NodeId, Option<crate::network::Role>);

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

/// What admission decided for one incoming document.
pub(crate) struct Admitted {
    /// The document to store: the incoming one, or a rebuild without the
    /// refused changes; `None` when nothing was admitted.
    pub doc: Option<Automerge>,
    /// Whether `doc` is the incoming document unchanged.
    pub whole: bool,
    /// Signatures of the admitted changes, to store.
    pub sigs: Vec<Signed>,
    /// What was refused (edits to frozen figures are already recorded as
    /// amendment proposals in `doc`).
    pub refused: Vec<Refusal>,
    /// The fields and conflicts of `doc` when admission already read them
    /// (validating its last change), so the view need not read them again.
    pub read: Option<crate::record::Read>,
}

/// An edit to frozen figures that arrived after they were validated.
#[derive(Debug, Clone)]
pub(crate) struct Proposal {
    /// The refused change (hex hash).
    pub change: String,
    /// Its author.
    pub by: String,
    /// The values it would have set: dotted field path → value.
    pub proposed: serde_json::Map<String, serde_json::Value>,
}

fn verify(change: &Change, sig: &[u8; 64]) -> std::result::Result<NodeId, String> {
    let actor = change.actor_id().to_bytes();
    let key: [u8; 32] = actor.try_into().map_err(|_| "its actor is not a node key".to_string())?;
    let vk = VerifyingKey::from_bytes(&key).map_err(|_| "its actor is not a node key".to_string())?;
    vk.verify(&change.hash().0, &Signature::from_bytes(sig)).map_err(|_| {
        "its signature does not verify against its actor (the actor is not the signer, or the change was altered)"
            .to_string()
    })?;
    Ok(crate::identity::PublicKey::from_bytes(&key).map_err(|e| e.to_string())?.node_id())
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

    /// Decides which of `incoming`'s changes that `stored` lacks are
    /// admitted, change by change in causal order; every rule fails closed
    /// (a store error aborts the decision rather than admitting):
    /// 1. its dependencies were admitted;
    /// 2. it carries a signature that verifies against its actor;
    /// 3. its author is an enrolled member, not revoked (or the change is
    ///    among those HQ kept);
    /// 4. the first change of a new document creates an Ayni record of a
    ///    known kind; later ones never touch the envelope (`ayni`, `kind`,
    ///    `key`, `created_at`, `created_by`), whoever the author;
    /// 5. the author's role allows what it touches, judged by the kind
    ///    already stored;
    /// 6. the record it leaves, in the change's own causal context (the
    ///    state its author saw, plus the change), is valid for its kind's
    ///    schema. Judged in that context, not in whatever order changes
    ///    arrive here, so every replica decides alike; two valid concurrent
    ///    changes whose merge breaks the schema are both kept (`check`
    ///    names the record);
    /// 7. it does not edit frozen figures (else it becomes an amendment
    ///    proposal).
    pub(crate) fn admit(
        &self,
        id: &DocumentId,
        stored: Option<&Automerge>,
        incoming: &Automerge,
        sigs: &HashMap<[u8; 32], [u8; 64]>,
        from: &str,
    ) -> Result<Admitted> {
        let before = stored.map(|d| d.get_heads()).unwrap_or_default();
        let new = incoming.get_changes(&before);
        let mut members: HashMap<NodeId, Option<crate::network::Role>> = HashMap::new();
        let mut refused_hashes: HashSet<ChangeHash> = HashSet::new();
        let mut refused = vec![];
        let mut keep_sigs = vec![];
        // the document with only the admitted changes applied so far
        let mut scratch = stored.cloned().unwrap_or_default();
        let mut amendments = vec![];
        // what validation read of `scratch`, while it is still current
        let mut last_read: Option<crate::record::Read> = None;
        for c in &new {
            let hash = c.hash();
            let known_sig = match sigs.get(&hash.0) {
                Some(s) => Some(*s),
                None => self.store().signature(&hash.0)?,
            };
            let verdict = match c.deps().iter().find(|d| refused_hashes.contains(d)) {
                Some(dep) => Err(format!("it depends on refused change {dep}")),
                None => self.judge_author(id, c, known_sig, &mut members)?,
            };
            let verdict = match verdict {
                Ok((sig, author, role)) => {
                    self.judge_content(c, &scratch, author, role)?.map(|judged| (sig, author, role, judged))
                }
                Err(why) => Err(why),
            };
            let verdict = verdict.and_then(|(sig, author, role, Judged { trial, kind, touched, read })| {
                if role != Some(crate::network::Role::Hq) {
                    if let Some(proposed) = self.frozen_edit(&kind, &scratch, &trial, &touched) {
                        amendments.push(Proposal { change: hash.to_string(), by: author.to_string(), proposed });
                        return Err("amendment: the figures it edits were validated meanwhile; kept as an amendment proposal for HQ".into());
                    }
                }
                scratch = trial;
                last_read = read;
                Ok(sig)
            });
            match verdict {
                Ok(sig) => keep_sigs.push((hash.0, sig)),
                Err(reason) => {
                    refused_hashes.insert(hash);
                    let author = NodeId::from_actor(c.actor_id())
                        .map_or_else(|| c.actor_id().to_hex_string(), |n| n.to_string());
                    refused.push(Refusal {
                        at: crate::node::now_rfc3339(),
                        from: from.to_string(),
                        doc: id.to_string(),
                        change: hash.to_string(),
                        author,
                        reason,
                    });
                }
            }
        }
        if refused.is_empty() {
            // the view checks that the read is of the document it shows
            return Ok(Admitted {
                doc: Some(incoming.clone()),
                whole: true,
                sigs: keep_sigs,
                refused,
                read: last_read,
            });
        }
        // edits to frozen figures become proposals, written as this node's own change
        let mut doc = if keep_sigs.is_empty() { stored.cloned() } else { Some(scratch) };
        if let (false, Some(d)) = (amendments.is_empty(), doc.as_mut()) {
            keep_sigs.extend(self.record_amendments(d, &amendments)?);
        }
        for r in &refused {
            tracing::warn!("refused change {} of document {} from {}: {}", r.change, r.doc, r.from, r.reason);
            let bytes = serde_json::to_vec(r).map_err(|e| Error::Internal(e.to_string()))?;
            self.store().put_meta("a", &format!("{}-{}", r.at, r.change), &bytes)?;
        }
        Ok(Admitted { doc, whole: false, sigs: keep_sigs, refused, read: None })
    }

    /// Rules 2 and 3 of [`Node::admit`]: who signed the change, and whether
    /// that author may write at all. `Err` is a store failure; `Ok(Err(why))`
    /// a refusal.
    fn judge_author(
        &self,
        id: &DocumentId,
        c: &Change,
        sig: Option<[u8; 64]>,
        members: &mut HashMap<NodeId, Option<crate::network::Role>>,
    ) -> Result<Verdict<Author>> {
        let Some(sig) = sig else { return Ok(Err("it is unsigned".to_string())) };
        let author = match verify(c, &sig) {
            Ok(a) => a,
            Err(why) => return Ok(Err(why)),
        };
        let role = match members.get(&author) {
            Some(r) => *r,
            None => {
                let r = self.member(&author)?.map(|m| m.payload.role);
                members.insert(author, r);
                r
            }
        };
        if role.is_none() {
            return Ok(Err(format!("its author {author} is not an enrolled member")));
        }
        if let Some(r) = self.revocation(&author)? {
            if c.seq() > r.payload.kept.get(&id.to_string()).copied().unwrap_or(0) {
                return Ok(Err(format!(
                    "its author {author} was revoked at {} and this change is not among those HQ kept",
                    r.payload.revoked_at
                )));
            }
        }
        Ok(Ok((sig, author, role)))
    }

    /// Rules 4 to 6 of [`Node::admit`]: what the change does to the record.
    /// Returns the document with the change applied on top of `scratch`,
    /// the record's kind, what the change touched (not computed for an HQ
    /// author's first change: nothing depends on it) and, when the change's
    /// causal context is that document, its fields and conflicts as read.
    fn judge_content(
        &self,
        c: &Change,
        scratch: &Automerge,
        author: NodeId,
        role: Option<crate::network::Role>,
    ) -> Result<Verdict<Judged>> {
        let before = scratch.get_heads();
        let mut trial = scratch.clone();
        if let Err(e) = trial.apply_changes([c.clone()]) {
            return Ok(Err(format!("it does not apply: {e}")));
        }
        let stored_envelope = crate::record::envelope(scratch);
        let touched = if role != Some(crate::network::Role::Hq) {
            crate::roles::touched(&trial, &before)
        } else {
            crate::roles::Touched::default()
        };
        // the kind already stored decides; a new record's, the one it is created with
        let kind = match stored_envelope {
            Some(env) => {
                if let Some(key) = crate::record::envelope_change(scratch, &trial) {
                    return Ok(Err(format!("it changes the record's '{key}', which never changes once created")));
                }
                env.kind
            }
            None => match crate::record::envelope(&trial) {
                Some(env) if crate::record::layout(&trial) == Some(crate::record::LAYOUT_VERSION) => env.kind,
                _ => return Ok(Err("it does not create an Ayni record of layout 1 (no layout, kind or key)".into())),
            },
        };
        let schema = match self.kind(&kind) {
            Ok(s) => s,
            Err(_) => return Ok(Err(format!("unknown record kind '{kind}'"))),
        };
        if role != Some(crate::network::Role::Hq) {
            if let Some(why) = self.role_violation(&author, &kind, &touched) {
                return Ok(Err(format!("role: {why}")));
            }
        }
        // the record as the author left it: its own causal context
        let mut deps = c.deps().to_vec();
        deps.sort();
        let mut heads = before.clone();
        heads.sort();
        let context = if deps == heads {
            None
        } else {
            let mut ctx = scratch.fork_at(&deps).map_err(|e| Error::Automerge { id: kind.clone(), source: e })?;
            if let Err(e) = ctx.apply_changes([c.clone()]) {
                return Ok(Err(format!("it does not apply: {e}")));
            }
            Some(ctx)
        };
        let ctx = context.as_ref().unwrap_or(&trial);
        let mut read = None;
        if crate::record::is_live(ctx) {
            let r = crate::record::Read::of(ctx);
            if let Err(e) = schema.validate(&r.fields) {
                return Ok(Err(format!("schema: {e}")));
            }
            read = context.is_none().then_some(r);
        }
        Ok(Ok(Judged { trial, kind, touched, read }))
    }

    /// Every refused change, oldest first.
    pub fn audit(&self) -> Result<Vec<Refusal>> {
        Ok(self.store().scan_meta("a")?.into_iter().filter_map(|(_, v)| serde_json::from_slice(&v).ok()).collect())
    }
}
