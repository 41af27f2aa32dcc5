//! The cost of judging one change by what it does (issue 22): a field
//! laptop's own write to a seed-shaped EDAN (judged before it is made), and
//! HQ admitting one such change from the laptop's copy (judged again on
//! arrival). Both read the record before and after the change.
//!
//! Run: `cargo bench -p ayni-node --bench admission`. The figures in
//! BENCHMARKS.md compare this against the commit before the permits, run
//! alternately on the same machine (`git worktree add /tmp/base 8ab745c`).

use std::time::Instant;

use ayni_node::{network::Role, NodeHandle};
use serde_json::json;

mod common;
use common::{wait, NODE};

const RECORDS: usize = 200;
const ROUNDS: usize = 5;

fn main() {
    let (mut writes, mut admits) = (vec![], vec![]);
    for round in 0..ROUNDS {
        let (write, admit) = one_round(round as i64);
        writes.push(write);
        admits.push(admit);
    }
    println!("records per round: {RECORDS}, rounds: {ROUNDS}");
    println!("field write, judged (ms/record, median): {:.2}", median(&mut writes));
    println!("HQ admitting one field change (ms/record, median): {:.2}", median(&mut admits));
}

/// One fresh pair of nodes: returns (field write, HQ admission) in ms per record.
fn one_round(round: i64) -> (f64, f64) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let hq = NodeHandle::init(&dir.path().join("hq"), "hq").unwrap();
    let (_, member) = wait(hq.create_network("bench")).unwrap();
    let field = NodeHandle::init(&dir.path().join("f"), "f").unwrap();
    let token = wait(hq.enroll(field.id(), Role::Field, "f", None, None)).unwrap().to_token();
    wait(field.join(&token)).unwrap();
    wait(field.accept_member(member.bytes.clone())).unwrap();
    wait(hq.seed()).unwrap();
    wait(hq.set(NODE, "team:GAEM-1", vec![("node_ids".into(), json!([field.id().to_string()]))])).unwrap();
    let ids: Vec<String> =
        (0..RECORDS).map(|i| wait(hq.create(NODE, "edan", None, ayni_node::seed::edan_like(i))).unwrap().id).collect();
    let mut shared = ids.clone();
    for key in ["team:GAEM-1", "team:GAEM-2", "event:ev-sama"] {
        shared.push(wait(hq.get(NODE, key)).unwrap().id);
    }
    for id in &shared {
        wait(field.merge_document(id.parse().unwrap(), wait(hq.document_bytes(id)).unwrap())).unwrap();
    }

    let t = Instant::now();
    for id in &ids {
        wait(field.set(NODE, id, vec![("tallies.z1.GAEM-1.dead".into(), json!(7 + round))])).unwrap();
    }
    let write = t.elapsed().as_secs_f64() * 1e3 / RECORDS as f64;

    let copies: Vec<Vec<u8>> = ids.iter().map(|id| wait(field.document_bytes(id)).unwrap()).collect();
    let t = Instant::now();
    for (id, bytes) in ids.iter().zip(copies) {
        wait(hq.merge_document(id.parse().unwrap(), bytes)).unwrap();
    }
    let admit = t.elapsed().as_secs_f64() * 1e3 / RECORDS as f64;
    (write, admit)
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}
