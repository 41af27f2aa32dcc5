//! GeoJSON per RFC 7946, as QGIS opens it.
//!
//! Owns: one `FeatureCollection` per table (a layer, named after it),
//! one `Feature` per row with its stable ID, a `Point` geometry at
//! `[longitude, latitude]` in WGS 84 (or `null` for a row without a
//! place, which RFC 7946 allows) and flat scalar properties — numbers as
//! numbers, everything else as text, so no property is a nested object
//! QGIS would turn into JSON text. Must never: reproject, round or guess
//! coordinates.

use std::io::Write;

use serde_json::{json, Value};

use crate::tidy::{Layout, TidyRow};
use crate::{json_object, Result};

/// Writes one layer, feature by feature.
pub struct GeoJsonWriter<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> GeoJsonWriter<W> {
    /// Opens the collection.
    pub fn new(mut out: W, layout: &Layout) -> Result<GeoJsonWriter<W>> {
        write!(out, "{{\"type\":\"FeatureCollection\",\"name\":{},\"features\":[", Value::from(layout.table.clone()))?;
        Ok(GeoJsonWriter { out, first: true })
    }

    /// One feature per row.
    pub fn rows(&mut self, layout: &Layout, rows: &[TidyRow]) -> Result<()> {
        for row in rows {
            let geometry = match row.point {
                Some((lon, lat)) => json!({"type": "Point", "coordinates": [lon, lat]}),
                None => Value::Null,
            };
            let feature = json!({
                "type": "Feature",
                "id": row.id,
                "geometry": geometry,
                "properties": json_object(layout, row),
            });
            self.out.write_all(if self.first { b"\n" } else { b",\n" })?;
            serde_json::to_writer(&mut self.out, &feature).map_err(std::io::Error::from)?;
            self.first = false;
        }
        Ok(())
    }

    /// Closes the collection.
    pub fn finish(mut self) -> Result<()> {
        self.out.write_all(b"\n]}\n")?;
        Ok(self.out.flush()?)
    }
}
