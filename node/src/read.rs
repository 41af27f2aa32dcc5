//! Reading records: one record, a kind's listing (filtered, streamed), a
//! record's history, the records with conflicts.
//!
//! Owns: the read views the CLI and the API show. Must never: write.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::identity::NodeId;
use crate::node::{rfc3339, HistoryEntry, Reader, Record, RecordConflicts, StatusConflict};
use crate::record::{self};
use time::OffsetDateTime;

impl Reader {
    /// One record, read from its document.
    pub fn get(&self, reference: &str) -> Result<Record> {
        let id = self.resolve(reference)?;
        let doc = self.load(&id)?;
        Ok(self.shown(self.view_of(&id, &doc)?))
    }

    /// Live records of `kind` whose fields match every `(path, value)`
    /// filter (`status`, `key` and `id` match the record itself; a list
    /// matches when it contains the value). Reads only the views of `kind`.
    pub fn list(&self, kind: &str, filters: &[(String, Value)]) -> Result<Vec<Record>> {
        let mut out = vec![];
        self.list_each(kind, filters, |rec| {
            out.push(rec);
            Ok(())
        })?;
        Ok(out)
    }

    /// Like [`Node::list`], handing each record to `f` as it is read, so a
    /// front end can stream a large kind with one record in memory.
    /// Returns how many records matched.
    pub fn list_each(
        &self,
        kind: &str,
        filters: &[(String, Value)],
        mut f: impl FnMut(Record) -> Result<()>,
    ) -> Result<usize> {
        let filters = self.where_filters(kind, filters)?;
        let mut n = 0;
        for item in self.store().views_of_kind_iter(kind) {
            let (id, bytes) = item?;
            let rec: Record = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Damaged { id: id.to_string(), reason: format!("view: {e}") })?;
            if rec.deleted {
                continue;
            }
            let rec = self.shown(rec);
            if filters.iter().all(|(path, want)| matches(&rec, path, want)) {
                n += 1;
                f(rec)?;
            }
        }
        Ok(n)
    }

    /// Checks `--where` filters against the kind and makes their values
    /// what records hold: `status` must be one of the kind's states (or the
    /// names shown for them), `key` and `id` are compared as given, and any
    /// other path must be a field of the kind (references by key, enums by
    /// their choices; see `KindSchema::where_value`).
    fn where_filters(&self, kind: &str, filters: &[(String, Value)]) -> Result<Vec<(String, Value)>> {
        let schema = self.kind(kind)?;
        let mut out = vec![];
        for (path, value) in filters {
            let value = match path.as_str() {
                "key" | "id" => value.clone(),
                "status" => {
                    let Some(lc) = &schema.lifecycle else {
                        return Err(Error::invalid(kind, "status", format!("{kind} records have no lifecycle")));
                    };
                    let mut names: Vec<&str> = lc.states.keys().map(String::as_str).collect();
                    for d in lc.derived.values() {
                        names.extend([d.before.as_str(), d.warning.as_str(), d.after.as_str()]);
                    }
                    if !value.as_str().is_some_and(|s| names.contains(&s)) {
                        return Err(Error::invalid(
                            kind,
                            "status",
                            format!("{value} is not a state of {kind} (states: {})", names.join(", ")),
                        ));
                    }
                    value.clone()
                }
                _ => {
                    let segs = crate::node::parse_path(path)?;
                    schema.where_value(self.schemas(), &segs, value.clone(), &mut self.key_resolver())?
                }
            };
            out.push((path.clone(), value));
        }
        Ok(out)
    }

    /// The records that the document IDs among `texts` name, as people read
    /// them: ID → `kind:key — title`. Records store references as IDs; front
    /// ends show these next to them (`ayni get`, `ayni history`).
    pub fn names_of<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for text in texts {
            for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
                if out.contains_key(word) {
                    continue;
                }
                let Ok(id) = word.parse::<crate::DocumentId>() else { continue };
                let Some(view) = self.store().view(&id)? else { continue };
                let Ok(rec) = serde_json::from_slice::<Record>(&view) else { continue };
                let title = rec.title.map(|t| format!(" — {t}")).unwrap_or_default();
                out.insert(word.to_string(), format!("{}:{}{title}", rec.kind, rec.key));
            }
        }
        Ok(out)
    }

    /// [`Node::names_of`] the strings of a record's fields.
    pub fn names_in(&self, fields: &Value) -> Result<BTreeMap<String, String>> {
        fn strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
            match v {
                Value::String(s) => out.push(s),
                Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
                Value::Object(m) => m.values().for_each(|i| strings(i, out)),
                _ => {}
            }
        }
        let mut all = vec![];
        strings(fields, &mut all);
        self.names_of(all)
    }

    /// `value` with every reference — a string that is the document ID of a
    /// stored record — written as `kind:key`, as people and `import` name
    /// records (a record dump that moves between nodes keeps its meaning:
    /// document IDs are made anew by whoever imports it).
    pub fn keyed(&self, value: &Value) -> Result<Value> {
        Ok(match value {
            Value::String(s) => match s.parse::<crate::DocumentId>() {
                Ok(id) => match self.store().view(&id)? {
                    Some(view) => match serde_json::from_slice::<Record>(&view) {
                        Ok(rec) => Value::String(format!("{}:{}", rec.kind, rec.key)),
                        Err(_) => value.clone(),
                    },
                    None => value.clone(),
                },
                Err(_) => value.clone(),
            },
            Value::Array(items) => Value::Array(items.iter().map(|v| self.keyed(v)).collect::<Result<_>>()?),
            Value::Object(m) => Value::Object(
                m.iter().map(|(k, v)| Ok((k.clone(), self.keyed(v)?))).collect::<Result<serde_json::Map<_, _>>>()?,
            ),
            other => other.clone(),
        })
    }

    /// Every change to a record, oldest first.
    pub fn history(&self, reference: &str) -> Result<Vec<HistoryEntry>> {
        let id = self.resolve(reference)?;
        let doc = self.load(&id)?;
        let mut out = vec![];
        for c in doc.get_changes(&[]) {
            let attested = match self.proof(&c.hash().0)? {
                Some(crate::attest::Proof::Attested(a)) => Some(a),
                _ => None,
            };
            let node = match &attested {
                Some(a) => a.gateway.to_string(),
                None => {
                    NodeId::from_actor(c.actor_id()).map_or_else(|| c.actor_id().to_hex_string(), |n| n.to_string())
                }
            };
            out.push(HistoryEntry {
                hash: c.hash().to_string(),
                at: OffsetDateTime::from_unix_timestamp(c.timestamp()).map(rfc3339).unwrap_or_default(),
                node,
                message: c.message().unwrap_or_default().to_string(),
                client: attested.map(|a| a.client),
            });
        }
        Ok(out)
    }

    /// Every record with conflicts.
    pub fn conflicts(&self) -> Result<Vec<RecordConflicts>> {
        let mut out = vec![];
        for id in self.store().conflicted()? {
            let doc = self.load(&id)?;
            let Some(env) = record::envelope(&doc) else { continue };
            let schema = self.kind(&env.kind)?;
            let status = schema
                .lifecycle
                .as_ref()
                .map(|lc| {
                    let folded = lc.fold(&record::transitions(&doc));
                    folded
                        .conflicts
                        .iter()
                        .map(|c| StatusConflict {
                            current: folded.state.clone(),
                            wanted: c.to.clone(),
                            by: c.by.clone(),
                            entry: c.id.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let rc = RecordConflicts {
                id: id.to_string(),
                kind: env.kind,
                key: env.key,
                fields: record::conflicts(&doc),
                status,
                deleted_while_edited: record::is_live(&doc) && record::tombstone(&doc).is_some(),
            };
            if !rc.fields.is_empty() || !rc.status.is_empty() || rc.deleted_while_edited {
                out.push(rc);
            }
        }
        out.sort_by(|a, b| (&a.kind, &a.key).cmp(&(&b.kind, &b.key)));
        Ok(out)
    }
}

fn matches(rec: &Record, path: &str, want: &Value) -> bool {
    let got = match path {
        "status" => rec.status.clone().map(Value::String),
        "key" => Some(Value::String(rec.key.clone())),
        "id" => Some(Value::String(rec.id.clone())),
        _ => {
            let pointer = format!("/{}", path.replace('~', "~0").replace('/', "~1").replace('.', "/"));
            rec.fields.pointer(&pointer).cloned()
        }
    };
    match got {
        Some(Value::Array(items)) => items.contains(want) || Some(&Value::Array(items.clone())) == Some(want),
        Some(v) => &v == want || (want.is_string() && v.to_string() == *want.as_str().unwrap_or_default()),
        None => false,
    }
}
