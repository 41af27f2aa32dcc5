//! Store benchmarks for BENCHMARKS.md (a plain harness: these are macro
//! measurements, printed as a markdown table).
//!
//! Run: `cargo bench -p ayni-node --bench store` (add `-- --quick` for
//! 1k/10k records instead of 10k/100k).

use std::time::{Duration, Instant};

use ayni_node::Node;
use serde_json::{json, Value};

/// An EDAN-sized record: ~21 fields, ~0.9 KB as JSON.
fn edan(i: usize, event: &str) -> Value {
    json!({
        "key": format!("edan-{i:06}"),
        "event_id": event,
        "edan_type": "preliminar",
        "form_version": "videci-edan-1",
        "evaluation_started_at": "2026-08-01T08:00:00Z",
        "location": {"department": "tarija", "province": "Cercado", "community_or_zone": format!("Comunidad {i}"), "urban_rural": "rural"},
        "geo": {"lat": -21.4 - (i % 100) as f64 / 1000.0, "lon": -64.8, "accuracy_m": 12, "captured_by": "gps"},
        "info_sources": ["direct_observation", "key_informant"],
        "lead_evaluator": "Evaluadora GAEM",
        "tallies": {format!("z{}", i % 7): {"GAEM-1": {
            "families_affected": i % 50, "families_damnified": i % 9, "persons_affected": i % 200,
            "dead": 0, "injured": i % 3, "missing": 0, "evacuated": i % 40, "sheltered_collective": i % 20,
            "houses_affected_habitable": i % 11, "houses_destroyed": i % 4, "ha_vegetation_burned": (i % 500) as f64 * 1.5,
            "livestock_dead": {"ovino": i % 30, "camelido": i % 5}, "method": "door_to_door"}}},
        "needs": [{"sector": "agua_saneamiento_higiene", "item": "agua segura", "quantity": 15, "unit": "litros_dia", "priority": "vital"}]
    })
}

fn rss_peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0)))
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
    println!("| records | import (s) | records/s | import peak RSS (MB) | disk bytes/record | zstd JSON bytes/record | disk ÷ zstd | open + list 10 teams (ms) | list all EDAN (ms) | list peak RSS (MB) |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("node");
        let event;
        {
            let node = Node::init(&home, "bench").unwrap();
            event = node.add("event", Some("ev"), json!({"name": "Incendio", "hazard_type": "incendio_forestal", "scope": [{"department": "tarija"}]})).unwrap().id;
            for t in 0..10 {
                node.add("team", Some(&format!("T{t}")), json!({"name": format!("T{t}")})).unwrap();
            }
        }
        let items: Vec<Value> = (0..n).map(|i| edan(i, &event)).collect();
        let jsonl: String = items.iter().map(|v| v.to_string() + "\n").collect();
        let zstd_bytes = zstd::encode_all(jsonl.as_bytes(), 3).unwrap().len();
        reset_rss_peak();
        let t = Instant::now();
        {
            let node = Node::open(&home).unwrap();
            node.import("edan", || items.iter().enumerate().map(|(i, v)| (format!("item {i}"), Ok(v.clone())))).unwrap();
        }
        let import = t.elapsed();
        let import_rss = rss_peak_kb();
        let disk = Node::open(&home).unwrap().store().disk_bytes();
        reset_rss_peak();
        let t = Instant::now();
        let node = Node::open(&home).unwrap();
        let teams = node.list("team", &[]).unwrap();
        let open_list = t.elapsed();
        assert_eq!(teams.len(), 10);
        let t = Instant::now();
        let all = node.list("edan", &[]).unwrap();
        let list_all = t.elapsed();
        assert_eq!(all.len(), n);
        let list_rss = rss_peak_kb();
        println!(
            "| {n} | {:.2} | {:.0} | {:.0} | {} | {} | {:.2} | {:.1} | {:.0} | {:.0} |",
            import.as_secs_f64(),
            n as f64 / import.as_secs_f64(),
            import_rss as f64 / 1024.0,
            disk / n as u64,
            zstd_bytes / n,
            disk as f64 / zstd_bytes as f64,
            open_list.as_secs_f64() * 1000.0,
            list_all.as_secs_f64() * 1000.0,
            list_rss as f64 / 1024.0
        );
    }

    // durable single-record writes: each `set` is one atomic batch, flushed
    // and fdatasync'ed before it returns
    let dir = tempfile::tempdir().unwrap();
    let node = Node::init(&dir.path().join("node"), "bench").unwrap();
    let ev = node.add("event", Some("ev"), json!({"name": "Incendio", "hazard_type": "incendio_forestal", "scope": [{"department": "tarija"}]})).unwrap().id;
    node.import("edan", || std::iter::once(("1".to_string(), Ok(edan(1, &ev))))).unwrap();
    let rec = node.get("edan:edan-000001").unwrap();
    let writes = if quick { 200 } else { 1000 };
    let mut times = Vec::with_capacity(writes);
    for i in 0..writes {
        let t = Instant::now();
        node.set(&rec.id, &[(format!("tallies.z1.GAEM-2.families_affected"), json!(i))]).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let fresh_add: Vec<Duration> = {
        let mut v: Vec<Duration> = (0..writes / 4)
            .map(|i| {
                let t = Instant::now();
                node.add("team", Some(&format!("W{i}")), json!({"name": "W"})).unwrap();
                t.elapsed()
            })
            .collect();
        v.sort();
        v
    };
    println!();
    println!("| durable write | n | p50 (ms) | p99 (ms) | max (ms) |");
    println!("|---|---|---|---|---|");
    println!("| `set` one field of an EDAN | {writes} | {:.2} | {:.2} | {:.2} |", pct(&times, 0.5).as_secs_f64() * 1e3, pct(&times, 0.99).as_secs_f64() * 1e3, times[times.len() - 1].as_secs_f64() * 1e3);
    println!("| `add` a small record | {} | {:.2} | {:.2} | {:.2} |", fresh_add.len(), pct(&fresh_add, 0.5).as_secs_f64() * 1e3, pct(&fresh_add, 0.99).as_secs_f64() * 1e3, fresh_add[fresh_add.len() - 1].as_secs_f64() * 1e3);
}
