//! Record input (`schema`, `node`): any JSON text given to `ayni add` for
//! any kind (on a node holding the demo records) becomes a stored record or a field-level error, never a panic;
//! a record that is accepted reads back. The first byte picks the kind.
#![no_main]

use std::sync::OnceLock;

use ayni_fuzz::Fixture;
use ayni_node::clients::Actor;
use ayni_node::schema::KINDS;
use ayni_node::NodeHandle;
use libfuzzer_sys::fuzz_target;

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        Fixture::new(|home, rt| {
            let node = NodeHandle::init(home, "fuzz").expect("a fresh node");
            // the demo records, so references in the input can resolve
            rt.block_on(node.seed()).expect("seed the fixture node");
            node
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let _ = ayni_node::node::parse_path(text);
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else { return };
    let kind = KINDS[pick as usize % KINDS.len()];
    let f = fixture();
    if let Ok(rec) = f.wait(f.node.create(&Actor::Node, kind, None, value)) {
        let back = f.wait(f.node.get(&Actor::Node, &rec.id)).expect("an added record reads back");
        assert_eq!(back.fields, rec.fields);
    }
});
