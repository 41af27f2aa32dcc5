//! How values are written for PostgreSQL's `COPY … (FORMAT csv)`.
//!
//! Owns: a JSON value as a typed column's text (or NULL when it is not of
//! the column's type), array literals, CSV quoting, and the NUL characters
//! PostgreSQL's text cannot hold. Must never: decide which columns exist
//! (that is [`crate::projection`]) or talk to a database.

use serde_json::Value;

use crate::projection::{Column, SqlType};

/// A value as the column's text, or NULL when it is not of the column's
/// type (the JSON still has it).
pub(crate) fn cell(c: &Column, v: &Value) -> Option<String> {
    match c.ty {
        SqlType::Text | SqlType::Date | SqlType::Timestamp => {
            let s = v.as_str()?;
            match &c.allowed {
                Some(allowed) if !allowed.iter().any(|a| a == s) => None,
                _ => Some(s.to_string()),
            }
        }
        SqlType::BigInt | SqlType::Integer => v.as_i64().map(|n| n.to_string()),
        SqlType::Double => v.as_f64().filter(|f| f.is_finite()).map(|f| f.to_string()),
        SqlType::Boolean => v.as_bool().map(|b| if b { "t".into() } else { "f".into() }),
        SqlType::TextArray => {
            let items: Option<Vec<&str>> = v.as_array()?.iter().map(Value::as_str).collect();
            items.map(|i| text_array(i.into_iter()))
        }
        SqlType::Jsonb => Some(v.to_string()),
    }
}

/// A PostgreSQL array literal of strings.
pub(crate) fn text_array<'s>(items: impl Iterator<Item = &'s str>) -> String {
    let quoted: Vec<String> = items.map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))).collect();
    format!("{{{}}}", quoted.join(","))
}

/// One CSV line for `COPY (FORMAT csv)`: every value quoted, NULL empty.
pub(crate) fn csv_line(values: &[Option<String>]) -> String {
    let mut line = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        if let Some(v) = v {
            line.push('"');
            line.push_str(&v.replace('"', "\"\""));
            line.push('"');
        }
    }
    line.push('\n');
    line
}

pub(crate) fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// PostgreSQL's text and jsonb hold no NUL character: it becomes U+FFFD.
pub(crate) fn without_nul(v: Value) -> Value {
    match v {
        Value::String(s) if s.contains('\0') => Value::String(s.replace('\0', "\u{FFFD}")),
        Value::Array(a) => Value::Array(a.into_iter().map(without_nul).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (k.replace('\0', "\u{FFFD}"), without_nul(v))).collect())
        }
        other => other,
    }
}
