//! automerge-repo clients: the official JavaScript packages (pinned in
//! `tests/js/package-lock.json`, installed by `npm ci` in `scripts/test`)
//! sync records with a serving node over its WebSocket, `node --test`
//! driving them (`tests/js/repo.test.mjs`).

mod support;

use std::process::Command;

use support::network;

#[test]
fn the_official_javascript_client_reads_and_writes_what_it_may_and_its_writes_travel_attested() {
    let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        js.join("node_modules/@automerge/automerge-repo").exists(),
        "the JavaScript client is not installed: run `npm ci` in {} (scripts/test does)",
        js.display()
    );
    let (hq, peers) = network(1);
    let peer = &peers[0];
    hq.ok(&["seed"]);
    let field = hq.json(&["client", "add", "gaem-1-tablet", "--role", "field", "--team", "GAEM-1"]);
    let boss = hq.json(&["client", "add", "hq-panel", "--role", "hq"]);
    let lost = hq.json(&["client", "add", "lost-phone", "--role", "field"]);
    let partner = hq.json(&["client", "add", "trinidad", "--role", "read", "--entity", "e-trinidad"]);
    let practice = hq.json(&["get", "practice:BP-MMS"])["url"].as_str().unwrap().to_string();
    hq.ok(&["client", "revoke", "lost-phone"]);
    let record = hq.json(&["get", "edan:edan-sama-1"]);
    let url = record["url"].as_str().expect("a record shows its automerge URL").to_string();
    assert_eq!(url, format!("automerge:{}", record["id"].as_str().unwrap()));
    let heads_before = record["heads"].clone();

    let s = hq.serve_with(&["--http", "127.0.0.1:0"]);
    let http = s.http.clone().unwrap();
    let out = Command::new("node")
        .args(["--test", "--test-force-exit", "--test-timeout=60000", "--test-reporter=spec", "repo.test.mjs"])
        .current_dir(&js)
        .env("AYNI_HTTP", &http)
        .env("AYNI_FIELD_TOKEN", field["token"].as_str().unwrap())
        .env("AYNI_HQ_TOKEN", boss["token"].as_str().unwrap())
        .env("AYNI_REVOKED_TOKEN", lost["token"].as_str().unwrap())
        .env("AYNI_PARTNER_TOKEN", partner["token"].as_str().unwrap())
        .env("AYNI_PRACTICE_URL", &practice)
        .env("AYNI_PRACTICE_KEY", "BP-MMS")
        .env("AYNI_RECORD_URL", &url)
        .env("AYNI_RECORD_KEY", "edan-sama-1")
        .env("AYNI_RECORD_FIELDS", record["fields"].to_string())
        .output()
        .expect("run node (Node.js 20 is on the machine)");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the JavaScript client's tests failed:\n{report}");
    assert!(report.contains("pass 5") && report.contains("skipped 0"), "{report}");

    // what reached the node: HQ's edit through the API and the client's own
    // tallies, attributed to the client and its gateway
    let hq_id = hq.json(&["id"])["node_id"].as_str().unwrap().to_string();
    let after = hq.json(&["get", "edan:edan-sama-1"]);
    assert!(after["fields"]["title"].as_str().unwrap().ends_with("(revisada)"), "{after}");
    assert_eq!(after["fields"]["tallies"]["z1"]["GAEM-1"]["injured"], 5, "{after}");
    assert!(after["fields"]["tallies"]["z1"].get("GAEM-2").is_none(), "{after}");
    assert_ne!(after["heads"], heads_before);
    let by_client = |node: &support::Ayni| -> Vec<serde_json::Value> {
        let history = node.json(&["history", "edan:edan-sama-1"]);
        history.as_array().unwrap().iter().filter(|e| e["client"] == "gaem-1-tablet").cloned().collect()
    };
    let attested = by_client(&hq);
    assert_eq!(attested.len(), 2, "two admitted tally edits: {attested:?}");
    assert!(attested.iter().all(|e| e["node"] == hq_id.as_str()), "{attested:?}");
    assert!(hq.ok(&["history", "edan:edan-sama-1"]).contains("client gaem-1-tablet via"));

    // the refusals are audited, naming the client and its gateway
    let audit = hq.json(&["audit"]);
    let refused: Vec<&serde_json::Value> =
        audit.as_array().unwrap().iter().filter(|r| r["author"].as_str().unwrap().contains("gaem-1-tablet")).collect();
    assert_eq!(refused.len(), 2, "{audit}");
    assert!(refused.iter().all(|r| r["reason"].as_str().unwrap().starts_with("role: ")), "{audit}");
    assert!(refused.iter().any(|r| r["reason"].as_str().unwrap().contains("catalogue")), "{audit}");
    assert!(refused.iter().any(|r| r["reason"].as_str().unwrap().contains("GAEM-2")), "{audit}");

    // over QUIC, a field node admits the client's changes by their
    // attestation, and shows who made them; nothing refused reached it
    peer.json(&["sync", &s.addr]);
    let there = peer.json(&["get", "edan:edan-sama-1"]);
    assert_eq!(there["heads"], after["heads"]);
    assert_eq!(there["fields"]["tallies"]["z1"]["GAEM-1"]["missing"], 1, "{there}");
    assert_eq!(by_client(peer), attested);
    assert_eq!(peer.json(&["audit"]), serde_json::json!([]));
    assert_eq!(peer.json(&["get", "practice:BP-MMS"])["heads"], hq.json(&["get", "practice:BP-MMS"])["heads"]);
}
