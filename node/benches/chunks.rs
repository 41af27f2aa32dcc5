//! What a record's document costs by the form it travels and is stored
//! in: as change chunks (what a sync's `DocFull` carried, and a sync
//! stored of a new document, before the tenth session) or saved whole
//! (what import and compaction store; uncompressed, what a `DocFull`
//! carries and a sync stores now). 3,000 seed-shaped EDANs
//! (`seed::edan_like`, created as the CLI creates a record, one change
//! each); each figure is the best and the median of five passes, in
//! microseconds per document:
//! - bytes, alone and zstd-compressed together (as frames travel);
//! - taking a new document in: parsing its change chunk and applying it
//!   (what builds before the tenth session sent), against loading it
//!   saved whole, with automerge's compression and without (what a
//!   `DocFull` carries now), and what each costs its sender;
//! - what else admission does per change: an Ed25519 verification, and
//!   reading the record as values; applying an edit to a stored record;
//! - loading a stored document by how many change chunks it keeps beside
//!   its snapshot (`store::COMPACT_AFTER`).
//!
//! Run: `cargo bench -p ayni-node --bench chunks`. BENCHMARKS.md (issue
//! 27, ninth session) reads it.

use std::time::Instant;

use automerge::transaction::Transactable;
use automerge::{Automerge, Change, ReadDoc};
use ed25519_dalek::Verifier;

mod common;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORDS: usize = 3000;
const PASSES: usize = 5;

/// Runs `f` over `n` documents `PASSES` times; prints µs per document.
fn time(name: &str, n: usize, mut f: impl FnMut()) {
    time_with(name, n, || (), |()| f());
}

/// [`time`] for work that consumes its input: `setup` makes it before
/// each pass, untimed.
fn time_with<T>(name: &str, n: usize, setup: impl Fn() -> T, mut f: impl FnMut(T)) {
    let mut passes: Vec<f64> = (0..PASSES)
        .map(|_| {
            let input = setup();
            let t = Instant::now();
            f(input);
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        })
        .collect();
    passes.sort_by(f64::total_cmp);
    println!("| {name} | {:.1} | {:.1} |", passes[0], passes[PASSES / 2]);
}

/// `doc` edited `k` times (a note in `data`), each edit kept as the change
/// chunk a store appends for it; returns those chunks concatenated.
fn edited(doc: &mut Automerge, k: usize) -> Vec<u8> {
    let mut chunks = vec![];
    for j in 0..k {
        let heads = doc.get_heads();
        let mut tx = doc.transaction();
        let Some((_, data)) = tx.get(automerge::ROOT, "data").unwrap() else { panic!("no data") };
        tx.put(&data, "note", format!("edit {j}")).unwrap();
        tx.commit();
        chunks.extend(doc.save_after(&heads));
    }
    chunks
}

fn main() {
    let docs: Vec<Automerge> = (0..RECORDS).map(common::edan_document).collect();
    let saved: Vec<Vec<u8>> = docs.iter().map(Automerge::save).collect();
    let chunks: Vec<Vec<u8>> =
        docs.iter().map(|d| d.get_changes(&[]).iter().flat_map(|c| c.raw_bytes().to_vec()).collect()).collect();
    let per_doc = |v: &[Vec<u8>]| v.iter().map(Vec::len).sum::<usize>() / RECORDS;
    let zstd = |v: &[Vec<u8>]| zstd::encode_all(&v.concat()[..], 9).unwrap().len() / RECORDS;
    println!("{RECORDS} EDANs, bytes per document:\n");
    println!("| form | bytes | zstd level 9, all together |\n|---|---|---|");
    println!("| change chunks (what a `DocFull` carried) | {} | {} |", per_doc(&chunks), zstd(&chunks));
    println!("| saved whole | {} | {} |", per_doc(&saved), zstd(&saved));
    let plain: Vec<Vec<u8>> = docs.iter().map(Automerge::save_nocompress).collect();
    println!("| saved whole, uncompressed (what a `DocFull` carries) | {} | {} |", per_doc(&plain), zstd(&plain));

    println!("\nµs per document:\n\n| step | best | median |\n|---|---|---|");
    time("parse the change chunk (`Change::from_bytes`)", RECORDS, || {
        for c in &chunks {
            std::hint::black_box(Change::from_bytes(c.clone()).unwrap());
        }
    });
    let parsed: Vec<Change> = chunks.iter().map(|c| Change::from_bytes(c.clone()).unwrap()).collect();
    time_with(
        "apply it to an empty document",
        RECORDS,
        || parsed.clone(),
        |changes| {
            for c in changes {
                let mut d = Automerge::new();
                d.apply_changes([c]).unwrap();
                std::hint::black_box(d);
            }
        },
    );
    time("load the document saved whole (the baseline)", RECORDS, || {
        for s in &saved {
            std::hint::black_box(Automerge::load(s).unwrap());
        }
    });
    time("load it saved whole, uncompressed", RECORDS, || {
        for s in &plain {
            std::hint::black_box(Automerge::load(s).unwrap());
        }
    });
    let loaded: Vec<Automerge> = saved.iter().map(|s| Automerge::load(s).unwrap()).collect();
    time("its changes' metadata (`get_changes_meta`)", RECORDS, || {
        for d in &loaded {
            std::hint::black_box(d.get_changes_meta(&[]).len());
        }
    });
    time("its changes (`get_changes`)", RECORDS, || {
        for d in &loaded {
            std::hint::black_box(d.get_changes(&[]));
        }
    });
    time("save it whole", RECORDS, || {
        for d in &loaded {
            std::hint::black_box(d.save());
        }
    });
    time("save it whole, uncompressed", RECORDS, || {
        for d in &loaded {
            std::hint::black_box(d.save_nocompress());
        }
    });
    let key = ayni_node::identity::SecretKey::generate().unwrap();
    let hashes: Vec<[u8; 32]> = loaded.iter().map(|d| d.get_heads()[0].0).collect();
    let sigs: Vec<ed25519_dalek::Signature> =
        hashes.iter().map(|h| ed25519_dalek::Signature::from_bytes(&key.sign(h))).collect();
    let public: [u8; 32] = key.public().actor_id().to_bytes().try_into().unwrap();
    let verifying = ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap();
    time("verify an Ed25519 signature of its change", RECORDS, || {
        for (h, s) in hashes.iter().zip(&sigs) {
            verifying.verify(h, s).unwrap();
        }
    });

    // a sync bringing an edit of a stored record: the edit applied to the
    // stored document, and the record read as values before and after it
    let edits: Vec<Change> = loaded
        .iter()
        .map(|d| {
            let mut d = d.fork();
            let heads = d.get_heads();
            let path: Vec<String> = ["tallies", "z1", "GAEM-1", "injured"].iter().map(|s| s.to_string()).collect();
            let mut tx = d.transaction();
            ayni_node::record::set_path(&mut tx, "bench", &path, &serde_json::json!(1_000_003)).unwrap();
            tx.commit();
            d.get_changes(&heads).remove(0)
        })
        .collect();
    time_with(
        "apply an edit of one tally to it",
        RECORDS,
        || loaded.iter().cloned().zip(edits.iter().cloned()).collect::<Vec<_>>(),
        |docs| {
            for (mut d, c) in docs {
                d.apply_changes([c]).unwrap();
                std::hint::black_box(d);
            }
        },
    );
    time("read it as values (`Snapshot::read`)", RECORDS, || {
        for d in &loaded {
            std::hint::black_box(ayni_model::effect::Snapshot::read(d, None));
        }
    });

    const STORED: usize = 1000;
    println!("\nLoading a stored document ({STORED} EDANs), µs per document:\n");
    println!("| stored as | best | median |\n|---|---|---|");
    for (k, whole) in [
        (0, true),
        (1, true),
        (4, true),
        (8, true),
        (16, true),
        (32, true),
        (63, true),
        (0, false),
        (1, false),
        (7, false),
    ] {
        let stored: Vec<(Vec<u8>, Vec<u8>)> = docs
            .iter()
            .zip(&chunks)
            .take(STORED)
            .map(|(d, chunk)| {
                let mut d = d.clone();
                let first = if whole { d.save() } else { chunk.clone() };
                (first, edited(&mut d, k))
            })
            .collect();
        let form = if whole { "its snapshot" } else { "the change chunk it arrived as" };
        time(&format!("{form} + {k} change chunks"), STORED, || {
            for (first, rest) in &stored {
                let mut d = Automerge::load(first).unwrap();
                if !rest.is_empty() {
                    d.load_incremental(rest).unwrap();
                }
                std::hint::black_box(d);
            }
        });
    }
}
