//! DOMAIN.md §3's merge rules, each proven by two replicas that edit the
//! same record concurrently and then merge through the library.

use crate::node::Node;
use crate::{DocumentId, Record};
use serde_json::{json, Value};

struct Pair {
    _dir: tempfile::TempDir,
    hq: Node,
    field: Node,
}

/// HQ and a field laptop, both holding the demo EDAN, missions, practices
/// and teams.
fn pair() -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let hq = Node::init(&dir.path().join("hq"), "hq").unwrap();
    let field = Node::init(&dir.path().join("field"), "gaem-1").unwrap();
    // both enrolled in one network, each knowing the other's membership:
    // merging admits only signed changes of members
    let (_, hq_membership) = hq.create_network("gamlp").unwrap();
    let token = hq.enroll(field.id(), crate::network::Role::Hq, "gaem-1", None).unwrap().to_token();
    field.join(&token).unwrap();
    field.accept_member(&hq_membership.bytes).unwrap();
    hq.seed().unwrap();
    let p = Pair { _dir: dir, hq, field };
    for kind in ["event", "edan", "mission", "practice", "team"] {
        for r in p.hq.list(kind, &[]).unwrap() {
            p.to_field(&r.id);
        }
    }
    p
}

impl Pair {
    fn to_field(&self, id: &str) -> Record {
        let doc: DocumentId = id.parse().unwrap();
        self.field.merge_document(&doc, &self.hq.document_bytes(id).unwrap()).unwrap()
    }
    fn to_hq(&self, id: &str) -> Record {
        let doc: DocumentId = id.parse().unwrap();
        self.hq.merge_document(&doc, &self.field.document_bytes(id).unwrap()).unwrap()
    }
    /// Both directions; returns (hq's view, field's view), which must agree.
    fn sync(&self, reference: &str) -> (Record, Record) {
        let id = self.hq.get(reference).unwrap().id;
        let a = self.to_hq(&id);
        let b = self.to_field(&id);
        assert_eq!(a.heads, b.heads, "replicas did not converge");
        assert_eq!(a.fields, b.fields);
        assert_eq!(a.status, b.status);
        (a, b)
    }
}

fn set(node: &Node, r: &str, path: &str, v: Value) -> Record {
    node.set(r, &[(path.to_string(), v)]).unwrap()
}

#[test]
fn scalars_converge_losing_values_stay_visible_and_resolve_clears_everywhere() {
    let p = pair();
    let m = "mission:ac-sama-after";
    set(&p.hq, m, "participants_count", json!(12));
    set(&p.field, m, "participants_count", json!(14));
    let (a, _) = p.sync(m);
    let winner = a.fields["participants_count"].clone();
    for node in [&p.hq, &p.field] {
        let c = node.conflicts().unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].key, "ac-sama-after");
        assert_eq!(c[0].fields[0].path, "participants_count");
        let mut vals = c[0].fields[0].values.clone();
        assert_eq!(vals[0], winner, "the shown value comes first");
        vals.sort_by_key(|v| v.as_i64());
        assert_eq!(vals, vec![json!(12), json!(14)]);
    }
    p.hq.resolve_conflict(m, "participants_count", json!(14)).unwrap();
    let (a, _) = p.sync(m);
    assert_eq!(a.fields["participants_count"], 14);
    assert!(p.hq.conflicts().unwrap().is_empty());
    assert!(p.field.conflicts().unwrap().is_empty());
}

#[test]
fn set_like_lists_keep_every_concurrent_addition() {
    let p = pair();
    let e = "edan:edan-sama-1";
    set(
        &p.hq,
        e,
        "needs.+",
        json!({"sector":"albergue_nfi","item":"frazada","quantity":40,"unit":"unidades","priority":"alta","identified_by_team":"GAEM-2"}),
    );
    set(
        &p.field,
        e,
        "needs.+",
        json!({"sector":"albergue_nfi","item":"frazada","quantity":60,"unit":"unidades","priority":"alta","identified_by_team":"GAEM-1"}),
    );
    let m = "mission:ac-sama-after";
    set(&p.hq, m, "log.+", json!({"text": "HQ: camión cisterna enviado"}));
    set(&p.field, m, "log.+", json!({"text": "GAEM-1: zona z2 recorrida"}));
    set(&p.field, m, "results.+", json!({"kind": "zones_identified", "description": "z3 identificada"}));
    // a list of references: both additions survive
    let bp_rec = p.hq.get("practice:BP-REC").unwrap().id;
    let bp_ie = p.hq.get("practice:BP-IE").unwrap().id;
    let gird = p.hq.get("practice:BP-GIRD").unwrap().id;
    set(&p.hq, m, "practice_ids", json!([gird, bp_rec]));
    set(&p.field, m, "practice_ids", json!([gird, bp_ie]));
    let (edan, _) = p.sync(e);
    let (mission, _) = p.sync(m);
    let blankets: Vec<i64> = edan.fields["needs"]
        .as_object()
        .unwrap()
        .values()
        .filter(|n| n["item"] == "frazada")
        .map(|n| n["quantity"].as_i64().unwrap())
        .collect();
    assert_eq!(blankets.len(), 3, "the seed's 60, HQ's 40 and GAEM-1's 60 are three lines");
    assert_eq!(edan.fields["needs"].as_object().unwrap().len(), 7);
    let log: Vec<&str> =
        mission.fields["log"].as_object().unwrap().values().map(|e| e["text"].as_str().unwrap()).collect();
    assert_eq!(log.len(), 2);
    assert_eq!(mission.fields["results"].as_object().unwrap().len(), 5);
    let mut practices: Vec<String> = serde_json::from_value(mission.fields["practice_ids"].clone()).unwrap();
    practices.sort();
    let mut want = vec![gird, bp_rec, bp_ie];
    want.sort();
    assert_eq!(practices, want);
    assert!(p.hq.conflicts().unwrap().is_empty());
}

#[test]
fn edan_counts_are_per_zone_per_team_never_summed_never_last_writer_wins() {
    let p = pair();
    let e = "edan:edan-sama-1";
    // both teams count a zone nobody had counted yet, offline
    set(&p.hq, e, "tallies.z3.GAEM-2.families_affected", json!(8));
    set(&p.field, e, "tallies.z3.GAEM-1.families_affected", json!(11));
    set(&p.field, e, "tallies.z3.GAEM-1.method", json!("door_to_door"));
    let (edan, _) = p.sync(e);
    assert_eq!(edan.fields["tallies"]["z3"]["GAEM-1"]["families_affected"], 11);
    assert_eq!(edan.fields["tallies"]["z3"]["GAEM-2"]["families_affected"], 8);
    assert!(p.hq.conflicts().unwrap().is_empty(), "two teams' keys never conflict");
    let report = p.hq.edan_report(e).unwrap();
    assert_eq!(report.pending_zones, vec!["z2", "z3"]);
    assert_eq!(report.totals["families_affected"], 34.0, "undecided zones are not summed");
    // HQ accepts one observation per zone
    set(&p.hq, e, "accepted.z2", json!({"team": "GAEM-2", "reason": "door to door"}));
    set(&p.hq, e, "accepted.z3.team", json!("GAEM-1"));
    p.sync(e);
    let report = p.field.edan_report(e).unwrap();
    assert!(report.pending_zones.is_empty());
    assert_eq!(report.totals["families_affected"], 34.0 + 21.0 + 11.0);
}

#[test]
fn status_is_a_fold_a_stale_replica_cannot_move_back_and_incompatible_moves_conflict() {
    let p = pair();
    let m = "mission:ac-pasantia-2017";
    p.hq.transition(m, "authorised", None).unwrap();
    p.hq.transition(m, "in_progress", None).unwrap();
    p.sync(m);
    // HQ completes and closes; the stale field laptop suspends and resumes
    p.hq.transition(m, "completed", None).unwrap();
    set(&p.hq, m, "results.+", json!({"kind": "event_held", "description": "pasantía realizada"}));
    p.hq.transition(m, "results_recorded", None).unwrap();
    p.hq.transition(m, "closed", None).unwrap();
    p.field.transition(m, "suspended", Some("sin viáticos")).unwrap();
    p.field.transition(m, "in_progress", None).unwrap();
    let (a, _) = p.sync(m);
    assert_eq!(a.status.as_deref(), Some("closed"));
    assert!(p.hq.conflicts().unwrap().is_empty());

    // cancelled vs completed, concurrently: shown as a conflict on both
    let fresh = p.hq.add("mission", Some("ac-test"), json!({"type": "training", "title": "Curso"})).unwrap();
    p.hq.transition(&fresh.id, "authorised", None).unwrap();
    p.hq.transition(&fresh.id, "in_progress", None).unwrap();
    p.to_field(&fresh.id);
    p.hq.transition(&fresh.id, "completed", None).unwrap();
    p.field.transition(&fresh.id, "cancelled", Some("evento suspendido")).unwrap();
    p.sync(&fresh.id);
    for node in [&p.hq, &p.field] {
        let c = node.conflicts().unwrap();
        assert_eq!(c.len(), 1, "{c:?}");
        let s = &c[0].status[0];
        let mut both = [s.current.as_str(), s.wanted.as_str()];
        both.sort();
        assert_eq!(both, ["cancelled", "completed"]);
    }
    p.hq.resolve_conflict(&fresh.id, "status", json!("completed")).unwrap();
    let (a, _) = p.sync(&fresh.id);
    assert_eq!(a.status.as_deref(), Some("completed"));
    assert!(p.field.conflicts().unwrap().is_empty());
}

#[test]
fn delete_is_a_tombstone_that_syncs_and_a_concurrent_edit_keeps_the_record_flagged() {
    let p = pair();
    // a plain delete reaches the other replica
    let t = "team:GAEM-2";
    p.hq.delete(t).unwrap();
    let (a, b) = p.sync(t);
    assert!(a.deleted && b.deleted);
    assert!(p.field.list("team", &[]).unwrap().iter().all(|r| r.key != "GAEM-2"));
    // delete on HQ while the field edits: the record stays, flagged
    let t = "team:GAEM-1";
    p.hq.delete(t).unwrap();
    set(&p.field, t, "node_ids", json!(["gaem-1-laptop"]));
    let (a, _) = p.sync(t);
    assert!(!a.deleted);
    assert_eq!(a.flags, vec!["deleted_while_edited"]);
    assert_eq!(a.fields["node_ids"], json!(["gaem-1-laptop"]));
    let c = p.hq.conflicts().unwrap();
    assert!(c.iter().any(|c| c.key == "GAEM-1" && c.deleted_while_edited));
    // HQ keeps it
    p.hq.resolve_conflict(t, "deleted", json!(false)).unwrap();
    let (a, _) = p.sync(t);
    assert!(!a.deleted && a.flags.is_empty());
    assert!(p.field.conflicts().unwrap().is_empty());
}

#[test]
fn merging_is_idempotent_and_order_free() {
    let p = pair();
    let e = "edan:edan-sama-1";
    set(&p.field, e, "tallies.z1.GAEM-1.injured", json!(3));
    let id = p.hq.get(e).unwrap().id;
    let bytes = p.field.document_bytes(&id).unwrap();
    let doc: DocumentId = id.parse().unwrap();
    let once = p.hq.merge_document(&doc, &bytes).unwrap();
    let twice = p.hq.merge_document(&doc, &bytes).unwrap();
    assert_eq!(once.heads, twice.heads);
    assert_eq!(p.hq.history(e).unwrap().len(), p.field.history(e).unwrap().len());
    assert_eq!(p.hq.check().unwrap().problems.len(), 0);
}

#[test]
fn a_change_trailing_a_document_without_its_dependencies_is_not_stored_with_it() {
    use crate::sync::wire::Frame;
    use automerge::transaction::Transactable;
    let p = pair();
    let r = p.hq.add("person", Some("p-orphan"), json!({"full_name": "Ana Quispe"})).unwrap();
    let doc: DocumentId = r.id.parse().unwrap();
    // a change whose dependency is nowhere: automerge keeps it aside when it loads
    let mut other = automerge::Automerge::new();
    for i in 0..2 {
        let mut tx = other.transaction();
        tx.put(automerge::ROOT, "n", i).unwrap();
        tx.commit();
    }
    let stray = other.get_changes(&[])[1].raw_bytes().to_vec();
    let mut tampered = vec![];
    let mut rest = &p.hq.document_bytes(&r.id).unwrap()[..];
    while !rest.is_empty() {
        let len = Frame::body_len(rest[..4].try_into().unwrap()).unwrap();
        match Frame::decode(&rest[4..4 + len]).unwrap() {
            Frame::DocFull(id, raw) => Frame::DocFull(id, [raw, stray.clone()].concat()).encode(&mut tampered),
            f => f.encode(&mut tampered),
        }
        rest = &rest[4 + len..];
    }
    let got = p.field.merge_document(&doc, &tampered).unwrap();
    assert_eq!(got.heads, r.heads);
    assert_eq!(p.field.check().unwrap().problems.len(), 0, "{:?}", p.field.check().unwrap().problems);
    assert_eq!(p.field.get(&r.id).unwrap().heads, r.heads);
}
