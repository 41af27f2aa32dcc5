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
            serde_json::from_str(DEMO).map_err(|e| Error::Internal(format!("embedded seed is broken: {e}")))?;
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
                    .ok_or_else(|| Error::Internal(format!("seed: {reference} cannot reach state {target}")))?;
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

/// An EDAN record shaped like the demo's `edan-sama-1` (zones with their
/// location, tallies per zone and team with nested livestock counts,
/// services, needs, response; about 2.7 KB of JSON), with its key
/// `edan-{i:06}`, its title and its figures varied deterministically by
/// `i`. Refers to the demo's event, action, unit and entities, so the demo
/// data must be loaded first. What benchmarks and the crash loop write:
/// data shaped like the real thing, not flat fields.
pub fn edan_like(i: usize) -> Value {
    static TEMPLATE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        serde_json::from_str::<Demo>(DEMO)
            .ok()
            .and_then(|d| d.records.into_iter().find(|r| r.kind == "edan"))
            .map(|r| r.fields)
            .unwrap_or(Value::Null)
    });
    let r = |salt: u64, m: u64| {
        let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 31;
        x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
        (x ^ (x >> 29)) % m
    };
    let mut v = template.clone();
    let Some(m) = v.as_object_mut() else { return v };
    m.insert("key".into(), Value::String(format!("edan-{i:06}")));
    m.insert("title".into(), Value::String(format!("EDAN {i} — incendio de Sama, comunidad {}", r(1, 5000))));
    m.remove("note");
    // figures vary; every number in the tallies and needs gets its own value
    fn vary(v: &mut Value, seed: &mut u64, r: &dyn Fn(u64, u64) -> u64) {
        match v {
            Value::Number(n) if n.is_u64() => {
                *seed += 1;
                *v = Value::from(r(*seed, 3 * n.as_u64().unwrap_or(1) + 5));
            }
            Value::Object(o) => o.values_mut().for_each(|x| vary(x, seed, r)),
            Value::Array(a) => a.iter_mut().for_each(|x| vary(x, seed, r)),
            _ => {}
        }
    }
    let mut seed = 100;
    for field in ["tallies", "needs", "services"] {
        if let Some(x) = m.get_mut(field) {
            vary(x, &mut seed, &r);
        }
    }
    if let Some(Value::Object(zones)) = m.get_mut("zones") {
        for (n, z) in zones.values_mut().enumerate() {
            if let Some(Value::Object(geo)) = z.get_mut("geo") {
                geo.insert("lat".into(), Value::from(-21.0 - r(10 + n as u64, 100_000) as f64 / 100_000.0));
                geo.insert("lon".into(), Value::from(-64.0 - r(20 + n as u64, 100_000) as f64 / 100_000.0));
            }
        }
    }
    v
}
