//! The node as a server: while `ayni serve` runs on a home, every other
//! `ayni` command on that home runs through its control socket, with the
//! same output, exit codes and messages as on a stopped node.

mod support;

use std::process::Stdio;

use serde_json::Value;
use support::{network, Ayni};

/// Read commands whose output must not depend on whether the node serves.
const READS: &[&[&str]] = &[
    &["get", "edan:edan-sama-1"],
    &["--json", "get", "edan:edan-sama-1"],
    &["list", "practice"],
    &["--json", "list", "practice"],
    &["--json", "list", "mission", "--where", "status=completed"],
    &["export", "practice", "--format", "csv"],
    &["export", "team", "--format", "jsonl"],
    &["report", "edan:edan-sama-1"],
    &["--json", "conflicts"],
    &["--json", "history", "team:GAEM-1"],
    &["--json", "network", "show"],
    &["id"],
];

/// Commands that must fail the same way: (args, exit code).
const FAILURES: &[(&[&str], i32)] = &[
    (&["get", "person:nobody"], 2),
    (&["set", "team:GAEM-1", "bad..path=1"], 2),
    (&["add", "no_such_kind", "--set", "x=1"], 2),
    (&["list", "edan", "--where", "nonsense"], 2),
    (&["transition", "edan:edan-sama-1", "nowhere"], 2),
    (&["import", "person", "missing-file.json"], 2),
];

fn outputs(node: &Ayni) -> Vec<(String, String)> {
    let mut all = vec![];
    for args in READS {
        all.push((format!("{args:?}"), node.ok(args)));
    }
    for (args, code) in FAILURES {
        all.push((format!("{args:?}"), node.fails(args, *code)));
    }
    all
}

#[test]
fn commands_run_through_the_serving_node_with_the_same_output() {
    let (hq, field) = network(1);
    let a = &field[0];
    hq.ok(&["seed"]);
    let stopped = outputs(&hq);
    let idle = hq.json(&["status"]);
    assert_eq!(idle["serving"], Value::Null, "{idle}");

    let s = hq.serve();
    let serving = outputs(&hq);
    for ((what, before), (_, now)) in stopped.iter().zip(&serving) {
        assert_eq!(before, now, "{what} differs through the serving node");
    }
    let status = hq.json(&["status"]);
    assert_eq!(status["serving"]["listen"][0], s.addr.as_str(), "{status}");
    assert_eq!(status["serving"]["commands_running"], 1, "{status}");
    assert_eq!(status["role"], "hq");
    assert_eq!(status["records"]["practice"], 29);
    assert_eq!(status["node_id"], hq.json(&["id"])["node_id"]);

    // writes on HQ while it serves, seen by a field node that syncs with it
    let ana = hq.add(&["person", "--key", "ana", "--set", "full_name=Ana Mamani"]);
    hq.ok(&["set", "person:ana", "position=técnica"]);
    hq.ok(&["transition", "request:rq-2012-offer", "closed", "--note", "cierre"]);
    let late = Ayni::new("late-laptop");
    let late_id = late.json(&["id"])["node_id"].as_str().unwrap().to_string();
    let token = hq.ok(&["enroll", &late_id, "--role", "field", "--name", "late"]);
    late.ok(&["join", token.trim()]);
    let r = a.json(&["sync", &s.addr]);
    assert!(r["docs_received"].as_u64().unwrap() >= 113, "{r}");
    assert_eq!(a.json(&["get", "person:ana"])["fields"]["position"], "técnica");
    assert_eq!(a.json(&["get", "person:ana"])["id"], ana.as_str());

    // a concurrent edit on both sides, resolved on the serving HQ
    a.ok(&["set", "person:ana", "position=coordinadora"]);
    hq.ok(&["set", "person:ana", "position=jefa"]);
    a.json(&["sync", &s.addr]);
    let conflicts = hq.json(&["conflicts"]);
    assert_eq!(conflicts.as_array().unwrap().len(), 1, "{conflicts}");
    hq.ok(&["resolve", "person:ana", "position", "jefa"]);
    assert_eq!(hq.json(&["conflicts"]).as_array().unwrap().len(), 0);

    // a bundle written to a path relative to where the command was typed
    let here = tempfile::tempdir().unwrap();
    let out = hq.cmd(&["bundle", "export", "hq.bundle"]).current_dir(here.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(here.path().join("hq.bundle").exists());
    let r = late.json(&["bundle", "import", here.path().join("hq.bundle").to_str().unwrap()]);
    assert!(r["documents_changed"].as_u64().unwrap() >= 114, "{r}");

    // sync through the serving node (its own endpoint) with a field node
    let served_a = a.serve();
    let r = hq.json(&["sync", &served_a.addr]);
    assert_eq!(r["peer"], a.json(&["id"])["node_id"], "{r}");
    drop(served_a);

    // revoke the late laptop: the field node learns of it at its next sync
    hq.json(&["revoke", &late_id, "--reason", "left behind"]);
    a.json(&["sync", &s.addr]);
    let sa = a.serve();
    let err = late.fails(&["sync", &sa.addr], 1);
    assert!(err.contains("refused"), "{err}");
    drop(sa);

    // what cannot run beside a serving node says so
    let err = hq.fails(&["serve", "--no-mdns", "--listen", "127.0.0.1:0"], 1);
    assert!(err.contains("already serving"), "{err}");
    let err = hq.fails(&["check", "--repair"], 1);
    assert!(err.contains("stop it before"), "{err}");
    assert!(hq.ok(&["check"]).contains("ok") || hq.json(&["check"])["problems"].as_array().unwrap().is_empty());

    assert!(s.stop().success());
    assert!(!hq.home().join("control.sock").exists(), "the socket is removed on a clean stop");
    assert_eq!(hq.json(&["status"])["serving"], Value::Null);
    assert_eq!(hq.json(&["get", "person:ana"])["fields"]["position"], "jefa");
}

#[test]
fn the_control_socket_is_for_the_owner_only_and_a_killed_server_leaves_nothing_in_the_way() {
    let (hq, _) = network(0);
    hq.ok(&["seed"]);
    let s = hq.serve();
    let sock = hq.home().join("control.sock");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777, 0o600);
    hq.add(&["person", "--key", "before-kill", "--set", "full_name=Antes"]);
    // kill -9: the socket file stays behind, stale
    let pid = hq.json(&["status"])["serving"]["pid"].as_u64().unwrap();
    assert!(std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
    drop(s);
    assert!(sock.exists());
    // commands open the store directly, the acknowledged write is there
    assert_eq!(hq.json(&["get", "person:before-kill"])["fields"]["full_name"], "Antes");
    assert_eq!(hq.json(&["status"])["serving"], Value::Null);
    assert!(hq.json(&["check"])["problems"].as_array().unwrap().is_empty());
    // and the node serves again, replacing the stale socket
    let s = hq.serve();
    assert_eq!(hq.json(&["status"])["serving"]["listen"][0], s.addr.as_str());
}

#[test]
fn concurrent_writers_through_the_serving_node_while_syncs_run_lose_nothing() {
    let (hq, field) = network(1);
    let a = &field[0];
    hq.ok(&["seed"]);
    let s = hq.serve();
    let home = hq.home();
    let addr = s.addr.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // a field node syncs with HQ over and over meanwhile
    let syncing = {
        let (stop, a_home) = (stop.clone(), a.home());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let ok = std::process::Command::new(support::ayni_bin())
                    .args(["--home", a_home.to_str().unwrap(), "--json", "sync", &addr])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .unwrap()
                    .success();
                n += ok as usize;
            }
            n
        })
    };
    let writers: Vec<_> = (0..20)
        .map(|w| {
            let home = home.clone();
            std::thread::spawn(move || {
                let mut acknowledged = vec![];
                for i in 0..5 {
                    let key = format!("w{w}-{i}");
                    let ok = std::process::Command::new(support::ayni_bin())
                        .args(["--home", home.to_str().unwrap(), "add", "person", "--key", &key])
                        .args(["--set", &format!("full_name=Escritor {w} {i}")])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .unwrap()
                        .success();
                    if ok {
                        acknowledged.push(key);
                    }
                }
                acknowledged
            })
        })
        .collect();
    let acknowledged: Vec<String> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let syncs = syncing.join().unwrap();
    assert_eq!(acknowledged.len(), 100, "every writer got through the serving node");
    assert!(syncs >= 1, "the syncs ran meanwhile");
    a.json(&["sync", &s.addr]);
    for node in [&hq, a] {
        let keys = person_keys(node);
        for k in &acknowledged {
            assert!(keys.contains(k), "{k} missing");
        }
    }
    assert!(hq.json(&["check"])["problems"].as_array().unwrap().is_empty());
}

#[test]
fn kill_9_of_the_serving_node_under_20_writers_loses_no_acknowledged_write() {
    let (hq, _) = network(0);
    hq.ok(&["seed"]);
    let token = hq.json(&["client", "add", "writers", "--role", "hq"])["token"].as_str().unwrap().to_string();
    let s = hq.serve_with(&["--http", "127.0.0.1:0"]);
    let http = s.http.clone().unwrap();
    let pid = hq.json(&["status"])["serving"]["pid"].as_u64().unwrap();
    let home = hq.home();
    let killed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // 10 writers through the HTTP API, 10 through the CLI, until the kill
    let writers: Vec<_> = (0..20)
        .map(|w| {
            let (home, http, token, killed) = (home.clone(), http.clone(), token.clone(), killed.clone());
            std::thread::spawn(move || {
                let mut acknowledged = vec![];
                for i in 0.. {
                    if killed.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let key = format!("k{w}-{i}");
                    let ok = if w % 2 == 0 {
                        let body = format!("{{\"key\": \"{key}\", \"full_name\": \"Escritor {w} {i}\"}}");
                        support::http::try_request(
                            &http,
                            "POST",
                            "/api/v1/records/person",
                            Some(&token),
                            Some(body.as_bytes()),
                        )
                        .is_some_and(|r| r.status == 201)
                    } else {
                        let out = std::process::Command::new(support::ayni_bin())
                            .args(["--home", home.to_str().unwrap(), "add", "person", "--key", &key])
                            .args(["--set", &format!("full_name=Escritor {w} {i}")])
                            .stdout(Stdio::null())
                            .stderr(Stdio::piped())
                            .output()
                            .unwrap();
                        if !out.status.success() {
                            // the server died: later commands open the store directly; stop here
                            break;
                        }
                        true
                    };
                    if ok {
                        acknowledged.push(key);
                    } else {
                        break;
                    }
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
    killed.store(true, std::sync::atomic::Ordering::SeqCst);
    drop(s);
    let acknowledged: Vec<String> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    assert!(acknowledged.len() >= 20, "too few writes before the kill to test anything: {}", acknowledged.len());
    eprintln!("{} writes acknowledged before the kill", acknowledged.len());
    // the node restarts cleanly and holds every acknowledged write
    assert!(hq.json(&["check"])["problems"].as_array().unwrap().is_empty());
    let keys = person_keys(&hq);
    for k in &acknowledged {
        assert!(keys.contains(k), "{k} was acknowledged and is gone");
    }
    let s = hq.serve_with(&["--http", "127.0.0.1:0"]);
    assert_eq!(hq.json(&["status"])["serving"]["listen"][0], s.addr.as_str());
}

fn person_keys(node: &Ayni) -> Vec<String> {
    node.json(&["list", "person"]).as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_client_reading_slowly_holds_up_no_one_else() {
    let (hq, _) = network(0);
    hq.ok(&["seed"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.jsonl");
    let lines: Vec<String> = (0..3000)
        .map(|i| {
            format!("{{\"key\": \"p{i}\", \"full_name\": \"Persona {i} {}\"}}", "de la Cordillera de Sama ".repeat(18))
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    hq.ok(&["import", "person", file.to_str().unwrap()]);
    let _s = hq.serve();
    // a listing of several MB whose reader never reads (a pager left open)
    let mut stalled = hq.cmd(&["--json", "list", "person"]).stdout(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    let mut write =
        hq.cmd(&["add", "team", "--key", "T-9", "--set", "name=T-9"]).stdout(Stdio::null()).spawn().unwrap();
    let started = std::time::Instant::now();
    let done = loop {
        if let Some(status) = write.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = write.kill();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(done.is_some_and(|s| s.success()), "a write waited for the stalled reader");
    assert_eq!(hq.json(&["get", "team:T-9"])["key"], "T-9");
    // and the stalled listing still completes once read
    let mut out = String::new();
    use std::io::Read;
    stalled.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(stalled.wait().unwrap().success());
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().len(), 3000);
}

/// The progress lines `--progress` asked for, as stderr holds them.
fn progress_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.starts_with("ayni: ")).map(String::from).collect()
}

#[test]
fn long_commands_report_progress_directly_and_through_the_serving_node() {
    let (hq, _field) = network(0);
    let file = hq.dir.path().join("people.jsonl");
    let lines: Vec<String> = (0..1500).map(|i| format!(r#"{{"key": "p{i}", "full_name": "Persona {i}"}}"#)).collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let file = file.to_str().unwrap();

    // directly: progress only when asked for (stderr is no terminal here)
    let quiet = hq.run(&["import", "person", file]);
    assert!(quiet.status.success() && progress_lines(&quiet).is_empty(), "{quiet:?}");
    hq.ok(&["export", "person", "--format", "jsonl"]);
    let bundle = hq.dir.path().join("all.ayni");
    let direct = hq.run(&["--progress", "bundle", "export", bundle.to_str().unwrap()]);
    assert!(direct.status.success());
    let lines = progress_lines(&direct);
    assert!(lines.iter().any(|l| l.starts_with("ayni: bundle export: packing 256 of ")), "{lines:?}");
    assert!(lines.last().unwrap().ends_with(" documents") && lines.last().unwrap().contains("packing"), "{lines:?}");

    // through the serving node: the same progress, the same output
    let s = hq.serve();
    let file2 = hq.dir.path().join("more.jsonl");
    let lines: Vec<String> = (0..1500).map(|i| format!(r#"{{"key": "q{i}", "full_name": "Persona {i}"}}"#)).collect();
    std::fs::write(&file2, lines.join("\n")).unwrap();
    let served = hq.run(&["--progress", "import", "person", file2.to_str().unwrap()]);
    assert!(served.status.success(), "{served:?}");
    assert_eq!(
        progress_lines(&served),
        [
            "ayni: import person: checking 1000 records",
            "ayni: import person: checking 1500 of 1500 records",
            "ayni: import person: writing 1000 of 1500 records",
            "ayni: import person: writing 1500 of 1500 records",
        ]
    );
    assert_eq!(String::from_utf8_lossy(&served.stdout), String::from_utf8_lossy(&quiet.stdout));
    let quiet_served = hq.run(&["bundle", "export", hq.dir.path().join("b2.ayni").to_str().unwrap()]);
    assert!(quiet_served.status.success() && progress_lines(&quiet_served).is_empty(), "{quiet_served:?}");
    drop(s);
}
