//! How cells are written for PostgreSQL's `COPY … (FORMAT csv)`.
//!
//! Owns: a cell as text (array literals, CSV quoting, NULL as nothing)
//! and the NUL characters PostgreSQL's text cannot hold. Must never:
//! decide which columns exist or talk to a database.

use ayni_node::tables::Cell;
use serde_json::Value;

/// A cell's text, `None` for NULL.
fn text(cell: &Cell) -> Option<String> {
    let plain = |s: &str| if s.contains('\0') { s.replace('\0', "\u{FFFD}") } else { s.to_string() };
    match cell {
        Cell::Empty => None,
        Cell::Text(s) => Some(plain(s)),
        Cell::Integer(n) => Some(n.to_string()),
        Cell::Number(f) => Some(f.to_string()),
        Cell::Boolean(b) => Some(if *b { "t".into() } else { "f".into() }),
        Cell::TextList(items) => Some(text_array(items.iter().map(|s| plain(s)))),
        Cell::Json(v) => Some(v.to_string()),
    }
}

/// A PostgreSQL array literal of strings.
fn text_array(items: impl Iterator<Item = String>) -> String {
    let quoted: Vec<String> = items.map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))).collect();
    format!("{{{}}}", quoted.join(","))
}

/// One CSV line for `COPY (FORMAT csv)`: every value quoted, NULL empty.
pub(crate) fn csv_line(cells: &[Cell]) -> String {
    let mut line = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        if let Some(v) = text(c) {
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

/// The value with every NUL character (in strings and keys) as U+FFFD.
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
