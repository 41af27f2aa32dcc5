//! What reading one record as values costs (`effect::Snapshot::read`,
//! which admission does before and after every change it judges): 3,000
//! seed-shaped EDANs (`seed::edan_like`, created as the CLI creates a
//! record), each read whole, seven passes; the best pass and the median
//! in microseconds per record.
//!
//! Run: `cargo bench -p ayni-node --bench snapshot`. BENCHMARKS.md
//! (issue 27, eighth session) compares a commit with its parent this way.

use std::time::Instant;

use automerge::Automerge;
use ayni_model::effect::Snapshot;
use ayni_node::record::{create, Envelope};

const RECORDS: u64 = 3000;
const PASSES: usize = 7;

fn main() {
    let docs: Vec<Automerge> = (0..RECORDS)
        .map(|i| {
            let env = Envelope {
                kind: "edan".into(),
                key: format!("edan-bench-{i:06}"),
                id: ayni_node::id::DocumentId::random().unwrap().to_string(),
                created_at: "2026-12-07T00:00:00Z".into(),
                created_by: "bench".into(),
            };
            let mut doc = Automerge::new();
            let mut tx = doc.transaction();
            create(&mut tx, &env.id.clone(), &env, &ayni_node::seed::edan_like(i as usize)).unwrap();
            tx.commit();
            doc
        })
        .collect();
    let mut passes = vec![];
    let mut paths = 0;
    for _ in 0..PASSES {
        let t = Instant::now();
        paths = docs.iter().map(|d| Snapshot::read(d, None).paths.len()).sum::<usize>();
        passes.push(t.elapsed().as_secs_f64() * 1e6 / RECORDS as f64);
    }
    passes.sort_by(f64::total_cmp);
    println!("records: {RECORDS}, paths per record: {}", paths / RECORDS as usize);
    println!("Snapshot::read, µs per record: best {:.1}, median {:.1}", passes[0], passes[PASSES / 2]);
}
