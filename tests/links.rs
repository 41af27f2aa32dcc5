//! Syncs through degraded links (the user-space link emulator in
//! `support/link.rs`): short versions of the field profiles.

mod support;

use std::sync::atomic::Ordering;

use support::link::{self, Profile};
use support::{heads, network};

fn sync_through(profile: Profile, seed: u64) {
    let (hq, field) = network(1);
    let a = &field[0];
    hq.ok(&["seed"]);
    let served = hq.serve();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let proxy = rt.block_on(link::start(served.addr.parse().unwrap(), profile, seed));
    let r = a.json(&["sync", &proxy.addr.to_string(), "--stall-timeout", "60"]);
    assert_eq!(r["docs_received"], 113, "{r}");
    let dropped = proxy.counters.dropped.load(Ordering::Relaxed);
    drop(proxy);
    drop(served);
    assert_eq!(heads(a), heads(&hq));
    if profile.loss > 0.0 {
        assert!(dropped > 0, "the link dropped nothing: the test proves nothing");
    }
}

/// HQ with 1,600 people besides the network's records, and one field node.
fn hq_with_1600_people() -> (support::Ayni, Vec<support::Ayni>) {
    let (hq, field) = network(1);
    let people: Vec<String> = (0..1_600)
        .map(|i| format!("{{\"key\": \"p-{i:04}\", \"full_name\": \"Persona de prueba número {i}\"}}"))
        .collect();
    let file = hq.dir.path().join("people.json");
    std::fs::write(&file, format!("[{}]", people.join(","))).unwrap();
    hq.ok(&["import", "person", file.to_str().unwrap()]);
    (hq, field)
}

/// A clean link (20 ms each way) limited to `rate_bps`, with a 1 s queue.
fn limited(rate_bps: u64) -> Profile {
    Profile {
        delay: std::time::Duration::from_millis(20),
        jitter: std::time::Duration::ZERO,
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        rate_bps,
        outage: None,
        queue: std::time::Duration::from_secs(1),
    }
}

#[test]
fn a_first_sync_completes_over_a_hostile_link() {
    sync_through(Profile::HOSTILE, 7);
}

#[test]
fn a_first_sync_completes_over_flaky_wifi() {
    sync_through(Profile::FLAKY_WIFI, 11);
}

/// A transfer that takes longer than the stall timeout is not a stall while
/// bytes keep arriving: 1,600 extra records (~0.24 MB compressed) over a
/// 256 kbit/s link take about 7 s, with a 5 s stall timeout on both sides
/// (the link must drain the 128 KiB stream window within the timeout).
#[test]
fn a_slow_transfer_longer_than_the_stall_timeout_completes() {
    let (hq, field) = hq_with_1600_people();
    let a = &field[0];
    let served = hq.serve_with(&["--stall-timeout", "5"]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let slow = limited(256_000);
    let proxy = rt.block_on(link::start(served.addr.parse().unwrap(), slow, 3));
    let r = a.json(&["sync", &proxy.addr.to_string(), "--stall-timeout", "5"]);
    assert_eq!(r["docs_received"], 1_600, "{r}");
    let secs = r["duration_ms"].as_u64().unwrap() as f64 / 1e3;
    assert!(secs > 5.0, "the transfer took {secs} s, under the stall timeout: the test proves nothing");
    drop(proxy);
    drop(served);
    assert_eq!(heads(a), heads(&hq));
}

/// `ayni sync --stall-timeout` typed on a home that serves runs through the
/// serving node's endpoint, and with the command's own timeout, not the
/// one `serve` was started with (30 s by default): a link that goes down
/// mid-transfer (up for 3 s, then down) is given up on after 2 s.
#[test]
fn a_sync_through_a_serving_node_stalls_out_after_its_own_timeout() {
    let (hq, field) = hq_with_1600_people();
    let a = &field[0];
    let served_hq = hq.serve();
    let _served_a = a.serve(); // serve's own stall timeout: 30 s
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dies = Profile {
        outage: Some((std::time::Duration::from_secs(600), std::time::Duration::from_secs(597))),
        ..limited(64_000)
    };
    let proxy = rt.block_on(link::start(served_hq.addr.parse().unwrap(), dies, 5));
    let started = std::time::Instant::now();
    let err = a.fails(&["sync", &proxy.addr.to_string(), "--stall-timeout", "2"], 1);
    let took = started.elapsed();
    assert!(err.contains("the peer stalled (nothing received for 2 s)"), "{err}");
    assert!(took < std::time::Duration::from_secs(20), "it took {took:?}: the serve's 30 s timeout was used");
}
