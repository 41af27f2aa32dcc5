//! The node as a server, for BENCHMARKS.md ("The node as a server"):
//! - a CLI command through the running node (control socket) against the
//!   same command on a stopped node (the baseline: open the store, run,
//!   close), in the same run, on the same home;
//! - HTTP API writes (`POST /api/v1/records/edan`, new seed-shaped EDAN
//!   records) from 20 concurrent clients: latency p50/p99 and writes per
//!   second, at saturation (each client sends its next write when the last
//!   is answered) and at a paced load (each client writes every
//!   `--pace-ms`, default 50: 400 offered writes per second);
//! - HTTP API reads (`GET` one EDAN record) from 20 concurrent clients:
//!   reads per second.
//!
//! Uses the release binary: `cargo build --release -p ayni-cli && cargo
//! bench --bench server [-- --records 10000 --writes 50 --reads 200 --pace-ms 50]`.

use std::time::{Duration, Instant};

mod common;
#[allow(dead_code)]
#[path = "../tests/support/http.rs"]
mod http;

use common::{arg, ayni};

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

fn main() {
    let records = arg("--records", 10_000);
    let writes = arg("--writes", 50);
    let reads = arg("--reads", 200);
    let dir = tempfile::tempdir().unwrap();
    let home = common::home_with_edans(dir.path(), records);
    let token: serde_json::Value =
        serde_json::from_str(&ayni(&home, &["--json", "client", "add", "bench", "--role", "hq"])).unwrap();
    let token = token["token"].as_str().unwrap().to_string();

    // CLI commands on a stopped node, then through the serving node
    let commands: [&[&str]; 3] =
        [&["get", "edan:edan-sama-1"], &["--json", "list", "team"], &["set", "team:GAEM-1", "name=GAEM-1"]];
    let time_commands = || -> Vec<f64> {
        commands
            .iter()
            .map(|c| {
                median(
                    (0..25)
                        .map(|_| {
                            let t = Instant::now();
                            ayni(&home, c);
                            t.elapsed()
                        })
                        .collect(),
                )
            })
            .collect()
    };
    let stopped = time_commands();
    let (serve, http) = common::serve_http(&home);
    let served = time_commands();

    // 20 concurrent API writers, then 20 concurrent readers
    // `pace`: each client sends its next request that long after the last
    // one was *sent* (or at once, if it is late): an offered load of
    // 20 ÷ pace requests per second, independent of the answers; `None`
    // sends the next as soon as the last is answered (saturation)
    let run = |per_client: usize, write: bool, pace: Option<Duration>| -> (Vec<Duration>, Duration) {
        let t = Instant::now();
        let all: Vec<Duration> = (0..20)
            .map(|c| {
                let (http, token) = (http.clone(), token.clone());
                std::thread::spawn(move || {
                    let start = Instant::now() + pace.map_or(Duration::ZERO, |p| p.mul_f64(c as f64 / 20.0));
                    (0..per_client)
                        .map(|i| {
                            if let Some(p) = pace {
                                let due = start + p * i as u32;
                                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                            }
                            let t = Instant::now();
                            let r = if write {
                                // a new EDAN shaped like the seed's (zones, tallies per team, needs, services)
                                let n = 100_000 + c * 10_000 + i + if pace.is_some() { 5_000 } else { 0 };
                                let mut edan = ayni_node::seed::edan_like(n);
                                edan["key"] = serde_json::json!(format!("edan-api-{n}"));
                                let body = edan.to_string();
                                http::request(
                                    &http,
                                    "POST",
                                    "/api/v1/records/edan",
                                    Some(&token),
                                    Some(body.as_bytes()),
                                )
                            } else {
                                http::request(
                                    &http,
                                    "GET",
                                    "/api/v1/records/edan/edan-bench-000042",
                                    Some(&token),
                                    None,
                                )
                            };
                            assert!(r.status < 300, "{}", String::from_utf8_lossy(&r.body));
                            t.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        (all, t.elapsed())
    };
    let (mut w, w_wall) = run(writes, true, None);
    let pace = Duration::from_millis(arg("--pace-ms", 50) as u64);
    let (mut paced, paced_wall) = run(writes, true, Some(pace));
    let (mut r, r_wall) = run(reads, false, None);
    common::stop(serve);

    println!("| command ({records} EDAN records + demo data) | stopped node, median (ms) | through `ayni serve`, median (ms) | served ÷ stopped |");
    println!("|---|---|---|---|");
    for ((c, a), b) in commands.iter().zip(&stopped).zip(&served) {
        println!("| `ayni {}` | {a:.1} | {b:.1} | {:.2} |", c.join(" "), b / a);
    }
    println!();
    println!("| API, 20 concurrent clients | requests | p50 (ms) | p99 (ms) | per second |");
    println!("|---|---|---|---|---|");
    println!(
        "| `POST /api/v1/records/edan`, a new seed-shaped EDAN (durable write) | {} | {:.2} | {:.2} | {:.0} |",
        w.len(),
        pct(&mut w, 0.5),
        pct(&mut w, 0.99),
        w.len() as f64 / w_wall.as_secs_f64()
    );
    println!(
        "| the same, each client writing every {} ms ({:.0} offered per second) | {} | {:.2} | {:.2} | {:.0} |",
        pace.as_millis(),
        20.0 / pace.as_secs_f64(),
        paced.len(),
        pct(&mut paced, 0.5),
        pct(&mut paced, 0.99),
        paced.len() as f64 / paced_wall.as_secs_f64()
    );
    println!(
        "| `GET /api/v1/records/edan/KEY` | {} | {:.2} | {:.2} | {:.0} |",
        r.len(),
        pct(&mut r, 0.5),
        pct(&mut r, 0.99),
        r.len() as f64 / r_wall.as_secs_f64()
    );
}
