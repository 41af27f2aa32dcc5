//! What the fuzz targets share: a node in a temporary home, made once per
//! fuzzing process.

use std::path::Path;

use ayni_node::Node;

/// A node and the temporary home it lives in (removed with it).
pub struct Fixture {
    /// The node.
    pub node: Node,
    _home: tempfile::TempDir,
}

impl Fixture {
    /// A node made by `make` in a new temporary home.
    pub fn new(make: impl FnOnce(&Path) -> Node) -> Fixture {
        let home = tempfile::tempdir().expect("temporary home");
        let node = make(home.path());
        Fixture { node, _home: home }
    }
}
