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

#[test]
fn a_first_sync_completes_over_a_hostile_link() {
    sync_through(Profile::HOSTILE, 7);
}

#[test]
fn a_first_sync_completes_over_flaky_wifi() {
    sync_through(Profile::FLAKY_WIFI, 11);
}
