//! The soak: five nodes (HQ and four field laptops) edit concurrently while
//! random pairs sync over QUIC through `hostile` and `flaky-wifi` links (the
//! link emulator in `support/link.rs`), for a bounded time. Then every node
//! must hold the same documents, every write acknowledged to a writer must
//! be on every node, and memory must stay flat: writes stop for the last
//! quarter while the syncs go on, and once the replicas have caught up the
//! process's RSS must not grow (RSS is sampled throughout and printed).
//!
//! CI runs 30 s; the full run is 10 minutes:
//! `AYNI_SOAK_SECS=600 cargo test --release --test soak -- --nocapture`.

#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ayni_node::clients::Actor;
use ayni_node::net::{Endpoint, NetConfig};
use ayni_node::network::Role;
use ayni_node::NodeHandle as Node;
use serde_json::json;
use support::link::{self, Profile};

const NODES: usize = 5;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// xorshift, seeded per task: runs are varied but reproducible in shape.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn summary(rt: &tokio::runtime::Runtime, node: &Node) -> Vec<(ayni_node::DocumentId, [u8; 16])> {
    rt.block_on(node.summary()).expect("summary")
}

#[test]
fn five_nodes_converge_through_bad_links_with_flat_memory() {
    let secs: u64 = std::env::var("AYNI_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let hq = Node::init(&dir.path().join("hq"), "hq").unwrap();
    rt.block_on(hq.create_network("soak")).unwrap();
    let mut nodes = vec![hq];
    for i in 1..NODES {
        let n = Node::init(&dir.path().join(format!("field-{i}")), &format!("field-{i}")).unwrap();
        // enrolled as hq: every node creates and edits missions (the
        // permits keep that from field laptops; convergence is what this tests)
        let m = rt.block_on(nodes[0].enroll(n.id(), Role::Hq, &format!("field-{i}"), None, None)).unwrap();
        rt.block_on(n.join(&m.to_token())).unwrap();
        nodes.push(n);
    }
    // missions every node edits at once (their summaries conflict)
    let shared: Vec<String> = (0..4)
        .map(|i| {
            let fields = json!({"type": "training", "title": format!("Shared {i}")});
            rt.block_on(nodes[0].create(&Actor::Node, "mission", Some(&format!("shared-{i}")), fields)).unwrap().id
        })
        .collect();

    let config = NetConfig { stall_timeout: Duration::from_secs(20), ..Default::default() };
    let (endpoints, serving): (Vec<Arc<Endpoint>>, Vec<_>) = nodes
        .iter()
        .map(|n| {
            let _g = rt.enter();
            let e = Arc::new(Endpoint::bind(n, ([127, 0, 0, 1], 0).into(), config.clone()).unwrap());
            let s = e.serve_in_background();
            (e, s)
        })
        .unzip();
    // a link per ordered pair (i dials j), alternating the two profiles
    let mut links = BTreeMap::new();
    for i in 0..NODES {
        for j in 0..NODES {
            if i != j {
                let profile = if (i + j) % 2 == 0 { Profile::HOSTILE } else { Profile::FLAKY_WIFI };
                let target = endpoints[j].local_addr().unwrap();
                links.insert((i, j), rt.block_on(link::start(target, profile, (i * NODES + j) as u64 + 1)));
            }
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    // writes stop for the last quarter: syncs alone must not grow memory
    let writing = Arc::new(AtomicBool::new(true));
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let (writes, syncs_ok, syncs_failed) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    std::thread::scope(|s| {
        // writers: one per node, a write every 0.2–1 s
        for (w, node) in nodes.iter().enumerate() {
            let (writing, acked, writes, shared) = (writing.clone(), acked.clone(), writes.clone(), shared.clone());
            let rt = &rt;
            s.spawn(move || {
                let mut rng = Rng(0x5eed + w as u64);
                let mut seq = 0;
                while writing.load(Ordering::Relaxed) {
                    if rng.below(10) < 7 {
                        seq += 1;
                        let key = format!("n{w}-{seq}");
                        let fields = json!({"type": "technical_assistance", "title": format!("Visit {key}")});
                        let rec = rt.block_on(node.create(&Actor::Node, "mission", Some(&key), fields));
                        acked.lock().unwrap().insert(rec.expect("a local write").id);
                    } else {
                        let target = &shared[rng.below(shared.len())];
                        // field nodes hold the shared missions once a sync brought them
                        let summary = vec![("summary".into(), json!(format!("node {w} write {seq}")))];
                        match rt.block_on(node.set(&Actor::Node, target, summary)) {
                            Ok(_) | Err(ayni_node::Error::NotFound(_)) => {}
                            Err(e) => panic!("a local edit: {e}"),
                        }
                    }
                    writes.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(200 + rng.below(800) as u64));
                }
            });
        }
        // syncers: two at a time, random pairs
        for t in 0..2 {
            let (stop, ok, failed, endpoints, links) =
                (stop.clone(), syncs_ok.clone(), syncs_failed.clone(), &endpoints, &links);
            let rt = &rt;
            s.spawn(move || {
                let mut rng = Rng(0xfeed + t);
                while !stop.load(Ordering::Relaxed) {
                    let i = rng.below(NODES);
                    let j = (i + 1 + rng.below(NODES - 1)) % NODES;
                    let addr = links[&(i, j)].addr;
                    match rt.block_on(async {
                        tokio::time::timeout(Duration::from_secs(30), endpoints[i].sync_with(addr)).await
                    }) {
                        Ok(Ok(_)) => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            });
        }
        // memory, sampled; the last quarter without writes
        let mut samples = vec![];
        let sample = || (started.elapsed().as_secs(), rss_mb().round() as u64, summary(&rt, &nodes[0]).len());
        let every = Duration::from_secs((secs / 20).clamp(1, 30));
        while started.elapsed() < Duration::from_secs(secs * 3 / 4) {
            samples.push(sample());
            std::thread::sleep(every);
        }
        writing.store(false, Ordering::Relaxed);
        let quiet = samples.len();
        while started.elapsed() < Duration::from_secs(secs) {
            samples.push(sample());
            std::thread::sleep(every);
        }
        stop.store(true, Ordering::Relaxed);
        samples.push(sample());
        eprintln!("RSS over time (s, MB, documents at HQ; writes stop at sample {quiet}): {samples:?}");
        // flat: once the replicas have caught up (the first half of the
        // quiet quarter), syncing alone does not grow memory
        let settled = samples[quiet + (samples.len() - quiet) / 2].1;
        let end = samples[samples.len() - 1].1;
        assert!(end <= settled + settled / 20 + 8, "memory grows without writes: {settled} MB, then {end} MB");
    });
    let soak = started.elapsed();

    // converge through the same bad links: rounds of a ring until identical
    let mut rounds = 0;
    loop {
        let sums: Vec<_> = nodes.iter().map(|n| summary(&rt, n)).collect();
        if sums.iter().all(|s| *s == sums[0]) {
            break;
        }
        rounds += 1;
        assert!(rounds <= 20, "no convergence after 20 rounds");
        for i in 0..NODES {
            let j = (i + 1) % NODES;
            let _ = rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(120), endpoints[i].sync_with(links[&(i, j)].addr)).await
            });
        }
    }
    let acked = acked.lock().unwrap();
    for (n, node) in nodes.iter().enumerate() {
        let held: BTreeSet<String> = summary(&rt, node).into_iter().map(|(id, _)| id.to_string()).collect();
        let lost: Vec<_> = acked.iter().filter(|id| !held.contains(*id)).collect();
        assert!(lost.is_empty(), "node {n} lacks {} acknowledged record(s): {lost:?}", lost.len());
        assert!(rt.block_on(node.check()).unwrap().problems.is_empty(), "node {n} fails its check");
    }
    let dropped: u64 = links.values().map(|l| l.counters.dropped.load(Ordering::Relaxed)).sum();
    let forwarded: u64 = links.values().map(|l| l.counters.forwarded.load(Ordering::Relaxed)).sum();
    eprintln!(
        "soak {:.0} s: {} writes ({} records acknowledged), syncs {} ok / {} cut off, {forwarded} datagrams forwarded, {dropped} dropped; converged after {rounds} ring round(s); 0 lost",
        soak.as_secs_f64(),
        writes.load(Ordering::Relaxed),
        acked.len(),
        syncs_ok.load(Ordering::Relaxed),
        syncs_failed.load(Ordering::Relaxed),
    );
    assert!(syncs_ok.load(Ordering::Relaxed) > 0 && dropped > 0, "the soak proved nothing");
    for s in serving {
        rt.block_on(s.stop());
    }
}
