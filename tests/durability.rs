//! Writes reported as done survive `kill -9`, and one damaged document
//! never stops the rest of the store from opening.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use support::Ayni;

#[test]
fn a_record_survives_kill_9_right_after_add_reports_it() {
    let a = Ayni::new("field");
    let mut ids = vec![];
    for i in 0..15 {
        let mut child = a
            .cmd(&["add", "team", "--key", &format!("T-{i}"), "--set", &format!("name=Equipo {i}")])
            .env("AYNI_TEST_HOLD_MS", "10000")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        // the ID is printed and the process holds its store open: kill it
        child.kill().unwrap();
        child.wait().unwrap();
        ids.push(line.trim().to_string());
    }
    for (i, id) in ids.iter().enumerate() {
        assert!(!id.is_empty(), "add {i} printed no ID");
        let rec = a.json(&["get", id]);
        assert_eq!(rec["fields"]["name"], format!("Equipo {i}"));
    }
    assert_eq!(a.json(&["check"])["problems"].as_array().unwrap().len(), 0);
}

#[test]
fn a_damaged_document_is_named_by_check_and_the_rest_opens() {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    let edan = a.json(&["get", "edan:edan-sama-1"])["id"].as_str().unwrap().to_string();
    {
        let (_, store) = ayni_node::store::Store::open(&a.home().join("store")).unwrap();
        let id: ayni_node::DocumentId = edan.parse().unwrap();
        let mut bytes = store.raw_snapshot(&id).unwrap().unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff; // one bad block
        store.overwrite_raw_snapshot(&id, &bytes).unwrap();
    }
    // check names the damaged record and fails
    let out = a.run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&edan) && stdout.contains("edan:edan-sama-1"), "{stdout}");
    assert!(stdout.contains("1 damaged"), "{stdout}");
    let report = {
        let out = a.run(&["--json", "check"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(report["documents"], 113);
    assert_eq!(report["ok"], 112);
    assert_eq!(report["problems"][0]["id"], edan.as_str());
    // the rest of the store opens and works
    assert_eq!(a.json(&["list", "mission"]).as_array().unwrap().len(), 23);
    a.ok(&["set", "mission:ac-sama-after", "participants_count=12"]);
    // the damaged record itself gives a clear runtime error naming it
    let err = a.fails(&["get", "edan:edan-sama-1"], 1);
    assert!(err.contains(&format!("document {edan} is damaged")), "{err}");
}

#[test]
fn compact_keeps_every_record_and_shrinks_the_change_log() {
    let a = Ayni::new("hq");
    let id = a.add(&["team", "--key", "GAEM-9", "--set", "name=GAEM-9"]);
    for i in 0..100 {
        a.ok(&["set", &id, &format!("node_ids=[\"n{i}\"]")]);
    }
    let before = a.json(&["get", &id]);
    let report = a.json(&["compact"]);
    assert_eq!(report["documents"], 1);
    assert_eq!(a.json(&["get", &id]), before);
    assert_eq!(a.json(&["history", &id]).as_array().unwrap().len(), 101);
    assert_eq!(a.json(&["check"])["ok"], 1);
}
