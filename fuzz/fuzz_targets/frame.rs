//! The wire-frame decoder (`sync::wire`): any bytes given as a frame body or
//! as a compressed batch are a frame or an error, never a panic, a hang or a
//! huge allocation; and every frame decoded re-encodes to the same frame.
#![no_main]

use ayni_node::sync::wire::{unpack, Frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = Frame::decode(data) {
        let mut out = vec![];
        frame.encode(&mut out);
        let again = Frame::decode(&out[4..]).expect("a re-encoded frame decodes");
        assert_eq!(again, frame, "decode(encode(frame)) differs");
    }
    if let Ok(prefix) = <[u8; 4]>::try_from(data.get(..4).unwrap_or_default()) {
        let _ = Frame::body_len(prefix);
    }
    let _ = unpack(data);
});
