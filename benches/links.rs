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

use ayni_node::net::{Congestion, Endpoint, NetConfig, Transport};
use ayni_node::network::Role;

#[path = "../node/benches/common/mod.rs"]
mod common;
use common::{open, wait};
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
    let ids = common::pair_with_edan(&hq_home, &field_home, n, Role::Field);
    let zstd_changes = {
        let hq = open(&hq_home);
        let z = common::zstd_of_changes(&hq, &ids);
        hq.close().unwrap();
        z
    };
    println!("{n} EDAN records; zstd-3 of all their changes: {zstd_changes} bytes\n");
    println!("| profile | transport | wall (s) | ideal: bytes ÷ rate (s) | wall ÷ ideal | app bytes HQ→field | ÷ zstd changes | UDP bytes HQ→field | round trips | datagrams dropped (queue) |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (run, pname) in profiles.split(',').enumerate() {
        let profile = link::Profile::named(pname).unwrap_or_else(|| panic!("unknown profile {pname}"));
        for tname in transports.split(',') {
            let transport = match tname {
                "defaults" => Transport::QUINN_DEFAULTS,
                "field" => Transport::FIELD,
                // the tuned settings with quinn's congestion controller
                "field-cubic" => Transport { congestion: Congestion::Cubic, ..Transport::FIELD },
                other => panic!("unknown transport {other} (defaults, field, field-cubic)"),
            };
            let fresh = base.path().join(format!("field-{pname}-{tname}"));
            common::copy_dir(&field_home, &fresh);
            let (hq, field) = (open(&hq_home), open(&fresh));
            // the default stall timeout, as `ayni sync` and `ayni serve` use it
            let config = NetConfig { transport, ..Default::default() };
            let (report, wall, dropped, queue_drops) = wait(async {
                let server = Arc::new(Endpoint::bind(&hq, ([127, 0, 0, 1], 0).into(), config.clone()).unwrap());
                let serving = server.serve_in_background();
                let proxy = link::start(server.local_addr().unwrap(), profile, 1 + run as u64).await;
                let client = Endpoint::bind(&field, ([127, 0, 0, 1], 0).into(), config.clone()).unwrap();
                let t = Instant::now();
                // progress over time on stderr: documents received, every 5 s
                let progress = client.progress();
                let ticker = tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                        eprint!(" {:.0}s:{}", t.elapsed().as_secs_f64(), progress.load(Ordering::Relaxed));
                    }
                });
                let r = client.sync_with(proxy.addr).await;
                ticker.abort();
                eprintln!();
                let wall = t.elapsed();
                client.close().await;
                serving.stop().await;
                (
                    r,
                    wall,
                    proxy.counters.dropped.load(Ordering::Relaxed),
                    proxy.counters.queue_drops.load(Ordering::Relaxed),
                )
            });
            hq.close().unwrap();
            field.close().unwrap();
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
            // the ideal: the busier direction's bytes at the link rate (none
            // for a profile without a rate limit)
            let busier = report.bytes_received.max(report.bytes_sent);
            let (ideal, ratio) = match profile.rate_bps {
                0 => ("—".to_string(), "—".to_string()),
                bps => {
                    let ideal = busier as f64 * 8.0 / bps as f64;
                    (format!("{ideal:.1}"), format!("{:.2}", wall.as_secs_f64() / ideal))
                }
            };
            println!(
                "| {pname} | {tname} | {:.1} | {ideal} | {ratio} | {} | {:.2} | {} | {} | {dropped} ({queue_drops}) |",
                wall.as_secs_f64(),
                report.bytes_received,
                report.bytes_received as f64 / zstd_changes as f64,
                report.udp_rx_bytes,
                report.round_trips,
            );
            let _ = std::fs::remove_dir_all(&fresh);
        }
    }
}
