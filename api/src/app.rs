//! The field app (`app/`: built into `app/dist/`, hand-written files in
//! `app/static/`), embedded in the binary
//! and served under `/app/`; `/` leads there.
//!
//! Owns: the table of the app's files, their media types, compression and
//! caching headers.
//! Must never: read files at run time (a node serves the app it was built
//! with) or need a token — the app's files are public; everything it shows
//! comes through the token-checked API and WebSocket.
//!
//! Files are gzip-compressed once, on first request, when the browser
//! accepts it (automerge's WebAssembly: 3.6 MB → 1.1 MB). `ETag` is the
//! file's SHA-256; `Cache-Control: no-cache` makes the browser revalidate
//! (the service worker is what serves the app offline, and `sw.js` must
//! never be stale or an update would never arrive).

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::Digest;

use crate::error::ApiError;

struct File {
    name: &'static str,
    media_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! file {
    ($dir:literal, $name:literal, $media_type:literal) => {
        File { name: $name, media_type: $media_type, bytes: include_bytes!(concat!("../../app/", $dir, "/", $name)) }
    };
}

/// The app's files: what app/build.mjs writes to `app/dist`, and the
/// hand-written ones in `app/static` (sw.js lists them all).
const FILES: &[File] = &[
    file!("static", "index.html", "text/html; charset=utf-8"),
    file!("dist", "app.js", "text/javascript; charset=utf-8"),
    file!("static", "app.css", "text/css; charset=utf-8"),
    file!("dist", "sw.js", "text/javascript; charset=utf-8"),
    file!("dist", "automerge.wasm", "application/wasm"),
    file!("static", "manifest.webmanifest", "application/manifest+json"),
    file!("static", "icon.svg", "image/svg+xml"),
];

/// Per file: its gzip form and its ETag, made on first use.
struct Prepared {
    gzip: Bytes,
    etag: String,
}

fn prepared(i: usize) -> &'static Prepared {
    static PREPARED: [OnceLock<Prepared>; FILES.len()] = [const { OnceLock::new() }; FILES.len()];
    PREPARED[i].get_or_init(|| {
        let bytes = FILES[i].bytes;
        let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3), flate2::Compression::best());
        // writing into a Vec cannot fail
        let gzip = std::io::Write::write_all(&mut gz, bytes).and_then(|()| gz.finish()).unwrap_or_default().into();
        let etag = format!("\"{}\"", data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(bytes)[..16]));
        Prepared { gzip, etag }
    })
}

pub(crate) async fn root() -> Redirect {
    Redirect::to("/app/")
}

pub(crate) async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers).await
}

pub(crate) async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers).await
}

async fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(i) = FILES.iter().position(|f| f.name == name) else {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("the app has no file '{name}'"))
            .into_response();
    };
    // the first request compresses (a second for the WebAssembly): off the async workers
    let prepared = match tokio::task::spawn_blocking(move || prepared(i)).await {
        Ok(p) => p,
        Err(e) => return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()).into_response(),
    };
    let file = &FILES[i];
    let etag = HeaderValue::from_str(&prepared.etag).ok();
    let answer = |status: StatusCode, body: Bytes, gzip: bool| {
        let mut r = (status, body).into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.media_type));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        // never inside another site's frame (a page's own policy cannot say so)
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'"));
        if let Some(e) = &etag {
            h.insert(header::ETAG, e.clone());
        }
        if gzip {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if file.name == "sw.js" {
            // the worker controls the whole app, which lives under /app/
            h.insert("service-worker-allowed", HeaderValue::from_static("/app/"));
        }
        r
    };
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == prepared.etag));
    if unchanged {
        return answer(StatusCode::NOT_MODIFIED, Bytes::new(), false);
    }
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip")))
        && !prepared.gzip.is_empty();
    let body = if gzip { prepared.gzip.clone() } else { Bytes::from_static(file.bytes) };
    answer(StatusCode::OK, body, gzip)
}
