//! The OpenAPI document against the node that serves it: schemathesis
//! (from PyPI, pinned and installed by `scripts/test`) generates requests
//! for every route from the document alone — valid ones and not — against a
//! serving node with the demo data, and checks every answer: no 5xx, no
//! status and no content type the document does not declare, no body off
//! its declared schema. The two revoke routes are left out: a generated
//! name could revoke the very token the run authenticates with.

mod support;

use std::process::Command;

use support::network;

#[test]
fn schemathesis_finds_every_answer_declared_and_no_server_error() {
    // scripts/test puts it in target/schemathesis and names it
    let st = std::env::var("AYNI_SCHEMATHESIS").unwrap_or_else(|_| {
        let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/schemathesis/bin/st");
        if venv.exists() {
            venv.to_string_lossy().into_owned()
        } else {
            "st".to_string()
        }
    });
    let version = Command::new(&st).arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "schemathesis ({st}) is missing: scripts/test installs it (python3 -m pip install schemathesis==4.32.5)"
    );
    let (hq, _) = network(0);
    hq.ok(&["seed"]);
    let token = hq.json(&["client", "add", "panel", "--role", "hq"])["token"].as_str().unwrap().to_string();
    let s = hq.serve_with(&["--http", "127.0.0.1:0"]);
    let http = s.http.clone().unwrap();
    // schemathesis keeps a cache where it runs: in a scratch directory, not the checkout
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new(&st)
        .current_dir(scratch.path())
        .args(["run", &format!("http://{http}/api/v1/openapi.json")])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", "50", "--generation-deterministic", "--exclude-path-regex", "/revoke$"])
        .args(["--no-color"])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .output()
        .expect("run schemathesis");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found answers off the OpenAPI document:\n{report}");
    assert!(report.contains("passed"), "{report}");
    s.stop();
}
