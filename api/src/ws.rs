//! `/automerge`: automerge-repo clients over a WebSocket.
//!
//! Owns: the upgrade (the client token from `?token=` — browsers cannot
//! set WebSocket headers — or `Authorization: Bearer`, checked before any
//! document byte: a missing, wrong, expired or revoked token gets 401 and
//! no socket), and driving one `ayni_node::repo::Session` per connection:
//! its work runs beside the engine (reads there; a client's changes go to
//! the engine, which attests, judges and stores them), frames and timers
//! here.
//! Must never: log the token (it is in the URL), or keep serving a client
//! whose token was revoked (checked every few seconds; its socket closes).

use axum::extract::ws::{Message as Frame, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{FutureExt, SinkExt};

use ayni_node::clients::Client;
use ayni_node::repo::{message::MAX_MESSAGE, Step};
use ayni_node::NodeHandle;

use crate::error::ApiError;
use crate::{bearer, still_valid, Api, REAUTHENTICATE};

/// Most frames handled in one step, and most bytes.
const BATCH: usize = 256;
const BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Largest frame a client may send (a sync message with its changes).
const CLIENT_MESSAGE: usize = 16 * 1024 * 1024;

/// The token of an upgrade request: `?token=` first, else the bearer.
fn token(headers: &HeaderMap, raw: Option<&str>) -> Option<String> {
    let from_query = raw.and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find_map(|(k, v)| (k == "token").then_some(v))
    });
    from_query.or_else(|| bearer(headers))
}

pub(crate) async fn upgrade(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // not a WebSocket upgrade: said in JSON like any error of the API
    let ws = ws.map_err(|r| ApiError::new(r.status(), "bad_request", r.body_text()))?;
    let token = token(&headers, raw.as_deref());
    let client = api.node.authenticate(token.clone()).await?.map_err(ApiError::from_auth)?;
    let node = api.node.clone();
    let presence = api.presence.clone();
    Ok(ws
        .max_message_size(CLIENT_MESSAGE.min(MAX_MESSAGE))
        .max_frame_size(CLIENT_MESSAGE.min(MAX_MESSAGE))
        .on_upgrade(move |socket| async move {
            // counted as open while it lasts (HQ's desk shows it)
            let _open = presence.opened(&client.name);
            if let Err(e) = connection(node, client, token, socket).await {
                tracing::debug!("automerge-repo client: {e}");
            }
        })
        .into_response())
}

/// Sends the steps (flushed once, at the end); `false` once the
/// connection is to close.
async fn send(socket: &mut WebSocket, steps: Vec<Step>) -> bool {
    for s in steps {
        match s {
            Step::Send(m) => {
                if socket.feed(Frame::Binary(m.encode().into())).await.is_err() {
                    return false;
                }
            }
            Step::Close => {
                let _ = socket.send(Frame::Close(None)).await;
                return false;
            }
        }
    }
    socket.flush().await.is_ok()
}

async fn connection(
    node: NodeHandle,
    client: Client,
    token: Option<String>,
    mut socket: WebSocket,
) -> Result<(), ayni_node::Error> {
    // documents written from now on are pushed to the client
    let mut watch = node.feed_watch();
    watch.borrow_and_update();
    let mut gateway = node.repo_gateway(client).await?;
    let mut recheck = tokio::time::interval(REAUTHENTICATE);
    recheck.tick().await;
    loop {
        tokio::select! {
            frame = socket.recv() => {
                let bytes = match frame {
                    Some(Ok(Frame::Binary(bytes))) => bytes,
                    Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => return Ok(()),
                    // text frames are not part of the protocol; pings are answered for us
                    Some(Ok(_)) => continue,
                };
                // frames already waiting go in the same step: one trip to the
                // blocking pool for a burst (a client asking for many documents)
                let mut size = bytes.len();
                let mut batch = vec![bytes.to_vec()];
                let mut closing = false;
                while batch.len() < BATCH && size < BATCH_BYTES && !closing {
                    match socket.recv().now_or_never() {
                        Some(Some(Ok(Frame::Binary(b)))) => {
                            size += b.len();
                            batch.push(b.to_vec());
                        }
                        Some(Some(Ok(Frame::Close(_)) | Err(_)) | None) => closing = true,
                        Some(Some(Ok(_))) => {}
                        None => break,
                    }
                }
                let steps = gateway.receive(batch).await?;
                if !send(&mut socket, steps).await || closing {
                    return Ok(());
                }
            }
            changed = watch.changed() => {
                if changed.is_err() {
                    return Ok(()); // the node stops
                }
                let steps = gateway.changed().await?;
                if !send(&mut socket, steps).await {
                    return Ok(());
                }
            }
            _ = recheck.tick() => {
                match still_valid(&node, token.clone()).await {
                    Some(current) => gateway.renew(current),
                    None => {
                        let _ = socket.send(Frame::Close(None)).await;
                        return Ok(());
                    }
                }
            }
        }
    }
}
