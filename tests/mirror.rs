//! `ayni mirror` against a real PostgreSQL (a throwaway server per test,
//! PostGIS and TLS included):
//! the tables agree with `ayni list`/`ayni get` after edits, deletes,
//! conflicts and resolutions; the mirror follows a serving node live;
//! `kill -9` during the initial load and during live updates loses and
//! doubles nothing; bad connection strings, refusing databases and tables
//! altered by hand are clear errors that change nothing in the node.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::postgres::Postgres;
use support::{network, Ayni};

/// Live records of every kind, as `ayni list` shows them: kind → count.
fn counts(node: &Ayni) -> Vec<(String, usize)> {
    ayni_node::schema::KINDS
        .iter()
        .map(|kind| (kind.to_string(), node.json(&["list", kind]).as_array().unwrap().len()))
        .collect()
}

/// Rows of every kind's table in the mirror: kind → count.
fn mirrored_counts(pg: &Postgres) -> Vec<(String, usize)> {
    ayni_node::schema::KINDS
        .iter()
        .map(|k| (k.to_string(), pg.query("postgres", &format!("SELECT count(*) FROM ayni.{k}")).parse().unwrap()))
        .collect()
}

/// The situation views depend on the tables: an analyst altering one by
/// hand drops them first (the mirror makes them again when it starts).
const DROP_VIEWS: &str =
    "DROP VIEW ayni.situation_totals, ayni.situation_pending, ayni.situation_figures, ayni.situation_zones";

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The situation views say what `ayni report` says of an EDAN: each
/// zone's decision and source, the zones awaiting HQ with every team's
/// figures, totals over decided zones only.
fn situation_matches_report(hq: &Ayni, pg: &Postgres, reference: &str) {
    let report = hq.json(&["report", reference]);
    let id = report["id"].as_str().unwrap();
    let zones: Vec<String> = report["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| {
            format!(
                "{}|{}|{}",
                z["zone"].as_str().unwrap(),
                z["decision"].as_str().unwrap(),
                z["source"].as_str().unwrap_or("")
            )
        })
        .collect();
    let rows = pg.query("postgres", &format!("SELECT zone, decision, coalesce(source, '') FROM ayni.situation_zones WHERE record_id = '{id}' ORDER BY zone"));
    assert_eq!(rows.lines().collect::<Vec<_>>(), zones);
    let pending: Vec<&str> = report["pending_zones"].as_array().unwrap().iter().map(|z| z.as_str().unwrap()).collect();
    let rows = pg.query(
        "postgres",
        &format!("SELECT DISTINCT zone FROM ayni.situation_pending WHERE record_id = '{id}' ORDER BY zone"),
    );
    assert_eq!(rows.lines().collect::<Vec<_>>(), pending);
    assert!(!pending.is_empty(), "the demo EDAN has a double count");
    let teams: usize = pending
        .iter()
        .map(|z| {
            report["zones"].as_array().unwrap().iter().find(|r| r["zone"] == *z).unwrap()["observations"]
                .as_object()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(
        pg.query("postgres", &format!("SELECT count(*) FROM ayni.situation_pending WHERE record_id = '{id}'")),
        teams.to_string()
    );
    for (field, total) in report["totals"].as_object().unwrap().iter().filter(|(k, _)| !k.contains('.')) {
        let sql = format!("SELECT {field}::float8 FROM ayni.situation_totals WHERE record_id = '{id}'");
        let got: f64 = pg.query("postgres", &sql).parse().unwrap_or_else(|_| panic!("{sql}"));
        assert_eq!(got, total.as_f64().unwrap(), "total of {field}");
    }
    assert_eq!(
        pg.query("postgres", &format!("SELECT pending_zones FROM ayni.situation_totals WHERE record_id = '{id}'")),
        pending.len().to_string()
    );
}

#[test]
fn the_mirror_matches_the_node_after_edits_deletes_conflicts_and_resolutions() {
    let pg = Postgres::start();
    let url = pg.url("postgres");
    let (hq, field) = network(2);
    let (a, b) = (&field[0], &field[1]);
    hq.ok(&["seed"]);
    support::assign_teams(&hq, &[a, b]);
    let first = hq.json(&["mirror", &url, "--once"]);
    assert!(first["records"].as_u64().unwrap() >= 100, "{first}");
    assert_eq!(mirrored_counts(&pg), counts(&hq));
    situation_matches_report(&hq, &pg, "edan:edan-sama-1");

    // typed columns and child tables say what `ayni get` says
    let edan = hq.json(&["get", "edan:edan-sama-1"]);
    let id = edan["id"].as_str().unwrap();
    let tallies = &edan["fields"]["tallies"];
    let mut expected = vec![];
    for (zone, teams) in tallies.as_object().unwrap() {
        for (team, t) in teams.as_object().unwrap() {
            let dead = t.get("dead").map(|d| d.to_string()).unwrap_or_default();
            expected.push(format!("{zone}|{team}|{dead}"));
        }
    }
    expected.sort();
    let rows = pg.query(
        "postgres",
        &format!("SELECT zone, team, dead FROM ayni.edan_tallies WHERE record_id = '{id}' ORDER BY 1, 2"),
    );
    assert_eq!(rows.lines().collect::<Vec<_>>(), expected);
    assert!(!expected.is_empty());
    let needs = edan["fields"]["needs"].as_object().unwrap().len();
    assert_eq!(
        pg.query("postgres", &format!("SELECT count(*) FROM ayni.edan_needs WHERE record_id = '{id}'")),
        needs.to_string()
    );
    let row = pg.query(
        "postgres",
        &format!(
            "SELECT key, status, fields = '{}'::jsonb FROM ayni.edan WHERE id = '{id}'",
            edan["fields"].to_string().replace('\'', "''")
        ),
    );
    assert_eq!(row, format!("edan-sama-1|{}|t", edan["status"].as_str().unwrap()));
    assert_eq!(
        pg.query(
            "postgres",
            "SELECT pg_typeof(evaluation_started_at)::text, pg_typeof(geo_lat)::text FROM ayni.edan LIMIT 1"
        ),
        "timestamp with time zone|double precision"
    );

    // an edit, a delete, an addition: the next run writes only those
    hq.ok(&["add", "person", "--key", "gone", "--set", "full_name=Se Va"]);
    hq.json(&["mirror", &url, "--once"]);
    assert_eq!(pg.query("postgres", "SELECT count(*) FROM ayni.person WHERE key = 'gone'"), "1");
    let gone = "gone";
    hq.ok(&["set", "edan:edan-sama-1", "tallies.z1.GAEM-1.dead=4"]);
    hq.ok(&["delete", "person:gone"]);
    hq.ok(&["add", "person", "--key", "nueva", "--set", "full_name=Nueva Persona"]);
    let second = hq.json(&["mirror", &url, "--once"]);
    assert_eq!((second["records"].as_u64(), second["deleted"].as_u64()), (Some(2), Some(1)), "{second}");
    assert_eq!(
        pg.query(
            "postgres",
            &format!("SELECT dead FROM ayni.edan_tallies WHERE record_id = '{id}' AND zone = 'z1' AND team = 'GAEM-1'")
        ),
        "4"
    );
    assert_eq!(pg.query("postgres", &format!("SELECT count(*) FROM ayni.person WHERE key = '{gone}'")), "0");
    assert_eq!(pg.query("postgres", "SELECT full_name FROM ayni.person WHERE key = 'nueva'"), "Nueva Persona");
    situation_matches_report(&hq, &pg, "edan:edan-sama-1");
    assert_eq!(mirrored_counts(&pg), counts(&hq));
    // again: nothing to do, nothing doubled
    let third = hq.json(&["mirror", &url, "--once"]);
    assert_eq!(third["records"], 0, "{third}");

    // a conflict made on two laptops shows in the mirror; its resolution too
    {
        let s = hq.serve();
        a.json(&["sync", &s.addr]);
        b.json(&["sync", &s.addr]);
    }
    a.ok(&["set", "mission:ac-sama-after", "participants_count=9"]);
    b.ok(&["set", "mission:ac-sama-after", "participants_count=12"]);
    {
        let s = hq.serve();
        a.json(&["sync", &s.addr]);
        b.json(&["sync", &s.addr]);
    }
    hq.json(&["mirror", &url, "--once"]);
    let mission = hq.json(&["get", "mission:ac-sama-after"]);
    assert_eq!(mission["conflicts"], 1);
    assert_eq!(
        pg.query("postgres", "SELECT conflicts, participants_count FROM ayni.mission WHERE key = 'ac-sama-after'"),
        format!("1|{}", mission["fields"]["participants_count"])
    );
    hq.ok(&["resolve", "mission:ac-sama-after", "participants_count", "12"]);
    hq.json(&["mirror", &url, "--once"]);
    assert_eq!(
        pg.query("postgres", "SELECT conflicts, participants_count FROM ayni.mission WHERE key = 'ac-sama-after'"),
        "0|12"
    );
    // the bookkeeping: one node, its feed position, the migrations applied
    let position = hq
        .ok(&["watch", "--json"])
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|c| c["position"].as_u64().unwrap())
        .max()
        .unwrap();
    assert_eq!(
        pg.query("postgres", "SELECT node_id, position FROM ayni_mirror.state"),
        format!("{}|{position}", hq.json(&["id"])["node_id"].as_str().unwrap())
    );
    assert_eq!(
        pg.query("postgres", "SELECT string_agg(version::text, ',' ORDER BY version) FROM ayni_mirror.migrations"),
        "1,2"
    );
}

#[test]
fn a_live_mirror_follows_a_serving_node_and_survives_kill_9() {
    let pg = Postgres::start();
    let url = pg.url("postgres");
    let (hq, _) = network(0);
    hq.ok(&["seed"]);
    let served = hq.serve();
    let start_mirror =
        || hq.cmd(&["mirror", &url]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn mirror");
    let mut mirror = start_mirror();
    wait_for("the initial load", || {
        pg.query("postgres", "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ayni_mirror' AND table_name = 'state'") == "1"
            && mirrored_counts(&pg) == counts(&hq)
    });
    // live: a write through the serving node reaches PostgreSQL
    hq.ok(&["add", "person", "--key", "live-1", "--set", "full_name=En Vivo"]);
    wait_for("a live write", || pg.query("postgres", "SELECT count(*) FROM ayni.person WHERE key = 'live-1'") == "1");
    hq.ok(&["delete", "person:live-1"]);
    wait_for("a live delete", || pg.query("postgres", "SELECT count(*) FROM ayni.person WHERE key = 'live-1'") == "0");
    // kill -9 while writes arrive; what was written meanwhile arrives after a restart
    for i in 0..20 {
        hq.ok(&["add", "person", "--key", &format!("burst-{i}"), "--set", &format!("full_name=Ráfaga {i}")]);
        if i == 10 {
            mirror.kill().unwrap();
            mirror.wait().unwrap();
        }
    }
    let mut mirror = start_mirror();
    wait_for("the catch-up after kill -9", || mirrored_counts(&pg) == counts(&hq));
    assert_eq!(pg.query("postgres", "SELECT count(*) FROM ayni.person WHERE key LIKE 'burst-%'"), "20");
    // a second mirror on the same database is refused while one runs
    let busy = hq.fails(&["mirror", &url, "--once"], 2);
    assert!(busy.contains("another `ayni mirror` is writing to this database"), "{busy}");
    mirror.kill().unwrap();
    mirror.wait().unwrap();
    drop(served);
}

#[test]
fn kill_9_during_the_initial_load_resumes_with_nothing_missing_or_doubled() {
    let pg = Postgres::start();
    let url = pg.url("postgres");
    let hq = Ayni::new("hq");
    hq.ok(&["seed"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.jsonl");
    let lines: Vec<String> = (0..20000).map(|i| format!(r#"{{"key":"p{i}","full_name":"Persona {i}"}}"#)).collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    hq.ok(&["import", "person", file.to_str().unwrap()]);
    let mut killed_midway = false;
    let position = || {
        let tables = pg.query("postgres", "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ayni_mirror' AND table_name = 'state'");
        if tables == "1" {
            pg.query("postgres", "SELECT position FROM ayni_mirror.state").parse::<u64>().unwrap()
        } else {
            0
        }
    };
    for _ in 0..5 {
        // kill -9 as soon as the first batch has committed
        let mut mirror =
            hq.cmd(&["mirror", &url, "--once"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        while mirror.try_wait().unwrap().is_none() && position() == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        mirror.kill().unwrap();
        mirror.wait().unwrap();
        let people: u64 = pg.query("postgres", "SELECT count(*) FROM ayni.person").parse().unwrap();
        if position() > 0 && people < 20000 {
            killed_midway = true;
            break;
        }
        pg.query("postgres", "DROP SCHEMA IF EXISTS ayni CASCADE; DROP SCHEMA IF EXISTS ayni_mirror CASCADE");
    }
    assert!(killed_midway, "no kill landed during the load");
    hq.json(&["mirror", &url, "--once"]);
    assert_eq!(mirrored_counts(&pg), counts(&hq));
    assert_eq!(
        pg.query("postgres", "SELECT count(DISTINCT key), count(*) FROM ayni.person"),
        format!("{0}|{0}", counts(&hq).iter().find(|(k, _)| k == "person").unwrap().1)
    );
}

#[test]
fn bad_connections_refusing_databases_and_hand_altered_tables_are_clear_errors() {
    let pg = Postgres::start();
    let hq = Ayni::new("hq");
    hq.ok(&["seed"]);
    let before = hq.ok(&["watch", "--json"]);
    let e = hq.fails(&["mirror", "postgres://x@h:notaport/db"], 2);
    assert!(e.contains("connection string is malformed"), "{e}");
    let e = hq.fails(&["mirror", "postgres://postgres@127.0.0.1:1/postgres", "--once"], 1);
    assert!(e.contains("cannot connect to PostgreSQL at 127.0.0.1:1/postgres"), "{e}");
    let e = hq.fails(&["mirror", &pg.url("nosuchdb"), "--once"], 1);
    assert!(e.contains("database \"nosuchdb\" does not exist"), "{e}");
    // a database that refuses writes (a read-only role)
    pg.query("postgres", "CREATE ROLE reader LOGIN");
    pg.query("postgres", "CREATE DATABASE ro");
    pg.query("ro", "REVOKE CREATE ON DATABASE ro FROM PUBLIC; REVOKE CREATE ON SCHEMA public FROM PUBLIC");
    let e = hq.fails(&["mirror", &format!("postgres://reader@127.0.0.1:{}/ro", pg.port), "--once"], 1);
    assert!(e.contains("PostgreSQL refused creating schema ayni_mirror: permission denied"), "{e}");
    hq.json(&["mirror", &pg.url("postgres"), "--once"]);
    pg.query("postgres", DROP_VIEWS);
    pg.query("postgres", "ALTER TABLE ayni.edan_tallies ALTER COLUMN dead TYPE text");
    hq.ok(&["set", "edan:edan-sama-1", "tallies.z1.GAEM-1.dead=5"]);
    let e = hq.fails(&["mirror", &pg.url("postgres"), "--once"], 2);
    assert!(
        e.contains("table ayni.edan_tallies was altered by hand: column dead is text, the mirror made it int8"),
        "{e}"
    );
    pg.query("postgres", "ALTER TABLE ayni.edan_tallies ALTER COLUMN dead TYPE bigint USING dead::bigint; ALTER TABLE ayni.person ADD COLUMN mine text");
    let e = hq.fails(&["mirror", &pg.url("postgres"), "--once"], 2);
    assert!(e.contains("table ayni.person was altered by hand: column mine was added"), "{e}");
    // another node's mirror
    pg.query("postgres", "ALTER TABLE ayni.person DROP COLUMN mine");
    let other = Ayni::new("other");
    let e = other.fails(&["mirror", &pg.url("postgres"), "--once"], 2);
    assert!(e.contains("this database mirrors node"), "{e}");
    // the node is as it was, but for the one edit made here
    let after: Vec<String> = hq.ok(&["watch", "--json"]).lines().map(String::from).collect();
    assert_eq!(after.len(), before.lines().count());
}

#[test]
fn a_schema_change_migrates_the_tables_and_reloads_every_row() {
    let pg = Postgres::start();
    let hq = Ayni::new("hq");
    hq.ok(&["seed"]);
    hq.json(&["mirror", &pg.url("postgres"), "--once"]);
    pg.query("postgres", DROP_VIEWS);
    // the mirror of an older build: one column fewer, one the schemas no longer have
    pg.query(
        "postgres",
        "ALTER TABLE ayni.edan_tallies DROP COLUMN missing; DELETE FROM ayni_mirror.columns WHERE table_name = 'edan_tallies' AND column_name = 'missing';
         ALTER TABLE ayni.person ADD COLUMN nickname text; INSERT INTO ayni_mirror.columns VALUES ('person', 'nickname', 'text', 'nickname text', 99);
         UPDATE ayni.edan_tallies SET note = 'stale'",
    );
    let out = hq.cmd(&["--json", "mirror", &pg.url("postgres"), "--once"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("+ edan_tallies.missing") && said.contains("- person.nickname"), "{said}");
    assert_eq!(pg.query("postgres", "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'ayni' AND table_name = 'person' AND column_name = 'nickname'"), "0");
    assert_eq!(
        pg.query("postgres", "SELECT count(*) FROM ayni.edan_tallies WHERE note = 'stale'"),
        "0",
        "every row reloaded"
    );
    assert_eq!(pg.query("postgres", "SELECT max(version) FROM ayni_mirror.migrations"), "3");
    assert_eq!(mirrored_counts(&pg), counts(&hq));
}

#[test]
fn points_are_postgis_geometry_where_the_database_has_it_and_numbers_where_not() {
    let pg = Postgres::start();
    let hq = Ayni::new("hq");
    hq.ok(&["seed"]);
    let geometry_columns = |db: &str| {
        pg.query(
            db,
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'ayni' AND udt_name = 'geometry'",
        )
    };
    // a role that may not create PostGIS, in its own database: numbers only
    pg.query("postgres", "CREATE ROLE plain LOGIN");
    pg.query("postgres", "CREATE DATABASE plain OWNER plain");
    let plain = format!("postgres://plain@127.0.0.1:{}/plain", pg.port);
    let out = hq.cmd(&["--json", "mirror", &plain, "--once"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("no PostGIS") && said.contains("permission denied to create extension"), "{said}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["postgis"].is_null(), "{v}");
    assert_eq!(geometry_columns("plain"), "0");
    let zones_with_points = pg.query("plain", "SELECT count(*) FROM ayni.edan_zones WHERE geo_lat IS NOT NULL");
    assert_ne!(zones_with_points, "0", "the demo's zones have points");

    // the superuser's database: PostGIS is created and every point is a geometry
    let v = hq.json(&["mirror", &pg.url("postgres"), "--once"]);
    assert!(
        v["postgis"].as_str().is_some_and(|s| s.starts_with('3')),
        "PostGIS 3 is needed here: apt-get install postgresql-15-postgis-3 (.ci/run does); {v}"
    );
    assert_eq!(
        pg.query(
            "postgres",
            "SELECT string_agg(table_name || '.' || column_name, ',' ORDER BY table_name, column_name) \
             FROM information_schema.columns WHERE table_schema = 'ayni' AND table_name NOT LIKE 'situation%' AND udt_name = 'geometry'"
        ),
        "edan.geo_point,edan_attachments.geo_point,edan_zones.geo_point,entity.geo_point,mission.site_point"
    );
    let agree = "SELECT count(*) FROM ayni.edan_zones WHERE ST_X(geo_point) = geo_lon AND ST_Y(geo_point) = geo_lat AND ST_SRID(geo_point) = 4326";
    assert_eq!(pg.query("postgres", agree), zones_with_points);
    assert_eq!(
        pg.query("postgres", "SELECT count(*) FROM ayni.edan_zones WHERE geo_lat IS NULL AND geo_point IS NOT NULL"),
        "0"
    );
    assert_eq!(
        pg.query(
            "postgres",
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'ayni' AND indexname = 'edan_zones_geo_point_gist'"
        ),
        "1"
    );
    // the situation views carry the zone's geometry (a layer in QGIS)
    assert_eq!(
        pg.query("postgres", "SELECT count(*) FROM ayni.situation_zones WHERE geo_point IS NOT NULL"),
        pg.query("postgres", "SELECT count(*) FROM ayni.situation_zones WHERE geo_lat IS NOT NULL"),
    );
    // an edit moves the point; a spatial query finds it where it went
    let zone = pg.query("postgres", "SELECT e.key || '|' || z.zone FROM ayni.edan_zones z JOIN ayni.edan e ON e.id = z.record_id WHERE z.geo_lat IS NOT NULL ORDER BY 1 LIMIT 1");
    let (edan, zone) = zone.split_once('|').unwrap();
    hq.ok(&[
        "set",
        &format!("edan:{edan}"),
        &format!("zones.{zone}.geo.lat=-17.25"),
        &format!("zones.{zone}.geo.lon=-66.5"),
    ]);
    hq.json(&["mirror", &pg.url("postgres"), "--once"]);
    let near = "SELECT z.zone FROM ayni.edan_zones z WHERE ST_DWithin(z.geo_point::geography, ST_SetSRID(ST_MakePoint(-66.5, -17.25), 4326)::geography, 1000)";
    assert_eq!(pg.query("postgres", near), zone);
    // PostGIS dropped (its columns with it) where the mirror may create it: back on the next start
    pg.query("postgres", "DROP EXTENSION postgis CASCADE");
    let out = hq.cmd(&["--json", "mirror", &pg.url("postgres"), "--once"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("+ edan_zones.geo_point"));
    assert_eq!(pg.query("postgres", agree), zones_with_points);
    assert_eq!(pg.query("postgres", near), zone);
    assert_eq!(
        pg.query("postgres", "SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'postgis'"),
        "public"
    );

    // PostGIS installed later where the mirror could not: the next start adds the columns
    pg.query("plain", "CREATE EXTENSION postgis");
    let out = hq.cmd(&["--json", "mirror", &plain, "--once"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("+ edan_zones.geo_point"));
    assert_eq!(pg.query("plain", agree), zones_with_points);
    // and dropped again (with its columns): the mirror goes on with numbers
    pg.query("plain", "DROP EXTENSION postgis CASCADE");
    let out = hq.cmd(&["--json", "mirror", &plain, "--once"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no PostGIS"));
    assert_eq!(geometry_columns("plain"), "0");
    assert_eq!(pg.query("plain", "SELECT count(*) FROM ayni_mirror.columns WHERE udt_name = 'geometry'"), "0");
    assert_eq!(mirrored_counts(&pg), counts(&hq));
}

/// A certificate authority and what it signs, as PEM text.
struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { issuer: rcgen::Issuer::new(params, key), pem }
    }

    /// A certificate for `names` (host names or addresses), with `cn` as
    /// its common name: (certificate, key).
    fn sign(&self, names: &[&str], cn: &str) -> (String, String) {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        (params.signed_by(&key, &self.issuer).unwrap().pem(), key.serialize_pem())
    }
}

#[test]
fn tls_to_the_database_follows_libpqs_sslmode() {
    let pg = Postgres::start();
    let hq = Ayni::new("hq");
    hq.ok(&["seed"]);
    let files = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = files.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let ca = Ca::new("Ayni test CA");
    let ca_file = file("ca.pem", &ca.pem);
    let other_ca = file("other-ca.pem", &Ca::new("Someone else").pem);
    let (cert, key) = ca.sign(&["localhost", "127.0.0.1"], "db");
    pg.install("server.crt", &cert);
    pg.install("server.key", &key);
    pg.install("ca.crt", &ca.pem);
    pg.query("postgres", "CREATE ROLE certuser LOGIN");
    pg.query("postgres", "CREATE DATABASE certdb OWNER certuser");
    // TLS or nothing over TCP; certuser proves who it is with a certificate
    pg.reconfigure(
        &[("ssl", "on"), ("ssl_cert_file", "server.crt"), ("ssl_key_file", "server.key"), ("ssl_ca_file", "ca.crt")],
        Some(
            "local all all trust\nhostssl all certuser 127.0.0.1/32 cert\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
        ),
    );
    // the mirror in a home of its own: no ~/.postgresql files
    let mirror = |url: &str| {
        let out = hq.cmd(&["--json", "mirror", url, "--once"]).env("HOME", files.path()).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let base = pg.url("postgres");
    let (code, e) = mirror(&format!("{base}?sslmode=disable"));
    assert_eq!(code, Some(1), "{e}");
    assert!(e.contains("no encryption"), "without TLS the server refuses: {e}");
    // prefer (the default) and require: encrypted, certificate not checked
    for url in [base.clone(), format!("{base}?sslmode=require")] {
        let (code, e) = mirror(&url);
        assert_eq!(code, Some(0), "{url}: {e}");
    }
    let full = format!("{base}?sslmode=verify-full&sslrootcert={ca_file}");
    assert_eq!(mirror(&full).0, Some(0));
    let (code, e) = mirror(&format!("{base}?sslmode=verify-full&sslrootcert={other_ca}"));
    assert_eq!(code, Some(1), "{e}");
    assert!(e.contains("invalid peer certificate") && e.contains("UnknownIssuer"), "{e}");
    // require with a CA checks the chain, as libpq does
    let (code, e) = mirror(&format!("{base}?sslmode=require&sslrootcert={other_ca}"));
    assert!(code == Some(1) && e.contains("UnknownIssuer"), "{e}");
    // settings that cannot work are the user's to fix (exit 2), before connecting
    let (code, e) = mirror(&format!("{base}?sslmode=verify-ca"));
    assert!(code == Some(2) && e.contains("sslrootcert=FILE"), "{e}");
    let (code, e) = mirror(&format!("{base}?sslmode=verify-full&sslrootcert=/no/such/ca.pem"));
    assert!(code == Some(2) && e.contains("/no/such/ca.pem"), "{e}");
    let (code, e) = mirror(&format!("{base}?sslmode=sometimes"));
    assert!(code == Some(2) && e.contains("sslmode=sometimes"), "{e}");
    let (code, e) = mirror(&format!("{base}?sslmode=verify-full&sslrootcert={ca_file}&sslcert={ca_file}"));
    assert!(code == Some(2) && e.contains("sslkey"), "{e}");
    // the same in key=value form
    let pairs = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert='{ca_file}'",
        pg.port
    );
    assert_eq!(mirror(&pairs).0, Some(0));

    // a client certificate
    let (client_cert, client_key) = ca.sign(&[], "certuser");
    let (cert_file, key_file) = (file("client.crt", &client_cert), file("client.key", &client_key));
    let certdb = format!("postgres://certuser@127.0.0.1:{}/certdb?sslmode=verify-full&sslrootcert={ca_file}", pg.port);
    let (code, e) = mirror(&certdb);
    assert!(code == Some(1) && e.contains("certificate"), "{e}");
    let (code, e) = mirror(&format!("{certdb}&sslcert={cert_file}&sslkey={key_file}"));
    assert_eq!(code, Some(0), "{e}");
    assert_eq!(pg.query("certdb", "SELECT count(*) > 0 FROM ayni.edan"), "t");

    // a server certificate for another name: verify-full refuses, verify-ca takes it
    let (cert, key) = ca.sign(&["db.example"], "db");
    pg.install("server.crt", &cert);
    pg.install("server.key", &key);
    pg.reconfigure(&[], None);
    let (code, e) = mirror(&full);
    assert!(code == Some(1) && e.contains("invalid peer certificate") && e.contains("name"), "{e}");
    let (code, e) = mirror(&format!("{base}?sslmode=verify-ca&sslrootcert={ca_file}"));
    assert_eq!(code, Some(0), "{e}");
    assert_eq!(mirrored_counts(&pg), counts(&hq));
}

#[test]
fn the_cooperation_views_agree_with_the_cooperation_report() {
    let pg = Postgres::start();
    let hq = Ayni::new("hq");
    hq.ok(&["seed"]);
    // follow-ups overdue, due, done and unscheduled; staff certified, enrolled, dropped
    let id = |r: &str| hq.json(&["get", r])["id"].as_str().unwrap().to_string();
    let practice = hq.json(&["get", "mission:ac-rec-ta"])["fields"]["practice_ids"][0].as_str().unwrap().to_string();
    let follow_ups = serde_json::json!({
        "f1": {"kind": "transfer_to_job", "due_at": "2020-01-01", "status": "scheduled", "feeds_back_to_practice_id": practice},
        "f2": {"kind": "methodological", "due_at": "2099-01-01"},
        "f3": {"kind": "strategic", "due_at": "2019-01-01", "done_at": "2019-02-01", "status": "done"},
        "f4": {"kind": "funder_reporting"},
    });
    hq.ok(&["set", "mission:ac-rec-ta", &format!("follow_ups={follow_ups}")]);
    hq.ok(&["add", "person", "--key", "p1", "--set", "full_name=Ana Roca"]);
    let (person, trinidad) = (id("person:p1"), id("entity:e-trinidad"));
    let enrollments = serde_json::json!({
        "e1": {"person_id": person, "home_entity_id": trinidad, "status": "certified"},
        "e2": {"person_id": person, "home_entity_id": trinidad, "status": "enrolled"},
        "e3": {"person_id": person, "home_entity_id": trinidad, "status": "dropped"},
        "e4": {"person_id": person, "status": "completed"},
    });
    hq.ok(&["set", "course:c-ati", &format!("enrollments={enrollments}")]);
    hq.json(&["mirror", &pg.url("postgres"), "--once"]);
    let report = hq.json(&["report", "cooperation", "--format", "json"]);
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // the report's `section`, its `fields` of each line, sorted, against the view's rows
    let agree = |section: &str, fields: &[&str], sql: &str| {
        let mut want: Vec<Vec<String>> = report[section]
            .as_array()
            .unwrap()
            .iter()
            .map(|line| fields.iter().map(|f| text(&line[*f])).collect())
            .collect();
        assert!(!want.is_empty(), "{section}");
        want.sort();
        let got: Vec<Vec<String>> =
            pg.query("postgres", sql).lines().map(|l| l.split('|').map(String::from).collect()).collect();
        assert_eq!(got, want, "{section}");
    };
    agree(
        "requests",
        &["key", "state", "stage"],
        "SELECT key, state, coalesce(stage, '') FROM ayni.cooperation_requests ORDER BY key",
    );
    agree(
        "agreements",
        &["key", "status", "days_left"],
        "SELECT key, state, coalesce(days_left::text, '') FROM ayni.cooperation_agreements ORDER BY key",
    );
    agree(
        "follow_ups",
        &["mission", "item_id", "standing", "feeds_back_to"],
        "SELECT mission_key, item_id, standing, coalesce(feeds_back_to_practice_key, '') FROM ayni.cooperation_follow_ups ORDER BY 1, 2",
    );
    agree(
        "trained",
        &["entity", "course", "enrolled", "trained"],
        "SELECT entity_key, course_key, enrolled, trained FROM ayni.cooperation_trained ORDER BY 1, 2",
    );
    // a row written while an agreement was active reads as expired once
    // its date has passed: the state is named from the date, today
    let signed = pg.query("postgres", "SELECT key FROM ayni.agreement WHERE status = 'active' ORDER BY key LIMIT 1");
    assert!(!signed.is_empty(), "the demo has an active agreement");
    pg.query(
        "postgres",
        &format!("UPDATE ayni.agreement SET valid_until = (now() AT TIME ZONE 'UTC')::date - 1 WHERE key = '{signed}'"),
    );
    assert_eq!(
        pg.query(
            "postgres",
            &format!("SELECT state, days_left FROM ayni.cooperation_agreements WHERE key = '{signed}'")
        ),
        "expired|-1"
    );
    pg.query(
        "postgres",
        &format!(
            "UPDATE ayni.agreement SET valid_until = (now() AT TIME ZONE 'UTC')::date + 30 WHERE key = '{signed}'"
        ),
    );
    assert_eq!(
        pg.query("postgres", &format!("SELECT state FROM ayni.cooperation_agreements WHERE key = '{signed}'")),
        "expiring"
    );
}
