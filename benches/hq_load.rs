//! HQ under load, for BENCHMARKS.md ("HQ beyond one machine"): N field
//! nodes — real `ayni` homes, each enrolled, in a team of its own — write
//! their team's tally for a zone of the demo EDAN and sync with the HQ
//! node every `--interval` seconds (start times spread over the interval),
//! while `ayni mirror` follows the serving HQ node into PostgreSQL.
//!
//! Reported per N (`--nodes 10,50,100`), over `--seconds` of load:
//! sync sessions per second; sync latency p50/p99 — the session as the
//! field node's `sync --json` reports it (`duration_ms`: connect,
//! reconcile, exchange) and the whole `ayni sync` process (start, open the
//! store, sync, close); the HQ node's CPU (cores busy, from /proc) and
//! peak RSS; the mirror's lag, from the end of the sync that brought a
//! write to HQ until its row shows it in PostgreSQL, and from the field
//! write itself (which includes waiting for the next sync).
//!
//! Everything runs on this machine (2 cores): the field nodes' processes
//! compete with HQ for them. Uses the release binary: `cargo build
//! --release -p ayni-cli && cargo bench --bench hq_load [-- --nodes
//! 10,50,100 --seconds 60 --interval 10]`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
#[allow(dead_code)]
#[path = "../tests/support/postgres.rs"]
mod postgres;

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

fn run(home: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin()).arg("--home").arg(home).args(args).stdin(Stdio::null()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[derive(Default)]
struct Samples {
    session_ms: Vec<f64>,
    process_ms: Vec<f64>,
    failed: usize,
    /// (team, value written, when written, when the sync carrying it ended)
    writes: Vec<(String, u64, Instant, Instant)>,
}

fn main() {
    let list = std::env::args().skip_while(|a| a != "--nodes").nth(1).unwrap_or_else(|| "10,50,100".into());
    let sizes: Vec<usize> = list.split(',').filter_map(|n| n.parse().ok()).collect();
    let seconds = arg("--seconds", 60) as u64;
    let interval = Duration::from_secs(arg("--interval", 10) as u64);
    let pg = postgres::Postgres::start();
    println!("| field nodes | syncs/s | session p50 / p99 | `ayni sync` p50 / p99 | failed | HQ CPU | HQ peak RSS | mirror lag after sync p50 / p99 | field write → row p50 / p99 |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for &n in &sizes {
        let dir = tempfile::tempdir().unwrap();
        let hq = dir.path().join("hq");
        ayni(&hq, &["init", "--name", "hq"]);
        ayni(&hq, &["network", "create", "--name", "load"]);
        ayni(&hq, &["seed"]);
        let edan = "edan:edan-sama-1";
        let (serve, _) = common::serve_http(&hq);
        let addr = {
            let status: serde_json::Value = serde_json::from_str(&ayni(&hq, &["--json", "status"])).unwrap();
            status["serving"]["listen"][0].as_str().unwrap().replace("0.0.0.0", "127.0.0.1")
        };
        eprintln!("{n} field nodes: enrolling…");
        let fields: Vec<(PathBuf, String)> = (0..n)
            .map(|i| {
                let home = dir.path().join(format!("field-{i}"));
                ayni(&home, &["init", "--name", &format!("field-{i}")]);
                let id: serde_json::Value = serde_json::from_str(&ayni(&home, &["--json", "id"])).unwrap();
                let id = id["node_id"].as_str().unwrap().to_string();
                let token = ayni(&hq, &["enroll", &id, "--role", "field", "--name", &format!("field-{i}")]);
                ayni(&home, &["join", token.trim()]);
                let team = format!("LOAD-{i}");
                ayni(&hq, &["add", "team", "--key", &team, "--set", &format!("name={team}"), "--set", &format!("node_ids=[\"{id}\"]")]);
                (home, team)
            })
            .collect();
        for (home, _) in &fields {
            ayni(home, &["sync", &addr]);
        }
        let url = pg.url("postgres");
        pg.query("postgres", "DROP SCHEMA IF EXISTS ayni CASCADE; DROP SCHEMA IF EXISTS ayni_mirror CASCADE");
        let mut mirror =
            Command::new(bin()).arg("--home").arg(&hq).args(["mirror", &url]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_secs(2));

        eprintln!("{n} field nodes: {seconds} s of load…");
        let samples = Arc::new(Mutex::new(Samples::default()));
        let start = Instant::now() + Duration::from_millis(500);
        let end = start + Duration::from_secs(seconds);
        let cpu0 = (Instant::now(), cpu_seconds(serve.id()));
        let threads: Vec<_> = fields
            .iter()
            .enumerate()
            .map(|(i, (home, team))| {
                let (home, team, samples, addr) = (home.clone(), team.clone(), samples.clone(), addr.clone());
                let offset = interval.mul_f64(i as f64 / n as f64);
                std::thread::spawn(move || {
                    let mut tick = 0u64;
                    loop {
                        let due = start + offset + interval * tick as u32;
                        if due >= end {
                            return;
                        }
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                        tick += 1;
                        let value = tick * 1000 + 7;
                        let (ok, _) = run(&home, &["set", edan, &format!("tallies.z1.{team}.persons_affected={value}")]);
                        assert!(ok, "a field write failed");
                        let written = Instant::now();
                        let t = Instant::now();
                        let (ok, out) = run(&home, &["--json", "sync", &addr]);
                        let took = t.elapsed().as_secs_f64() * 1e3;
                        let mut s = samples.lock().unwrap();
                        if ok {
                            let r: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
                            s.session_ms.push(r["duration_ms"].as_f64().unwrap_or(f64::NAN));
                            s.process_ms.push(took);
                            s.writes.push((team.clone(), value, written, Instant::now()));
                        } else {
                            s.failed += 1;
                        }
                    }
                })
            })
            .collect();
        // the mirror's lag: poll PostgreSQL for each write's row
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (client, conn) = rt.block_on(tokio_postgres::connect(&url, tokio_postgres::NoTls)).unwrap();
        rt.spawn(conn);
        let mut seen: std::collections::HashMap<(String, u64), Instant> = Default::default();
        let team_of = |r: &tokio_postgres::Row| -> (String, u64) { (r.get::<_, String>(0), r.get::<_, i64>(1) as u64) };
        while Instant::now() < end + Duration::from_secs(15) {
            if let Ok(rows) = rt.block_on(client.query(
                "SELECT team, persons_affected FROM ayni.edan_tallies WHERE team LIKE 'LOAD-%' AND zone = 'z1' AND persons_affected IS NOT NULL",
                &[],
            )) {
                let now = Instant::now();
                for r in &rows {
                    seen.entry(team_of(r)).or_insert(now);
                }
            }
            let done = threads.iter().all(|t| t.is_finished());
            if done {
                let s = samples.lock().unwrap();
                if s.writes.iter().all(|(t, v, _, _)| seen.contains_key(&(t.clone(), *v))) {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for t in threads {
            t.join().unwrap();
        }
        let cpu1 = (Instant::now(), cpu_seconds(serve.id()));
        let hq_cores = (cpu1.1 - cpu0.1) / (cpu1.0 - cpu0.0).as_secs_f64();
        let rss = peak_rss_mib(serve.id());
        let _ = mirror.kill();
        let _ = mirror.wait();
        common::stop(serve);
        let mut s = std::mem::take(&mut *samples.lock().unwrap());
        let mut after_sync = vec![];
        let mut after_write = vec![];
        let mut missing = 0;
        for (team, value, written, synced) in &s.writes {
            // a later value of the same team overwrites the row: count it as seen then
            let shown = seen.get(&(team.clone(), *value)).copied().or_else(|| {
                seen.iter().filter(|((t, v), _)| t == team && v > value).map(|(_, at)| *at).min()
            });
            match shown {
                Some(at) => {
                    after_sync.push(at.saturating_duration_since(*synced).as_secs_f64() * 1e3);
                    after_write.push(at.saturating_duration_since(*written).as_secs_f64() * 1e3);
                }
                None => missing += 1,
            }
        }
        let rate = s.process_ms.len() as f64 / seconds as f64;
        println!(
            "| {n} | {rate:.1} | {:.0} / {:.0} ms | {:.0} / {:.0} ms | {} | {hq_cores:.2} cores | {rss:.0} MiB | {:.0} / {:.0} ms | {:.0} / {:.0} ms |",
            pct(&mut s.session_ms, 0.5),
            pct(&mut s.session_ms, 0.99),
            pct(&mut s.process_ms, 0.5),
            pct(&mut s.process_ms, 0.99),
            s.failed,
            pct(&mut after_sync, 0.5),
            pct(&mut after_sync, 0.99),
            pct(&mut after_write, 0.5),
            pct(&mut after_write, 0.99),
        );
        if missing > 0 {
            println!("({missing} writes never seen in PostgreSQL)");
        }
    }
}
