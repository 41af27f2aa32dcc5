//! Replication between real `ayni` processes over QUIC on loopback.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use support::{heads, network, Ayni};

#[test]
fn three_nodes_with_concurrent_edits_converge_through_a_chain() {
    let (hq, field) = network(2);
    let (a, b) = (&field[0], &field[1]);
    hq.ok(&["seed"]);
    support::assign_teams(&hq, &[a, b]);
    {
        let s = hq.serve();
        let r = a.json(&["sync", &s.addr]);
        assert_eq!(r["docs_received"], 113);
        assert!(r["udp_tx_bytes"].as_u64().unwrap() > 0 && r["round_trips"].as_u64().unwrap() >= 1, "{r}");
        for key in [
            "peer",
            "docs_sent",
            "docs_received",
            "changes_sent",
            "changes_received",
            "bytes_sent",
            "bytes_received",
            "round_trips",
            "duration_ms",
            "udp_tx_bytes",
            "udp_rx_bytes",
        ] {
            assert!(r.get(key).is_some(), "sync --json lacks {key}: {r}");
        }
        b.json(&["sync", &s.addr]);
        assert!(s.stop().success(), "serve stops cleanly on SIGTERM");
    }
    // offline: both laptops count the same zone and correct the same field
    a.ok(&["set", "edan:edan-sama-1", "tallies.z3.GAEM-1.families_affected=11"]);
    a.ok(&["set", "mission:ac-sama-after", "participants_count=9"]);
    b.ok(&[
        "set",
        "edan:edan-sama-1",
        "tallies.z3.GAEM-2.families_affected=8",
        r#"needs.+={"sector":"salud","item":"botiquín","quantity":3,"unit":"kits","priority":"alta"}"#,
    ]);
    b.ok(&["set", "mission:ac-sama-after", "participants_count=12"]);
    // a meets b; b meets hq; hq meets a; hq meets b
    {
        let s = b.serve();
        let r = a.json(&["sync", &s.addr]);
        assert_eq!(r["docs_sent"], 2, "{r}");
        assert_eq!(r["docs_received"], 2, "{r}");
        assert_eq!(r["changes_sent"], 2, "one change to each record went: {r}");
    }
    {
        let s = hq.serve();
        b.json(&["sync", &s.addr]);
        a.json(&["sync", &s.addr]);
        b.json(&["sync", &s.addr]);
    }
    let h = heads(&hq);
    assert_eq!(h.len(), 113);
    assert_eq!(heads(a), h, "a differs from hq");
    assert_eq!(heads(b), h, "b differs from hq");
    let conflicts = hq.json(&["conflicts"]);
    assert_eq!(conflicts.as_array().unwrap().len(), 1, "{conflicts}");
    assert_eq!(conflicts[0]["fields"][0]["path"], "participants_count");
    assert_eq!(a.json(&["conflicts"]), conflicts);
    assert_eq!(b.json(&["conflicts"]), conflicts);
    let report = a.json(&["report", "edan:edan-sama-1"]);
    assert_eq!(report["pending_zones"], serde_json::json!(["z2", "z3"]));
    // the laptops learned of each other through HQ: enrolment records replicate
    let members = a.json(&["network", "show"])["members"].as_array().unwrap().len();
    assert_eq!(members, 3);
    let peers = hq.json(&["peers"]);
    assert!(peers.as_array().unwrap().iter().all(|p| p["state"] == "ok"), "{peers}");
}

#[test]
fn strangers_and_other_networks_are_refused_and_exchange_nothing() {
    let (hq, _) = network(0);
    hq.ok(&["seed"]);
    let s = hq.serve();
    // never enrolled: cannot even start a sync
    let stranger = Ayni::new("stranger");
    let err = stranger.fails(&["sync", &s.addr], 2);
    assert!(err.contains("belongs to no network"), "{err}");
    // enrolled in another network: refused in the handshake by both sides
    let other = Ayni::new("other");
    other.ok(&["network", "create", "--name", "otra-red"]);
    other.add(&["team", "--key", "SPY", "--set", "name=SPY"]);
    let err = other.fails(&["sync", &s.addr], 1);
    assert!(err.contains("refused"), "{err}");
    assert_eq!(other.json(&["list", "edan"]).as_array().unwrap().len(), 0, "a record reached the outsider");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = s.log();
    assert!(log.contains("refused") && log.contains("otra-red") && log.contains("gamlp"), "server log: {log}");
    drop(s);
    assert!(
        hq.json(&["list", "team"]).as_array().unwrap().iter().all(|t| t["key"] != "SPY"),
        "a record came from the outsider"
    );
    // a token for another node is refused by join
    let (hq2, _) = network(0);
    let me = Ayni::new("me");
    let someone = Ayni::new("someone");
    let their_id = someone.json(&["id"])["node_id"].as_str().unwrap().to_string();
    let token = hq2.ok(&["enroll", &their_id, "--role", "field"]);
    let err = me.fails(&["join", token.trim()], 2);
    assert!(err.contains("names node"), "{err}");
    let err = me.fails(&["join", "ayni1-garbage!"], 2);
    assert!(err.contains("damaged"), "{err}");
}

#[test]
fn a_sync_killed_halfway_loses_nothing_stored_and_completes_next_time() {
    let (hq, field) = network(1);
    let b = &field[0];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edan.jsonl");
    hq.add(&[
        "event",
        "--key",
        "ev",
        "--set",
        "name=Riada",
        "--set",
        "hazard_type=riada_mazamorra",
        "--set",
        r#"scope=[{"department":"la_paz"}]"#,
    ]);
    let lines: String = (0..3000)
        .map(|i| format!("{{\"key\":\"e{i}\",\"event_id\":\"event:ev\",\"edan_type\":\"preliminar\",\"tallies\":{{\"z{}\":{{\"GAEM-1\":{{\"families_affected\":{i}}}}}}}}}\n", i % 9))
        .collect();
    std::fs::write(&file, lines).unwrap();
    hq.ok(&["import", "edan", file.to_str().unwrap()]);
    let s = hq.serve();
    let mut child = b
        .cmd(&["sync", &s.addr])
        .env("AYNI_LOG", "ayni_node=debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // kill -9 as soon as the receiver reports a first durable batch
    let mut stored_before_kill = 0;
    for line in BufReader::new(child.stderr.take().unwrap()).lines().map_while(Result::ok) {
        if let Some(n) =
            line.split("stored ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse::<usize>().ok())
        {
            if n > 0 {
                stored_before_kill = n;
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    assert!(stored_before_kill > 0, "the receiver never reported a stored batch");
    let check = b.json(&["check"]);
    assert_eq!(check["problems"].as_array().unwrap().len(), 0, "{check}");
    let count = |n: &Ayni| {
        n.json(&["list", "edan"]).as_array().unwrap().len() + n.json(&["list", "event"]).as_array().unwrap().len()
    };
    let kept = count(b);
    assert!(kept >= stored_before_kill, "only {kept} kept of {stored_before_kill} reported stored");
    assert!(kept < 3001, "the kill came too late to test anything ({kept})");
    // the next sync resumes: it moves only what is still missing
    let r = b.json(&["sync", &s.addr]);
    assert_eq!(count(b), 3001);
    assert_eq!(r["docs_received"].as_u64().unwrap() as usize, 3001 - kept, "{r}");
    drop(s);
    assert_eq!(heads(b), heads(&hq));
}

#[test]
fn serve_keeps_syncing_with_known_peers_on_its_own() {
    let hq = Ayni::new("hq");
    hq.ok(&["network", "create", "--name", "gamlp"]);
    hq.ok(&["seed"]);
    // HQ serves first, so the token it prints carries its address
    let hq_serve = hq.serve();
    let laptop = Ayni::new("laptop");
    let id = laptop.json(&["id"])["node_id"].as_str().unwrap().to_string();
    drop(hq_serve); // enrol needs the store: serve and enrol take turns on one home
    let token = hq.json(&["enroll", &id, "--role", "field", "--name", "laptop"])["token"].as_str().unwrap().to_string();
    let hint = laptop.json(&["join", &token])["addr_hint"].as_str().unwrap().to_string();
    assert!(hint.starts_with("127.0.0.1:"), "{hint}");
    // HQ comes back on the same port; the laptop's serve finds it by itself
    let _hq_serve = hq.serve_with(&["--listen", &hint]);
    let laptop_serve = laptop.serve_with(&["--resync", "1"]);
    let mut synced = false;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if laptop_serve.log().contains("synced with") {
            synced = true;
            break;
        }
    }
    let log = laptop_serve.log();
    assert!(laptop_serve.stop().success());
    assert!(synced, "the laptop never synced on its own:\n{log}");
    assert_eq!(laptop.json(&["list", "edan"]).as_array().unwrap().len(), 1);
    let peers = laptop.json(&["peers"]);
    assert_eq!(peers[0]["state"], "ok", "{peers}");
    assert_eq!(peers[0]["label"], "hq", "{peers}");
}

#[test]
fn a_revoked_laptop_is_refused_at_the_handshake_by_nodes_that_learned_of_it() {
    let (hq, field) = network(2);
    let (a, lost) = (&field[0], &field[1]);
    hq.ok(&["seed"]);
    support::assign_teams(&hq, &[lost]);
    {
        let s = hq.serve();
        a.json(&["sync", &s.addr]);
        lost.json(&["sync", &s.addr]);
    }
    let lost_id = lost.json(&["id"])["node_id"].as_str().unwrap().to_string();
    let r = hq.json(&["revoke", &lost_id, "--reason", "laptop lost in a ravine"]);
    assert_eq!(r["node_id"], lost_id.as_str());
    // the revocation reaches A at its next contact with HQ
    {
        let s = hq.serve();
        a.json(&["sync", &s.addr]);
    }
    // the lost laptop tries A: refused in the handshake, nothing exchanged
    lost.ok(&["set", "edan:edan-sama-1", "tallies.z1.GAEM-1.dead=99"]);
    let s = a.serve();
    let err = lost.fails(&["sync", &s.addr], 1);
    assert!(err.contains("refused"), "{err}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = s.log();
    assert!(log.contains("revoked") && log.contains("ravine"), "{log}");
    drop(s);
    let dead = a.json(&["report", "edan:edan-sama-1"])["zones"][0]["values"]["dead"].clone();
    assert_eq!(dead, 0, "the revoked laptop's edit must not arrive");
    // HQ refuses it too
    let s = hq.serve();
    lost.fails(&["sync", &s.addr], 1);
}
