//! Signed changes: a third node refuses unsigned, forged and stranger
//! changes on receipt, logs them for `audit`, and keeps everything else.

use crate::identity::SecretKey;
use crate::network::Role;
use crate::store::Table;
use crate::sync::sigs::{self, Collector};
use crate::sync::wire::Frame;
use crate::{node::Node, DocumentId};
use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ReadDoc, ROOT};
use serde_json::json;

struct Net {
    _dir: tempfile::TempDir,
    hq: Node,
    a: Node,
    c: Node,
    a_key: SecretKey,
}

fn net() -> Net {
    let dir = tempfile::tempdir().unwrap();
    let hq = Node::init(&dir.path().join("hq"), "hq").unwrap();
    let (_, hq_m) = hq.create_network("gamlp").unwrap();
    let mut members = vec![hq_m.bytes.clone()];
    let mut field = vec![];
    for name in ["a", "c"] {
        let n = Node::init(&dir.path().join(name), name).unwrap();
        let m = hq.enroll(n.id(), Role::Field, name, None).unwrap();
        n.join(&m.to_token()).unwrap();
        members.push(m.bytes);
        field.push(n);
    }
    for n in &field {
        for m in &members {
            n.accept_member(m).unwrap();
        }
    }
    let c = field.pop().unwrap();
    let a = field.pop().unwrap();
    let a_key = crate::key_file::read(&a.home().join("node.key")).unwrap();
    Net { _dir: dir, hq, a, c, a_key }
}

/// A document's bytes as `Node::document_bytes` gives them: its signatures
/// by change hash, and the document.
fn decode_document(bytes: &[u8]) -> (Vec<([u8; 32], [u8; 64])>, Automerge) {
    let (doc, proofs) = as_received(bytes);
    (proofs.iter().map(|(h, s)| (*h, *s.signature().expect("a signature"))).collect(), doc)
}

/// The document of `person:P` as A holds it, plus one extra change made with
/// `actor` and signed (or not) with `signer`.
fn with_extra_change(n: &Net, actor: &[u8], signer: Option<&SecretKey>, value: &str) -> (DocumentId, Vec<u8>) {
    let id: DocumentId = n.a.get("person:P").unwrap().id.parse().unwrap();
    let (mut sigs, doc) = decode_document(&n.a.document_bytes("person:P").unwrap());
    let mut doc = doc.with_actor(ActorId::from(actor));
    let data = match doc.get(ROOT, "data").unwrap() {
        Some((_, obj)) => obj,
        None => panic!("no data"),
    };
    let mut tx = doc.transaction();
    tx.put(&data, "full_name", value).unwrap();
    tx.put(ROOT, "live", format!("token-{value}")).unwrap();
    let hash = tx.commit().0.unwrap();
    if let Some(k) = signer {
        sigs.push((hash.0, k.sign(&hash.0)));
    }
    let mut raw = vec![];
    for c in doc.get_changes(&[]) {
        raw.extend_from_slice(c.raw_bytes());
    }
    // written as protocol version 1 does: each signature with its hash
    let mut out = vec![];
    Frame::Sigs(id, sigs).encode(&mut out);
    Frame::DocFull(id, raw).encode(&mut out);
    (id, out)
}

/// HQ's seed data with A in team GAEM-1; returns the seed event's ID.
fn seed_with_a_in_gaem1(n: &Net) -> String {
    n.hq.seed().unwrap();
    n.hq.set("team:GAEM-1", &[("node_ids".into(), json!([n.a.id().to_string()]))]).unwrap();
    n.hq.get("event:ev-sama").unwrap().id
}

fn setup_team(n: &Net) {
    n.a.add("person", Some("P"), json!({"full_name": "P"})).unwrap();
    n.a.set("person:P", &[("position".into(), json!("x"))]).unwrap();
}

#[test]
fn unsigned_forged_and_stranger_changes_are_refused_and_the_rest_kept() {
    let n = net();
    setup_team(&n);
    let a_actor = n.a_key.public().to_bytes();
    let mallory = SecretKey::generate().unwrap();
    let cases: Vec<(&str, Vec<u8>, Option<&SecretKey>, &str)> = vec![
        ("unsigned", a_actor.to_vec(), None, "it is unsigned"),
        ("forged", a_actor.to_vec(), Some(&mallory), "does not verify"),
        ("stranger", mallory.public().to_bytes().to_vec(), Some(&mallory), "is not an enrolled member"),
    ];
    for (name, actor, signer, reason) in cases {
        let (id, bytes) = with_extra_change(&n, &actor, signer, name);
        let rec = n.c.merge_document(&id, &bytes).unwrap();
        // A's two genuine changes are kept, the bad one is not
        assert_eq!(rec.fields["full_name"], "P", "{name}");
        assert_eq!(rec.fields["position"], json!("x"), "{name}");
        let audit = n.c.audit().unwrap();
        let last = audit.iter().find(|r| r.reason.contains(reason)).unwrap_or_else(|| panic!("{name}: {audit:?}"));
        assert_eq!(last.doc, id.to_string());
    }
    // a genuine change by A is admitted by C
    let (id, bytes) = with_extra_change(&n, &a_actor, Some(&n.a_key), "genuine");
    assert_eq!(n.c.merge_document(&id, &bytes).unwrap().fields["full_name"], "genuine");
    assert_eq!(n.c.check().unwrap().problems.len(), 0);
}

#[test]
fn a_bundle_with_a_forged_change_keeps_the_rest() {
    let n = net();
    setup_team(&n);
    n.hq.add("team", Some("H"), json!({"name": "H"})).unwrap();
    let _ = "team:T";
    // C imports HQ's bundle (signed changes): everything admitted
    let (bundle, _) = n.hq.export_bundle(None).unwrap();
    let r = n.c.import_bundle(&bundle).unwrap();
    assert_eq!(r.changes_refused, 0);
    assert_eq!(n.c.list("team", &[]).unwrap().len(), 1);
    assert_eq!(n.c.list("person", &[]).unwrap().len(), 0);
    // a relayed document whose history holds a forged change: the genuine
    // part is admitted, the forged change and nothing else refused
    let mallory = SecretKey::generate().unwrap();
    let (id, bytes) = with_extra_change(&n, &n.a_key.public().to_bytes(), Some(&mallory), "forged");
    let rec = n.c.merge_document(&id, &bytes).unwrap();
    assert_eq!(rec.fields["full_name"], "P");
    assert_eq!(n.c.audit().unwrap().len(), 1);
}

#[test]
fn changes_a_revoked_node_signs_after_its_revocation_are_refused_and_earlier_ones_kept() {
    let n = net();
    setup_team(&n);
    // HQ holds A's team document (two changes by A)
    let id: DocumentId = n.a.get("person:P").unwrap().id.parse().unwrap();
    n.hq.merge_document(&id, &n.a.document_bytes("person:P").unwrap()).unwrap();
    let r = n.hq.revoke(n.a.id(), "lost").unwrap();
    assert_eq!(r.payload.kept.get(&id.to_string()), Some(&2));
    // C learns of the revocation (a sync or bundle would carry it)
    assert!(n.c.accept_member(&r.bytes).unwrap());
    // A keeps writing: its earlier changes are kept, the new one refused
    n.a.set("person:P", &[("full_name".into(), json!("after revocation"))]).unwrap();
    let rec = n.c.merge_document(&id, &n.a.document_bytes("person:P").unwrap()).unwrap();
    assert_eq!(rec.fields["full_name"], "P");
    assert_eq!(rec.fields["position"], json!("x"));
    let audit = n.c.audit().unwrap();
    assert!(audit.iter().any(|a| a.reason.contains("was revoked")), "{audit:?}");
    // only HQ may revoke
    assert!(n.c.revoke(n.hq.id(), "coup").unwrap_err().to_string().contains("only an hq node"));
}

/// Changes by A (field) made with A's own key, bypassing A's local checks:
/// what a tampered laptop could send.
fn rogue_edit(
    n: &Net,
    reference: &str,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &automerge::ObjId),
) -> (DocumentId, Vec<u8>) {
    rogue_edit_by(n, &n.a_key, reference, f)
}

/// A change to HQ's copy of `reference` made with `key`, bypassing every
/// local check.
fn rogue_edit_by(
    n: &Net,
    key: &SecretKey,
    reference: &str,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &automerge::ObjId),
) -> (DocumentId, Vec<u8>) {
    let id: DocumentId = n.hq.get(reference).unwrap().id.parse().unwrap();
    let (mut sigs, doc) = decode_document(&n.hq.document_bytes(reference).unwrap());
    let mut doc = doc.with_actor(ActorId::from(&key.public().to_bytes()[..]));
    let data = doc.get(ROOT, "data").unwrap().unwrap().1;
    let mut tx = doc.transaction();
    f(&mut tx, &data);
    tx.put(ROOT, "live", "rogue").unwrap();
    let hash = tx.commit().0.unwrap();
    sigs.push((hash.0, key.sign(&hash.0)));
    let mut raw = vec![];
    for c in doc.get_changes(&[]) {
        raw.extend_from_slice(c.raw_bytes());
    }
    // written as protocol version 2 does: signatures in change-hash order
    let hashes: Vec<automerge::ChangeHash> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
    let mut out = vec![];
    let proofs: Vec<_> = sigs.iter().map(|(h, s)| (*h, crate::attest::Proof::Signature(*s))).collect();
    sigs::proofs_frame(id, 2, hashes, &proofs).encode(&mut out);
    Frame::DocFull(id, raw).encode(&mut out);
    (id, out)
}

#[test]
fn roles_are_enforced_on_receipt_and_before_a_change_is_made() {
    let n = net();
    let ev = seed_with_a_in_gaem1(&n);
    n.hq.add(
        "edan",
        Some("edan-draft"),
        json!({"event_id": ev, "edan_type": "preliminar", "tallies": {"z1": {"GAEM-1": {"dead": 0}}}}),
    )
    .unwrap();
    // C holds HQ's genuine records
    for r in ["practice:BP-MMS", "edan:edan-sama-1", "edan:edan-draft", "team:GAEM-1", "team:GAEM-2"] {
        let id: DocumentId = n.hq.get(r).unwrap().id.parse().unwrap();
        n.c.merge_document(&id, &n.hq.document_bytes(r).unwrap()).unwrap();
    }
    // a field node's catalogue edit
    let (id, bytes) = rogue_edit(&n, "practice:BP-MMS", |tx, data| {
        tx.put(data, "title_es", "Modelo falso").unwrap();
    });
    assert_eq!(n.c.merge_document(&id, &bytes).unwrap().fields["title_es"], "Modelo Municipal de Salud");
    // tallies of a team it is not in
    let (id, bytes) = rogue_edit(&n, "edan:edan-sama-1", |tx, data| {
        let t = tx.get(data, "tallies").unwrap().unwrap().1;
        let z = tx.get(&t, "z2").unwrap().unwrap().1;
        let g = tx.get(&z, "GAEM-2").unwrap().unwrap().1;
        tx.put(&g, "dead", 7).unwrap();
    });
    assert_eq!(n.c.merge_document(&id, &bytes).unwrap().fields["tallies"]["z2"]["GAEM-2"]["dead"], 0);
    // tallies of its own team are admitted (on a draft: a published EDAN's
    // figures are frozen, see the amendment test)
    let (id, bytes) = rogue_edit(&n, "edan:edan-draft", |tx, data| {
        let t = tx.get(data, "tallies").unwrap().unwrap().1;
        let z = tx.get(&t, "z1").unwrap().unwrap().1;
        let g = tx.get(&z, "GAEM-1").unwrap().unwrap().1;
        tx.put(&g, "injured", 5).unwrap();
    });
    assert_eq!(n.c.merge_document(&id, &bytes).unwrap().fields["tallies"]["z1"]["GAEM-1"]["injured"], 5);
    // an hq-only transition appended to the log
    let by = n.a.id().to_string();
    let (id, bytes) = rogue_edit(&n, "edan:edan-sama-1", |tx, _| {
        let log = tx.get(ROOT, "transitions").unwrap().unwrap().1;
        let seq = tx.keys(&log).count() as u64 + 1;
        let e = tx.put_object(&log, "01ROGUE", automerge::ObjType::Map).unwrap();
        for (k, v) in [("from", "submitted"), ("to", "validated"), ("at", "2026-01-01T00:00:00Z"), ("by", by.as_str())]
        {
            tx.put(&e, k, v).unwrap();
        }
        tx.put(&e, "seq", seq).unwrap();
    });
    assert_eq!(n.c.merge_document(&id, &bytes).unwrap().status.as_deref(), Some("submitted"));
    let reasons: Vec<String> = n.c.audit().unwrap().into_iter().map(|r| r.reason).collect();
    assert!(
        reasons.iter().any(|r| r.contains("role: field may not change title_es in practice records")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("role: field may not change tallies.z2.GAEM-2.dead in edan records")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("edan cannot move submitted->validated")), "{reasons:?}");
    assert_eq!(reasons.len(), 3, "{reasons:?}");

    // locally, a field node is refused before anything is stored
    n.hq.transition("edan:edan-sama-1", "consolidated", None).unwrap();
    let id: DocumentId = n.hq.get("edan:edan-sama-1").unwrap().id.parse().unwrap();
    n.a.merge_document(&id, &n.hq.document_bytes("edan:edan-sama-1").unwrap()).unwrap();
    let e = n.a.transition("edan:edan-sama-1", "validated", None).unwrap_err().to_string();
    assert!(e.contains("role: field may not move edan records consolidated->validated"), "{e}");
    let id: DocumentId = n.hq.get("edan:edan-draft").unwrap().id.parse().unwrap();
    n.a.merge_document(&id, &n.hq.document_bytes("edan:edan-draft").unwrap()).unwrap();
    let e = n.a.set("edan:edan-sama-1", &[("accepted.z2.team".into(), json!("GAEM-1"))]).unwrap_err().to_string();
    assert!(e.contains("role: field may not") && e.contains("accepted.z2"), "{e}");
    let e =
        n.a.add("practice", Some("BP-X"), json!({"code": "BP-X", "kind": "bpm", "title_es": "x"}))
            .unwrap_err()
            .to_string();
    assert!(e.contains("role: field may not create practice records"), "{e}");
    // its own team's tallies, once it holds the team record naming it
    assert!(n.a.set("edan:edan-draft", &[("tallies.z1.GAEM-1.missing".into(), json!(1))]).is_err());
    let team: DocumentId = n.hq.get("team:GAEM-1").unwrap().id.parse().unwrap();
    n.a.merge_document(&team, &n.hq.document_bytes("team:GAEM-1").unwrap()).unwrap();
    n.a.set("edan:edan-draft", &[("tallies.z1.GAEM-1.missing".into(), json!(1))]).unwrap();
}

#[test]
fn a_stale_edit_to_validated_figures_becomes_an_amendment_proposal() {
    let n = net();
    let ev = seed_with_a_in_gaem1(&n);
    let e =
        n.hq.add(
            "edan",
            Some("edan-new"),
            json!({"event_id": ev, "edan_type": "preliminar", "zones": {"z1": {"name": "Zona 1"}},
        "tallies": {"z1": {"GAEM-1": {"families_affected": 10}}}}),
        )
        .unwrap();
    for r in [e.id.as_str(), "team:GAEM-1"] {
        let id: DocumentId = n.hq.get(r).unwrap().id.parse().unwrap();
        n.a.merge_document(&id, &n.hq.document_bytes(r).unwrap()).unwrap();
    }
    // HQ validates while the laptop, offline, corrects its count
    for s in ["submitted", "consolidated", "validated"] {
        n.hq.transition(&e.id, s, None).unwrap();
    }
    n.a.set(&e.id, &[("tallies.z1.GAEM-1.families_affected".into(), json!(12))]).unwrap();
    let id: DocumentId = e.id.parse().unwrap();
    let rec = n.hq.merge_document(&id, &n.a.document_bytes(&e.id).unwrap()).unwrap();
    assert_eq!(rec.status.as_deref(), Some("validated"));
    assert_eq!(rec.fields["tallies"]["z1"]["GAEM-1"]["families_affected"], 10, "validated figures must not change");
    let amendments = rec.fields["amendments"].as_object().unwrap();
    assert_eq!(amendments.len(), 1);
    let (change, proposal) = amendments.iter().next().unwrap();
    assert_eq!(proposal["proposed"]["tallies.z1.GAEM-1.families_affected"], 12);
    assert_eq!(n.hq.status().unwrap().pending_amendments, 1, "the proposal waits for HQ");
    assert_eq!(proposal["by"], n.a.id().to_string());
    // now that the laptop knows, it cannot edit the frozen figures itself
    n.a.merge_document(&id, &n.hq.document_bytes(&e.id).unwrap()).unwrap();
    let err = n.a.set(&e.id, &[("tallies.z1.GAEM-1.families_affected".into(), json!(13))]).unwrap_err().to_string();
    assert!(err.contains("frozen"), "{err}");
    assert!(n.a.decide_amendment(&crate::clients::Actor::Node, &e.id, change, true).is_err(), "only HQ decides");
    // HQ accepts: the value is applied by HQ, the proposal marked
    let rec = n.hq.decide_amendment(&crate::clients::Actor::Node, &e.id, &change[..8], true).unwrap();
    assert_eq!(rec.fields["tallies"]["z1"]["GAEM-1"]["families_affected"], 12);
    assert_eq!(rec.fields["amendments"][change]["decision"]["status"], "accepted");
    assert_eq!(rec.fields["amendments"][change]["status"], "proposed", "the entry as written stays");
    assert_eq!(n.hq.status().unwrap().pending_amendments, 0, "decided");
}

/// C holds HQ's copy of each record.
fn c_holds(n: &Net, refs: &[&str]) {
    for r in refs {
        let id: DocumentId = n.hq.get(r).unwrap().id.parse().unwrap();
        n.c.merge_document(&id, &n.hq.document_bytes(r).unwrap()).unwrap();
    }
}

fn reasons(node: &Node) -> Vec<String> {
    node.audit().unwrap().into_iter().map(|r| r.reason).collect()
}

#[test]
fn a_field_change_that_rewrites_a_catalogue_records_kind_is_refused() {
    let n = net();
    n.hq.seed().unwrap();
    c_holds(&n, &["practice:BP-MMS"]);
    // judged by its new kind (a person, which field nodes may edit), this
    // change would pass; the kind already stored decides, and it never changes
    let (id, bytes) = rogue_edit(&n, "practice:BP-MMS", |tx, data| {
        tx.put(ROOT, "kind", "person").unwrap();
        tx.put(data, "full_name", "not a practice").unwrap();
    });
    let rec = n.c.merge_document(&id, &bytes).unwrap();
    assert_eq!(rec.kind, "practice");
    assert!(rec.fields.get("full_name").is_none());
    assert!(
        reasons(&n.c).iter().any(|r| r.contains("'kind', which never changes once created")),
        "{:?}",
        reasons(&n.c)
    );
}

#[test]
fn no_one_may_change_the_envelope_and_a_deleted_kind_does_not_stop_the_rest() {
    let n = net();
    n.hq.seed().unwrap();
    c_holds(&n, &["practice:BP-MMS"]);
    let hq_key = crate::key_file::read(&n.hq.home().join("node.key")).unwrap();
    for (who, key) in [("field", &n.a_key), ("hq", &hq_key)] {
        for envelope in ["kind", "key", "ayni", "created_by"] {
            let (id, bytes) = rogue_edit_by(&n, key, "practice:BP-MMS", |tx, _| {
                tx.delete(ROOT, envelope).unwrap();
            });
            // the document keeps every admitted change and still shows
            let rec = n.c.merge_document(&id, &bytes).unwrap_or_else(|e| panic!("{who} deleting {envelope}: {e}"));
            assert_eq!((rec.kind.as_str(), rec.key.as_str()), ("practice", "BP-MMS"), "{who} deleting {envelope}");
        }
    }
    let refused = reasons(&n.c);
    assert_eq!(refused.iter().filter(|r| r.contains("never changes once created")).count(), 8, "{refused:?}");
    assert_eq!(n.c.check().unwrap().problems.len(), 0);
}

#[test]
fn a_revocation_that_cannot_be_read_refuses_rather_than_admits() {
    let n = net();
    setup_team(&n);
    // C has a revocation record for A that does not parse (damaged disk, a bug)
    n.c.writer().put(Table::Revocations, &n.a.id().to_string(), b"\x11 not a revocation").unwrap();
    let id: DocumentId = n.a.get("person:P").unwrap().id.parse().unwrap();
    let err = n.c.merge_document(&id, &n.a.document_bytes("person:P").unwrap()).unwrap_err();
    assert!(err.to_string().contains("revocation"), "{err}");
    assert!(n.c.get("person:P").is_err(), "A's document was stored although its author's revocation is unreadable");
}

#[test]
fn a_record_of_an_unknown_kind_is_refused_and_not_an_error() {
    let n = net();
    // A creates a document of a kind no schema describes, signed by A
    let mut doc = Automerge::new().with_actor(ActorId::from(&n.a_key.public().to_bytes()[..]));
    let mut tx = doc.transaction();
    tx.put(ROOT, "ayni", 1u64).unwrap();
    tx.put(ROOT, "kind", "weapon").unwrap();
    tx.put(ROOT, "key", "w1").unwrap();
    tx.put(ROOT, "live", "x").unwrap();
    tx.put_object(ROOT, "data", automerge::ObjType::Map).unwrap();
    let hash = tx.commit().0.unwrap();
    let id = DocumentId::random().unwrap();
    let mut bytes = vec![];
    Frame::Sigs(id, vec![(hash.0, n.a_key.sign(&hash.0))]).encode(&mut bytes);
    Frame::DocFull(id, doc.save()).encode(&mut bytes);
    let err = n.c.merge_document(&id, &bytes).unwrap_err().to_string();
    assert!(err.contains("none of its new changes is admitted"), "{err}");
    assert!(reasons(&n.c).iter().any(|r| r.contains("unknown record kind 'weapon'")), "{:?}", reasons(&n.c));
    assert!(n.c.store().load(&id).unwrap().is_none());
}

#[test]
fn a_change_that_breaks_the_schema_is_refused_on_receipt() {
    let n = net();
    setup_team(&n);
    let id: DocumentId = n.a.get("person:P").unwrap().id.parse().unwrap();
    n.hq.merge_document(&id, &n.a.document_bytes("person:P").unwrap()).unwrap();
    // a member's change whose own result is invalid: a number where the schema wants text
    let (id, bytes) = rogue_edit(&n, "person:P", |tx, data| {
        tx.put(data, "full_name", 12345i64).unwrap();
    });
    let rec = n.c.merge_document(&id, &bytes).unwrap();
    assert_eq!(rec.fields["full_name"], "P");
    assert!(reasons(&n.c).iter().any(|r| r.starts_with("schema: person full_name")), "{:?}", reasons(&n.c));
    assert_eq!(n.c.check().unwrap().problems.len(), 0);
    // and a valid one from the same member after it is admitted
    let (id, bytes) = rogue_edit(&n, "person:P", |tx, data| {
        tx.put(data, "full_name", "Valid").unwrap();
    });
    assert_eq!(n.c.merge_document(&id, &bytes).unwrap().fields["full_name"], "Valid");
}

#[test]
fn memberships_and_revocations_are_verified_alike() {
    let n = net();
    let key = crate::network::network_key(n.hq.home()).unwrap().unwrap();
    let r = n.hq.revoke(n.a.id(), "lost").unwrap();
    // signed by the network key itself, but naming a network ID that is not its key's
    let mut payload = r.payload.clone();
    payload.network.id = "0000000000000000".into();
    payload.issuer = n.hq.network().unwrap().unwrap().public_key;
    payload.issuer_membership = None;
    let forged = crate::network::Revocation::issue(payload, &key).unwrap();
    let err = crate::network::Revocation::from_bytes(&forged.bytes).unwrap_err().to_string();
    assert!(err.contains("network ID does not match its key"), "{err}");
    // the same check, with the same words, as for a membership
    let m = n.hq.membership().unwrap().unwrap();
    let mut mp = m.payload.clone();
    mp.network.id = "0000000000000000".into();
    mp.issuer = payload_issuer(&n);
    mp.issuer_membership = None;
    let bytes = sign_membership(&mp, &key);
    let err = crate::network::Membership::from_bytes(&bytes).unwrap_err().to_string();
    assert!(err.contains("network ID does not match its key"), "{err}");
}

fn payload_issuer(n: &Net) -> String {
    n.hq.network().unwrap().unwrap().public_key
}

/// A membership token built by hand (the format of `network.rs`).
fn sign_membership(p: &crate::network::Payload, key: &SecretKey) -> Vec<u8> {
    let json = serde_json::to_vec(p).unwrap();
    let mut out = vec![1u8];
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&key.sign(&json));
    out
}

/// A bundle written in format 1 (each signature with its change hash, as
/// builds before protocol version 2 wrote them), made from a format 2
/// bundle: the same content, re-framed and re-summed.
fn as_format_1(bundle: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    assert_eq!(bundle[8], 2, "a bundle with no client change is written as format 2");
    let hlen = u32::from_be_bytes(bundle[9..13].try_into().unwrap()) as usize;
    let body_at = 13 + hlen + 8;
    let raw = zstd::stream::decode_all(&bundle[body_at..bundle.len() - 32]).unwrap();
    let (mut sigs, mut out_raw, mut rest) = (Collector::default(), vec![], &raw[..]);
    while !rest.is_empty() {
        let len = Frame::body_len(rest[..4].try_into().unwrap()).unwrap();
        match sigs.take(Frame::decode(&rest[4..4 + len]).unwrap()) {
            Some(Frame::DocFull(id, raw)) => {
                let doc = Automerge::load(&raw).unwrap();
                let hashes = sigs::document_hashes(&doc);
                sigs.arrived(&id, || Ok(hashes.clone())).unwrap();
                let list = hashes
                    .iter()
                    .filter_map(|h| sigs.by_hash().get(&h.0).and_then(|s| s.signature()).map(|s| (h.0, *s)))
                    .collect();
                Frame::Sigs(id, list).encode(&mut out_raw);
                Frame::DocFull(id, raw).encode(&mut out_raw);
            }
            Some(other) => other.encode(&mut out_raw),
            None => {}
        }
        rest = &rest[4 + len..];
    }
    let body = zstd::stream::encode_all(&out_raw[..], 9).unwrap();
    let mut out = bundle[..13 + hlen].to_vec();
    out[8] = 1;
    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    out.extend_from_slice(&body);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

#[test]
fn bundles_of_both_formats_carry_every_signature_and_format_2_is_no_larger() {
    let n = net();
    setup_team(&n);
    n.hq.add("team", Some("H"), json!({"name": "H"})).unwrap();
    for i in 0..30 {
        n.a.add("person", Some(&format!("p{i}")), json!({"full_name": format!("Persona {i}")})).unwrap();
    }
    let (v2, _) = n.a.export_bundle(None).unwrap();
    let v1 = as_format_1(&v2);
    // format 1 repeats each change hash beside its signature; a document
    // saved whole holds its heads, so compressed that repeat costs little
    assert!(v1.len() > v2.len(), "format 1 {} B, format 2 {} B", v1.len(), v2.len());
    let want = n.a.list("person", &[]).unwrap().len();
    assert_eq!(want, 31);
    // C takes format 1 (an older build's bundle); HQ format 2: every change
    // of A's is admitted by both, so every signature arrived with its change
    let r1 = n.c.import_bundle(&v1).unwrap();
    let r2 = n.hq.import_bundle(&v2).unwrap();
    assert_eq!((r1.changes_refused, r2.changes_refused), (0, 0));
    assert_eq!(n.c.list("person", &[]).unwrap().len(), want);
    assert_eq!(n.hq.list("person", &[]).unwrap().len(), want);
    // an unknown format is refused by name
    let mut v9 = v2.clone();
    v9[8] = 9;
    let err = n.c.import_bundle(&v9).unwrap_err().to_string();
    assert!(err.contains("format 9"), "{err}");
}

#[test]
fn a_client_revocation_replicates_with_the_memberships_and_a_forged_one_is_refused() {
    use crate::clients::{ClientRevocation, ClientRole, NewClient};
    let n = net();
    n.hq.add_client("tablet-1", ClientRole::Field, NewClient::default()).unwrap();
    n.hq.revoke_client("tablet-1").unwrap();
    let records = n.hq.membership_records().unwrap();
    let revocation = records.iter().find(|r| ClientRevocation::is_one(r)).expect("the client revocation travels");
    assert_eq!(n.a.policy().unwrap().client_revoked(&n.hq.id(), "tablet-1"), None);
    let mut forged = revocation.clone();
    let at = forged.len() - 70;
    forged[at] ^= 1;
    assert!(n.a.accept_member(&forged).is_err());
    assert!(n.a.accept_member(revocation).unwrap());
    assert!(!n.a.accept_member(revocation).unwrap(), "known already");
    assert!(n.a.policy().unwrap().client_revoked(&n.hq.id(), "tablet-1").is_some());
    assert!(n.a.membership_records().unwrap().contains(revocation), "and it travels on from there");
}

/// `doc` with `sigs` as the replication protocol carries it, under `id`.
fn as_document(id: DocumentId, doc: &Automerge, sigs: &[([u8; 32], [u8; 64])]) -> Vec<u8> {
    let raw: Vec<u8> = doc.get_changes(&[]).iter().flat_map(|c| c.raw_bytes().to_vec()).collect();
    let hashes: Vec<automerge::ChangeHash> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
    let proofs: Vec<_> = sigs.iter().map(|(h, s)| (*h, crate::attest::Proof::Signature(*s))).collect();
    let mut out = vec![];
    sigs::proofs_frame(id, 2, hashes, &proofs).encode(&mut out);
    Frame::DocFull(id, raw).encode(&mut out);
    out
}

#[test]
fn a_signed_history_replayed_under_another_document_id_is_refused() {
    let n = net();
    n.hq.seed().unwrap();
    // HQ's genuine team record, every change signed, offered as a new document
    let (sigs, doc) = decode_document(&n.hq.document_bytes("team:GAEM-1").unwrap());
    let other = DocumentId::random().unwrap();
    let err = n.c.merge_document(&other, &as_document(other, &doc, &sigs)).unwrap_err().to_string();
    assert!(err.contains("none of its new changes is admitted"), "{err}");
    assert!(reasons(&n.c).iter().any(|r| r.contains("bound to another document")), "{:?}", reasons(&n.c));
    assert!(n.c.get("team:GAEM-1").is_err(), "the key is not made ambiguous: nothing was stored");
    // under its own ID it is the genuine record
    let id: DocumentId = n.hq.get("team:GAEM-1").unwrap().id.parse().unwrap();
    assert_eq!(n.c.merge_document(&id, &as_document(id, &doc, &sigs)).unwrap().key, "GAEM-1");
}

#[test]
fn a_deleted_record_is_still_judged_and_its_tombstone_holds_only_when_and_who() {
    let n = net();
    n.hq.seed().unwrap();
    n.hq.add("person", Some("ana"), json!({"full_name": "Ana"})).unwrap();
    c_holds(&n, &["person:ana"]);
    let hq_key = crate::key_file::read(&n.hq.home().join("node.key")).unwrap();
    // even HQ's delete may not carry junk in its tombstone, nor leave invalid fields behind
    let (id, bytes) = rogue_edit_by(&n, &hq_key, "person:ana", |tx, data| {
        tx.delete(ROOT, "live").unwrap();
        let t = tx.put_object(ROOT, "tombstone", automerge::ObjType::Map).unwrap();
        tx.put(&t, "at", "2026-12-06T10:00:00Z").unwrap();
        tx.put(&t, "by", "hq").unwrap();
        tx.put(&t, "junk", "x".repeat(100_000)).unwrap();
        tx.put(data, "full_name", 7).unwrap();
    });
    let rec = n.c.merge_document(&id, &bytes).unwrap();
    assert!(!rec.deleted);
    assert!(reasons(&n.c).iter().any(|r| r.contains("its tombstone is not {at, by}")), "{:?}", reasons(&n.c));
    let (id, bytes) = rogue_edit_by(&n, &hq_key, "person:ana", |tx, data| {
        tx.delete(ROOT, "live").unwrap();
        let t = tx.put_object(ROOT, "tombstone", automerge::ObjType::Map).unwrap();
        tx.put(&t, "at", "2026-12-06T10:00:00Z").unwrap();
        tx.put(&t, "by", "hq").unwrap();
        tx.put(data, "full_name", 7).unwrap();
    });
    n.c.merge_document(&id, &bytes).unwrap();
    assert!(
        reasons(&n.c).iter().any(|r| r.starts_with("schema: ")),
        "a deleted record is validated: {:?}",
        reasons(&n.c)
    );
    // a well-formed delete by HQ goes through
    n.hq.delete("person:ana").unwrap();
    assert!(n.c.merge_document(&id, &n.hq.document_bytes("person:ana").unwrap()).unwrap().deleted);
}

#[test]
fn a_peers_state_is_a_feed_mark_written_only_when_the_feed_moved() {
    let n = net();
    n.hq.add("team", Some("H"), json!({"name": "H"})).unwrap();
    n.hq.add("team", Some("J"), json!({"name": "J"})).unwrap();
    let peer = n.a.id();
    let row = |key: String| n.hq.store().row(Table::PeerSummaries, &key).unwrap();
    let mark = || row(format!("{peer}.at"));
    let since = || n.hq.export_bundle(Some(peer)).unwrap().1.documents_changed;
    let everything = since();
    assert!(everything > 1, "nothing recorded yet: everything goes");
    // what an earlier build left: a summary and its digest
    n.hq.writer().put(Table::PeerSummaries, &peer.to_string(), &zstd::stream::encode_all(&[][..], 3).unwrap()).unwrap();
    n.hq.writer().put(Table::PeerSummaries, &format!("{peer}.sha256"), &[0; 32]).unwrap();
    n.hq.remember_peer_state(&peer, &began_now(&n.hq)).unwrap();
    let first = mark().unwrap();
    assert_eq!((first.len(), first[0]), (9, 1));
    assert_eq!((row(peer.to_string()), row(format!("{peer}.sha256"))), (None, None), "the mark replaces them");
    assert_eq!(since(), 0, "the peer holds everything");
    // nothing changed: nothing written (a row the write would remove stays)
    n.hq.writer().put(Table::PeerSummaries, &peer.to_string(), b"stays").unwrap();
    n.hq.remember_peer_state(&peer, &began_now(&n.hq)).unwrap();
    assert_eq!((row(peer.to_string()), mark()), (Some(b"stays".to_vec()), Some(first.clone())));
    n.hq.writer().remove(Table::PeerSummaries, &peer.to_string()).unwrap();
    // a record changed: exactly it goes, until the next completed sync
    n.hq.set("team:H", &[("name".into(), json!("H2"))]).unwrap();
    assert_eq!(since(), 1);
    n.hq.remember_peer_state(&peer, &began_now(&n.hq)).unwrap();
    assert_ne!(mark(), Some(first.clone()));
    assert_eq!(since(), 0);
    // an earlier build's summary beside the mark: held only where both say
    // so (this one says the peer holds nothing)
    n.hq.writer().put(Table::PeerSummaries, &peer.to_string(), &zstd::stream::encode_all(&[][..], 3).unwrap()).unwrap();
    assert_eq!(since(), everything);
    n.hq.writer().remove(Table::PeerSummaries, &peer.to_string()).unwrap();
    // a mark beyond this store's feed (a store put back from an older
    // copy): nothing is known
    let mut ahead = vec![1];
    ahead.extend_from_slice(&(n.hq.store().feed_position() + 1).to_be_bytes());
    n.hq.writer().put(Table::PeerSummaries, &format!("{peer}.at"), &ahead).unwrap();
    assert_eq!(since(), everything);
    // a mark that is not one is an error naming its row
    n.hq.writer().put(Table::PeerSummaries, &format!("{peer}.at"), b"junk").unwrap();
    let e = n.hq.export_bundle(Some(peer)).unwrap_err().to_string();
    assert!(e.contains(&format!("q:{peer}.at")), "{e}");
}

/// A session that began now and wrote nothing.
fn began_now(node: &Node) -> crate::peer_state::Exchanged {
    crate::peer_state::Exchanged { start: node.store().feed_written(), ..Default::default() }
}

#[test]
fn a_write_by_another_door_while_a_session_ran_is_not_taken_as_held() {
    let n = net();
    for t in ["H", "J", "K"] {
        n.hq.add("team", Some(t), json!({ "name": t })).unwrap();
    }
    let peer = n.a.id();
    let id = |r: &str| -> DocumentId { n.hq.get(r).unwrap().id.parse().unwrap() };
    let hash = |r: &str| n.hq.store().state_hash(&id(r)).unwrap().unwrap();
    let held = |r: &str| n.hq.known_to(&peer).unwrap().holds(&id(r), &hash(r));
    let set = |r: &str, v: &str| {
        n.hq.set(r, &[("name".into(), json!(v))]).unwrap();
    };
    n.hq.remember_peer_state(&peer, &began_now(&n.hq)).unwrap();
    assert!(held("team:H") && held("team:J") && held("team:K"));

    // a session begins; it writes H as it arrived, another door writes J,
    // then the session writes K
    let mut session = began_now(&n.hq);
    set("team:H", "H from the peer");
    session.wrote.insert(id("team:H"), hash("team:H"));
    set("team:J", "J by another door");
    set("team:K", "K from the peer");
    session.wrote.insert(id("team:K"), hash("team:K"));
    n.hq.remember_peer_state(&peer, &session).unwrap();
    assert!(held("team:H"), "the session's own write, before any other");
    assert!(!held("team:J"), "the session did not carry it");
    assert!(!held("team:K"), "after the other door's write: sent again rather than missed");
    assert_eq!(n.hq.export_bundle(Some(peer)).unwrap().1.documents_changed, 2);

    // a session that wrote all there is to vouch for: everything held
    let mut session = began_now(&n.hq);
    set("team:J", "J from the peer");
    session.wrote.insert(id("team:J"), hash("team:J"));
    n.hq.remember_peer_state(&peer, &session).unwrap();
    assert!(held("team:H") && held("team:J") && held("team:K"));

    // what the session wrote, written again by another door before the
    // session is recorded: not held
    let mut session = began_now(&n.hq);
    set("team:H", "H from the peer, again");
    session.wrote.insert(id("team:H"), hash("team:H"));
    set("team:H", "H by another door");
    n.hq.remember_peer_state(&peer, &session).unwrap();
    assert!(!held("team:H") && held("team:J") && held("team:K"));
}

/// A document as a session receives it: the document and its proofs.
fn as_received(bytes: &[u8]) -> (Automerge, std::collections::HashMap<[u8; 32], crate::attest::Proof>) {
    let (mut sigs, mut doc) = (Collector::default(), Automerge::new());
    let mut rest = bytes;
    while !rest.is_empty() {
        let len = Frame::body_len(rest[..4].try_into().unwrap()).unwrap();
        if let Some(Frame::DocFull(id, raw)) = sigs.take(Frame::decode(&rest[4..4 + len]).unwrap()) {
            doc = Automerge::load(&raw).unwrap();
            sigs.arrived(&id, || Ok(sigs::document_hashes(&doc))).unwrap();
        }
        rest = &rest[4 + len..];
    }
    (doc, sigs.by_hash().clone())
}

#[test]
fn a_frames_documents_are_written_together_and_what_waits_counts_for_what_follows() {
    use crate::sync::DocStore;
    let n = net();
    let ev = seed_with_a_in_gaem1(&n);
    let drafts = ["edan-d1", "edan-d2", "edan-d3"];
    let mut edits = vec![];
    for d in drafts {
        n.hq.add(
            "edan",
            Some(d),
            json!({"event_id": ev, "edan_type": "preliminar", "tallies": {"z1": {"GAEM-1": {"dead": 0}}}}),
        )
        .unwrap();
        // C holds the drafts, not the team that puts A in GAEM-1
        let id: DocumentId = n.hq.get(&format!("edan:{d}")).unwrap().id.parse().unwrap();
        n.c.merge_document(&id, &n.hq.document_bytes(&format!("edan:{d}")).unwrap()).unwrap();
        let (_, bytes) = rogue_edit(&n, &format!("edan:{d}"), |tx, data| {
            let t = tx.get(data, "tallies").unwrap().unwrap().1;
            let z = tx.get(&t, "z1").unwrap().unwrap().1;
            let g = tx.get(&z, "GAEM-1").unwrap().unwrap().1;
            tx.put(&g, "injured", 5).unwrap();
        });
        let (doc, sigs) = as_received(&bytes);
        edits.push((id, doc, sigs));
    }
    let team: DocumentId = n.hq.get("team:GAEM-1").unwrap().id.parse().unwrap();
    let (team_doc, team_sigs) = as_received(&n.hq.document_bytes("team:GAEM-1").unwrap());
    let injured =
        |d: &str| n.c.get(&format!("edan:{d}")).unwrap().fields["tallies"]["z1"]["GAEM-1"].get("injured").cloned();

    // one frame's job: the team, then A's edits of its team's tallies
    let mut store = n.c.sync_store("hq");
    assert_eq!(store.save(&team, &team_doc, None, &team_sigs).unwrap(), 0);
    assert!(n.c.get("team:GAEM-1").is_ok(), "a team is written before the next document is judged");
    for (id, doc, sigs) in &edits[..2] {
        assert_eq!(store.save(id, doc, None, sigs).unwrap(), 0, "the team counts before the frame ends");
    }
    assert_eq!((injured("edan-d1"), injured("edan-d2")), (None, None), "both wait for the frame's batch");
    // the same document again before the batch is written: the batch (both,
    // at once) goes first
    let (id, doc, sigs) = &edits[0];
    assert_eq!(store.save(id, doc, None, sigs).unwrap(), 0);
    assert_eq!((injured("edan-d1"), injured("edan-d2")), (Some(json!(5)), Some(json!(5))));
    // the session reading a waiting document back sees it
    let (id, doc, sigs) = &edits[2];
    assert_eq!(store.save(id, doc, None, sigs).unwrap(), 0);
    assert_eq!(injured("edan-d3"), None);
    assert_eq!(store.load(id).unwrap().unwrap().get_heads(), doc.get_heads());
    assert_eq!(injured("edan-d3"), Some(json!(5)));
    store.commit().unwrap();
    drop(store);
    assert!(reasons(&n.c).is_empty(), "{:?}", reasons(&n.c));
}

#[test]
fn status_counts_from_the_index_what_the_records_say_and_an_older_store_is_filled_on_open() {
    let n = net();
    n.hq.seed().unwrap();
    let before = n.hq.status().unwrap();
    assert!(before.records["practice"] > 1 && before.conflicts == 0, "{before:?}");
    n.hq.delete("practice:BP-MMS").unwrap();
    // a conflict: HQ and A set the same field of the same person concurrently
    setup_team(&n);
    let id: DocumentId = n.a.get("person:P").unwrap().id.parse().unwrap();
    n.hq.merge_document(&id, &n.a.document_bytes("person:P").unwrap()).unwrap();
    n.hq.set("person:P", &[("position".into(), json!("hq"))]).unwrap();
    n.a.set("person:P", &[("position".into(), json!("a"))]).unwrap();
    n.hq.merge_document(&id, &n.a.document_bytes("person:P").unwrap()).unwrap();
    let counted = n.hq.status().unwrap();
    assert_eq!(counted.records["practice"], before.records["practice"] - 1);
    assert_eq!(counted.records["person"], before.records.get("person").copied().unwrap_or(0) + 1);
    assert_eq!(counted.conflicts, 1);
    assert!(n.hq.store().tallied().unwrap());

    // counted from the index: a record whose view is gone still counts
    let p = n.hq.list("practice", &[]).unwrap()[0].clone();
    let pid: DocumentId = p.id.parse().unwrap();
    let view = n.hq.store().view(&pid).unwrap().unwrap();
    let v_key = [b"v:".as_slice(), pid.as_bytes()].concat();
    n.hq.writer().remove_raw(std::slice::from_ref(&v_key)).unwrap();
    assert_eq!(n.hq.status().unwrap().records["practice"], counted.records["practice"]);
    n.hq.writer().overwrite_raw(&v_key, &[[1u8].as_slice(), &view].concat()).unwrap();

    // a store from before the counts: empty index values, no marker —
    // counted from the views, and filled when the node opens
    for (_, k) in n.hq.store().index_entries().unwrap() {
        n.hq.writer().overwrite_raw(&k, &[]).unwrap();
    }
    n.hq.writer().remove_raw(&[b"m:tally".to_vec()]).unwrap();
    assert_eq!(n.hq.store().tally("practice").unwrap(), None);
    let from_views = n.hq.status().unwrap();
    assert_eq!((&from_views.records, from_views.conflicts), (&counted.records, counted.conflicts));
    let Net { _dir, hq, .. } = n;
    let hq = hq.reopen().unwrap();
    assert!(hq.store().tallied().unwrap());
    let practices = hq.store().tally("practice").unwrap().expect("every entry carries a tally again");
    assert_eq!(practices.live, counted.records["practice"]);
    let reopened = hq.status().unwrap();
    assert_eq!((&reopened.records, reopened.conflicts), (&counted.records, counted.conflicts));
}

#[test]
fn a_whole_document_that_does_not_load_is_in_the_audit_log() {
    use crate::sync::DocStore;
    let n = net();
    let id = DocumentId::random().unwrap();
    n.a.sync_store("peer-x").unreadable(&id, "it does not load as an automerge document: mismatching heads").unwrap();
    let audit = n.a.audit().unwrap();
    let r = audit.iter().find(|r| r.doc == id.to_string()).expect("an audit entry");
    assert_eq!((r.from.as_str(), r.change.as_str()), ("peer-x", ""));
    assert!(r.reason.contains("mismatching heads"), "{}", r.reason);
}
