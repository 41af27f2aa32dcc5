//! Default deny, through every door: what a new user tried with a field
//! tablet's token and a field laptop (deleting a team, a catalogue
//! practice, the emergency event; wiping or replacing another team's
//! counts; validating an EDAN by rewriting its log; writing HQ's fields and
//! amendments) is refused through the HTTP API, the official automerge-repo
//! client, a QUIC sync and a bundle — audited where it arrives, stored
//! nowhere, peers unchanged. And what the reading of the code pointed at:
//! a revoked HQ laptop enrols no one, a role only goes down, a serving
//! node survives a hostile workbook, homes and sockets are their owner's.

mod support;

use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, ROOT};
use serde_json::{json, Value};
use support::http::request;
use support::{assign_teams, network, node_test, tamper, Ayni, Tamper};

/// A record deleted: `live` gone, a tombstone written.
fn deletion() -> Tamper {
    Box::new(|tx, _| {
        tx.delete(ROOT, "live").unwrap();
        let t = tx.put_object(ROOT, "tombstone", ObjType::Map).unwrap();
        tx.put(&t, "at", "2026-12-06T10:00:00Z").unwrap();
        tx.put(&t, "by", "someone").unwrap();
    })
}

/// What a misused field laptop tries: (record, edit, what its refusal says).
/// Each EDAN attack has its own record (HQ's copies of edan-sama-1,
/// [`edan_copies`]): a laptop's changes to one record follow one another,
/// and a change built on a refused one is refused for that alone.
fn attacks() -> Vec<(&'static str, Tamper, &'static str)> {
    vec![
        ("team:GAEM-2", deletion(), "role: field may not delete team records"),
        ("practice:BP-MMS", deletion(), "role: field may not delete practice records"),
        ("event:ev-sama", deletion(), "role: field may not delete event records"),
        ("entity:e-tarija-gad", deletion(), "role: field may not delete entity records"),
        ("mission:ac-sama-after", deletion(), "role: field may not delete mission records"),
        (
            "edan:edan-t1",
            Box::new(|tx, data| {
                let t = tx.get(data, "tallies").unwrap().unwrap().1;
                tx.delete(&t, "z2").unwrap();
            }),
            "role: field may not remove tallies.z2 in edan records",
        ),
        (
            "edan:edan-t2",
            Box::new(|tx, data| {
                let t = tx.put_object(data, "tallies", ObjType::Map).unwrap();
                let z = tx.put_object(&t, "z1", ObjType::Map).unwrap();
                let g = tx.put_object(&z, "GAEM-1", ObjType::Map).unwrap();
                tx.put(&g, "dead", 0).unwrap();
            }),
            "role: field may not change tallies in edan records",
        ),
        (
            "edan:edan-t3",
            Box::new(|tx, _| {
                let log = tx.get(ROOT, "transitions").unwrap().unwrap().1;
                let last = tx.keys(&log).last().unwrap();
                let entry = tx.get(&log, last.as_str()).unwrap().unwrap().1;
                tx.put(&entry, "to", "validated").unwrap();
            }),
            "which never changes once written",
        ),
        (
            "edan:edan-t4",
            Box::new(|tx, data| {
                let a = tx.put_object(data, "amendments", ObjType::Map).unwrap();
                let e = tx.put_object(&a, "0123abcd", ObjType::Map).unwrap();
                tx.put(&e, "by", "x").unwrap();
                tx.put(&e, "status", "accepted").unwrap();
                tx.put_object(&e, "proposed", ObjType::Map).unwrap();
            }),
            "role: field may not add amendments.0123abcd",
        ),
        (
            "edan:edan-t5",
            Box::new(|tx, data| {
                let a = tx.put_object(data, "accepted", ObjType::Map).unwrap();
                let z = tx.put_object(&a, "z2", ObjType::Map).unwrap();
                tx.put(&z, "team", "GAEM-1").unwrap();
            }),
            "role: field may not add accepted.z2.team",
        ),
    ]
}

/// Every refusal in `node`'s audit: (author, reason).
fn refusals(node: &Ayni) -> Vec<(String, String)> {
    let audit = node.json(&["audit"]);
    audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["author"].as_str().unwrap().to_string(), r["reason"].as_str().unwrap().to_string()))
        .collect()
}

/// HQ writes five copies of the demo EDAN (`edan-t1`…`edan-t5`), submitted.
fn edan_copies(hq: &Ayni) {
    let sama = hq.json(&["get", "edan:edan-sama-1"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edan.jsonl");
    let lines: Vec<String> = (1..=5)
        .map(|i| {
            let mut f = sama["fields"].clone();
            f["key"] = json!(format!("edan-t{i}"));
            f.to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    hq.ok(&["import", "edan", file.to_str().unwrap()]);
    for i in 1..=5 {
        hq.ok(&["transition", &format!("edan:edan-t{i}"), "submitted"]);
    }
}

fn node_id(node: &Ayni) -> String {
    node.json(&["id"])["node_id"].as_str().unwrap().to_string()
}

#[test]
fn a_field_tablets_token_is_refused_through_the_http_api_with_the_rule_named_and_nothing_written() {
    let (hq, _) = network(0);
    hq.ok(&["seed"]);
    let token = hq.json(&["client", "add", "tablet", "--role", "field", "--team", "GAEM-1"])["token"]
        .as_str()
        .unwrap()
        .to_string();
    let s = hq.serve_with(&["--http", "127.0.0.1:0"]);
    let http = s.http.clone().unwrap();
    let before = hq.content();
    let call = |method: &str, path: &str, body: Option<Value>| {
        let body = body.map(|b| b.to_string());
        request(&http, method, path, Some(&token), body.as_deref().map(str::as_bytes))
    };
    let refused = |method: &str, path: &str, body: Option<Value>, says: &str| {
        let r = call(method, path, body);
        assert_eq!(r.status, 403, "{method} {path}: {}", String::from_utf8_lossy(&r.body));
        let e = &r.json()["error"];
        assert_eq!(e["kind"], "forbidden", "{e}");
        assert!(e["message"].as_str().unwrap().contains(says), "{method} {path}: {e}");
    };
    for (kind, key) in [
        ("team", "GAEM-2"),
        ("practice", "BP-MMS"),
        ("event", "ev-sama"),
        ("edan", "edan-sama-1"),
        ("mission", "ac-sama-after"),
        ("entity", "e-tarija-gad"),
    ] {
        refused("DELETE", &format!("/api/v1/records/{kind}/{key}"), None, &format!("may not delete {kind} records"));
    }
    let edan = "/api/v1/records/edan/edan-sama-1";
    refused("PATCH", edan, Some(json!({"unset": ["tallies.z2"]})), "may not remove tallies.z2");
    refused("PATCH", edan, Some(json!({"set": {"tallies": {"z1": {"GAEM-1": {"dead": 0}}}}})), "tallies");
    refused("PATCH", edan, Some(json!({"set": {"tallies.z2.GAEM-2.dead": 9}})), "tallies.z2.GAEM-2.dead");
    refused("PATCH", edan, Some(json!({"set": {"accepted.z2.team": "GAEM-1"}})), "accepted");
    refused("PATCH", edan, Some(json!({"set": {"sign_off.validated_by": "yo"}})), "sign_off");
    refused(
        "POST",
        "/api/v1/records/practice",
        Some(json!({"key": "BP-N", "code": "BP-N", "kind": "bpm", "title_es": "x"})),
        "may not create practice records",
    );
    assert_eq!(hq.content(), before, "nothing was written");
    // what a field team may do still works
    let ok = call("PATCH", edan, Some(json!({"set": {"tallies.z1.GAEM-1.injured": 4}})));
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(hq.json(&["get", "edan:edan-sama-1"])["fields"]["tallies"]["z1"]["GAEM-1"]["injured"], 4);
    let ok = call("POST", &format!("{edan}/transition"), Some(json!({"state": "consolidated"})));
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    // validation is HQ's
    refused(
        "POST",
        &format!("{edan}/transition"),
        Some(json!({"state": "validated"})),
        "role: field may not move edan records consolidated->validated",
    );
    assert_eq!(hq.json(&["get", "edan:edan-sama-1"])["status"], "consolidated");
}

#[test]
fn a_tampered_field_laptop_is_refused_by_sync_and_by_bundle_and_its_peers_stay_unchanged() {
    let (hq, field) = network(2);
    let (laptop, peer) = (&field[0], &field[1]);
    hq.ok(&["seed"]);
    edan_copies(&hq);
    assign_teams(&hq, &[laptop, peer]);
    let s = hq.serve();
    laptop.json(&["sync", &s.addr]);
    peer.json(&["sync", &s.addr]);
    // its own software refuses at once, writing nothing
    let err = laptop.fails(&["delete", "team:GAEM-2"], 2);
    assert!(err.contains("role: field may not delete team records"), "{err}");
    let err = laptop.fails(&["unset", "edan:edan-sama-1", "tallies.z2"], 2);
    assert!(err.contains("may not remove tallies.z2"), "{err}");
    let err = laptop.fails(&["transition", "edan:edan-sama-1", "validated"], 2);
    assert!(err.contains("role: field") || err.contains("allowed from"), "{err}");

    // past its software: changes signed with its key, straight into its store
    let (hq_before, peer_before) = (hq.content(), peer.content());
    let expected: Vec<&str> = attacks().iter().map(|a| a.2).collect();
    tamper(laptop, attacks().into_iter().map(|(r, e, _)| (r, e)).collect());
    let me = node_id(laptop);
    laptop.json(&["sync", &s.addr]);
    let at_hq = refusals(&hq);
    assert_eq!(at_hq.len(), expected.len(), "{at_hq:#?}");
    for says in &expected {
        assert!(
            at_hq.iter().any(|(who, why)| who == &me && why.contains(says)),
            "no refusal saying {says:?}: {at_hq:#?}"
        );
    }
    assert_eq!(hq.content(), hq_before, "HQ stored none of it");
    peer.json(&["sync", &s.addr]);
    assert_eq!(peer.content(), peer_before, "nor did a peer syncing with HQ");
    drop(s);

    // the same changes on a USB stick
    let dir = tempfile::tempdir().unwrap();
    let stick = dir.path().join("stick.aynib");
    laptop.ok(&["bundle", "export", stick.to_str().unwrap()]);
    let r = peer.json(&["bundle", "import", stick.to_str().unwrap()]);
    assert_eq!(r["changes_refused"], expected.len(), "{r}");
    let at_peer = refusals(peer);
    for says in &expected {
        assert!(at_peer.iter().any(|(who, why)| who == &me && why.contains(says)), "{says:?}: {at_peer:#?}");
    }
    assert_eq!(peer.content(), peer_before, "the peer stored none of it");
}

#[test]
fn a_field_client_of_the_official_automerge_repo_is_refused_and_audited_and_nothing_reaches_a_peer() {
    let (hq, field) = network(1);
    let peer = &field[0];
    hq.ok(&["seed"]);
    let field_client = hq.json(&["client", "add", "gaem-1-tablet", "--role", "field", "--team", "GAEM-1"]);
    let boss = hq.json(&["client", "add", "hq-panel", "--role", "hq"]);
    let url = |r: &str| hq.json(&["get", r])["url"].as_str().unwrap().to_string();
    let urls = json!({
        "team": url("team:GAEM-2"), "practice": url("practice:BP-MMS"), "event": url("event:ev-sama"),
        "edan": url("edan:edan-sama-1"),
    });
    let s = hq.serve_with(&["--http", "127.0.0.1:0"]);
    let http = s.http.clone().unwrap();
    peer.json(&["sync", &s.addr]);
    let env = [
        ("AYNI_FIELD_TOKEN", field_client["token"].as_str().unwrap().to_string()),
        ("AYNI_HQ_TOKEN", boss["token"].as_str().unwrap().to_string()),
        ("AYNI_URLS", urls.to_string()),
    ];
    let report = node_test("permits.test.mjs", &http, &env);
    assert!(report.contains("pass 1") && report.contains("skipped 0"), "{report}");
    // the last refusal lands as the client's last attempt ends
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while refusals(&hq).len() < 8 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let at_hq = refusals(&hq);
    for says in [
        "may not delete team records",
        "may not delete practice records",
        "may not delete event records",
        "may not remove tallies.z2 in edan records",
        "may not change tallies in edan records",
        "may not add amendments.0123abcd",
        "may not add accepted.z2.team",
        "which never changes once written",
    ] {
        assert!(
            at_hq.iter().any(|(who, why)| who.starts_with("client gaem-1-tablet via") && why.contains(says)),
            "no refusal saying {says:?}: {at_hq:#?}"
        );
    }
    assert_eq!(at_hq.len(), 8, "{at_hq:#?}");
    // the two moves it may make went through; the rewrite of the last did not
    let edan = hq.json(&["get", "edan:edan-sama-1"]);
    assert_eq!(edan["status"], "draft", "{edan}");
    assert!(edan["fields"]["tallies"]["z2"]["GAEM-2"].is_object());
    assert_eq!(hq.json(&["list", "team"]).as_array().unwrap().len(), 2, "the team is there");
    peer.json(&["sync", &s.addr]);
    assert_eq!(peer.json(&["get", "edan:edan-sama-1"])["status"], "draft");
    assert_eq!(peer.json(&["audit"]), json!([]), "nothing refused ever reached the peer");
}

#[test]
fn a_revoked_hq_laptop_enrols_no_one_and_a_role_only_goes_down() {
    let hq = Ayni::new("hq");
    hq.ok(&["network", "create", "--name", "gamlp"]);
    hq.ok(&["seed"]);
    let away = Ayni::new("hq-2");
    away.ok(&["join", hq.ok(&["enroll", &node_id(&away), "--role", "hq"]).trim()]);
    let s = hq.serve();
    away.json(&["sync", &s.addr]);
    // HQ revokes the laptop while it is away; it enrols a fresh node as hq
    hq.ok(&["revoke", &node_id(&away), "--reason", "stolen"]);
    let fresh = Ayni::new("fresh");
    fresh.ok(&["join", away.ok(&["enroll", &node_id(&fresh), "--role", "hq"]).trim()]);
    let out = fresh.run(&["sync", &s.addr]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the fresh node synced");
    assert!(err.contains("signed by an HQ node that was revoked") || err.contains("refused"), "{err}");
    assert!(!hq.ok(&["network", "show"]).contains(&node_id(&fresh)));
    // its records, carried by bundle, are refused too
    fresh.add(&["person", "--key", "intruso", "--set", "full_name=Intruso"]);
    let dir = tempfile::tempdir().unwrap();
    let stick = dir.path().join("fresh.aynib");
    fresh.ok(&["bundle", "export", stick.to_str().unwrap()]);
    hq.json(&["bundle", "import", stick.to_str().unwrap()]);
    assert!(hq.run(&["get", "person:intruso"]).status.code() != Some(0), "the intruder's record was stored");
    assert!(refusals(&hq).iter().any(|(_, why)| why.contains("is not an enrolled member")), "{:?}", refusals(&hq));

    // a laptop enrolled as hq, lowered to field, cannot be raised again
    let laptop = Ayni::new("laptop");
    let id = node_id(&laptop);
    laptop.ok(&["join", hq.ok(&["enroll", &id, "--role", "hq"]).trim()]);
    laptop.json(&["sync", &s.addr]);
    hq.ok(&["enroll", &id, "--role", "field"]);
    let err = hq.fails(&["enroll", &id, "--role", "hq"], 2);
    assert!(err.contains("never raised"), "{err}");
    // offline, it still believes it is hq; what it does as hq is refused
    laptop.ok(&["delete", "team:GAEM-2"]);
    laptop.json(&["sync", &s.addr]);
    assert!(hq.json(&["get", "team:GAEM-2"])["deleted"] == false);
    assert!(refusals(&hq).iter().any(|(who, why)| who == &id && why.contains("field may not delete team records")));
    // and now it knows
    let err = laptop.fails(&["delete", "team:GAEM-1"], 2);
    assert!(err.contains("role: field"), "{err}");
}

#[test]
fn a_hostile_workbook_leaves_the_serving_node_unharmed_and_homes_are_their_owners() {
    use std::os::unix::fs::PermissionsExt;
    let hq = Ayni::new("hq");
    hq.ok(&["network", "create", "--name", "gamlp"]);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&hq.home()), 0o700, "a new home is its owner's alone");
    std::fs::set_permissions(hq.home(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = hq.serve();
    assert_eq!(mode(&hq.home()), 0o700, "serving makes it so before the socket exists");
    assert_eq!(mode(&hq.home().join("control.sock")), 0o600);
    // a workbook of two cells, the second at XFD1048576
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("bomb.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let sheet = wb.add_worksheet();
    sheet.write_string(0, 0, "_uuid").unwrap();
    sheet.write_string(1_048_575, 16_383, "x").unwrap();
    wb.save(&book).unwrap();
    assert!(std::fs::metadata(&book).unwrap().len() < 16 * 1024);
    let err = hq.fails(&["import", "kobo", book.to_str().unwrap()], 2);
    assert!(err.contains("beyond") && err.contains("not a submissions export"), "{err}");
    assert!(hq.json(&["status"])["serving"].is_object(), "the node still serves");
    assert_eq!(hq.json(&["list", "edan"]), json!([]), "nothing imported");
    drop(s);
}

#[test]
fn the_permits_are_printed_for_people_and_scripts() {
    let out = Ayni::empty();
    let table = out.json(&["roles", "edan"]);
    let field = &table["roles"]["field"]["kinds"]["edan"];
    assert_eq!(field["fields"]["tallies.*.{team}"], json!(["set", "remove"]));
    assert_eq!(field["delete"], false);
    assert_eq!(table["roles"]["hq"]["kinds"]["edan"]["delete"], true);
    assert_eq!(table["roles"]["read"]["kinds"]["edan"]["fields"], json!({}));
    assert_eq!(table["entries"]["edan"], json!(["amendments.*"]));
    let text = out.ok(&["roles"]);
    assert!(text.contains("field:") && text.contains("tallies.*.{team}: set, remove"), "{text}");
    assert!(text.contains("everything not listed is refused"));
    let err = out.fails(&["roles", "weapon"], 2);
    assert!(err.contains("weapon"), "{err}");
}
