//! Records through the real binary: create, read, update, list, delete for
//! every kind; the seed; transitions; history; import and export.

mod support;

use serde_json::{json, Value};
use support::Ayni;

/// A minimal valid record of every kind (references by key, as people type them).
fn minimal(kind: &str) -> Vec<String> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match kind {
        "org_unit" => s(&["--set", "name_es=Unidad de prueba", "--set", "kind=unidad"]),
        "entity" => s(&["--set", "short_name=Coroico", "--set", "kind=gam", "--set", "department=la_paz"]),
        "practice" => s(&["--set", "code=BP-TEST", "--set", "kind=bpm", "--set", "title_es=Práctica de prueba"]),
        "catalogue_edition" => s(&["--set", "year=2019", "--set", "title=Segundo catálogo"]),
        "funding_project" => s(&["--set", "title=Proyecto", "--set", "funder_entity_id=e-aecid"]),
        "request" => s(&[
            "--set",
            "requesting_entity_id=e-trinidad",
            "--set",
            "approach=demand",
            "--set",
            r#"requested_types=["training"]"#,
        ]),
        "agreement" => s(&["--set", "kind=carta_intenciones", "--set", r#"party_entity_ids=["e-lpz","e-cobija"]"#]),
        "mission" => s(&["--set", "type=training", "--set", "title=Curso en Cobija"]),
        "course" => s(&["--set", "programme=ad_hoc_workshop", "--set", "title=Taller", "--set", "level=workshop"]),
        "person" => s(&["--set", "full_name=Ana Quispe", "--set", "sex=f"]),
        "event" => s(&[
            "--set",
            "name=Riada",
            "--set",
            "hazard_type=riada_mazamorra",
            "--set",
            r#"scope=[{"department":"la_paz"}]"#,
        ]),
        "edan" => s(&["--set", "event_id=ev-sama", "--set", "edan_type=preliminar"]),
        "team" => s(&["--set", "name=GAEM-3"]),
        other => panic!("no minimal record for {other}"),
    }
}

/// A field to update per kind, and its new value.
fn update(kind: &str) -> (&'static str, Value) {
    match kind {
        "org_unit" => ("acronym", json!("TST")),
        "practice" => ("title_en", json!("Test practice")),
        "entity" => ("province", json!("Nor Yungas")),
        "catalogue_edition" => ("candidates_identified", json!(40)),
        "funding_project" => ("programme", json!("PCI")),
        "request" => ("summary", json!("capacitación")),
        "agreement" => ("title", json!("Carta La Paz – Cobija")),
        "mission" => ("participants_count", json!(25)),
        "course" => ("cohort", json!("2019-A")),
        "person" => ("position", json!("técnica")),
        "event" => ("impact_text", json!("viviendas afectadas")),
        "edan" => ("tallies.z1.GAEM-1.families_affected", json!(12)),
        "team" => ("node_ids", json!(["n1"])),
        other => panic!("{other}"),
    }
}

#[test]
fn create_read_update_list_delete_every_kind() {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    for &kind in ayni_node::schema::KINDS {
        let before = a.json(&["list", kind]).as_array().unwrap().len();
        let key = format!("t-{}", kind.replace('_', "-"));
        let mut args = vec![kind.to_string(), "--key".into(), key.clone()];
        args.extend(minimal(kind));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let id = a.add(&args);
        let by_key = format!("{kind}:{key}");
        // read by ID and by KIND:KEY
        let rec = a.json(&["get", &id]);
        assert_eq!(rec["kind"], kind);
        assert_eq!(rec["key"], key.as_str());
        assert_eq!(a.json(&["get", &by_key])["id"], id.as_str());
        // update
        let (path, value) = update(kind);
        let assignment = format!("{path}={value}");
        let rec = a.json(&["set", &by_key, &assignment]);
        let pointer = format!("/fields/{}", path.replace('.', "/"));
        assert_eq!(rec.pointer(&pointer), Some(&value), "{kind}: {rec}");
        assert_eq!(a.json(&["get", &id]).pointer(&pointer), Some(&value));
        // list
        let listed = a.json(&["list", kind]);
        assert_eq!(listed.as_array().unwrap().len(), before + 1, "{kind}");
        // delete: gone from lists, still readable as deleted, not editable
        let rec = a.json(&["delete", &by_key]);
        assert_eq!(rec["deleted"], true);
        assert_eq!(a.json(&["list", kind]).as_array().unwrap().len(), before, "{kind}");
        assert_eq!(a.json(&["get", &id])["deleted"], true);
        let err = a.fails(&["set", &id, &assignment], 2);
        assert!(err.contains("deleted"), "{err}");
    }
}

#[test]
fn seed_is_idempotent() {
    let a = Ayni::new("hq");
    let first = a.json(&["seed"]);
    assert_eq!(first["created"], 113);
    let counts = |a: &Ayni| -> Vec<usize> {
        [
            "org_unit",
            "entity",
            "practice",
            "catalogue_edition",
            "funding_project",
            "request",
            "agreement",
            "mission",
            "course",
            "event",
            "edan",
            "team",
        ]
        .iter()
        .map(|k| a.json(&["list", k]).as_array().unwrap().len())
        .collect()
    };
    let before = counts(&a);
    assert_eq!(before, vec![14, 26, 29, 1, 3, 4, 2, 23, 7, 1, 1, 2]);
    let second = a.json(&["seed"]);
    assert_eq!(second["created"], 0);
    assert_eq!(second["existing"], 113);
    assert_eq!(counts(&a), before);
    // the 2013 catalogue holds its 12 practices, the seed's statuses hold
    let cat = a.json(&["get", "catalogue_edition:cat-2013"]);
    assert_eq!(cat["fields"]["practice_ids"].as_array().unwrap().len(), 12);
    assert_eq!(cat["status"], "published");
    assert_eq!(a.json(&["get", "request:rq-tarija-fire"])["status"], "closed");
    assert_eq!(a.json(&["list", "practice", "--where", "status=offered"]).as_array().unwrap().len(), 5);
}

#[test]
fn the_demo_edan_shows_the_double_count_instead_of_summing_it() {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    let report = a.json(&["report", "edan:edan-sama-1"]);
    assert_eq!(report["pending_zones"], json!(["z2"]));
    let z2 = &report["zones"][1];
    assert_eq!(z2["decision"], "needs_decision");
    assert_eq!(z2["observations"]["GAEM-1"]["families_affected"], 19);
    assert_eq!(z2["observations"]["GAEM-2"]["families_affected"], 21);
    // z2 is not 40, and not in the totals until HQ decides
    assert_eq!(report["totals"]["families_affected"], 34.0);
    a.ok(&["set", "edan:edan-sama-1", "accepted.z2.team=GAEM-2", "accepted.z2.reason=door to door"]);
    let report = a.json(&["report", "edan:edan-sama-1"]);
    assert_eq!(report["pending_zones"], json!([]));
    assert_eq!(report["totals"]["families_affected"], 55.0);
    assert!(a.ok(&["report", "edan:edan-sama-1"]).contains("accepted from GAEM-2"));
}

#[test]
fn transitions_follow_the_lifecycle_and_are_logged() {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    let m = "mission:ac-pasantia-2017";
    assert_eq!(a.json(&["get", m])["status"], "planned");
    let err = a.fails(&["transition", m, "completed"], 2);
    assert!(err.contains("cannot go from 'planned' to 'completed'") && err.contains("authorised"), "{err}");
    let err = a.fails(&["transition", m, "flying"], 2);
    assert!(err.contains("unknown state"), "{err}");
    a.ok(&["transition", m, "authorised", "--note", "viáticos aprobados"]);
    a.ok(&["transition", m, "in_progress"]);
    a.ok(&["transition", m, "completed"]);
    // results_recorded requires results
    let err = a.fails(&["transition", m, "results_recorded"], 2);
    assert!(err.contains("results must be set first"), "{err}");
    a.ok(&["set", m, r#"results.+={"kind":"staff_trained","description":"12 técnicos"}"#]);
    assert_eq!(a.json(&["transition", m, "results_recorded"])["status"], "results_recorded");
    // status is never set directly
    let err = a.fails(&["set", m, "status=closed"], 2);
    assert!(err.contains("ayni transition"), "{err}");
    // the emergency fast path is only for emergencies
    let rq = a.add(&[
        "request",
        "--set",
        "requesting_entity_id=e-cobija",
        "--set",
        "approach=demand",
        "--set",
        r#"requested_types=["technical_assistance"]"#,
    ]);
    let err = a.fails(&["transition", &rq, "in_execution"], 2);
    assert!(err.contains("only when emergency is true"), "{err}");
    a.ok(&["set", &rq, "emergency=true"]);
    a.ok(&["transition", &rq, "in_execution"]);
    // history names every change, its node and what it was
    let history = a.json(&["history", m]);
    let node = a.json(&["id"])["node_id"].clone();
    let messages: Vec<&str> = history.as_array().unwrap().iter().map(|h| h["message"].as_str().unwrap()).collect();
    assert!(
        messages.contains(&"transition to authorised: viáticos aprobados"),
        "the note is in the history: {messages:?}"
    );
    assert!(messages.iter().any(|m| m.starts_with("set results.")), "{messages:?}");
    assert!(history.as_array().unwrap().iter().all(|h| h["node"] == node));
}

#[test]
fn list_filters_by_field_status_and_list_membership() {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    let beni = a.json(&["list", "entity", "--where", "department=beni"]);
    let keys: Vec<&str> = beni.as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["e-rurre", "e-trinidad"]);
    let gird = a.json(&["get", "practice:BP-GIRD"])["id"].as_str().unwrap().to_string();
    let with = format!("practice_ids={gird}");
    let n = a.json(&["list", "mission", "--where", &with, "--where", "authorisation_basis=mayor_instruction"]);
    assert_eq!(n.as_array().unwrap().len(), 6);
    assert!(a.ok(&["list", "mission", "--where", "status=closed"]).contains("4 record(s)"));
}

#[test]
fn import_is_all_or_nothing_and_export_round_trips() {
    let a = Ayni::new("field");
    a.ok(&["seed"]);
    let dir = tempfile::tempdir().unwrap();
    let good: String = (0..50)
        .map(|i| format!("{{\"key\":\"edan-{i}\",\"event_id\":\"event:ev-sama\",\"edan_type\":\"preliminar\",\"tallies\":{{\"z{i}\":{{\"GAEM-1\":{{\"dead\":{i}}}}}}}}}\n"))
        .collect();
    let mut lines: Vec<String> = good.lines().map(String::from).collect();
    lines[7] = lines[7].replace("\"dead\":7}", "\"dead\":-7}");
    lines[20] = lines[20].replace("preliminar", "nope");
    lines.push("{not json".into());
    let bad = lines.join("\n");
    let bad_path = dir.path().join("bad.jsonl");
    std::fs::write(&bad_path, &bad).unwrap();
    let before = a.content();
    let err = a.fails(&["import", "edan", bad_path.to_str().unwrap()], 2);
    assert!(err.contains("line 8:") && err.contains("tallies.z7.GAEM-1.dead"), "{err}");
    assert!(err.contains("line 21:") && err.contains("edan_type"), "{err}");
    assert!(err.contains("line 51:") && err.contains("invalid JSON"), "{err}");
    assert!(err.contains("nothing written"), "{err}");
    assert_eq!(a.content(), before);

    let good_path = dir.path().join("good.jsonl");
    std::fs::write(&good_path, &good).unwrap();
    assert_eq!(a.json(&["import", "edan", good_path.to_str().unwrap()])["created"], 50);
    // importing the same keys again is refused whole
    let err = a.fails(&["import", "edan", good_path.to_str().unwrap()], 2);
    assert!(err.contains("already exists"), "{err}");
    // a JSON array works too, and export in every format
    let arr = dir.path().join("teams.json");
    std::fs::write(&arr, r#"[{"key":"GAEM-7","name":"GAEM-7"},{"key":"GAEM-8","name":"GAEM-8"}]"#).unwrap();
    a.ok(&["import", "team", arr.to_str().unwrap()]);
    let exported = a.json(&["export", "team"]);
    assert_eq!(exported.as_array().unwrap().len(), 4);
    let jsonl = a.ok(&["export", "team", "--format", "jsonl"]);
    assert_eq!(jsonl.lines().count(), 4);
    let csv = a.ok(&["export", "edan", "--format", "csv", "--dialect", "rfc4180"]);
    assert!(csv.starts_with("key,title,status,"), "{csv}");
    assert_eq!(csv.lines().count(), 52);
}

#[test]
fn the_cli_names_what_is_wrong_and_shows_references_by_key() {
    let a = Ayni::new("hq");
    a.ok(&["network", "create", "--name", "gamlp"]);
    a.ok(&["seed"]);
    // references by key in --where; a mistyped field or state is an error, not an empty list
    let found = a.json(&["list", "edan", "--where", "event_id=ev-sama"]);
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(a.json(&["list", "edan", "--where", "event_id=event:ev-sama"]), found);
    let e = a.fails(&["list", "event", "--where", "estado=closed"], 2);
    assert!(e.contains("event records have no field 'estado'") && e.contains("hazard_type"), "{e}");
    let e = a.fails(&["list", "event", "--where", "status=cerrado"], 2);
    assert!(e.contains("\"cerrado\" is not a state of event") && e.contains("closed"), "{e}");
    let e = a.fails(&["list", "event", "--where", "hazard_type=fuego"], 2);
    assert!(e.contains("is not one of") && e.contains("incendio_forestal"), "{e}");
    let e = a.fails(&["list", "edan", "--where", "event_id=ev-nope"], 2);
    assert!(e.contains("no event with key 'ev-nope'"), "{e}");
    // get and history show each reference's key and title beside its ID
    let text = a.ok(&["get", "edan:edan-sama-1"]);
    assert!(text.contains("(event:ev-sama — Incendio forestal en la Cordillera de Sama)"), "{text}");
    let mission = a.json(&["get", "mission:ac-sama-after"])["id"].as_str().unwrap().to_string();
    a.ok(&["set", "edan:edan-sama-1", &format!("action_id={mission}")]);
    let history = a.ok(&["history", "edan:edan-sama-1"]);
    assert!(history.contains(&format!("{mission} (mission:ac-sama-after")), "{history}");
    // clear messages for what is not there
    let e = a.fails(&["client", "revoke", "nadie"], 2);
    assert!(e.contains("no client named 'nadie'"), "{e}");
    let laptop = Ayni::new("laptop");
    let other = Ayni::new("other");
    let id = |n: &Ayni| n.json(&["id"])["node_id"].as_str().unwrap().to_string();
    a.ok(&["enroll", &id(&laptop), "--role", "field", "--name", "gaem-1-laptop", "--team", "GAEM-1"]);
    let team = a.json(&["get", "team:GAEM-1"]);
    assert!(team["fields"]["node_ids"].as_array().unwrap().contains(&serde_json::json!(id(&laptop))), "{team}");
    let e = a.fails(&["enroll", &id(&other), "--role", "field", "--name", "gaem-1-laptop"], 2);
    assert!(e.contains("a member is already named 'gaem-1-laptop'"), "{e}");
    let e = a.fails(&["enroll", &id(&other), "--role", "field", "--team", "GAEM-9"], 2);
    assert!(e.contains("unknown team 'GAEM-9'"), "{e}");
    // every error reads the same way, clap's too
    assert!(a.fails(&["get"], 2).starts_with("ayni: error:"));
    assert!(a.fails(&["get", "edan:nada"], 2).starts_with("ayni: error:"));
}
