//! Reports a person reads, through the real binary and the real HTTP
//! socket: the situation report of an emergency as HTML, Markdown and
//! JSON, every figure checked against `ayni report --json` of its EDAN —
//! each decided zone's values, each team's figures for a zone awaiting
//! HQ, the totals over decided zones only.

mod support;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use support::http::request;
use support::Ayni;

/// The seed (edan-sama-1: z1 decided, z2 a double count awaiting HQ) and a
/// second, preliminary EDAN of the same event with a covered need.
fn seeded() -> Ayni {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    a.ok(&["add", "team", "--key", "GAEM-3", "--set", "name=GAEM-3"]);
    a.ok(&[
        "add",
        "edan",
        "--key",
        "edan-sama-0",
        "--set",
        "event_id=ev-sama",
        "--set",
        "edan_type=preliminar",
        "--set",
        "title=EDAN preliminar <Sama>",
        "--set",
        r#"zones={"z9":{"name":"Tomatas & Grande","geo":{"lat":-21.52,"lon":-64.9}}}"#,
        "--set",
        r#"tallies={"z9":{"GAEM-3":{"families_affected":1234,"crop_ha_lost":2.5}}}"#,
        "--set",
        r#"needs={"n1":{"sector":"alimentos","item":"raciones","quantity":300,"unit":"raciones","priority":"vital","status":"covered"}}"#,
    ]);
    a
}

/// Every `data-*` figure of the page: (edan, zone, team, field) → value,
/// and (edan, total field) → value.
type Figures = (BTreeMap<(String, String, String, String), f64>, BTreeMap<(String, String), f64>);

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(tag[start..].split('"').next()?.to_string())
}

fn figures(html: &str) -> Figures {
    let (mut cells, mut totals) = (BTreeMap::new(), BTreeMap::new());
    for tag in html.split('<').filter(|t| t.starts_with("td ") || t.starts_with("div ")) {
        let tag = tag.split('>').next().unwrap();
        let (Some(edan), Some(value)) = (attr(tag, "data-edan"), attr(tag, "data-value")) else { continue };
        let value: f64 = value.parse().unwrap();
        if let Some(field) = attr(tag, "data-total") {
            if tag.starts_with("td ") {
                assert!(totals.insert((edan, field), value).is_none(), "a total twice");
            }
        } else {
            let key = (
                edan,
                attr(tag, "data-zone").unwrap(),
                attr(tag, "data-team").unwrap(),
                attr(tag, "data-field").unwrap(),
            );
            assert!(cells.insert(key, value).is_none(), "a figure twice");
        }
    }
    (cells, totals)
}

fn flat(prefix: &str, v: &Value, out: &mut Vec<(String, f64)>) {
    for (k, v) in v.as_object().unwrap() {
        let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            Value::Object(_) => flat(&name, v, out),
            Value::Number(n) => out.push((name, n.as_f64().unwrap())),
            _ => {}
        }
    }
}

/// What the page must show, from `ayni report --json` of each EDAN.
fn expected(a: &Ayni, edans: &[&str]) -> Figures {
    let (mut cells, mut totals) = (BTreeMap::new(), BTreeMap::new());
    for key in edans {
        let report = a.json(&["report", &format!("edan:{key}")]);
        for z in report["zones"].as_array().unwrap() {
            let zone = z["zone"].as_str().unwrap().to_string();
            let mut add = |team: &str, values: &Value| {
                let mut f = vec![];
                flat("", values, &mut f);
                for (field, v) in f {
                    cells.insert((key.to_string(), zone.clone(), team.to_string(), field), v);
                }
            };
            if z["values"].is_object() {
                add("", &z["values"]);
            } else if z["decision"] == "needs_decision" {
                for (team, obs) in z["observations"].as_object().unwrap() {
                    add(team, obs);
                }
            }
        }
        for (field, v) in report["totals"].as_object().unwrap() {
            totals.insert((key.to_string(), field.clone()), v.as_f64().unwrap());
        }
    }
    (cells, totals)
}

#[test]
fn the_situation_report_shows_exactly_what_each_edans_report_says() {
    let a = seeded();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("sama.html");
    a.ok(&["report", "event", "ev-sama", "--format", "html", "-o", page.to_str().unwrap()]);
    let html = std::fs::read_to_string(&page).unwrap();

    // every figure, and nothing else: decided zones, each team of a
    // pending zone, totals over decided zones only
    let want = expected(&a, &["edan-sama-0", "edan-sama-1"]);
    let got = figures(&html);
    assert_eq!(got.0, want.0, "zone figures");
    assert_eq!(got.1, want.1, "totals");
    assert!(got.0.keys().any(|(_, zone, team, _)| zone == "z2" && team == "GAEM-2"), "the double count shows by team");
    assert!(!got.0.keys().any(|(_, zone, team, _)| zone == "z2" && team.is_empty()), "never summed");
    assert!(html.contains(r#"data-pending="z2""#));
    // headline cards agree with the totals
    assert!(html.contains(
        r#"class="card" data-edan="edan-sama-0" data-total="families_affected" data-value="1234"><b>1.234</b>"#
    ));

    // self-contained, escaped, and a map with a spot per located zone
    for outside in ["<script", "<link", "src=\"http", "url(http", "<iframe"] {
        assert!(!html.contains(outside), "the page refers outside itself: {outside}");
    }
    assert!(html.contains("EDAN preliminar &lt;Sama&gt;") && html.contains("Tomatas &amp; Grande"));
    assert!(!html.contains("<Sama>"));
    let map = &html[html.find("<svg").unwrap()..];
    let map = &map[..map.find("</svg>").unwrap()];
    assert_eq!(map.matches("<circle").count(), 3, "z1, z2 and z9 have coordinates");
    // needs by sector: the covered one counted as covered
    assert!(html.contains(r#"<tr data-sector="alimentos" data-priority="vital"><td>Alimentos</td><td>Vital</td><td class="n">1</td><td class="n">0</td><td class="n">0</td><td class="n">1</td>"#));

    // JSON: each EDAN's part is exactly its `ayni report --json`
    let report = a.json(&["report", "event", "ev-sama"]);
    assert_eq!(report["event"]["key"], "ev-sama");
    for e in report["edans"].as_array().unwrap() {
        let key = e["key"].as_str().unwrap();
        assert_eq!(e["report"], a.json(&["report", &format!("edan:{key}")]), "{key}");
    }
    assert_eq!(report["map"].as_array().unwrap().len(), 3);

    // Markdown: the same totals, written the Spanish way
    let md = a.ok(&["report", "event", "event:ev-sama"]);
    assert!(md.starts_with("# Informe de situación — Incendio forestal en la Cordillera de Sama"), "{md}");
    assert!(md.contains("| **Total de zonas decididas** | | 1.234 | 2,5 |"), "{md}");

    // bad requests: clear, exit 2, nothing written
    let e = a.fails(&["report", "event"], 2);
    assert!(e.contains("ayni report event KEY"), "{e}");
    let e = a.fails(&["report", "event", "edan:edan-sama-1"], 2);
    assert!(e.contains("not an event"), "{e}");
    let e = a.fails(&["report", "event", "ev-nowhere"], 2);
    assert!(e.contains("ev-nowhere"), "{e}");
    let e = a.fails(&["report", "edan:edan-sama-1", "--format", "html"], 2);
    assert!(e.contains("report event"), "{e}");
    let missing = dir.path().join("no/dir/x.html");
    a.fails(&["report", "event", "ev-sama", "--format", "html", "-o", missing.to_str().unwrap()], 2);
}

#[test]
fn the_http_api_serves_the_situation_report_to_those_who_may_read_it() {
    let a = seeded();
    a.ok(&["network", "create", "--name", "gamlp"]);
    let hq = a.json(&["client", "add", "panel", "--role", "hq"])["token"].as_str().unwrap().to_string();
    let partner = a.json(&["client", "add", "tarija", "--role", "read", "--entity", "e-tarija-gam"])["token"]
        .as_str()
        .unwrap()
        .to_string();
    let s = a.serve_with(&["--http", "127.0.0.1:0"]);
    let http = s.http.clone().unwrap();

    let html = request(&http, "GET", "/api/v1/reports/event/ev-sama?format=html", Some(&hq), None);
    assert_eq!(html.status, 200);
    assert_eq!(html.header("content-type"), Some("text/html; charset=utf-8"));
    let want = expected(&a, &["edan-sama-0", "edan-sama-1"]);
    assert_eq!(figures(&String::from_utf8(html.body).unwrap()), want);
    let md = request(&http, "GET", "/api/v1/reports/event/ev-sama?format=md", Some(&hq), None);
    assert_eq!(md.header("content-type"), Some("text/markdown; charset=utf-8"));
    let report = request(&http, "GET", "/api/v1/reports/event/ev-sama", Some(&hq), None).json();
    assert_eq!(report, a.json(&["report", "event", "ev-sama"]));

    let bad = request(&http, "GET", "/api/v1/reports/event/ev-sama?format=pdf", Some(&hq), None);
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]["message"].as_str().unwrap().contains("json, html or md"));
    assert_eq!(request(&http, "GET", "/api/v1/reports/event/ev-nowhere", Some(&hq), None).status, 404);
    assert_eq!(request(&http, "GET", "/api/v1/reports/event/ev-sama", None, None).status, 401);
    // a partner's read client reads no event: to it there is none
    let hidden = request(&http, "GET", "/api/v1/reports/event/ev-sama", Some(&partner), None);
    assert_eq!(hidden.status, 404, "{}", String::from_utf8_lossy(&hidden.body));
    assert_eq!(hidden.json()["error"]["kind"], json!("not_found"));
}

/// The cells of the table row `data-key="KEY"`: its `data-value`s.
fn row_values(html: &str, key: &str) -> Vec<f64> {
    let start = html.find(&format!(r#"<tr data-key="{key}">"#)).unwrap_or_else(|| panic!("no row {key}"));
    let row = &html[start..start + html[start..].find("</tr>").unwrap()];
    row.split("data-value=\"").skip(1).map(|v| v.split('"').next().unwrap().parse().unwrap()).collect()
}

#[test]
fn the_cooperation_report_follows_requests_follow_ups_and_trained_staff() {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    let id = |r: &str| a.json(&["get", r])["id"].as_str().unwrap().to_string();
    // a request received long ago, now in clarification (stage b)
    a.ok(&[
        "add",
        "request",
        "--key",
        "rq-coroico",
        "--set",
        "requesting_entity_id=e-trinidad",
        "--set",
        "approach=demand",
        "--set",
        r#"requested_types=["training"]"#,
        "--set",
        "received_at=2025-03-01",
        "--set",
        "summary=Capacitación en reciclaje",
    ]);
    a.ok(&["transition", "request:rq-coroico", "under_analysis"]);
    a.ok(&["transition", "request:rq-coroico", "clarification"]);
    // follow-ups of a 2018 mission: one overdue (transfer to job, feeding
    // back to the practice), one due, one done
    let practice = a.json(&["get", "mission:ac-rec-ta"])["fields"]["practice_ids"][0].as_str().unwrap().to_string();
    let follow_ups = json!({
        "f1": {"kind": "transfer_to_job", "due_at": "2020-01-01", "status": "scheduled", "feeds_back_to_practice_id": practice},
        "f2": {"kind": "methodological", "due_at": "2099-01-01"},
        "f3": {"kind": "strategic", "due_at": "2019-01-01", "done_at": "2019-02-01", "status": "done"},
    });
    a.ok(&["set", "mission:ac-rec-ta", &format!("follow_ups={follow_ups}")]);
    // staff of Trinidad in a course: one certified, one enrolled, one dropped
    a.ok(&["add", "person", "--key", "p1", "--set", "full_name=Ana Roca"]);
    let (person, trinidad) = (id("person:p1"), id("entity:e-trinidad"));
    let enrollments = json!({
        "e1": {"person_id": person, "home_entity_id": trinidad, "status": "certified"},
        "e2": {"person_id": person, "home_entity_id": trinidad, "status": "enrolled"},
        "e3": {"person_id": person, "home_entity_id": trinidad, "status": "dropped"},
    });
    a.ok(&["set", "course:c-ati", &format!("enrollments={enrollments}"), "starts_on=2018-04-02"]);

    let report = a.json(&["report", "cooperation"]);
    // requests by state agree with `ayni list request`
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    for r in a.json(&["list", "request"]).as_array().unwrap() {
        *by_status.entry(r["status"].as_str().unwrap().to_string()).or_default() += 1;
    }
    for s in report["requests_by_state"].as_array().unwrap() {
        assert_eq!(
            s["now"].as_u64().unwrap(),
            by_status.get(s["state"].as_str().unwrap()).copied().unwrap_or(0),
            "{s}"
        );
    }
    let line = report["requests"].as_array().unwrap().iter().find(|r| r["key"] == "rq-coroico").unwrap();
    assert_eq!((line["state"].as_str(), line["stage"].as_str()), (Some("clarification"), Some("b")));
    assert_eq!(line["days"][0][0], "received");
    assert!(line["days"][0][1].as_f64().unwrap() > 600.0, "received 2025-03-01, analysed today: {line}");
    assert_eq!(line["days"].as_array().unwrap().len(), 3, "received, under_analysis, clarification");
    // follow-ups: overdue, due, done against today
    let standing: BTreeMap<&str, &str> = report["follow_ups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["item_id"].as_str().unwrap(), f["standing"].as_str().unwrap()))
        .collect();
    assert_eq!(standing, BTreeMap::from([("f1", "overdue"), ("f2", "due"), ("f3", "done")]));
    let practice_key = a.json(&["get", &practice])["key"].as_str().unwrap().to_string();
    let fed = report["feedback"].as_array().unwrap();
    assert_eq!(fed.len(), 1);
    assert_eq!((fed[0]["key"].as_str(), fed[0]["follow_ups"].as_u64()), (Some(practice_key.as_str()), Some(1)));
    let trained = report["trained"].as_array().unwrap();
    assert_eq!(trained.len(), 1);
    assert_eq!(trained[0]["entity"], "e-trinidad");
    assert_eq!((trained[0]["enrolled"].as_u64(), trained[0]["trained"].as_u64()), (Some(2), Some(1)));
    assert_eq!(trained[0]["transfer_follow_ups"], 1, "ac-rec-ta's counterpart is Trinidad");

    // the page shows the same counts
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("coop.html");
    a.ok(&["report", "cooperation", "--format", "html", "-o", page.to_str().unwrap()]);
    let html = std::fs::read_to_string(&page).unwrap();
    for s in report["requests_by_state"].as_array().unwrap().iter().filter(|s| s["now"] != 0 || s["passed"] != 0) {
        let values = row_values(&html, s["state"].as_str().unwrap());
        assert_eq!(values[..2], [s["now"].as_f64().unwrap(), s["passed"].as_f64().unwrap()], "{s}");
    }
    assert_eq!(row_values(&html, "e-trinidad/c-ati"), [2.0, 1.0, 1.0]);
    for outside in ["<script", "<link", "src=\"http"] {
        assert!(!html.contains(outside));
    }

    // a year: only that year's missions, follow-ups and courses
    let y2018 = a.json(&["report", "cooperation", "--year", "2018"]);
    let missions_2018: Vec<String> = a
        .json(&["list", "mission"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["fields"]["year"] == 2018)
        .map(|m| m["key"].as_str().unwrap().to_string())
        .collect();
    for g in y2018["by_practice"].as_array().unwrap() {
        for m in g["missions"].as_array().unwrap() {
            assert!(missions_2018.contains(&m.as_str().unwrap().to_string()), "{m} is not of 2018");
        }
    }
    assert!(y2018["requests"].as_array().unwrap().is_empty(), "no request received in 2018");
    let md = a.ok(&["report", "cooperation", "--year", "2018"]);
    assert!(md.starts_with("# Informe de cooperación — año 2018"), "{md}");
    let e = a.fails(&["report", "cooperation", "extra"], 2);
    assert!(e.contains("extra"), "{e}");
    let e = a.fails(&["report", "edan:edan-sama-1", "--year", "2018"], 2);
    assert!(e.contains("--year"), "{e}");

    // the API: the same report; a partner sees only what names it
    a.ok(&["network", "create", "--name", "gamlp"]);
    let hq = a.json(&["client", "add", "panel", "--role", "hq"])["token"].as_str().unwrap().to_string();
    let partner = a.json(&["client", "add", "trinidad", "--role", "read", "--entity", "e-trinidad"])["token"]
        .as_str()
        .unwrap()
        .to_string();
    let s = a.serve_with(&["--http", "127.0.0.1:0"]);
    let http = s.http.clone().unwrap();
    let got = request(&http, "GET", "/api/v1/reports/cooperation?year=2018", Some(&hq), None);
    assert_eq!(got.status, 200);
    assert_eq!(got.json(), y2018);
    let page = request(&http, "GET", "/api/v1/reports/cooperation?format=html", Some(&hq), None);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(request(&http, "GET", "/api/v1/reports/cooperation?year=soon", Some(&hq), None).status, 400);
    let theirs = request(&http, "GET", "/api/v1/reports/cooperation", Some(&partner), None).json();
    let readable: Vec<String> = request(&http, "GET", "/api/v1/records/mission", Some(&partner), None)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap().to_string())
        .collect();
    let listed: Vec<&Value> =
        theirs["by_municipality"].as_array().unwrap().iter().flat_map(|g| g["missions"].as_array().unwrap()).collect();
    assert!(!listed.is_empty());
    for m in listed {
        assert!(readable.contains(&m.as_str().unwrap().to_string()), "the partner sees {m}, which it may not read");
    }
}
