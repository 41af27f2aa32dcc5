//! The README's main job runs, tells its story, converges, and leaves
//! nothing behind.

mod support;

use std::process::Command;

#[test]
fn demo_converges_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(support::ayni_bin()).args(["--json", "demo"]).env("TMPDIR", tmp.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["converged"], true);
    assert_eq!(report["conflicts"], 1);
    assert!(report["bytes_moved"].as_u64().unwrap() > 0);
    let story = report["steps"].to_string();
    assert!(story.contains("GAEM-1: 11, GAEM-2: 8"), "{story}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the demo left files behind");
    let human = Command::new(support::ayni_bin()).arg("demo").env("TMPDIR", tmp.path()).output().unwrap();
    assert!(String::from_utf8_lossy(&human.stdout).contains("What converged"));
}
