//! Sessions tested without sockets: a `Pair` of in-memory replicas passes
//! encoded frames between two sessions until both are done, counting bytes
//! and round trips, optionally cutting the connection part-way.

#[allow(unused_imports)]
use super::wire;
use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc, ROOT};
use proptest::prelude::*;

use super::wire::Frame;
use super::*;

type MemStore = super::memory::MemoryStore;

fn id(n: u64) -> DocumentId {
    super::memory::doc_id(n)
}

fn edit(store: &mut MemStore, actor: u8, doc: u64, key: &str, value: i64) {
    store.edit(actor, doc, key, value);
}

#[derive(Debug, Default, PartialEq)]
struct Outcome {
    bytes_a_to_b: usize,
    bytes_b_to_a: usize,
    round_trips: usize,
    stats_a: Stats,
    stats_b: Stats,
    /// Everything `a` sent, as on the wire.
    sent_by_a: Vec<u8>,
}

/// Runs one session between `a` (initiator) and `b`; `cut_after` drops the
/// connection after that many frames have been delivered.
fn run(a: &mut MemStore, b: &mut MemStore, cut_after: Option<usize>) -> Result<Outcome, SyncError> {
    run_in_parts(a, b, cut_after, usize::MAX)
}

/// Runs one session between an `a` that offers protocol versions `va` and
/// a `b` that offers `vb`.
fn run_speaking(a: &mut MemStore, va: &[u16], b: &mut MemStore, vb: &[u16]) -> Result<Outcome, SyncError> {
    let sa = Session::new(Role::Initiator, [1; 20], a)?.offering(va);
    let sb = Session::new(Role::Acceptor, [2; 20], b)?.offering(vb);
    run_sessions(sa, a, sb, b, None, usize::MAX)
}

/// A whole batch, taken from the session in parts of `budget` bytes of
/// documents (as the QUIC driver does).
fn batch_in_parts<S: DocStore>(s: &mut Session, store: &S, budget: usize) -> Result<Option<Vec<Frame>>, SyncError> {
    let mut frames = vec![];
    while let Some(part) = s.next_part(store, budget)? {
        assert!(!part.is_empty(), "an empty part");
        frames.extend(part);
        if frames.last() == Some(&Frame::End) {
            return Ok(Some(frames));
        }
    }
    assert!(frames.is_empty(), "the session ended mid-batch");
    Ok(None)
}

fn run_in_parts(
    a: &mut MemStore,
    b: &mut MemStore,
    cut_after: Option<usize>,
    budget: usize,
) -> Result<Outcome, SyncError> {
    let sa = Session::new(Role::Initiator, [1; 20], a)?;
    let sb = Session::new(Role::Acceptor, [2; 20], b)?;
    run_sessions(sa, a, sb, b, cut_after, budget)
}

fn run_sessions(
    mut sa: Session,
    a: &mut MemStore,
    mut sb: Session,
    b: &mut MemStore,
    cut_after: Option<usize>,
    budget: usize,
) -> Result<Outcome, SyncError> {
    let mut out = Outcome::default();
    let mut delivered = 0;
    let deliver = |frames: Vec<Frame>,
                   to: &mut Session,
                   store: &mut MemStore,
                   bytes: &mut usize,
                   delivered: &mut usize|
     -> Result<bool, SyncError> {
        let buf = wire::encode_batch(&frames);
        *bytes += buf.len();
        let mut rest = &buf[..];
        let mut decoded = vec![];
        while !rest.is_empty() {
            let len = Frame::body_len(rest[..4].try_into().unwrap())?;
            decoded.push(Frame::decode(&rest[4..4 + len])?);
            rest = &rest[4 + len..];
        }
        // packed frames go to the session as they arrive, like the driver does
        for frame in decoded {
            if cut_after.is_some_and(|n| *delivered >= n) {
                store.commit()?;
                return Ok(false);
            }
            *delivered += 1;
            to.handle_frame(frame, store)?;
        }
        store.commit()?;
        Ok(true)
    };
    // a batch the peer must answer: the peer may not end the session after it
    let answer_owed = |frames: &[Frame]| frames.iter().any(|f| !matches!(f, Frame::Hello(_) | Frame::End));
    let mut batch = batch_in_parts(&mut sa, a, budget)?;
    loop {
        let Some(frames) = batch else {
            assert!(sb.peer_may_end(), "a ended where b does not take it for the end");
            break;
        };
        assert!(!answer_owed(&frames) || !sa.peer_may_end(), "a's batch is owed an answer");
        out.round_trips += 1;
        out.sent_by_a.extend(wire::encode_batch(&frames));
        if !deliver(frames, &mut sb, b, &mut out.bytes_a_to_b, &mut delivered)? {
            break;
        }
        let Some(reply) = batch_in_parts(&mut sb, b, budget)? else {
            assert!(sa.peer_may_end(), "b ended where a does not take it for the end");
            break;
        };
        assert!(!answer_owed(&reply) || !sb.peer_may_end(), "b's batch is owed an answer");
        if !deliver(reply, &mut sa, a, &mut out.bytes_b_to_a, &mut delivered)? {
            break;
        }
        batch = batch_in_parts(&mut sa, a, budget)?;
        assert!(out.round_trips < 200, "session does not terminate");
    }
    out.stats_a = sa.stats().clone();
    out.stats_b = sb.stats().clone();
    Ok(out)
}

fn replica(n: u64, actor: u8) -> MemStore {
    MemStore::replica(n, actor)
}

#[test]
fn identical_replicas_agree_in_one_round_trip_with_a_few_hundred_bytes() {
    for n in [0, 5, 1_000, 20_000] {
        let mut a = replica(n, 1);
        let mut b = a.clone();
        let o = run(&mut a, &mut b, None).unwrap();
        assert_eq!(o.round_trips, 1, "n={n}");
        assert!(o.bytes_a_to_b + o.bytes_b_to_a < 400 + 64 * (n.min(16) as usize), "n={n}: {o:?}");
        assert_eq!(o.stats_a.docs_received + o.stats_b.docs_received, 0);
    }
}

#[test]
fn one_changed_document_costs_little_and_converges() {
    let mut a = replica(20_000, 1);
    let mut b = a.clone();
    edit(&mut b, 2, 777, "v", -1);
    let o = run(&mut a, &mut b, None).unwrap();
    assert_eq!(a.heads(), b.heads());
    assert_eq!(o.stats_a.docs_received, 1);
    assert_eq!(o.stats_a.changes_received, 1);
    let total = o.bytes_a_to_b + o.bytes_b_to_a;
    assert!(total < 4_000, "{total} bytes: {o:?}");
    assert!(o.round_trips <= 8, "{o:?}");
}

#[test]
fn a_changed_document_travels_as_the_changes_the_peer_lacks_never_whole() {
    // a document of three changes, of which the peer lacks two: automerge
    // alone would send a V2 peer the whole document
    let mut a = replica(20, 1);
    let mut b = a.clone();
    edit(&mut a, 1, 7, "w", 1);
    edit(&mut a, 1, 7, "x", 2);
    let o = run(&mut a, &mut b, None).unwrap();
    assert_eq!(a.heads(), b.heads());
    assert_eq!(o.stats_b.changes_received, 2);
    let mut rest = &o.sent_by_a[..];
    let mut frames = vec![];
    while !rest.is_empty() {
        let len = Frame::body_len(rest[..4].try_into().unwrap()).unwrap();
        match Frame::decode(&rest[4..4 + len]).unwrap() {
            Frame::Zstd(packed) => frames.extend(wire::unpack(&packed).unwrap()),
            frame => frames.push(frame),
        }
        rest = &rest[4 + len..];
    }
    let mut chunks = vec![];
    for frame in frames {
        if let Frame::DocSync(_, bytes) = frame {
            let msg = automerge::sync::Message::decode(&bytes).unwrap();
            for item in msg.changes.iter() {
                // an automerge chunk: magic (4), checksum (4), then its type
                chunks.push(item[8]);
            }
        }
    }
    assert_eq!(chunks.len(), 2, "one chunk per change the peer lacks: {chunks:?}");
    assert!(chunks.iter().all(|t| *t == 1 || *t == 2), "change chunks only, no document: {chunks:?}");
}

#[test]
fn first_sync_into_an_empty_replica_ships_whole_documents() {
    let mut a = MemStore::default();
    let mut b = replica(300, 2);
    let o = run(&mut a, &mut b, None).unwrap();
    assert_eq!(a.heads(), b.heads());
    assert_eq!(o.stats_a.docs_received, 300);
    assert_eq!(o.stats_b.docs_sent, 300);
    // and the other way round
    let mut c = MemStore::default();
    let mut d = replica(300, 3);
    run(&mut d, &mut c, None).unwrap();
    assert_eq!(c.heads(), d.heads());
}

#[test]
fn signatures_travel_with_their_changes_between_every_pair_of_versions() {
    let mut first_sync_bytes = BTreeMap::new();
    for (va, vb) in [(&[1u16][..], &[1u16][..]), (&[1], &[1, 2]), (&[1, 2], &[1]), (&[1, 2], &[1, 2])] {
        // a first sync: whole documents
        let mut a = MemStore::default();
        let mut b = replica(200, 2);
        let o = run_speaking(&mut a, va, &mut b, vb).unwrap();
        assert_eq!(a.heads(), b.heads());
        assert_eq!(a.sigs, b.sigs, "{va:?} ← {vb:?}: first sync");
        first_sync_bytes.insert((va.len(), vb.len()), o.bytes_b_to_a);
        // then edits on both sides: automerge sync messages
        for i in 0..20 {
            edit(&mut a, 1, i, "a", 1);
            edit(&mut b, 2, i + 10, "b", 2);
        }
        run_speaking(&mut a, va, &mut b, vb).unwrap();
        assert_eq!(a.heads(), b.heads());
        assert_eq!(a.sigs, b.sigs, "{va:?} ↔ {vb:?}: sync messages");
        assert_eq!(a.sigs.len(), 240);
    }
    // version 2 spares the 32-byte hash of each of the 200 changes; a
    // document saved whole holds its heads, so compressed frames find
    // version 1's hash there again and it costs a few bytes, not 32
    let (v1, v2) = (first_sync_bytes[&(1, 1)], first_sync_bytes[&(2, 2)]);
    assert!(v1 > v2, "v1 {v1} B, v2 {v2} B");
    // a version 1 peer gets version 1 (the hellos differ by a byte or two)
    assert!(first_sync_bytes[&(1, 2)].abs_diff(v1) <= 4);
    assert!(first_sync_bytes[&(2, 1)].abs_diff(v1) <= 4);
}

#[test]
fn a_whole_document_that_does_not_load_is_refused_alone_and_the_session_goes_on() {
    let sender = replica(2, 2);
    let ids: Vec<DocumentId> = sender.docs.keys().copied().collect();
    let mut b = MemStore::default();
    let mut s = Session::new(Role::Acceptor, [2; 20], &b).unwrap();
    s.handle_frame(
        Frame::Hello(Hello { versions: vec![3], node_id: [1; 20], doc_count: 2, set_fp: [0; 16], members_fp: [0; 16] }),
        &mut b,
    )
    .unwrap();
    // a document whose heads are not its changes' (as a copy automerge
    // cannot read back would be): one byte of the saved heads altered
    let doc = &sender.docs[&ids[0]];
    let mut broken = doc.save_nocompress();
    let head = doc.get_heads()[0].0;
    let at = broken.windows(32).position(|w| w == head).unwrap();
    broken[at] ^= 1;
    assert!(Automerge::load(&broken).is_err());
    s.handle_frame(Frame::Proofs(ids[0], vec![vec![]]), &mut b).unwrap();
    s.handle_frame(Frame::DocFull(ids[0], broken), &mut b).unwrap();
    // the next document still arrives
    let good = sender.docs[&ids[1]].save_nocompress();
    s.handle_frame(Frame::Proofs(ids[1], vec![vec![]]), &mut b).unwrap();
    s.handle_frame(Frame::DocFull(ids[1], good), &mut b).unwrap();
    assert_eq!(b.unreadable.len(), 1);
    assert_eq!(b.unreadable[0].0, ids[0]);
    assert!(b.unreadable[0].1.contains("does not load"), "{}", b.unreadable[0].1);
    assert!(!b.docs.contains_key(&ids[0]));
    assert_eq!(b.docs[&ids[1]].get_heads(), sender.docs[&ids[1]].get_heads());

    // the same document again is passed over; many others end the session
    s.handle_frame(Frame::Proofs(ids[0], vec![vec![]]), &mut b).unwrap();
    s.handle_frame(Frame::DocFull(ids[0], vec![0; 13]), &mut b).unwrap();
    assert_eq!(b.unreadable.len(), 1);
    let garbage =
        |i: u8| Frame::DocFull(DocumentId::from_bytes([i; 16]), vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 0]);
    for i in 0..15 {
        s.handle_frame(garbage(i + 100), &mut b).unwrap();
    }
    assert_eq!(b.unreadable.len(), 16);
    let err = s.handle_frame(garbage(200), &mut b).unwrap_err();
    assert!(err.to_string().contains("more than 16 documents"), "{err}");
}

#[test]
fn a_signature_count_that_does_not_match_the_changes_is_an_error() {
    let mut b = replica(1, 2);
    let doc = b.docs.values().next().unwrap().clone();
    let id = *b.docs.keys().next().unwrap();
    let mut s = Session::new(Role::Acceptor, [2; 20], &b).unwrap();
    s.handle_frame(
        Frame::Hello(Hello { versions: vec![2], node_id: [1; 20], doc_count: 1, set_fp: [0; 16], members_fp: [0; 16] }),
        &mut b,
    )
    .unwrap();
    s.handle_frame(Frame::SigsOrdered(id, vec![[1; 64], [2; 64]]), &mut b).unwrap();
    let err = s.handle_frame(Frame::DocFull(id, doc.save()), &mut b).unwrap_err();
    assert!(err.to_string().contains("2 signatures for 1 changes"), "{err}");
}

#[test]
fn batches_taken_in_small_parts_carry_the_same_frames() {
    let mut a = replica(50, 1);
    let mut b = replica(300, 2);
    for i in 0..20 {
        edit(&mut a, 1, i * 3, "a", 1);
    }
    let (mut a2, mut b2) = (a.clone(), b.clone());
    let whole = run(&mut a, &mut b, None).unwrap();
    let parts = run_in_parts(&mut a2, &mut b2, None, 100).unwrap();
    assert_eq!(a.heads(), b.heads());
    assert_eq!(a2.heads(), a.heads());
    assert_eq!(b2.heads(), b.heads());
    assert_eq!(parts.stats_a, whole.stats_a);
    assert_eq!(parts.round_trips, whole.round_trips);
}

#[test]
fn a_document_stored_meanwhile_and_then_sent_whole_converges_both_ways() {
    // b lacks document 5 when the session begins, and stores a copy of it
    // of its own (another door) before a's whole document arrives
    let (mut a, mut b) = (replica(3, 1), replica(3, 1));
    edit(&mut a, 1, 5, "v", 1);
    let sa = Session::new(Role::Initiator, [1; 20], &a).unwrap();
    let sb = Session::new(Role::Acceptor, [2; 20], &b).unwrap();
    edit(&mut b, 3, 5, "w", 2);
    run_sessions(sa, &mut a, sb, &mut b, None, usize::MAX).unwrap();
    let doc = |s: &MemStore| s.load(&id(5)).unwrap().unwrap();
    assert_eq!(doc(&a).get_heads(), doc(&b).get_heads(), "both hold both changes");
    assert!(doc(&a).get(ROOT, "w").unwrap().is_some(), "a has what b stored meanwhile");
}

#[test]
fn concurrent_edits_on_both_sides_merge() {
    let mut a = replica(100, 1);
    let mut b = a.clone();
    for i in 0..10 {
        edit(&mut a, 1, i * 7, "a", 1);
        edit(&mut b, 2, i * 7, "b", 2);
        edit(&mut b, 2, 1_000 + i, "new", 3);
    }
    edit(&mut a, 1, 5_000, "only-a", 1);
    run(&mut a, &mut b, None).unwrap();
    assert_eq!(a.heads(), b.heads());
    assert_eq!(a.docs.len(), 111);
    let d = &a.docs[&id(14)];
    assert!(d.get(ROOT, "a").unwrap().is_some() && d.get(ROOT, "b").unwrap().is_some());
}

#[test]
fn an_interrupted_sync_keeps_what_arrived_and_the_next_completes() {
    let mut a = MemStore::default();
    // ~10 MB of documents: more than one compressed pack
    let mut b = MemStore::default();
    for i in 0..500u64 {
        let d = b.docs.entry(id(i)).or_insert_with(Automerge::new);
        let mut tx = d.transaction();
        let noise: String = (0..2_000).map(|k| char::from(b'a' + ((i * 7919 + k * 104_729) % 26) as u8)).collect();
        tx.put(ROOT, "text", noise.repeat(10)).unwrap();
        tx.commit();
    }
    // A's first batch is 3 frames; B answers with Hello and the first pack
    let o = run(&mut a, &mut b, Some(4)).unwrap();
    let got = a.docs.len();
    assert!(got > 0 && got < 500, "{got} {o:?}");
    run(&mut a, &mut b, None).unwrap();
    assert_eq!(a.heads(), b.heads());
}

#[test]
fn members_travel_only_when_they_differ() {
    let mut a = replica(10, 1);
    let mut b = a.clone();
    a.members = vec![b"m1".to_vec(), b"m2".to_vec()];
    b.members = vec![b"m2".to_vec(), b"m3".to_vec()];
    let o = run(&mut a, &mut b, None).unwrap();
    assert_eq!(o.stats_a.members_learned, 1);
    assert_eq!(o.stats_b.members_learned, 1);
    let o = run(&mut a, &mut b, None).unwrap();
    assert_eq!(o.round_trips, 1);
}

#[test]
fn protocol_violations_are_errors() {
    let a = replica(3, 1);
    let mut b = a.clone();
    let mut s = Session::new(Role::Acceptor, [2; 20], &b).unwrap();
    assert!(matches!(s.handle_frame(Frame::End, &mut b), Err(SyncError::Protocol(_))));
    let mut s = Session::new(Role::Acceptor, [2; 20], &b).unwrap();
    let hello =
        wire::Hello { versions: vec![99], node_id: [0; 20], doc_count: 0, set_fp: [0; 16], members_fp: [0; 16] };
    assert!(matches!(s.handle_frame(Frame::Hello(hello), &mut b), Err(SyncError::Version { .. })));
    let mut s = Session::new(Role::Acceptor, [2; 20], &b).unwrap();
    let hello = wire::Hello { versions: vec![1], node_id: [0; 20], doc_count: 0, set_fp: [0; 16], members_fp: [0; 16] };
    s.handle_frame(Frame::Hello(hello), &mut b).unwrap();
    assert!(s.handle_frame(Frame::DocSync(id(1), vec![1, 2, 3]), &mut b).is_err());
    assert!(s.handle_frame(Frame::DocFull(id(1), vec![9; 40]), &mut b).is_err());
    assert_eq!(b.docs.len(), 3, "nothing written from the bad frames");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random edits and pairwise syncs over 3–5 replicas: after a final
    /// round of syncs every replica holds the same documents and heads.
    #[test]
    fn random_schedules_converge(
        replicas in 3usize..=5,
        steps in proptest::collection::vec((0u8..2, 0usize..5, 0usize..5, 0u64..12, -50i64..50), 1..40),
        budget in prop_oneof![Just(usize::MAX), 1usize..400],
    ) {
        let mut stores: Vec<MemStore> = (0..replicas).map(|_| MemStore::default()).collect();
        for (op, x, y, doc, v) in steps {
            let (x, y) = (x % replicas, y % replicas);
            if op == 0 || x == y {
                edit(&mut stores[x], x as u8 + 1, doc, &format!("k{}", v.rem_euclid(3)), v);
            } else {
                let (lo, hi) = (x.min(y), x.max(y));
                let (left, right) = stores.split_at_mut(hi);
                run_in_parts(&mut left[lo], &mut right[0], None, budget).unwrap();
            }
        }
        // a chain there and back reaches everyone
        for i in 0..replicas - 1 {
            let (left, right) = stores.split_at_mut(i + 1);
            run(&mut left[i], &mut right[0], None).unwrap();
        }
        for i in (0..replicas - 1).rev() {
            let (left, right) = stores.split_at_mut(i + 1);
            run(&mut left[i], &mut right[0], None).unwrap();
        }
        for s in &stores[1..] {
            prop_assert_eq!(s.heads(), stores[0].heads());
        }
    }
}

/// The committed seeds of the `reconcile` fuzz target are whole sessions
/// the acceptor follows to the end (so fuzzing starts past the handshake),
/// and the named `frame` seeds decode. With `AYNI_FUZZ_SEEDS=DIR` the seeds
/// are first written anew from real sessions:
/// `AYNI_FUZZ_SEEDS=fuzz/corpus cargo test -p ayni-node --lib fuzz_seeds`.
/// `reconcile` seeds are what an initiator sends to the fuzz target's
/// acceptor (`MemoryStore::replica(20, 2)`); `frame` seeds are single frame
/// bodies of every kind seen.
#[test]
fn fuzz_seeds_are_whole_sessions() {
    if let Some(dir) = std::env::var_os("AYNI_FUZZ_SEEDS") {
        write_fuzz_seeds(&std::path::PathBuf::from(dir));
    }
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut sessions = 0;
    for seed in ["empty", "same", "changed", "members"] {
        let bytes = std::fs::read(corpus.join("reconcile").join(seed)).unwrap();
        let mut store = MemStore::replica(20, 2);
        let mut session = Session::new(Role::Acceptor, [2; 20], &store).unwrap();
        let (mut rest, mut replies) = (&bytes[..], 0);
        while !rest.is_empty() {
            let len = Frame::body_len(rest[..4].try_into().unwrap()).unwrap();
            let frame = Frame::decode(&rest[4..4 + len]).unwrap();
            rest = &rest[4 + len..];
            let end = frame == Frame::End;
            session.handle_frame(frame, &mut store).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            if end && session.next_batch(&store).unwrap().is_some() {
                replies += 1;
            }
        }
        assert!(replies > 0, "seed {seed}: the acceptor never answered");
        sessions += 1;
    }
    assert_eq!(sessions, 4);
    for name in ["DocFull", "DocSync", "End", "Hello", "Ranges", "Members", "Proofs", "Sigs", "SigsOrdered", "Zstd"] {
        let body = std::fs::read(corpus.join("frame").join(name)).unwrap();
        assert_eq!(Frame::decode(&body).unwrap().name(), name);
    }
}

fn write_fuzz_seeds(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("reconcile")).unwrap();
    std::fs::create_dir_all(dir.join("frame")).unwrap();
    let fixture = || MemStore::replica(20, 2);
    let mut changed = fixture();
    edit(&mut changed, 1, 3, "v", -1);
    edit(&mut changed, 1, 40, "new", 1);
    let mut members = MemStore::replica(5, 1);
    members.members = vec![b"not a real token".to_vec()];
    let scenarios = [("empty", MemStore::default()), ("same", fixture()), ("changed", changed), ("members", members)];
    let mut bodies = std::collections::BTreeMap::new();
    for (name, mut a) in scenarios {
        let o = run(&mut a, &mut fixture(), None).unwrap();
        std::fs::write(dir.join("reconcile").join(name), &o.sent_by_a).unwrap();
        let mut rest = &o.sent_by_a[..];
        while !rest.is_empty() {
            let len = Frame::body_len(rest[..4].try_into().unwrap()).unwrap();
            let body = &rest[4..4 + len];
            let frame = Frame::decode(body).unwrap();
            bodies.entry(frame.name()).or_insert_with(|| body.to_vec());
            // and the frames packed inside, as they are decoded once unpacked
            if let Frame::Zstd(packed) = frame {
                for inner in wire::unpack(&packed).unwrap() {
                    let mut b = vec![];
                    inner.encode(&mut b);
                    bodies.entry(inner.name()).or_insert_with(|| b[4..].to_vec());
                }
            }
            rest = &rest[4 + len..];
        }
    }
    for (name, body) in bodies {
        std::fs::write(dir.join("frame").join(name), body).unwrap();
    }
}

/// A peer's sync message whose bloom filter claims entries but holds no
/// bits used to panic automerge (division by zero); found by fuzzing.
#[test]
fn a_sync_message_with_an_empty_bloom_filter_is_refused() {
    use base64::Engine;
    let crash = "AAAARAFBWU5TAQABAQEBAQEBAQEBAQEBAQEBAQEBAQEAAAAAAAAABVuJjaHwNFIHXGhXebBXFPJvtUv6K5GhyDc+TA+yevsfAAAAqwMAAAABAQEAAAAFAAAAAAAAAAAAAAAAAAAAALDqu7zEQyhKZK670V4NCQAAAAAAAAD4KgAAAAAAAAACDzhvicJmjLMoESr+iKdD23gj5uX9KfBUAAAAAAAAAARUPtf/U3kI5w4BehYcVUAfnjd5uX9KfBUAAAAAAAAAAdgGKlYEH8fvv2cyiZYki2Xapm0sfd90PwAAAAAAAAADaGOkPaF3OfahsY7J7IxhDQAAAAEHAAACbAkotS/9YPsDDRMAhCAAAAAVAgABABBub3QgYSByZWFsIHRva2VuAAAAFQoA3QXIQwG1n93cybGoZKrbYMjFlcd8TdGyxhMwkBBDwqYRqfUShwFwvnJkn5DUjJ9H5lSYsLlc60nC3ovHCmxqwEoCkNd6NQEABQkAAAAAAAAAb0qD9xvUygBuARABBgH6AwITAiMCQAJWAggVAyECIwI0AUICVgJXAYABAn8AfwF/AX8AfwB/B38BdhQAfwAAAgKEPG7zcv6U+CoCyEMBaGGLVaMP/biU8asYGFPaGDvIKOydMMIeqVo175vFyYEB7Vtgmr/mpsq4AdVp+L9R+gHRxO2zUcqrQPKrka1RMFJEuQHXJ30CeN3m5f0p8FQEyEMBWFeCuWp62fB7eQOmeyJcbZ9cfv/PlLtUV3ZQRwry6DUBpbU2DcGqTV2wfMOxePxI5j26q3ejD0RPX8/xJ+u8DgOEA1aBc28Enjd5uX9KfBUByEMBpn5zFfJyU753H5tObnG8TGGt7pyzUWL2I9uldOkmBHIB5ptrCxA5yM3TtR2hfWe3im8cLMNB8EsBmWiuU01LlJJCCUMQHecB2qZtLH3fdD8DyEMBGQQonnkhMR2MIwistBR7Gc4H87cZmUCJWIY2CZ8UcVMBN+PPMUMvFI/hQl5cMChEpO1nL/fkfFmB5g3wAlPwpH2sQ30vlsYDfwAAAgKEKiAwAwks9MQJKxx8woFEf8PxZAqboyHECWsc/OQDiX6G42QLkyND+BNWOPiEA4n+huPJFDZHQ4gT1jj4yQcS/QzHyRbGjH11DHdZtuqK8LVhJO4ErygnAAAAAQcAAAG1CSi1L/1gLwJVDQD0FwAAAJ8FAIpDAnC+cmSfkNSMn0fmVJiwuVzrScLei8cKbGrASgKQ13o1tZ/d3MmxqGSq22DIxZXHfE3RssYTMJAQQ8KmEan1EocAAQACAoQ8bvNy/pT4KgJoYYtVow/9uJTxqxgYU9oYO8go7J0wwh6pWjXvm8XJge1bYJq/5qbKuAHVafi/UfoB0cTts1HKq0Dyq5GtUTBSAAF43ebl/SnwVARYV4K5anrZ8Ht5A6Z7Ilxtn1x+/8+Uu1RXdlBHCvLoNaW1Ng3Bqk1dsHzDsXj8SOY9uqt3ow9ET1/P8SfrvA4DAAGeN3m5f0p8FQGmfnMV8nJTvncfm05ucbxMYa3unLNRYvYj26V06SYEcuabawsQOMhN07UdoX1nt4pvHCzDQfBLAZlorlNNS5SSAAHapm0sfd90PwMZBCieeSExHYwjCKy0FDd5uX9KfBUBpn5zFfJyU753H5tObnG8TGGt7pyzUVv2I9uldOkmBHLmm2sLEDnITdO1HaF9Z7eEEiCAcz3CDRkHy3GxhBtkDCbHxRJuyDBYjool3ChjMM5oss3iRul4Bw4AAAABBw==";
    let bytes = base64::engine::general_purpose::STANDARD.decode(crash).unwrap();
    let mut store = MemStore::replica(20, 2);
    let mut session = Session::new(Role::Acceptor, [2; 20], &store).unwrap();
    let mut rest = &bytes[..];
    let mut refused = false;
    while rest.len() >= 4 {
        let len = Frame::body_len(rest[..4].try_into().unwrap()).unwrap();
        let Some(body) = rest.get(4..4 + len) else { break };
        rest = &rest[4 + len..];
        let Ok(frame) = Frame::decode(body) else { break };
        let end = frame == Frame::End;
        if let Err(e) = session.handle_frame(frame, &mut store) {
            refused = e.to_string().contains("empty bloom filter");
            break;
        }
        if end && session.next_batch(&store).is_err() {
            break;
        }
    }
    assert!(refused, "the hostile sync message was not refused");
}
