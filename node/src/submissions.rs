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

/// What importing one submission will do.
enum Step {
    Create(Box<crate::write::NewRecord>),
    Update(Vec<(String, Value)>),
    Same,
}

/// A short hash of what the submission says (its fields and photos): the
/// record keeps it in `source_ref`, so an unchanged submission is known
/// without comparing fields a person may have corrected since.
fn fingerprint(s: &Submission) -> String {
    let mut text = Value::Object(s.fields.clone()).to_string();
    for p in &s.photos {
        text.push_str(&crate::blobs::sha256(&p.bytes));
    }
    crate::blobs::sha256(text.as_bytes())[..16].to_string()
}

/// The first frozen field (figures of a validated record) among `changed`.
fn frozen_among(node: &Node, existing: &crate::node::Record, changed: &[(String, Value)]) -> Result<Option<String>> {
    let schema = node.kind(&existing.kind)?;
    let Some(frozen) = schema.meta().get("frozen") else { return Ok(None) };
    let (Some(from), Some(lc)) = (frozen.get("from").and_then(Value::as_str), schema.lifecycle.as_ref()) else {
        return Ok(None);
    };
    let fields: Vec<&str> =
        frozen.get("fields").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let state = existing.status.as_deref().unwrap_or("");
    if lc.precedence(state) < lc.precedence(from) {
        return Ok(None);
    }
    Ok(changed.iter().map(|(k, _)| k).find(|k| fields.contains(&k.as_str())).cloned())
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
        // every write judged before any is made: a new record built and
        // signed, an update checked against deletion and frozen figures;
        // a record already as the submission left it is left alone (local
        // corrections are overwritten only when the submission itself was
        // edited since)
        let mut plan = vec![];
        for mut s in ready {
            let reference = format!("{}:{}", s.kind, s.key);
            let fingerprint = fingerprint(&s);
            if let Some(Value::String(r)) = s.fields.get_mut("source_ref") {
                r.push_str(&format!("@{fingerprint}"));
            }
            let step = match self.get(&reference) {
                Err(Error::NotFound(_)) => {
                    match self.build_new(&s.kind, Some(&s.key), Value::Object(s.fields.clone())) {
                        Ok(new) => Step::Create(Box::new(new)),
                        Err(e) => {
                            bad.push((s.row.to_string(), e.to_string()));
                            continue;
                        }
                    }
                }
                Err(e) => return Err(e),
                Ok(existing) if existing.deleted => {
                    bad.push((
                        s.row.to_string(),
                        format!("{reference} was deleted on this node: restore or re-key it first"),
                    ));
                    continue;
                }
                Ok(existing) if existing.fields.get("source_ref") == s.fields.get("source_ref") => Step::Same,
                Ok(existing) => {
                    let changed: Vec<(String, Value)> = s
                        .fields
                        .iter()
                        .filter(|(k, v)| !existing.fields.get(k.as_str()).is_some_and(|old| same(old, v)))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    if let Some(field) = frozen_among(self, &existing, &changed)? {
                        bad.push((
                            s.row.to_string(),
                            format!("{reference} was validated: its {field} are frozen (HQ amends them); the edited submission is not applied"),
                        ));
                        continue;
                    }
                    Step::Update(changed)
                }
            };
            plan.push((s, reference, step));
        }
        if !bad.is_empty() {
            return Err(Error::Import(bad));
        }
        let mut report = SubmissionReport { submissions: plan.len(), ..Default::default() };
        for (s, reference, step) in plan {
            match step {
                Step::Create(new) => {
                    self.insert(*new)?;
                    report.created += 1;
                }
                Step::Same => report.unchanged += 1,
                Step::Update(changed) if changed.is_empty() => report.unchanged += 1,
                Step::Update(changed) => {
                    self.set(&reference, &changed)?;
                    report.updated += 1;
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
