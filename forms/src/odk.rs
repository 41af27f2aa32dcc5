//! ODK Central's export: "Download all data" as CSV, a zip holding the
//! root table `FORM.csv`, one `FORM-REPEAT.csv` per repeat (rows linked by
//! `PARENT_KEY` to the root's `KEY`, the instance ID), group paths joined
//! with `-`, geopoints as `PATH-Latitude`, `-Longitude`, `-Altitude`,
//! `-Accuracy`, select_multiple answers space-separated, and the photos
//! under `media/`.
//!
//! Owns: opening that zip and laying its tables out for [`crate::read`].
//! Must never: read past the limits (each entry's size, all entries'
//! size together, their number), whatever the zip claims.

use std::collections::BTreeMap;
use std::io::Read;

use ayni_node::submissions::Submission;

use crate::read::{submissions, Layout, Table};
use crate::Error;

/// Largest entry read from the zip (a photo, a CSV).
const MAX_ENTRY: u64 = 256 * 1024 * 1024;
/// Most bytes read from all entries together, and most entries.
const MAX_TOTAL: u64 = 2 * 1024 * 1024 * 1024;
const MAX_ENTRIES: usize = 100_000;

fn bad(file: &str, reason: impl Into<String>) -> Error {
    Error::File { file: file.to_string(), reason: reason.into() }
}

/// A CSV's table (`file` names it in errors).
pub fn csv_table(file: &str, bytes: &[u8], delimiter: u8) -> Result<Table, Error> {
    let text = bytes.strip_prefix("\u{FEFF}".as_bytes()).unwrap_or(bytes);
    let mut r = csv::ReaderBuilder::new().delimiter(delimiter).flexible(false).from_reader(text);
    let columns: Vec<String> =
        r.headers().map_err(|e| bad(file, format!("not a CSV table: {e}")))?.iter().map(String::from).collect();
    let mut rows = vec![];
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| bad(file, format!("row {}: {e}", i + 2)))?;
        rows.push(rec.iter().map(String::from).collect());
    }
    Ok(Table { file: file.to_string(), columns, rows })
}

/// Every submission in an ODK Central CSV zip.
pub fn read(name: &str, bytes: &[u8]) -> Result<Vec<Submission>, Error> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| bad(name, format!("not a zip file (ODK Central's \"Download all data\" export): {e}")))?;
    let mut csvs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut media: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if zip.len() > MAX_ENTRIES {
        return Err(bad(name, format!("{} entries, more than {MAX_ENTRIES}", zip.len())));
    }
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| bad(name, e.to_string()))?;
        if entry.is_dir() {
            continue;
        }
        let path = entry.name().map_err(|e| bad(name, e.to_string()))?.to_string();
        let mut buf = vec![];
        (&mut entry).take(MAX_ENTRY + 1).read_to_end(&mut buf).map_err(|e| bad(name, format!("{path}: {e}")))?;
        if buf.len() as u64 > MAX_ENTRY {
            return Err(bad(name, format!("{path} is larger than {} MiB", MAX_ENTRY >> 20)));
        }
        total += buf.len() as u64;
        if total > MAX_TOTAL {
            return Err(bad(name, format!("its entries hold more than {} GiB", MAX_TOTAL >> 30)));
        }
        let base = path.rsplit('/').next().unwrap_or(&path).to_string();
        if path.contains("media/") {
            media.insert(base, buf);
        } else if base.ends_with(".csv") {
            csvs.insert(base, buf);
        }
    }
    // the root is the CSV whose name every other one extends
    let root_name = csvs
        .keys()
        .find(|k| {
            let stem = k.trim_end_matches(".csv");
            csvs.keys().all(|o| o == *k || o.starts_with(&format!("{stem}-")))
        })
        .cloned()
        .ok_or_else(|| bad(name, "no root table (FORM.csv beside FORM-REPEAT.csv)"))?;
    let stem = root_name.trim_end_matches(".csv").to_string();
    let root = csv_table(&root_name, &csvs[&root_name], b',')?;
    let mut repeats = BTreeMap::new();
    for (file, bytes) in &csvs {
        if *file == root_name {
            continue;
        }
        // FORM-group-repeat.csv: the repeat's name is the last part
        let path = file.trim_end_matches(".csv").trim_start_matches(&format!("{stem}-"));
        let repeat = path.rsplit('-').next().unwrap_or(path).to_string();
        repeats.insert(repeat, csv_table(file, bytes, b',')?);
    }
    let media_of = |f: &str| media.get(f).cloned();
    let geo = |path: &[&str], part: &str| {
        let title = format!("{}{}", part[..1].to_uppercase(), &part[1..]);
        vec![format!("{}-{title}", path.join("-")), format!("{}-{title}", path.last().unwrap_or(&""))]
    };
    submissions(&Layout {
        tool: "odk",
        sep: '-',
        root,
        repeats,
        id_columns: &["KEY", "meta-instanceID"],
        time_column: "SubmissionDate",
        link: ("KEY", "PARENT_KEY"),
        media: &media_of,
        media_hint: " (media/ of the zip)",
        geo_columns: &geo,
    })
}
