//! A store always reopens: what a kill leaves half-written inside sled's own
//! file writes is cleared before sled looks, a store that still does not
//! open says what to do, and `ayni check --repair` brings it back without
//! losing what it holds.

mod support;

use std::path::PathBuf;

use support::Ayni;

/// sled's complete snapshot files in the store directory.
fn snapshots(a: &Ayni) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(a.home().join("store"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("snap.") && !name.ends_with(".generating")
        })
        .collect();
    out.sort();
    out
}

/// A seeded home whose store has taken a snapshot (sled writes one when an
/// open finds the log advanced).
fn seeded() -> Ayni {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    a.ok(&["list", "practice"]);
    assert!(!snapshots(&a).is_empty(), "the store took no snapshot: the test would prove nothing");
    a
}

#[test]
fn a_partial_generating_snapshot_left_by_a_kill_does_not_stop_the_store_opening() {
    let a = seeded();
    let before = a.content();
    let snap = snapshots(&a).pop().unwrap();
    let bytes = std::fs::read(&snap).unwrap();
    let partial = snap.with_file_name(format!("{}.generating", snap.file_name().unwrap().to_string_lossy()));
    std::fs::write(&partial, &bytes[..100.min(bytes.len() / 2)]).unwrap();
    // a later LSN too: it sorts after every complete snapshot
    std::fs::write(snap.with_file_name("snap.FFFFFFFFFFFFFFF0.generating"), &bytes[..10]).unwrap();
    assert!(!a.json(&["list", "practice"]).as_array().unwrap().is_empty());
    assert!(!partial.exists(), "the partial snapshot is still there");
    assert_eq!(a.json(&["check"])["problems"].as_array().unwrap().len(), 0);
    assert_eq!(a.content(), before);
}

#[test]
fn a_torn_sled_conf_is_rewritten() {
    let a = seeded();
    let before = a.content();
    let conf = a.home().join("store").join("conf");
    let bytes = std::fs::read(&conf).unwrap();
    std::fs::write(&conf, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(a.content(), before);
    assert_eq!(std::fs::read(&conf).unwrap(), bytes, "sled did not write its conf again");
}

#[test]
fn an_init_killed_before_its_end_can_be_run_again() {
    let a = Ayni::empty();
    std::fs::create_dir_all(a.home()).unwrap();
    std::fs::write(a.home().join("node.key"), b"AYNK\x01 partial").unwrap();
    a.ok(&["init", "--name", "field"]);
    a.ok(&["list", "practice"]);
    // the interrupted key is kept aside, never deleted
    assert!(std::fs::read_dir(a.home()).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("node.key.interrupted-")));
    // but a home with a node is never overwritten
    assert!(a.fails(&["init", "--name", "again"], 2).contains("already exists"));
}

#[test]
fn a_store_whose_snapshot_is_damaged_says_what_to_do_and_repair_reopens_it_from_its_log() {
    let a = seeded();
    let extra = a.add(&["person", "--key", "after-seed", "--set", "full_name=Acknowledged write"]);
    a.ok(&["list", "person"]); // another open: a snapshot that covers the write
    let before = a.content();
    let snap = snapshots(&a).pop().unwrap();
    let mut bytes = std::fs::read(&snap).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&snap, &bytes).unwrap();

    let err = a.fails(&["list", "practice"], 1);
    assert!(err.contains("cannot be opened") && err.contains("ayni check --repair"), "{err}");

    let report = a.json(&["check", "--repair"]);
    assert_eq!(report["reopened_from_log"], true, "{report}");
    assert_eq!(report["check"]["problems"].as_array().unwrap().len(), 0, "{report}");
    let folder = PathBuf::from(report["folder"].as_str().unwrap());
    assert!(folder.join("store-snapshots").join(snap.file_name().unwrap()).exists(), "damaged snapshot not kept");
    assert_eq!(a.content(), before);
    assert_eq!(a.json(&["get", &extra])["fields"]["full_name"], "Acknowledged write");
    assert_eq!(a.json(&["check"])["problems"].as_array().unwrap().len(), 0);
}

#[test]
fn repair_salvages_a_damaged_document_and_rebuilds_what_derives_from_documents() {
    let a = seeded();
    let edan = a.json(&["get", "edan:edan-sama-1"])["id"].as_str().unwrap().to_string();
    let person = a.add(&["person", "--key", "p1", "--set", "full_name=Uno"]);
    a.ok(&["set", &person, "full_name=Dos"]);
    a.ok(&["set", &person, "full_name=Tres"]);
    let practices = a.json(&["list", "practice"]);
    {
        let (_, store) = ayni_node::store::Store::open(&a.home().join("store")).unwrap();
        // the EDAN's snapshot damaged beyond reading
        let id: ayni_node::DocumentId = edan.parse().unwrap();
        let mut bytes = store.raw_snapshot(&id).unwrap().unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        store.overwrite_raw_snapshot(&id, &bytes).unwrap();
    }
    let damaged = a.run(&["--json", "check"]);
    assert_eq!(damaged.status.code(), Some(1));
    let damaged: serde_json::Value = serde_json::from_slice(&damaged.stdout).unwrap();
    assert_eq!(damaged["problems"].as_array().unwrap().len(), 1, "{damaged}");

    let report = a.json(&["check", "--repair"]);
    assert_eq!(report["check"]["problems"].as_array().unwrap().len(), 0, "{report}");
    let set_aside = report["salvaged"].as_array().unwrap().len() + report["removed"].as_array().unwrap().len();
    assert_eq!(set_aside, 1, "{report}");
    let folder = PathBuf::from(report["folder"].as_str().unwrap());
    assert!(std::fs::read_dir(&folder).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with(&edan)));
    // everything else is as it was
    assert_eq!(a.json(&["list", "practice"]), practices);
    assert_eq!(a.json(&["get", &person])["fields"]["full_name"], "Tres");
    assert_eq!(a.json(&["check"])["problems"].as_array().unwrap().len(), 0);
    // a repair of a healthy store changes nothing
    let again = a.json(&["check", "--repair"]);
    assert_eq!(again["rebuilt"].as_array().unwrap().len(), 0, "{again}");
    assert!(again["folder"].is_null(), "{again}");
}

#[test]
fn the_removed_document_comes_back_from_a_peer() {
    let (hq, field) = support::network(1);
    let f = &field[0];
    hq.ok(&["seed"]);
    let served = hq.serve();
    f.ok(&["sync", &served.addr]);
    let edan = f.json(&["get", "edan:edan-sama-1"]);
    {
        let (_, store) = ayni_node::store::Store::open(&f.home().join("store")).unwrap();
        let id: ayni_node::DocumentId = edan["id"].as_str().unwrap().parse().unwrap();
        store.overwrite_raw_snapshot(&id, b"not automerge at all").unwrap();
    }
    let report = f.json(&["check", "--repair"]);
    assert_eq!(report["removed"].as_array().unwrap().len(), 1, "{report}");
    f.ok(&["sync", &served.addr]);
    assert_eq!(f.json(&["get", "edan:edan-sama-1"]), edan);
    assert_eq!(f.json(&["check"])["problems"].as_array().unwrap().len(), 0);
}
