//! The PostgreSQL mirror, for BENCHMARKS.md ("HQ beyond one machine"):
//! - the initial load of a home with `--records` seed-shaped EDAN records
//!   (zones, tallies per team, needs, services) plus the demo data, by
//!   `ayni mirror URL --once` on the stopped node and through the serving
//!   node, against two baselines measured in the same run on the same
//!   data: reading the feed alone (`ayni --json watch --once` to a pipe,
//!   the node's share) and PostgreSQL's own `COPY` of the same records
//!   as one `jsonb` each (the database's share, no projection);
//! - the live lag: with `ayni mirror` following a serving node, a new
//!   EDAN written through the HTTP API every `--pace-ms` (default 100),
//!   from the API's answer to its row being visible in PostgreSQL.
//!
//! A throwaway PostgreSQL (initdb, fsync off as in the tests; the same
//! for every figure). Uses the release binary: `cargo build --release -p
//! ayni-cli && cargo bench --bench mirror [-- --records 100000 --runs 3
//! --writes 200 --pace-ms 100]`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
#[allow(dead_code)]
#[path = "../tests/support/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "../tests/support/postgres.rs"]
mod postgres;

use common::{arg, ayni, bin};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn timed(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn main() {
    let records = arg("--records", 100_000);
    let runs = arg("--runs", 3);
    let writes = arg("--writes", 200);
    let pace = Duration::from_millis(arg("--pace-ms", 100) as u64);
    let dir = tempfile::tempdir().unwrap();
    eprintln!("building a home with {records} EDAN records…");
    let home = common::home_with_edans(dir.path(), records);
    let status: serde_json::Value = serde_json::from_str(&ayni(&home, &["--json", "status"])).unwrap();
    let total: u64 = status["records"].as_object().map(|m| m.values().filter_map(|v| v.as_u64()).sum()).unwrap_or(0);
    let edans = status["records"]["edan"].as_u64().unwrap_or(0) as usize;
    let pg = postgres::Postgres::start();
    let url = pg.url("postgres");
    let reset =
        || pg.query("postgres", "DROP SCHEMA IF EXISTS ayni CASCADE; DROP SCHEMA IF EXISTS ayni_mirror CASCADE");

    // the node's share: the feed as JSON lines
    let feed_file = dir.path().join("feed.jsonl");
    let mut feed = vec![];
    for _ in 0..runs {
        feed.push(timed(|| {
            let out = std::fs::File::create(&feed_file).unwrap();
            let ok = Command::new(bin())
                .arg("--home")
                .arg(&home)
                .args(["--json", "watch", "--once"])
                .stdout(out)
                .status()
                .unwrap();
            assert!(ok.success());
        }));
    }
    let lines = std::fs::read_to_string(&feed_file).unwrap();
    let mirrored = lines.lines().count();
    // the database's share: the same records, one jsonb each, by COPY
    let csv = dir.path().join("records.csv");
    let quoted: Vec<String> = lines.lines().map(|l| format!("\"{}\"", l.replace('"', "\"\""))).collect();
    std::fs::write(&csv, quoted.join("\n")).unwrap();
    std::process::Command::new("chmod").arg("a+rx").arg(dir.path()).status().unwrap();
    std::process::Command::new("chmod").arg("a+r").arg(&csv).status().unwrap();
    let mut copy = vec![];
    for _ in 0..runs {
        pg.query("postgres", "DROP TABLE IF EXISTS bench_copy");
        pg.query("postgres", "CREATE TABLE bench_copy (doc jsonb NOT NULL)");
        copy.push(timed(|| {
            pg.query("postgres", &format!("COPY bench_copy (doc) FROM '{}' (FORMAT csv)", csv.display()));
        }));
    }
    pg.query("postgres", "DROP TABLE bench_copy");

    // the mirror, on the stopped node
    let mut stopped = vec![];
    for _ in 0..runs {
        reset();
        stopped.push(timed(|| {
            ayni(&home, &["mirror", &url, "--once"]);
        }));
    }
    let rows: usize = pg.query("postgres", "SELECT count(*) FROM ayni.edan").parse().unwrap();
    assert_eq!(rows, edans, "every EDAN mirrored");
    let tallies = pg.query("postgres", "SELECT count(*) FROM ayni.edan_tallies");
    let needs = pg.query("postgres", "SELECT count(*) FROM ayni.edan_needs");

    // through the serving node, then live
    let token: serde_json::Value =
        serde_json::from_str(&ayni(&home, &["--json", "client", "add", "bench-mirror", "--role", "hq"])).unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let (serve, api) = common::serve_http(&home);
    let mut served = vec![];
    for _ in 0..runs {
        reset();
        served.push(timed(|| {
            ayni(&home, &["mirror", &url, "--once"]);
        }));
    }
    let mut live = Command::new(bin())
        .arg("--home")
        .arg(&home)
        .args(["mirror", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (client, conn) = rt.block_on(tokio_postgres::connect(&url, tokio_postgres::NoTls)).unwrap();
    rt.spawn(conn);
    let mut lag = vec![];
    let start = Instant::now();
    for i in 0..writes {
        let due = start + pace * i as u32;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let n = 900_000 + i;
        let mut edan = ayni_node::seed::edan_like(n);
        let key = format!("edan-live-{n}");
        edan["key"] = serde_json::json!(key);
        let r = http::request(&api, "POST", "/api/v1/records/edan", Some(&token), Some(edan.to_string().as_bytes()));
        assert!(r.status < 300, "{}", String::from_utf8_lossy(&r.body));
        let answered = Instant::now();
        loop {
            let found = rt.block_on(client.query_opt("SELECT 1 FROM ayni.edan WHERE key = $1", &[&key])).unwrap();
            if found.is_some() {
                break;
            }
            assert!(answered.elapsed() < Duration::from_secs(30), "{key} never reached PostgreSQL");
            std::thread::sleep(Duration::from_millis(1));
        }
        lag.push(answered.elapsed().as_secs_f64() * 1e3);
    }
    let _ = live.kill();
    let _ = live.wait();
    common::stop(serve);

    let (f, c, s, v) = (median(feed), median(copy), median(stopped.clone()), median(served.clone()));
    println!(
        "{mirrored} records ({records} EDANs + demo; {total} in the store): {tallies} tally rows, {needs} need rows"
    );
    println!("| what | median of {runs} | records/s |");
    println!("|---|---|---|");
    println!("| baseline: the feed read alone (`watch --json --once`) | {f:.2} s | {:.0} |", mirrored as f64 / f);
    println!("| baseline: PostgreSQL `COPY` of the records as jsonb | {c:.2} s | {:.0} |", mirrored as f64 / c);
    println!("| `ayni mirror --once`, stopped node | {s:.2} s | {:.0} |", mirrored as f64 / s);
    println!("| `ayni mirror --once`, through the serving node | {v:.2} s | {:.0} |", mirrored as f64 / v);
    println!("mirror ÷ (feed + COPY): stopped {:.2}, serving {:.2}; every run, s: stopped {stopped:.2?}, serving {served:.2?}", s / (f + c), v / (f + c));
    println!(
        "live lag, API answer → row visible ({writes} EDANs, one per {} ms): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pace.as_millis(),
        pct(&mut lag, 0.5),
        pct(&mut lag, 0.99),
        pct(&mut lag, 1.0)
    );
}
