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
//! the next one besides: up to `--interval`). Beside them, `--clients` M
//! official automerge-repo clients (Node.js processes, `tests/js/bench.mjs
//! watch`, read role) hold the N EDANs open on HQ's WebSocket endpoint:
//! from a field write until each client's document shows it.
//!
//! Then the floor: after the load (the clients and the mirror stopped),
//! every field node writes and syncs alone, one after another, twice; the second round's sessions each bring
//! the node the other N − 1 nodes' writes (N − 1 changed EDANs) with
//! nothing else running — what a field laptop with a CPU of its own waits
//! for a sync of that size.
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

use ayni_node::clients::Actor;
use ayni_node::net::{Endpoint, NetConfig};
use ayni_node::NodeHandle;
use common::{arg, ayni, bin};

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
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
    /// carries it — and the same as epoch milliseconds, for the clients)
    writes: Vec<(String, u64, Instant, f64)>,
}

fn epoch_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0)
}

/// An automerge-repo client holding the load EDANs open (`bench.mjs
/// watch`), started and ready.
struct Watcher {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Watcher {
    fn start(ws: &str, urls_file: &std::path::Path) -> Watcher {
        use std::io::BufRead;
        let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
        let mut child = Command::new("node")
            .current_dir(&js)
            .args(["bench.mjs", "watch", ws])
            .arg(urls_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node (tests/js: npm ci)");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.contains("ready"), "a watching client: {line}");
        Watcher { child, stdout }
    }

    /// Stops it: when it first saw each `TEAM=VALUE`, epoch ms.
    fn finish(mut self) -> std::collections::HashMap<String, f64> {
        use std::io::BufRead;
        drop(self.child.stdin.take());
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let _ = self.child.wait();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        v["seen"].as_object().unwrap().iter().map(|(k, t)| (k.clone(), t.as_f64().unwrap())).collect()
    }
}

/// Lag of every write until it was seen (a later value of the same team
/// overwrites the row or the document: count it as seen then), and how
/// many were never seen. `seen(team, value)`: when it showed.
fn lags<T: Copy + PartialOrd>(
    writes: &[(String, u64, Instant, f64)],
    shown: &[((String, u64), T)],
    since: impl Fn(&(String, u64, Instant, f64), T) -> f64,
) -> (Vec<f64>, usize) {
    let mut out = vec![];
    let mut missing = 0;
    for w in writes {
        let at = shown
            .iter()
            .filter(|((t, v), _)| *t == w.0 && *v >= w.1)
            .map(|(_, at)| *at)
            .fold(None, |m: Option<T>, at| if m.is_none_or(|m| at < m) { Some(at) } else { m });
        match at {
            Some(at) => out.push(since(w, at)),
            None => missing += 1,
        }
    }
    (out, missing)
}

fn main() {
    let list = std::env::args().skip_while(|a| a != "--nodes").nth(1).unwrap_or_else(|| "10,50,100".into());
    let sizes: Vec<usize> = list.split(',').filter_map(|n| n.parse().ok()).collect();
    let seconds = arg("--seconds", 60) as u64;
    let interval = Duration::from_secs(arg("--interval", 10) as u64);
    let clients = arg("--clients", 5);
    let pg = postgres::Postgres::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    println!("| field nodes | syncs/s | sync p50 / p99 | failed | HQ CPU | machine CPU | HQ peak RSS | field write → row in PostgreSQL p50 / p99 | field write → {clients} clients p50 / p99 | sync alone p50 / p99 |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
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
        let (serve, http) = common::serve_http(&hq);
        let addr: std::net::SocketAddr = {
            let status: serde_json::Value = serde_json::from_str(&ayni(&hq, &["--json", "status"])).unwrap();
            status["serving"]["listen"][0].as_str().unwrap().replace("0.0.0.0", "127.0.0.1").parse().unwrap()
        };
        eprintln!("{n} field nodes: enrolling…");
        let fields: Vec<(NodeHandle, Arc<Endpoint>, String)> = (0..n)
            .map(|i| {
                let node = NodeHandle::init(&dir.path().join(format!("field-{i}")), &format!("field-{i}")).unwrap();
                let id = node.id().to_string();
                let token = ayni(&hq, &["enroll", &id, "--role", "field", "--name", &format!("field-{i}")]);
                rt.block_on(node.join(token.trim())).unwrap();
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
                let endpoint = {
                    let _guard = rt.enter();
                    Arc::new(Endpoint::bind(&node, "127.0.0.1:0".parse().unwrap(), NetConfig::default()).unwrap())
                };
                (node, endpoint, team)
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
        let token: serde_json::Value =
            serde_json::from_str(&ayni(&hq, &["--json", "client", "add", &format!("watch-{n}"), "--role", "read"]))
                .unwrap();
        let ws = format!("ws://{http}/automerge?token={}", token["token"].as_str().unwrap());
        let edans: Vec<serde_json::Value> = serde_json::from_str(&ayni(&hq, &["--json", "list", "edan"])).unwrap();
        let urls: Vec<&str> = edans
            .iter()
            .filter(|r| r["key"].as_str().is_some_and(|k| k.starts_with("edan-load-")))
            .filter_map(|r| r["url"].as_str())
            .collect();
        let urls_file = dir.path().join("urls.txt");
        std::fs::write(&urls_file, urls.join("\n")).unwrap();
        eprintln!("{n} field nodes: starting {clients} automerge-repo clients…");
        let watchers: Vec<Watcher> = (0..clients).map(|_| Watcher::start(&ws, &urls_file)).collect();

        eprintln!("{n} field nodes: {seconds} s of load…");
        let samples = Arc::new(Mutex::new(Samples::default()));
        let start = Instant::now() + Duration::from_millis(500);
        let end = start + Duration::from_secs(seconds);
        let cpu0 = (Instant::now(), common::cpu_seconds(serve.id()), machine_ticks());
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
                            .set(&Actor::Node, &edan, vec![(path, serde_json::json!(value))])
                            .await
                            .expect("a field write");
                        let (written, epoch) = (Instant::now(), epoch_ms());
                        let outcome = endpoint.sync_with(addr).await;
                        let took = written.elapsed().as_secs_f64() * 1e3;
                        let mut s = samples.lock().unwrap();
                        match outcome {
                            Ok(_) => {
                                s.session_ms.push(took);
                                s.writes.push((team.clone(), value, written, epoch));
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
            if done && samples.lock().unwrap().writes.iter().all(|(t, v, ..)| seen.contains_key(&(t.clone(), *v))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let cpu1 = (Instant::now(), common::cpu_seconds(serve.id()), machine_ticks());
        let wall = (cpu1.0 - cpu0.0).as_secs_f64();
        let hq_cores = (cpu1.1 - cpu0.1) / wall;
        let machine = (cpu1.2 .0 - cpu0.2 .0) / (cpu1.2 .1 - cpu0.2 .1);
        let rss = common::peak_rss_mib(serve.id());
        let by_client: Vec<_> = watchers.into_iter().map(Watcher::finish).collect();
        let _ = mirror.kill();
        let _ = mirror.wait();
        // the floor: each node writes and syncs alone, one after another (the
        // second round brings each the other nodes' writes)
        let mut alone = vec![];
        eprintln!("{n} field nodes: each syncing alone…");
        for round in 0..2u64 {
            for (i, (engine, endpoint, team)) in fields.iter().enumerate() {
                let (edan, path) = (format!("edan:edan-load-{i}"), format!("tallies.z1.{team}.persons_affected"));
                let value = 900_000 + round;
                rt.block_on(engine.set(&Actor::Node, &edan, vec![(path, serde_json::json!(value))]))
                    .expect("a field write");
                let t = Instant::now();
                rt.block_on(endpoint.sync_with(addr)).expect("a sync alone");
                if round == 1 {
                    alone.push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        common::stop(serve);
        for (_, endpoint, _) in &fields {
            rt.block_on(endpoint.close());
        }
        drop(fields);
        let mut s = std::mem::take(&mut *samples.lock().unwrap());
        let shown: Vec<((String, u64), Instant)> = seen.into_iter().collect();
        let (mut lag, missing) = lags(&s.writes, &shown, |w, at| at.saturating_duration_since(w.2).as_secs_f64() * 1e3);
        let mut client_lag = vec![];
        let mut client_missing = 0;
        for seen in &by_client {
            let shown: Vec<((String, u64), f64)> = seen
                .iter()
                .filter_map(|(k, at)| {
                    let (team, value) = k.split_once('=')?;
                    Some(((team.to_string(), value.parse().ok()?), *at))
                })
                .collect();
            let (l, m) = lags(&s.writes, &shown, |w, at| (at - w.3).max(0.0));
            client_lag.extend(l);
            client_missing += m;
        }
        let rate = s.session_ms.len() as f64 / seconds as f64;
        let clients_seen = if clients == 0 {
            "—".to_string()
        } else {
            format!("{:.0} / {:.0} ms", pct(&mut client_lag, 0.5), pct(&mut client_lag, 0.99))
        };
        println!(
            "| {n} | {rate:.1} | {:.0} / {:.0} ms | {} | {hq_cores:.2} cores | {:.0} % | {rss:.0} MiB | {:.0} / {:.0} ms | {clients_seen} | {:.0} / {:.0} ms |",
            pct(&mut s.session_ms, 0.5),
            pct(&mut s.session_ms, 0.99),
            s.failed,
            machine * 100.0,
            pct(&mut lag, 0.5),
            pct(&mut lag, 0.99),
            pct(&mut alone, 0.5),
            pct(&mut alone, 0.99),
        );
        if missing > 0 {
            println!("({missing} writes never seen in PostgreSQL)");
        }
        if client_missing > 0 {
            println!("({client_missing} writes never seen by a client, over {clients} clients)");
        }
    }
}
