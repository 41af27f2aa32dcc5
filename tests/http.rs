//! The HTTP API of a serving node (`ayni serve --http`), through a real
//! socket: the same answers as the CLI, client tokens and their roles, and
//! the bad-input corpus (the documented status, a clear message, nothing
//! written).

mod support;

use serde_json::{json, Value};
use support::http::{request, Response};
use support::{heads, network, Ayni, Served};

fn serve_http(node: &Ayni) -> (Served, String) {
    let s = node.serve_with(&["--http", "127.0.0.1:0"]);
    let http = s.http.clone().expect("the HTTP address");
    (s, http)
}

fn token(node: &Ayni, name: &str, role: &str, extra: &[&str]) -> String {
    let mut args = vec!["client", "add", name, "--role", role];
    args.extend_from_slice(extra);
    node.json(&args)["token"].as_str().unwrap().to_string()
}

fn get(http: &str, path: &str, t: &str) -> Response {
    request(http, "GET", path, Some(t), None)
}

fn send(http: &str, method: &str, path: &str, t: &str, body: &Value) -> Response {
    request(http, method, path, Some(t), Some(body.to_string().as_bytes()))
}

#[test]
fn the_api_answers_as_the_cli_does_and_its_writes_sync_as_the_nodes_own() {
    let (hq, field) = network(1);
    let a = &field[0];
    hq.ok(&["seed"]);
    let hq_token = token(&hq, "panel", "hq", &[]);
    let (s, http) = serve_http(&hq);

    let health = request(&http, "GET", "/healthz", None, None);
    assert_eq!((health.status, health.json()), (200, json!({"status": "ok"})));
    for (path, cli) in [
        ("/api/v1/records/practice", vec!["list", "practice"]),
        ("/api/v1/records/edan/edan-sama-1", vec!["get", "edan:edan-sama-1"]),
        ("/api/v1/records/edan/edan-sama-1/report", vec!["report", "edan:edan-sama-1"]),
        ("/api/v1/records/team/GAEM-1/history", vec!["history", "team:GAEM-1"]),
        ("/api/v1/conflicts", vec!["conflicts"]),
        ("/api/v1/peers", vec!["peers"]),
    ] {
        let r = get(&http, path, &hq_token);
        assert_eq!(r.status, 200, "{path}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json(), hq.json(&cli), "{path} differs from `ayni {cli:?} --json`");
    }
    let filtered = get(&http, "/api/v1/records/mission?where=status%3Dcompleted&limit=2&offset=1", &hq_token).json();
    let all: Vec<Value> = hq.json(&["list", "mission", "--where", "status=completed"]).as_array().unwrap().clone();
    assert_eq!(filtered.as_array().unwrap(), &all[1..3]);
    let status = get(&http, "/api/v1/status", &hq_token).json();
    assert_eq!(status["records"]["practice"], 29);

    // create, edit, move and delete through the API; the CLI sees each
    let created =
        send(&http, "POST", "/api/v1/records/person", &hq_token, &json!({"key": "ana", "full_name": "Ana Mamani"}));
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    assert_eq!(created.header("location"), Some("/api/v1/records/person/ana"));
    assert_eq!(created.json(), hq.json(&["get", "person:ana"]));
    let edited = send(
        &http,
        "PATCH",
        "/api/v1/records/person/ana",
        &hq_token,
        &json!({"set": {"position": "técnica", "ci": "4455667-LP"}}),
    );
    assert_eq!(edited.status, 200, "{}", String::from_utf8_lossy(&edited.body));
    assert_eq!(hq.json(&["get", "person:ana"])["fields"]["position"], "técnica");
    let unset = send(&http, "PATCH", "/api/v1/records/person/ana", &hq_token, &json!({"unset": ["ci"]}));
    assert_eq!(unset.status, 200);
    assert!(hq.json(&["get", "person:ana"])["fields"].get("ci").is_none());
    let moved = send(
        &http,
        "POST",
        "/api/v1/records/request/rq-2012-offer/transition",
        &hq_token,
        &json!({"state": "closed", "note": "cierre"}),
    );
    assert_eq!((moved.status, moved.json()["status"].clone()), (200, json!("closed")));
    let history = hq.json(&["history", "person:ana"]);
    assert!(history.to_string().contains("(client panel)"), "history names the client: {history}");

    // a field client writes its own team's tallies, nothing else
    let campo = token(&hq, "campo", "field", &["--team", "GAEM-1"]);
    let mine = send(
        &http,
        "PATCH",
        "/api/v1/records/edan/edan-sama-1",
        &campo,
        &json!({"set": {"tallies.z1.GAEM-1.injured": 4}}),
    );
    assert_eq!(mine.status, 200, "{}", String::from_utf8_lossy(&mine.body));
    let theirs = send(
        &http,
        "PATCH",
        "/api/v1/records/edan/edan-sama-1",
        &campo,
        &json!({"set": {"tallies.z1.GAEM-2.injured": 4}}),
    );
    assert_eq!(theirs.status, 403);
    assert!(theirs.json()["error"]["message"].as_str().unwrap().contains("GAEM-2"));

    // what the API wrote is HQ's own signed change: a field node admits it
    a.json(&["sync", &s.addr]);
    assert_eq!(a.json(&["get", "person:ana"])["fields"]["position"], "técnica");
    assert_eq!(a.json(&["get", "edan:edan-sama-1"])["fields"]["tallies"]["z1"]["GAEM-1"]["injured"], 4);
    assert_eq!(a.json(&["audit"]).as_array().unwrap().len(), 0);

    // the OpenAPI document describes exactly the routes served
    let doc = request(&http, "GET", "/api/v1/openapi.json", None, None).json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 12, "{}", paths.len());
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            if path.ends_with("/changes") {
                continue; // a stream: checked in its own test
            }
            let concrete = path
                .replace("{kind}/{key}/report", "edan/edan-sama-1/report")
                .replace("{kind}", "team")
                .replace("{key}", "GAEM-1");
            let body = (method != "get" && method != "delete").then_some(&b"{}"[..]);
            let r = request(&http, &method.to_uppercase(), &concrete, Some(&hq_token), body);
            let text = String::from_utf8_lossy(&r.body);
            assert!(
                r.status != 405 && !text.contains("no such endpoint"),
                "{method} {path} documented, not served: {text}"
            );
        }
    }
    let schema = request(&http, "GET", "/api/v1/schemas/edan", None, None).json();
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/edan.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(schema, shipped, "the node serves the schemas it validates with");
    assert_eq!(request(&http, "GET", "/api/v1/schemas/spaceship", None, None).status, 404);

    let err = a.fails(&["client", "add", "boss", "--role", "hq"], 2);
    assert!(err.contains("never more than its node's"), "{err}");

    let deleted = request(&http, "DELETE", "/api/v1/records/person/ana", Some(&hq_token), None);
    assert_eq!((deleted.status, deleted.json()["deleted"].clone()), (200, json!(true)));
}

#[test]
fn the_change_feed_follows_every_write_as_it_lands_and_resumes_from_a_position() {
    let (hq, field) = network(1);
    let a = &field[0];
    hq.ok(&["seed"]);
    let t = token(&hq, "panel", "read", &[]);
    let (s, http) = serve_http(&hq);
    // the backlog, whole, in position order
    let backlog = hq.ok(&["--json", "watch", "--once"]);
    let positions: Vec<u64> =
        backlog.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["position"].as_u64().unwrap()).collect();
    assert!(positions.len() >= 113 && positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    let last = *positions.last().unwrap();
    // follow from the end: a local write, an API write and a synced one arrive
    let follower = {
        let (http, t) = (http.clone(), t.clone());
        std::thread::spawn(move || {
            support::http::stream_until(
                &http,
                &format!("/api/v1/changes?since={last}&kind=person"),
                &t,
                std::time::Duration::from_secs(20),
                |text| text.matches("event: change").count() >= 3,
            )
        })
    };
    let watcher = hq
        .cmd(&["--json", "watch", "person", "--since", &last.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    hq.add(&["person", "--key", "local", "--set", "full_name=Local"]);
    let hq_token = token(&hq, "writer", "hq", &[]);
    let r = send(&http, "POST", "/api/v1/records/person", &hq_token, &json!({"key": "api", "full_name": "Api"}));
    assert_eq!(r.status, 201);
    a.add(&["person", "--key", "synced", "--set", "full_name=Synced"]);
    a.json(&["sync", &s.addr]);
    let (status, text) = follower.join().unwrap();
    assert!(status.contains("200"), "{status}");
    for key in ["\"local\"", "\"api\"", "\"synced\""] {
        assert!(text.contains(key), "{key} missing from the feed:\n{text}");
    }
    assert!(!text.contains("\"kind\":\"team\""), "the kind filter holds");
    // `ayni watch` through the serving node saw the same three
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = std::process::Command::new("kill").arg(watcher.id().to_string()).status();
    let out = watcher.wait_with_output().unwrap();
    let seen: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"]["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, ["local", "api", "synced"]);
    // resuming from a position (Last-Event-ID) gives what came after it
    let first_id: u64 = text.lines().find_map(|l| l.strip_prefix("id: ")).unwrap().trim().parse().unwrap();
    let (_, again) = support::http::stream_until(
        &http,
        &format!("/api/v1/changes?since={first_id}"),
        &t,
        std::time::Duration::from_secs(5),
        |text| text.matches("event: change").count() >= 2,
    );
    assert!(!again.contains("\"local\"") && again.contains("\"api\"") && again.contains("\"synced\""), "{again}");
    let bad = request(&http, "GET", "/api/v1/changes?since=soon", Some(&t), None);
    assert_eq!(bad.status, 400);
    let bad = request(&http, "GET", "/api/v1/changes?kind=spaceship", Some(&t), None);
    assert_eq!(bad.status, 404);
    let bad = request(&http, "GET", "/api/v1/changes", None, None);
    assert_eq!(bad.status, 401);
    // revoking a client ends its open stream, idle or not
    let idle = token(&hq, "panel-2", "read", &[]);
    let end = {
        let http = http.clone();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let (status, text) = support::http::stream_until(
                &http,
                "/api/v1/changes?kind=person&since=999999",
                &idle,
                std::time::Duration::from_secs(30),
                |text| text.ends_with("\r\n0\r\n\r\n"),
            );
            (status, text, started.elapsed())
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(800));
    let status = hq.json(&["status"]);
    assert!(status["serving"]["http"]["connections_open"].as_u64().unwrap() >= 1, "the open feed counts: {status}");
    hq.ok(&["client", "revoke", "panel-2"]);
    let (status, text, took) = end.join().unwrap();
    assert!(status.contains("200"), "{status}");
    assert!(text.ends_with("\r\n0\r\n\r\n"), "the stream did not end:\n{text}");
    assert!(took < std::time::Duration::from_secs(10), "the revoked client's stream lasted {took:?}");
}

#[test]
fn off_loopback_the_api_is_https_with_the_certificate_status_names() {
    let (hq, _) = network(0);
    let t = token(&hq, "panel", "read", &[]);
    let s = hq.serve_with(&["--http", "0.0.0.0:0"]);
    let http = s.http.clone().unwrap();
    let status = hq.json(&["status"]);
    let fingerprint = status["serving"]["http"]["fingerprint"].as_str().expect("a fingerprint").to_string();
    assert!(status["serving"]["http"]["url"].as_str().unwrap().starts_with("https://"), "{status}");
    let r = support::http::request_tls(&http, &fingerprint, "GET", "/api/v1/status", Some(&t)).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["node_id"], status["node_id"]);
    // another certificate is refused by a client that pinned this one
    let wrong = fingerprint.replacen(&fingerprint[..2], if &fingerprint[..2] == "00" { "01" } else { "00" }, 1);
    assert!(support::http::request_tls(&http, &wrong, "GET", "/healthz", None).is_err());
    // plain HTTP gets no answer from the TLS port
    let mut plain = std::net::TcpStream::connect(&http).unwrap();
    use std::io::{Read, Write};
    plain.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let _ = plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = vec![];
    let _ = plain.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    // the same certificate on the next start, its key readable by the owner only
    drop(s);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(hq.home().join("https.key")).unwrap().permissions().mode() & 0o777, 0o600);
    let _s = hq.serve_with(&["--http", "0.0.0.0:0"]);
    assert_eq!(hq.json(&["status"])["serving"]["http"]["fingerprint"], fingerprint.as_str());
    // plain HTTP off loopback only when asked for, at the user's risk
    drop(_s);
    let s = hq.serve_with(&["--http", "0.0.0.0:0", "--http-insecure"]);
    let r = request(s.http.as_ref().unwrap(), "GET", "/healthz", None, None);
    assert_eq!(r.status, 200);
}

#[test]
fn bad_input_gets_its_documented_status_a_clear_message_and_writes_nothing() {
    let (hq, _) = network(0);
    hq.ok(&["seed"]);
    let hq_token = token(&hq, "panel", "hq", &[]);
    let read_token = token(&hq, "lector", "read", &[]);
    let field_token = token(&hq, "campo", "field", &["--team", "GAEM-1"]);
    let revoked = token(&hq, "perdido", "hq", &[]);
    hq.ok(&["client", "revoke", "perdido"]);
    let expired = token(&hq, "vencido", "hq", &["--expires", "1s"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let last = if hq_token.ends_with('x') { "y" } else { "x" };
    let forged = format!("{}{last}", &hq_token[..hq_token.len() - 1]);
    // the CLI side of tokens
    assert!(hq.fails(&["client", "add", "x", "--role", "admin"], 2).contains("unknown client role"));
    assert!(hq.fails(&["client", "add", "panel", "--role", "read"], 2).contains("exists"));
    assert!(hq.fails(&["client", "add", "bad name", "--role", "read"], 2).contains("not a client name"));
    assert!(hq.fails(&["client", "add", "y", "--role", "read", "--expires", "soon"], 2).contains("not a duration"));
    assert!(hq.fails(&["client", "add", "z", "--role", "field", "--team", "GAEM-9"], 2).contains("unknown team"));
    assert!(hq.fails(&["client", "revoke", "nobody"], 2).contains("nobody"));
    let listed = hq.json(&["client", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 5, "{listed}");
    assert!(!listed.to_string().contains("sha256"), "{listed}");
    let err = hq.fails(
        &[
            "serve",
            "--no-mdns",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent.pem",
            "--tls-key",
            "/nonexistent.key",
        ],
        2,
    );
    assert!(err.contains("/nonexistent.pem"), "{err}");
    let before = heads(&hq);
    let (served, http) = serve_http(&hq);

    let huge = format!("{{\"key\": \"big\", \"full_name\": \"{}\"}}", "x".repeat(8 * 1024 * 1024));
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let person = "/api/v1/records/person";
    // a valid practice, which only hq may create (catalogue)
    let mut practice = hq.json(&["get", "practice:BP-GIRD"])["fields"].clone();
    practice["key"] = json!("BP-NEW");
    practice["code"] = json!("BP-NEW");
    let practice = practice.to_string().into_bytes();
    let cases: Vec<(&str, &str, String, Option<&str>, Option<Vec<u8>>, u16, &str)> = vec![
        ("malformed JSON", "POST", person.into(), Some(&hq_token), Some(b"{\"key\": ".to_vec()), 400, "bad_request"),
        ("not an object", "POST", person.into(), Some(&hq_token), Some(b"[1, 2]".to_vec()), 400, "bad_request"),
        (
            "a wrong type",
            "POST",
            person.into(),
            Some(&hq_token),
            Some(br#"{"key": "p1", "full_name": 7}"#.to_vec()),
            400,
            "invalid",
        ),
        (
            "an unknown field",
            "POST",
            person.into(),
            Some(&hq_token),
            Some(br#"{"key": "p2", "full_name": "P", "shoe_size": 44}"#.to_vec()),
            400,
            "invalid",
        ),
        (
            "a bad key",
            "POST",
            person.into(),
            Some(&hq_token),
            Some(br#"{"key": "../../etc", "full_name": "P"}"#.to_vec()),
            400,
            "invalid",
        ),
        (
            "an unknown kind",
            "POST",
            "/api/v1/records/spaceship".into(),
            Some(&hq_token),
            Some(br#"{"key": "x"}"#.to_vec()),
            404,
            "unknown_kind",
        ),
        (
            "an unknown kind, read",
            "GET",
            "/api/v1/records/spaceship".into(),
            Some(&hq_token),
            None,
            404,
            "unknown_kind",
        ),
        ("a huge body", "POST", person.into(), Some(&hq_token), Some(huge.into_bytes()), 413, "too_large"),
        ("deep nesting", "POST", person.into(), Some(&hq_token), Some(deep.into_bytes()), 400, "bad_request"),
        (
            "a path trick",
            "GET",
            "/api/v1/records/person/..%2F..%2Fnode.key".into(),
            Some(&hq_token),
            None,
            404,
            "not_found",
        ),
        (
            "a path trick, edit",
            "PATCH",
            "/api/v1/records/person/%2e%2e".into(),
            Some(&hq_token),
            Some(br#"{"set": {"full_name": "x"}}"#.to_vec()),
            404,
            "not_found",
        ),
        ("an unknown record", "GET", "/api/v1/records/person/nobody".into(), Some(&hq_token), None, 404, "not_found"),
        (
            "an empty edit",
            "PATCH",
            "/api/v1/records/team/GAEM-1".into(),
            Some(&hq_token),
            Some(b"{}".to_vec()),
            400,
            "bad_request",
        ),
        (
            "a bad field path",
            "PATCH",
            "/api/v1/records/team/GAEM-1".into(),
            Some(&hq_token),
            Some(br#"{"set": {"a..b": 1}}"#.to_vec()),
            400,
            "malformed",
        ),
        (
            "a bad transition",
            "POST",
            "/api/v1/records/edan/edan-sama-1/transition".into(),
            Some(&hq_token),
            Some(br#"{"state": "nowhere"}"#.to_vec()),
            409,
            "transition",
        ),
        ("a bad query", "GET", "/api/v1/records/practice?limit=-1".into(), Some(&hq_token), None, 400, "bad_request"),
        (
            "an unknown query parameter",
            "GET",
            "/api/v1/records/practice?sort=name".into(),
            Some(&hq_token),
            None,
            400,
            "bad_request",
        ),
        (
            "no token",
            "POST",
            person.into(),
            None,
            Some(br#"{"key": "t1", "full_name": "T"}"#.to_vec()),
            401,
            "unauthorized",
        ),
        (
            "a forged token",
            "POST",
            person.into(),
            Some(&forged),
            Some(br#"{"key": "t2", "full_name": "T"}"#.to_vec()),
            401,
            "unauthorized",
        ),
        (
            "an expired token",
            "POST",
            person.into(),
            Some(&expired),
            Some(br#"{"key": "t3", "full_name": "T"}"#.to_vec()),
            401,
            "unauthorized",
        ),
        (
            "a revoked token",
            "POST",
            person.into(),
            Some(&revoked),
            Some(br#"{"key": "t4", "full_name": "T"}"#.to_vec()),
            401,
            "unauthorized",
        ),
        (
            "a read token writing",
            "POST",
            person.into(),
            Some(&read_token),
            Some(br#"{"key": "t5", "full_name": "T"}"#.to_vec()),
            403,
            "forbidden",
        ),
        (
            "a field token on the catalogue",
            "PATCH",
            "/api/v1/records/practice/BP-GIRD".into(),
            Some(&field_token),
            Some(br#"{"set": {"title_es": "otro"}}"#.to_vec()),
            403,
            "forbidden",
        ),
        (
            "a field token creating catalogue",
            "POST",
            "/api/v1/records/practice".into(),
            Some(&field_token),
            Some(practice),
            403,
            "forbidden",
        ),
        ("no such endpoint", "GET", "/api/v2/records".into(), Some(&hq_token), None, 404, "not_found"),
        (
            "a wrong method",
            "PUT",
            "/api/v1/records/person/x".into(),
            Some(&hq_token),
            Some(b"{}".to_vec()),
            405,
            "method_not_allowed",
        ),
    ];
    for (what, method, path, tok, body, status, kind) in cases {
        let r = request(&http, method, &path, tok, body.as_deref());
        assert_eq!(r.status, status, "{what}: {}", String::from_utf8_lossy(&r.body));
        let e = r.json();
        assert_eq!(e["error"]["kind"], kind, "{what}: {e}");
        let message = e["error"]["message"].as_str().unwrap_or_default();
        assert!(message.len() > 10, "{what}: a message that says what is wrong: {e}");
        assert!(!message.contains("ayc1_"), "{what}: a token in a message: {e}");
    }
    // the invalid field is named
    let r = request(&http, "POST", person, Some(&hq_token), Some(br#"{"key": "p1", "full_name": 7}"#));
    assert_eq!(r.json()["error"]["field"], "full_name", "{}", r.json());
    assert!(!served.log().contains("ayc1_"), "a token in the server's log");
    drop(served);
    assert_eq!(heads(&hq), before, "nothing was written");
}

#[test]
fn a_partners_read_token_sees_the_catalogue_and_what_names_its_entity_only() {
    let (hq, field) = network(1);
    let a = &field[0];
    hq.ok(&["seed"]);
    // a concurrent edit of the EDAN's title: a conflict on a record partners may not read
    let s = hq.serve();
    a.json(&["sync", &s.addr]);
    drop(s);
    hq.ok(&["set", "edan:edan-sama-1", "title=Sama (HQ)"]);
    a.ok(&["set", "edan:edan-sama-1", "title=Sama (campo)"]);
    let s = hq.serve();
    a.json(&["sync", &s.addr]);
    drop(s);
    let all = token(&hq, "panel", "read", &[]);
    let partner = token(&hq, "trinidad", "read", &["--entity", "e-trinidad"]);
    // an entity only narrows a read client, and must be an entity
    let err = hq.fails(&["client", "add", "x", "--role", "field", "--entity", "e-trinidad"], 2);
    assert!(err.contains("--role read"), "{err}");
    let err = hq.fails(&["client", "add", "y", "--role", "read", "--entity", "nowhere"], 2);
    assert!(err.contains("unknown entity 'nowhere'"), "{err}");
    let err = hq.fails(&["client", "add", "z", "--role", "read", "--entity", "practice:BP-MMS"], 2);
    assert!(err.contains("not an entity"), "{err}");
    let (_s, http) = serve_http(&hq);

    let count =
        |t: &str, kind: &str| get(&http, &format!("/api/v1/records/{kind}"), t).json().as_array().unwrap().len();
    assert_eq!(count(&partner, "practice"), count(&all, "practice"), "the catalogue is public to partners");
    assert_eq!(count(&partner, "mission"), 4, "the missions that name Trinidad");
    assert!(count(&all, "mission") > 4);
    assert_eq!(count(&partner, "agreement"), 1);
    assert_eq!(count(&partner, "request"), 1);
    assert_eq!(count(&partner, "edan"), 0);
    assert_eq!(count(&partner, "person"), 0);
    // one record: what it may not read is, to it, unknown
    assert_eq!(get(&http, "/api/v1/records/entity/e-trinidad", &partner).status, 200);
    for path in [
        "/api/v1/records/entity/e-lpz",
        "/api/v1/records/edan/edan-sama-1",
        "/api/v1/records/edan/edan-sama-1/history",
        "/api/v1/records/edan/edan-sama-1/report",
    ] {
        let r = get(&http, path, &partner);
        assert_eq!((r.status, r.json()["error"]["kind"].clone()), (404, json!("not_found")), "{path}");
        assert_eq!(get(&http, path.replace("e-lpz", "e-trinidad").as_str(), &all).status, 200, "{path}");
    }
    // its writes are refused before anything is looked up (no "already
    // exists" to learn from), and the node's own state is not for it
    let r = send(&http, "POST", "/api/v1/records/person", &partner, &json!({"key": "ana", "full_name": "x"}));
    assert_eq!((r.status, r.json()["error"]["kind"].clone()), (403, json!("forbidden")));
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("may only read"), "{:?}", r.json());
    assert_eq!(get(&http, "/api/v1/status", &partner).status, 403);
    assert_eq!(get(&http, "/api/v1/peers", &partner).status, 403);
    assert_eq!(get(&http, "/api/v1/status", &all).status, 200);
    // the EDAN's pending double count is no partner's business
    assert!(!get(&http, "/api/v1/conflicts", &all).json().as_array().unwrap().is_empty());
    assert!(get(&http, "/api/v1/conflicts", &partner).json().as_array().unwrap().is_empty());
    let clients = hq.json(&["client", "list"]);
    let trinidad = clients.as_array().unwrap().iter().find(|c| c["name"] == "trinidad").unwrap();
    assert_eq!(trinidad["entity"], hq.json(&["get", "entity:e-trinidad"])["id"]);
}
