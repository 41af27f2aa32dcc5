//! What the fuzz targets share: a running node in a temporary home, made
//! once per fuzzing process, and the runtime its handle answers on.

use std::path::Path;

use ayni_node::NodeHandle;

/// A node, the runtime to wait on it with, and the temporary home it
/// lives in (removed with it).
pub struct Fixture {
    /// The node.
    pub node: NodeHandle,
    rt: tokio::runtime::Runtime,
    _home: tempfile::TempDir,
}

impl Fixture {
    /// A node made by `make` in a new temporary home.
    pub fn new(make: impl FnOnce(&Path, &tokio::runtime::Runtime) -> NodeHandle) -> Fixture {
        let home = tempfile::tempdir().expect("temporary home");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime");
        let node = make(home.path(), &rt);
        Fixture { node, rt, _home: home }
    }

    /// Waits for the node's answer.
    pub fn wait<T>(&self, answer: impl std::future::Future<Output = T>) -> T {
        self.rt.block_on(answer)
    }
}
