//! The field app (`app/`, embedded in the binary) in a real browser:
//! Debian's Chromium driven by playwright-core (`tests/js/app.test.mjs`)
//! against a serving node; what the app wrote is then checked on the node
//! and on a second node that syncs with it over QUIC.

mod support;

use support::{network, node_test};

#[test]
fn the_field_app_records_tallies_online_and_offline_validates_and_shows_conflicts() {
    let chromium = std::env::var("AYNI_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: the browser tests drive Debian's chromium (apt-get install chromium; .ci/run does)"
    );
    let (hq, peers) = network(1);
    let peer = &peers[0];
    hq.ok(&["seed"]);
    let token = |name: &str, role: &str, team: Option<&str>| {
        let mut args = vec!["client", "add", name, "--role", role];
        if let Some(t) = team {
            args.extend_from_slice(&["--team", t]);
        }
        hq.json(&args)["token"].as_str().unwrap().to_string()
    };
    let env = [
        ("AYNI_TABLET_TOKEN", token("tablet-1", "field", Some("GAEM-2"))),
        ("AYNI_HQ_TOKEN", token("hq-panel", "hq", None)),
        ("AYNI_CHROMIUM", chromium),
    ];
    let s = hq.serve_with(&["--http", "127.0.0.1:0"]);
    let http = s.http.clone().unwrap();
    // the second phone signs in by the QR code's link (issued through the
    // serving node, which only this machine reaches: hence --app-url)
    let png = hq.dir.path().join("tablet-2.png");
    let app = format!("http://{http}");
    let qr = hq.json(&[
        "client",
        "add",
        "tablet-2",
        "--role",
        "field",
        "--team",
        "GAEM-2",
        "--qr",
        "--app-url",
        &app,
        "-o",
        png.to_str().unwrap(),
    ]);
    let link = qr["link"].as_str().unwrap().to_string();
    assert_eq!(link, format!("http://{http}/app/#token={}", qr["token"].as_str().unwrap()));
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"), "the QR code is written as a PNG");
    let mut env = env.to_vec();
    env.push(("AYNI_TABLET2_LINK", link));
    if let Ok(dir) = std::env::var("AYNI_SCREENSHOTS") {
        env.push(("AYNI_SCREENSHOTS", dir));
    }
    let report = node_test("app.test.mjs", &http, &env);
    assert!(report.contains("pass 5") && report.contains("skipped 0"), "{report}");

    // the node has what the phones wrote, attributed to them, and the
    // conflict of their offline edits
    let conflicts = hq.json(&["conflicts"]);
    let text = conflicts.to_string();
    assert!(text.contains("tallies.z2.GAEM-2.families_affected"), "{conflicts}");
    let history = hq.json(&["history", "edan:edan-sama-1"]);
    let clients: Vec<&str> = history.as_array().unwrap().iter().filter_map(|e| e["client"].as_str()).collect();
    assert!(clients.contains(&"tablet-1") && clients.contains(&"tablet-2"), "{history}");

    // a second node, over QUIC, receives them with their attestations
    peer.json(&["sync", &s.addr]);
    let got = peer.json(&["get", "edan:edan-sama-1"]);
    assert_eq!(got["fields"]["tallies"]["z1"]["GAEM-2"]["families_affected"], 14, "{got}");
    assert_eq!(got["fields"]["zones"]["z1"]["geo"]["captured_by"], "gps", "{got}");
    let history = peer.json(&["history", "edan:edan-sama-1"]);
    assert!(
        history.as_array().unwrap().iter().any(|e| e["client"] == "tablet-1"),
        "the peer sees who wrote it: {history}"
    );
    assert!(peer.json(&["conflicts"]).to_string().contains("tallies.z2.GAEM-2.families_affected"));
    s.stop();
}
