//! ODK and KoboToolbox through the real binary: the EDAN form as an
//! XLSForm; an ODK Central CSV zip and a KoboToolbox XLSX (and CSV), built
//! here following those tools' conventions — repeats, geopoints,
//! select_multiple, missing values, photos, one bad row — imported into
//! EDAN records, idempotent by instance ID.

mod support;

use calamine::{Data, Reader};
use serde_json::{json, Value};
use support::forms::{jpeg, kobo_xlsx, odk_zip};
use support::Ayni;

fn import(a: &Ayni, tool: &str, file: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec!["import", tool, file.to_str().unwrap()];
    args.extend_from_slice(extra);
    a.json(&args)
}

#[test]
fn the_xlsform_carries_the_edan_form() {
    let a = Ayni::new("hq");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edan.xlsx");
    a.ok(&["form", "xlsform", "edan", "-o", path.to_str().unwrap()]);
    let mut book = calamine::open_workbook_auto(&path).unwrap();
    let survey = book.worksheet_range("survey").unwrap();
    let rows: Vec<Vec<String>> = survey.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    let has = |ty: &str, name: &str| rows.iter().any(|r| r[0] == ty && r[1] == name);
    assert!(has("begin_repeat", "needs") && has("end_repeat", "needs"));
    assert!(has("begin_group", "zone") && has("geopoint", "zone_geo"));
    assert!(has("image", "photo") && has("select_one need_sector", "sector"));
    assert!(has("select_multiple info_sources", "info_sources") && has("integer", "families_affected"));
    let families = rows.iter().find(|r| r[1] == "families_affected").unwrap();
    assert_eq!((families[2].as_str(), families[4].as_str()), ("Familias afectadas", ". >= 0"));
    let choices = book.worksheet_range("choices").unwrap();
    let sectors = choices.rows().filter(|r| r[0] == Data::String("need_sector".into())).count();
    assert_eq!(sectors, 10);
    let settings = book.worksheet_range("settings").unwrap();
    assert_eq!(settings.get((1, 1)), Some(&Data::String("ayni_edan".into())));
    a.fails(&["form", "xlsform", "mission", "-o", path.to_str().unwrap()], 2);

    // every label is Spanish, as the label file gives it: no field name, no
    // English word, no name made up from a field's name
    let labels: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(include_str!("../schemas/labels.es.json")).unwrap();
    let english = [
        "type",
        "lead",
        "evaluator",
        "sources",
        "source",
        "start",
        "end",
        "observation",
        "post",
        "health",
        "team",
        "zone",
        "of",
    ];
    let check = |name: &str, label: &str| {
        let from_file = labels.get(name).and_then(|v| v.as_str()) == Some(label);
        assert!(!label.is_empty() && (label != name || from_file), "{name}: no label");
        let words: Vec<String> = label.split(|c: char| !c.is_alphanumeric()).map(str::to_lowercase).collect();
        assert!(!english.iter().any(|e| words.contains(&e.to_string())), "{name}: an English word in {label:?}");
        let made_up = {
            let spaced = name.replace('_', " ");
            let mut c = spaced.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        };
        assert!(label != made_up || from_file, "{name}: {label:?} is made up from its name, not from the label file");
    };
    for r in rows.iter().skip(1) {
        if !r[0].starts_with("end_") && !["start", "end"].contains(&r[0].as_str()) {
            check(&r[1], &r[2]);
        }
    }
    for r in choices.rows().skip(1) {
        check(&r[1].to_string(), &r[2].to_string());
    }
    assert!(!rows[0].iter().any(|h| h.contains("English")), "one language: {:?}", rows[0]);
}

#[test]
fn an_odk_central_export_becomes_edan_records_once() {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    // the teams the submissions name (a team that has no record is refused)
    for team in ["GAEM-3", "GAEM-4", "GAEM-5"] {
        a.add(&["team", "--key", team, "--set", &format!("name={team}")]);
    }
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("ayni_edan.zip");

    // one bad row: named by file, row and column; nothing written
    std::fs::write(&zip, odk_zip("12", true)).unwrap();
    let e = a.fails(&["import", "odk", zip.to_str().unwrap()], 2);
    assert!(e.contains("ayni_edan.csv row 4 column tally-dead") && e.contains("'tres' is not a whole number"), "{e}");
    assert!(a
        .json(&["list", "edan"])
        .as_array()
        .unwrap()
        .iter()
        .all(|r| !r["key"].as_str().unwrap().starts_with("odk-")));

    std::fs::write(&zip, odk_zip("12", false)).unwrap();
    let r = import(&a, "odk", &zip, &[]);
    assert_eq!(r, json!({"submissions": 2, "created": 2, "updated": 0, "unchanged": 0, "photos": 1}));
    let rec = a.json(&["get", "edan:odk-0a1b2c3d-0000-4000-8000-00000000000a"]);
    let f = &rec["fields"];
    assert_eq!(f["event_id"], a.json(&["get", "event:ev-sama"])["id"]);
    assert_eq!(f["tallies"]["z7"]["GAEM-3"]["families_affected"], 12);
    assert_eq!(f["tallies"]["z7"]["GAEM-3"]["ha_vegetation_burned"], 350.5);
    assert_eq!(f["tallies"]["z7"]["GAEM-3"]["method"], "door_to_door");
    assert_eq!(
        f["zones"]["z7"]["geo"],
        json!({"lat": -21.512, "lon": -64.771, "accuracy_m": 4.5, "captured_by": "gps"})
    );
    assert_eq!(f["info_sources"], json!(["direct_observation", "key_informant"]));
    assert_eq!(f["location"]["department"], "tarija");
    assert_eq!(f["evaluation_started_at"], "2026-11-20T10:00:00.000-04:00");
    assert_eq!(
        f["needs"]["n2"],
        json!({"sector": "alimentos", "item": "raciones secas", "quantity": 120.5, "unit": "raciones", "priority": "alta", "zone": "z7", "identified_by_team": "GAEM-3"})
    );
    let photo = f["attachments"].as_object().unwrap().values().next().unwrap();
    assert_eq!((photo["name"].as_str(), photo["caption"].as_str()), (Some("1732115000000.jpg"), Some("techo caído")));
    // missing values stay missing
    let b = &a.json(&["get", "edan:odk-0a1b2c3d-0000-4000-8000-00000000000b"])["fields"];
    assert_eq!(b["tallies"]["z8"]["GAEM-3"], json!({"families_affected": 3}));
    assert!(b.get("needs").is_none() && b.get("evaluation_ended_at").is_none());
    // the report sees the imported counts like any other
    assert_eq!(
        a.json(&["report", "edan:odk-0a1b2c3d-0000-4000-8000-00000000000a"])["totals"]["families_affected"],
        12.0
    );

    // the same export again adds nothing, not even a change
    let history = a.json(&["history", "edan:odk-0a1b2c3d-0000-4000-8000-00000000000a"]).as_array().unwrap().len();
    let r = import(&a, "odk", &zip, &[]);
    assert_eq!(r, json!({"submissions": 2, "created": 0, "updated": 0, "unchanged": 2, "photos": 0}));
    assert_eq!(
        a.json(&["history", "edan:odk-0a1b2c3d-0000-4000-8000-00000000000a"]).as_array().unwrap().len(),
        history
    );
    // a correction made here survives re-importing the same export
    let key = "edan:odk-0a1b2c3d-0000-4000-8000-00000000000a";
    a.ok(&["set", key, "tallies.z7.GAEM-3.injured=2"]);
    assert_eq!(import(&a, "odk", &zip, &[])["unchanged"], 2);
    assert_eq!(a.json(&["get", key])["fields"]["tallies"]["z7"]["GAEM-3"]["injured"], 2);
    // a submission edited in Central updates its record
    std::fs::write(&zip, odk_zip("14", false)).unwrap();
    assert_eq!(import(&a, "odk", &zip, &[])["updated"], 1);
    assert_eq!(
        a.json(&["get", "edan:odk-0a1b2c3d-0000-4000-8000-00000000000a"])["fields"]["tallies"]["z7"]["GAEM-3"]
            ["families_affected"],
        14
    );
    // a submission deleted here is not brought back behind anyone's back,
    // and nothing of the import is written
    a.ok(&["delete", "edan:odk-0a1b2c3d-0000-4000-8000-00000000000b"]);
    std::fs::write(&zip, odk_zip("15", false)).unwrap();
    let e = a.fails(&["import", "odk", zip.to_str().unwrap()], 2);
    assert!(e.contains("was deleted on this node"), "{e}");
    assert_eq!(a.json(&["get", key])["fields"]["tallies"]["z7"]["GAEM-3"]["families_affected"], 14);
    // not a zip: a clear error, exit 2
    let junk = dir.path().join("junk.zip");
    std::fs::write(&junk, "SubmissionDate,start\n").unwrap();
    let e = a.fails(&["import", "odk", junk.to_str().unwrap()], 2);
    assert!(e.contains("not a zip"), "{e}");
}

#[test]
fn one_export_imported_on_two_nodes_is_one_record_once_they_sync() {
    let (hq, peers) = support::network(1);
    let field = &peers[0];
    hq.ok(&["seed"]);
    for team in ["GAEM-3", "GAEM-4", "GAEM-5"] {
        hq.add(&["team", "--key", team, "--set", &format!("name={team}")]);
    }
    let s = hq.serve();
    field.json(&["sync", &s.addr]);
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("ayni_edan.zip");
    std::fs::write(&zip, odk_zip("12", false)).unwrap();
    // a laptop that does not count for GAEM-3 may not import its counts:
    // refused before anything of the import is written
    let e = field.fails(&["import", "odk", zip.to_str().unwrap()], 2);
    assert!(e.contains("GAEM-3"), "{e}");
    assert!(field.json(&["list", "edan"]).to_string().find("odk-").is_none(), "nothing written");

    // the field laptop counts for GAEM-3, the team of the submissions
    let id = field.json(&["id"])["node_id"].as_str().unwrap().to_string();
    hq.ok(&["set", "team:GAEM-3", &format!("node_ids=[\"{id}\"]")]);
    field.json(&["sync", &s.addr]);

    // both import the same export before either hears of the other's
    assert_eq!(import(&hq, "odk", &zip, &[])["created"], 2);
    assert_eq!(import(field, "odk", &zip, &[])["created"], 2);
    let key = "edan:odk-0a1b2c3d-0000-4000-8000-00000000000a";
    let (here, there) = (hq.json(&["get", key]), field.json(&["get", key]));
    assert_eq!(here["id"], there["id"], "one document ID on both nodes");
    assert_eq!(here["created_by"], "import:odk");

    field.json(&["sync", &s.addr]);
    for node in [&hq, field] {
        let odk: Vec<Value> = node
            .json(&["list", "edan"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["key"].as_str().unwrap().starts_with("odk-"))
            .cloned()
            .collect();
        assert_eq!(odk.len(), 2, "one record per submission: {odk:?}");
        assert_eq!(node.json(&["audit"]), json!([]), "nothing refused");
    }
    let (here, there) = (hq.json(&["get", key]), field.json(&["get", key]));
    assert_eq!(here["heads"], there["heads"]);
    assert_eq!(here["fields"], there["fields"]);
    assert_eq!(here["fields"]["tallies"]["z7"]["GAEM-3"]["families_affected"], 12);
    assert_eq!(here["conflicts"], 0, "{here}");
    // each node vouched for the same first change: the history names one
    let history = hq.json(&["history", key]);
    assert!(history[0]["client"].as_str().is_some_and(|c| c == "import:odk"), "{history}");
}

/// A sheet's header and rows (empty cells left empty, as Kobo leaves them).
#[test]
fn a_kobo_export_becomes_edan_records_with_its_photos() {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    // the teams the submissions name (a team that has no record is refused)
    for team in ["GAEM-3", "GAEM-4", "GAEM-5"] {
        a.add(&["team", "--key", team, "--set", &format!("name={team}")]);
    }
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("kobo.xlsx");
    let media = dir.path().join("attachments");
    std::fs::create_dir(&media).unwrap();
    std::fs::write(media.join("pampa.jpg"), jpeg(3)).unwrap();

    std::fs::write(&xlsx, kobo_xlsx(true)).unwrap();
    let e = a.fails(&["import", "kobo", xlsx.to_str().unwrap(), "--media", media.to_str().unwrap()], 2);
    assert!(e.contains("sheet EDAN Ayni row 3 column zone/zone_id") && e.contains("zone_id is required"), "{e}");
    std::fs::write(&xlsx, kobo_xlsx(false)).unwrap();
    // photos named but not given: said, nothing written
    let e = a.fails(&["import", "kobo", xlsx.to_str().unwrap()], 2);
    assert!(e.contains("pampa.jpg") && e.contains("--media"), "{e}");
    let r = import(&a, "kobo", &xlsx, &["--media", media.to_str().unwrap()]);
    assert_eq!(r, json!({"submissions": 2, "created": 2, "updated": 0, "unchanged": 0, "photos": 1}));
    let f = &a.json(&["get", "edan:kobo-5b1c9e2e-1111-4000-8000-000000000001"])["fields"];
    let geo = &f["zones"]["z11"]["geo"];
    assert_eq!(
        (geo["lat"].as_f64(), geo["lon"].as_f64(), geo["accuracy_m"].as_f64()),
        (Some(-21.6), Some(-64.9), Some(5.0))
    );
    assert_eq!(f["zones"]["z11"]["name"], "Pampa Redonda");
    assert_eq!(f["info_sources"], json!(["health_post", "secondary_data"]));
    assert_eq!(f["needs"]["n1"]["item"], "botiquín");
    assert_eq!(f["needs"]["n1"]["quantity"], 4.0);
    assert_eq!(f["tallies"]["z11"]["GAEM-4"], json!({"families_affected": 7, "dead": 0}));
    assert_eq!(import(&a, "kobo", &xlsx, &["--media", media.to_str().unwrap()])["unchanged"], 2);

    // Kobo's CSV: `;`-separated, no repeats
    let csv_file = dir.path().join("kobo.csv");
    std::fs::write(
        &csv_file,
        "start;event;team;edan_type;zone/zone_id;tally/families_affected;_uuid;_index\n2026-11-22T08:00:00.000-04:00;ev-sama;GAEM-5;preliminar;z20;9;77777777-2222-4000-8000-000000000003;1\n",
    )
    .unwrap();
    assert_eq!(import(&a, "kobo", &csv_file, &[])["created"], 1);
    assert_eq!(
        a.json(&["get", "edan:kobo-77777777-2222-4000-8000-000000000003"])["fields"]["tallies"]["z20"]["GAEM-5"]
            ["families_affected"],
        9
    );
}
