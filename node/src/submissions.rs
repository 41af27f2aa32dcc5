//! Form submissions (ODK Collect, KoboCollect) becoming records: one
//! EDAN record per submission, keyed by its instance ID, so importing the
//! same export twice adds nothing and a submission edited on the server
//! updates its record. A new record is made as every node makes it (its
//! document ID and first change derived from the network and the
//! submission, vouched for by the importing node as `import:TOOL`), so one
//! export imported on two nodes is one record once they sync.
//!
//! Owns: resolving the references a form holds by key (the event),
//! judging every submission before anything is written (each error named
//! by file, row and column), and writing only what changed. Must never:
//! read a form's files (the `forms` crate does) or write part of a batch
//! that has a bad row.

use serde::Serialize;
use serde_json::{Map, Value};

use automerge::{ActorId, Automerge};
use sha2::{Digest, Sha256};

use crate::attach::Meta;
use crate::attest::{ClientRole, IMPORT_PREFIX};
use crate::blobs::Limits;
use crate::error::{Error, Result};
use crate::id::DocumentId;
use crate::ingest::Vouched;
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
    /// The tool it came from (`odk`, `kobo`).
    pub tool: String,
    /// When the tool's server received it, as the export says.
    pub submitted_at: Option<String>,
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
    /// The record's document, made as every node makes it (see [`Node::made`]).
    Create(DocumentId, Box<Automerge>),
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

fn text<'v>(fields: &'v Value, name: &str) -> Option<&'v str> {
    fields.get(name).and_then(Value::as_str)
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
    /// A submission's record as every node that imports it makes it, so
    /// that two nodes importing one export make one record, which a sync
    /// merges: its document ID from the network's and the submission's
    /// (kind and key: tool and instance ID), its first change made by an
    /// actor derived from that ID at the submission's time, its envelope
    /// by `import:TOOL`, its `live` token from the ID. Nothing in it comes
    /// from this node; the node vouches for it (an attestation) instead of
    /// signing it.
    fn made(&self, s: &Submission) -> Result<(DocumentId, Automerge)> {
        let network = self.network()?.map(|n| n.id).unwrap_or_default();
        let seed = Sha256::digest(format!("ayni submission v1\n{network}\n{}\n{}", s.kind, s.key));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&seed[..16]);
        let planned = std::collections::HashMap::from([(s.key.clone(), DocumentId::from_bytes(bytes))]);
        let mut taken = std::collections::HashSet::new();
        // its photos' entries too: every node writes them alike
        let mut fields = s.fields.clone();
        let author = format!("{IMPORT_PREFIX}{}", s.tool);
        for p in &s.photos {
            let blob = crate::blobs::Blobs::judge(&p.bytes, None, &Limits::default(), &p.name)?;
            let meta = Meta { name: Some(p.name.clone()), caption: p.caption.clone() };
            let entry = crate::attach::attachment_entry(&blob, &p.bytes, &meta, &author);
            let attachments = fields.entry("attachments").or_insert_with(|| Value::Object(Map::new()));
            if let Some(map) = attachments.as_object_mut() {
                map.insert(blob.hash.clone(), Value::Object(entry));
            }
        }
        let fields = Value::Object(fields);
        let p = self.prepare(&s.kind, Some(&s.key), fields, &mut taken, Some(&planned))?;
        let doc_id = p.id.to_string();
        // the submission's own time: when the server received it, else when
        // the assessment says it ended or began
        let created_at = [
            s.submitted_at.as_deref(),
            text(&p.fields, "evaluation_ended_at"),
            text(&p.fields, "evaluation_started_at"),
        ]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or("1970-01-01T00:00:00Z")
        .to_string();
        let when = time::OffsetDateTime::parse(&created_at, &time::format_description::well_known::Rfc3339)
            .map_or(0, |t| t.unix_timestamp());
        let env = crate::record::Envelope {
            kind: s.kind.clone(),
            key: p.key.clone(),
            id: doc_id.clone(),
            created_at,
            created_by: author,
        };
        let actor = Sha256::digest(format!("ayni submission actor v1\n{doc_id}"));
        let live = crate::blobs::sha256(format!("ayni submission live v1\n{doc_id}").as_bytes())[..26].to_string();
        let mut doc = Automerge::new().with_actor(ActorId::from(&actor[..16]));
        let mut tx = doc.transaction();
        crate::record::create_as(&mut tx, &doc_id, &env, &p.fields, &live)?;
        tx.commit_with(
            automerge::transaction::CommitOptions::default()
                .with_message(format!("import {} {}", s.tool, p.key))
                .with_time(when),
        );
        Ok((p.id, doc))
    }

    /// Whom this node vouches for a submission as: `import:TOOL`, in its
    /// own role, for the team its tallies are counted for.
    fn voucher(&self, s: &Submission) -> Result<(String, ClientRole, Option<String>)> {
        let role = match self.policy()?.gateway_role(&self.id()) {
            Some(crate::network::Role::Hq) => ClientRole::Hq,
            Some(crate::network::Role::Field) => ClientRole::Field,
            None => {
                return Err(Error::Forbidden("this node is not a member of its network: it imports nothing".into()))
            }
        };
        let team = s.fields.get("tallies").and_then(Value::as_object).and_then(|zones| {
            zones.values().filter_map(Value::as_object).flat_map(|teams| teams.keys()).next().cloned()
        });
        Ok((format!("{IMPORT_PREFIX}{}", s.tool), role, team))
    }

    /// How admission will judge a submission's new record (nothing is
    /// written, not even to the audit): `Some(why)` when it refuses it.
    fn judged(&self, s: &Submission, id: &DocumentId, doc: &Automerge) -> Result<Option<String>> {
        let (name, role, team) = self.voucher(s)?;
        let who = Vouched { name: &name, role, team: team.as_deref() };
        let proofs = self.attest_for(&who, doc, &[])?;
        let known = |h: &[u8; 32]| Ok(proofs.get(h).cloned());
        let now = crate::node::now_rfc3339();
        let policy = self.policy()?;
        let decided = crate::admission::admit(
            &policy,
            id,
            None,
            crate::admission::Offered::Document(doc),
            &known,
            "import",
            &now,
        )?;
        Ok(decided.refused.into_iter().next().map(|r| r.reason))
    }

    /// Stores a submission's new record, vouched for by this node (see
    /// [`Node::voucher`]), judged like any change.
    fn vouch(&self, s: &Submission, id: &DocumentId, doc: &Automerge) -> Result<()> {
        let (name, role, team) = self.voucher(s)?;
        let who = Vouched { name: &name, role, team: team.as_deref() };
        let written = self.ingest_attested(&who, id, doc, &format!("import {}", s.tool))?;
        match written.refused.first() {
            Some(r) => Err(Error::refused(format!("{}:{}", s.kind, s.key), r.reason.clone())),
            None => Ok(()),
        }
    }

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
                Err(Error::NotFound(_)) => match self.made(&s) {
                    // judged now, as it will be written: a refusal is named
                    // before anything of the import is written
                    Ok((id, doc)) => match self.judged(&s, &id, &doc)? {
                        None => Step::Create(id, Box::new(doc)),
                        Some(why) => {
                            bad.push((s.row.to_string(), format!("{reference}: {why}")));
                            continue;
                        }
                    },
                    Err(e) => {
                        bad.push((s.row.to_string(), e.to_string()));
                        continue;
                    }
                },
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
                Step::Create(id, doc) => {
                    // the photos it references, stored first
                    for p in &s.photos {
                        self.blobs().put(&p.bytes, None, &limits, &p.name)?;
                    }
                    self.vouch(&s, &id, &doc)?;
                    report.created += 1;
                    let distinct: std::collections::HashSet<String> =
                        s.photos.iter().map(|p| crate::blobs::sha256(&p.bytes)).collect();
                    report.photos += distinct.len();
                    continue;
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
