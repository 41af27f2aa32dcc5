//! The node's HTTP API, for programs and apps: records, their history and
//! conflicts, the EDAN report, peers and status, as JSON under `/api/v1/`.
//!
//! Owns: routes, request parsing, client authentication, JSON rendering.
//! Must never: reach the node but through its handle (each request
//! authenticates its token, then asks the handle as that client, which
//! judges it again where it writes), write anything on a 4xx, or log a
//! token.
//!
//! Version 1: the routes are the table `openapi::ROUTES` (paths and shapes
//! are a contract that outside tests use), which both builds the router and
//! is served as an OpenAPI 3.1 document at `/api/v1/openapi.json`. Answers
//! are the same JSON as the CLI's `--json` for the same question.
//!
//! Every `/api/v1/` call but the OpenAPI document and the schemas needs
//! `Authorization: Bearer TOKEN` (`ayni client add`). Errors: a status and `{"error": {"kind", "message", "record",
//! "field"}}` (see [`error`]).

mod app;
mod blobs;
pub mod connections;
pub mod error;
mod hq;
mod openapi;
pub mod presence;
mod reports;
pub mod signin;
pub mod tls;
mod ws;

pub use connections::Connections;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;

use ayni_node::clients::{Actor, Client};
use ayni_node::node::parse_path;
use ayni_node::NodeHandle;
use error::ApiError;

/// Largest request body: the largest record plus room for the envelope of
/// a request (the CLI's limit for one record).
pub const MAX_BODY: usize = ayni_node::schema::MAX_RECORD_BYTES + 4096;

#[derive(Clone)]
pub(crate) struct Api {
    node: NodeHandle,
    options: std::sync::Arc<Options>,
    /// Which clients were heard from, for HQ's desk.
    presence: presence::Presence,
}

/// How the API is served.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// What `PUT /api/v1/blobs/{sha256}` takes.
    pub blob_limits: ayni_node::blobs::Limits,
}

/// The API's routes over a node (from [`openapi::ROUTES`], which the
/// OpenAPI document is made from too).
pub fn router(node: NodeHandle, options: Options) -> Router {
    let mut router = Router::new();
    let blob_body = options.blob_limits.max_bytes.saturating_add(1).min(usize::MAX as u64) as usize;
    for r in openapi::ROUTES {
        let mut handler = (r.handler)();
        if r.path == "/api/v1/blobs/{sha256}" {
            // a blob's body may be larger than a record's
            handler = handler.layer(DefaultBodyLimit::max(blob_body));
        }
        router = router.route(r.path, handler);
    }
    router
        .route("/", axum::routing::get(app::root))
        .route("/app", axum::routing::get(app::root))
        .route("/app/", axum::routing::get(app::index))
        .route("/app/{file}", axum::routing::get(app::file))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Api { node, options: std::sync::Arc::new(options), presence: Default::default() })
}

/// Serves the API on `listener` (a `tokio::net::TcpListener`, or a
/// [`tls::TlsListener`] for HTTPS) until `shutdown` resolves, counting its
/// open connections in `connections`.
pub async fn serve<L>(
    listener: L,
    node: NodeHandle,
    options: Options,
    connections: Connections,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let listener = connections::Counted { inner: listener, count: connections };
    axum::serve(listener, router(node, options)).with_graceful_shutdown(shutdown).await
}

type Answer = Result<Response, ApiError>;
/// A `{kind}/{key}` path, or why axum could not read it.
type RecordPath = Result<Path<(String, String)>, PathRejection>;
/// A JSON body, or why axum could not read it.
type Body = Result<Json<Value>, JsonRejection>;

pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

/// The client the request's token names (a missing, wrong, expired or
/// revoked token: 401).
async fn client_of(api: &Api, headers: &HeaderMap) -> Result<Client, ApiError> {
    let client = api.node.authenticate(bearer(headers)).await?.map_err(ApiError::from_auth)?;
    api.presence.seen(&client.name);
    Ok(client)
}

/// The request's client as the actor its reads and writes are made for.
async fn actor_of(api: &Api, headers: &HeaderMap) -> Result<Actor, ApiError> {
    Ok(Actor::Client(client_of(api, headers).await?))
}

fn ok<T: Serialize>(value: T) -> Answer {
    Ok(Json(value).into_response())
}

fn path_of(p: RecordPath) -> Result<(String, String), ApiError> {
    p.map(|Path(v)| v).map_err(|r| ApiError::new(r.status(), "bad_request", r.body_text()))
}

fn body_of(b: Body) -> Result<Value, ApiError> {
    b.map(|Json(v)| v).map_err(|r| {
        let kind = match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            _ => "bad_request",
        };
        ApiError::new(r.status(), kind, r.body_text())
    })
}

fn reference(kind: &str, key: &str) -> String {
    format!("{kind}:{key}")
}

/// The record a `{kind}/{key}` path names, as `kind:key`.
fn record_of(p: RecordPath) -> Result<String, ApiError> {
    let (kind, key) = path_of(p)?;
    Ok(reference(&kind, &key))
}

async fn healthz() -> Answer {
    ok(serde_json::json!({"status": "ok"}))
}

async fn openapi() -> Answer {
    ok(openapi::document())
}

async fn schema(Path(name): Path<String>) -> Answer {
    let schemas = ayni_node::schema::schemas()?;
    match schemas.document(&name) {
        Some(doc) => ok(doc),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_kind", format!("no schema named '{name}'"))),
    }
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no such endpoint: {method} {}", uri.path()))
}

async fn no_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// The node's own state (record counts by kind, peers' addresses) is for
/// the network's clients, not for a partner's.
fn not_for_partners(client: &Client) -> Result<(), ApiError> {
    match client.entity {
        Some(_) => Err(ApiError::from(ayni_node::Error::Forbidden(format!(
            "client '{}' reads records only (a partner's client)",
            client.name
        )))),
        None => Ok(()),
    }
}

async fn status(State(api): State<Api>, headers: HeaderMap) -> Answer {
    not_for_partners(&client_of(&api, &headers).await?)?;
    ok(api.node.status().await?)
}

/// Who the token stands for, and where its records are: what an app needs
/// to open (the field app keeps it for offline use).
async fn me(State(api): State<Api>, headers: HeaderMap) -> Answer {
    let c = client_of(&api, &headers).await?;
    let index = api.node.index_id(ayni_node::repo::index::Scope::of(&c)).await?;
    ok(serde_json::json!({
        "client": c.name,
        "role": c.role,
        "team": c.team,
        "entity": c.entity,
        "expires_at": c.expires_at,
        "node": {"name": api.node.info().name, "id": api.node.id().to_string()},
        "index_url": index.url(),
        // what a record this client creates carries as `created_by`, and
        // the kinds it may create
        "author": c.author(&api.node.id()),
        "may_create": c.may_create()?,
    }))
}

async fn index(State(api): State<Api>, headers: HeaderMap) -> Answer {
    let c = client_of(&api, &headers).await?;
    ok(api.node.index_listing(ayni_node::repo::index::Scope::of(&c)).await?)
}

async fn peers(State(api): State<Api>, headers: HeaderMap) -> Answer {
    not_for_partners(&client_of(&api, &headers).await?)?;
    ok(api.node.peers().await?)
}

async fn conflicts(State(api): State<Api>, headers: HeaderMap) -> Answer {
    let actor = actor_of(&api, &headers).await?;
    ok(api.node.conflicts(&actor).await?)
}

/// `where=PATH=VALUE` (repeatable; VALUE is JSON if it parses, else text),
/// `offset`, `limit`.
struct ListQuery {
    filters: Vec<(String, Value)>,
    offset: usize,
    limit: Option<usize>,
}

fn list_query(raw: Option<String>) -> Result<ListQuery, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("malformed query: {e}")))?;
    let mut q = ListQuery { filters: vec![], offset: 0, limit: None };
    let number = |name: &str, v: &str| {
        v.parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("{name} must be a non-negative integer, not '{v}'")))
    };
    for (name, value) in pairs {
        match name.as_str() {
            "where" => {
                let (path, v) = value
                    .split_once('=')
                    .ok_or_else(|| ApiError::bad_request(format!("where '{value}' is not PATH=VALUE")))?;
                parse_path(path)?;
                q.filters.push((path.to_string(), ayni_node::node::parse_value(v)));
            }
            "offset" => q.offset = number("offset", &value)?,
            "limit" => q.limit = Some(number("limit", &value)?),
            other => {
                return Err(ApiError::bad_request(format!("unknown query parameter '{other}' (where, offset, limit)")))
            }
        }
    }
    Ok(q)
}

async fn list(
    State(api): State<Api>,
    headers: HeaderMap,
    kind: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Answer {
    let Path(kind) = kind.map_err(|r| ApiError::new(r.status(), "bad_request", r.body_text()))?;
    let q = list_query(raw)?;
    let actor = actor_of(&api, &headers).await?;
    let mut records = api.node.records(&actor, &kind, q.filters, ayni_node::References::Ids);
    let mut out = vec![];
    let mut seen = 0usize;
    while let Some(rec) = records.next().await {
        let rec = rec?;
        if seen >= q.offset && q.limit.is_none_or(|l| out.len() < l) {
            out.push(rec);
        }
        seen += 1;
    }
    ok(out)
}

async fn create(
    State(api): State<Api>,
    headers: HeaderMap,
    kind: Result<Path<String>, PathRejection>,
    body: Body,
) -> Answer {
    let Path(kind) = kind.map_err(|r| ApiError::new(r.status(), "bad_request", r.body_text()))?;
    let body = body_of(body)?;
    if !body.is_object() {
        return Err(ApiError::bad_request("the body must be one JSON object: a record's fields, `key` included"));
    }
    let actor = actor_of(&api, &headers).await?;
    let rec = api.node.create(&actor, &kind, None, body).await?;
    let location = format!("/api/v1/records/{}/{}", rec.kind, rec.key);
    let mut response = (StatusCode::CREATED, Json(&rec)).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&location) {
        response.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    Ok(response)
}

async fn one(State(api): State<Api>, headers: HeaderMap, p: RecordPath) -> Answer {
    let (actor, r) = (actor_of(&api, &headers).await?, record_of(p)?);
    ok(api.node.get(&actor, &r).await.map_err(|e| ApiError::from(e).about(r))?)
}

async fn edit(State(api): State<Api>, headers: HeaderMap, p: RecordPath, body: Body) -> Answer {
    let (kind, key) = path_of(p)?;
    let body = body_of(body)?;
    let obj =
        body.as_object().ok_or_else(|| ApiError::bad_request("the body must be {\"set\": {…}} or {\"unset\": […]}"))?;
    if let Some(other) = obj.keys().find(|k| *k != "set" && *k != "unset") {
        return Err(ApiError::bad_request(format!("unknown member '{other}' (set, unset)")));
    }
    enum Edit {
        Set(Vec<(String, Value)>),
        Unset(Vec<String>),
    }
    let edit = match (obj.get("set"), obj.get("unset")) {
        (Some(Value::Object(m)), None) if !m.is_empty() => {
            let mut pairs = vec![];
            for (path, value) in m {
                parse_path(path).map_err(|e| ApiError::from(e).about(reference(&kind, &key)))?;
                pairs.push((path.clone(), value.clone()));
            }
            Edit::Set(pairs)
        }
        (None, Some(Value::Array(paths))) if !paths.is_empty() => {
            let mut out = vec![];
            for p in paths {
                let p = p.as_str().ok_or_else(|| ApiError::bad_request(format!("unset: {p} is not a field path")))?;
                parse_path(p)?;
                out.push(p.to_string());
            }
            Edit::Unset(out)
        }
        _ => {
            return Err(ApiError::bad_request(
                "the body must be {\"set\": {\"PATH\": VALUE, …}} or {\"unset\": [\"PATH\", …]}, not both, not empty",
            ))
        }
    };
    let (actor, r) = (actor_of(&api, &headers).await?, reference(&kind, &key));
    let done = match edit {
        Edit::Set(pairs) => api.node.set(&actor, &r, pairs).await,
        Edit::Unset(paths) => api.node.unset(&actor, &r, paths).await,
    };
    ok(done.map_err(|e| ApiError::from(e).about(r))?)
}

async fn remove(State(api): State<Api>, headers: HeaderMap, p: RecordPath) -> Answer {
    let (actor, r) = (actor_of(&api, &headers).await?, record_of(p)?);
    ok(api.node.delete(&actor, &r).await.map_err(|e| ApiError::from(e).about(r))?)
}

fn string_member(body: &Value, name: &str, required: bool) -> Result<Option<String>, ApiError> {
    match body.get(name) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(ApiError::bad_request(format!("'{name}' is required"))),
        Some(other) => Err(ApiError::bad_request(format!("'{name}' must be a string, not {other}"))),
    }
}

async fn transition(State(api): State<Api>, headers: HeaderMap, p: RecordPath, body: Body) -> Answer {
    let body = body_of(body)?;
    let state = string_member(&body, "state", true)?.unwrap_or_default();
    let note = string_member(&body, "note", false)?;
    let (actor, r) = (actor_of(&api, &headers).await?, record_of(p)?);
    ok(api.node.transition(&actor, &r, &state, note).await.map_err(|e| ApiError::from(e).about(r))?)
}

async fn history(State(api): State<Api>, headers: HeaderMap, p: RecordPath) -> Answer {
    let (actor, r) = (actor_of(&api, &headers).await?, record_of(p)?);
    ok(api.node.history(&actor, &r).await.map_err(|e| ApiError::from(e).about(r))?)
}

async fn resolve(State(api): State<Api>, headers: HeaderMap, p: RecordPath, body: Body) -> Answer {
    let body = body_of(body)?;
    let path = string_member(&body, "path", true)?.unwrap_or_default();
    let value = body.get("value").cloned().ok_or_else(|| ApiError::bad_request("'value' is required"))?;
    let (actor, r) = (actor_of(&api, &headers).await?, record_of(p)?);
    ok(api.node.resolve(&actor, &r, &path, value).await.map_err(|e| ApiError::from(e).about(r))?)
}

async fn report(State(api): State<Api>, headers: HeaderMap, p: RecordPath) -> Answer {
    if matches!(&p, Ok(Path((kind, _))) if kind != "edan") {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "reports exist for edan records only"));
    }
    let (actor, r) = (actor_of(&api, &headers).await?, record_of(p)?);
    ok(api.node.edan_report(&actor, &r).await.map_err(|e| ApiError::from(e).about(r))?)
}

/// `GET /api/v1/changes`: the feed from a position, then every write as it
/// lands. The token is checked when the stream starts.
/// The token's client now, if the token is still valid (a revoked or
/// expired one, or a node that stops: `None`). What long-lived streams —
/// the change feed, automerge-repo sockets — check every
/// [`REAUTHENTICATE`].
pub(crate) async fn still_valid(node: &NodeHandle, token: Option<String>) -> Option<Client> {
    node.authenticate(token).await.ok()?.ok()
}

/// How often an idle change feed checks that its client may still read.
pub(crate) const REAUTHENTICATE: std::time::Duration = std::time::Duration::from_secs(2);

async fn changes(State(api): State<Api>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Answer {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("malformed query: {e}")))?;
    let position = |v: &str, what: &str| {
        v.parse::<u64>().map_err(|_| ApiError::bad_request(format!("{what} must be a feed position, not '{v}'")))
    };
    let mut since = 0;
    let mut kind = None;
    for (name, value) in pairs {
        match name.as_str() {
            "since" if value == "now" => since = *api.node.feed_watch().borrow(),
            "since" => since = position(&value, "since")?,
            "kind" => kind = Some(value),
            other => return Err(ApiError::bad_request(format!("unknown query parameter '{other}' (since, kind)"))),
        }
    }
    if let Some(last) = headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        since = position(last, "Last-Event-ID")?;
    }
    let actor = actor_of(&api, &headers).await?;
    let follower = ayni_node::follow::Follower::new(&api.node, since, kind).await?;
    // the token is checked again before every batch and every few seconds
    // while idle: a revoked or expired client's stream ends
    let (node, token) = (api.node.clone(), bearer(&headers));
    let still_allowed = move || {
        let (node, token) = (node.clone(), token.clone());
        async move { still_valid(&node, token).await.is_some() }
    };
    // only the records this client may read
    let node = api.node.clone();
    let visible = move |c: &ayni_node::feed::Change| node.may_read(&actor, &c.record);
    let start = (follower, std::collections::VecDeque::<ayni_node::feed::Change>::new(), still_allowed, visible);
    let stream = futures_util::stream::unfold(start, |(mut follower, mut queue, still_allowed, visible)| async move {
        while queue.is_empty() {
            tokio::select! {
                next = follower.next(false) => match next {
                    Ok(Some(changes)) => {
                                                if !still_allowed().await {
                            return None;
                        }
                        queue.extend(changes.into_iter().filter(|c| visible(c)));
                    }
                    Ok(None) => return None,
                    Err(e) => {
                        tracing::warn!("change feed: {e}");
                        return None;
                    }
                },
                () = tokio::time::sleep(REAUTHENTICATE) => {
                    if !still_allowed().await {
                        return None;
                    }
                }
            }
        }
        let c = queue.pop_front()?;
        let event = Event::default().id(c.position.to_string()).event("change").json_data(&c);
        Some((event.map_err(|e| std::io::Error::other(e.to_string())), (follower, queue, still_allowed, visible)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}
