//! KoboToolbox's exports: XLSX ("XML values and headers", group separator
//! `/`) with the root sheet first and one sheet per repeat, rows linked by
//! `_parent_index` to the root's `_index`; the submission's `_uuid`
//! (`meta/rootUuid` once edited, which stays the same across edits);
//! geopoints as `_PATH_latitude`, `_PATH_longitude`, `_PATH_altitude`,
//! `_PATH_precision` (or `lat lon alt precision` in the question's own
//! column); select_multiple space-separated. Also Kobo's CSV, `;`-separated
//! and without repeats. Photos are named in their column; their files come
//! from `--media DIR` (Kobo exports them apart).
//!
//! Owns: opening those files and laying their tables out for
//! [`crate::read`]. Must never: guess a column it cannot find.

use std::collections::BTreeMap;
use std::path::Path;

use ayni_node::submissions::Submission;
use std::io::Read;

use calamine::{Data, Reader};

use crate::odk::csv_table;
use crate::read::{submissions, Layout, Table};
use crate::Error;

fn text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::DateTime(dt) => {
            let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
        }
        other => other.to_string(),
    }
}

/// The most rows and columns a sheet of a submissions export may span (a
/// KoboToolbox export of a large survey: tens of thousands of rows, a few
/// hundred columns). A sheet that claims more — one cell far away is
/// enough — is refused before its grid is built.
const MAX_ROWS: u32 = 500_000;
const MAX_COLUMNS: u32 = 4_000;
/// The most cells, and the most bytes a workbook's parts may inflate to.
const MAX_CELLS: usize = 20_000_000;
const MAX_PART: u64 = 256 * 1024 * 1024;
const MAX_PARTS: u64 = 1024 * 1024 * 1024;

/// The workbook's zip parts inflate within the limits (counted, not kept:
/// calamine reads the shared strings whole).
fn parts_within_limits(name: &str, bytes: &[u8]) -> Result<(), Error> {
    let bad = |reason: String| Error::File { file: name.into(), reason };
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| bad(format!("not an XLSX workbook: {e}")))?;
    let mut total = 0u64;
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(|e| bad(format!("not an XLSX workbook: {e}")))?;
        let part = entry.name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        let n = std::io::copy(&mut entry.take(MAX_PART + 1), &mut std::io::sink())
            .map_err(|e| bad(format!("{part}: {e}")))?;
        total += n;
        if n > MAX_PART || total > MAX_PARTS {
            return Err(bad(format!(
                "its part {part} inflates past {} MiB: not a submissions export (or a compression bomb)",
                MAX_PART >> 20
            )));
        }
    }
    Ok(())
}

fn sheets(name: &str, bytes: &[u8]) -> Result<Vec<Table>, Error> {
    parts_within_limits(name, bytes)?;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes))
        .map_err(|e| Error::File { file: name.into(), reason: format!("not an XLSX workbook: {e}") })?;
    let mut out = vec![];
    for sheet in book.sheet_names() {
        let bad = |reason: String| Error::File { file: name.into(), reason: format!("sheet {sheet}: {reason}") };
        // the cells one by one, checked before any grid is made
        let mut cells: Vec<((u32, u32), Data)> = vec![];
        let mut reader = book.worksheet_cells_reader(&sheet).map_err(|e| bad(e.to_string()))?;
        while let Some(cell) = reader.next_cell().map_err(|e| bad(e.to_string()))? {
            let (row, col) = cell.get_position();
            if row >= MAX_ROWS || col >= MAX_COLUMNS || cells.len() >= MAX_CELLS {
                return Err(bad(format!(
                    "a cell at row {}, column {} is beyond {MAX_ROWS} rows × {MAX_COLUMNS} columns: not a submissions export",
                    row + 1,
                    col + 1
                )));
            }
            cells.push(((row, col), Data::from(cell.get_value().clone())));
        }
        // the grid spans the used cells, as calamine's ranges do
        let (top, left) = (
            cells.iter().map(|((r, _), _)| *r).min().unwrap_or(0),
            cells.iter().map(|((_, c), _)| *c).min().unwrap_or(0),
        );
        let rows = cells.iter().map(|((r, _), _)| r + 1 - top).max().unwrap_or(0) as usize;
        let width = cells.iter().map(|((_, c), _)| c + 1 - left).max().unwrap_or(0) as usize;
        if rows.saturating_mul(width) > MAX_CELLS {
            return Err(bad(format!("{rows} rows × {width} columns is more than {MAX_CELLS} cells")));
        }
        let mut grid = vec![vec![String::new(); width]; rows];
        for ((r, c), v) in &cells {
            grid[(r - top) as usize][(c - left) as usize] = text(v);
        }
        let mut grid = grid.into_iter();
        let columns = grid.next().unwrap_or_default();
        out.push(Table { file: format!("{name} sheet {sheet}"), columns, rows: grid.collect() });
    }
    Ok(out)
}

/// Every submission in a KoboToolbox export (`.xlsx`, or `.csv` with `;`).
pub fn read(name: &str, bytes: &[u8], media: Option<&Path>) -> Result<Vec<Submission>, Error> {
    let (root, repeats) = if name.to_ascii_lowercase().ends_with(".csv") {
        (csv_table(name, bytes, b';')?, BTreeMap::new())
    } else {
        let mut tables = sheets(name, bytes)?.into_iter();
        let root = tables.next().ok_or_else(|| Error::File { file: name.into(), reason: "no sheets".into() })?;
        let repeats =
            tables.map(|t| (t.file.rsplit("sheet ").next().unwrap_or("").to_string(), t)).collect::<BTreeMap<_, _>>();
        (root, repeats)
    };
    let media_of = |f: &str| {
        let dir = media?;
        // a file name only: never a path out of the directory
        (!f.contains(['/', '\\']) && f != ".." && f != ".").then(|| std::fs::read(dir.join(f)).ok()).flatten()
    };
    let geo = |path: &[&str], part: &str| {
        let part = if part == "accuracy" { "precision" } else { part };
        vec![format!("_{}_{part}", path.join("/")), format!("_{}_{part}", path.last().unwrap_or(&""))]
    };
    let hint =
        if media.is_some() { " (the --media directory)" } else { ": give --media DIR with the export's attachments" };
    submissions(&Layout {
        tool: "kobo",
        sep: '/',
        root,
        repeats,
        id_columns: &["meta/rootUuid", "_uuid", "meta/instanceID"],
        time_column: "_submission_time",
        link: ("_index", "_parent_index"),
        media: &media_of,
        media_hint: hint,
        geo_columns: &geo,
    })
}
