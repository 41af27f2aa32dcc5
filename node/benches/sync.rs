//! Replication benchmarks for BENCHMARKS.md: Ayni's session over QUIC on
//! loopback between two real stores, against automerge's per-document sync
//! with fresh sync states (what automerge-repo and samod do on connect),
//! measured in the same run on the same documents.
//!
//! Run: `cargo bench -p ayni-node --bench sync` (`-- --quick` for 1k/10k).

use std::time::Instant;

use automerge::sync::{State, SyncDoc};
use automerge::Automerge;
use ayni_node::network::Role;
use ayni_node::NodeHandle;
use serde_json::json;

mod common;
use common::{copy_dir, open, pair_with_edan, reset_rss, rnd, rss_peak_mb, wait, zstd_of_changes, NODE};

/// automerge's own sync, one document at a time with fresh states, all
/// documents in flight together: returns (bytes a→b, bytes b→a, rounds).
fn baseline(a: &[Automerge], b: &[Automerge]) -> (usize, usize, usize) {
    let (mut ab, mut ba, mut rounds) = (0, 0, 0);
    for (da, db) in a.iter().zip(b) {
        let (mut da, mut db) = (da.clone(), db.clone());
        let (mut sa, mut sb) = (State::new(), State::new());
        let mut r = 0;
        loop {
            let m1 = da.generate_sync_message(&mut sa);
            let m2 = db.generate_sync_message(&mut sb);
            if m1.is_none() && m2.is_none() {
                break;
            }
            r += 1;
            if let Some(m) = m1 {
                let bytes = m.encode();
                ab += bytes.len();
                db.receive_sync_message(&mut sb, automerge::sync::Message::decode(&bytes).unwrap()).unwrap();
            }
            if let Some(m) = m2 {
                let bytes = m.encode();
                ba += bytes.len();
                da.receive_sync_message(&mut sa, automerge::sync::Message::decode(&bytes).unwrap()).unwrap();
            }
        }
        rounds = rounds.max(r);
    }
    (ab, ba, rounds)
}

fn load_all(node: &NodeHandle, ids: &[String]) -> Vec<Automerge> {
    ids.iter().map(|id| common::load(node, id)).collect()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes: &[usize] = if quick { &[1_000, 10_000] } else { &[1_000, 10_000, 100_000] };
    println!("| records | case | Ayni bytes A→B | Ayni bytes B→A | Ayni round trips | Ayni wall (ms) | Ayni peak RSS (MB) | automerge bytes A→B | automerge bytes B→A | automerge rounds | automerge wall (ms) | bytes ratio (automerge ÷ Ayni) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &n in sizes {
        let base = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        // replica A (the initiator) and B, enrolled in one network
        let (a_home, b_home) = (base.path().join("a"), base.path().join("b"));
        let ids = pair_with_edan(&a_home, &b_home, n, Role::Hq);
        // B starts as a copy of A's store (identical replicas), keeping its own key
        let empty_b = base.path().join("empty-b");
        copy_dir(&b_home, &empty_b);
        std::fs::remove_dir_all(b_home.join("store")).unwrap();
        copy_dir(&a_home.join("store"), &b_home.join("store"));

        let cases: Vec<(&str, usize)> = vec![
            ("identical", 0),
            ("1 changed", 1),
            ("1 % changed", (n / 100).max(1)),
            ("first sync into an empty node", usize::MAX),
        ];
        for (case, changed) in cases {
            let b_dir = if changed == usize::MAX { empty_b.clone() } else { b_home.clone() };
            let (a, b) = (open(&a_home), open(&b_dir));
            if changed != usize::MAX {
                for id in ids.iter().take(changed) {
                    let set = vec![("tallies.z1.GAEM-9.families_affected".into(), json!(rnd(changed, 1) % 90))];
                    wait(b.set(NODE, id, set)).unwrap();
                }
            }
            // baseline on the same documents, before Ayni syncs them
            let (da, db) = (load_all(&a, &ids), load_all(&b, &ids));
            let t = Instant::now();
            let (bab, bba, brounds) = baseline(&da, &db);
            let bwall = t.elapsed();
            drop((da, db));
            reset_rss();
            let t = Instant::now();
            let report = common::sync_over_loopback(&a, &b);
            let wall = t.elapsed();
            let rss = rss_peak_mb();
            println!(
                "| {n} | {case} | {} | {} | {} | {:.0} | {:.0} | {bab} | {bba} | {brounds} | {:.0} | {:.1} |",
                report.bytes_sent,
                report.bytes_received,
                report.round_trips,
                wall.as_secs_f64() * 1e3,
                rss,
                bwall.as_secs_f64() * 1e3,
                (bab + bba) as f64 / (report.bytes_sent + report.bytes_received).max(1) as f64
            );
            a.close().unwrap();
            b.close().unwrap();
        }
        // the first-sync target: bytes of the records' changes, zstd-compressed
        let a = open(&a_home);
        let z = zstd_of_changes(&a, &ids);
        a.close().unwrap();
        println!("| {n} | (reference) zstd-3 of all the records' changes | {z} | | | | | | | | | |");
    }
}
