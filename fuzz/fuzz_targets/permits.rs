//! Admission against the reference model of the permits
//! (`ayni_node::differential`): the bytes choose a record, an author and a
//! change (puts, deletes, replaced maps, list edits, transition and
//! amendment entries, envelope keys, tombstones, creations, edits made
//! beside others); admission must admit it exactly when the model allows
//! it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(disagreement) = ayni_node::differential::check(data) {
        panic!("{disagreement}");
    }
});
