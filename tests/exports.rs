//! Exports a person opens, through the real binary: CSV read back with a
//! real CSV parser in both dialects, the XLSX with a real XLSX reader, the
//! GeoJSON checked for RFC 7946's coordinate order and ranges; references
//! shown by key and title; bad requests refused with nothing written.

mod support;

use std::collections::BTreeSet;

use calamine::{Data, Reader};
use serde_json::Value;
use support::Ayni;

/// A seeded node whose EDAN has a place of its own and a need whose item
/// would run as a formula in a spreadsheet.
fn seeded() -> Ayni {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    a.ok(&["set", "edan:edan-sama-1", r#"geo={"lat":-21.53,"lon":-64.79}"#]);
    a.ok(&[
        "set",
        "edan:edan-sama-1",
        r#"needs.n-formula={"sector":"salud","item":"=HYPERLINK(\"http://x\")","quantity":2.5,"unit":"kits","priority":"alta"}"#,
    ]);
    a
}

fn csv_rows(text: &str, delimiter: u8) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new().delimiter(delimiter).from_reader(text.as_bytes());
    let header = r.headers().expect("header").iter().map(String::from).collect();
    let rows = r.records().map(|rec| rec.expect("a CSV record").iter().map(String::from).collect()).collect();
    (header, rows)
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

/// Every document ID the node holds: none may show in a tidy export.
fn document_ids(a: &Ayni) -> Vec<String> {
    ayni_node::schema::KINDS
        .iter()
        .flat_map(|k| a.json(&["export", k]).as_array().unwrap().clone())
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn csv_in_both_dialects_shows_references_by_key_and_title_and_neutralises_formulas() {
    let a = seeded();
    let edan = a.json(&["get", "edan:edan-sama-1"]);
    let event = a.json(&["get", "event:ev-sama"]);

    // excel: BOM, `;`, CRLF, decimal comma, formula escaped
    let out = a.run(&["export", "edan", "--format", "csv", "--table", "needs"]);
    assert!(out.status.success());
    let bytes = out.stdout;
    assert!(bytes.starts_with("\u{FEFF}".as_bytes()), "excel CSV starts with a BOM");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(text.lines().count() > 1 && text.split("\r\n").count() == text.lines().count() + 1, "CRLF line ends");
    let (header, rows) = csv_rows(&text, b';');
    assert_eq!(&header[..3], ["edan_key", "edan_title", "item_id"]);
    assert_eq!(rows.len(), edan["fields"]["needs"].as_object().unwrap().len());
    let formula = rows.iter().find(|r| r[column(&header, "item_id")] == "n-formula").expect("the formula need");
    assert_eq!(formula[column(&header, "item")], "'=HYPERLINK(\"http://x\")");
    assert_eq!(formula[column(&header, "quantity")], "2,5");
    assert_eq!(formula[column(&header, "edan_title")], edan["title"].as_str().unwrap());

    // rfc4180: `,`, decimal point, the text as it is
    let text = a.ok(&["export", "edan", "--format", "csv", "--table", "needs", "--dialect", "rfc4180"]);
    assert!(!text.starts_with('\u{FEFF}'));
    let (header, rows) = csv_rows(&text, b',');
    let formula = rows.iter().find(|r| r[column(&header, "item_id")] == "n-formula").unwrap();
    assert_eq!(formula[column(&header, "item")], "=HYPERLINK(\"http://x\")");
    assert_eq!(formula[column(&header, "quantity")], "2.5");

    // the record table: references by key and title, no document ID anywhere
    let text = a.ok(&["export", "edan", "--format", "csv", "--dialect", "rfc4180"]);
    let (header, rows) = csv_rows(&text, b',');
    let sama = rows.iter().find(|r| r[column(&header, "key")] == "edan-sama-1").unwrap();
    assert_eq!(sama[column(&header, "event_key")], "ev-sama");
    assert_eq!(sama[column(&header, "event_title")], event["title"].as_str().unwrap());
    assert_eq!(sama[column(&header, "geo_lon")], edan["fields"]["geo"]["lon"].to_string());
    for id in document_ids(&a) {
        assert!(!text.contains(&id), "document ID {id} in the export");
    }

    // tallies: one row per zone × team, each count as `ayni get` has it
    let text = a.ok(&["export", "edan", "--format", "csv", "--table", "tallies", "--dialect", "rfc4180"]);
    let (header, rows) = csv_rows(&text, b',');
    let mut expected = BTreeSet::new();
    for (zone, teams) in edan["fields"]["tallies"].as_object().unwrap() {
        for (team, tally) in teams.as_object().unwrap() {
            expected.insert((zone.clone(), team.clone(), tally.get("families_affected").map(|v| v.to_string())));
        }
    }
    let got: BTreeSet<_> = rows
        .iter()
        .map(|r| {
            let fa = &r[column(&header, "families_affected")];
            (
                r[column(&header, "zone")].clone(),
                r[column(&header, "team")].clone(),
                (!fa.is_empty()).then(|| fa.clone()),
            )
        })
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn xlsx_has_a_sheet_per_table_with_typed_cells() {
    let a = seeded();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edan.xlsx");
    a.ok(&["export", "edan", "--format", "xlsx", "-o", path.to_str().unwrap()]);
    let mut book = calamine::open_workbook_auto(&path).expect("a workbook calamine opens");
    let names = book.sheet_names();
    for sheet in ["edan", "tallies", "needs", "services", "zones"] {
        assert!(names.iter().any(|n| n == sheet), "sheet {sheet} in {names:?}");
    }
    let tallies = book.worksheet_range("tallies").unwrap();
    let header: Vec<String> = tallies.rows().next().unwrap().iter().map(|c| c.to_string()).collect();
    let dead = column(&header, "families_affected");
    let edan = a.json(&["get", "edan:edan-sama-1"]);
    let z1 = &edan["fields"]["tallies"]["z1"]["GAEM-1"]["families_affected"];
    let row = tallies
        .rows()
        .find(|r| r[column(&header, "zone")].to_string() == "z1" && r[column(&header, "team")].to_string() == "GAEM-1")
        .unwrap();
    assert_eq!(row[dead], Data::Float(z1.as_f64().unwrap()), "counts are numbers");
    let records = book.worksheet_range("edan").unwrap();
    let header: Vec<String> = records.rows().next().unwrap().iter().map(|c| c.to_string()).collect();
    let created = records.rows().nth(1).unwrap()[column(&header, "created_at")].clone();
    assert!(matches!(created, Data::DateTime(_)), "instants are dates: {created:?}");

    // one named table only
    let needs = dir.path().join("needs.xlsx");
    a.ok(&["export", "edan", "--format", "xlsx", "--table", "needs", "-o", needs.to_str().unwrap()]);
    assert_eq!(calamine::open_workbook_auto(&needs).unwrap().sheet_names(), ["needs"]);
}

#[test]
fn geojson_is_rfc_7946_longitude_first_with_flat_properties_and_stable_ids() {
    let a = seeded();
    let edan = a.json(&["get", "edan:edan-sama-1"]);
    let layer = |table: &str| -> Value {
        serde_json::from_str(&a.ok(&["export", "edan", "--format", "geojson", "--table", table])).unwrap()
    };
    for table in ["edan", "zones", "tallies", "needs"] {
        let fc = layer(table);
        assert_eq!(fc["type"], "FeatureCollection");
        let features = fc["features"].as_array().unwrap();
        assert!(!features.is_empty(), "{table}");
        let ids: BTreeSet<&str> = features.iter().map(|f| f["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), features.len(), "feature IDs unique in {table}");
        assert_eq!(fc, layer(table), "the same export twice is the same file");
        for f in features {
            assert_eq!(f["type"], "Feature");
            for (k, v) in f["properties"].as_object().unwrap() {
                assert!(!v.is_object() && !v.is_array(), "{table}.{k} is not flat: {v}");
            }
            if f["geometry"].is_null() {
                continue;
            }
            assert_eq!(f["geometry"]["type"], "Point");
            let c = f["geometry"]["coordinates"].as_array().unwrap();
            let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
            assert!((-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat), "{c:?}");
        }
    }
    // longitude first, exactly as recorded
    let zones = layer("zones");
    let z1 = zones["features"].as_array().unwrap().iter().find(|f| f["id"] == "edan:edan-sama-1/z1").unwrap();
    let geo = &edan["fields"]["zones"]["z1"]["geo"];
    assert_eq!(z1["geometry"]["coordinates"], serde_json::json!([geo["lon"], geo["lat"]]));
    // a tally sits at its zone
    let tallies = layer("tallies");
    let t = tallies["features"].as_array().unwrap().iter().find(|f| f["id"] == "edan:edan-sama-1/z1/GAEM-1").unwrap();
    assert_eq!(t["geometry"], z1["geometry"]);
    // a need with no zone sits at its record's place
    let needs = layer("needs");
    let n = needs["features"].as_array().unwrap().iter().find(|f| f["id"] == "edan:edan-sama-1/n-formula").unwrap();
    assert_eq!(n["geometry"]["coordinates"], serde_json::json!([-64.79, -21.53]));
}

#[test]
fn json_and_jsonl_of_a_table_and_bad_requests_refused() {
    let a = seeded();
    let rows = a.json(&["export", "edan", "--table", "tallies"]);
    assert!(rows.as_array().unwrap().iter().all(|r| r["edan_key"] == "edan-sama-1" && r["zone"].is_string()));
    let lines = a.ok(&["export", "edan", "--table", "tallies", "--format", "jsonl"]);
    assert_eq!(lines.lines().count(), rows.as_array().unwrap().len());

    let e = a.fails(&["export", "edan", "--format", "csv", "--table", "nope"], 2);
    assert!(e.contains("no table nope") && e.contains("tallies"), "{e}");
    let e = a.fails(&["export", "edan", "--format", "geojson", "--dialect", "rfc4180"], 2);
    assert!(e.contains("--dialect is for --format csv"), "{e}");
    let e = a.fails(&["export", "edan", "--format", "xlsx"], 2);
    assert!(e.contains("-o FILE"), "{e}");
    let e = a.fails(&["export", "nokind", "--format", "csv"], 2);
    assert!(e.contains("nokind"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/x.csv");
    let e = a.fails(&["export", "edan", "--format", "csv", "-o", missing.to_str().unwrap()], 2);
    assert!(e.contains("no directory"), "{e}");
    let inside = a.home().join("x.csv");
    a.fails(&["export", "edan", "--format", "csv", "-o", inside.to_str().unwrap()], 2);
    assert!(!inside.exists());
    // the record dump goes to a file too, whole records as `import` reads them
    let dump = dir.path().join("teams.jsonl");
    a.ok(&["export", "team", "--format", "jsonl", "-o", dump.to_str().unwrap()]);
    let lines: Vec<Value> =
        std::fs::read_to_string(&dump).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(Value::Array(lines), a.json(&["export", "team"]));
    // -o writes the same bytes stdout gets
    let file = dir.path().join("t.csv");
    a.ok(&["export", "edan", "--format", "csv", "--table", "tallies", "-o", file.to_str().unwrap()]);
    let stdout = a.run(&["export", "edan", "--format", "csv", "--table", "tallies"]).stdout;
    assert_eq!(std::fs::read(&file).unwrap(), stdout);
}

/// The kinds in an order where every reference names a record imported
/// before (or in the same file).
const IMPORT_ORDER: &[&str] = &[
    "org_unit",
    "entity",
    "person",
    "practice",
    "funding_project",
    "catalogue_edition",
    "event",
    "agreement",
    "request",
    "mission",
    "course",
    "team",
    "edan",
];

#[test]
fn a_json_export_imports_into_an_empty_node_of_the_network_record_by_record() {
    let (hq, _) = support::network(0);
    hq.ok(&["seed"]);
    // edits a dump must carry: a state reached through transitions, a note, a set
    hq.ok(&["transition", "mission:ac-pasantia-2017", "authorised", "--note", "viáticos aprobados"]);
    hq.ok(&["set", "edan:edan-sama-1", "accepted.z2.team=GAEM-2"]);
    let fresh = Ayni::new("restored");
    fresh.ok(&[
        "join",
        hq.ok(&["enroll", &fresh.json(&["id"])["node_id"].as_str().unwrap().to_string(), "--role", "hq"]).trim(),
    ]);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(IMPORT_ORDER.len(), ayni_node::schema::KINDS.len());
    for kind in IMPORT_ORDER {
        let file = dir.path().join(format!("{kind}.json"));
        hq.ok(&["export", kind, "--format", "json", "-o", file.to_str().unwrap()]);
        let r = fresh.json(&["import", kind, file.to_str().unwrap()]);
        assert_eq!(r["created"], hq.json(&["list", kind]).as_array().unwrap().len(), "{kind}: {r}");
    }
    // every record, by kind and key: the same fields (references by key),
    // the same state; IDs, authors and times are the importer's own
    for kind in IMPORT_ORDER {
        let by_key = |node: &Ayni| -> std::collections::BTreeMap<String, (Value, Value)> {
            node.json(&["export", kind])
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (r["key"].as_str().unwrap().to_string(), (r["status"].clone(), r["fields"].clone())))
                .collect()
        };
        let (was, now) = (by_key(&hq), by_key(&fresh));
        assert_eq!(was.keys().collect::<Vec<_>>(), now.keys().collect::<Vec<_>>(), "{kind}");
        for (key, (status, fields)) in &was {
            assert_eq!(&now[key].0, status, "{kind}:{key} status");
            assert_eq!(&now[key].1, fields, "{kind}:{key} fields");
        }
    }
    // a dump of one kind into a node that lacks what it references is refused whole, naming it
    let empty = Ayni::new("empty");
    let file = dir.path().join("edan.json");
    let e = empty.fails(&["import", "edan", file.to_str().unwrap()], 2);
    assert!(e.contains("nothing written") && e.contains("no mission with key 'ac-sama-after'"), "{e}");
    assert_eq!(empty.json(&["list", "edan"]), serde_json::json!([]));
}
