//! A store always reopens: redb recovers from an interrupted commit at
//! every open, a store that still does not open says what to do, and
//! `ayni check --repair` brings back what it can without losing what it
//! holds (a store still in sled's files, an earlier build's, is moved into
//! redb at its first open: `store/src/from_sled.rs` tests that, and a
//! damaged one's repair from sled's log).

mod support;

use std::path::PathBuf;

use support::Ayni;

/// A seeded home.
fn seeded() -> Ayni {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    a
}

#[test]
fn a_store_file_that_fails_its_checks_says_what_to_do_and_is_left_as_it_is() {
    let a = seeded();
    let file = a.home().join("store").join("store.redb");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] ^= 0x55; // redb's magic number
    std::fs::write(&file, &bytes).unwrap();

    let err = a.fails(&["list", "practice"], 1);
    assert!(err.contains("cannot be opened") && err.contains("ayni check --repair"), "{err}");
    let err = a.fails(&["check", "--repair"], 1);
    assert!(err.contains("cannot be repaired") && err.contains("Restore the node from a peer"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), bytes, "repair changed the damaged file");
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

#[test]
fn a_snapshot_stored_with_change_hashes_not_its_own_is_named_by_check_and_repaired() {
    let (hq, field) = support::network(1);
    let f = &field[0];
    hq.ok(&["seed"]);
    // a snapshot with its hashes: compacted (the seed edits its EDANs)
    hq.ok(&["compact"]);
    let edan = hq.json(&["get", "edan:edan-sama-1"]);
    {
        let (_, store) = ayni_node::store::Store::open(&hq.home().join("store")).unwrap();
        let id: ayni_node::DocumentId = edan["id"].as_str().unwrap().parse().unwrap();
        assert!(store.whole(&id).unwrap().is_some(), "a compacted snapshot carries its hashes");
        let bytes = store.raw_snapshot(&id).unwrap().unwrap();
        // format 2 naming one change that is not the record's
        let mut value = vec![2];
        value.extend_from_slice(&1u32.to_be_bytes());
        value.extend_from_slice(&[9; 32]);
        value.extend_from_slice(&bytes);
        store.overwrite_raw(&[&b"d:"[..], id.as_bytes()].concat(), &value).unwrap();
    }
    // exit 1: a problem found
    let out = hq.run(&["--json", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let problems = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["problems"].clone();
    assert_eq!(problems.as_array().unwrap().len(), 1, "{problems}");
    assert!(problems[0]["reason"].as_str().unwrap().contains("change hash"), "{problems}");
    hq.ok(&["check", "--repair"]);
    assert_eq!(hq.json(&["check"])["problems"].as_array().unwrap().len(), 0);
    // sent right again
    let served = hq.serve();
    f.ok(&["sync", &served.addr]);
    assert_eq!(f.json(&["get", "edan:edan-sama-1"])["fields"], edan["fields"]);
}
