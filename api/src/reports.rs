//! Reports over HTTP: `GET /api/v1/reports/event/{key}` and
//! `GET /api/v1/reports/cooperation`.
//!
//! Owns: the `format` (json, html, md) and `year` queries and the answer's
//! content type. Must never: build a report from records the client may
//! not read.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;

use crate::error::ApiError;
use crate::{actor_of, reference, Answer, Api};

/// A report's `format` query (json, html or md) and its `year`, if asked.
fn report_query(raw: Option<String>, year_allowed: bool) -> Result<(String, Option<i32>), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("malformed query: {e}")))?;
    let (mut format, mut year) = ("json".to_string(), None);
    for (name, value) in pairs {
        match name.as_str() {
            "format" if ["json", "html", "md"].contains(&value.as_str()) => format = value,
            "format" => return Err(ApiError::bad_request(format!("format must be json, html or md, not '{value}'"))),
            "year" if year_allowed => {
                year = Some(
                    value.parse().map_err(|_| ApiError::bad_request(format!("year must be a year, not '{value}'")))?,
                )
            }
            other => return Err(ApiError::bad_request(format!("unknown query parameter '{other}'"))),
        }
    }
    Ok((format, year))
}

/// A report as the format asked: JSON, or a page rendered by `html`/`md`.
fn report_answer<R: Serialize>(
    report: R,
    format: &str,
    html: fn(&R, &str) -> String,
    md: fn(&R, &str) -> String,
) -> Answer {
    use axum::http::header::CONTENT_TYPE;
    let generated = ayni_export::generated_label(time::OffsetDateTime::now_utc());
    Ok(match format {
        "html" => ([(CONTENT_TYPE, "text/html; charset=utf-8")], html(&report, &generated)).into_response(),
        "md" => ([(CONTENT_TYPE, "text/markdown; charset=utf-8")], md(&report, &generated)).into_response(),
        _ => Json(report).into_response(),
    })
}

pub(crate) async fn event_report(
    State(api): State<Api>,
    headers: HeaderMap,
    key: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Answer {
    let Path(key) = key.map_err(|r| ApiError::new(r.status(), "bad_request", r.body_text()))?;
    let (format, _) = report_query(raw, false)?;
    let r = reference("event", &key);
    let actor = actor_of(&api, &headers).await?;
    let report = api.node.event_report(&actor, &r).await.map_err(|e| ApiError::from(e).about(r))?;
    report_answer(report, &format, ayni_export::situation::html, ayni_export::situation::markdown)
}

pub(crate) async fn cooperation_report(State(api): State<Api>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Answer {
    let (format, year) = report_query(raw, true)?;
    let today = time::OffsetDateTime::now_utc().date();
    let actor = actor_of(&api, &headers).await?;
    let report = api.node.cooperation_report(&actor, year, today).await?;
    report_answer(report, &format, ayni_export::cooperation::html, ayni_export::cooperation::markdown)
}
