//! automerge-repo clients: the official JavaScript packages (pinned in
//! `tests/js/package-lock.json`, installed by `npm ci` in `scripts/test`)
//! sync records with a serving node over its WebSocket, `node --test`
//! driving them (`tests/js/repo.test.mjs`).

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use support::link::{self, Profile};
use support::{assign_teams, heads, network, node_test};

#[test]
fn the_official_javascript_client_reads_and_writes_what_it_may_and_its_writes_travel_attested() {
    let (hq, peers) = network(2);
    let (peer, later) = (&peers[0], &peers[1]);
    hq.ok(&["seed"]);
    let field = hq.json(&["client", "add", "gaem-1-tablet", "--role", "field", "--team", "GAEM-1"]);
    let boss = hq.json(&["client", "add", "hq-panel", "--role", "hq"]);
    let lost = hq.json(&["client", "add", "lost-phone", "--role", "field"]);
    let expired = hq.json(&["client", "add", "old-phone", "--role", "field", "--expires", "1s"]);
    let expires = std::time::Instant::now() + std::time::Duration::from_millis(1_100);
    let partner = hq.json(&["client", "add", "trinidad", "--role", "read", "--entity", "e-trinidad"]);
    let practice = hq.json(&["get", "practice:BP-MMS"])["url"].as_str().unwrap().to_string();
    hq.ok(&["client", "revoke", "lost-phone"]);
    let record = hq.json(&["get", "edan:edan-sama-1"]);
    let url = record["url"].as_str().expect("a record shows its automerge URL").to_string();
    assert_eq!(url, format!("automerge:{}", record["id"].as_str().unwrap()));
    let heads_before = record["heads"].clone();

    let s = hq.serve_with(&["--http", "127.0.0.1:0"]);
    let http = s.http.clone().unwrap();
    let env = [
        ("AYNI_FIELD_TOKEN", field["token"].as_str().unwrap().to_string()),
        ("AYNI_HQ_TOKEN", boss["token"].as_str().unwrap().to_string()),
        ("AYNI_REVOKED_TOKEN", lost["token"].as_str().unwrap().to_string()),
        ("AYNI_EXPIRED_TOKEN", expired["token"].as_str().unwrap().to_string()),
        ("AYNI_PARTNER_TOKEN", partner["token"].as_str().unwrap().to_string()),
        ("AYNI_PRACTICE_URL", practice.clone()),
        ("AYNI_PRACTICE_KEY", "BP-MMS".to_string()),
        ("AYNI_RECORD_URL", url.clone()),
        ("AYNI_RECORD_KEY", "edan-sama-1".to_string()),
        ("AYNI_RECORD_FIELDS", record["fields"].to_string()),
        ("AYNI_INDEX_URL", hq.ok(&["url"]).trim().to_string()),
    ];
    std::thread::sleep(expires.saturating_duration_since(std::time::Instant::now()));
    let report = node_test("repo.test.mjs", &http, &env);
    assert!(report.contains("pass 6") && report.contains("skipped 0"), "{report}");

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
    assert!(refused.iter().any(|r| r["reason"].as_str().unwrap().contains("in practice records")), "{audit}");
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

    // every node of the network serves the same index URL
    assert_eq!(peer.ok(&["url"]), hq.ok(&["url"]));

    // and by bundle: the attestations travel in it too
    let bundle = hq.dir.path().join("all.bundle");
    hq.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    later.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    assert_eq!(by_client(later), attested);
    assert_eq!(later.json(&["audit"]), serde_json::json!([]));
}

#[test]
fn a_client_creates_records_as_automerge_repos_docs_show_and_they_travel_attested() {
    let (hq, peers) = network(1);
    let peer = &peers[0];
    hq.ok(&["seed"]);
    let field = hq.json(&["client", "add", "gaem-1-tablet", "--role", "field", "--team", "GAEM-1"]);
    let boss = hq.json(&["client", "add", "hq-panel", "--role", "hq"]);
    let event = hq.json(&["list", "event"])[0]["id"].as_str().unwrap().to_string();
    let record = hq.json(&["get", "edan:edan-sama-1"]);
    let s = hq.serve_with(&["--http", "127.0.0.1:0"]);
    let env = [
        ("AYNI_FIELD_TOKEN", field["token"].as_str().unwrap().to_string()),
        ("AYNI_HQ_TOKEN", boss["token"].as_str().unwrap().to_string()),
        ("AYNI_EVENT_ID", event),
        ("AYNI_RECORD_URL", record["url"].as_str().unwrap().to_string()),
        ("AYNI_RECORD_KEY", "edan-sama-1".to_string()),
    ];
    let report = node_test("create.test.mjs", s.http.as_ref().unwrap(), &env);
    assert!(report.contains("pass 4") && report.contains("skipped 0"), "{report}");
    let named = |tag: &str| {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(tag).map(str::to_string))
            .expect("the test names the document")
    };
    let (created, refused) = (named("CREATED "), named("REFUSED "));

    // the client's record, made by it, attested by its gateway
    let hq_id = hq.json(&["id"])["node_id"].as_str().unwrap().to_string();
    let made = hq.json(&["get", &created]);
    assert_eq!(made["kind"], "edan");
    assert_eq!(made["created_by"], format!("client gaem-1-tablet via {hq_id}").as_str(), "{made}");
    let history = hq.json(&["history", &created]);
    assert!(history.as_array().unwrap().iter().all(|e| e["client"] == "gaem-1-tablet"), "{history}");
    // the refused creation: audited, stored nowhere
    let audit = hq.json(&["audit"]);
    assert!(
        audit.as_array().unwrap().iter().any(|r| r["doc"] == refused.as_str()
            && r["reason"].as_str().unwrap().contains("may not create practice records")),
        "{audit}"
    );
    assert!(!hq.run(&["get", &refused]).status.success());

    // over QUIC, another node admits the creation by its attestation
    peer.json(&["sync", &s.addr]);
    let there = peer.json(&["get", &created]);
    assert_eq!(there["heads"], made["heads"]);
    assert_eq!(there["created_by"], made["created_by"]);
    assert_eq!(peer.json(&["audit"]), serde_json::json!([]));
    assert!(!peer.run(&["get", &refused]).status.success());
}

/// The JavaScript test `file`, run against `http` with `env`; its report.
#[test]
fn ten_clients_and_a_peer_over_a_degraded_link_converge_and_an_offline_client_catches_up() {
    let (hq, peers) = network(1);
    let peer = &peers[0];
    hq.ok(&["seed"]);
    let lines: Vec<String> = (0..10)
        .map(|i| {
            let mut r = ayni_node::seed::edan_like(i);
            r["key"] = serde_json::json!(format!("edan-c-{i}"));
            r.to_string()
        })
        .collect();
    let file = hq.dir.path().join("edan.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    hq.ok(&["import", "edan", file.to_str().unwrap()]);
    assign_teams(&hq, &[peer]);
    let boss = hq.json(&["client", "add", "hq-panel", "--role", "hq"]);
    let records: Vec<serde_json::Value> = (0..10)
        .map(|i| {
            let key = format!("edan-c-{i}");
            let url = hq.json(&["get", &format!("edan:{key}")])["url"].clone();
            let client = hq.json(&["client", "add", &format!("tablet-{i}"), "--role", "field", "--team", "GAEM-1"]);
            serde_json::json!({"key": key, "url": url, "token": client["token"]})
        })
        .collect();

    let s = hq.serve_with(&["--http", "127.0.0.1:0"]);
    peer.json(&["sync", &s.addr]);
    // the peer's own edits, to reach every client through the node
    for i in 0..10 {
        peer.ok(&["set", &format!("edan:edan-c-{i}"), "tallies.z2.GAEM-1.dead=3"]);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let proxy = rt.block_on(link::start(s.addr.parse().unwrap(), Profile::FLAKY_WIFI, 23));
    let through = proxy.addr.to_string();
    let (stop, synced) = (AtomicBool::new(false), AtomicUsize::new(0));
    let report = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let out = peer.run(&["sync", &through, "--stall-timeout", "20"]);
                if out.status.success() {
                    synced.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
        });
        // the syncing thread stops however the client test ends (a failed
        // one must not leave this test waiting for it)
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        let http = s.http.clone().unwrap();
        let env = [
            ("AYNI_RECORDS", serde_json::Value::Array(records.clone()).to_string()),
            ("AYNI_HQ_TOKEN", boss["token"].as_str().unwrap().to_string()),
        ];
        node_test("converge.test.mjs", &http, &env)
    });
    assert!(report.contains("pass 1") && report.contains("skipped 0"), "{report}");
    assert!(synced.load(Ordering::Relaxed) > 0, "no sync went through the link");
    assert!(proxy.counters.dropped.load(Ordering::Relaxed) > 0, "the link dropped nothing: the test proves nothing");
    // a last sync through the same link, retried as a user would
    let done = (0..10).any(|_| peer.run(&["sync", &through, "--stall-timeout", "20"]).status.success());
    assert!(done, "no sync went through the link at the end");
    assert_eq!(heads(peer), heads(&hq), "the node and its peer converge");
    let line = report.lines().find_map(|l| l.trim().strip_prefix("HEADS ")).expect("the clients' heads");
    let clients: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
    for (key, client_heads) in clients {
        let mut ours: Vec<String> =
            serde_json::from_value(peer.json(&["get", &format!("edan:{key}")])["heads"].clone()).unwrap();
        let mut theirs: Vec<String> = serde_json::from_value(client_heads).unwrap();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{key}: the client and the peer converge");
    }
    let last = peer.json(&["get", "edan:edan-c-9"]);
    assert_eq!(last["fields"]["tallies"]["z1"]["GAEM-1"]["missing"], 7, "the offline client's edit reached the peer");
    assert_eq!(last["fields"]["tallies"]["z1"]["GAEM-1"]["injured"], 905);
    assert_eq!(hq.json(&["audit"]), serde_json::json!([]));
}
