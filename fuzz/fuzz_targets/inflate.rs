//! Bounded inflation (`ayni_node::inflate`): any bytes given as automerge
//! chunks or as a sync message are counted or refused, never a panic, and
//! what is counted within the limit loads in automerge without inflating
//! past it.
#![no_main]

use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = ayni_node::inflate::chunks(data, LIMIT) {
        assert!(n <= LIMIT);
        let _ = automerge::Automerge::load(data);
    }
    if ayni_node::inflate::sync_message(data, LIMIT).is_ok() {
        let _ = automerge::sync::Message::decode(data);
    }
});
