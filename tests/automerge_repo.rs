//! automerge-repo clients: the official JavaScript packages (pinned in
//! `tests/js/package-lock.json`, installed by `npm ci` in `scripts/test`)
//! sync records with a serving node over its WebSocket, `node --test`
//! driving them (`tests/js/repo.test.mjs`).

mod support;

use std::process::Command;

use support::network;

#[test]
fn the_official_javascript_client_reads_what_it_may_and_follows_it() {
    let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        js.join("node_modules/@automerge/automerge-repo").exists(),
        "the JavaScript client is not installed: run `npm ci` in {} (scripts/test does)",
        js.display()
    );
    let (hq, _field) = network(0);
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
        .env("AYNI_RECORD_URL", &url)
        .env("AYNI_RECORD_KEY", "edan-sama-1")
        .env("AYNI_RECORD_FIELDS", record["fields"].to_string())
        .output()
        .expect("run node (Node.js 20 is on the machine)");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the JavaScript client's tests failed:\n{report}");
    assert!(report.contains("pass 4") && report.contains("skipped 0"), "{report}");

    // what reached the node: HQ's edit through the API, not the client's
    let after = hq.json(&["get", "edan:edan-sama-1"]);
    assert!(after["fields"]["title"].as_str().unwrap().ends_with("(revisada)"), "{after}");
    assert_ne!(after["heads"], heads_before);
    let history = hq.json(&["history", "edan:edan-sama-1"]);
    assert!(!history.to_string().contains("cambiado"), "{history}");
}
