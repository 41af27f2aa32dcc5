//! HQ's desk in the browser (`tests/js/hq.test.mjs`, Debian's Chromium
//! through playwright-core, at 1280 px and 360 px) against a serving HQ
//! node: the decisions only HQ takes, the audit, field devices and their QR
//! codes, the live feed; and a `field` and a `read` client kept out of all
//! of it, in the app and by the API.

mod support;

use automerge::transaction::Transactable;
use automerge::ReadDoc;
use support::{assign_teams, network, node_test, tamper, Tamper};

#[test]
fn hq_decides_enrols_and_watches_from_the_browser() {
    let chromium = support::chromium();
    let (hq, peers) = network(1);
    let laptop = &peers[0];
    hq.ok(&["seed"]);
    assign_teams(&hq, &[laptop]); // field-0 counts for GAEM-1
                                  // waiting for HQ: edan-sama-1 consolidated (and its z2 counted twice)
    hq.ok(&["transition", "edan:edan-sama-1", "consolidated"]);
    hq.add(&[
        "edan",
        "--key",
        "edan-amend",
        "--set",
        "event_id=ev-sama",
        "--set",
        "edan_type=preliminar",
        "--set",
        "title=EDAN a enmendar",
    ]);
    hq.ok(&["set", "edan:edan-amend", "zones.z1.name=Zona 1", "tallies.z1.GAEM-1.families_affected=5"]);
    for state in ["submitted", "consolidated"] {
        hq.ok(&["transition", "edan:edan-amend", state]);
    }
    let s = hq.serve();
    laptop.json(&["sync", &s.addr]);
    drop(s);
    // HQ validates; the laptop, not knowing it, corrects the figures and the
    // title, as HQ retitles it: an amendment proposal and a concurrent value
    hq.ok(&["transition", "edan:edan-amend", "validated"]);
    hq.ok(&["set", "edan:edan-amend", "title=Título de HQ"]);
    laptop.ok(&["set", "edan:edan-amend", "title=Título del campo"]);
    laptop.ok(&["set", "edan:edan-amend", "tallies.z1.GAEM-1.families_affected=6"]);
    // and a tampered laptop writes another team's counts: refused at HQ
    let other_team: Tamper = Box::new(|tx, data| {
        let t = tx.get(data, "tallies").unwrap().unwrap().1;
        let z = tx.get(&t, "z2").unwrap().unwrap().1;
        let g = tx.get(&z, "GAEM-2").unwrap().unwrap().1;
        tx.put(&g, "dead", 9).unwrap();
    });
    tamper(laptop, vec![("edan:edan-sama-1", other_team)]);

    let token = |args: &[&str]| {
        let mut all = vec!["client", "add"];
        all.extend_from_slice(args);
        hq.json(&all)["token"].as_str().unwrap().to_string()
    };
    let mut env = vec![
        ("AYNI_HQ_TOKEN", token(&["hq-panel", "--role", "hq"])),
        ("AYNI_FIELD_TOKEN", token(&["tablet-1", "--role", "field", "--team", "GAEM-2"])),
        ("AYNI_READ_TOKEN", token(&["socio", "--role", "read", "--entity", "e-tarija-gad"])),
        ("AYNI_CHROMIUM", chromium),
    ];
    if let Ok(dir) = std::env::var("AYNI_SCREENSHOTS") {
        env.push(("AYNI_SCREENSHOTS", dir));
    }
    // a laptop HQ will enrol from the browser
    let newcomer = support::Ayni::new("gaem-3-laptop");
    env.push(("AYNI_NEW_NODE_ID", newcomer.json(&["id"])["node_id"].as_str().unwrap().to_string()));
    env.push(("AYNI_AMEND_URL", hq.json(&["get", "edan:edan-amend"])["url"].as_str().unwrap().to_string()));
    let s = hq.serve_with(&["--http", "127.0.0.1:0"]);
    laptop.json(&["sync", &s.addr]);
    let audit = hq.json(&["audit"]);
    assert!(audit.to_string().contains("GAEM-2"), "the tampered change is refused: {audit}");
    let conflicts = hq.ok(&["conflicts"]);
    let audit_all = hq.ok(&["audit"]);
    assert!(conflicts.contains("title"), "{conflicts}\n{audit_all}\n{}", hq.ok(&["get", "edan:edan-amend"]));
    let report = node_test("hq.test.mjs", s.http.as_deref().unwrap(), &env);
    assert!(report.contains("pass 7") && report.contains("skipped 0"), "{report}");

    // what HQ decided in the browser is on the node, made for hq-panel
    let sama = hq.json(&["get", "edan:edan-sama-1"]);
    assert_eq!(sama["status"], "validated");
    assert_eq!(sama["fields"]["accepted"]["z2"]["team"], "GAEM-2");
    let history = hq.json(&["history", "edan:edan-sama-1"]);
    let by_panel = |e: &&serde_json::Value| e["message"].as_str().unwrap().ends_with("(client hq-panel)");
    assert_eq!(history.as_array().unwrap().iter().filter(by_panel).count(), 2, "accepted and validated: {history}");
    let clients = hq.json(&["client", "list"]);
    let nueva =
        clients.as_array().unwrap().iter().find(|c| c["name"] == "tablet-nueva").expect("issued from the browser");
    assert!(nueva["revoked_at"].is_string(), "{nueva}");
    // the laptop enrolled from the browser joins with the token shown there
    let join = report.lines().find_map(|l| l.trim().strip_prefix("ENROL ")).expect("the enrolment token").to_string();
    newcomer.ok(&["join", &join]);
    newcomer.json(&["sync", &s.addr]);
    assert_eq!(newcomer.json(&["get", "edan:edan-sama-1"])["status"], "validated");
    // and it travels: the laptop syncs HQ's decisions like any change
    laptop.json(&["sync", &s.addr]);
    assert_eq!(laptop.json(&["get", "edan:edan-sama-1"])["status"], "validated");
    s.stop();
}
