//! Several HQ nodes: two `hq` nodes serve, sync between themselves through
//! the same protocol, and a field node syncs with whichever it reaches.
//! One of them is killed (`kill -9`) in the middle of a field node's sync:
//! nothing is lost — the field node syncs with the other, the killed one
//! comes back on its address and the tier converges, and the mirror of
//! the surviving node holds every record.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{heads, network, Ayni};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap()
}

fn converged(nodes: &[&Ayni]) -> bool {
    let first = heads(nodes[0]);
    nodes[1..].iter().all(|n| heads(n) == first)
}

#[test]
fn losing_one_hq_node_mid_sync_loses_nothing() {
    let (hq1, field) = network(1);
    let f = &field[0];
    hq1.ok(&["seed"]);
    // a second HQ node joins: enrolled with the hq role, then a full copy
    let hq2 = Ayni::new("hq-2");
    let id = hq2.json(&["id"])["node_id"].as_str().unwrap().to_string();
    let token = hq1.ok(&["enroll", &id, "--role", "hq", "--name", "hq-2"]);
    hq2.ok(&["join", token.trim()]);
    let (port1, port2) = (free_port(), free_port());
    let (addr1, addr2) = (format!("127.0.0.1:{port1}"), format!("127.0.0.1:{port2}"));
    let s1 = hq1.serve_with(&["--listen", &addr1, "--resync", "1"]);
    hq2.ok(&["sync", &addr1]);
    let s2 = hq2.serve_with(&["--listen", &addr2, "--resync", "1"]);
    // the HQ nodes know each other's address: each resyncs with the other
    hq1.ok(&["sync", &addr2]);
    f.ok(&["sync", &addr1]);

    // the field node's week offline: many records
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.jsonl");
    let lines: Vec<String> = (0..4000).map(|i| format!(r#"{{"key":"field-{i}","full_name":"Persona {i}"}}"#)).collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    f.ok(&["import", "person", file.to_str().unwrap()]);

    // hq-1 dies while the field node syncs with it
    let mut sync =
        f.cmd(&["sync", &addr1, "--stall-timeout", "3"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(sync.try_wait().unwrap().is_none(), "the sync ended before the kill: make it longer");
    s1.kill();
    let status = sync.wait().unwrap();
    assert!(!status.success(), "a sync cut by its peer's death reports failure");

    // the field node reaches the other HQ node: everything arrives there
    let r = f.json(&["sync", &addr2]);
    assert!(r["docs_sent"].as_u64().unwrap() > 0, "{r}");
    assert!(converged(&[f, &hq2]));

    // hq-1 comes back on its address (its store reopens after kill -9) and
    // the tier converges by itself (resync every second)
    let s1 = hq1.serve_with(&["--listen", &addr1, "--resync", "1"]);
    let start = Instant::now();
    let people = || hq1.json(&["status"])["records"]["person"].as_u64().unwrap_or(0);
    while people() < 4000 || !converged(&[&hq1, &hq2, f]) {
        assert!(start.elapsed() < Duration::from_secs(90), "the HQ tier did not converge");
        std::thread::sleep(Duration::from_millis(500));
    }
    let check = hq1.json(&["check"]);
    assert_eq!(check["problems"], serde_json::json!([]), "hq-1's store is sound after kill -9: {check}");
    drop((s1, s2));
}
