//! Enrolment tokens and revocation records (`network`): any text or bytes
//! are a verified record or an error, never a panic; a token that parses
//! re-encodes to the same membership.
#![no_main]

use ayni_node::identity::NodeId;
use ayni_node::network::{Membership, Revocation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(m) = Membership::from_token(text) {
            let again = Membership::from_token(&m.to_token()).expect("a re-encoded token parses");
            assert_eq!(again.to_token(), m.to_token());
            let _ = m.node_id();
        }
        let _ = text.trim().parse::<NodeId>();
        let _ = text.trim().parse::<ayni_node::DocumentId>();
    }
    let _ = Membership::from_bytes(data);
    if Revocation::is_revocation(data) {
        let _ = Revocation::from_bytes(data);
    }
});
