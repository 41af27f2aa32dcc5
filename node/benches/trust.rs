//! Trust benchmarks for BENCHMARKS.md: the cost of signatures per change
//! (bytes and verification time) and the size of a bundle of 10,000 EDAN
//! records against their zstd-compressed JSON.
//!
//! Run: `cargo bench -p ayni-node --bench trust`.

use std::time::Instant;

use ayni_node::network::Role;
mod common;
use common::{edan, open, wait, NODE};

fn main() {
    let n = 10_000;
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (hq_home, other_home) = (dir.path().join("hq"), dir.path().join("other"));
    common::pair_with_edan(&hq_home, &other_home, n, Role::Hq);
    let (hq, other) = (open(&hq_home), open(&other_home));

    // raw Ed25519: sign and verify one 32-byte change hash
    let key = ayni_node::identity::SecretKey::generate().unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&key.public().to_bytes()).unwrap();
    let hashes: Vec<[u8; 32]> = (0..n)
        .map(|i| {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(i as u64).to_le_bytes());
            h
        })
        .collect();
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
    let (bundle, _) = wait(hq.export_bundle(None, false, Box::new(|_| {}))).unwrap();
    let t = Instant::now();
    let r = wait(other.import_bundle(bundle.clone(), Box::new(|_| {}))).unwrap();
    let import_s = t.elapsed().as_secs_f64();
    assert_eq!(r.changes_refused, 0);
    let jsonl: String = (0..n).map(|i| edan(i).to_string() + "\n").collect();
    let zstd_json = zstd::encode_all(jsonl.as_bytes(), 3).unwrap().len();
    // the same bundle without signatures would lack one Sigs entry (96 bytes) per change
    let changes: usize = wait(hq.list(NODE, "edan", vec![])).unwrap().len() + 1;

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
