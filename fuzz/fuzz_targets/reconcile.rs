//! Reconciliation and document sync (`sync::Session`): an acceptor holding
//! twenty documents is fed whatever a hostile initiator sends (the input is
//! the byte stream, frames with their length prefixes, as on the wire). It
//! must answer or fail with an error, never panic or loop, and what it
//! stores must still load.
#![no_main]

use ayni_node::sync::memory::MemoryStore;
use ayni_node::sync::wire::Frame;
use ayni_node::sync::{DocStore, Role, Session};
use libfuzzer_sys::fuzz_target;

fn fixture() -> &'static MemoryStore {
    static F: std::sync::OnceLock<MemoryStore> = std::sync::OnceLock::new();
    F.get_or_init(|| MemoryStore::replica(20, 2))
}

fuzz_target!(|data: &[u8]| {
    let mut store = fixture().clone();
    let Ok(mut session) = Session::new(Role::Acceptor, [2; 20], &store) else { return };
    let mut rest = data;
    while rest.len() >= 4 {
        let Ok(len) = Frame::body_len([rest[0], rest[1], rest[2], rest[3]]) else { return };
        let Some(body) = rest.get(4..4 + len) else { return };
        rest = &rest[4 + len..];
        let Ok(frame) = Frame::decode(body) else { return };
        let end = frame == Frame::End;
        if session.handle_frame(frame, &mut store).is_err() {
            return;
        }
        if end {
            let _ = store.commit();
            match session.next_batch(&store) {
                Ok(Some(reply)) => assert!(!reply.is_empty(), "an empty reply batch"),
                Ok(None) | Err(_) => return,
            }
        }
    }
    for doc in store.docs.values() {
        automerge::Automerge::load(&doc.save()).expect("a stored document reloads");
    }
});
