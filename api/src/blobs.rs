//! Blobs over HTTP: `PUT` and `GET /api/v1/blobs/{sha256}`.
//!
//! Owns: taking a blob's bytes as a request body (refused whole unless
//! they hash to the path, fit the limit and are of a media type the node
//! takes) and serving them as a download. Must never: render a blob in
//! the API's origin (it goes out as an attachment, `nosniff`, sandboxed),
//! or serve one to a client that may read no record referencing it.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

use crate::error::ApiError;
use crate::{actor_of, Answer, Api};

/// `PUT /api/v1/blobs/{sha256}`: a photo or document, its bytes the body;
/// refused whole unless they hash to the path, fit the limit and are of a
/// media type the node takes. A read client may not.
pub(crate) async fn put_blob(
    State(api): State<Api>,
    headers: HeaderMap,
    hash: Result<Path<String>, PathRejection>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Answer {
    let Path(hash) = hash.map_err(|r| ApiError::new(r.status(), "bad_request", r.body_text()))?;
    let limits = api.options.blob_limits.clone();
    let body = body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the blob is over the limit of {} bytes", limits.max_bytes),
        ),
        status => ApiError::new(status, "bad_request", r.body_text()),
    })?;
    let actor = actor_of(&api, &headers).await?;
    let (blob, new) = api.node.put_blob(&actor, body.to_vec(), Some(hash), limits).await?;
    let status = if new { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(blob)).into_response())
}

/// `GET /api/v1/blobs/{sha256}`: the bytes, verified, as a download
/// (never rendered in the API's origin). A client that reads only some
/// records gets a blob only when one of those references it.
pub(crate) async fn get_blob(
    State(api): State<Api>,
    headers: HeaderMap,
    hash: Result<Path<String>, PathRejection>,
) -> Answer {
    use axum::http::header;
    let Path(hash) = hash.map_err(|r| ApiError::new(r.status(), "bad_request", r.body_text()))?;
    let h = hash.clone();
    let actor = actor_of(&api, &headers).await?;
    let bytes = api.node.blob(&actor, &h).await?;
    let mime = ayni_node::blobs::sniff(&bytes).unwrap_or("application/octet-stream");
    let ext = mime.rsplit('/').next().unwrap_or("bin");
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{hash}.{ext}\"")),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'".to_string()),
            (header::CACHE_CONTROL, "private, max-age=31536000, immutable".to_string()),
            (header::ETAG, format!("\"{hash}\"")),
        ],
        bytes,
    )
        .into_response())
}
