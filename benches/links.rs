//! First syncs over degraded links, for BENCHMARKS.md ("Degraded links"):
//! an HQ node holding N EDAN records and an empty field node sync through
//! the user-space link emulator (`tests/support/link.rs`) once per profile
//! and QUIC transport (quinn's defaults, the baseline, against Ayni's tuned
//! `Transport::FIELD`), in the same run. Reports wall time against the
//! ideal (the bytes of the busier direction ÷ the link rate) and the bytes
//! against the records' changes compressed with zstd.
//!
//! Run: `cargo bench --bench links -- [--records N] [--profiles satellite,rural-2g] [--transports defaults,field]`

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ayni_node::net::{Endpoint, NetConfig, Transport};
use ayni_node::network::Role;
use ayni_node::Node;
use serde_json::json;

#[path = "../node/benches/common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../tests/support/link.rs"]
mod link;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.to_string())
}

fn main() {
    let n: usize = arg("--records", "10000").parse().expect("--records N");
    let profiles = arg("--profiles", "satellite,rural-2g");
    let transports = arg("--transports", "defaults,field");
    let base = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (hq_home, field_home) = (base.path().join("hq"), base.path().join("field"));
    let zstd_changes;
    {
        let hq = Node::init(&hq_home, "hq").unwrap();
        hq.create_network("bench").unwrap();
        let field = Node::init(&field_home, "field").unwrap();
        field.join(&hq.enroll(field.id(), Role::Field, "field", None).unwrap().to_token()).unwrap();
        hq.add(
            "event",
            Some("ev"),
            json!({"name": "Incendio", "hazard_type": "incendio_forestal", "scope": [{"department": "tarija"}]}),
        )
        .unwrap();
        hq.import("edan", || (0..n).map(|i| (format!("{i}"), Ok(common::edan(i))))).unwrap();
        let mut changes = vec![];
        for r in hq.list("edan", &[]).unwrap() {
            let doc = hq.store().load(&r.id.parse().unwrap()).unwrap().unwrap();
            for c in doc.get_changes(&[]) {
                changes.extend_from_slice(c.raw_bytes());
            }
        }
        zstd_changes = zstd::encode_all(&changes[..], 3).unwrap().len();
    }
    println!("{n} EDAN records; zstd-3 of all their changes: {zstd_changes} bytes\n");
    println!("| profile | transport | wall (s) | ideal: bytes ÷ rate (s) | wall ÷ ideal | app bytes HQ→field | ÷ zstd changes | UDP bytes HQ→field | round trips | datagrams dropped (queue) |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for (run, pname) in profiles.split(',').enumerate() {
        let profile = link::Profile::named(pname).unwrap_or_else(|| panic!("unknown profile {pname}"));
        for tname in transports.split(',') {
            let transport = match tname {
                "defaults" => Transport::QUINN_DEFAULTS,
                "field" => Transport::FIELD,
                other => panic!("unknown transport {other} (defaults, field)"),
            };
            let fresh = base.path().join(format!("field-{pname}-{tname}"));
            common::copy_dir(&field_home, &fresh);
            let hq = Arc::new(Node::open(&hq_home).unwrap());
            let field = Arc::new(Node::open(&fresh).unwrap());
            // the default stall timeout, as `ayni sync` and `ayni serve` use it
            let config = NetConfig { transport, ..Default::default() };
            let (report, wall, dropped, queue_drops) = rt.block_on(async {
                let server = Arc::new(Endpoint::bind(hq.clone(), ([127, 0, 0, 1], 0).into(), config.clone()).unwrap());
                let (stop, mut rx) = tokio::sync::watch::channel(false);
                let s = server.clone();
                let task = tokio::spawn(async move {
                    s.accept_loop(async move {
                        let _ = rx.changed().await;
                    })
                    .await
                });
                let proxy = link::start(server.local_addr().unwrap(), profile, 1 + run as u64).await;
                let client = Endpoint::bind(field.clone(), ([127, 0, 0, 1], 0).into(), config.clone()).unwrap();
                let t = Instant::now();
                let r = client.sync_with(proxy.addr).await;
                let wall = t.elapsed();
                client.close().await;
                let _ = stop.send(true);
                let _ = task.await;
                (
                    r,
                    wall,
                    proxy.counters.dropped.load(Ordering::Relaxed),
                    proxy.counters.queue_drops.load(Ordering::Relaxed),
                )
            });
            let report = match report {
                Ok(r) => r,
                Err(e) => {
                    println!(
                        "| {pname} | {tname} | failed after {:.1} s: {e} | | | | | | | {dropped} ({queue_drops}) |",
                        wall.as_secs_f64()
                    );
                    continue;
                }
            };
            assert_eq!(report.docs_received as usize, n + 1, "the sync moved every record");
            let busier = report.bytes_received.max(report.bytes_sent);
            let ideal = busier as f64 * 8.0 / profile.rate_bps.max(1) as f64;
            println!(
                "| {pname} | {tname} | {:.1} | {ideal:.1} | {:.2} | {} | {:.2} | {} | {} | {dropped} ({queue_drops}) |",
                wall.as_secs_f64(),
                wall.as_secs_f64() / ideal,
                report.bytes_received,
                report.bytes_received as f64 / zstd_changes as f64,
                report.udp_rx_bytes,
                report.round_trips,
            );
            drop((hq, field));
            let _ = std::fs::remove_dir_all(&fresh);
        }
    }
}
