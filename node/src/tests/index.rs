//! The index clients list records from (`GET /api/v1/index`, the
//! WebSocket gateway's index document) is read beside the engine and
//! written only by it.

use serde_json::json;

use crate::clients::Actor;
use crate::repo::index::Scope;
use crate::NodeHandle;

fn wait<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// On the read path: whether the index is current, and whether the store
/// is byte for byte what it was before the read.
fn read_index(node: &NodeHandle) -> (bool, bool) {
    wait(node.read(|r| {
        let before = r.store().checksum()?;
        let current = r.index_current(&Scope::All)?.is_some();
        Ok((current, r.store().checksum()? == before))
    }))
    .unwrap()
}

#[test]
fn the_index_is_read_without_writing_and_brought_up_to_date_by_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeHandle::init(&dir.path().join("a"), "a").unwrap();
    wait(node.create(&Actor::Node, "team", Some("GAEM-1"), json!({"name": "GAEM 1"}))).unwrap();

    // stale (a record came after it): the read path says so and writes nothing
    assert_eq!(read_index(&node), (false, true));

    // the listing asks the engine to bring it up to date, and shows the record
    let listing = wait(node.index_listing(Scope::All)).unwrap();
    assert!(listing.records["team"].contains_key("GAEM-1"), "{:?}", listing.records);

    // current now: read as stored, still without a write
    assert_eq!(read_index(&node), (true, true));
    let again = wait(node.index_listing(Scope::All)).unwrap();
    assert_eq!(again.records, listing.records);

    // a new record makes it stale again, and the next listing shows it
    wait(node.create(&Actor::Node, "team", Some("GAEM-2"), json!({"name": "GAEM 2"}))).unwrap();
    assert_eq!(read_index(&node), (false, true));
    assert!(wait(node.index_listing(Scope::All)).unwrap().records["team"].contains_key("GAEM-2"));
}
