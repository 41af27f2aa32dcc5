//! Data shared by the benchmarks: EDAN-sized records with varied values.
#![allow(dead_code)]

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use ayni_node::clients::Actor;
use ayni_node::net::{Endpoint, NetConfig, SyncReport};
use ayni_node::network::Role;
use ayni_node::NodeHandle;
use serde_json::{json, Value};

pub mod automerge_alone;

/// The runtime the benchmarks wait on their nodes with (two workers, as
/// `ayni serve` has on this machine).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

/// Waits for a node's answer.
pub fn wait<T>(answer: impl Future<Output = T>) -> T {
    runtime().block_on(answer)
}

/// The node itself, as its operator at the command line.
pub const NODE: &Actor = &Actor::Node;

/// Opens a node in `home`.
pub fn open(home: &Path) -> NodeHandle {
    NodeHandle::open(home).unwrap()
}

/// `n` records as an import file (JSON Lines), as `ayni import` reads one.
pub fn jsonl(n: usize, record: impl Fn(usize) -> Value) -> String {
    (0..n).map(|i| record(i).to_string() + "\n").collect()
}

/// Imports an import file's records as the node's operator.
pub fn import(node: &NodeHandle, kind: &str, text: String) -> ayni_node::node::ImportReport {
    wait(node.import(kind, text, Box::new(|_| {}))).unwrap()
}

/// Every document ID the node holds.
pub fn all_ids(node: &NodeHandle) -> Vec<String> {
    wait(node.summary()).unwrap().into_iter().map(|(id, _)| id.to_string()).collect()
}

/// A stored document, as automerge loads it.
pub fn load(node: &NodeHandle, id: &str) -> automerge::Automerge {
    let mut bytes = wait(node.document_bytes(id)).unwrap();
    // a document's bytes are bundle frames: its signatures, then the document
    use ayni_node::sync::wire::Frame;
    let mut doc = None;
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let len = Frame::body_len(rest[..4].try_into().unwrap()).unwrap();
        if let Frame::DocFull(_, raw) = Frame::decode(&rest[4..4 + len]).unwrap() {
            doc = Some(automerge::Automerge::load(&raw).unwrap());
        }
        rest = &rest[4 + len..];
    }
    bytes.clear();
    doc.unwrap_or_default()
}

/// A small deterministic generator, so runs compare (no `rand` needed).
pub fn rnd(i: usize, salt: u64) -> u64 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 29)
}

/// An EDAN-sized record (~21 fields, ~0.9 KB as JSON) of event `ev`.
pub fn edan(i: usize) -> Value {
    let r = |salt: u64, m: u64| (rnd(i, salt) % m) as usize;
    json!({
        "key": format!("edan-{i:06}"), "event_id": "event:ev", "edan_type": "preliminar", "form_version": "videci-edan-1",
        "evaluation_started_at": format!("2026-08-{:02}T{:02}:00:00Z", 1 + r(2, 28), r(3, 24)),
        "location": {"department": "tarija", "province": "Cercado", "community_or_zone": format!("Comunidad {}", r(6, 5000)), "urban_rural": "rural"},
        "geo": {"lat": -21.0 - r(8, 100_000) as f64 / 100_000.0, "lon": -64.0 - r(9, 100_000) as f64 / 100_000.0, "accuracy_m": 3 + r(10, 50)},
        "info_sources": ["direct_observation"], "lead_evaluator": format!("Evaluador {}", r(11, 40)),
        "tallies": {format!("z{}", r(12, 9)): {format!("GAEM-{}", 1 + r(13, 4)): {
            "families_affected": r(14, 80), "families_damnified": r(15, 20), "persons_affected": r(16, 300), "dead": r(17, 2),
            "injured": r(18, 9), "evacuated": r(19, 60), "houses_destroyed": r(22, 7), "ha_vegetation_burned": r(23, 9000) as f64 / 10.0,
            "livestock_dead": {"ovino": r(24, 40)}}}},
        "needs": [{"sector": "alimentos", "item": "ración familiar", "quantity": 1 + r(27, 50), "unit": "raciones", "priority": "alta"}]
    })
}

/// Copies a directory tree (a node home, to start runs from one state).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Two nodes of one network: `a` (HQ, founder) holding an event and `n`
/// EDAN records of it, `b` enrolled with `b_role` and empty. Returns the
/// records' IDs.
pub fn pair_with_edan(a_home: &Path, b_home: &Path, n: usize, b_role: Role) -> Vec<String> {
    let a = NodeHandle::init(a_home, "a").unwrap();
    wait(a.create_network("bench")).unwrap();
    let b = NodeHandle::init(b_home, "b").unwrap();
    let token = wait(a.enroll(b.id(), b_role, "b", None, None)).unwrap().to_token();
    wait(b.join(&token)).unwrap();
    let event = json!({"name": "Incendio", "hazard_type": "incendio_forestal", "scope": [{"department": "tarija"}]});
    wait(a.create(NODE, "event", Some("ev"), event)).unwrap();
    import(&a, "edan", jsonl(n, edan));
    let ids = wait(a.list(NODE, "edan", vec![])).unwrap().into_iter().map(|r| r.id).collect();
    a.close().unwrap();
    b.close().unwrap();
    ids
}

/// Size of all the changes of these records, concatenated and compressed
/// with zstd level 3: the reference for a first sync's bytes.
pub fn zstd_of_changes(node: &NodeHandle, ids: &[String]) -> usize {
    let mut changes = vec![];
    for id in ids {
        let doc = load(node, id);
        for c in doc.get_changes(&[]) {
            changes.extend_from_slice(c.raw_bytes());
        }
    }
    zstd::encode_all(&changes[..], 3).unwrap().len()
}

/// This process's peak RSS since the last [`reset_rss`], in MB.
pub fn rss_peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// Resets the peak RSS to the current RSS.
pub fn reset_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// One sync over QUIC on loopback: `a` initiates, `b` serves.
pub fn sync_over_loopback(a: &NodeHandle, b: &NodeHandle) -> SyncReport {
    wait(async {
        let eb = Arc::new(Endpoint::bind(b, ([127, 0, 0, 1], 0).into(), NetConfig::default()).unwrap());
        let serving = eb.serve_in_background();
        let ea = Endpoint::bind(a, ([127, 0, 0, 1], 0).into(), NetConfig::default()).unwrap();
        let r = ea.sync_with(eb.local_addr().unwrap()).await.unwrap();
        ea.close().await;
        serving.stop().await;
        r
    })
}

/// The `i`-th seed-shaped EDAN (`seed::edan_like`) as the CLI creates a
/// record: one automerge document, one change.
pub fn edan_document(i: usize) -> automerge::Automerge {
    let env = ayni_node::record::Envelope {
        kind: "edan".into(),
        key: format!("edan-bench-{i:06}"),
        id: ayni_node::id::DocumentId::random().unwrap().to_string(),
        created_at: "2026-12-07T00:00:00Z".into(),
        created_by: "bench".into(),
    };
    let mut doc = automerge::Automerge::new();
    let mut tx = doc.transaction();
    ayni_node::record::create(&mut tx, &env.id.clone(), &env, &ayni_node::seed::edan_like(i)).unwrap();
    tx.commit();
    doc
}
