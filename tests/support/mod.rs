//! Test support: drive the real `ayni` binary in a temporary home, in the
//! style of ripgrep's `TestCommand`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The built `ayni` binary (cargo builds it for the cli crate's tests,
/// which `cargo test` compiles before any test runs).
pub fn ayni_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join(format!("ayni{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} is missing: run the suite with `cargo test --workspace`", bin.display());
    bin
}

/// One node home, removed when dropped.
pub struct Ayni {
    pub dir: tempfile::TempDir,
}

impl Ayni {
    /// An empty home (no node yet).
    pub fn empty() -> Ayni {
        Ayni { dir: tempfile::tempdir().expect("tempdir") }
    }

    /// A home with an initialised node.
    pub fn new(name: &str) -> Ayni {
        let a = Ayni::empty();
        a.ok(&["init", "--name", name]);
        a
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(ayni_bin());
        c.arg("--home").arg(self.home()).args(args).env_remove("AYNI_HOME").stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run ayni")
    }

    /// Runs and expects exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ayni {args:?} failed with {:?}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs with `--json` and expects exit 0; returns the parsed document.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("ayni {args:?}: not one JSON document ({e}):\n{text}"))
    }

    /// Runs and expects exit `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "ayni {args:?}: expected exit {code}\nstdout: {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(out.stdout.is_empty() || code == 1, "a refused command printed to stdout");
        stderr
    }

    /// Every live record of every kind, as the node shows them: what
    /// "unchanged in content" is compared on.
    pub fn content(&self) -> Value {
        let kinds = ["org_unit", "entity", "practice", "catalogue_edition", "funding_project", "request",
            "agreement", "mission", "course", "person", "event", "edan", "team"];
        Value::Array(kinds.iter().map(|k| self.json(&["export", k])).collect())
    }

    /// The ID printed by `add`.
    pub fn add(&self, args: &[&str]) -> String {
        let mut all = vec!["add"];
        all.extend_from_slice(args);
        self.ok(&all).trim().to_string()
    }
}
