//! The crash loop: writes (and syncs) while the node is killed with SIGKILL
//! at random points. After every kill the store opens, `ayni check` passes,
//! and every write acknowledged before the kill is present.
//!
//! CI runs short loops; the full runs are in each test's doc comment.

mod support;

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{copy_dir, network, Ayni};

/// Small writes and syncs killed at random. The full run is
/// `AYNI_CRASH_LOOP_N=1000 cargo test --release --test crash_loop acknowledged -- --nocapture`.
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

/// A node enrolled as `hq` in `founder`'s network (so it may write every
/// team's tallies), holding the founder's demo data from a bundle.
fn hq_member(founder: &Ayni, name: &str, demo: &Path) -> Ayni {
    let node = Ayni::new(name);
    let id = node.json(&["id"])["node_id"].as_str().unwrap().to_string();
    let token = founder.ok(&["enroll", &id, "--role", "hq", "--name", name]);
    node.ok(&["join", token.trim()]);
    node.ok(&["bundle", "import", demo.to_str().unwrap()]);
    node
}

/// A JSON-lines file of `n` seed-shaped EDAN records, keys from `first`.
fn edan_file(dir: &Path, first: usize, n: usize) -> PathBuf {
    let path = dir.join(format!("edan-{first}.jsonl"));
    let mut text = String::new();
    for i in first..first + n {
        text += &ayni_node::seed::edan_like(i).to_string();
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// The EDAN keys the node lists; the list itself proves the store opens.
fn edan_keys(node: &Ayni) -> HashSet<String> {
    node.json(&["list", "edan"]).as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap().to_string()).collect()
}

/// Kills at random moments of the operations that write or rewrite much of
/// a large store: `import` and `bundle import` of thousands of records,
/// `compact`, and plain opens (after a kill, the open when redb walks its
/// file to rebuild its allocator state). After every kill the store opens and lists, every
/// acknowledged record is there, a bundle is all there or not at all, and
/// `check` passes (every round in CI; every `AYNI_CRASH_LOOP_CHECK_EVERY`
/// rounds in long runs). Every `AYNI_CRASH_LOOP_RESET_EVERY` rounds (40) the
/// store goes back to a copy of its starting state, so it stays large but
/// bounded over a long run (acknowledged records are counted from there).
///
/// CI runs a small store; the full run is
/// `AYNI_CRASH_LOOP_N=1000 AYNI_CRASH_LOOP_RECORDS=10000 AYNI_CRASH_LOOP_CHECK_EVERY=25 cargo test --release --test crash_loop large -- --nocapture`.
#[test]
fn large_stores_survive_kills_during_open_compaction_and_imports() {
    let env = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (n, records, check_every, reset_every) = (
        env("AYNI_CRASH_LOOP_N", 12),
        env("AYNI_CRASH_LOOP_RECORDS", 150),
        env("AYNI_CRASH_LOOP_CHECK_EVERY", 1),
        env("AYNI_CRASH_LOOP_RESET_EVERY", 40),
    );
    let chunk = (records / 5).max(20);
    let work = tempfile::tempdir().unwrap();
    let founder = Ayni::new("founder");
    founder.ok(&["network", "create", "--name", "gamlp"]);
    founder.ok(&["seed"]);
    let demo = work.path().join("demo.bundle");
    founder.ok(&["bundle", "export", demo.to_str().unwrap()]);
    let target = hq_member(&founder, "target", &demo);
    let mut next_key = 0;
    let initial = edan_file(work.path(), next_key, records);
    next_key += records;
    target.ok(&["import", "edan", initial.to_str().unwrap()]);
    let mut acked: HashSet<String> = edan_keys(&target);
    assert_eq!(acked.len(), records + 1);
    // every `reset_every` rounds the target goes back to this copy, so the
    // store stays large but does not grow without bound over a long run
    let base = work.path().join("base-home");
    copy_dir(&target.home(), &base);
    let base_keys = acked.clone();

    // a bundle of `chunk` new records from another member, made anew once imported
    let mut exporters = 0;
    let mut new_bundle = |next_key: &mut usize| -> (PathBuf, HashSet<String>) {
        exporters += 1;
        let e = hq_member(&founder, &format!("exporter-{exporters}"), &demo);
        e.ok(&["import", "edan", edan_file(work.path(), *next_key, chunk).to_str().unwrap()]);
        let keys = (*next_key..*next_key + chunk).map(|i| format!("edan-{i:06}")).collect();
        *next_key += chunk;
        let path = work.path().join(format!("b{exporters}.bundle"));
        e.ok(&["bundle", "export", path.to_str().unwrap()]);
        (path, keys)
    };
    let mut bundle = new_bundle(&mut next_key);

    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |m: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % m.max(1)
    };
    // each operation's duration when not killed (ms), to kill within it;
    // the first run of each is not killed, to measure it
    let mut took: [Option<u64>; 4] = [None; 4];
    let names = ["import", "open", "compact", "bundle import"];
    let mut kills = [0usize; 4];
    let mut resets = 0;
    for round in 0..n {
        if round > 0 && round % reset_every == 0 {
            std::fs::remove_dir_all(target.home()).unwrap();
            copy_dir(&base, &target.home());
            acked = base_keys.clone();
            resets += 1;
        }
        let op = round % 4;
        let mut import_keys = HashSet::new();
        let args: Vec<String> = match op {
            0 => {
                let file = edan_file(work.path(), next_key, chunk);
                import_keys = (next_key..next_key + chunk).map(|i| format!("edan-{i:06}")).collect();
                next_key += chunk;
                vec!["import".into(), "edan".into(), file.to_str().unwrap().into()]
            }
            1 => vec!["list".into(), "edan".into()],
            2 => vec!["compact".into()],
            _ => vec!["bundle".into(), "import".into(), bundle.0.to_str().unwrap().into()],
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = Instant::now();
        let mut child = target.cmd(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let killed = match took[op] {
            Some(ms) => {
                std::thread::sleep(Duration::from_millis(next(ms * 11 / 10)));
                child.try_wait().unwrap().is_none()
            }
            None => false,
        };
        if killed {
            child.kill().unwrap();
            kills[op] += 1;
        }
        let status = child.wait().unwrap();
        if !killed {
            assert!(status.success(), "round {round}: {} failed on its own: {status}", names[op]);
            let ms = started.elapsed().as_millis() as u64;
            took[op] = Some(took[op].map_or(ms, |t| (t + ms) / 2));
        }
        let present = edan_keys(&target);
        if op == 0 && !killed {
            acked.extend(import_keys);
        }
        if op == 3 {
            let arrived = bundle.1.iter().filter(|k| present.contains(*k)).count();
            assert!(arrived == 0 || arrived == bundle.1.len(), "round {round}: a bundle arrived in part ({arrived})");
            if !killed {
                acked.extend(bundle.1.iter().cloned());
                bundle = new_bundle(&mut next_key);
            }
        }
        let lost: Vec<&String> = acked.iter().filter(|k| !present.contains(*k)).collect();
        assert!(lost.is_empty(), "round {round} ({}): acknowledged records lost: {lost:?}", names[op]);
        if round % check_every == 0 || round + 1 == n {
            let check = target.json(&["check"]);
            assert_eq!(check["problems"].as_array().unwrap().len(), 0, "round {round} ({}): {check}", names[op]);
        }
    }
    eprintln!(
        "large crash loop: {n} rounds on a store of {}+ records (reset to it {resets} times); kills: {} (import {}, open {}, compact {}, bundle import {}); {} acknowledged records at the end, 0 lost, 0 damaged",
        records,
        kills.iter().sum::<usize>(),
        kills[0],
        kills[1],
        kills[2],
        kills[3],
        acked.len()
    );
    assert!(kills.iter().sum::<usize>() > 0, "no round was killed: the test proved nothing");
}
