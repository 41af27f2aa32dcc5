//! The bad-input corpus: malformed JSON, huge values, deep nesting, invalid
//! UTF-8, unknown kinds, devices and directories, and file arguments that
//! point into the node's own home. Every case is refused with exit 2 and a
//! message naming what is wrong, and nothing is written: the records, the
//! node's home and the directory holding the inputs are as they were.

mod support;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use support::Ayni;

/// File names under `dir`, recursively (what "nothing written" compares).
fn files(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.insert(p.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out
}

struct Corpus {
    node: Ayni,
    /// The records before any bad input (and after each: nothing changes).
    content: serde_json::Value,
    inputs: tempfile::TempDir,
    tried: usize,
}

impl Corpus {
    fn new() -> Corpus {
        let (hq, _) = support::network(0);
        hq.ok(&["seed"]);
        Corpus { content: hq.content(), node: hq, inputs: tempfile::tempdir().unwrap(), tried: 0 }
    }

    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.inputs.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    }

    /// Runs `args`: exit 2, stderr holds `needle`, nothing written.
    fn refused(&mut self, args: &[&OsStr], needle: &str) {
        let (home, inputs) = (files(&self.node.home()), files(self.inputs.path()));
        let out = self.node.cmd(&[]).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "ayni {args:?}: expected exit 2, stderr: {err}");
        assert!(err.contains(needle), "ayni {args:?}: stderr lacks {needle:?}: {err}");
        assert!(out.stdout.is_empty(), "ayni {args:?} printed to stdout");
        assert_eq!(self.node.content(), self.content, "ayni {args:?} changed the records");
        let now = files(&self.node.home());
        // sled may rotate its own files; nothing else may appear
        let outside_store =
            |s: &BTreeSet<String>| s.iter().filter(|f| !f.starts_with("store")).cloned().collect::<Vec<_>>();
        assert_eq!(outside_store(&now), outside_store(&home), "ayni {args:?} wrote into the home");
        assert_eq!(files(self.inputs.path()), inputs, "ayni {args:?} wrote beside its inputs");
        self.tried += 1;
    }

    fn refuses(&mut self, args: &[&str], needle: &str) {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        self.refused(&args, needle);
    }
}

#[test]
fn every_bad_input_is_refused_with_exit_2_and_writes_nothing() {
    let mut c = Corpus::new();
    let e = "edan:edan-sama-1";

    // malformed JSON, in a record file and in an import
    for (name, bytes, needle) in [
        ("empty.json", &b""[..], "invalid JSON"),
        ("truncated.json", b"{\"name\": \"GAEM-9\"", "invalid JSON"),
        ("trailing-comma.json", b"{\"name\": \"GAEM-9\",}", "invalid JSON"),
        ("single-quotes.json", b"{'name': 'GAEM-9'}", "invalid JSON"),
        ("nan.json", b"{\"name\": NaN}", "invalid JSON"),
        ("two-documents.json", b"{\"name\": \"a\"} {\"name\": \"b\"}", "invalid JSON"),
        ("nul.json", b"{\"name\": \"a\0b\"}", "invalid JSON"),
    ] {
        let f = c.file(name, bytes);
        c.refuses(&["add", "team", "--file", &f], needle);
    }
    let lines = c.file("bad-line.jsonl", b"{\"name\": \"GAEM-8\"}\n{\"name\": \n{\"name\": \"GAEM-9\"}\n");
    c.refuses(&["import", "team", &lines], "line 2: invalid JSON");
    let truncated_array = c.file("truncated-array.json", b"[{\"name\": \"GAEM-8\"}, {\"name\": ");
    c.refuses(&["import", "team", &truncated_array], "not a JSON array");

    // huge values
    let long = "x".repeat(70_000);
    c.refuses(&["set", "team:GAEM-1", &format!("name={long}")], "team name: text of 70000 bytes is over the limit");
    let f = c.file("long-name.json", format!("{{\"name\": \"{long}\"}}").as_bytes());
    c.refuses(&["add", "team", "--file", &f], "over the limit");
    for n in ["99999999999999999999", "-1e300", "18446744073709551615", "1.5e16"] {
        c.refuses(&["set", e, &format!("tallies.z2.GAEM-2.dead={n}")], "is out of range");
    }
    // beyond f64: not a JSON number, so taken as text
    c.refuses(&["set", e, "tallies.z2.GAEM-2.dead=1e400"], "\"1e400\" is not of type \"integer\"");
    c.refuses(&["set", e, "tallies.z2.GAEM-2.dead=2000000000"], "greater than the maximum");
    let needs: Vec<String> =
        (0..30).map(|i| format!("{{\"item\": \"{}\", \"sector\": \"salud\"}}", "y".repeat(40_000 + i))).collect();
    let big = c.file(
        "big-record.json",
        format!("{{\"edan_type\": \"preliminar\", \"needs\": [{}]}}", needs.join(",")).as_bytes(),
    );
    c.refuses(&["add", "edan", "--file", &big], "larger than the limit of 1 MiB");
    let sparse = c.inputs.path().join("sparse.json");
    std::fs::File::create(&sparse).unwrap().set_len((1 << 30) + 1).unwrap();
    c.refuses(&["import", "team", sparse.to_str().unwrap()], "larger than the limit of 1024 MiB");
    c.refuses(&["bundle", "import", sparse.to_str().unwrap()], "larger than the limit of 1024 MiB");
    std::fs::remove_file(&sparse).unwrap();

    // deep nesting
    let deep_arrays = c.file("deep-arrays.json", format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).as_bytes());
    c.refuses(&["add", "team", "--file", &deep_arrays], "invalid JSON");
    c.refuses(&["import", "team", &deep_arrays], "not a JSON array");
    let mut deep = String::from("1");
    for _ in 0..40 {
        deep = format!("{{\"a\": {deep}}}");
    }
    c.refuses(&["set", e, &format!("zones={deep}")], "nested more than 32 levels deep");
    let f = c.file("deep-object.json", format!("{{\"name\": \"x\", \"extra\": {deep}}}").as_bytes());
    c.refuses(&["add", "team", "--file", &f], "nested more than 32 levels deep");

    // invalid UTF-8, in files and in arguments
    let latin1 = c.file("latin1.json", b"{\"name\": \"Per\xfa\"}");
    c.refuses(&["add", "team", "--file", &latin1], "is not UTF-8");
    c.refuses(&["import", "team", &latin1], "is not UTF-8");
    let bad_arg = OsStr::from_bytes(b"name=Per\xfa");
    c.refused(&[OsStr::new("set"), OsStr::new("team:GAEM-1"), bad_arg], "invalid UTF-8");
    let text = c.file("not-a-bundle.txt", "ni un paquete, ni una línea válida\n".as_bytes());
    c.refuses(&["bundle", "import", &text], "not-a-bundle.txt");
    c.refuses(&["bundle", "import", &latin1], "latin1.json");

    // unknown kinds and records
    for kind in ["disaster", "EDAN", "edan ", "", "../edan", "edan/../team"] {
        c.refuses(&["add", kind, "--set", "name=x"], "unknown kind");
        c.refuses(&["list", kind], "unknown kind");
    }
    c.refuses(&["import", "disaster", &truncated_array], "unknown kind 'disaster'");
    for (reference, needle) in [
        ("edan:../../etc/passwd", "unknown record"),
        ("../../etc/passwd", "unknown record"),
        ("team:", "unknown record"),
        ("automerge:xyz", "unknown record"),
        (":GAEM-1", "unknown kind ''"),
    ] {
        c.refuses(&["get", reference], needle);
    }
    c.refuses(&["add", "team", "--key", "../../etc/passwd", "--set", "name=x"], "not a valid key");

    // file arguments: devices, directories, missing paths, the node's home
    let home = c.node.home();
    let home = home.to_str().unwrap();
    c.refuses(&["import", "team", "/dev/zero"], "it is a device");
    c.refuses(&["bundle", "import", "/dev/urandom"], "it is a device");
    c.refuses(&["add", "team", "--file", "/dev/zero"], "it is a device");
    let dir = c.inputs.path().to_str().unwrap().to_string();
    c.refuses(&["import", "team", &dir], "it is a directory");
    c.refuses(&["bundle", "export", &dir, "--all"], "it is a directory");
    c.refuses(&["bundle", "export", &format!("{dir}/no/such/dir/x.bndl"), "--all"], "No such file or directory");
    for target in ["store/db", "node.key", "../home/network.json", "store/../fresh.bndl", "new.bndl"] {
        c.refuses(&["bundle", "export", &format!("{home}/{target}"), "--all"], "inside the node's home");
    }
    let out = c.node.cmd(&["bundle", "export", "node.key", "--all"]).current_dir(home).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a relative path into the home: {out:?}");
    c.refuses(&["import", "team", &format!("{dir}/../{}/missing.json", "x".repeat(300))], "cannot read");

    eprintln!("{} bad inputs refused", c.tried);
    assert!(c.tried >= 60, "the corpus shrank to {}", c.tried);
}
