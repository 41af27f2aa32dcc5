//! HQ's desk over HTTP: the decisions waiting, the refused changes, field
//! devices (phone and tablet clients: issue with a sign-in QR code, revoke;
//! enrolled laptops: list, revoke) and amendment decisions.
//!
//! Owns: these routes' parsing and answers, and who may call them (an
//! `hq` client: anyone else gets 403). Must never: write but through the
//! node's handle, as the calling client where the write is a record's (so
//! it is judged like any change), or show a token but to the HQ client
//! that issued it, once.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use ayni_node::clients::{Actor, Client, ClientRole};

use crate::error::ApiError;
use crate::{body_of, client_of, ok, string_member, Answer, Api, Body};

/// The calling client, if it is an `hq` one.
async fn hq_only(api: &Api, headers: &HeaderMap) -> Result<Client, ApiError> {
    let c = client_of(api, headers).await?;
    if c.role != ClientRole::Hq {
        return Err(ApiError::from(ayni_node::Error::Forbidden(format!(
            "client '{}' is a {} client: HQ's desk is for hq clients",
            c.name, c.role
        ))));
    }
    Ok(c)
}

/// `GET /api/v1/decisions`: what waits for HQ, newest first.
/// Query `offset` (default 0) and `limit` (default 100, at most 1000): a
/// page of the queue; `count` is always the whole queue's.
pub(crate) async fn decisions(State(api): State<Api>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Answer {
    hq_only(&api, &headers).await?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("malformed query: {e}")))?;
    let (mut offset, mut limit) = (0usize, 100usize);
    for (name, value) in pairs {
        let n = value
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("{name} must be a whole number, not '{value}'")))?;
        match name.as_str() {
            "offset" => offset = n,
            "limit" if (1..=1000).contains(&n) => limit = n,
            "limit" => return Err(ApiError::bad_request("limit must be 1 to 1000")),
            other => return Err(ApiError::bad_request(format!("unknown query parameter '{other}' (offset, limit)"))),
        }
    }
    let mut all = api.node.decisions().await?;
    all.decisions = all.decisions.into_iter().skip(offset).take(limit).collect();
    ok(json!({"count": all.count, "offset": offset, "decisions": all.decisions}))
}

/// `GET /api/v1/audit`: the changes this node refused (`ayni audit --json`).
pub(crate) async fn audit(State(api): State<Api>, headers: HeaderMap) -> Answer {
    hq_only(&api, &headers).await?;
    ok(api.node.audit().await?)
}

/// `GET /api/v1/clients`: every client of this node, with when it was last
/// seen and its open WebSocket connections (since `serve` started).
pub(crate) async fn clients(State(api): State<Api>, headers: HeaderMap) -> Answer {
    hq_only(&api, &headers).await?;
    let all = api.node.clients().await?;
    let list: Vec<Value> = all
        .into_iter()
        .map(|c| {
            let (last_seen, open) = api.presence.of(&c.name);
            let mut v = serde_json::to_value(&c).unwrap_or(Value::Null);
            v["last_seen"] = json!(last_seen);
            v["open_connections"] = json!(open);
            v
        })
        .collect();
    ok(list)
}

/// `POST /api/v1/clients`: issues a client token (`ayni client add`):
/// `{name, role, team?, entity?, expires?, app_url?}`; with `app_url` (the
/// field app's address) the answer carries the sign-in link and its QR
/// code as SVG.
pub(crate) async fn add_client(State(api): State<Api>, headers: HeaderMap, body: Body) -> Answer {
    hq_only(&api, &headers).await?;
    let body = body_of(body)?;
    if let Some(unknown) = body.as_object().and_then(|m| {
        m.keys().find(|k| !["name", "role", "team", "entity", "expires", "app_url"].contains(&k.as_str()))
    }) {
        return Err(ApiError::bad_request(format!(
            "unknown member '{unknown}' (name, role, team, entity, expires, app_url)"
        )));
    }
    let name = string_member(&body, "name", true)?.unwrap_or_default();
    let role: ClientRole = serde_json::from_value(json!(string_member(&body, "role", true)?))
        .map_err(|_| ApiError::bad_request("'role' must be field, hq or read"))?;
    let team = string_member(&body, "team", false)?;
    let entity = string_member(&body, "entity", false)?;
    let expires = match string_member(&body, "expires", false)? {
        Some(text) => Some(ayni_node::clients::parse_duration(&text)?),
        None => None,
    };
    let app_url = match string_member(&body, "app_url", false)? {
        Some(url) if url.len() > 1024 => return Err(ApiError::bad_request("'app_url' is over 1024 characters")),
        Some(url) => Some(crate::signin::app_url(&url)?),
        None => None,
    };
    let (client, token) = api.node.add_client(&name, role, team, entity, expires).await?;
    let mut answer = json!({"client": client, "token": token});
    if let Some(app) = app_url {
        let link = crate::signin::link(&app, &token);
        // the client exists now: a link too long for a QR code is shown alone
        answer["qr_svg"] = json!(crate::signin::svg(&link).ok());
        answer["link"] = json!(link);
    }
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `POST /api/v1/clients/{name}/revoke` (`ayni client revoke NAME`).
pub(crate) async fn revoke_client(
    State(api): State<Api>,
    headers: HeaderMap,
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Answer {
    hq_only(&api, &headers).await?;
    let Path(name) = name.map_err(|r| ApiError::new(r.status(), "bad_request", r.body_text()))?;
    ok(api.node.revoke_client(&name).await?)
}

/// `GET /api/v1/members`: the enrolled laptops (`ayni network show`), with
/// revocations, teams and last sync.
pub(crate) async fn members(State(api): State<Api>, headers: HeaderMap) -> Answer {
    hq_only(&api, &headers).await?;
    ok(api.node.laptops().await?)
}

/// `POST /api/v1/members`: enrols a laptop (`ayni enroll NODE_ID --role
/// ROLE --name NAME [--team TEAM]`): `{node_id, role, name?, team?,
/// addr?}`; the answer has the token the laptop passes to `ayni join`, and
/// its QR code as SVG.
pub(crate) async fn enroll(State(api): State<Api>, headers: HeaderMap, body: Body) -> Answer {
    hq_only(&api, &headers).await?;
    let body = body_of(body)?;
    if let Some(unknown) = body
        .as_object()
        .and_then(|m| m.keys().find(|k| !["node_id", "role", "name", "team", "addr"].contains(&k.as_str())))
    {
        return Err(ApiError::bad_request(format!("unknown member '{unknown}' (node_id, role, name, team, addr)")));
    }
    let node: ayni_node::identity::NodeId = string_member(&body, "node_id", true)?.unwrap_or_default().parse()?;
    let role: ayni_node::network::Role = serde_json::from_value(json!(string_member(&body, "role", true)?))
        .map_err(|_| ApiError::bad_request("'role' must be field or hq"))?;
    let name = string_member(&body, "name", false)?.unwrap_or_default();
    let (team, addr) = (string_member(&body, "team", false)?, string_member(&body, "addr", false)?);
    let m = api.node.enroll(node, role, &name, addr, team).await?;
    let token = m.to_token();
    let answer = json!({
        "token": token, "node_id": m.payload.node_id, "role": m.payload.role, "label": m.payload.label,
        // the laptop is enrolled now: a token too long for a QR code is shown alone
        "qr_svg": crate::signin::svg(&token).ok(),
    });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `POST /api/v1/members/{node_id}/revoke` with `{reason}` (`ayni revoke`).
pub(crate) async fn revoke_member(
    State(api): State<Api>,
    headers: HeaderMap,
    node: Result<Path<String>, axum::extract::rejection::PathRejection>,
    body: Body,
) -> Answer {
    hq_only(&api, &headers).await?;
    let Path(node) = node.map_err(|r| ApiError::new(r.status(), "bad_request", r.body_text()))?;
    let reason = string_member(&body_of(body)?, "reason", false)?.unwrap_or_default();
    let id: ayni_node::identity::NodeId = node.parse()?;
    let r = api.node.revoke(id, &reason).await?;
    let p = r.payload;
    ok(json!({"node_id": p.node_id, "reason": p.reason, "revoked_at": p.revoked_at, "documents_kept": p.kept.len()}))
}

/// `POST /api/v1/records/edan/{key}/amendments/{change}` with
/// `{"decision": "accept"|"reject"}` (`ayni amendment accept|reject`).
pub(crate) async fn amendment(
    State(api): State<Api>,
    headers: HeaderMap,
    p: Result<Path<(String, String, String)>, axum::extract::rejection::PathRejection>,
    body: Body,
) -> Answer {
    let c = hq_only(&api, &headers).await?;
    let Path((kind, key, change)) = p.map_err(|r| ApiError::new(r.status(), "bad_request", r.body_text()))?;
    let accept = match string_member(&body_of(body)?, "decision", true)?.as_deref() {
        Some("accept") => true,
        Some("reject") => false,
        _ => return Err(ApiError::bad_request("'decision' must be accept or reject")),
    };
    let r = format!("{kind}:{key}");
    let record = api.node.decide_amendment(&Actor::Client(c), &r, &change, accept).await;
    ok(record.map_err(|e| ApiError::from(e).about(r))?)
}
