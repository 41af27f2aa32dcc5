//! What the end-to-end benches share: the release binary, a home built
//! with it, and `ayni serve --http` on that home.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// `--NAME N` from the command line, else `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(default)
}

/// The release binary (benches measure what users run), or the one
/// `AYNI_BENCH_BIN` names: another build (a baseline commit's), measured by
/// the same bench in the same run.
pub fn bin() -> PathBuf {
    let b = match std::env::var_os("AYNI_BENCH_BIN") {
        Some(other) => PathBuf::from(other),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/ayni"),
    };
    assert!(b.exists(), "build it first: cargo build --release -p ayni-cli (or set AYNI_BENCH_BIN)");
    b
}

/// Runs `ayni` on `home`; its stdout.
pub fn ayni(home: &Path, args: &[&str]) -> String {
    let out = Command::new(bin()).arg("--home").arg(home).args(args).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "ayni {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A home with the network, the demo data and `records` seed-shaped EDAN
/// records (keys `edan-bench-NNNNNN`).
pub fn home_with_edans(dir: &Path, records: usize) -> PathBuf {
    let home = dir.join("hq");
    ayni(&home, &["init", "--name", "hq"]);
    ayni(&home, &["network", "create", "--name", "bench"]);
    ayni(&home, &["seed"]);
    import_edans(&home, dir, records, |i| format!("edan-bench-{i:06}"));
    home
}

/// Imports `records` seed-shaped EDAN records (zones, tallies per team,
/// needs, services), the i-th keyed `key(i)`, through a JSON Lines file in
/// `dir`.
pub fn import_edans(home: &Path, dir: &Path, records: usize, key: impl Fn(usize) -> String) {
    let file = dir.join("edan.jsonl");
    let lines: Vec<String> = (0..records)
        .map(|i| {
            let mut r = ayni_node::seed::edan_like(i);
            r["key"] = serde_json::json!(key(i));
            r.to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    ayni(home, &["import", "edan", file.to_str().unwrap()]);
}

/// `ayni serve --http` on `home`, on loopback ports; the process and the
/// HTTP address.
#[allow(dead_code)] // not every bench serves
pub fn serve_http(home: &Path) -> (Child, String) {
    let mut serve = Command::new(bin())
        .arg("--home")
        .arg(home)
        .args(["serve", "--no-mdns", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut r = std::io::BufReader::new(serve.stdout.take().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    let http = line.trim().trim_start_matches("HTTP API on http://").trim_end_matches("/api/v1/").to_string();
    (serve, http)
}

/// Runs `tests/js/SCRIPT` with Node.js and `args`: the JSON of the last
/// line it prints.
#[allow(dead_code)] // not every bench drives a browser
pub fn node_script(script: &str, args: &[&str]) -> serde_json::Value {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let out = Command::new("node").arg(script).args(args).current_dir(&js).output().expect("node");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(text.lines().last().unwrap_or_default()).expect("one JSON line")
}

/// Stops a serving node.
#[allow(dead_code)]
pub fn stop(mut serve: Child) {
    let _ = Command::new("kill").arg("-TERM").arg(serve.id().to_string()).status();
    let _ = serve.wait();
}

/// CPU seconds used so far by a running process (user + system), from
/// /proc (in 10 ms ticks).
#[allow(dead_code)]
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of a running process, MiB.
#[allow(dead_code)]
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
