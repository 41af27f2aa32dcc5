//! Speed at automerge's floor (issue 27), measured process by process with
//! the release binary as users run it: HQ serves `--records` seed-shaped
//! EDANs, a field laptop made with `ayni init` and `join` takes its first
//! `ayni sync` from it, then syncs with nothing to exchange and with 99
//! EDANs changed at HQ. Each side's CPU (user + system), wall time and peak
//! RSS; the field laptop's CPU beyond what opening the store costs (`ayni
//! list team`, same home, same run); the first command after the first
//! sync; `ayni list edan --json`'s peak RSS. Baseline in the same run:
//! automerge alone loading every record's saved document (built and saved
//! one change per document, as `node/benches/speed.rs` does), in this
//! process, with the allocator the `ayni` binary runs with (mimalloc).
//!
//! Run: `cargo build --release -p ayni-cli && cargo bench --bench floor`
//! (`-- --records 100000`, `--runs N` syncs of each kind, `--dir D` keeps
//! the homes in D and reuses HQ's when it is there). Prints markdown rows
//! for BENCHMARKS.md.

#[path = "../node/benches/common/automerge_alone.rs"]
mod automerge_alone;
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{arg, ayni, bin};

/// The `ayni` binary's allocator, so that automerge's load, the baseline,
/// runs as Ayni's own work does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What one command cost: wall seconds, CPU seconds (user + system), peak
/// RSS in MiB, from `/usr/bin/time`.
#[derive(Clone, Copy, Debug)]
struct Cost {
    wall: f64,
    cpu: f64,
    rss: f64,
}

fn timed(home: &Path, args: &[&str]) -> Cost {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "AYNI_TIME %e %U %S %M"])
        .arg(bin())
        .arg("--home")
        .arg(home)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ayni {args:?}: {err}");
    let line = err.lines().find(|l| l.starts_with("AYNI_TIME ")).unwrap();
    let f: Vec<f64> = line.split_whitespace().skip(1).map(|v| v.parse().unwrap()).collect();
    Cost { wall: f[0], cpu: f[1] + f[2], rss: f[3] / 1024.0 }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A sync measured on both sides: the field laptop's `ayni sync` process,
/// and what the serving HQ spent meanwhile (its CPU counter moves in
/// 10 ms ticks).
fn sync(field: &Path, hq_pid: u32, addr: &str) -> (Cost, f64) {
    let before = common::cpu_seconds(hq_pid);
    let cost = timed(field, &["sync", addr]);
    // the serving side may still be closing the connection
    std::thread::sleep(std::time::Duration::from_millis(300));
    (cost, common::cpu_seconds(hq_pid) - before)
}

fn main() {
    let records = arg("--records", 10_000);
    let runs = arg("--runs", 5);
    let keep = std::env::args().skip_while(|a| a != "--dir").nth(1);
    let scratch = tempfile::tempdir().unwrap();
    let dir = keep.as_deref().map_or(scratch.path(), Path::new).to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    let hq = dir.join("hq");
    let mut import = f64::NAN;
    if !hq.exists() {
        eprintln!("importing {records} EDANs at HQ…");
        let t = Instant::now();
        common::home_with_edans(&dir, records);
        import = t.elapsed().as_secs_f64();
    }
    let field = dir.join("field");
    let _ = std::fs::remove_dir_all(&field);

    let (serve, _http) = common::serve_http(&hq);
    let status: serde_json::Value = serde_json::from_str(&ayni(&hq, &["--json", "status"])).unwrap();
    let addr = status["serving"]["listen"][0].as_str().unwrap().replace("0.0.0.0", "127.0.0.1");
    let id = ayni(&field, &["init", "--name", "field"]).trim().to_string();
    // a name of its own: a kept HQ home remembers the laptops of earlier runs
    let name = format!("field-{}", std::process::id());
    let token = ayni(&hq, &["enroll", &id, "--role", "field", "--name", &name, "--addr", &addr]);
    ayni(&field, &["join", token.trim()]);
    let serve_start = common::peak_rss_mib(serve.id());

    eprintln!("first sync…");
    let (first, first_hq) = sync(&field, serve.id(), &addr);
    let serve_peak = common::peak_rss_mib(serve.id());
    let after = timed(&field, &["list", "team"]);

    let open: Vec<f64> = (0..runs).map(|_| timed(&field, &["list", "team"]).cpu).collect();
    let (mut noop, mut noop_hq) = (vec![], vec![]);
    for _ in 0..runs {
        let (c, h) = sync(&field, serve.id(), &addr);
        noop.push(c.cpu);
        noop_hq.push(h);
    }
    let (mut changed, mut changed_hq, mut sets) = (vec![], vec![], vec![]);
    for run in 0..runs {
        for i in 0..99 {
            let key = format!("edan:edan-bench-{:06}", (run * 997 + i * 101) % records);
            let t = Instant::now();
            ayni(&hq, &["set", &key, &format!("tallies.z1.GAEM-1.injured={}", run * 100 + i)]);
            sets.push(t.elapsed().as_secs_f64());
        }
        let (c, h) = sync(&field, serve.id(), &addr);
        changed.push(c.cpu);
        changed_hq.push(h);
    }
    let t = Instant::now();
    let list = timed(&field, &["--json", "list", "edan"]);
    let list_wall = t.elapsed().as_secs_f64();
    common::stop(serve);

    // automerge alone on the same records, in this process, last
    let values: Vec<serde_json::Value> = (0..records).map(ayni_node::seed::edan_like).collect();
    let (_, load) = automerge_alone::automerge_baseline(&values);
    let load = load.as_secs_f64();

    let open_cpu = median(open);
    sets.sort_by(f64::total_cmp);
    let set_p99 = sets[(sets.len() - 1) * 99 / 100];
    let ms = |s: f64| s * 1e3;
    println!("| records | automerge load (s) | first sync wall (s) | ÷ load | field CPU (s) | ÷ load | HQ CPU (s) | field peak RSS (MB) | HQ peak RSS (MB, serving before → after) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {records} | {load:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {first_hq:.2} | {:.0} | {serve_start:.0} → {serve_peak:.0} |",
        first.wall,
        first.wall / load,
        first.cpu,
        first.cpu / load,
        first.rss
    );
    println!();
    println!("| records | import at HQ, from nothing (s) | durable `ayni set` through `ayni serve` p50 / p99 (ms) |");
    println!("|---|---|---|");
    println!("| {records} | {import:.2} | {:.1} / {:.1} |", ms(median(sets.clone())), ms(set_p99));
    println!();
    println!("| records | first command after the first sync (ms) | `list team` CPU (ms, baseline) | no-op sync: field CPU beyond the baseline (ms) | HQ CPU (ms) | 99 changed EDANs: field CPU beyond the baseline (ms) | HQ CPU (ms) | `list edan --json` (s) | its peak RSS (MB) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {records} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {list_wall:.2} | {:.0} |",
        ms(after.wall),
        ms(open_cpu),
        ms(median(noop) - open_cpu),
        ms(median(noop_hq)),
        ms(median(changed) - open_cpu),
        ms(median(changed_hq)),
        list.rss
    );
}
