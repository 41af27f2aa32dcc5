//! Trust benchmarks for BENCHMARKS.md: the cost of signatures per change
//! (bytes and verification time) and the size of a bundle of 10,000 EDAN
//! records against their zstd-compressed JSON.
//!
//! Run: `cargo bench -p ayni-node --bench trust`.

use std::time::Instant;

use ayni_node::network::Role;
use ayni_node::Node;
use serde_json::{json, Value};

fn rnd(i: usize, salt: u64) -> u64 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 29)
}

fn edan(i: usize) -> Value {
    let r = |salt: u64, m: u64| (rnd(i, salt) % m) as usize;
    json!({
        "key": format!("edan-{i:06}"), "event_id": "event:ev", "edan_type": "preliminar", "form_version": "videci-edan-1",
        "evaluation_started_at": format!("2026-08-{:02}T{:02}:00:00Z", 1 + r(2, 28), r(3, 24)),
        "location": {"department": "tarija", "province": "Cercado", "community_or_zone": format!("Comunidad {}", r(6, 5000)), "urban_rural": "rural"},
        "geo": {"lat": -21.0 - r(8, 100_000) as f64 / 100_000.0, "lon": -64.0 - r(9, 100_000) as f64 / 100_000.0, "accuracy_m": 3 + r(10, 50)},
        "info_sources": ["direct_observation"], "lead_evaluator": format!("Evaluador {}", r(11, 40)),
        "tallies": {format!("z{}", r(12, 9)): {format!("GAEM-{}", 1 + r(13, 4)): {
            "families_affected": r(14, 80), "families_damnified": r(15, 20), "persons_affected": r(16, 300), "dead": r(17, 2),
            "injured": r(18, 9), "evacuated": r(19, 60), "houses_destroyed": r(22, 7), "ha_vegetation_burned": r(23, 9000) as f64 / 10.0,
            "livestock_dead": {"ovino": r(24, 40)}}}},
        "needs": [{"sector": "alimentos", "item": "ración familiar", "quantity": 1 + r(27, 50), "unit": "raciones", "priority": "alta"}]
    })
}

fn main() {
    let n = 10_000;
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let hq = Node::init(&dir.path().join("hq"), "hq").unwrap();
    hq.create_network("bench").unwrap();
    let other = Node::init(&dir.path().join("other"), "other").unwrap();
    other.join(&hq.enroll(other.id(), Role::Hq, "other", None).unwrap().to_token()).unwrap();
    hq.add("event", Some("ev"), json!({"name": "Incendio", "hazard_type": "incendio_forestal", "scope": [{"department": "tarija"}]})).unwrap();
    hq.import("edan", || (0..n).map(|i| (format!("{i}"), Ok(edan(i))))).unwrap();

    // raw Ed25519: sign and verify one 32-byte change hash
    let key = ayni_node::identity::SecretKey::generate().unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&key.public().to_bytes()).unwrap();
    let hashes: Vec<[u8; 32]> = (0..n).map(|i| { let mut h = [0u8; 32]; h[..8].copy_from_slice(&(i as u64).to_le_bytes()); h }).collect();
    let t = Instant::now();
    let sigs: Vec<[u8; 64]> = hashes.iter().map(|h| key.sign(h)).collect();
    let sign_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    for (h, s) in hashes.iter().zip(&sigs) {
        use ed25519_dalek::Verifier;
        vk.verify(h, &ed25519_dalek::Signature::from_bytes(s)).unwrap();
    }
    let verify_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;

    // a bundle of every record, and its import (verification of every change included)
    let (bundle, _) = hq.export_bundle(None).unwrap();
    let t = Instant::now();
    let r = other.import_bundle(&bundle).unwrap();
    let import_s = t.elapsed().as_secs_f64();
    assert_eq!(r.changes_refused, 0);
    let jsonl: String = (0..n).map(|i| edan(i).to_string() + "\n").collect();
    let zstd_json = zstd::encode_all(jsonl.as_bytes(), 3).unwrap().len();
    // the same bundle without signatures would lack one Sigs entry (96 bytes) per change
    let changes: usize = hq.list("edan", &[]).unwrap().len() + 1;

    println!("| measure | value |");
    println!("|---|---|");
    println!("| signature bytes per change, in transit (hash 32 + Ed25519 signature 64) | 96 |");
    println!("| signature bytes per change, stored (`g:` key 34 + value 64, before sled's compression) | 98 |");
    println!("| sign one change hash (µs, mean of {n}) | {sign_us:.1} |");
    println!("| verify one change signature (µs, mean of {n}) | {verify_us:.1} |");
    println!("| bundle of {n} EDAN records + 1 event, all signed (bytes) | {} |", bundle.len());
    println!("| … of which signatures, incompressible (bytes, {changes} changes × 96) | {} |", changes * 96);
    println!("| the same records as JSON Lines, zstd level 3 (bytes) | {zstd_json} |");
    println!("| bundle ÷ zstd JSON | {:.2} |", bundle.len() as f64 / zstd_json as f64);
    println!("| import of that bundle into an enrolled node, every change verified (s) | {import_s:.2} |");
}
