//! The demo data of DOMAIN.md §4 (embedded from `seed/demo.json`): org
//! units, entities, management models, the 2013 catalogue, the practices
//! offered since 2015, funding projects, agreements, requests, missions with
//! their results, the training courses, the Sama fire and its EDAN with the
//! deliberate double count.
//!
//! Owns: loading that data idempotently. Must never: bypass the normal
//! write path (every record goes through `Node::add` and
//! `Node::transition`, so it is validated like any other).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::node::Node;

const DEMO: &str = include_str!("seed/demo.json");

#[derive(Deserialize)]
struct Demo {
    records: Vec<SeedRecord>,
}

#[derive(Deserialize)]
struct SeedRecord {
    kind: String,
    key: String,
    fields: Value,
    #[serde(default)]
    status: Option<String>,
}

/// Outcome of `seed`.
#[derive(Debug, Clone, Serialize)]
pub struct SeedReport {
    /// Records created now.
    pub created: usize,
    /// Records that were already there (by kind and key).
    pub existing: usize,
    /// Per kind: (created, already there).
    pub by_kind: BTreeMap<String, (usize, usize)>,
}

impl Node {
    /// Loads the demo data. Idempotent: a record whose kind and key already
    /// exist is left alone, so running it twice adds nothing.
    pub fn seed(&self) -> Result<SeedReport> {
        let demo: Demo =
            serde_json::from_str(DEMO).map_err(|e| Error::Usage(format!("embedded seed is broken: {e}")))?;
        let mut report = SeedReport { created: 0, existing: 0, by_kind: BTreeMap::new() };
        for r in demo.records {
            let counts = report.by_kind.entry(r.kind.clone()).or_default();
            let reference = format!("{}:{}", r.kind, r.key);
            match self.resolve(&reference) {
                Ok(_) => {
                    counts.1 += 1;
                    report.existing += 1;
                    continue;
                }
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            let mut fields = r.fields;
            if let Some(m) = fields.as_object_mut() {
                m.insert("provenance".into(), Value::String("seed".into()));
            }
            let rec = self.add(&r.kind, Some(&r.key), fields)?;
            if let (Some(target), Some(lc)) = (&r.status, &self.kind(&r.kind)?.lifecycle) {
                let path = lc
                    .path(&lc.initial, target, &rec.fields)
                    .ok_or_else(|| Error::Usage(format!("seed: {reference} cannot reach state {target}")))?;
                for state in path {
                    self.transition(&rec.id, &state, Some("seed"))?;
                }
            }
            counts.0 += 1;
            report.created += 1;
        }
        Ok(report)
    }
}
