//! HQ under load, for BENCHMARKS.md ("HQ beyond one machine"): N field
//! nodes — real node homes, each enrolled, in a team of its own, run in
//! this process (each its own store, engine and QUIC endpoint, as a
//! serving laptop keeps them; one `ayni` process per field sync would
//! spend this machine's 2 cores starting processes and opening stores,
//! and measure that) — each writes its team's tally for a zone of an
//! EDAN of its own (seed-shaped, N of them beside the demo data) and syncs
//! with the HQ node (the release `ayni serve`, a process of its own)
//! every `--interval` seconds, start times spread over the interval,
//! while `ayni mirror` follows the serving HQ node into PostgreSQL. Every
//! field node is a full replica: each sync also brings it every other
//! node's latest writes.
//!
//! Reported per N (`--nodes 10,50,100`), over `--seconds` of load:
//! sync sessions per second; sync latency p50/p99 — from the field node
//! asking to sync until its session ends (connect, TLS, reconcile,
//! exchange, stored durably on both sides); the HQ node's CPU (cores
//! busy, from /proc), the whole machine's (HQ, the mirror, PostgreSQL and
//! the field nodes together) and HQ's
//! peak RSS; the mirror's lag: from a field write (made just before the
//! node's sync) until PostgreSQL shows it — the sync, HQ's store, the
//! feed, the mirror's transaction (a write made between syncs waits for
//! the next one besides: up to `--interval`).
//!
//! Everything runs on this machine (2 cores): the field nodes compete
//! with HQ for them. Uses the release binary: `cargo build
//! --release -p ayni-cli && cargo bench --bench hq_load [-- --nodes
//! 10,50,100 --seconds 60 --interval 10]`.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "../tests/support/postgres.rs"]
mod postgres;

use ayni_node::engine::NodeHandle;
use ayni_node::net::{Endpoint, NetConfig};
use ayni_node::Node;
use common::{arg, ayni, bin};

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// CPU seconds used so far by a process (user + system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of a process, MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Busy and total jiffies of the whole machine, from /proc/stat.
fn machine_ticks() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<f64> =
        stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: f64 = cpu.iter().sum();
    let idle = cpu.get(3).copied().unwrap_or(0.0) + cpu.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

#[derive(Default)]
struct Samples {
    session_ms: Vec<f64>,
    failed: usize,
    /// (team, value written, when written — just before the sync that
    /// carries it)
    writes: Vec<(String, u64, Instant)>,
}

fn main() {
    let list = std::env::args().skip_while(|a| a != "--nodes").nth(1).unwrap_or_else(|| "10,50,100".into());
    let sizes: Vec<usize> = list.split(',').filter_map(|n| n.parse().ok()).collect();
    let seconds = arg("--seconds", 60) as u64;
    let interval = Duration::from_secs(arg("--interval", 10) as u64);
    let pg = postgres::Postgres::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    println!("| field nodes | syncs/s | sync p50 / p99 | failed | HQ CPU | machine CPU | HQ peak RSS | field write → row in PostgreSQL p50 / p99 |");
    println!("|---|---|---|---|---|---|---|---|");
    for &n in &sizes {
        let dir = tempfile::tempdir().unwrap();
        let hq = dir.path().join("hq");
        ayni(&hq, &["init", "--name", "hq"]);
        ayni(&hq, &["network", "create", "--name", "load"]);
        ayni(&hq, &["seed"]);
        // an EDAN per field node, shaped like the seed's (zones, other
        // teams' tallies, needs): each node writes its own team's tally
        // in its own (one hot document written by every node would make
        // each of the simulated nodes, which share 2 cores here, merge
        // every other node's changes to it at every sync)
        common::import_edans(&hq, dir.path(), n, |i| format!("edan-load-{i}"));
        let (serve, _) = common::serve_http(&hq);
        let addr: std::net::SocketAddr = {
            let status: serde_json::Value = serde_json::from_str(&ayni(&hq, &["--json", "status"])).unwrap();
            status["serving"]["listen"][0].as_str().unwrap().replace("0.0.0.0", "127.0.0.1").parse().unwrap()
        };
        eprintln!("{n} field nodes: enrolling…");
        let fields: Vec<(NodeHandle, Arc<Endpoint>, String)> = (0..n)
            .map(|i| {
                let node = Node::init(&dir.path().join(format!("field-{i}")), &format!("field-{i}")).unwrap();
                let id = node.id().to_string();
                let token = ayni(&hq, &["enroll", &id, "--role", "field", "--name", &format!("field-{i}")]);
                node.join(token.trim()).unwrap();
                let team = format!("LOAD-{i}");
                ayni(
                    &hq,
                    &[
                        "add",
                        "team",
                        "--key",
                        &team,
                        "--set",
                        &format!("name={team}"),
                        "--set",
                        &format!("node_ids=[\"{id}\"]"),
                    ],
                );
                let engine = NodeHandle::spawn(node).unwrap();
                let endpoint = {
                    let _guard = rt.enter();
                    Arc::new(
                        Endpoint::bind_engine(engine.clone(), "127.0.0.1:0".parse().unwrap(), NetConfig::default())
                            .unwrap(),
                    )
                };
                (engine, endpoint, team)
            })
            .collect();
        for (_, endpoint, _) in &fields {
            rt.block_on(endpoint.sync_with(addr)).unwrap();
        }
        let url = pg.url("postgres");
        pg.query("postgres", "DROP SCHEMA IF EXISTS ayni CASCADE; DROP SCHEMA IF EXISTS ayni_mirror CASCADE");
        let mut mirror = Command::new(bin())
            .arg("--home")
            .arg(&hq)
            .args(["mirror", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(2));

        eprintln!("{n} field nodes: {seconds} s of load…");
        let samples = Arc::new(Mutex::new(Samples::default()));
        let start = Instant::now() + Duration::from_millis(500);
        let end = start + Duration::from_secs(seconds);
        let cpu0 = (Instant::now(), cpu_seconds(serve.id()), machine_ticks());
        let tasks: Vec<_> = fields
            .iter()
            .enumerate()
            .map(|(i, (engine, endpoint, team))| {
                let (engine, endpoint, team, samples) =
                    (engine.clone(), endpoint.clone(), team.clone(), samples.clone());
                let edan = format!("edan:edan-load-{i}");
                let offset = interval.mul_f64(i as f64 / n as f64);
                rt.spawn(async move {
                    let mut tick = 0u64;
                    loop {
                        let due = start + offset + interval * tick as u32;
                        if due >= end {
                            return;
                        }
                        tokio::time::sleep_until(due.into()).await;
                        tick += 1;
                        let value = tick * 1000 + 7;
                        let path = format!("tallies.z1.{team}.persons_affected");
                        engine
                            .call({
                                let edan = edan.clone();
                                move |node| node.set(&edan, &[(path, serde_json::json!(value))])
                            })
                            .await
                            .unwrap()
                            .expect("a field write");
                        let written = Instant::now();
                        let outcome = endpoint.sync_with(addr).await;
                        let took = written.elapsed().as_secs_f64() * 1e3;
                        let mut s = samples.lock().unwrap();
                        match outcome {
                            Ok(_) => {
                                s.session_ms.push(took);
                                s.writes.push((team.clone(), value, written));
                            }
                            Err(e) => {
                                eprintln!("a sync failed: {e}");
                                s.failed += 1;
                            }
                        }
                    }
                })
            })
            .collect();
        // the mirror's lag: poll PostgreSQL for each write's row
        let (client, conn) = rt.block_on(tokio_postgres::connect(&url, tokio_postgres::NoTls)).unwrap();
        rt.spawn(conn);
        let mut seen: std::collections::HashMap<(String, u64), Instant> = Default::default();
        // until every field node has stopped, then until every write shows (30 s at most)
        let mut deadline = end + Duration::from_secs(3600);
        while Instant::now() < deadline {
            if let Ok(rows) = rt.block_on(client.query(
                "SELECT team, persons_affected FROM ayni.edan_tallies WHERE team LIKE 'LOAD-%' AND zone = 'z1' AND persons_affected IS NOT NULL",
                &[],
            )) {
                let now = Instant::now();
                for r in &rows {
                    seen.entry((r.get::<_, String>(0), r.get::<_, i64>(1) as u64)).or_insert(now);
                }
            }
            let done = tasks.iter().all(|t| t.is_finished());
            if done && deadline > Instant::now() + Duration::from_secs(30) {
                deadline = Instant::now() + Duration::from_secs(30);
            }
            if done && samples.lock().unwrap().writes.iter().all(|(t, v, _)| seen.contains_key(&(t.clone(), *v))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let cpu1 = (Instant::now(), cpu_seconds(serve.id()), machine_ticks());
        let wall = (cpu1.0 - cpu0.0).as_secs_f64();
        let hq_cores = (cpu1.1 - cpu0.1) / wall;
        let machine = (cpu1.2 .0 - cpu0.2 .0) / (cpu1.2 .1 - cpu0.2 .1);
        let rss = peak_rss_mib(serve.id());
        let _ = mirror.kill();
        let _ = mirror.wait();
        common::stop(serve);
        for (_, endpoint, _) in &fields {
            rt.block_on(endpoint.close());
        }
        drop(fields);
        let mut s = std::mem::take(&mut *samples.lock().unwrap());
        let mut lag = vec![];
        let mut missing = 0;
        for (team, value, written) in &s.writes {
            // a later value of the same team overwrites the row: count it as seen then
            let shown = seen
                .get(&(team.clone(), *value))
                .copied()
                .or_else(|| seen.iter().filter(|((t, v), _)| t == team && v > value).map(|(_, at)| *at).min());
            match shown {
                Some(at) => lag.push(at.saturating_duration_since(*written).as_secs_f64() * 1e3),
                None => missing += 1,
            }
        }
        let rate = s.session_ms.len() as f64 / seconds as f64;
        println!(
            "| {n} | {rate:.1} | {:.0} / {:.0} ms | {} | {hq_cores:.2} cores | {:.0} % | {rss:.0} MiB | {:.0} / {:.0} ms |",
            pct(&mut s.session_ms, 0.5),
            pct(&mut s.session_ms, 0.99),
            s.failed,
            machine * 100.0,
            pct(&mut lag, 0.5),
            pct(&mut lag, 0.99),
        );
        if missing > 0 {
            println!("({missing} writes never seen in PostgreSQL)");
        }
    }
}
