//! Photos from the field app over a bad link (BENCHMARKS.md, "Photos from
//! the phone"): offline, the app makes an EDAN and reduces N camera-sized
//! photos (`tests/js/photo-bench.mjs`, Debian's Chromium); then the link
//! comes back with a profile's round trip and rate and the clock runs until
//! HQ holds the record and every photo — against the ideal, the reduced
//! photos' bytes ÷ the link's rate, in the same run.
//!
//! `cargo build --release -p ayni-cli && (cd tests/js && npm ci) &&
//! cargo bench --bench photos [-- --photos 10 --runs 1]` (profiles
//! rural-2g and satellite, as `tests/support/link.rs` defines them).

mod common;

#[allow(dead_code)]
#[path = "../tests/support/link.rs"]
mod link;

fn main() {
    let (photos, runs) = (common::arg("--photos", 10), common::arg("--runs", 1));
    println!("| link | round trip | rate | photos | reduced bytes (taken) | reconnect → HQ has all (s) | ideal: bytes ÷ rate (s) | ratio |");
    println!("|---|---|---|---|---|---|---|---|");
    for name in ["rural-2g", "satellite"] {
        let profile = link::Profile::named(name).unwrap();
        for _ in 0..runs {
            let dir = tempfile::tempdir().unwrap();
            let home = common::home_with_edans(dir.path(), 0);
            let token = |name: &str, role: &str| {
                let mut args = vec!["client", "add", name, "--role", role, "--json"];
                if role == "field" {
                    args.extend_from_slice(&["--team", "GAEM-2"]);
                }
                let out = common::ayni(&home, &args);
                serde_json::from_str::<serde_json::Value>(&out).unwrap()["token"].as_str().unwrap().to_string()
            };
            let (tablet, hq) = (token("tablet", "field"), token("panel", "hq"));
            let (serve, http) = common::serve_http(&home);
            let (delay, rate) = (profile.delay.as_millis().to_string(), profile.rate_bps.to_string());
            let v = common::node_script("photo-bench.mjs", &[&http, &tablet, &hq, &photos.to_string(), &delay, &rate]);
            common::stop(serve);
            let (secs, ideal) = (v["seconds"].as_f64().unwrap(), v["ideal"].as_f64().unwrap());
            println!(
                "| {name} | {} ms | {} kbit/s | {photos} | {} ({}) | {secs:.1} | {ideal:.1} | {:.2} |",
                2 * profile.delay.as_millis(),
                profile.rate_bps / 1000,
                v["bytes"],
                v["taken_bytes"],
                secs / ideal
            );
        }
    }
}
