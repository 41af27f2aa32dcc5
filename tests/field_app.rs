//! The field app (`app/`, embedded in the binary) in a real browser:
//! Debian's Chromium driven by playwright-core (`tests/js/app.test.mjs`,
//! `tests/js/app-https.test.mjs`) against a serving node; what the app
//! wrote is then checked on the node and on a second node that syncs with
//! it over QUIC.

mod support;

use support::{chromium, network, node_test};

/// A new client's token: `name`, of `role`, counting for `team`.
fn client_token(hq: &support::Ayni, name: &str, role: &str, team: Option<&str>) -> String {
    let mut args = vec!["client", "add", name, "--role", role];
    if let Some(t) = team {
        args.extend_from_slice(&["--team", t]);
    }
    hq.json(&args)["token"].as_str().unwrap().to_string()
}

#[test]
fn the_field_app_records_tallies_online_and_offline_validates_and_shows_conflicts() {
    let chromium = chromium();
    let (hq, peers) = network(1);
    let peer = &peers[0];
    hq.ok(&["seed"]);
    let token = |name: &str, role: &str, team: Option<&str>| client_token(&hq, name, role, team);
    let env = [
        ("AYNI_TABLET_TOKEN", token("tablet-1", "field", Some("GAEM-2"))),
        ("AYNI_HQ_TOKEN", token("hq-panel", "hq", None)),
        ("AYNI_CHROMIUM", chromium),
    ];
    // a QR code that cannot be written: exit 2, and no client was made
    let bad = hq.run(&[
        "client",
        "add",
        "ghost",
        "--role",
        "field",
        "--qr",
        "--app-url",
        "http://h",
        "-o",
        "/no/such/dir/q.png",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no directory /no/such/dir"));
    assert!(!hq.json(&["client", "list"]).to_string().contains("ghost"));
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
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&png).unwrap().permissions().mode() & 0o777, 0o600, "it carries the token");
    let mut env = env.to_vec();
    env.push(("AYNI_TABLET2_LINK", link));
    if let Ok(dir) = std::env::var("AYNI_SCREENSHOTS") {
        env.push(("AYNI_SCREENSHOTS", dir));
    }
    let report = node_test("app.test.mjs", &http, &env);
    assert!(report.contains("pass 7") && report.contains("skipped 0"), "{report}");

    // the node has what the phones wrote, attributed to them, and the
    // conflict of their offline edits
    let conflicts = hq.json(&["conflicts"]);
    let text = conflicts.to_string();
    assert!(text.contains("tallies.z3.GAEM-2.families_affected"), "{conflicts}");
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
    assert!(peer.json(&["conflicts"]).to_string().contains("tallies.z3.GAEM-2.families_affected"));
    s.stop();
}

#[test]
fn responders_create_an_edan_with_photos_offline_and_it_reaches_every_node() {
    let chromium = chromium();
    let (hq, peers) = network(1);
    let peer = &peers[0];
    hq.ok(&["seed"]);
    let token = |name: &str, role: &str, team: Option<&str>| client_token(&hq, name, role, team);
    let mut env = vec![
        ("AYNI_TABLET_TOKEN", token("tablet-1", "field", Some("GAEM-2"))),
        ("AYNI_HQ_TOKEN", token("hq-panel", "hq", None)),
        ("AYNI_CHROMIUM", chromium),
    ];
    if let Ok(dir) = std::env::var("AYNI_SCREENSHOTS") {
        env.push(("AYNI_SCREENSHOTS", dir));
    }
    let s = hq.serve_with(&["--http", "127.0.0.1:0"]);
    let report = node_test("create-app.test.mjs", s.http.as_deref().unwrap(), &env);
    assert!(report.contains("pass 4") && report.contains("skipped 0"), "{report}");
    let line = |tag: &str| report.lines().find_map(|l| l.trim().strip_prefix(tag).map(str::to_string)).expect(tag);
    let (created, photos, refused) = (line("CREATED "), line("PHOTOS "), line("REFUSED "));
    let photos: Vec<&str> = photos.split(' ').collect();

    // HQ: the record made by the client, every change attested; the refused
    // creation audited and stored nowhere
    let made = hq.json(&["get", &created]);
    let history = hq.json(&["history", &created]);
    assert!(history.as_array().unwrap().iter().all(|e| e["client"] == "tablet-1"), "{history}");
    let audit = hq.json(&["audit"]);
    assert!(audit.as_array().unwrap().iter().any(|r| r["doc"] == refused.as_str()), "{audit}");

    // a second node, over QUIC: the record and both photos
    peer.json(&["sync", &s.addr]);
    let there = peer.json(&["get", &created]);
    assert_eq!(there["heads"], made["heads"]);
    assert_eq!(there["created_by"], made["created_by"]);
    let out = peer.dir.path().join("photo");
    for hash in photos {
        peer.ok(&["blob", "get", hash, "-o", out.to_str().unwrap()]);
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(ayni_node::blobs::sha256(&bytes), hash, "the photo, byte for byte");
        std::fs::remove_file(&out).unwrap();
    }
    assert!(!peer.run(&["get", &refused]).status.success());
    s.stop();
}

/// HQ with a certificate for its name: service workers need a secure
/// context, which outside `localhost` means HTTPS with a certificate the
/// browser trusts. The test makes HQ's certificate for `hq.ayni.test`, has
/// Chromium reach that name on this machine (`--host-resolver-rules`) and
/// trust the certificate's key (`--ignore-certificate-errors-spki-list`),
/// as a browser trusts one from a public CA or one installed on it.
#[test]
fn the_field_app_opens_offline_over_https_with_a_certificate_the_browser_trusts() {
    let chromium = chromium();
    let (hq, _) = network(0);
    hq.ok(&["seed"]);
    let token = hq.json(&["client", "add", "tablet-1", "--role", "field", "--team", "GAEM-2"])["token"]
        .as_str()
        .unwrap()
        .to_string();
    let made = rcgen::generate_simple_self_signed(vec!["hq.ayni.test".to_string()]).unwrap();
    let (cert, key) = (hq.dir.path().join("hq.crt"), hq.dir.path().join("hq.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let s = hq.serve_with(&[
        "--http",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let port = s.http.as_deref().unwrap().rsplit(':').next().unwrap().to_string();
    let env = [
        ("AYNI_TABLET_TOKEN", token),
        ("AYNI_CHROMIUM", chromium),
        ("AYNI_CERT", cert.to_str().unwrap().to_string()),
        ("AYNI_ORIGIN", format!("https://hq.ayni.test:{port}")),
    ];
    let report = node_test("app-https.test.mjs", s.http.as_deref().unwrap(), &env);
    assert!(report.contains("pass 1") && report.contains("skipped 0"), "{report}");
    s.stop();
}
