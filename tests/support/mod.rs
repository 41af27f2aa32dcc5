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
        Value::Array(ayni_node::schema::KINDS.iter().map(|k| self.json(&["export", k])).collect())
    }

    /// The ID printed by `add`.
    pub fn add(&self, args: &[&str]) -> String {
        let mut all = vec!["add"];
        all.extend_from_slice(args);
        self.ok(&all).trim().to_string()
    }
}

/// An `ayni serve` process on a loopback port; stopped with SIGTERM when
/// dropped.
pub struct Served {
    child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// `127.0.0.1:PORT` of the HTTP API, when served (`--http`).
    pub http: Option<String>,
}

impl Ayni {
    pub fn serve(&self) -> Served {
        self.serve_with(&[])
    }

    pub fn serve_with(&self, extra: &[&str]) -> Served {
        use std::io::BufRead;
        let mut args = vec!["serve", "--no-mdns"];
        if !extra.contains(&"--listen") {
            args.extend_from_slice(&["--listen", "127.0.0.1:0"]);
        }
        args.extend_from_slice(extra);
        let mut child = self.cmd(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn serve");
        let mut first = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut first).unwrap();
        let http = if extra.contains(&"--http") {
            let mut second = String::new();
            stdout.read_line(&mut second).unwrap();
            let url = second
                .trim()
                .strip_prefix("HTTP API on ")
                .and_then(|u| u.strip_prefix("http://").or_else(|| u.strip_prefix("https://")))
                .and_then(|u| u.split("/api/v1/").next())
                .unwrap_or_else(|| panic!("serve printed {second:?}"));
            Some(url.replace("0.0.0.0", "127.0.0.1"))
        } else {
            None
        };
        let addr = first
            .strip_prefix("listening on ")
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("serve printed {first:?}"))
            .to_string();
        let log = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
        let sink = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Served { child, addr, log, http }
    }
}

impl Served {
    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Stops it with SIGTERM and waits; returns its exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    /// `kill -9`: no clean-up, as a power cut or a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().expect("wait serve")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// Copies a directory tree (a node home, to go back to one state).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy file");
        }
    }
}

/// A network: an HQ node and `n` field nodes enrolled in it.
pub fn network(n: usize) -> (Ayni, Vec<Ayni>) {
    let hq = Ayni::new("hq");
    hq.ok(&["network", "create", "--name", "gamlp"]);
    let field = (0..n)
        .map(|i| {
            let node = Ayni::new(&format!("field-{i}"));
            let id = node.json(&["id"])["node_id"].as_str().unwrap().to_string();
            let token = hq.ok(&["enroll", &id, "--role", "field", "--name", &format!("field-{i}")]);
            node.ok(&["join", token.trim()]);
            node
        })
        .collect();
    (hq, field)
}

/// Every live record's (id, heads), across all kinds: equal exactly when
/// two replicas hold the same changes.
pub fn heads(node: &Ayni) -> Vec<(String, Value)> {
    let mut out = vec![];
    for &kind in ayni_node::schema::KINDS {
        for r in node.json(&["export", kind]).as_array().unwrap() {
            out.push((r["id"].as_str().unwrap().to_string(), r["heads"].clone()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// HQ puts field node i in team GAEM-(i+1), so it may write that team's
/// EDAN tallies.
pub fn assign_teams(hq: &Ayni, field: &[&Ayni]) {
    for (i, node) in field.iter().enumerate() {
        let id = node.json(&["id"])["node_id"].as_str().unwrap().to_string();
        hq.ok(&["set", &format!("team:GAEM-{}", i + 1), &format!("node_ids=[\"{id}\"]")]);
    }
}

pub mod forms;
pub mod http;
pub mod link;

/// The browser the browser tests drive: Debian's chromium, or the one
/// `AYNI_CHROMIUM` names.
#[allow(dead_code)] // not every test drives a browser
pub fn chromium() -> String {
    let chromium = std::env::var("AYNI_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: the browser tests drive Debian's chromium (apt-get install chromium; .ci/run does)"
    );
    chromium
}

/// Runs `tests/js/FILE` with `node --test` against the serving node at
/// `http` (`AYNI_HTTP`) with `env`; its report, or a panic with it when a
/// test failed.
pub fn node_test(file: &str, http: &str, env: &[(&str, String)]) -> String {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        js.join("node_modules/@automerge/automerge-repo").exists(),
        "the JavaScript client is not installed: run `npm ci` in {} (scripts/test does)",
        js.display()
    );
    let mut cmd = Command::new("node");
    cmd.args(["--test", "--test-force-exit", "--test-timeout=200000", "--test-reporter=spec", file])
        .current_dir(&js)
        .env("AYNI_HTTP", http);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run node (Node.js 20 is on the machine)");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the JavaScript tests failed:\n{report}");
    report
}
pub mod postgres;

/// What a tampered laptop could send: changes signed with its own key,
/// written straight into its stopped store, past every check its software
/// makes. Each `(reference, edit)` is made on the record as the laptop
/// holds it now (the edits are concurrent with each other), and `edit` is
/// given the transaction and the record's `data` map.
pub fn tamper(node: &Ayni, edits: Vec<(&str, Tamper)>) {
    use automerge::ReadDoc;
    use ayni_node::store::{DocWrite, Payload};
    let (store, writer) = ayni_node::store::Store::open(&node.home().join("store")).expect("open the laptop's store");
    let key = ayni_node::key_file::read(&node.home().join("node.key")).expect("its key");
    let mut docs: Vec<(
        ayni_node::DocumentId,
        automerge::Automerge,
        Vec<automerge::ChangeHash>,
        Vec<([u8; 32], Vec<u8>)>,
    )> = vec![];
    for (reference, edit) in edits {
        let (kind, k) = reference.split_once(':').expect("a KIND:KEY reference");
        let id = *store.ids_by_key(kind, k).unwrap().first().expect("the record");
        let stored = store.load(&id).unwrap().expect("its document");
        let heads = stored.get_heads();
        let mut fork = stored.fork().with_actor(key.public().actor_id());
        let data = fork.get(automerge::ROOT, "data").unwrap().expect("data").1;
        let mut tx = fork.transaction();
        edit(&mut tx, &data);
        let hash = tx.commit().0.expect("a change");
        let change = fork.get_change_by_hash(&hash).unwrap();
        let sig = (hash.0, key.sign(&hash.0).to_vec());
        match docs.iter_mut().find(|(d, ..)| *d == id) {
            Some((_, doc, _, sigs)) => {
                doc.apply_changes([change]).unwrap();
                sigs.push(sig);
            }
            None => {
                let mut doc = stored;
                doc.apply_changes([change]).unwrap();
                docs.push((id, doc, heads, vec![sig]));
            }
        }
    }
    for (id, doc, heads, sigs) in &docs {
        let view = store.view(id).unwrap().expect("its view");
        let rec: ayni_node::Record = serde_json::from_slice(&view).unwrap();
        let write = DocWrite {
            id: *id,
            payload: Payload::Changed { doc, stored_heads: heads },
            kind: &rec.kind,
            key: &rec.key,
            view: view.clone(),
            tally: ayni_node::status::tally_of(&rec),
            summary: ayni_node::sync::state_hash(id, &doc.get_heads()),
            sigs: sigs.clone(),
            policy: false,
            blobs: store.referenced_blobs(id).unwrap(),
        };
        writer.write(&[write]).expect("written past every check");
    }
}

/// One edit of [`tamper`].
pub type Tamper = Box<dyn FnOnce(&mut automerge::transaction::Transaction<'_>, &automerge::ObjId)>;
