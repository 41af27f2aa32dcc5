//! The API's description: the routes table the router is built from, and
//! the OpenAPI 3.1 document made from that same table
//! (`GET /api/v1/openapi.json`), so the two cannot drift apart.
//!
//! Owns: [`ROUTES`] and [`document`]. Must never: describe a route the
//! router does not serve, or the other way round (both come from
//! [`ROUTES`]).
//!
//! Record fields are not restated here: each kind's JSON Schema from
//! `schemas/` (the files the node validates with, also served at
//! `/api/v1/schemas/{kind}`) becomes a component named after the kind, its
//! `$ref`s rewritten; the kinds are an enum. Every route declares each
//! status and content type it can answer, with a schema (checked by
//! schemathesis in `tests/openapi.rs`).

use axum::routing::MethodRouter;
use serde_json::{json, Map, Value};

use crate::Api;

/// One route: how it is served and how it is described.
pub(crate) struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// What the request body is, if it has one.
    pub body: Option<&'static str>,
    /// The success status and what it answers.
    pub answer: (u16, &'static str),
    /// Whether it needs a client token.
    pub token: bool,
    pub handler: fn() -> MethodRouter<Api>,
}

macro_rules! route {
    ($method:literal, $path:literal, $summary:literal, $body:expr, $answer:expr, $token:literal, $router:expr) => {
        Route {
            method: $method,
            path: $path,
            summary: $summary,
            body: $body,
            answer: $answer,
            token: $token,
            handler: || $router,
        }
    };
}

use axum::routing::{delete, get, patch, post, put};

/// Every route of the API, version 1.
pub(crate) const ROUTES: &[Route] = &[
    route!("get", "/healthz", "Whether the node answers", None, (200, "{\"status\": \"ok\"}"), false, get(crate::healthz)),
    route!("get", "/api/v1/openapi.json", "This document", None, (200, "the OpenAPI 3.1 document"), false, get(crate::openapi)),
    route!("get", "/api/v1/schemas/{kind}", "A kind's JSON Schema (or `common`): the field rules the node validates with", None, (200, "a JSON Schema (2020-12)"), false, get(crate::schema)),
    route!("get", "/api/v1/status", "The node at a glance (`ayni status --json`, without serving details)", None, (200, "the node's status"), true, get(crate::status)),
    route!("get", "/api/v1/peers", "Known peers (`ayni peers --json`)", None, (200, "an array of peers"), true, get(crate::peers)),
    route!("get", "/api/v1/conflicts", "Every record with concurrent values (`ayni conflicts --json`)", None, (200, "an array of records' conflicts"), true, get(crate::conflicts)),
    route!("get", "/api/v1/me", "The client the token stands for: name, role, team, entity, expiry, the node, the URL of its index document, how a record it creates is attributed (`author`, its `created_by`) and the kinds it may create", None, (200, "{\"client\", \"role\", \"team\", \"entity\", \"expires_at\", \"node\": {\"name\", \"id\"}, \"index_url\", \"author\", \"may_create\": [KIND]}"), true, get(crate::me)),
    route!("get", "/api/v1/index", "The client's index document: its automerge URL (`ayni url`) and every record it may read, by kind and key, with URL, title and state — the same lists the document holds for automerge-repo clients", None, (200, "{\"url\": \"automerge:…\", \"scope\": \"all\", \"records\": {KIND: {KEY: {\"url\", \"title\", \"status\"}}}}"), true, get(crate::index)),
    route!("get", "/automerge", "automerge-repo's sync protocol over a WebSocket (version \"1\"), for the official JavaScript and Swift clients; the token in `?token=` (browsers) or the bearer header; records by URL `automerge:<record id>`", None, (101, "a WebSocket"), true, get(crate::ws::upgrade)),
    route!("get", "/api/v1/changes", "The change feed as Server-Sent Events: event `change`, id = position, data {position, record}; query `since` (a position, or `now`), `kind`; header `Last-Event-ID`", None, (200, "text/event-stream"), true, get(crate::changes)),
    route!("get", "/api/v1/records/{kind}", "Live records of a kind (`ayni list KIND --json`); query `where=PATH=VALUE` (repeatable), `offset`, `limit`", None, (200, "an array of records"), true, get(crate::list)),
    route!("post", "/api/v1/records/{kind}", "Create a record from an object shaped like one line of `ayni import` (`key` included)", Some("the record's fields and `key`, per the kind's schema"), (201, "the record; Location names it"), true, post(crate::create)),
    route!("get", "/api/v1/records/{kind}/{key}", "One record (`ayni get KIND:KEY --json`)", None, (200, "the record"), true, get(crate::one)),
    route!("patch", "/api/v1/records/{kind}/{key}", "Set fields in one change, or remove fields", Some("{\"set\": {\"PATH\": VALUE, …}} or {\"unset\": [\"PATH\", …]}"), (200, "the record"), true, patch(crate::edit)),
    route!("delete", "/api/v1/records/{kind}/{key}", "Delete a record (a tombstone that syncs)", None, (200, "the record"), true, delete(crate::remove)),
    route!("post", "/api/v1/records/{kind}/{key}/transition", "Move a record through its lifecycle", Some("{\"state\": \"…\", \"note\": \"…\"}"), (200, "the record"), true, post(crate::transition)),
    route!("get", "/api/v1/records/{kind}/{key}/history", "Every change to a record (`ayni history --json`)", None, (200, "an array of changes"), true, get(crate::history)),
    route!("post", "/api/v1/records/{kind}/{key}/resolve", "Settle a conflict: PATH is a field, `status` or `deleted`", Some("{\"path\": \"…\", \"value\": …}"), (200, "the record"), true, post(crate::resolve)),
    route!("get", "/api/v1/records/{kind}/{key}/report", "The EDAN report (`ayni report --json`; edan records only)", None, (200, "the report"), true, get(crate::report)),
    route!("put", "/api/v1/blobs/{sha256}", "Store a photo or document under its SHA-256 (JPEG, PNG, WebP, HEIC or PDF, sniffed from the bytes; 25 MB by default): refused whole if the bytes hash otherwise; reference it from a record's attachments with a PATCH", Some("the file's bytes (any Content-Type)"), (201, "{\"hash\", \"size\", \"mime\"} (200 if it was here)"), true, put(crate::blobs::put_blob)),
    route!("get", "/api/v1/blobs/{sha256}", "A blob's bytes, verified, as a download; a client bound to an entity gets only blobs its readable records reference", None, (200, "the bytes, Content-Type sniffed"), true, get(crate::blobs::get_blob)),
    route!("get", "/api/v1/reports/event/{key}", "The situation report of an emergency event (`ayni report event KEY`), from the records the client may read; query `format=json` (the default), `html` (one self-contained page) or `md`", None, (200, "the report: JSON, text/html or text/markdown"), true, get(crate::reports::event_report)),
    route!("get", "/api/v1/decisions", "HQ's queue, newest first, a page at a time (`offset`, `limit`: 100 by default; `count` is the whole queue's; hq clients): zones several teams counted (`ayni set edan:KEY accepted.ZONE.team=TEAM` decides), fields with concurrent values with who wrote each and when (`ayni resolve`), amendment proposals (`ayni amendment accept|reject`), EDANs ready to validate or publish (`ayni transition`)", None, (200, "{\"count\", \"decisions\": [{\"type\": \"double_count\"|\"conflict\"|\"amendment\"|\"validate\"|\"publish\", \"at\", \"record\": {\"kind\", \"key\", \"id\", \"title\", \"status\"}, …}]}"), true, get(crate::hq::decisions)),
    route!("get", "/api/v1/audit", "The changes this node refused: who, which record, which rule, when (`ayni audit --json`; hq clients)", None, (200, "an array of refusals"), true, get(crate::hq::audit)),
    route!("get", "/api/v1/clients", "Phone and tablet clients with when each was last heard from and its open connections since `serve` started (`ayni client list --json`; hq clients)", None, (200, "an array of clients"), true, get(crate::hq::clients)),
    route!("post", "/api/v1/clients", "Issue a client token (`ayni client add NAME --role ROLE [--team T] [--entity E] [--expires D] --qr`; hq clients); with `app_url` the answer has the sign-in link and its QR code as SVG", Some("{\"name\", \"role\": \"field\"|\"hq\"|\"read\", \"team\", \"entity\", \"expires\": \"30d\", \"app_url\"}"), (201, "{\"client\", \"token\", \"link\", \"qr_svg\"}"), true, post(crate::hq::add_client)),
    route!("post", "/api/v1/clients/{name}/revoke", "Revoke a client's token (`ayni client revoke NAME`; hq clients)", None, (200, "the client"), true, post(crate::hq::revoke_client)),
    route!("get", "/api/v1/members", "The laptops enrolled in the network: role, teams, last sync with this node, revocation (`ayni network show --json`; hq clients)", None, (200, "an array of laptops"), true, get(crate::hq::members)),
    route!("post", "/api/v1/members", "Enrol a laptop (`ayni enroll NODE_ID --role ROLE --name NAME [--team TEAM]`; hq clients): the token it passes to `ayni join`, and its QR code as SVG", Some("{\"node_id\", \"role\": \"field\"|\"hq\", \"name\", \"team\", \"addr\"}"), (201, "{\"token\", \"node_id\", \"role\", \"label\", \"qr_svg\"}"), true, post(crate::hq::enroll)),
    route!("post", "/api/v1/members/{node_id}/revoke", "Revoke a laptop's membership (`ayni revoke NODE_ID --reason R`; hq clients)", Some("{\"reason\"}"), (200, "{\"node_id\", \"reason\", \"revoked_at\", \"documents_kept\"}"), true, post(crate::hq::revoke_member)),
    route!("post", "/api/v1/records/{kind}/{key}/amendments/{change}", "Accept or reject an amendment proposal to validated figures (`ayni amendment accept|reject KIND:KEY CHANGE`; hq clients)", Some("{\"decision\": \"accept\"|\"reject\"}"), (200, "the record"), true, post(crate::hq::amendment)),
    route!("get", "/api/v1/reports/cooperation", "The cooperation report (`ayni report cooperation`): requests by stage, agreements, missions and results by practice and municipality, follow-ups due and overdue, trained staff, from the records the client may read; query `year`, `format=json|html|md`", None, (200, "the report: JSON, text/html or text/markdown"), true, get(crate::reports::cooperation_report)),
];

/// The error statuses a route may answer, with what they mean; which
/// apply to a route is [`errors_of`]'s.
const ERRORS: &[(u16, &str)] = &[
    (400, "invalid input: malformed JSON, a wrong type, an unknown field, a bad query, a malformed path or ID (kind `bad_request`, `malformed` or `invalid`, `field` named when one is at fault)"),
    (401, "no valid client token: missing, unknown, forged, expired or revoked (kind `unauthorized`)"),
    (403, "the token's role forbids it (kind `forbidden`)"),
    (404, "unknown kind, record or route"),
    (409, "a deleted record, an impossible transition, an ambiguous key, a state of the node that does not allow it (kinds `deleted`, `transition`, `ambiguous`, `precondition`)"),
    (413, "a body over the size limit (a record's, or a blob's)"),
    (415, "a body that is not JSON (`Content-Type: application/json`), or a blob of a type the node does not take"),
];

/// The error statuses `r` may answer.
fn errors_of(r: &Route) -> Vec<u16> {
    let mut out = vec![400, 404];
    if r.token {
        out.extend([401, 403]);
    }
    if r.method != "get" {
        out.push(409);
    }
    if r.body.is_some() || r.method == "put" {
        out.extend([413, 415]);
    }
    out.sort();
    out
}

/// A schema component by name.
fn component(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// What `r` takes as its body.
fn request_schema(r: &Route) -> Value {
    let string = json!({"type": "string"});
    match (r.method, r.path) {
        ("post", "/api/v1/records/{kind}") => json!({
            "type": "object",
            "description": "one line of `ayni import`: the kind's fields (components `edan`, `event`, … — each kind's JSON Schema) and its `key`",
            "properties": {"key": string},
        }),
        ("patch", _) => json!({
            "type": "object",
            "properties": {"set": {"type": "object"}, "unset": {"type": "array", "items": string}},
            "additionalProperties": false,
        }),
        ("post", "/api/v1/records/{kind}/{key}/transition") => json!({
            "type": "object", "required": ["state"],
            "properties": {"state": string, "note": string}, "additionalProperties": false,
        }),
        ("post", "/api/v1/records/{kind}/{key}/resolve") => json!({
            "type": "object", "required": ["path", "value"], "properties": {"path": string, "value": {}},
        }),
        ("post", "/api/v1/clients") => json!({
            "type": "object", "required": ["name", "role"],
            "properties": {
                "name": string, "role": {"enum": ["field", "hq", "read"]}, "team": string, "entity": string,
                "expires": {"type": "string", "description": "90m, 12h, 30d, 2w"}, "app_url": {"type": "string", "format": "uri"},
            },
            "additionalProperties": false,
        }),
        ("post", "/api/v1/members") => json!({
            "type": "object", "required": ["node_id", "role"],
            "properties": {"node_id": string, "role": {"enum": ["field", "hq"]}, "name": string, "team": string, "addr": string},
            "additionalProperties": false,
        }),
        ("post", "/api/v1/members/{node_id}/revoke") => json!({
            "type": "object", "properties": {"reason": string}, "additionalProperties": false,
        }),
        ("post", "/api/v1/records/{kind}/{key}/amendments/{change}") => json!({
            "type": "object", "required": ["decision"], "properties": {"decision": {"enum": ["accept", "reject"]}},
            "additionalProperties": false,
        }),
        _ => json!({"type": "object"}),
    }
}

/// What `r` answers on success, by content type.
fn answer_content(r: &Route) -> Value {
    let binary = json!({"schema": {"type": "string", "format": "binary"}});
    let text = json!({"schema": {"type": "string"}});
    let json_of = |schema: Value| json!({"application/json": {"schema": schema}});
    let array = |items: Value| json!({"type": "array", "items": items});
    let object = json!({"type": "object"});
    match (r.method, r.path) {
        (_, "/automerge") => json!({}),
        // OpenAPI 3.1: an event stream's schema is one event's
        (_, "/api/v1/changes") => json!({"text/event-stream": {"schema": {
            "type": "object", "required": ["data"],
            "properties": {
                "event": {"type": "string"}, "id": {"type": "string"}, "retry": {"type": "integer"},
                "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {
                    "type": "object", "required": ["position", "record"],
                    "properties": {"position": {"type": "integer", "minimum": 0}, "record": component("Record")},
                }},
            },
        }}}),
        (_, p) if p.starts_with("/api/v1/reports/") => {
            json!({"application/json": {"schema": object}, "text/html": text, "text/markdown": text})
        }
        ("get", "/api/v1/blobs/{sha256}") => {
            let mut m = Map::new();
            for mime in
                ["image/jpeg", "image/png", "image/webp", "image/heif", "application/pdf", "application/octet-stream"]
            {
                m.insert(mime.into(), binary.clone());
            }
            Value::Object(m)
        }
        ("put", "/api/v1/blobs/{sha256}") => json_of(component("Blob")),
        ("get", "/api/v1/records/{kind}") => json_of(array(component("Record"))),
        (_, p) if p.starts_with("/api/v1/records/{kind}") && !p.ends_with("/history") && !p.ends_with("/report") => {
            json_of(component("Record"))
        }
        (_, p)
            if p.ends_with("/history") || p == "/api/v1/conflicts" || p == "/api/v1/peers" || p == "/api/v1/audit" =>
        {
            json_of(array(object.clone()))
        }
        ("get", "/api/v1/clients") | ("get", "/api/v1/members") => json_of(array(object.clone())),
        ("get", "/api/v1/decisions") => json_of(json!({
            "type": "object", "required": ["count", "offset", "decisions"],
            "properties": {"count": {"type": "integer", "minimum": 0}, "offset": {"type": "integer", "minimum": 0}, "decisions": array(json!({
                "type": "object", "required": ["type", "at", "record"],
                "properties": {"type": {"enum": ["double_count", "conflict", "amendment", "validate", "publish"]}, "at": {"type": "string"}, "record": object.clone()},
            }))},
        })),
        _ => json_of(object),
    }
}

/// A path parameter's schema: a record kind is one of the kinds.
fn parameter(path: &str, name: &str) -> Value {
    let schema = match name {
        "kind" if path.starts_with("/api/v1/records/") => component("Kind"),
        "sha256" => json!({"type": "string", "pattern": "^[0-9a-f]{64}$"}),
        _ => json!({"type": "string"}),
    };
    json!({"name": name, "in": "path", "required": true, "schema": schema})
}

/// Each kind's JSON Schema (and the common definitions) as components:
/// `$ref`s into `common.schema.json` and a file's own `$defs` rewritten to
/// point at them.
fn kind_components(out: &mut Map<String, Value>) {
    fn rewrite(v: &mut Value, file: &str) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get_mut("$ref") {
                    let (target, pointer) = r.split_once('#').unwrap_or((r.as_str(), ""));
                    let owner = if target.is_empty() { file } else { target.trim_end_matches(".schema.json") };
                    let def = pointer.trim_start_matches("/$defs/");
                    *r = format!("#/components/schemas/{owner}.{def}");
                }
                for x in m.values_mut() {
                    rewrite(x, file);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| rewrite(x, file)),
            _ => {}
        }
    }
    let Ok(schemas) = ayni_node::schema::schemas() else { return };
    let files = schemas.kinds().map(String::from).chain(std::iter::once("common".to_string()));
    for file in files {
        let Some(doc) = schemas.document(&file) else { continue };
        let mut doc = doc.clone();
        rewrite(&mut doc, &file);
        let Value::Object(mut m) = doc else { continue };
        if let Some(Value::Object(defs)) = m.remove("$defs") {
            for (name, def) in defs {
                out.insert(format!("{file}.{name}"), def);
            }
        }
        for k in ["$schema", "$id"] {
            m.remove(k);
        }
        if file != "common" {
            out.insert(file, Value::Object(m));
        }
    }
}

/// The OpenAPI 3.1 document of [`ROUTES`].
pub(crate) fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let mut params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| parameter(r.path, name))
            .collect();
        if r.path == "/api/v1/decisions" {
            params.push(json!({"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}}));
            params.push(
                json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}),
            );
        }
        let mut responses = Map::new();
        responses.insert(r.answer.0.to_string(), json!({"description": r.answer.1, "content": answer_content(r)}));
        for status in errors_of(r) {
            let why = ERRORS.iter().find(|(s, _)| *s == status).map_or("", |(_, w)| w);
            responses.insert(
                status.to_string(),
                json!({"description": why, "content": {"application/json": {"schema": component("Error")}}}),
            );
        }
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{}_{}", r.method, r.path.trim_start_matches('/').replace(['/', '{', '}', '.'], "_")),
            "parameters": params,
            "responses": responses,
        });
        if let Some(body) = r.body {
            op["requestBody"] = json!({"required": true, "description": body, "content": {"application/json": {"schema": request_schema(r)}}});
        } else if r.method == "put" {
            op["requestBody"] = json!({"required": true, "description": "the file's bytes", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}});
        }
        op["security"] = if r.token { json!([{"bearer": []}]) } else { json!([]) };
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method] = op;
    }
    let mut schemas = Map::new();
    kind_components(&mut schemas);
    schemas.insert("Kind".into(), json!({"enum": ayni_node::schema::KINDS}));
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["kind", "message"],
                "properties": {
                    "kind": {"type": "string"},
                    "message": {"type": "string"},
                    "record": {"type": ["string", "null"]},
                    "field": {"type": ["string", "null"]},
                },
            }},
        }),
    );
    let string = json!({"type": "string"});
    schemas.insert("Record".into(), json!({
        "type": "object",
        "required": ["id", "kind", "key", "deleted", "conflicts", "created_at", "created_by", "heads", "fields"],
        "properties": {
            "id": string, "kind": component("Kind"), "key": string, "title": string, "status": string,
            "deleted": {"type": "boolean"}, "flags": {"type": "array", "items": string},
            "conflicts": {"type": "integer", "minimum": 0}, "created_at": string, "created_by": string,
            "heads": {"type": "array", "items": string},
            "fields": {"type": "object", "description": "the record's fields, valid for its kind's schema (the component named after the kind)"},
            "url": string,
        },
    }));
    schemas.insert(
        "Blob".into(),
        json!({
            "type": "object", "required": ["hash", "size", "mime"],
            "properties": {"hash": string, "size": {"type": "integer", "minimum": 0}, "mime": string},
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Ayni node API",
            "version": "1",
            "description": "Records of La Paz's cooperation model and EDAN assessments on one Ayni node. Each kind's fields follow its JSON Schema (components named after the kinds; also at /api/v1/schemas/{kind}).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "a client token from `ayni client add`"}},
            "schemas": schemas,
        },
    })
}
