//! README.md as a newcomer follows it: every command of its ```sh blocks,
//! in order, run by bash on fresh homes; each must exit 0 (the README
//! announces no failing command in them). The harness does what a reader
//! does by hand, and only that:
//! - `# on HQ`, `# on the laptop`, `# on hq-2` move to another machine (its
//!   own home); the first home is the `~/ayni` of `export AYNI_HOME`;
//! - what a reader fills in is filled in: FIELD-NODE-ID, HQ-NODE-ID,
//!   HQ2-NODE-ID (what `ayni id` prints there), `ayni1-…` (the token the
//!   last `ayni enroll` printed), `192.168.1.10:7420` and `hq-1.local:7420`
//!   (where HQ listens), `127.0.0.1:7421` (where this machine's node serves
//!   HTTP), the blob hash prefix, `/media/usb`, the PostgreSQL URL (a
//!   throwaway server; PGHOST, PGPORT and PGUSER set for createdb and psql);
//! - `ayni serve` runs in the background on ports of its own on 127.0.0.1
//!   (`--listen 127.0.0.1:0 --no-mdns`, `--http 127.0.0.1:0`): a test may
//!   not take the default ports, nor wait for a server to end;
//! - `curl` runs with `--fail-with-body`: an HTTP error fails the line;
//! - a command that follows until Ctrl-C (`ayni watch`, `ayni mirror`
//!   without `--once`, `curl -N`) runs a few seconds and is stopped; it
//!   passes if it was still running, or had exited 0;
//! - `cargo …` and `scripts/…` lines are the build and this suite, which CI
//!   runs; `cargo run … -- demo` runs as `ayni demo`, which must say no
//!   WARN;
//! - the files the commands read are made first: a photo, a JSON Lines
//!   file, an ODK Central export, a KoboToolbox export with its photos.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::forms::{jpeg, kobo_xlsx_of, odk_zip_of};
use support::postgres::Postgres;
use support::{ayni_bin, Ayni, Served};

/// The logical lines of every ```sh block (a trailing `\` joins the next).
fn commands(readme: &str) -> Vec<String> {
    let mut out = vec![];
    let mut inside = false;
    let mut pending = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            inside = line.trim() == "```sh";
            continue;
        }
        if !inside {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => pending.push_str(part),
            None => {
                pending.push_str(line);
                out.push(std::mem::take(&mut pending).trim().to_string());
            }
        }
    }
    out.into_iter().filter(|l| !l.is_empty()).collect()
}

/// A command's words without its trailing comment (`  # …`).
fn without_comment(line: &str) -> &str {
    match line.find("   #").or_else(|| line.find("  #")) {
        Some(i) if !line[..i].contains('\'') || line[..i].matches('\'').count() % 2 == 0 => line[..i].trim_end(),
        _ => line,
    }
}

struct Reader {
    work: tempfile::TempDir,
    homes: BTreeMap<&'static str, Ayni>,
    here: &'static str,
    served: BTreeMap<&'static str, Served>,
    env: BTreeMap<String, String>,
    token: Option<String>,
    pg: Option<Postgres>,
    background: Vec<std::process::Child>,
}

impl Reader {
    fn home(&mut self, name: &'static str) -> PathBuf {
        self.homes.entry(name).or_insert_with(Ayni::empty).home()
    }

    fn node_id(&mut self, name: &'static str) -> String {
        let out = Command::new(ayni_bin()).arg("--home").arg(self.home(name)).args(["--json", "id"]).output().unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("no node on {name} yet"));
        v["node_id"].as_str().unwrap().to_string()
    }

    fn served(&self, name: &str) -> &Served {
        self.served.get(name).unwrap_or_else(|| panic!("nothing serves on {name} yet"))
    }

    /// The line as the reader types it here: placeholders filled in.
    fn filled(&mut self, line: &str) -> String {
        let mut line = line.to_string();
        let hq_home = self.home("hq").display().to_string();
        line = line.replace("~/ayni", &hq_home);
        for (placeholder, home) in [("FIELD-NODE-ID", "laptop"), ("HQ2-NODE-ID", "hq2"), ("HQ-NODE-ID", "hq")] {
            if line.contains(placeholder) {
                let id = self.node_id(home);
                line = line.replace(placeholder, &id);
            }
        }
        if line.contains("ayni1-…") {
            line = line.replace("ayni1-…", self.token.as_deref().expect("a token from `ayni enroll`"));
        }
        for hq in ["192.168.1.10:7420", "hq-1.local:7420"] {
            if line.contains(hq) {
                line = line.replace(hq, &self.served("hq").addr.clone());
            }
        }
        if line.contains("127.0.0.1:7421") {
            let http = self.served(self.here).http.clone().expect("serving HTTP");
            line = line.replace("127.0.0.1:7421", &http);
        }
        if line.contains("blob get 5372c6eb") {
            let home = self.home(self.here);
            let out =
                Command::new(ayni_bin()).arg("--home").arg(home).args(["--json", "blob", "list"]).output().unwrap();
            let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let hash = list[0]["hash"].as_str().expect("a blob").to_string();
            line = line.replace("5372c6eb", &hash[..8]);
        }
        let usb = self.work.path().join("usb");
        std::fs::create_dir_all(&usb).unwrap();
        line = line.replace("/media/usb", &usb.display().to_string());
        if line.contains("createdb") || line.contains("psql") || line.contains("postgres://") {
            let pg = self.pg.get_or_insert_with(Postgres::start);
            let port = pg.port.to_string();
            let url = pg.url("ayni_hq");
            self.env.extend([
                ("PGHOST".into(), "127.0.0.1".into()),
                ("PGPORT".into(), port),
                ("PGUSER".into(), "postgres".into()),
            ]);
            line = line.replace("postgres://hq@localhost/ayni_hq", &url);
        }
        line
    }

    fn bash(&mut self, line: &str) -> Command {
        let mut c = Command::new("bash");
        let bin_dir = ayni_bin().parent().unwrap().to_path_buf();
        let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
        c.args(["-c", line]).current_dir(self.work.path()).env("PATH", path).env("AYNI_HOME", self.home(self.here));
        c.envs(&self.env).stdin(Stdio::null());
        c
    }

    /// Runs one README line, failing with what it printed if it fails.
    fn run(&mut self, raw: &str) {
        if let Some(comment) = raw.strip_prefix('#') {
            let c = comment.trim();
            if let Some(on) = c.strip_prefix("on ") {
                self.here = if on.contains("laptop") {
                    "laptop"
                } else if on.contains("hq-2") {
                    "hq2"
                } else if on.contains("HQ") {
                    "hq"
                } else {
                    panic!("README: which machine is '{c}'?")
                };
            }
            return;
        }
        let line = without_comment(raw);
        let words: Vec<&str> = line.split_whitespace().skip_while(|w| w.contains('=') && !w.starts_with('-')).collect();
        if line.starts_with("cargo run") && line.ends_with("-- demo") {
            let out = self.bash("ayni demo").output().unwrap();
            let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "the demo failed:\n{all}");
            assert!(!all.contains("WARN"), "the demo warns:\n{all}");
            return;
        }
        if matches!(words.first(), Some(w) if *w == "cargo" || w.starts_with("scripts/")) {
            return; // the build and this suite: CI runs them
        }
        let line = self.filled(line);
        if let Some(assignment) = line.strip_prefix("export ") {
            let (name, _) = assignment.split_once('=').expect("export NAME=VALUE");
            let out = self.bash(&format!("{assignment}; printf %s \"${name}\"")).output().unwrap();
            assert!(out.status.success(), "README: `{raw}` failed: {}", String::from_utf8_lossy(&out.stderr));
            let value = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(!value.is_empty(), "README: `{raw}` gave {name} no value");
            if name != "AYNI_HOME" {
                self.env.insert(name.to_string(), value);
            }
            return;
        }
        if words.first() == Some(&"ayni") && words.get(1) == Some(&"serve") {
            // stopped first, as a reader would
            self.served.remove(self.here);
            let extra: Vec<&str> = if line.contains("--http") { vec!["--http", "127.0.0.1:0"] } else { vec![] };
            let here = self.here;
            self.home(here);
            let s = self.homes[here].serve_with(&extra);
            self.served.insert(here, s);
            return;
        }
        let follows = (words.first() == Some(&"ayni")
            && (words.get(1) == Some(&"watch") || (words.get(1) == Some(&"mirror") && !line.contains("--once"))))
            || (words.first() == Some(&"curl") && words.contains(&"-N"));
        if follows {
            let mut child = self.bash(&line).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
            let until = Instant::now() + Duration::from_secs(4);
            while Instant::now() < until {
                if let Some(status) = child.try_wait().unwrap() {
                    let out = child.wait_with_output().unwrap();
                    assert!(
                        status.success(),
                        "README: `{raw}` exited with {status}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            self.background.push(child);
            return;
        }
        // an HTTP error fails the line, as a reader would see it
        let line =
            if words.first() == Some(&"curl") { line.replacen("curl ", "curl -sS --fail-with-body ", 1) } else { line };
        let out = self.bash(&line).output().unwrap();
        assert!(
            out.status.success(),
            "README: `{raw}` (run as `{line}` on {}) failed with {:?}\nstdout: {}\nstderr: {}",
            self.here,
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if words.get(1) == Some(&"enroll") {
            self.token = Some(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        for c in &mut self.background {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.served.clear();
    }
}

/// The files the README's commands read, in the directory they run in.
fn files(dir: &Path) {
    std::fs::write(dir.join("casa-z1.jpg"), jpeg(1)).unwrap();
    let line = serde_json::json!({
        "key": "edan-tomatas-1", "title": "EDAN preliminar — Tomatas", "event_id": "ev-sama",
        "edan_type": "preliminar", "zones": {"z5": {"name": "Tomatas Grande"}},
        "tallies": {"z5": {"GAEM-1": {"families_affected": 4, "dead": 0}}},
    });
    std::fs::write(dir.join("assessments.jsonl"), format!("{line}\n")).unwrap();
    std::fs::write(dir.join("ayni_edan.zip"), odk_zip_of("GAEM-1", "12", false)).unwrap();
    std::fs::write(dir.join("kobo-edan.xlsx"), kobo_xlsx_of("GAEM-2", false)).unwrap();
    std::fs::create_dir_all(dir.join("fotos")).unwrap();
    std::fs::write(dir.join("fotos").join("pampa.jpg"), jpeg(3)).unwrap();
    std::fs::write(
        dir.join("kobo-edan.csv"),
        "start;event;team;edan_type;zone/zone_id;tally/families_affected;_uuid;_index\n\
         2026-11-22T08:00:00.000-04:00;ev-sama;GAEM-2;preliminar;z20;9;77777777-2222-4000-8000-000000000003;1\n",
    )
    .unwrap();
}

#[test]
fn every_command_in_the_readme_works_as_written() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let lines = commands(&readme);
    assert!(lines.len() > 60, "the README's commands were not found: {lines:?}");
    let work = tempfile::tempdir().unwrap();
    files(work.path());
    let mut reader = Reader {
        work,
        homes: BTreeMap::new(),
        here: "hq",
        served: BTreeMap::new(),
        env: BTreeMap::new(),
        token: None,
        pg: None,
        background: vec![],
    };
    for line in &lines {
        reader.run(line);
    }
    // what the README says happened, happened
    let hq = reader.home("hq");
    let get = |home: &Path, args: &[&str]| -> serde_json::Value {
        let out = Command::new(ayni_bin()).arg("--home").arg(home).arg("--json").args(args).output().unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{args:?}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    assert_eq!(get(&hq, &["get", "edan:edan-sama-1"])["fields"]["accepted"]["z2"]["team"], "GAEM-2");
    assert_eq!(get(&hq, &["get", "person:ana"])["fields"]["full_name"], "Ana Mamani", "the API's POST");
    let laptop = reader.home("laptop");
    assert_eq!(
        get(&hq, &["get", "edan:edan-sama-1"])["fields"]["tallies"]["z1"]["GAEM-1"]["injured"],
        3,
        "the laptop's count reached HQ"
    );
    assert!(get(&laptop, &["get", "edan:edan-tomatas-1"])["id"].is_string(), "the laptop holds HQ's records");
}
