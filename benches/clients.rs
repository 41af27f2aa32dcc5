//! automerge-repo clients (the official JavaScript packages, `tests/js`)
//! against an Ayni node and against the reference JavaScript sync server
//! (automerge-repo's `Repo` with its WebSocket server adapter, in Node)
//! holding the same documents, in the same run: a client's first sync of
//! every record, and an up-to-date client's reconnect. For BENCHMARKS.md.
//!
//! `cargo build --release -p ayni-cli && (cd tests/js && npm ci) &&
//! cargo bench --bench clients [-- --records 1000]` (the demo's 184
//! records plus that many seed-shaped EDAN records).

mod common;

use std::process::Command;

fn main() {
    let records = common::arg("--records", 1_000);
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
    let file = dir.path().join("urls.txt");
    std::fs::write(&file, urls.join("\n")).unwrap();
    let (serve, http) = common::serve_http(&home);
    let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let out = Command::new("node")
        .arg("bench.mjs")
        .current_dir(&js)
        .env("AYNI_HTTP", &http)
        .env("AYNI_TOKEN", token["token"].as_str().unwrap())
        .env("AYNI_URLS", &file)
        .env("AYNI_PID", serve.id().to_string())
        .output()
        .expect("node");
    common::stop(serve);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap();
    let n = r["records"].as_u64().unwrap();
    let (first, first_ref) = (&r["ayni_first_sync"], &r["reference_first_sync"]);
    let (again, again_ref) = (&r["ayni_reconnect"], &r["reference_reconnect"]);
    let ms = |v: &serde_json::Value| v["ms"].as_f64().unwrap_or(f64::NAN);
    println!("| records | case | Ayni | Ayni bytes to the client | reference server | reference bytes to the client |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {n} | first sync of every record | {:.0} ms | {} | {:.0} ms | {} |",
        ms(first),
        first["bytes"],
        ms(first_ref),
        first_ref["bytes"]
    );
    println!(
        "| {n} | reconnect holding every record up to date | {} message(s), {:.0} ms of the node's CPU | {} | {} message(s), last after {:.0} ms | {} |",
        again["messages"],
        again["node_cpu_ms"].as_f64().unwrap_or(f64::NAN),
        again["bytes"],
        again_ref["messages"],
        ms(again_ref),
        again_ref["bytes"]
    );
    println!();
    println!("first sync, Ayni ÷ reference: {:.2} (time)", ms(first) / ms(first_ref));
}
