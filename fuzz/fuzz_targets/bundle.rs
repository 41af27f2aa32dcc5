//! Bundle import (`bundle`): whatever a bundle file holds, the import is
//! all or nothing and never panics. The input is a bundle without its
//! trailing SHA-256, which the target appends, so the fuzzer explores the
//! format behind the checksum (the checksum itself is proven by
//! `tests/bundles.rs`). The importer is a field node of the network the
//! seeds were exported from (`fuzz/fixtures/field`).
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use ayni_fuzz::Fixture;
use ayni_node::NodeHandle;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        Fixture::new(|home, _| {
            let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/field");
            for f in ["node.key", "node.json", "network.json"] {
                std::fs::copy(from.join(f), home.join(f)).expect("copy the fixture node");
            }
            NodeHandle::open(home).expect("open the fixture node")
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let mut sealed = data.to_vec();
    sealed.extend_from_slice(&Sha256::digest(data));
    let f = fixture();
    let before = f.wait(f.node.summary()).expect("summary");
    if f.wait(f.node.import_bundle(sealed, Box::new(|_| {}))).is_err() {
        assert_eq!(f.wait(f.node.summary()).expect("summary"), before, "a refused bundle wrote records");
    }
});
