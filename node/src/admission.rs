//! Admission: which of another replica's changes a node lets in — the
//! rules of `trust` (proof, membership, permits, schema, frozen
//! figures), judged change by change in causal order.
//!
//! Owns: the decision, as a pure function of the stored and incoming
//! documents, the signatures that came with them and a [`Policy`] snapshot
//! (members, revocations, teams, schemas); time is passed in. Must never:
//! read or write the store or the clock (the caller records amendment
//! proposals and the audit log: `trust`), admit a change whose
//! dependencies were refused, or drop the rest of a document because one
//! change was refused.

use automerge::{ActorId, Automerge, Change, ChangeHash};
use std::collections::HashSet;

use crate::amend::Proposal;
use crate::attest::{Attestation, ClientRole, Proof, Signed};
use crate::effect::Snapshot;
use crate::error::Result;
use crate::id::DocumentId;
use crate::identity::NodeId;
use crate::network::Role;
use crate::policy::Policy;

/// What another replica offers of a document.
pub(crate) enum Offered<'a> {
    /// Its copy, merged with the stored one: its changes the store lacks
    /// are judged.
    Document(&'a Automerge),
    /// A document new to this node, loaded from one document chunk (a
    /// whole document as this build sends it): automerge computed each of
    /// its changes' hashes by encoding the change, so they are the hashes
    /// the changes have anywhere, and its changes are read from their
    /// metadata (rebuilt only if one must be applied). With it, the
    /// document read as values at its heads, when that was read already.
    Saved(&'a Automerge, Option<Snapshot>),
}

/// A change that was not admitted, and why.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
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

/// A rule's verdict on one change: `Err` holds why it is refused.
type Verdict<T> = std::result::Result<T, String>;

/// What a change does to a record, once judged admissible (rules 4 to 6).
struct Judged {
    /// The document with the change applied.
    trial: Automerge,
    /// The record's kind.
    kind: String,
    /// The field paths whose values the change made differ.
    fields: Vec<crate::effect::Path>,
    /// Fields and conflicts of `trial`, when validation read them there.
    read: Option<crate::record::Read>,
    /// `trial` read as values, when the change's context is `trial`.
    after: Option<Snapshot>,
}

/// Who vouches for a change, once judged admissible (rules 2 and 3).
struct Author {
    proof: Proof,
    who: Who,
    role: Option<Role>,
}

/// Who made a change: a member, or a client through its gateway.
enum Who {
    Member(NodeId),
    Client(Box<Attestation>),
}

impl Who {
    fn label(&self) -> String {
        match self {
            Who::Member(n) => n.to_string(),
            Who::Client(a) => a.label(),
        }
    }
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
    /// What was refused.
    pub refused: Vec<Refusal>,
    /// Refused edits to frozen figures, to record as amendment proposals.
    pub proposals: Vec<Proposal>,
    /// The fields and conflicts of `doc` when admission already read them
    /// (validating its last change), so the view need not read them again.
    pub read: Option<crate::record::Read>,
    /// The hashes of every change of `doc` when it is the incoming
    /// document whole, offered saved (`Offered::Saved`: the hashes read
    /// from its metadata are those its bytes load with), and nothing was
    /// stored before: what its snapshot is stored with
    /// (`store/src/whole.rs`). Empty otherwise.
    pub hashes: Vec<ChangeHash>,
}

/// A change as admission judges it: what its metadata says, and where the
/// change itself comes from when it must be applied.
struct Step<'a> {
    hash: ChangeHash,
    deps: Vec<ChangeHash>,
    actor: ActorId,
    seq: u64,
    /// It has no operations.
    empty: bool,
    source: Source<'a>,
}

/// Where a [`Step`]'s change is.
enum Source<'a> {
    /// In the list offered.
    Listed(&'a Change),
    /// In the offered document (`Offered::Saved`): rebuilt from it only
    /// when one must be applied — an empty change, or one before the last
    /// (a new document of one change, judged whole, never is) — all of
    /// them at once, the first time one is needed.
    InDocument { doc: &'a Automerge, since: &'a [ChangeHash], changes: &'a std::cell::OnceCell<Vec<Change>> },
}

impl Step<'_> {
    fn listed(c: &Change) -> Step<'_> {
        let (hash, deps, actor) = (c.hash(), c.deps().to_vec(), c.actor_id().clone());
        Step { hash, deps, actor, seq: c.seq(), empty: c.is_empty(), source: Source::Listed(c) }
    }

    /// The changes of `doc` after `since`, in the order `get_changes` gives
    /// them, from their metadata; `rebuilt` holds the changes once one is
    /// needed.
    fn in_document<'a>(
        doc: &'a Automerge,
        since: &'a [ChangeHash],
        rebuilt: &'a std::cell::OnceCell<Vec<Change>>,
    ) -> Vec<Step<'a>> {
        let steps = doc.get_changes_meta(since).into_iter().map(|m| Step {
            // an empty change's last operation comes before its first
            empty: m.max_op < m.start_op,
            hash: m.hash,
            deps: m.deps,
            actor: m.actor.into_owned(),
            seq: m.seq,
            source: Source::InDocument { doc, since, changes: rebuilt },
        });
        steps.collect()
    }

    /// The change itself.
    fn change(&self) -> Result<Change> {
        match &self.source {
            Source::Listed(c) => Ok((*c).clone()),
            Source::InDocument { doc, since, changes } => changes
                .get_or_init(|| doc.get_changes(since))
                .iter()
                .find(|c| c.hash() == self.hash)
                .cloned()
                .ok_or_else(|| {
                    crate::error::Error::Internal(format!("change {} is listed in a document without it", self.hash))
                }),
        }
    }
}

fn verify(policy: &Policy, change: &Step<'_>, sig: &[u8; 64]) -> std::result::Result<NodeId, String> {
    let not_a_key = || "its actor is not a node key".to_string();
    let key: [u8; 32] = change.actor.to_bytes().try_into().map_err(|_| not_a_key())?;
    let (public, node) = policy.key(&key).ok_or_else(not_a_key)?;
    if !public.verifies(&change.hash.0, sig) {
        return Err(
            "its signature does not verify against its actor (the actor is not the signer, or the change was altered)"
                .to_string(),
        );
    }
    Ok(node)
}

/// Decides which of `incoming`'s changes that `stored` lacks are
/// admitted, change by change in causal order; every rule fails closed
/// (a store error aborts the decision rather than admitting):
/// 1. its dependencies were admitted;
/// 2. it carries a signature that verifies against its actor (or, for a
///    client's change, its gateway's attestation);
/// 3. its author is an enrolled member, not revoked (or the change is
///    among those HQ kept);
/// 4. what it does — the record as its author saw it (the change's own
///    causal context) against the record it left — is allowed by the
///    author's permits ([`crate::permits::judge`]: the envelope, deleting,
///    the transition log, every field path); the first change of a new
///    document creates an Ayni record bound to this document ID; a record
///    is never created twice;
/// 5. the record it leaves, in that same context, is valid for its kind's
///    schema (deleted records too). Judged in that context, not in
///    whatever order changes arrive here, so every replica decides alike;
///    two valid concurrent changes whose merge breaks the schema are both
///    kept (`check` names the record);
/// 6. it does not edit frozen figures (an HQ node records it as an
///    amendment proposal; others refuse it, and HQ records it when its
///    author syncs with HQ).
pub(crate) fn admit(
    policy: &Policy,
    id: &DocumentId,
    stored: Option<&Automerge>,
    offered: Offered<'_>,
    known_sig: &dyn Fn(&[u8; 32]) -> Result<Option<Proof>>,
    from: &str,
    now: &str,
) -> Result<Admitted> {
    let before = stored.map(|d| d.get_heads()).unwrap_or_default();
    let rebuilt = std::cell::OnceCell::new();
    let encoded;
    // a copy's changes as automerge re-encodes them may hash otherwise than
    // as they arrived (and load): only a saved document's are its bytes'
    let listed_as_loaded = matches!(offered, Offered::Saved(..));
    // `incoming` read as values at its heads, if it was
    let (incoming, new, mut read_whole): (_, Vec<Step<'_>>, _) = match offered {
        // read from its metadata: the changes are rebuilt only if one must be applied
        Offered::Saved(d, read) => (d, Step::in_document(d, &before, &rebuilt), read),
        // each change as automerge encodes it: judged by that hash, so a
        // change that arrived encoded otherwise has no proof here, and is
        // refused rather than stored under a hash no copy of it will have
        Offered::Document(d) => {
            encoded = d.get_changes(&before);
            (d, encoded.iter().map(Step::listed).collect(), None)
        }
    };
    let mut refused_hashes: HashSet<ChangeHash> = HashSet::new();
    let mut refused = vec![];
    let mut keep_sigs = vec![];
    // the document with only the admitted changes applied so far
    let mut scratch = stored.cloned().unwrap_or_default();
    // `scratch` read as values, while it is still current
    let mut scratch_view: Option<Snapshot> = None;
    let mut amendments = vec![];
    // what validation read of `scratch`, while it is still current
    let mut last_read: Option<crate::record::Read> = None;
    // whether the changes offered make a record: an empty change (one with
    // no operations, as automerge-repo's `repo.create()` makes first) is
    // admitted before the change that creates the record
    // (found once, when first asked)
    let makes = std::cell::OnceCell::new();
    let makes_record = || *makes.get_or_init(|| crate::record::envelope(incoming).is_some());
    for (i, c) in new.iter().enumerate() {
        let hash = c.hash;
        // every change before this one admitted, and this the last: applied
        // to `scratch`, it makes `incoming` itself (no need to apply it again)
        let makes_incoming = refused_hashes.is_empty() && i + 1 == new.len();
        let sig = known_sig(&hash.0)?;
        let verdict = match c.deps.iter().find(|d| refused_hashes.contains(d)) {
            Some(dep) => Err(format!("it depends on refused change {dep}")),
            None => judge_author(policy, id, c, sig.clone())?,
        };
        let verdict = match verdict {
            Ok(author) if c.empty => judge_empty(c, &scratch, &makes_record)?.map(|judged| (author, judged)),
            Ok(author) => {
                let whole = Some(incoming).filter(|_| makes_incoming).map(|doc| (doc, read_whole.take()));
                judge_content(policy, id, c, &scratch, whole, &mut scratch_view, &author)?
                    .map(|judged| (author, judged))
            }
            Err(why) => Err(why),
        };
        let verdict = verdict.and_then(|(Author { proof, who, role }, judged)| {
            if role != Some(Role::Hq) {
                let frozen = match policy.kind(&judged.kind) {
                    Ok(schema) => {
                        let state = schema.lifecycle.as_ref().map(|lc| lc.fold(&crate::record::transitions(&scratch)).state);
                        let paths = crate::amend::frozen_paths(schema, state.as_deref(), &judged.fields);
                        (!paths.is_empty()).then(|| crate::amend::proposed(&crate::record::fields(&judged.trial), &paths))
                    }
                    Err(_) => None,
                };
                if let Some(proposed) = frozen {
                    if policy.records_amendments() {
                        amendments.push(Proposal { change: hash.to_string(), by: who.label(), proposed });
                        return Err("amendment: the figures it edits were validated meanwhile; kept as an amendment proposal for HQ".into());
                    }
                    return Err("amendment: the figures it edits were validated meanwhile; HQ records it as an amendment proposal when its author syncs with HQ".into());
                }
            }
            scratch = judged.trial;
            scratch_view = judged.after;
            last_read = judged.read;
            Ok(proof)
        });
        match verdict {
            Ok(sig) => keep_sigs.push((hash.0, sig)),
            Err(reason) => {
                refused_hashes.insert(hash);
                refused.push(Refusal {
                    at: now.to_string(),
                    from: from.to_string(),
                    doc: id.to_string(),
                    change: hash.to_string(),
                    author: author_label(c, sig.as_ref()),
                    reason,
                });
            }
        }
    }
    // the envelope as validation read it, when that reading is of `scratch`
    let read_envelope = last_read
        .as_ref()
        .filter(|r| r.heads == scratch.get_heads())
        .and_then(|r| r.outline.as_ref())
        .map(|o| o.envelope.is_some());
    if !read_envelope.unwrap_or_else(|| crate::record::envelope(&scratch).is_some()) {
        // what was admitted makes no record (empty changes whose creation
        // was refused, a key that is not a string): nothing to store, and
        // each is refused, so that its author hears why
        for (hash, sig) in keep_sigs {
            let Some(c) = new.iter().find(|c| c.hash.0 == hash) else { continue };
            refused.push(Refusal {
                at: now.to_string(),
                from: from.to_string(),
                doc: id.to_string(),
                change: c.hash.to_string(),
                author: author_label(c, Some(&sig)),
                reason: "it makes no Ayni record (no kind and key as the record layout reads them)".into(),
            });
        }
        return Ok(Admitted {
            doc: None,
            whole: false,
            sigs: vec![],
            refused,
            proposals: vec![],
            read: None,
            hashes: vec![],
        });
    }
    if refused.is_empty() {
        // every change admitted: `scratch` is `incoming` (the view checks
        // that the read is of the document it shows)
        // every change admitted over nothing stored: `new` lists them all
        let hashes = if stored.is_none() && listed_as_loaded { new.iter().map(|c| c.hash).collect() } else { vec![] };
        return Ok(Admitted {
            doc: Some(scratch),
            whole: true,
            sigs: keep_sigs,
            refused,
            proposals: amendments,
            read: last_read,
            hashes,
        });
    }
    // edits to frozen figures become proposals: the caller records them
    let doc = if keep_sigs.is_empty() { stored.cloned() } else { Some(scratch) };
    Ok(Admitted { doc, whole: false, sigs: keep_sigs, refused, proposals: amendments, read: None, hashes: vec![] })
}

/// Who a change is by, for the audit: its gateway's client, or its actor.
fn author_label(c: &Step<'_>, proof: Option<&Proof>) -> String {
    match proof {
        Some(Proof::Attested(a)) => a.label(),
        _ => NodeId::from_actor(&c.actor).map_or_else(|| c.actor.to_hex_string(), |n| n.to_string()),
    }
}

/// Rules 2 and 3 of [`admit`]: who signed the change, and whether
/// that author may write at all. `Err` is a store failure; `Ok(Err(why))`
/// a refusal.
fn judge_author(policy: &Policy, id: &DocumentId, c: &Step<'_>, proof: Option<Proof>) -> Result<Verdict<Author>> {
    let sig = match proof {
        None => return Ok(Err("it is unsigned".to_string())),
        Some(Proof::Attested(a)) => return judge_attested(policy, c, a),
        Some(Proof::Signature(sig)) => sig,
    };
    let author = match verify(policy, c, &sig) {
        Ok(a) => a,
        Err(why) => return Ok(Err(why)),
    };
    let role = policy.role_of(&author);
    if role.is_none() {
        return Ok(Err(format!("its author {author} is not an enrolled member")));
    }
    if let Some(r) = policy.revocation(&author)? {
        if c.seq > r.kept.get(&id.to_string()).copied().unwrap_or(0) {
            return Ok(Err(format!(
                "its author {author} was revoked at {} and this change is not among those HQ kept",
                r.at
            )));
        }
    }
    Ok(Ok(Author { proof: Proof::Signature(sig), who: Who::Member(author), role }))
}

/// Rules 2 and 3 for a client's change: its gateway's attestation
/// verifies; the gateway is a member, not revoked, whose role covers the
/// client's (a field member vouches for field clients only); the client
/// was not revoked before the gateway attested the change. A member's
/// change (its actor is a node key) needs its own signature.
fn judge_attested(policy: &Policy, c: &Step<'_>, a: Box<Attestation>) -> Result<Verdict<Author>> {
    if let Err(why) = a.verify(&c.hash.0) {
        return Ok(Err(why));
    }
    if NodeId::from_actor(&c.actor).is_some() {
        return Ok(Err("its actor is a node's key: a node's change needs that node's signature".into()));
    }
    let gateway = a.gateway;
    let Some(gateway_role) = policy.gateway_role(&gateway) else {
        return Ok(Err(format!("its gateway {gateway} is not an enrolled member")));
    };
    if let Some(r) = policy.revocation(&gateway)? {
        return Ok(Err(format!("its gateway {gateway} was revoked at {}", r.at)));
    }
    let role = match a.role {
        ClientRole::Hq if gateway_role != Role::Hq => {
            return Ok(Err(format!("its gateway {gateway} is a field member: it cannot vouch for an hq client")))
        }
        ClientRole::Hq => Role::Hq,
        ClientRole::Field => Role::Field,
        ClientRole::Read => return Ok(Err(format!("{} may only read", a.label()))),
    };
    if let Some(revoked_at) = policy.client_revoked(&gateway, &a.client) {
        if a.at >= revoked_at {
            return Ok(Err(format!("{} was revoked before its gateway attested this change", a.label())));
        }
    }
    Ok(Ok(Author { proof: Proof::Attested(a.clone()), who: Who::Client(a), role: Some(role) }))
}

/// Rule 4 for a change with no operations: it does nothing, to a record or
/// to a document whose next changes create one; anywhere else it would
/// leave a document that is no record.
fn judge_empty(c: &Step<'_>, scratch: &Automerge, makes_record: &dyn Fn() -> bool) -> Result<Verdict<Judged>> {
    if crate::record::envelope(scratch).is_none() && !makes_record() {
        return Ok(Err("it does not create an Ayni record (an empty change, and nothing after it creates one)".into()));
    }
    let mut trial = scratch.clone();
    if let Err(e) = trial.apply_changes([c.change()?]) {
        return Ok(Err(format!("it does not apply: {e}")));
    }
    let kind = crate::record::envelope(scratch).map(|e| e.kind).unwrap_or_default();
    Ok(Ok(Judged { trial, kind, fields: vec![], read: None, after: None }))
}

/// Rules 4 and 5 of [`admit`]: what the change does to the record, judged
/// in its own causal context. Returns the document with the change
/// applied on top of `scratch`, the record's kind, the field paths it
/// made differ and, when the change's context is that document, its
/// fields and conflicts as read and its snapshot. `scratch_view` is
/// `scratch` read as values, filled in when first needed. `applied`: that
/// document, when the caller holds it already, and perhaps its reading at
/// its heads.
fn judge_content(
    policy: &Policy,
    id: &DocumentId,
    c: &Step<'_>,
    scratch: &Automerge,
    applied: Option<(&Automerge, Option<Snapshot>)>,
    scratch_view: &mut Option<Snapshot>,
    author: &Author,
) -> Result<Verdict<Judged>> {
    // `scratch` with `c` applied, and what was read of it
    let (trial, read_trial) = match applied {
        Some((doc, read)) => (doc.clone(), read),
        None => {
            let mut trial = scratch.clone();
            if let Err(e) = trial.apply_changes([c.change()?]) {
                return Ok(Err(format!("it does not apply: {e}")));
            }
            (trial, None)
        }
    };
    let mut deps = c.deps.clone();
    deps.sort();
    let mut heads = scratch.get_heads();
    heads.sort();
    let in_context = deps == heads;
    // the record as its author saw it, and as the change left it; when the
    // change was made beside others, its context is rebuilt (as every
    // replica reads it) to validate it
    let context_before;
    let context;
    let (before, after) = if in_context {
        context = None;
        let before = match scratch_view {
            Some(v) => &*v,
            None => &*scratch_view.insert(Snapshot::read(scratch, None)),
        };
        let after = match read_trial {
            Some(read) => {
                // every debug build (the test suite's) checks what was read ahead
                debug_assert!(read == Snapshot::read(&trial, None), "what was read ahead of {id}");
                read
            }
            None => Snapshot::read(&trial, None),
        };
        (before, after)
    } else {
        let mut ctx =
            scratch.fork_at(&deps).map_err(|e| crate::error::Error::Automerge { id: id.to_string(), source: e })?;
        if let Err(e) = ctx.apply_changes([c.change()?]) {
            return Ok(Err(format!("it does not apply: {e}")));
        }
        context = Some(ctx);
        context_before = Snapshot::read(&trial, Some(&deps));
        (&context_before, Snapshot::read(&trial, Some(&[c.hash])))
    };
    // what is deeper was not read, and no record is so deep: refused
    // before anything reads the document whole (that would recurse as deep
    // as the change chose)
    if after.too_deep || before.too_deep {
        return Ok(Err(format!("it nests objects more than {} levels deep", crate::effect::MAX_NESTING)));
    }
    let left = context.as_ref().unwrap_or(&trial);
    if crate::record::envelope(scratch).is_some() && before.get(&["kind".to_string()]).is_none() {
        return Ok(Err("it creates the record again, beside the one it has".into()));
    }
    let permits = crate::permits::permits()?;
    let kinds = |k: &str| policy.kind(k).ok();
    let fields_after = || crate::record::fields(left);
    let role = match author.role {
        Some(Role::Hq) | None => "hq",
        Some(Role::Field) => "field",
    };
    let allowed = match &author.who {
        Who::Member(node) => {
            let me = node.to_string();
            let in_team = |team: &str| policy.in_team(&me, team);
            let a = crate::permits::Author { label: me.clone(), names: vec![me.clone()], role, in_team: &in_team };
            crate::permits::judge(permits, &kinds, &id.to_string(), &a, before, &after, &fields_after)
        }
        Who::Client(att) => {
            // a field gateway vouches only for teams that list it
            let gateway_may = |team: &str| {
                policy.role_of(&att.gateway) == Some(Role::Hq)
                    || !policy.has_network()
                    || policy.in_team(&att.gateway.to_string(), team)
            };
            let in_team = |team: &str| att.team.as_deref() == Some(team) && gateway_may(team);
            let mut names = vec![att.label(), att.gateway.to_string()];
            // a node's form import (`import:odk`) is named alike by every
            // node that imports the same submission (no client has a `:`)
            if att.client.starts_with(crate::attest::IMPORT_PREFIX) {
                names.push(att.client.clone());
            }
            let a = crate::permits::Author { label: att.label(), names, role, in_team: &in_team };
            crate::permits::judge(permits, &kinds, &id.to_string(), &a, before, &after, &fields_after)
        }
    };
    let allowed = match allowed {
        Ok(a) => a,
        Err(why) => return Ok(Err(why)),
    };
    let kind = after.string(&["kind"]).unwrap_or_default().to_string();
    let schema = match policy.kind(&kind) {
        Ok(s) => s,
        Err(_) => return Ok(Err(format!("unknown record kind '{kind}'"))),
    };
    // the record as the author left it is valid (deleted or not); read from
    // `after` when that holds it whole (no concurrent values)
    let read = match in_context.then(|| after.settled_fields(left)).flatten() {
        Some(fields) => {
            let outline = after.outline(left);
            // every debug build (the test suite's) checks the snapshot's reading against the document's
            debug_assert_eq!(fields, crate::record::fields(left), "settled fields of {id}");
            debug_assert!(outline.as_ref().is_none_or(|o| *o == crate::record::Outline::of(left)), "outline of {id}");
            crate::record::Read { heads: left.get_heads(), fields, conflicts: vec![], outline }
        }
        None => crate::record::Read::of(left),
    };
    if let Err(e) = schema.validate(&read.fields) {
        return Ok(Err(format!("schema: {e}")));
    }
    let read = in_context.then_some(read);
    Ok(Ok(Judged { trial, kind, fields: allowed.fields, read, after: in_context.then_some(after) }))
}

#[cfg(test)]
mod tests {
    //! Admission judged from a policy built in memory: no home, no store.

    use std::collections::HashMap;

    use automerge::transaction::Transactable;
    use automerge::{Automerge, ROOT};
    use serde_json::json;

    use super::*;
    use crate::identity::SecretKey;
    use crate::network::Role;
    use crate::policy::Revoked;
    use crate::record::Envelope;

    const NOW: &str = "2026-11-26T00:00:00Z";

    /// The document every test record is.
    fn doc_id() -> DocumentId {
        DocumentId::from_bytes([7; 16])
    }

    fn key() -> SecretKey {
        SecretKey::generate().unwrap()
    }

    fn edan(author: &SecretKey) -> Automerge {
        let mut doc = Automerge::new().with_actor(author.public().actor_id());
        let env = Envelope {
            kind: "edan".into(),
            key: "edan-sama-1".into(),
            id: doc_id().to_string(),
            created_at: NOW.into(),
            created_by: author.public().node_id().to_string(),
        };
        let data = json!({"event_id": DocumentId::random().unwrap().to_string(), "edan_type": "preliminar"});
        let mut tx = doc.transaction();
        crate::record::create(&mut tx, "t", &env, &data).unwrap();
        tx.commit();
        doc
    }

    /// `doc` with `author`'s change setting `tallies.ZONE.TEAM.dead`.
    fn tally(doc: &Automerge, author: &SecretKey, zone: &str, team: &str, dead: u64) -> Automerge {
        let mut d = doc.fork().with_actor(author.public().actor_id());
        let path: Vec<String> = ["tallies", zone, team, "dead"].iter().map(|s| s.to_string()).collect();
        let mut tx = d.transaction();
        crate::record::set_path(&mut tx, "t", &path, &json!(dead)).unwrap();
        tx.commit();
        d
    }

    /// Every change of `doc`, signed by whichever of `keys` is its actor.
    fn signed(doc: &Automerge, keys: &[&SecretKey]) -> HashMap<[u8; 32], Proof> {
        let mut out = HashMap::new();
        for c in doc.get_changes(&[]) {
            if let Some(k) = keys.iter().find(|k| k.public().actor_id() == *c.actor_id()) {
                out.insert(c.hash().0, Proof::Signature(k.sign(&c.hash().0)));
            }
        }
        out
    }

    fn judge(
        policy: &Policy,
        stored: Option<&Automerge>,
        incoming: &Automerge,
        sigs: &HashMap<[u8; 32], Proof>,
    ) -> Admitted {
        let known = |h: &[u8; 32]| Ok(sigs.get(h).cloned());
        admit(policy, &doc_id(), stored, Offered::Document(incoming), &known, "test", NOW).unwrap()
    }

    fn policy() -> Policy {
        Policy::new(crate::schema::schemas().unwrap()).in_network()
    }

    /// An HQ member, a field member listed by team `gaem-1`, their policy.
    fn hq_and_a_field_member_of_gaem_1() -> (SecretKey, SecretKey, Policy) {
        let (hq, field) = (key(), key());
        let field_id = field.public().node_id();
        let p = policy()
            .with_member(hq.public().node_id(), Role::Hq)
            .with_member(field_id, Role::Field)
            .with_team("gaem-1", vec![field_id.to_string()]);
        (hq, field, p)
    }

    #[test]
    fn an_empty_first_change_is_admitted_with_the_change_that_creates_the_record_and_alone_is_not() {
        let (hq, _, p) = hq_and_a_field_member_of_gaem_1();
        // automerge-repo's `repo.create()`: an empty change, then the record
        let mut doc = Automerge::new().with_actor(hq.public().actor_id());
        doc.empty_commit(Default::default());
        let alone = doc.clone();
        let full = edan(&hq);
        let mut tx = doc.transaction();
        let env = crate::record::envelope(&full).unwrap();
        crate::record::create(&mut tx, "t", &env, &crate::record::fields(&full)).unwrap();
        tx.commit();
        let a = judge(&p, None, &doc, &signed(&doc, &[&hq]));
        assert!(a.refused.is_empty() && a.sigs.len() == 2 && a.doc.is_some(), "{:?}", a.refused);

        // on its own it makes no record: refused, nothing to store
        let a = judge(&p, None, &alone, &signed(&alone, &[&hq]));
        assert!(a.doc.is_none() && a.sigs.is_empty());
        assert!(a.refused[0].reason.contains("does not create an Ayni record"), "{:?}", a.refused);
        // on a record it does nothing, and is admitted
        let mut later = full.fork().with_actor(hq.public().actor_id());
        later.empty_commit(Default::default());
        let a = judge(&p, Some(&full), &later, &signed(&later, &[&hq]));
        assert!(a.refused.is_empty() && a.sigs.len() == 1, "{:?}", a.refused);
    }

    #[test]
    fn a_record_is_judged_alike_from_its_document_and_saved_whole() {
        let (hq, _, p) = hq_and_a_field_member_of_gaem_1();
        let judge_saved = |doc: &Automerge| {
            let sigs = signed(doc, &[&hq]);
            let known = |h: &[u8; 32]| Ok(sigs.get(h).cloned());
            let saved = Automerge::load(&doc.save_nocompress()).unwrap();
            admit(&p, &doc_id(), None, Offered::Saved(&saved, None), &known, "test", NOW).unwrap()
        };
        // a record, whole from either
        let doc = edan(&hq);
        let (a, b) = (judge(&p, None, &doc, &signed(&doc, &[&hq])), judge_saved(&doc));
        assert!(a.whole && b.whole && a.refused.is_empty() && b.refused.is_empty());
        assert_eq!(a.doc.unwrap().get_heads(), b.doc.unwrap().get_heads());

        // a key written as bytes (it reads as the hex of them) makes no record
        let mut created = Automerge::new().with_actor(hq.public().actor_id());
        let mut tx = created.transaction();
        let env = crate::record::envelope(&doc).unwrap();
        crate::record::create(&mut tx, "t", &env, &crate::record::fields(&doc)).unwrap();
        tx.put(ROOT, "key", automerge::ScalarValue::Bytes(vec![0xab, 0xcd])).unwrap();
        tx.commit();
        for a in [judge(&p, None, &created, &signed(&created, &[&hq])), judge_saved(&created)] {
            assert!(a.doc.is_none() && !a.refused.is_empty(), "{:?}", a.refused);
        }
    }

    #[test]
    fn a_documents_changes_read_from_its_metadata_are_its_changes_in_the_same_order() {
        let (hq, field, _) = hq_and_a_field_member_of_gaem_1();
        // an empty change, the record, an HQ edit beside a field member's
        // tally, merged, then another empty change
        let mut doc = Automerge::new().with_actor(hq.public().actor_id());
        doc.empty_commit(Default::default());
        let first = doc.get_heads();
        let full = edan(&hq);
        let mut tx = doc.transaction();
        let env = crate::record::envelope(&full).unwrap();
        crate::record::create(&mut tx, "t", &env, &crate::record::fields(&full)).unwrap();
        tx.commit();
        let created = doc.get_heads();
        let mut theirs = tally(&doc, &field, "z1", "gaem-1", 4);
        let mut tx = doc.transaction();
        crate::record::set_path(&mut tx, "t", &["name".to_string()], &json!("Sama")).unwrap();
        tx.commit();
        doc.merge(&mut theirs).unwrap();
        doc.empty_commit(Default::default());
        // as built here, and as a receiver loads it saved whole
        let saved = Automerge::load(&doc.save_nocompress()).unwrap();
        assert_eq!(saved.get_heads(), doc.get_heads());
        let cases = [(vec![], 2), (first, 1), (created, 1), (doc.get_heads(), 0)];
        for ((since, empty), doc) in cases.iter().cloned().flat_map(|c| [(c.clone(), &doc), (c, &saved)]) {
            let listed = doc.get_changes(&since);
            let rebuilt = std::cell::OnceCell::new();
            let from_meta = Step::in_document(&doc, &since, &rebuilt);
            let from_changes: Vec<Step<'_>> = listed.iter().map(Step::listed).collect();
            let seen = |s: &Step<'_>| (s.hash, s.deps.clone(), s.actor.clone(), s.seq, s.empty);
            assert_eq!(
                from_meta.iter().map(seen).collect::<Vec<_>>(),
                from_changes.iter().map(seen).collect::<Vec<_>>()
            );
            assert_eq!(from_meta.iter().filter(|s| s.empty).count(), empty);
            for (m, c) in from_meta.iter().zip(&listed) {
                assert_eq!(m.change().unwrap().raw_bytes(), c.raw_bytes());
            }
        }
    }

    #[test]
    fn a_change_nesting_objects_deeper_than_any_record_is_refused_without_reading_them_all() {
        let (hq, _, p) = hq_and_a_field_member_of_gaem_1();
        let stored = edan(&hq);
        let mut doc = stored.clone();
        let mut tx = doc.transaction();
        let Some((_, data)) = automerge::ReadDoc::get(&tx, ROOT, "data").unwrap() else { panic!("no data") };
        let mut obj = tx.put_object(&data, "deep", automerge::ObjType::Map).unwrap();
        for _ in 0..20_000 {
            obj = tx.put_object(&obj, "d", automerge::ObjType::Map).unwrap();
        }
        tx.commit();
        let sigs = signed(&doc, &[&hq]);
        // as an edit of a stored record, and as a new document (its first
        // change admitted, the deep one not)
        for (stored, admitted) in [(Some(&stored), 0), (None, 1)] {
            let a = judge(&p, stored, &doc, &sigs);
            assert_eq!((a.refused.len(), a.sigs.len()), (1, admitted), "{:?}", a.refused);
            assert!(a.refused[0].reason.contains("levels deep"), "{:?}", a.refused);
        }
    }

    #[test]
    fn a_members_signed_record_is_admitted_whole_and_a_strangers_is_not() {
        let (hq, stranger) = (key(), key());
        let p = policy().with_member(hq.public().node_id(), Role::Hq);
        let doc = edan(&hq);
        let a = judge(&p, None, &doc, &signed(&doc, &[&hq]));
        assert!(a.whole && a.refused.is_empty() && a.sigs.len() == 1);

        let doc = edan(&stranger);
        let a = judge(&p, None, &doc, &signed(&doc, &[&stranger]));
        assert!(a.doc.is_none());
        assert!(a.refused[0].reason.contains("is not an enrolled member"), "{:?}", a.refused);
        assert_eq!(a.refused[0].at, NOW, "time is the caller's");

        let doc = edan(&hq);
        let a = judge(&p, None, &doc, &HashMap::new());
        assert_eq!(a.refused[0].reason, "it is unsigned");
    }

    #[test]
    fn a_field_member_writes_tallies_only_for_a_team_that_lists_it() {
        let (hq, field, p) = hq_and_a_field_member_of_gaem_1();
        let field_id = field.public().node_id();
        let base = edan(&hq);
        let mine = tally(&base, &field, "z1", "gaem-1", 2);
        let a = judge(&p, Some(&base), &mine, &signed(&mine, &[&hq, &field]));
        assert!(a.refused.is_empty(), "{:?}", a.refused);
        assert_eq!(a.doc.unwrap().get_heads(), mine.get_heads());

        let theirs = tally(&base, &field, "z1", "gaem-2", 2);
        let a = judge(&p, Some(&base), &theirs, &signed(&theirs, &[&hq, &field]));
        assert_eq!(a.refused.len(), 1);
        assert!(a.refused[0].reason.starts_with("role: ") && a.refused[0].reason.contains("gaem-2"), "{:?}", a.refused);
        assert_eq!(a.doc.unwrap().get_heads(), base.get_heads(), "the stored document, without the refused change");

        // two records with one team key: nobody counts for it until HQ settles it
        let p = p.with_team("gaem-1", vec![field_id.to_string()]);
        let a = judge(&p, Some(&base), &mine, &signed(&mine, &[&hq, &field]));
        assert_eq!(a.refused.len(), 1, "an ambiguous team grants nothing");
    }

    #[test]
    fn a_revoked_members_later_changes_are_refused_and_so_is_what_depends_on_them() {
        let (hq, field, p) = hq_and_a_field_member_of_gaem_1();
        let field_id = field.public().node_id();
        let base = edan(&hq);
        let later = tally(&base, &field, "z1", "gaem-1", 2);
        let revoked = p.clone().with_revocation(field_id, Revoked { at: NOW.into(), kept: Default::default() });
        let a = judge(&revoked, Some(&base), &later, &signed(&later, &[&hq, &field]));
        assert!(a.refused[0].reason.contains("was revoked"), "{:?}", a.refused);

        // a change that depends on a refused one is refused too
        let mut next = later.fork().with_actor(hq.public().actor_id());
        let mut tx = next.transaction();
        tx.put(ROOT, "x", 1).unwrap();
        tx.commit();
        let a = judge(&revoked, Some(&base), &next, &signed(&next, &[&hq, &field]));
        assert_eq!(a.refused.len(), 2);
        assert!(a.refused[1].reason.starts_with("it depends on refused change"), "{:?}", a.refused);
        assert!(a.proposals.is_empty());
    }

    /// `doc` with a client's change (a random actor, as automerge-repo
    /// apps have) setting `tallies.ZONE.TEAM.dead`.
    fn client_tally(doc: &Automerge, zone: &str, team: &str, dead: u64) -> (Automerge, [u8; 32]) {
        let mut d = doc.fork().with_actor(automerge::ActorId::random());
        let path: Vec<String> = ["tallies", zone, team, "dead"].iter().map(|s| s.to_string()).collect();
        let mut tx = d.transaction();
        crate::record::set_path(&mut tx, "t", &path, &json!(dead)).unwrap();
        let (hash, _) = tx.commit();
        (d, hash.unwrap().0)
    }

    fn attested(
        sigs: &HashMap<[u8; 32], Proof>,
        hash: [u8; 32],
        gateway: &SecretKey,
        role: ClientRole,
        team: Option<&str>,
        at: i64,
    ) -> HashMap<[u8; 32], Proof> {
        let mut out = sigs.clone();
        let a = Attestation::sign(gateway, hash, "tablet-1", role, team, at).unwrap();
        out.insert(hash, Proof::Attested(Box::new(a)));
        out
    }

    #[test]
    fn a_clients_change_is_judged_by_its_attestation_under_the_clients_role_and_team() {
        let (hq, field, p) = hq_and_a_field_member_of_gaem_1();
        let base = edan(&hq);
        let base_sigs = signed(&base, &[&hq]);
        let admitted = |p: &Policy, doc: &Automerge, sigs: &HashMap<[u8; 32], Proof>| {
            let a = judge(p, Some(&base), doc, sigs);
            a.refused.first().map(|r| (r.author.clone(), r.reason.clone()))
        };

        // a field client of team gaem-1, through the HQ node or the field node
        let (mine, h) = client_tally(&base, "z1", "gaem-1", 2);
        for gateway in [&hq, &field] {
            let sigs = attested(&base_sigs, h, gateway, ClientRole::Field, Some("gaem-1"), 10);
            assert_eq!(admitted(&p, &mine, &sigs), None);
        }
        // another team's tally: refused under the client's role, named
        let (theirs, h2) = client_tally(&base, "z1", "gaem-2", 2);
        let sigs = attested(&base_sigs, h2, &hq, ClientRole::Field, Some("gaem-1"), 10);
        let (author, why) = admitted(&p, &theirs, &sigs).unwrap();
        assert!(author.starts_with("client tablet-1 via ") && why.starts_with("role: "), "{author}: {why}");

        // an hq client may; but a field gateway cannot vouch for one
        let sigs = attested(&base_sigs, h2, &hq, ClientRole::Hq, None, 10);
        assert_eq!(admitted(&p, &theirs, &sigs), None);
        let sigs = attested(&base_sigs, h2, &field, ClientRole::Hq, None, 10);
        assert!(admitted(&p, &theirs, &sigs).unwrap().1.contains("cannot vouch for an hq client"));

        // a field gateway vouches only for a team that lists it
        let sigs = attested(&base_sigs, h2, &field, ClientRole::Field, Some("gaem-2"), 10);
        assert!(admitted(&p, &theirs, &sigs).unwrap().1.contains("gaem-2"), "the field gateway is not in gaem-2");
        let sigs = attested(&base_sigs, h2, &hq, ClientRole::Field, Some("gaem-2"), 10);
        assert_eq!(admitted(&p, &theirs, &sigs), None, "an hq gateway vouches for any team");

        // a gateway that is no member, a revoked gateway, a revoked client
        let stranger = key();
        let sigs = attested(&base_sigs, h, &stranger, ClientRole::Field, Some("gaem-1"), 10);
        assert!(admitted(&p, &mine, &sigs).unwrap().1.contains("is not an enrolled member"));
        let revoked =
            p.clone().with_revocation(field.public().node_id(), Revoked { at: NOW.into(), kept: Default::default() });
        let sigs = attested(&base_sigs, h, &field, ClientRole::Field, Some("gaem-1"), 10);
        assert!(admitted(&revoked, &mine, &sigs).unwrap().1.contains("was revoked"));
        let gone = p.clone().with_client_revocation(hq.public().node_id(), "tablet-1", 10);
        let sigs = attested(&base_sigs, h, &hq, ClientRole::Field, Some("gaem-1"), 10);
        assert!(admitted(&gone, &mine, &sigs).unwrap().1.contains("was revoked before"));
        let sigs = attested(&base_sigs, h, &hq, ClientRole::Field, Some("gaem-1"), 9);
        assert_eq!(admitted(&gone, &mine, &sigs), None, "attested before the revocation");

        // an attestation of another change, or one for a node's own change
        let sigs = attested(&base_sigs, h2, &hq, ClientRole::Field, Some("gaem-1"), 10);
        let mut swapped = sigs.clone();
        swapped.insert(h, sigs[&h2].clone());
        assert!(admitted(&p, &mine, &swapped).unwrap().1.contains("another change"));
        let members = tally(&base, &field, "z1", "gaem-1", 3);
        let last = members.get_heads()[0].0;
        let sigs = attested(&base_sigs, last, &hq, ClientRole::Field, Some("gaem-1"), 10);
        assert!(admitted(&p, &members, &sigs).unwrap().1.contains("needs that node's signature"));
    }
}
