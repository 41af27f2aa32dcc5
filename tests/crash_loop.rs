//! The crash loop: writes (and syncs) while the node is killed with SIGKILL
//! at random points. After every kill the store opens, `ayni check` passes,
//! and every write acknowledged before the kill is present.
//!
//! CI runs a short loop; the full run is
//! `AYNI_CRASH_LOOP_N=1000 cargo test --release --test crash_loop -- --nocapture`.

mod support;

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use support::network;

#[test]
fn acknowledged_writes_survive_random_kills() {
    let n: usize = std::env::var("AYNI_CRASH_LOOP_N").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    let (hq, field) = network(1);
    let a = &field[0];
    hq.ok(&["seed"]);
    let served = hq.serve();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |m: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % m
    };
    let mut acked: Vec<(String, String)> = vec![];
    let (mut kills, mut syncs_cut) = (0, 0);
    for i in 0..n {
        let key = format!("P-{i}");
        // a write, or a sync that brings HQ's records, killed at a random moment
        let sync = i % 4 == 3;
        let mut child = if sync {
            a.cmd(&["sync", &served.addr]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
        } else {
            a.cmd(&["add", "person", "--key", &key, "--set", &format!("full_name=Persona {i}")])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        // adds take a few ms, syncs tens of ms: kill within those windows
        std::thread::sleep(Duration::from_millis(if sync { next(80) } else { next(40) }));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
            syncs_cut += sync as usize;
        }
        let status = child.wait().unwrap();
        if !sync {
            let mut out = String::new();
            child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
            if status.success() && !out.trim().is_empty() {
                acked.push((key, out.trim().to_string()));
            }
        }
        // after every kill: the store opens and checks clean, nothing acknowledged is lost
        let check = a.json(&["check"]);
        assert_eq!(check["problems"].as_array().unwrap().len(), 0, "round {i}: {check}");
        let people = a.json(&["list", "person"]);
        for (key, id) in &acked {
            assert!(
                people.as_array().unwrap().iter().any(|p| p["key"] == key.as_str() && p["id"] == id.as_str()),
                "round {i}: acknowledged {key} is missing"
            );
        }
    }
    // and the node still syncs to completion
    let r = a.json(&["sync", &served.addr]);
    assert!(r["docs_received"].as_u64().is_some());
    assert!(a.json(&["list", "edan"]).as_array().unwrap().len() == 1);
    eprintln!(
        "crash loop: {n} rounds, {kills} kills ({syncs_cut} mid-sync), {} acknowledged writes, 0 lost",
        acked.len()
    );
    assert!(kills > 0, "no round was killed: the test proved nothing");
}
