//! Exports and reports of many records (BENCHMARKS.md, "Field data in and
//! out"): `ayni export` in each format and table, and the situation report
//! of an event with every EDAN, against the node's own record dump
//! (`export --format jsonl`, the baseline: reading every record once).
//!
//! `cargo build --release -p ayni-cli && cargo bench --bench export --
//! --records 10000 --runs 3`

mod common;

use std::time::Instant;

use common::{arg, bin, home_with_edans};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let records = arg("--records", 10_000);
    let runs = arg("--runs", 3);
    let dir = tempfile::tempdir().unwrap();
    eprintln!("preparing {records} seed-shaped EDAN records…");
    let home = home_with_edans(dir.path(), records);
    let out = dir.path().join("out");
    let cases: &[(&str, &[&str])] = &[
        ("baseline: export --format jsonl (whole records)", &["export", "edan", "--format", "jsonl"]),
        ("csv (excel), one row per record", &["export", "edan", "--format", "csv"]),
        ("csv (excel) --table tallies", &["export", "edan", "--format", "csv", "--table", "tallies"]),
        ("csv (excel) --table needs", &["export", "edan", "--format", "csv", "--table", "needs"]),
        ("xlsx, every table a sheet", &["export", "edan", "--format", "xlsx"]),
        ("geojson --table zones", &["export", "edan", "--format", "geojson", "--table", "zones"]),
        ("report event ev-sama --format html", &["report", "event", "ev-sama", "--format", "html"]),
    ];
    println!("| what ({records} EDANs + the demo data) | median of {runs} | runs | output | vs baseline |");
    println!("|---|---|---|---|---|");
    let mut baseline = 0.0;
    for (what, args) in cases {
        let mut times = vec![];
        let mut size = 0;
        for _ in 0..runs {
            let _ = std::fs::remove_file(&out);
            let started = Instant::now();
            let status = std::process::Command::new(bin())
                .arg("--home")
                .arg(&home)
                .args(*args)
                .args(["-o", out.to_str().unwrap()])
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            let t = started.elapsed().as_secs_f64();
            assert!(status.success());
            times.push(t);
            size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        }
        let m = median(times.clone());
        if baseline == 0.0 {
            baseline = m;
        }
        let all: Vec<String> = times.iter().map(|t| format!("{t:.2}")).collect();
        println!("| {what} | {m:.2} s | {} | {:.1} MB | {:.2}× |", all.join(" / "), size as f64 / 1e6, m / baseline);
    }
}
