//! Records as files a person opens: spreadsheets, maps, reports.
//!
//! Owns: the situation report of an emergency and the cooperation report
//! as HTML or Markdown ([`situation`], [`cooperation`], with inline SVG
//! maps and charts from [`svg`] and the Spanish names of [`labels`]); the
//! tidy tables ([`tidy`]: one row per record, or per item of a
//! keyed collection such as an EDAN's tallies per zone × team, with
//! references shown by key and title) and their formats — CSV in Excel's
//! or RFC 4180's dialect ([`csv_dialect`]), XLSX with one sheet per table
//! ([`xlsx`]), GeoJSON per RFC 7946 ([`geojson`]), JSON and JSON Lines.
//! Must never: read the store (the caller hands records and a reference
//! lookup in), print, or decide which columns exist (the schemas do,
//! through [`ayni_node::tables`]).

pub mod catalogue;
pub mod cooperation;
pub mod csv_dialect;
pub mod geojson;
pub mod labels;
mod page;
pub mod situation;
pub mod svg;
pub mod tidy;
pub mod xlsx;

use std::io::Write;

use serde_json::{Map, Value};

pub use page::generated_label;
pub use tidy::{Datum, Layout, References, Tidy, TidyRow};

/// What can go wrong writing an export.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--table` names no table of the kind.
    #[error("kind {kind} has no table {table}: choose one of {}", choices.join(", "))]
    UnknownTable {
        /// The kind.
        kind: String,
        /// The name given.
        table: String,
        /// The tables it has.
        choices: Vec<String>,
    },
    /// The kind has no tables (no schema).
    #[error("no such kind: {0}")]
    UnknownKind(String),
    /// Writing failed.
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    /// The XLSX writer refused.
    #[error("writing the spreadsheet: {0}")]
    Xlsx(String),
}

/// A result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A tidy row as a JSON object: column name → value, empty cells left out.
pub fn json_object(layout: &Layout, row: &TidyRow) -> Value {
    let mut m = Map::new();
    for (name, cell) in layout.columns.iter().zip(&row.cells) {
        if let Some(v) = cell.to_json() {
            m.insert(name.clone(), v);
        }
    }
    Value::Object(m)
}

/// Writes rows as JSON Lines, one object per line.
pub fn write_jsonl(w: &mut dyn Write, layout: &Layout, rows: &[TidyRow]) -> Result<()> {
    for row in rows {
        serde_json::to_writer(&mut *w, &json_object(layout, row)).map_err(std::io::Error::from)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}
