//! Store benchmarks for BENCHMARKS.md (a plain harness: these are macro
//! measurements, printed as a markdown table).
//!
//! Run: `cargo bench -p ayni-node --bench store` (add `-- --quick` for
//! 1k/10k records instead of 10k/100k).

use std::time::{Duration, Instant};

use ayni_node::NodeHandle;
use serde_json::{json, Value};

mod common;
use common::{rnd, wait, NODE};

/// An EDAN-sized record: ~21 fields, ~0.9 KB as JSON, with varied values
/// (uniform records would flatter the zstd baseline).
fn edan(i: usize, event: &str) -> Value {
    let r = |salt: u64, m: u64| (rnd(i, salt) % m) as usize;
    let provinces = ["Cercado", "Méndez", "Avilés", "Arce", "O'Connor", "Gran Chaco"];
    json!({
        "key": format!("edan-{i:06}"),
        "event_id": event,
        "edan_type": (["preliminar", "complementaria", "sectorial"][r(1, 3)]),
        "form_version": "videci-edan-1",
        "evaluation_started_at": format!("2026-08-{:02}T{:02}:{:02}:00Z", 1 + r(2, 28), r(3, 24), r(4, 60)),
        "location": {"department": "tarija", "province": (provinces[r(5, 6)]), "community_or_zone": format!("Comunidad {}", r(6, 5000)), "urban_rural": (["urban", "rural"][r(7, 2)])},
        "geo": {"lat": -21.0 - r(8, 100_000) as f64 / 100_000.0, "lon": -64.0 - r(9, 100_000) as f64 / 100_000.0, "accuracy_m": 3 + r(10, 50), "captured_by": "gps"},
        "info_sources": ["direct_observation", "key_informant"],
        "lead_evaluator": format!("Evaluador {}", r(11, 40)),
        "tallies": {format!("z{}", r(12, 9)): {format!("GAEM-{}", 1 + r(13, 4)): {
            "families_affected": r(14, 80), "families_damnified": r(15, 20), "persons_affected": r(16, 300),
            "dead": r(17, 2), "injured": r(18, 9), "missing": 0, "evacuated": r(19, 60), "sheltered_collective": r(20, 30),
            "houses_affected_habitable": r(21, 15), "houses_destroyed": r(22, 7), "ha_vegetation_burned": r(23, 9000) as f64 / 10.0,
            "livestock_dead": {"ovino": r(24, 40), "camelido": r(25, 6)}, "method": (["door_to_door", "estimate"][r(26, 2)])}}},
        "needs": [{"sector": "alimentos", "item": "ración familiar", "quantity": 1 + r(27, 50), "unit": "raciones", "priority": (["vital", "alta", "media"][r(28, 3)])}]
    })
}

fn rss_peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

fn reset_rss_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes: &[usize] = if quick { &[1_000, 10_000] } else { &[10_000, 100_000] };
    println!("| records | import (s) | records/s | import peak RSS (MB) | disk bytes/record | JSON bytes/record | zstd-3 JSON bytes/record | disk ÷ zstd | open + list 10 teams (ms) | list all EDAN (ms) | list peak RSS (MB) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    // on the project's disk, not a tmpfs: durable writes must hit a real device
    let base = std::env::var("AYNI_BENCH_DIR").unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").to_string());
    for &n in sizes {
        let dir = tempfile::tempdir_in(&base).unwrap();
        let home = dir.path().join("node");
        let node = NodeHandle::init(&home, "bench").unwrap();
        let incendio =
            json!({"name": "Incendio", "hazard_type": "incendio_forestal", "scope": [{"department": "tarija"}]});
        let event = wait(node.create(NODE, "event", Some("ev"), incendio)).unwrap().id;
        for t in 0..10 {
            wait(node.create(NODE, "team", Some(&format!("T{t}")), json!({"name": format!("T{t}")}))).unwrap();
        }
        node.close().unwrap();
        let jsonl = common::jsonl(n, |i| edan(i, &event));
        let zstd_bytes = zstd::encode_all(jsonl.as_bytes(), 3).unwrap().len();
        let json_bytes = jsonl.len();
        // the import file as `ayni import` reads it: held in memory, so it counts in the peak
        reset_rss_peak();
        let t = Instant::now();
        let node = common::open(&home);
        common::import(&node, "edan", jsonl);
        node.close().unwrap();
        let import = t.elapsed();
        let import_rss = rss_peak_kb();
        let disk = ayni_node::store::Store::open(&home.join("store")).unwrap().0.disk_bytes();
        reset_rss_peak();
        let t = Instant::now();
        let node = common::open(&home);
        let teams = wait(node.list(NODE, "team", vec![])).unwrap();
        let open_list = t.elapsed();
        assert_eq!(teams.len(), 10);
        let t = Instant::now();
        let all = wait(node.list(NODE, "edan", vec![])).unwrap();
        let list_all = t.elapsed();
        assert_eq!(all.len(), n);
        let list_rss = rss_peak_kb();
        drop(all);
        node.close().unwrap();
        println!(
            "| {n} | {:.2} | {:.0} | {:.0} | {} | {} | {} | {:.2} | {:.1} | {:.0} | {:.0} |",
            import.as_secs_f64(),
            n as f64 / import.as_secs_f64(),
            import_rss as f64 / 1024.0,
            disk / n as u64,
            json_bytes / n,
            zstd_bytes / n,
            disk as f64 / zstd_bytes as f64,
            open_list.as_secs_f64() * 1000.0,
            list_all.as_secs_f64() * 1000.0,
            list_rss as f64 / 1024.0
        );
    }

    // durable single-record writes: each `set` is one atomic batch, flushed
    // and fdatasync'ed before it returns
    let dir = tempfile::tempdir_in(&base).unwrap();
    let node = NodeHandle::init(&dir.path().join("node"), "bench").unwrap();
    let incendio = json!({"name": "Incendio", "hazard_type": "incendio_forestal", "scope": [{"department": "tarija"}]});
    let ev = wait(node.create(NODE, "event", Some("ev"), incendio)).unwrap().id;
    common::import(&node, "edan", common::jsonl(1, |i| edan(i + 1, &ev)));
    let rec = wait(node.get(NODE, "edan:edan-000001")).unwrap();
    let writes = if quick { 200 } else { 1000 };
    let mut times = Vec::with_capacity(writes);
    for i in 0..writes {
        let t = Instant::now();
        wait(node.set(NODE, &rec.id, vec![("tallies.z1.GAEM-2.families_affected".to_string(), json!(i))])).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let fresh_add: Vec<Duration> = {
        let mut v: Vec<Duration> = (0..writes / 4)
            .map(|i| {
                let t = Instant::now();
                wait(node.create(NODE, "team", Some(&format!("W{i}")), json!({"name": "W"}))).unwrap();
                t.elapsed()
            })
            .collect();
        v.sort();
        v
    };
    println!();
    println!("| durable write | n | p50 (ms) | p99 (ms) | max (ms) |");
    println!("|---|---|---|---|---|");
    println!(
        "| `set` one field of an EDAN | {writes} | {:.2} | {:.2} | {:.2} |",
        pct(&times, 0.5).as_secs_f64() * 1e3,
        pct(&times, 0.99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    println!(
        "| `add` a small record | {} | {:.2} | {:.2} | {:.2} |",
        fresh_add.len(),
        pct(&fresh_add, 0.5).as_secs_f64() * 1e3,
        pct(&fresh_add, 0.99).as_secs_f64() * 1e3,
        fresh_add[fresh_add.len() - 1].as_secs_f64() * 1e3
    );
}
