//! Every kind of bad input: exit 2, a message naming the record, the field
//! and the reason, and the store unchanged in content.

mod support;

use support::Ayni;

fn seeded() -> Ayni {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    a
}

/// Runs `args`, expects exit 2 with every `needles` in stderr, and the
/// store's content unchanged.
fn check(a: &Ayni, args: &[&str], needles: &[&str]) {
    let before = a.content();
    let err = a.fails(args, 2);
    for n in needles {
        assert!(err.contains(n), "ayni {args:?}: stderr lacks {n:?}:\n{err}");
    }
    assert_eq!(a.content(), before, "ayni {args:?} changed the store");
}

#[test]
fn schema_violations_are_refused_and_write_nothing() {
    let a = seeded();
    let e = "edan:edan-sama-1";
    // wrong type
    check(
        &a,
        &["set", e, "tallies.z1.GAEM-1.injured=\"two\""],
        &["edan tallies.z1.GAEM-1.injured:", "not of type \"integer\""],
    );
    // negative count
    check(
        &a,
        &["set", e, "tallies.z2.GAEM-2.dead=-1"],
        &["edan tallies.z2.GAEM-2.dead: -1 is less than the minimum of 0"],
    );
    // a team with no record (a typo for GAEM-2)
    check(
        &a,
        &["set", e, "tallies.z2.gaem-2.dead=1"],
        &["edan tallies.z2.gaem-2: no team with key 'gaem-2'", "GAEM-2"],
    );
    // unknown enum value
    check(&a, &["set", e, "edan_type=rapida"], &["edan edan_type:", "rapida"]);
    // malformed date
    check(&a, &["set", "agreement:ag-lpz-trinidad", "valid_until=2019-02-30"], &["agreement valid_until:", "date"]);
    check(
        &a,
        &["add", "mission", "--set", "type=training", "--set", "title=x", "--set", "planned_start=next week"],
        &["mission planned_start:", "date"],
    );
    // missing required field
    check(&a, &["add", "edan", "--set", "edan_type=preliminar"], &["edan event_id: is required"]);
    check(&a, &["unset", "team:GAEM-1", "name"], &["team name: is required"]);
    // unknown field
    check(&a, &["set", "team:GAEM-1", "colour=red"], &["team", "colour"]);
    // reference to a record that does not exist
    check(
        &a,
        &["add", "edan", "--set", "event_id=ev-nope", "--set", "edan_type=preliminar"],
        &["edan event_id: no event with key 'ev-nope'"],
    );
    // wrong kind of reference
    check(&a, &["set", e, "event_id=team:GAEM-1"], &["edan event_id: must reference a event, not a team"]);
    // unknown kind
    check(&a, &["add", "disaster", "--set", "name=x"], &["unknown kind 'disaster'"]);
    check(&a, &["list", "disaster"], &["unknown kind 'disaster'"]);
    // unknown record
    check(&a, &["get", "edan:nope"], &["unknown record 'edan:nope'"]);
    check(&a, &["set", "4QfzuUNPvCtwcWzJsZJ2KEMrPE98", "title=x"], &["unknown record"]);
    // duplicate key
    check(&a, &["add", "team", "--key", "GAEM-1", "--set", "name=GAEM-1"], &["team key:", "already exists"]);
    // bad key, bad path, bad assignment
    check(&a, &["add", "team", "--key", "no spaces", "--set", "name=x"], &["not a valid key"]);
    check(&a, &["set", "team:GAEM-1", "a..b=1"], &["is not a field path"]);
    check(&a, &["set", "team:GAEM-1", "name"], &["is not PATH=VALUE"]);
    check(&a, &["unset", "team:GAEM-1", "nothing.here"], &["team nothing.here: no such field"]);
    // status is only changed by transitions
    check(
        &a,
        &["add", "mission", "--set", "type=training", "--set", "title=x", "--set", "status=closed"],
        &["mission status:", "ayni transition"],
    );
    // resolving what is not in conflict
    check(&a, &["resolve", "team:GAEM-1", "name", "x"], &["team name: has no conflict to resolve"]);
}

#[test]
fn bad_files_are_refused_and_write_nothing() {
    let a = seeded();
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    };
    let not_utf8 = p("latin1.json", b"{\"name\": \"Per\xfa\"}");
    check(&a, &["add", "team", "--file", &not_utf8], &["latin1.json is not UTF-8"]);
    check(&a, &["import", "team", &not_utf8], &["latin1.json is not UTF-8"]);
    let malformed = p("bad.json", b"{\"name\": ");
    check(&a, &["add", "team", "--file", &malformed], &["bad.json: invalid JSON"]);
    let not_object = p("list.json", b"[1, 2]");
    check(&a, &["add", "team", "--file", &not_object], &["one JSON object"]);
    check(&a, &["import", "team", &not_object], &["item 1: team (record): a record is a JSON object"]);
    check(&a, &["import", "team", "/nonexistent/teams.json"], &["cannot read /nonexistent/teams.json"]);
    let deep = p("deep.json", format!("{}{}", "[".repeat(5000), "]".repeat(5000)).as_bytes());
    check(&a, &["import", "team", &deep], &["not a JSON array"]);
    let huge = p("huge.json", format!("{{\"name\": \"{}\"}}", "x".repeat(2_000)).as_bytes());
    check(&a, &["add", "team", "--file", &huge], &["team name:", "longer than 500 characters"]);
}

#[test]
fn init_refuses_to_overwrite_a_node() {
    let a = Ayni::new("hq");
    let id = a.json(&["id"])["node_id"].clone();
    let err = a.fails(&["init", "--name", "other"], 2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(a.json(&["id"])["node_id"], id);
    let err = Ayni::empty().fails(&["init", "--name", " "], 2);
    assert!(err.contains("name"), "{err}");
}
