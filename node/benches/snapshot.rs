//! What reading one record as values costs (`effect::Snapshot::read`,
//! which admission does before and after every change it judges): 3,000
//! seed-shaped EDANs (`seed::edan_like`, created as the CLI creates a
//! record), each read whole, seven passes; the best pass and the median
//! in microseconds per record.
//!
//! Run: `cargo bench -p ayni-node --bench snapshot`. BENCHMARKS.md
//! (issue 27, eighth and tenth sessions) compares a commit with its
//! parent this way. Since the tenth session it runs under mimalloc, the
//! allocator the `ayni` binary runs with.

use std::time::Instant;

use automerge::Automerge;
use ayni_model::effect::Snapshot;

mod common;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORDS: u64 = 3000;
const PASSES: usize = 7;

fn main() {
    let docs: Vec<Automerge> = (0..RECORDS as usize).map(common::edan_document).collect();
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
