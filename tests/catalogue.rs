//! The published catalogue through the real binary: an edition's
//! practices and only them, each page with what the records say (managing
//! unit, requirements, every mission that transferred it and its results),
//! links that resolve from a USB stick, a directory replaced whole or
//! refused.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::json;
use support::Ayni;

fn keys_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir.join("practicas"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".html").to_string())
        .collect()
}

#[test]
fn an_edition_publishes_its_practices_with_what_the_records_say() {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    a.ok(&[
        "set",
        "practice:BP-REC",
        r#"prerequisites=[{"item":"Taller mecánico municipal","mandatory":true},{"item":"Botellas PET <acopio>"}]"#,
        r#"characteristics=["Diseño de la prensa","Manual de operación"]"#,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("catalogo");
    let out = a.json(&["catalogue", "publish", "-o", site.to_str().unwrap()]);
    assert_eq!((out["edition"].as_u64(), out["draft"].as_bool()), (Some(1), Some(false)));

    // edition 1 is the 2013 record's practices, exactly
    let edition = &a.json(&["list", "catalogue_edition"])[0];
    let ids: Vec<&str> =
        edition["fields"]["practice_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let practices = a.json(&["list", "practice"]);
    let want: BTreeSet<String> = practices
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| ids.contains(&p["id"].as_str().unwrap()))
        .map(|p| p["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys_in(&site), want);
    assert_eq!(out["practices"].as_u64(), Some(want.len() as u64));

    // every link resolves inside the site; nothing refers outside it
    for file in ["index.html", "catalogo-completo.html"] {
        let html = std::fs::read_to_string(site.join(file)).unwrap();
        for outside in ["<script", "<link", "src=\"http", "href=\"http", "href=\"/"] {
            assert!(!html.contains(outside), "{file} refers outside the site: {outside}");
        }
        for href in html.split("href=\"").skip(1).map(|h| h.split('"').next().unwrap()) {
            assert!(site.join(href).is_file(), "{file} links to {href}, which is not in the site");
        }
    }

    // the draft of the next edition: every practice on offer now
    let next = dir.path().join("segunda");
    let out = a.json(&["catalogue", "publish", "--edition", "2", "-o", next.to_str().unwrap()]);
    assert_eq!(out["draft"], json!(true));
    let on_offer: BTreeSet<String> = practices
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| ["offered", "systematised"].contains(&p["status"].as_str().unwrap()))
        .map(|p| p["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys_in(&next), on_offer);
    // a practice's page: its unit, what a requester provides, every
    // mission that transferred it with its results
    let page = std::fs::read_to_string(next.join("practicas/BP-REC.html")).unwrap();
    assert!(page.contains("Taller mecánico municipal (obligatorio)") && page.contains("Botellas PET &lt;acopio&gt;"));
    assert!(page.contains("<li>Manual de operación</li>"));
    assert!(page.contains("href=\"../index.html\""));
    let id = practices.as_array().unwrap().iter().find(|p| p["key"] == "BP-REC").unwrap()["id"].clone();
    let managing = a.json(&[
        "get",
        practices.as_array().unwrap().iter().find(|p| p["key"] == "BP-REC").unwrap()["fields"]["managing_unit_id"]
            .as_str()
            .unwrap(),
    ]);
    assert!(page.contains(managing["fields"]["name_es"].as_str().unwrap()));
    for m in a.json(&["list", "mission"]).as_array().unwrap() {
        let names_it = m["fields"]["practice_ids"].as_array().is_some_and(|p| p.contains(&id));
        assert_eq!(
            page.contains(&format!("data-mission=\"{}\"", m["key"].as_str().unwrap())),
            names_it,
            "{}",
            m["key"]
        );
        if names_it {
            for r in m["fields"]["results"].as_object().into_iter().flat_map(|r| r.values()) {
                assert!(page.contains(r["description"].as_str().unwrap()), "result of {}", m["key"]);
            }
        }
    }

    // publishing again replaces the site whole
    a.ok(&["catalogue", "publish", "--edition", "1", "-o", next.to_str().unwrap()]);
    assert_eq!(keys_in(&next), want, "the draft's pages are gone, the edition's are there");

    // refused, nothing written: a directory ayni did not make, an edition
    // that does not exist, a path inside the node's home
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("mine.txt"), "keep").unwrap();
    let e = a.fails(&["catalogue", "publish", "-o", other.to_str().unwrap()], 2);
    assert!(e.contains("was not written by"), "{e}");
    assert_eq!(std::fs::read_to_string(other.join("mine.txt")).unwrap(), "keep");
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);
    let e = a.fails(&["catalogue", "publish", "--edition", "3", "-o", dir.path().join("x").to_str().unwrap()], 2);
    assert!(e.contains("no edition 3"), "{e}");
    assert!(!dir.path().join("x").exists());
    a.fails(&["catalogue", "publish", "-o", a.home().join("site").to_str().unwrap()], 2);
}
