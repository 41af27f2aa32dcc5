//! How the API says no: a status code and a JSON body
//! `{"error": {"kind", "message", "record", "field"}}`.
//!
//! Owns: the mapping from the node's error kinds to HTTP statuses. Must
//! never: answer 5xx for bad input, or 4xx for a failure of the node.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use ayni_node::clients::AuthError;
use ayni_node::Error;

/// An API error: what the client sees.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    record: Option<String>,
    field: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    kind: &'a str,
    message: &'a str,
    record: Option<&'a str>,
    field: Option<&'a str>,
}

impl ApiError {
    /// An error of `kind` with `status`.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, kind, message: message.into(), record: None, field: None }
    }

    /// Bad input found by the API itself (400).
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// Names the record the request was about.
    pub fn about(mut self, record: impl Into<String>) -> ApiError {
        if self.record.is_none() {
            self.record = Some(record.into());
        }
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The node's error, as the API reports it.
    pub fn from_node(e: Error) -> ApiError {
        use StatusCode as S;
        let message = e.to_string();
        let (status, kind, field) = match &e {
            Error::Invalid { path, .. } => (S::BAD_REQUEST, "invalid", Some(path.clone()).filter(|p| !p.is_empty())),
            Error::Import(items) => {
                (S::BAD_REQUEST, "invalid", items.first().map(|(at, _)| at.clone()).filter(|_| items.len() == 1))
            }
            Error::UnknownKind { .. } => (S::NOT_FOUND, "unknown_kind", None),
            Error::NotFound(_) => (S::NOT_FOUND, "not_found", None),
            Error::Ambiguous { .. } => (S::CONFLICT, "ambiguous", None),
            Error::Deleted { .. } => (S::CONFLICT, "deleted", None),
            Error::Transition { .. } => (S::CONFLICT, "transition", None),
            Error::Forbidden(_) => (S::FORBIDDEN, "forbidden", None),
            Error::Malformed { .. } => (S::BAD_REQUEST, "malformed", None),
            Error::Precondition(_) => (S::CONFLICT, "precondition", None),
            Error::Refused { .. } => (S::UNPROCESSABLE_ENTITY, "refused", None),
            Error::TooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "too_large", None),
            Error::MediaType { .. } => (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None),
            Error::Stopped(_) => (S::SERVICE_UNAVAILABLE, "unavailable", None),
            e if e.is_invalid_input() => (S::BAD_REQUEST, "bad_request", None),
            _ => (S::INTERNAL_SERVER_ERROR, "internal", None),
        };
        if status.is_server_error() {
            tracing::error!("API: {message}");
        }
        ApiError { status, kind, message, record: None, field }
    }

    /// A refused token (401).
    pub fn from_auth(e: AuthError) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError::from_node(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                kind: self.kind,
                message: &self.message,
                record: self.record.as_deref(),
                field: self.field.as_deref(),
            },
        };
        let mut response = (self.status, axum::Json(&body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
