//! The field app's loads in Debian's Chromium (`tests/js/app-bench.mjs`):
//! bytes a first visit transfers, and time to the first screen with its
//! records on a first visit, a later one and an offline one — on this
//! machine's core (the baseline) and with the CPU slowed 4× (an old Android
//! phone), in the same run. For BENCHMARKS.md.
//!
//! `cargo build --release -p ayni-cli && (cd tests/js && npm ci) &&
//! cargo bench --bench app [-- --runs 5 --records 0 --slowdown 4]` (the
//! demo's records, plus that many seed-shaped EDAN records).

mod common;

fn main() {
    let (runs, records, slowdown) =
        (common::arg("--runs", 5), common::arg("--records", 0), common::arg("--slowdown", 4));
    let dir = tempfile::tempdir().unwrap();
    let home = common::home_with_edans(dir.path(), records);
    let client = common::ayni(&home, &["client", "add", "tablet", "--role", "field", "--team", "GAEM-2", "--json"]);
    let token = serde_json::from_str::<serde_json::Value>(&client).unwrap()["token"].as_str().unwrap().to_string();
    let (serve, http) = common::serve_http(&home);
    let v = common::node_script("app-bench.mjs", &[&http, &token, &runs.to_string(), &slowdown.to_string()]);
    common::stop(serve);
    println!("{}", serde_json::to_string_pretty(&v).unwrap());
    println!("records: demo + {records}; runs: {runs}; CPU slowdown: {slowdown}x");
}
