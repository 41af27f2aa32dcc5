//! Import and first-sync speed on records shaped like the seed's EDAN
//! (`seed::edan_like`: zones, tallies per zone and team, needs, services,
//! response; ~2.7 KB of JSON), against automerge itself on the same records
//! in the same run: building and saving each record as one change per
//! document on one core, and loading every saved document.
//!
//! Run: `cargo bench -p ayni-node --bench speed` (`-- --n 100000` for
//! another size). Prints a markdown table for BENCHMARKS.md.

use std::time::{Duration, Instant};

use automerge::Automerge;
use ayni_node::network::Role;
use ayni_node::NodeHandle;
use serde_json::Value;

mod common;
use common::automerge_alone::automerge_baseline;
use common::{all_ids, reset_rss, rss_peak_mb, wait, NODE};

/// Runs the release `ayni` binary's `list edan --json` on a home, if it was
/// built (`cargo build --release -p ayni-cli`): (ms to the first byte, ms in
/// all, peak RSS in MB, from /usr/bin/time).
fn list_with_cli(home: &std::path::Path) -> Option<(f64, f64, f64)> {
    use std::io::Read;
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/ayni");
    if !bin.exists() {
        eprintln!("{} not built: skipping the CLI list measurement", bin.display());
        return None;
    }
    let t = Instant::now();
    let mut child = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(&bin)
        .args(["--home", home.to_str()?, "--json", "list", "edan"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let mut out = child.stdout.take()?;
    let mut first = [0u8; 1];
    out.read_exact(&mut first).ok()?;
    let first_byte = t.elapsed();
    std::io::copy(&mut out, &mut std::io::sink()).ok()?;
    let mut err = String::new();
    child.stderr.take()?.read_to_string(&mut err).ok()?;
    child.wait().ok()?;
    let all = t.elapsed();
    let kb: f64 = err.lines().last()?.trim().parse().ok()?;
    Some((first_byte.as_secs_f64() * 1e3, all.as_secs_f64() * 1e3, kb / 1024.0))
}

/// Bytes of signatures as they travel, in this run: the actual bundle
/// (format 3: proofs without their change hash) and the same documents'
/// frames written as format 1 would (each signature with its hash), both
/// bodies compressed as a bundle's is. Returns (bundle bytes, format 3
/// body, format 1 body, changes).
fn signature_bytes(a: &NodeHandle) -> (usize, usize, usize, usize) {
    use ayni_node::sync::sigs::{document_hashes, Collector};
    use ayni_node::sync::wire::Frame;
    let (bundle, _) = wait(a.export_bundle(None, false, Box::new(|_| {}))).unwrap();
    let (mut v2, mut v1, mut changes) = (vec![], vec![], 0);
    for id in all_ids(a) {
        let bytes = wait(a.document_bytes(&id)).unwrap();
        v2.extend_from_slice(&bytes);
        let mut sigs = Collector::default();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let len = Frame::body_len(rest[..4].try_into().unwrap()).unwrap();
            if let Some(Frame::DocFull(id, raw)) = sigs.take(Frame::decode(&rest[4..4 + len]).unwrap()) {
                let doc = Automerge::load(&raw).unwrap();
                changes += doc.get_changes_meta(&[]).len();
                sigs.arrived(&id, || Ok(document_hashes(&doc))).unwrap();
                Frame::Sigs(id, sigs.by_hash().iter().filter_map(|(h, s)| Some((*h, *s.signature()?))).collect())
                    .encode(&mut v1);
                Frame::DocFull(id, raw).encode(&mut v1);
            }
            rest = &rest[4 + len..];
        }
    }
    let z = |b: &[u8]| zstd::stream::encode_all(b, 9).unwrap().len();
    (bundle.len(), z(&v2), z(&v1), changes)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.iter().position(|a| a == "--n").and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(10_000);
    let base = std::env::var("AYNI_BENCH_DIR").unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").to_string());
    let dir = tempfile::tempdir_in(&base).unwrap();
    let (a_home, b_home) = (dir.path().join("a"), dir.path().join("b"));
    let a = NodeHandle::init(&a_home, "a").unwrap();
    wait(a.create_network("bench")).unwrap();
    let b = NodeHandle::init(&b_home, "b").unwrap();
    let token = wait(a.enroll(b.id(), Role::Hq, "b", None, None)).unwrap().to_token();
    wait(b.join(&token)).unwrap();
    wait(a.seed()).unwrap();
    let before = all_ids(&a).len();

    // the import file as `ayni import` reads it, made before the clock starts
    let text = common::jsonl(n, ayni_node::seed::edan_like);
    reset_rss();
    let t = Instant::now();
    common::import(&a, "edan", text);
    let import = t.elapsed();
    let import_rss = rss_peak_mb();
    assert_eq!(all_ids(&a).len(), before + n);

    // closing after the bulk write (what the CLI does as a command ends);
    // then the next open
    let t = Instant::now();
    a.close().unwrap();
    let checkpoint = t.elapsed();
    let t = Instant::now();
    let a = common::open(&a_home);
    wait(a.list(NODE, "team", vec![])).unwrap();
    let first_open = t.elapsed();
    a.close().unwrap();

    // `ayni list edan --json` as a user runs it: peak RSS and time to the first byte
    let cli_list = list_with_cli(&a_home);
    let a = common::open(&a_home);

    // durable `set` of one field of an existing EDAN
    let mut sets = Vec::with_capacity(300);
    for i in 0..300 {
        let t = Instant::now();
        let set = vec![("tallies.z1.GAEM-1.injured".into(), serde_json::json!(i % 7))];
        wait(a.set(NODE, "edan:edan-000001", set)).unwrap();
        sets.push(t.elapsed());
    }
    sets.sort();
    let pct = |p: f64| sets[((sets.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;

    reset_rss();
    let t = Instant::now();
    let report = common::sync_over_loopback(&a, &b);
    let sync = t.elapsed();
    let sync_rss = rss_peak_mb();
    assert_eq!(all_ids(&b).len(), before + n);
    let (bundle_bytes, body_v2, body_v1, changes) = signature_bytes(&a);
    a.close().unwrap();
    b.close().unwrap();

    // automerge alone on the same records, last, so its memory does not
    // count in Ayni's peaks
    let records: Vec<Value> = (0..n).map(ayni_node::seed::edan_like).collect();
    let json_bytes: usize = records.iter().map(|r| r.to_string().len()).sum::<usize>() / n;
    let (am_build, am_load) = automerge_baseline(&records);
    drop(records);

    let s = |d: Duration| d.as_secs_f64();
    println!("| records | changes | bundle (B) | bundle body, proofs without hash (format 3, B) | the same with each signature's hash (format 1, B) | format 3 ÷ format 1 | saved per change (B) |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {n} | {changes} | {bundle_bytes} | {body_v2} | {body_v1} | {:.3} | {:.1} |",
        body_v2 as f64 / body_v1 as f64,
        (body_v1 - body_v2) as f64 / changes as f64
    );
    println!();
    println!("| records | close after the import (ms) | next open + list teams (ms) | durable `set` p50 (ms) | p99 (ms) | `ayni list edan --json`: first byte (ms) | all (ms) | peak RSS (MB) |");
    println!("|---|---|---|---|---|---|---|---|");
    let (first_byte, all, rss) = cli_list.unwrap_or_default();
    println!(
        "| {n} | {:.0} | {:.0} | {:.2} | {:.2} | {first_byte:.0} | {all:.0} | {rss:.0} |",
        checkpoint.as_secs_f64() * 1e3,
        first_open.as_secs_f64() * 1e3,
        pct(0.5),
        pct(0.99)
    );
    println!();
    println!("| records | JSON bytes/record | automerge build+save, 1 core (s) | automerge load (s) | Ayni import (s) | import ÷ automerge build+save | import peak RSS (MB) | first sync over QUIC, both sides (s) | first sync ÷ automerge load | sync peak RSS, both sides in one process (MB) | first sync bytes |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {n} | {json_bytes} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.0} | {} |",
        s(am_build),
        s(am_load),
        s(import),
        s(import) / s(am_build),
        import_rss,
        s(sync),
        s(sync) / s(am_load),
        sync_rss,
        report.bytes_sent + report.bytes_received
    );
}
