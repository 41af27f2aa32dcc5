//! Signed changes: a third node refuses unsigned, forged and stranger
//! changes on receipt, logs them for `audit`, and keeps everything else.

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ReadDoc, ROOT};
use ayni_node::identity::SecretKey;
use ayni_node::network::Role;
use ayni_node::sync::wire::Frame;
use ayni_node::{DocumentId, Node};
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
    let a_key = SecretKey::read(&a.home().join("node.key")).unwrap();
    Net { _dir: dir, hq, a, c, a_key }
}

/// The document of `team:T` as A holds it, plus one extra change made with
/// `actor` and signed (or not) with `signer`.
fn with_extra_change(n: &Net, actor: &[u8], signer: Option<&SecretKey>, value: &str) -> (DocumentId, Vec<u8>) {
    let id: DocumentId = n.a.get("team:T").unwrap().id.parse().unwrap();
    let mut sigs = vec![];
    let mut doc = Automerge::new();
    let mut rest = &n.a.document_bytes("team:T").unwrap()[..];
    while !rest.is_empty() {
        let len = Frame::body_len(rest[..4].try_into().unwrap()).unwrap();
        match Frame::decode(&rest[4..4 + len]).unwrap() {
            Frame::Sigs(_, s) => sigs = s,
            Frame::DocFull(_, raw) => doc = Automerge::load(&raw).unwrap(),
            _ => {}
        }
        rest = &rest[4 + len..];
    }
    let mut doc = doc.with_actor(ActorId::from(actor));
    let data = match doc.get(ROOT, "data").unwrap() {
        Some((_, obj)) => obj,
        None => panic!("no data"),
    };
    let mut tx = doc.transaction();
    tx.put(&data, "name", value).unwrap();
    tx.put(ROOT, "live", format!("token-{value}")).unwrap();
    let hash = tx.commit().0.unwrap();
    if let Some(k) = signer {
        sigs.push((hash.0, k.sign(&hash.0)));
    }
    let mut raw = vec![];
    for c in doc.get_changes(&[]) {
        raw.extend_from_slice(c.raw_bytes());
    }
    let mut out = vec![];
    Frame::Sigs(id, sigs).encode(&mut out);
    Frame::DocFull(id, raw).encode(&mut out);
    (id, out)
}

fn setup_team(n: &Net) {
    n.a.add("team", Some("T"), json!({"name": "T"})).unwrap();
    n.a.set("team:T", &[("node_ids".into(), json!(["x"]))]).unwrap();
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
        assert_eq!(rec.fields["name"], "T", "{name}");
        assert_eq!(rec.fields["node_ids"], json!(["x"]), "{name}");
        let audit = n.c.audit().unwrap();
        let last = audit.iter().find(|r| r.reason.contains(reason)).unwrap_or_else(|| panic!("{name}: {audit:?}"));
        assert_eq!(last.doc, id.to_string());
    }
    // a genuine change by A is admitted by C
    let (id, bytes) = with_extra_change(&n, &a_actor, Some(&n.a_key), "genuine");
    assert_eq!(n.c.merge_document(&id, &bytes).unwrap().fields["name"], "genuine");
    assert_eq!(n.c.check().unwrap().problems.len(), 0);
}

#[test]
fn a_bundle_with_a_forged_change_keeps_the_rest() {
    let n = net();
    setup_team(&n);
    n.hq.add("team", Some("H"), json!({"name": "H"})).unwrap();
    // C imports HQ's bundle (signed changes): everything admitted
    let (bundle, _) = n.hq.export_bundle(None).unwrap();
    let r = n.c.import_bundle(&bundle).unwrap();
    assert_eq!(r.changes_refused, 0);
    assert_eq!(n.c.list("team", &[]).unwrap().len(), 1);
    // a relayed document whose history holds a forged change: the genuine
    // part is admitted, the forged change and nothing else refused
    let mallory = SecretKey::generate().unwrap();
    let (id, bytes) = with_extra_change(&n, &n.a_key.public().to_bytes(), Some(&mallory), "forged");
    let rec = n.c.merge_document(&id, &bytes).unwrap();
    assert_eq!(rec.fields["name"], "T");
    assert_eq!(n.c.audit().unwrap().len(), 1);
}

#[test]
fn changes_a_revoked_node_signs_after_its_revocation_are_refused_and_earlier_ones_kept() {
    let n = net();
    setup_team(&n);
    // HQ holds A's team document (two changes by A)
    let id: DocumentId = n.a.get("team:T").unwrap().id.parse().unwrap();
    n.hq.merge_document(&id, &n.a.document_bytes("team:T").unwrap()).unwrap();
    let r = n.hq.revoke(n.a.id(), "lost").unwrap();
    assert_eq!(r.payload.kept.get(&id.to_string()), Some(&2));
    // C learns of the revocation (a sync or bundle would carry it)
    assert!(n.c.accept_member(&r.bytes).unwrap());
    // A keeps writing: its earlier changes are kept, the new one refused
    n.a.set("team:T", &[("name".into(), json!("after revocation"))]).unwrap();
    let rec = n.c.merge_document(&id, &n.a.document_bytes("team:T").unwrap()).unwrap();
    assert_eq!(rec.fields["name"], "T");
    assert_eq!(rec.fields["node_ids"], json!(["x"]));
    let audit = n.c.audit().unwrap();
    assert!(audit.iter().any(|a| a.reason.contains("was revoked")), "{audit:?}");
    // only HQ may revoke
    assert!(n.c.revoke(n.hq.id(), "coup").unwrap_err().to_string().contains("only an hq node"));
}
