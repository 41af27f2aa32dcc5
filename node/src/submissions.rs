//! Form submissions (ODK Collect, KoboCollect) becoming records: one
//! EDAN record per submission, keyed by its instance ID, so importing the
//! same export twice adds nothing and a submission edited on the server
//! updates its record.
//!
//! Owns: resolving the references a form holds by key (the event),
//! judging every submission before anything is written (each error named
//! by file, row and column), and writing only what changed. Must never:
//! read a form's files (the `forms` crate does) or write part of a batch
//! that has a bad row.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::attach::Meta;
use crate::blobs::Limits;
use crate::error::{Error, Result};
use crate::node::Node;

/// Where a value came from: file, row (1-based, header = 1), column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// The file (or sheet).
    pub file: String,
    /// The row.
    pub row: usize,
    /// The column.
    pub column: String,
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} row {} column {}", self.file, self.row, self.column)
    }
}

/// A photo a submission carries.
#[derive(Debug, Clone)]
pub struct Photo {
    /// Its file name as the form recorded it.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// A caption.
    pub caption: Option<String>,
    /// Where its name was.
    pub at: Cell,
}

/// One submission, mapped to a record of `kind`.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The record's kind.
    pub kind: String,
    /// Its key: the tool and the instance ID (`odk-…`, `kobo-…`).
    pub key: String,
    /// Its fields; references still as keys (see `references`).
    pub fields: Map<String, Value>,
    /// Fields that hold a record's key to resolve to its ID: (field, kind, key, where).
    pub references: Vec<(String, String, String, Cell)>,
    /// Photos to attach.
    pub photos: Vec<Photo>,
    /// Where each field path came from, for errors.
    pub provenance: Vec<(String, Cell)>,
    /// The submission's row.
    pub row: Cell,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SubmissionReport {
    /// Submissions read.
    pub submissions: usize,
    /// Records created.
    pub created: usize,
    /// Records updated (a submission edited since the last import).
    pub updated: usize,
    /// Records already as the submission says.
    pub unchanged: usize,
    /// Photos attached (new entries).
    pub photos: usize,
}

/// Equal as data: numbers by value (a form's `900` and a stored `900.0`
/// are the same quantity).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Where an error at `path` came from: the longest provenance that covers it.
fn locate<'c>(s: &'c Submission, path: &str) -> &'c Cell {
    s.provenance
        .iter()
        .filter(|(p, _)| path == p || path.starts_with(&format!("{p}.")) || p.starts_with(&format!("{path}.")))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, c)| c)
        .unwrap_or(&s.row)
}

impl Node {
    /// Judges every submission, then writes them: nothing is written if
    /// any is bad, and every bad one is named by file, row and column.
    pub fn import_submissions(&self, subs: Vec<Submission>) -> Result<SubmissionReport> {
        let mut bad: Vec<(String, String)> = vec![];
        let mut ready = vec![];
        let limits = Limits::default();
        for mut s in subs {
            let mut ok = true;
            for (field, kind, key, at) in &s.references {
                match self.get(&format!("{kind}:{key}")) {
                    Ok(r) => {
                        s.fields.insert(field.clone(), Value::String(r.id));
                    }
                    Err(_) => {
                        bad.push((at.to_string(), format!("no {kind} with key '{key}'")));
                        ok = false;
                    }
                }
            }
            for p in &s.photos {
                if let Err(e) = crate::blobs::Blobs::judge(&p.bytes, None, &limits, &p.name) {
                    bad.push((p.at.to_string(), e.to_string()));
                    ok = false;
                }
            }
            if ok {
                let fields = Value::Object(s.fields.clone());
                if let Err(e) = self.kind(&s.kind).and_then(|k| k.validate(&fields)) {
                    let (path, reason) = match &e {
                        Error::Invalid { path, reason, .. } => (path.clone(), reason.clone()),
                        other => (String::new(), other.to_string()),
                    };
                    bad.push((locate(&s, &path).to_string(), format!("{} {path}: {reason}", s.kind)));
                    ok = false;
                }
            }
            if ok {
                ready.push(s);
            }
        }
        if !bad.is_empty() {
            return Err(Error::Import(bad));
        }
        let mut report = SubmissionReport { submissions: ready.len(), ..Default::default() };
        for s in ready {
            let reference = format!("{}:{}", s.kind, s.key);
            match self.get(&reference) {
                Err(Error::NotFound(_)) => {
                    self.add(&s.kind, Some(&s.key), Value::Object(s.fields.clone()))?;
                    report.created += 1;
                }
                Err(e) => return Err(e),
                Ok(existing) => {
                    let changed: Vec<(String, Value)> = s
                        .fields
                        .iter()
                        .filter(|(k, v)| !existing.fields.get(k.as_str()).is_some_and(|old| same(old, v)))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    if changed.is_empty() {
                        report.unchanged += 1;
                    } else {
                        self.set(&reference, &changed)?;
                        report.updated += 1;
                    }
                }
            }
            for p in s.photos {
                let hash = crate::blobs::sha256(&p.bytes);
                let has_entry = self.get(&reference)?.fields.get("attachments").and_then(|a| a.get(&hash)).is_some();
                if has_entry {
                    continue;
                }
                let meta = Meta { name: Some(p.name), caption: p.caption };
                self.attach(&reference, "attachments", &p.bytes, &meta, &limits)?;
                report.photos += 1;
            }
        }
        Ok(report)
    }
}
