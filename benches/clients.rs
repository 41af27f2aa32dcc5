//! automerge-repo clients (the official JavaScript packages, `tests/js`)
//! against an Ayni node and against the reference JavaScript sync server
//! (automerge-repo's `Repo` with its WebSocket server adapter and a storage
//! adapter holding the same documents, in its own Node process), in the
//! same run: a client's first sync of every record, and an up-to-date
//! client's reconnect. Every client is a fresh Node process, and the two
//! servers take turns going first. For BENCHMARKS.md.
//!
//! `cargo build --release -p ayni-cli && (cd tests/js && npm ci) &&
//! cargo bench --bench clients [-- --records 1000 --runs 3]` (the demo's
//! 184 records plus that many seed-shaped EDAN records).

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};

/// Runs `node bench.mjs ARGS` in a fresh process; its JSON answer.
fn bench_js(args: &[&str]) -> serde_json::Value {
    let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    // e.g. AYNI_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the clients
    let extra = std::env::var("AYNI_BENCH_NODE_ARGS").unwrap_or_default();
    let out = Command::new("node")
        .arg("--max-old-space-size=12000")
        .args(extra.split_whitespace())
        .arg("bench.mjs")
        .args(args)
        .current_dir(&js)
        .output()
        .expect("node");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap();
    eprintln!("{} {}: {v}", args[0], args[1].split('?').next().unwrap_or_default());
    v
}

/// Resident memory of process `pid` now and at its peak (MiB).
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let records = common::arg("--records", 1_000);
    let runs = common::arg("--runs", 3);
    let dir = tempfile::tempdir().unwrap();
    let home = common::home_with_edans(dir.path(), records);
    let token: serde_json::Value =
        serde_json::from_str(&common::ayni(&home, &["--json", "client", "add", "bench", "--role", "read"])).unwrap();
    let list: Vec<serde_json::Value> = ["edan", "practice", "mission", "agreement", "request", "person", "entity"]
        .iter()
        .flat_map(|k| {
            serde_json::from_str::<Vec<serde_json::Value>>(&common::ayni(&home, &["--json", "list", k])).unwrap()
        })
        .collect();
    let urls: Vec<&str> = list.iter().filter_map(|r| r["url"].as_str()).collect();
    let urls_file = dir.path().join("urls.txt");
    std::fs::write(&urls_file, urls.join("\n")).unwrap();
    let (urls_file, docs_file) = (urls_file.to_str().unwrap(), dir.path().join("docs.jsonl"));
    let docs_file = docs_file.to_str().unwrap();

    let (serve, http) = common::serve_http(&home);
    let ayni = format!("ws://{http}/automerge?token={}", token["token"].as_str().unwrap());
    // the documents the reference server holds: what a client got from the node
    let seeded = bench_js(&["first", &ayni, urls_file, docs_file]);
    let mut reference = Command::new("node")
        .args(["--max-old-space-size=12000", "bench.mjs", "serve", docs_file])
        .current_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    let mut line = String::new();
    std::io::BufReader::new(reference.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = serde_json::from_str::<serde_json::Value>(&line).unwrap()["port"].as_u64().unwrap();
    let reference_url = format!("ws://127.0.0.1:{port}");

    // run 0: Ayni went first (the run that saved the documents); then the
    // servers take turns going first
    let (mut ours, mut theirs) = (vec![seeded["ms"].as_f64().unwrap()], vec![]);
    let (mut our_bytes, mut their_bytes) = (seeded["bytes"].clone(), serde_json::Value::Null);
    let mut reference_run = || {
        let r = bench_js(&["first", &reference_url, urls_file]);
        their_bytes = r["bytes"].clone();
        r["ms"].as_f64().unwrap()
    };
    theirs.push(reference_run());
    for run in 1..runs {
        if run % 2 == 1 {
            theirs.push(reference_run());
        }
        let r = bench_js(&["first", &ayni, urls_file]);
        ours.push(r["ms"].as_f64().unwrap());
        our_bytes = r["bytes"].clone();
        if run % 2 == 0 {
            theirs.push(reference_run());
        }
    }
    let (node_rss, node_peak) = rss_mib(serve.id());
    let (ref_rss, ref_peak) = rss_mib(reference.id());
    let again = bench_js(&["reconnect", &ayni, docs_file, "0", &serve.id().to_string()]);
    let again_ref = bench_js(&["reconnect", &reference_url, docs_file, "1", &reference.id().to_string()]);
    common::stop(serve);
    let _ = reference.kill();
    let _ = reference.wait();

    let n = urls.len();
    let (mine, refs) = (median(ours.clone()), median(theirs.clone()));
    println!("| records | case | Ayni | Ayni bytes to the client | reference server | reference bytes to the client |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {n} | first sync of every record (median of {} / {} cold clients) | {mine:.0} ms | {our_bytes} | {refs:.0} ms | {their_bytes} |",
        ours.len(),
        theirs.len()
    );
    println!(
        "| {n} | reconnect holding every record up to date | {} message(s), every document handled after {:.0} ms, {:.0} ms of the node's CPU | {} | {} message(s), the last after {:.0} ms, {:.0} ms of the server's CPU | {} |",
        again["messages"],
        again["ms"].as_f64().unwrap_or(f64::NAN),
        again["server_cpu_ms"].as_f64().unwrap_or(f64::NAN),
        again["bytes"],
        again_ref["messages"],
        again_ref["ms"].as_f64().unwrap_or(f64::NAN),
        again_ref["server_cpu_ms"].as_f64().unwrap_or(f64::NAN),
        again_ref["bytes"]
    );
    println!(
        "| {n} | server memory after the first syncs (RSS now / peak) | {node_rss:.0} / {node_peak:.0} MiB | | {ref_rss:.0} / {ref_peak:.0} MiB | |"
    );
    println!();
    println!(
        "first sync, Ayni ÷ reference (medians): {:.2}; every run, ms: Ayni {ours:.0?}, reference {theirs:.0?}",
        mine / refs
    );
}
