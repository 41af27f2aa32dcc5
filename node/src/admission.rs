//! Admission: which of another replica's changes a node lets in — the
//! seven rules, judged change by change in causal order.
//!
//! Owns: the decision, as a pure function of the stored and incoming
//! documents, the signatures that came with them and a [`Policy`] snapshot
//! (members, revocations, teams, schemas); time is passed in. Must never:
//! read or write the store or the clock (the caller records amendment
//! proposals and the audit log: `trust`), admit a change whose
//! dependencies were refused, or drop the rest of a document because one
//! change was refused.

use automerge::{Automerge, Change, ChangeHash};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use std::collections::HashSet;

use crate::attest::{Attestation, ClientRole, Proof, Signed};
use crate::error::{Error, Result};
use crate::id::DocumentId;
use crate::identity::NodeId;
use crate::network::Role;
use crate::policy::Policy;

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
    /// What the change touched (empty for HQ authors).
    touched: crate::roles::Touched,
    /// Fields and conflicts of `trial`, when validation read them there.
    read: Option<crate::record::Read>,
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
    policy: &Policy,
    id: &DocumentId,
    stored: Option<&Automerge>,
    incoming: &Automerge,
    known_sig: &dyn Fn(&[u8; 32]) -> Result<Option<Proof>>,
    from: &str,
    now: &str,
) -> Result<Admitted> {
    let before = stored.map(|d| d.get_heads()).unwrap_or_default();
    let new = incoming.get_changes(&before);
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
        let sig = known_sig(&hash.0)?;
        let verdict = match c.deps().iter().find(|d| refused_hashes.contains(d)) {
            Some(dep) => Err(format!("it depends on refused change {dep}")),
            None => judge_author(policy, id, c, sig.clone())?,
        };
        let verdict = match verdict {
            Ok(author) => judge_content(policy, c, &scratch, &author).map(|v| v.map(|judged| (author, judged)))?,
            Err(why) => Err(why),
        };
        let verdict = verdict.and_then(|(Author { proof, who, role }, Judged { trial, kind, touched, read })| {
            if role != Some(Role::Hq) {
                let frozen = policy.kind(&kind).ok().and_then(|s| crate::roles::frozen_edit(s, &scratch, &trial, &touched));
                if let Some(proposed) = frozen {
                    amendments.push(Proposal { change: hash.to_string(), by: who.label(), proposed });
                    return Err("amendment: the figures it edits were validated meanwhile; kept as an amendment proposal for HQ".into());
                }
            }
            scratch = trial;
            last_read = read;
            Ok(proof)
        });
        match verdict {
            Ok(sig) => keep_sigs.push((hash.0, sig)),
            Err(reason) => {
                refused_hashes.insert(hash);
                let author = match &sig {
                    Some(Proof::Attested(a)) => a.label(),
                    _ => {
                        NodeId::from_actor(c.actor_id()).map_or_else(|| c.actor_id().to_hex_string(), |n| n.to_string())
                    }
                };
                refused.push(Refusal {
                    at: now.to_string(),
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
            proposals: amendments,
            read: last_read,
        });
    }
    // edits to frozen figures become proposals: the caller records them
    let doc = if keep_sigs.is_empty() { stored.cloned() } else { Some(scratch) };
    Ok(Admitted { doc, whole: false, sigs: keep_sigs, refused, proposals: amendments, read: None })
}

/// Rules 2 and 3 of [`admit`]: who signed the change, and whether
/// that author may write at all. `Err` is a store failure; `Ok(Err(why))`
/// a refusal.
fn judge_author(policy: &Policy, id: &DocumentId, c: &Change, proof: Option<Proof>) -> Result<Verdict<Author>> {
    let sig = match proof {
        None => return Ok(Err("it is unsigned".to_string())),
        Some(Proof::Attested(a)) => return judge_attested(policy, c, a),
        Some(Proof::Signature(sig)) => sig,
    };
    let author = match verify(c, &sig) {
        Ok(a) => a,
        Err(why) => return Ok(Err(why)),
    };
    let role = policy.role_of(&author);
    if role.is_none() {
        return Ok(Err(format!("its author {author} is not an enrolled member")));
    }
    if let Some(r) = policy.revocation(&author)? {
        if c.seq() > r.kept.get(&id.to_string()).copied().unwrap_or(0) {
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
fn judge_attested(policy: &Policy, c: &Change, a: Box<Attestation>) -> Result<Verdict<Author>> {
    if let Err(why) = a.verify(&c.hash().0) {
        return Ok(Err(why));
    }
    if NodeId::from_actor(c.actor_id()).is_some() {
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

/// Rules 4 to 6 of [`admit`]: what the change does to the record.
/// Returns the document with the change applied on top of `scratch`,
/// the record's kind, what the change touched (not computed for an HQ
/// author's first change: nothing depends on it) and, when the change's
/// causal context is that document, its fields and conflicts as read.
fn judge_content(policy: &Policy, c: &Change, scratch: &Automerge, author: &Author) -> Result<Verdict<Judged>> {
    let role = author.role;
    let before = scratch.get_heads();
    let mut trial = scratch.clone();
    if let Err(e) = trial.apply_changes([c.clone()]) {
        return Ok(Err(format!("it does not apply: {e}")));
    }
    let stored_envelope = crate::record::envelope(scratch);
    let touched =
        if role != Some(Role::Hq) { crate::roles::touched(scratch, &trial) } else { crate::roles::Touched::default() };
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
    let schema = match policy.kind(&kind) {
        Ok(s) => s,
        Err(_) => return Ok(Err(format!("unknown record kind '{kind}'"))),
    };
    if role != Some(Role::Hq) {
        let violation = match &author.who {
            Who::Member(node) => crate::roles::role_violation(policy, node, &kind, &touched),
            Who::Client(a) => {
                // a field gateway vouches only for teams that list it
                let gateway_may = |team: &str| {
                    policy.role_of(&a.gateway) == Some(Role::Hq)
                        || !policy.has_network()
                        || policy.in_team(&a.gateway.to_string(), team)
                };
                let in_team = |team: &str| a.team.as_deref() == Some(team) && gateway_may(team);
                crate::roles::field_violation(policy, &a.label(), &in_team, "the client's --team", &kind, &touched)
            }
        };
        if let Some(why) = violation {
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

    fn key() -> SecretKey {
        SecretKey::generate().unwrap()
    }

    fn edan(author: &SecretKey) -> Automerge {
        let mut doc = Automerge::new().with_actor(author.public().actor_id());
        let env = Envelope {
            kind: "edan".into(),
            key: "edan-sama-1".into(),
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
        let id = DocumentId::random().unwrap();
        let known = |h: &[u8; 32]| Ok(sigs.get(h).cloned());
        admit(policy, &id, stored, incoming, &known, "test", NOW).unwrap()
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
