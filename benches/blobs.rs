//! Blobs after documents (BENCHMARKS.md, "Field data in and out"): a field
//! laptop's first sync with HQ when HQ's EDANs carry photos — on loopback
//! and over the satellite link profile — against the same sync without
//! blobs (`BlobPolicy::None`, the documents alone).
//!
//! `cargo bench --bench blobs -- --photos 20 --size 1000000`

use std::sync::Arc;
use std::time::Instant;

use ayni_node::blobs::Limits;
use ayni_node::net::{BlobPolicy, Endpoint, NetConfig};
use ayni_node::network::Role;

#[path = "../node/benches/common/mod.rs"]
mod common;
use common::{open, wait};

#[path = "../tests/support/link.rs"]
mod link;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(default)
}

/// A photo-sized JPEG: the marker a camera writes, then bytes that do not
/// compress (as a photo's do not).
fn photo(i: usize, size: usize) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    while b.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b.extend_from_slice(&x.to_le_bytes());
    }
    b.truncate(size);
    b
}

fn main() {
    let photos = arg("--photos", 20);
    let size = arg("--size", 1_000_000);
    let base = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (hq_home, field_home) = (base.path().join("hq"), base.path().join("field"));
    let ids = common::pair_with_edan(&hq_home, &field_home, photos, Role::Field);
    {
        let hq = open(&hq_home);
        for (i, id) in ids.iter().enumerate() {
            wait(hq.attach(id, "attachments", photo(i, size), Default::default(), Limits::default())).unwrap();
        }
        hq.close().unwrap();
    }
    let total = photos * size;
    println!("{photos} EDAN records with one {size}-byte photo each ({:.1} MB of photos)\n", total as f64 / 1e6);
    println!("| link | blobs | wall (s) | blobs received | blob bytes | blob MB/s | ideal: bytes ÷ rate (s) | wall ÷ ideal |");
    println!("|---|---|---|---|---|---|---|---|");
    let links: &[(&str, Option<link::Profile>)] =
        &[("loopback", None), ("satellite", link::Profile::named("satellite"))];
    let hq = open(&hq_home);
    for (lname, profile) in links {
        for policy in [BlobPolicy::None, BlobPolicy::Referenced] {
            let fresh = base.path().join(format!("field-{lname}-{policy:?}"));
            common::copy_dir(&field_home, &fresh);
            let field = open(&fresh);
            let config = NetConfig { blobs: policy, ..Default::default() };
            let (report, wall) = wait(async {
                let server = Arc::new(Endpoint::bind(&hq, ([127, 0, 0, 1], 0).into(), config.clone()).unwrap());
                let serving = server.serve_in_background();
                let proxy = match profile {
                    Some(p) => Some(link::start(server.local_addr().unwrap(), *p, 3).await),
                    None => None,
                };
                let target = proxy.as_ref().map(|p| p.addr).unwrap_or(server.local_addr().unwrap());
                let client = Endpoint::bind(&field, ([127, 0, 0, 1], 0).into(), config.clone()).unwrap();
                let t = Instant::now();
                let r = client.sync_with(target).await.unwrap();
                let wall = t.elapsed().as_secs_f64();
                client.close().await;
                serving.stop().await;
                (r, wall)
            });
            let b = &report.blobs;
            let bytes = report.bytes_received + b.bytes_received;
            let ideal = profile.map(|p| bytes as f64 * 8.0 / p.rate_bps as f64);
            println!(
                "| {lname} | {policy:?} | {wall:.2} | {} | {} | {} | {} | {} |",
                b.received,
                b.bytes_received,
                if b.bytes_received > 0 {
                    format!("{:.1}", b.bytes_received as f64 / 1e6 / wall)
                } else {
                    "—".into()
                },
                ideal.map(|i| format!("{i:.1}")).unwrap_or("—".into()),
                ideal.map(|i| format!("{:.2}", wall / i)).unwrap_or("—".into()),
            );
            field.close().unwrap();
        }
    }
}
