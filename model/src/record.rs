//! One record = one automerge document: its layout, how JSON fields are
//! written into it, and how it reads back (values, conflicts, transition
//! log, tombstone).
//!
//! Owns: the document layout (version 1, below). Must never: validate
//! (that is `schema`), decide lifecycles (that is `lifecycle`), or touch
//! the store.
//!
//! # Document layout, version 1 (keys of the root map)
//! | key | value |
//! |---|---|
//! | `ayni` | layout version `1`: an int (a JS number); records made before 2026-12 hold it as a uint, read alike |
//! | `kind`, `key` | record kind and human key (strings, set once) |
//! | `id` | the document's own ID (binds its history to it: a creation replayed under another ID is refused) |
//! | `created_at`, `created_by` | RFC 3339 time and node ID of the creator |
//! | `live` | a fresh token on every edit; absent once deleted |
//! | `tombstone` | `{at, by}` written by a delete |
//! | `data` | map: the record's fields, as the kind's schema describes them |
//! | `transitions` | map: transition-log entry ID → `{from, to, seq, at, by, note?, resolves?}` |
//!
//! Fields are nested maps, lists and scalars. Two replicas that create the
//! same map key concurrently (two teams' first tally for zone `z2`) produce
//! two map objects under one key; reads merge them (the union of their
//! keys), so neither team's values are hidden. Only differing scalar (or
//! list) values under the same key are conflicts.
//!
//! Deletion: a delete removes `live` and writes `tombstone`. Every edit puts
//! a new `live` token, so an edit concurrent with a delete wins over it
//! (automerge keeps a concurrent update over a delete): the record stays,
//! flagged `deleted_while_edited`.

use std::collections::BTreeSet;

use automerge::transaction::Transactable;
use automerge::{ObjId as ExId, ObjType, ReadDoc, ScalarValue, Value as AmValue, ROOT};
use serde_json::{Map, Number, Value};

use crate::error::{Error, Result};
use crate::lifecycle::Transition;

/// Document layout version written in the `ayni` key.
pub const LAYOUT_VERSION: u64 = 1;

/// Who created a record, and as what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub kind: String,
    pub key: String,
    /// The document ID it was created as.
    pub id: String,
    pub created_at: String,
    pub created_by: String,
}

/// A field with concurrent values.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldConflict {
    /// Dotted path of the field.
    pub path: String,
    /// Every concurrent value; the first is the one shown.
    pub values: Vec<Value>,
}

fn am(id: &str) -> impl Fn(automerge::AutomergeError) -> Error + '_ {
    move |source| Error::Automerge { id: id.to_string(), source }
}

// ---------------------------------------------------------------- reading

pub fn scalar_to_json(s: &ScalarValue) -> Value {
    match s {
        ScalarValue::Str(s) => Value::String(s.to_string()),
        ScalarValue::Int(i) => Value::from(*i),
        ScalarValue::Uint(u) => Value::from(*u),
        ScalarValue::F64(f) => Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
        ScalarValue::Counter(c) => Value::from(i64::from(c)),
        ScalarValue::Timestamp(t) => Value::from(*t),
        ScalarValue::Boolean(b) => Value::Bool(*b),
        ScalarValue::Bytes(b) => Value::String(b.iter().map(|x| format!("{x:02x}")).collect()),
        ScalarValue::Null | ScalarValue::Unknown { .. } => Value::Null,
    }
}

pub fn json_to_scalar(v: &Value) -> ScalarValue {
    match v {
        Value::String(s) => ScalarValue::Str(s.as_str().into()),
        Value::Bool(b) => ScalarValue::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                ScalarValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                ScalarValue::Uint(u)
            } else {
                ScalarValue::F64(n.as_f64().unwrap_or(0.0))
            }
        }
        _ => ScalarValue::Null,
    }
}

/// Reads one automerge value as JSON (objects through the union reader).
fn value_json<R: ReadDoc>(doc: &R, v: &AmValue<'_>, id: &ExId) -> Value {
    match v {
        AmValue::Scalar(s) => scalar_to_json(s),
        AmValue::Object(_) => read_union(doc, std::slice::from_ref(id)),
    }
}

/// Reads the union of concurrent objects under one key (winner first).
fn read_union<R: ReadDoc>(doc: &R, objs: &[ExId]) -> Value {
    let Some(first) = objs.first() else { return Value::Null };
    match doc.object_type(first) {
        Ok(ObjType::Map) | Ok(ObjType::Table) => {
            let keys: BTreeSet<String> = objs.iter().flat_map(|o| doc.keys(o)).collect();
            let mut out = Map::new();
            for key in keys {
                if let Some(v) = union_at(doc, objs, &key) {
                    out.insert(key, v);
                }
            }
            Value::Object(out)
        }
        Ok(ObjType::List) => Value::Array(
            (0..doc.length(first))
                .filter_map(|i| doc.get(first, i).ok().flatten())
                .map(|(v, id)| value_json(doc, &v, &id))
                .collect(),
        ),
        Ok(ObjType::Text) => Value::String(doc.text(first).unwrap_or_default()),
        Err(_) => Value::Null,
    }
}

/// The value shown at `key` of the concurrent map objects `objs`: the
/// winning value, or the union of every map found there.
fn union_at<R: ReadDoc>(doc: &R, objs: &[ExId], key: &str) -> Option<Value> {
    let (maps, winner) = values_at(doc, objs, key);
    match winner {
        Some((AmValue::Object(ObjType::Map), _)) => Some(read_union(doc, &maps)),
        Some((v, id)) => Some(value_json(doc, &v, &id)),
        None => None,
    }
}

/// For `key` across the concurrent objects `objs`: every map object found
/// (winner first) and the winning value.
fn values_at<'d, R: ReadDoc>(doc: &'d R, objs: &[ExId], key: &str) -> (Vec<ExId>, Option<(AmValue<'d>, ExId)>) {
    let mut winner = None;
    let mut maps = vec![];
    for o in objs {
        if winner.is_none() {
            winner = doc.get(o, key).ok().flatten();
            if let Some((AmValue::Object(ObjType::Map), id)) = &winner {
                maps.push(id.clone());
            }
        }
        for (v, id) in doc.get_all(o, key).unwrap_or_default() {
            if matches!(v, AmValue::Object(ObjType::Map)) && !maps.contains(&id) {
                maps.push(id);
            }
        }
    }
    (maps, winner)
}

/// All concurrent map objects at `path` below the objects `start`.
fn objs_at<R: ReadDoc>(doc: &R, start: Vec<ExId>, path: &[String]) -> Vec<ExId> {
    let mut cur = start;
    for seg in path {
        cur = values_at(doc, &cur, seg).0;
        if cur.is_empty() {
            break;
        }
    }
    cur
}

fn root_objs<R: ReadDoc>(doc: &R, key: &str) -> Vec<ExId> {
    values_at(doc, &[ROOT], key).0
}

/// The record's fields.
pub fn fields<R: ReadDoc>(doc: &R) -> Value {
    read_data(doc).0
}

/// What [`read_data`] read of a document, and at which heads.
pub struct Read {
    /// The document's heads when it was read.
    pub heads: Vec<automerge::ChangeHash>,
    /// The record's fields.
    pub fields: Value,
    /// Fields with concurrent, differing values.
    pub conflicts: Vec<FieldConflict>,
    /// The rest of what a view shows, when it was read with them.
    pub outline: Option<Outline>,
}

impl Read {
    /// Reads a document's fields and conflicts.
    pub fn of(doc: &automerge::Automerge) -> Read {
        let (fields, conflicts) = read_data(doc);
        Read { heads: doc.get_heads(), fields, conflicts, outline: None }
    }
}

/// A record's envelope, liveness, tombstone and transition log: what
/// [`envelope`], [`is_live`], [`tombstone`] and [`transitions`] read.
#[derive(Debug, PartialEq)]
pub struct Outline {
    pub envelope: Option<Envelope>,
    pub live: bool,
    pub tombstone: bool,
    pub transitions: Vec<Transition>,
}

impl Outline {
    /// Reads it from the document.
    pub fn of<R: ReadDoc>(doc: &R) -> Outline {
        Outline {
            envelope: envelope(doc),
            live: is_live(doc),
            tombstone: tombstone(doc).is_some(),
            transitions: transitions(doc),
        }
    }
}

/// The record's fields and every field that holds concurrent, differing
/// values, in one pass over the document: each map is walked once with
/// `map_range`, whose `conflict` flag says where concurrent values are;
/// only those keys (and maps created concurrently under one key) are read
/// value by value. Equal to [`fields`] and [`conflicts`] read separately.
pub fn read_data<R: ReadDoc>(doc: &R) -> (Value, Vec<FieldConflict>) {
    let objs = root_objs(doc, "data");
    let mut conflicts = vec![];
    if objs.is_empty() {
        return (Value::Object(Map::new()), conflicts);
    }
    let fields = read_maps(doc, &objs, &mut vec![], &mut conflicts);
    (fields, conflicts)
}

/// The union of the map objects `objs` (one, unless created concurrently),
/// collecting conflicts below `path`.
fn read_maps<R: ReadDoc>(doc: &R, objs: &[ExId], path: &mut Vec<String>, out: &mut Vec<FieldConflict>) -> Value {
    let [obj] = objs else {
        // concurrent maps under one key: key by key
        walk_conflicts(doc, objs, path, out);
        return read_union(doc, objs);
    };
    if !matches!(doc.object_type(obj), Ok(ObjType::Map) | Ok(ObjType::Table)) {
        return read_union(doc, objs);
    }
    let mut map = Map::new();
    for item in doc.map_range(obj, ..) {
        let key = item.key.to_string();
        if item.conflict {
            // concurrent values: the key-by-key reading of both walks
            path.push(key.clone());
            walk_key(doc, objs, &key, path, out);
            path.pop();
            if let Some(v) = union_at(doc, objs, &key) {
                map.insert(key, v);
            }
            continue;
        }
        let v = match &item.value {
            automerge::ValueRef::Scalar(s) => scalar_to_json(&ScalarValue::from(s)),
            automerge::ValueRef::Object(ObjType::Map) => {
                path.push(key.clone());
                let v = read_maps(doc, &[item.id()], path, out);
                path.pop();
                v
            }
            automerge::ValueRef::Object(_) => read_union(doc, &[item.id()]),
        };
        map.insert(key, v);
    }
    Value::Object(map)
}

/// A string at the root (`kind`, `key`, `created_at`…).
pub fn root_str<R: ReadDoc>(doc: &R, key: &str) -> Option<String> {
    match doc.get(ROOT, key).ok().flatten() {
        Some((AmValue::Scalar(s), _)) => s.as_str().map(String::from),
        // a plain JS string, as an automerge-repo client writes one
        Some((AmValue::Object(ObjType::Text), text)) => doc.text(&text).ok(),
        _ => None,
    }
}

/// The layout version, if the document is an Ayni record.
pub fn layout<R: ReadDoc>(doc: &R) -> Option<u64> {
    match doc.get(ROOT, "ayni").ok().flatten() {
        Some((AmValue::Scalar(s), _)) => s.as_u64(),
        _ => None,
    }
}

pub fn envelope<R: ReadDoc>(doc: &R) -> Option<Envelope> {
    Some(Envelope {
        kind: root_str(doc, "kind")?,
        key: root_str(doc, "key")?,
        id: root_str(doc, "id").unwrap_or_default(),
        created_at: root_str(doc, "created_at").unwrap_or_default(),
        created_by: root_str(doc, "created_by").unwrap_or_default(),
    })
}

/// Whether the record is live (never deleted, or edited concurrently with
/// its deletion).
pub fn is_live<R: ReadDoc>(doc: &R) -> bool {
    doc.get(ROOT, "live").ok().flatten().is_some()
}

/// The tombstone `{at, by}`, if a delete was ever made.
pub fn tombstone<R: ReadDoc>(doc: &R) -> Option<Value> {
    let objs = root_objs(doc, "tombstone");
    (!objs.is_empty()).then(|| read_union(doc, &objs))
}

/// The transition log.
pub fn transitions<R: ReadDoc>(doc: &R) -> Vec<Transition> {
    let objs = root_objs(doc, "transitions");
    let Value::Object(map) = read_union(doc, &objs) else { return vec![] };
    map.into_iter()
        .filter_map(|(id, mut v)| {
            v.as_object_mut()?.insert("id".into(), Value::String(id));
            serde_json::from_value(v).ok()
        })
        .collect()
}

/// Every field that holds concurrent, differing values.
pub fn conflicts<R: ReadDoc>(doc: &R) -> Vec<FieldConflict> {
    read_data(doc).1
}

fn walk_conflicts<R: ReadDoc>(doc: &R, objs: &[ExId], path: &mut Vec<String>, out: &mut Vec<FieldConflict>) {
    let keys: BTreeSet<String> = objs.iter().flat_map(|o| doc.keys(o)).collect();
    for key in keys {
        path.push(key.clone());
        walk_key(doc, objs, &key, path, out);
        path.pop();
    }
}

/// The conflicts at one key (`path` ends with it) of the map objects `objs`.
fn walk_key<R: ReadDoc>(doc: &R, objs: &[ExId], key: &str, path: &mut Vec<String>, out: &mut Vec<FieldConflict>) {
    let (maps, winner) = values_at(doc, objs, key);
    let mut values: Vec<Value> = vec![];
    if let Some((v, id)) = &winner {
        if !matches!(v, AmValue::Object(ObjType::Map)) {
            values.push(value_json(doc, v, id));
        }
    }
    for o in objs {
        for (v, id) in doc.get_all(o, key).unwrap_or_default() {
            if matches!(v, AmValue::Object(ObjType::Map)) {
                continue;
            }
            let j = value_json(doc, &v, &id);
            if !values.contains(&j) {
                values.push(j);
            }
        }
    }
    if !maps.is_empty() && !values.is_empty() {
        // a map against a plain value: show the map too
        values.insert(0, read_union(doc, &maps));
    }
    if values.len() > 1 {
        out.push(FieldConflict { path: path.join("."), values });
    } else if !maps.is_empty() {
        walk_conflicts(doc, &maps, path, out);
    }
}

// ---------------------------------------------------------------- writing

/// Writes a new record's envelope and fields.
pub fn create<T: Transactable>(tx: &mut T, id: &str, env: &Envelope, data: &Value) -> Result<()> {
    create_as(tx, id, env, data, &crate::id::new_item_id())
}

/// [`create`] with the first `live` token given: a creation two replicas
/// must make identically (one form submission imported on two nodes).
pub fn create_as<T: Transactable>(tx: &mut T, id: &str, env: &Envelope, data: &Value, live: &str) -> Result<()> {
    let e = am(id);
    tx.put(ROOT, "ayni", ScalarValue::Int(LAYOUT_VERSION as i64)).map_err(&e)?;
    tx.put(ROOT, "kind", env.kind.as_str()).map_err(&e)?;
    tx.put(ROOT, "key", env.key.as_str()).map_err(&e)?;
    tx.put(ROOT, "id", env.id.as_str()).map_err(&e)?;
    tx.put(ROOT, "created_at", env.created_at.as_str()).map_err(&e)?;
    tx.put(ROOT, "created_by", env.created_by.as_str()).map_err(&e)?;
    tx.put_object(ROOT, "transitions", ObjType::Map).map_err(&e)?;
    // the whole tree in one batch: automerge inserts its ops at once
    // instead of seeking the op set for each (a nested EDAN is hundreds)
    let fields = match data {
        Value::Object(_) => hydrate(data),
        _ => automerge::hydrate::Value::map(),
    };
    tx.batch_create_object(ROOT, "data", &fields, false).map_err(&e)?;
    tx.put(ROOT, "live", live).map_err(&e)?;
    Ok(())
}

/// Marks an edit: a fresh `live` token (see the module doc).
pub fn touch<T: Transactable>(tx: &mut T, id: &str) -> Result<()> {
    tx.put(ROOT, "live", crate::id::new_item_id()).map_err(am(id))?;
    Ok(())
}

fn data_obj<T: Transactable>(tx: &mut T, id: &str) -> Result<ExId> {
    match tx.get(ROOT, "data").map_err(am(id))? {
        Some((AmValue::Object(ObjType::Map), obj)) => Ok(obj),
        _ => tx.put_object(ROOT, "data", ObjType::Map).map_err(am(id)),
    }
}

/// Sets the field at `path` (creating intermediate maps).
pub fn set_path<T: Transactable>(tx: &mut T, id: &str, path: &[String], value: &Value) -> Result<()> {
    let Some((last, parents)) = path.split_last() else {
        return Err(Error::malformed("field path", "empty field path"));
    };
    let mut cur = data_obj(tx, id)?;
    for (i, seg) in parents.iter().enumerate() {
        cur = match tx.get(&cur, seg.as_str()).map_err(am(id))? {
            Some((AmValue::Object(ObjType::Map), obj)) => obj,
            None => tx.put_object(&cur, seg.as_str(), ObjType::Map).map_err(am(id))?,
            Some(_) => {
                return Err(Error::malformed("field path", format!("{} is not an object", path[..=i].join("."))));
            }
        };
    }
    write_value(tx, id, &cur, last, value)
}

/// Removes the field at `path` from every concurrent copy of its parent.
/// Returns false when there was no such field.
pub fn unset_path<T: Transactable>(tx: &mut T, id: &str, path: &[String]) -> Result<bool> {
    let Some((last, parents)) = path.split_last() else {
        return Err(Error::malformed("field path", "empty field path"));
    };
    let data = root_objs(tx, "data");
    let mut found = false;
    for obj in objs_at(tx, data, parents) {
        if tx.get(&obj, last.as_str()).map_err(am(id))?.is_some() {
            tx.delete(&obj, last.as_str()).map_err(am(id))?;
            found = true;
        }
    }
    Ok(found)
}

/// Settles a conflict: `value` replaces every concurrent value at `path`.
pub fn resolve_path<T: Transactable>(tx: &mut T, id: &str, path: &[String], value: &Value) -> Result<()> {
    let Some((last, parents)) = path.split_last() else {
        return Err(Error::malformed("field path", "empty field path"));
    };
    let data = root_objs(tx, "data");
    let objs = objs_at(tx, data, parents);
    match objs.split_first() {
        None => set_path(tx, id, path, value),
        Some((winner, others)) => {
            for o in others {
                if tx.get(o, last.as_str()).map_err(am(id))?.is_some() {
                    tx.delete(o, last.as_str()).map_err(am(id))?;
                }
            }
            write_value(tx, id, winner, last, value)
        }
    }
}

/// Appends an entry to the transition log.
pub fn append_transition<T: Transactable>(tx: &mut T, id: &str, t: &Transition) -> Result<()> {
    let log = match tx.get(ROOT, "transitions").map_err(am(id))? {
        Some((AmValue::Object(ObjType::Map), obj)) => obj,
        _ => tx.put_object(ROOT, "transitions", ObjType::Map).map_err(am(id))?,
    };
    let mut v = serde_json::to_value(t).map_err(|e| Error::Internal(e.to_string()))?;
    if let Some(m) = v.as_object_mut() {
        m.remove("id");
    }
    write_value(tx, id, &log, &t.id, &v)
}

/// Deletes the record (tombstone; see the module doc).
pub fn mark_deleted<T: Transactable>(tx: &mut T, id: &str, at: &str, by: &str) -> Result<()> {
    tx.delete(ROOT, "live").map_err(am(id))?;
    let stone = serde_json::json!({"at": at, "by": by});
    write_value(tx, id, &ROOT, "tombstone", &stone)
}

/// Clears a tombstone (keeping a record that was edited while deleted).
pub fn clear_tombstone<T: Transactable>(tx: &mut T, id: &str) -> Result<()> {
    if tx.get(ROOT, "tombstone").map_err(am(id))?.is_some() {
        tx.delete(ROOT, "tombstone").map_err(am(id))?;
    }
    touch(tx, id)
}

/// A JSON value as automerge's hydrated value, scalars as
/// [`json_to_scalar`] makes them.
fn hydrate(v: &Value) -> automerge::hydrate::Value {
    match v {
        Value::Object(m) => {
            m.iter().map(|(k, v)| (k.as_str(), hydrate(v))).collect::<std::collections::HashMap<&str, _>>().into()
        }
        Value::Array(items) => items.iter().map(hydrate).collect::<Vec<_>>().into(),
        scalar => automerge::hydrate::Value::Scalar(json_to_scalar(scalar)),
    }
}

/// Writes `map` into a map object created in this transaction (nothing to
/// compare with, so no reads: the fast path for new records).
fn fill_map<T: Transactable>(tx: &mut T, id: &str, obj: &ExId, map: &Map<String, Value>) -> Result<()> {
    let e = am(id);
    for (k, v) in map {
        match v {
            Value::Object(m) => {
                let child = tx.put_object(obj, k.as_str(), ObjType::Map).map_err(&e)?;
                fill_map(tx, id, &child, m)?;
            }
            Value::Array(items) => {
                let child = tx.put_object(obj, k.as_str(), ObjType::List).map_err(&e)?;
                fill_list(tx, id, &child, 0, items)?;
            }
            scalar => tx.put(obj, k.as_str(), json_to_scalar(scalar)).map_err(&e)?,
        }
    }
    Ok(())
}

/// Inserts `items` into a list at `at`.
fn fill_list<T: Transactable>(tx: &mut T, id: &str, list: &ExId, at: usize, items: &[Value]) -> Result<()> {
    let e = am(id);
    for (offset, item) in items.iter().enumerate() {
        match item {
            Value::Object(map) => {
                let child = tx.insert_object(list, at + offset, ObjType::Map).map_err(&e)?;
                fill_map(tx, id, &child, map)?;
            }
            Value::Array(inner) => {
                let child = tx.insert_object(list, at + offset, ObjType::List).map_err(&e)?;
                fill_list(tx, id, &child, 0, inner)?;
            }
            scalar => tx.insert(list, at + offset, json_to_scalar(scalar)).map_err(&e)?,
        }
    }
    Ok(())
}

fn write_value<T: Transactable>(tx: &mut T, id: &str, obj: &ExId, key: &str, v: &Value) -> Result<()> {
    let e = am(id);
    match v {
        Value::Object(map) => {
            let child = match tx.get(obj, key).map_err(&e)? {
                Some((AmValue::Object(ObjType::Map), child)) => child,
                _ => {
                    let child = tx.put_object(obj, key, ObjType::Map).map_err(&e)?;
                    return fill_map(tx, id, &child, map);
                }
            };
            let stale: Vec<String> = tx.keys(&child).filter(|k| !map.contains_key(k)).collect();
            for k in stale {
                tx.delete(&child, k.as_str()).map_err(&e)?;
            }
            for (k, v) in map {
                write_value(tx, id, &child, k, v)?;
            }
        }
        Value::Array(items) => match tx.get(obj, key).map_err(&e)? {
            Some((AmValue::Object(ObjType::List), list)) => update_list(tx, id, &list, items)?,
            _ => {
                let list = tx.put_object(obj, key, ObjType::List).map_err(&e)?;
                fill_list(tx, id, &list, 0, items)?;
            }
        },
        scalar => {
            tx.put(obj, key, json_to_scalar(scalar)).map_err(&e)?;
        }
    }
    Ok(())
}

/// Edits a list in place to equal `items`, touching only the differing
/// middle, so concurrent insertions elsewhere in the list survive.
fn update_list<T: Transactable>(tx: &mut T, id: &str, list: &ExId, items: &[Value]) -> Result<()> {
    let e = am(id);
    let Value::Array(old) = read_union(tx, std::slice::from_ref(list)) else {
        return Ok(());
    };
    let prefix = old.iter().zip(items).take_while(|(a, b)| a == b).count();
    let max_suffix = old.len().min(items.len()) - prefix;
    let suffix = old.iter().rev().zip(items.iter().rev()).take(max_suffix).take_while(|(a, b)| a == b).count();
    for i in (prefix..old.len() - suffix).rev() {
        tx.delete(list, i).map_err(&e)?;
    }
    fill_list(tx, id, list, prefix, &items[prefix..items.len() - suffix])
}

/// Whether `key` may name a record: 1–64 ASCII letters, digits, `.`,
/// `_` or `-`, starting with a letter or digit.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && key.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{ActorId, Automerge};
    use serde_json::json;

    fn new_doc(actor: u8, data: Value) -> Automerge {
        let mut doc = Automerge::new().with_actor(ActorId::from(vec![actor; 32]));
        let env = Envelope {
            kind: "edan".into(),
            key: "k".into(),
            id: "d".into(),
            created_at: "t".into(),
            created_by: "n".into(),
        };
        let mut tx = doc.transaction();
        create(&mut tx, "doc", &env, &data).unwrap();
        tx.commit();
        doc
    }

    fn fork(doc: &Automerge, actor: u8) -> Automerge {
        doc.fork().with_actor(ActorId::from(vec![actor; 32]))
    }

    fn edit(doc: &mut Automerge, f: impl FnOnce(&mut automerge::transaction::Transaction<'_>)) {
        let mut tx = doc.transaction();
        f(&mut tx);
        touch(&mut tx, "doc").unwrap();
        tx.commit();
    }

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }

    #[test]
    fn a_record_built_in_one_batch_reads_like_one_built_op_by_op() {
        // the demo's EDAN: zones, tallies per zone and team, needs, services
        let demo: serde_json::Value = serde_json::from_str(include_str!("../../node/src/seed/demo.json")).unwrap();
        let edan = demo["records"].as_array().unwrap().iter().find(|r| r["kind"] == "edan").unwrap();
        let data = edan["fields"].clone();
        let batch = new_doc(1, data.clone());
        let mut by_op = Automerge::new().with_actor(ActorId::from(vec![1; 32]));
        let mut tx = by_op.transaction();
        let obj = tx.put_object(ROOT, "data", ObjType::Map).unwrap();
        fill_map(&mut tx, "doc", &obj, data.as_object().unwrap()).unwrap();
        tx.commit();
        assert_eq!(fields(&batch), fields(&by_op));
        assert_eq!(fields(&batch), data);
        // and it merges with a concurrent edit like any other
        let mut other = fork(&batch, 2);
        edit(&mut other, |tx| set_path(tx, "doc", &p("title"), &json!("otro")).unwrap());
        let mut merged = fork(&batch, 3);
        merged.merge(&mut other).unwrap();
        assert_eq!(fields(&merged)["title"], "otro");
        assert!(conflicts(&merged).is_empty());
    }

    #[test]
    fn round_trips_json() {
        let data = json!({"a": 1, "b": -2, "c": 1.5, "d": "x", "e": [1, {"f": true}], "g": {"h": null}});
        let doc = new_doc(1, data.clone());
        assert_eq!(fields(&doc), data);
        assert_eq!(root_str(&doc, "kind").unwrap(), "edan");
        assert!(is_live(&doc));
    }

    #[test]
    fn concurrent_map_creation_keeps_both_teams() {
        let base = new_doc(1, json!({"event_id": "e"}));
        let mut a = fork(&base, 2);
        let mut b = fork(&base, 3);
        edit(&mut a, |tx| set_path(tx, "doc", &p("tallies.z2.GAEM-1.families_affected"), &json!(19)).unwrap());
        edit(&mut b, |tx| set_path(tx, "doc", &p("tallies.z2.GAEM-2.families_affected"), &json!(21)).unwrap());
        a.merge(&mut b).unwrap();
        assert_eq!(
            fields(&a)["tallies"]["z2"],
            json!({"GAEM-1": {"families_affected": 19}, "GAEM-2": {"families_affected": 21}})
        );
        assert!(conflicts(&a).is_empty(), "{:?}", conflicts(&a));
    }

    #[test]
    fn scalar_conflict_is_listed_and_resolved() {
        let base = new_doc(1, json!({"title": "x"}));
        let mut a = fork(&base, 2);
        let mut b = fork(&base, 3);
        edit(&mut a, |tx| set_path(tx, "doc", &p("title"), &json!("A")).unwrap());
        edit(&mut b, |tx| set_path(tx, "doc", &p("title"), &json!("B")).unwrap());
        a.merge(&mut b).unwrap();
        let c = conflicts(&a);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].path, "title");
        assert_eq!(c[0].values.len(), 2);
        edit(&mut a, |tx| resolve_path(tx, "doc", &p("title"), &json!("B")).unwrap());
        b.merge(&mut a).unwrap();
        assert!(conflicts(&b).is_empty());
        assert_eq!(fields(&b)["title"], json!("B"));
    }

    #[test]
    fn list_edits_keep_concurrent_additions() {
        let base = new_doc(1, json!({"practice_ids": ["p1"]}));
        let mut a = fork(&base, 2);
        let mut b = fork(&base, 3);
        edit(&mut a, |tx| set_path(tx, "doc", &p("practice_ids"), &json!(["p1", "p2"])).unwrap());
        edit(&mut b, |tx| set_path(tx, "doc", &p("practice_ids"), &json!(["p1", "p3"])).unwrap());
        a.merge(&mut b).unwrap();
        let mut got: Vec<String> = serde_json::from_value(fields(&a)["practice_ids"].clone()).unwrap();
        got.sort();
        assert_eq!(got, ["p1", "p2", "p3"]);
    }

    #[test]
    fn edit_concurrent_with_delete_keeps_the_record() {
        let base = new_doc(1, json!({"title": "x"}));
        let mut a = fork(&base, 2);
        let mut b = fork(&base, 3);
        {
            let mut tx = a.transaction();
            mark_deleted(&mut tx, "doc", "t", "n").unwrap();
            tx.commit();
        }
        assert!(!is_live(&a));
        edit(&mut b, |tx| set_path(tx, "doc", &p("title"), &json!("y")).unwrap());
        a.merge(&mut b).unwrap();
        assert!(is_live(&a));
        assert!(tombstone(&a).is_some());
    }

    #[test]
    fn the_one_pass_reader_agrees_with_the_key_by_key_reader() {
        let base = new_doc(1, json!({"title": "x", "tallies": {"z1": {"T1": {"dead": 1}}}, "log": ["a"]}));
        let mut a = fork(&base, 2);
        let mut b = fork(&base, 3);
        let mut c = fork(&base, 4);
        edit(&mut a, |tx| {
            set_path(tx, "doc", &p("title"), &json!("from a")).unwrap();
            set_path(tx, "doc", &p("tallies.z2.T1.dead"), &json!(2)).unwrap();
            set_path(tx, "doc", &p("tallies.z1.T1.injured"), &json!(3)).unwrap();
            set_path(tx, "doc", &p("place"), &json!({"name": "plaza"})).unwrap();
        });
        edit(&mut b, |tx| {
            set_path(tx, "doc", &p("title"), &json!("from b")).unwrap();
            set_path(tx, "doc", &p("tallies.z2.T2.dead"), &json!(5)).unwrap();
            set_path(tx, "doc", &p("tallies.z1.T1.injured"), &json!(4)).unwrap();
            set_path(tx, "doc", &p("place"), &json!("plain text")).unwrap();
        });
        edit(&mut c, |tx| set_path(tx, "doc", &p("log"), &json!(["a", "c"])).unwrap());
        a.merge(&mut b).unwrap();
        a.merge(&mut c).unwrap();
        let objs = root_objs(&a, "data");
        let mut slow = vec![];
        walk_conflicts(&a, &objs, &mut vec![], &mut slow);
        let (fast_fields, fast) = read_data(&a);
        assert_eq!(fast_fields, read_union(&a, &objs));
        assert_eq!(fast, slow);
        assert!(fast.iter().any(|c| c.path == "title") && fast.iter().any(|c| c.path == "place"), "{fast:?}");
        assert_eq!(fast_fields["tallies"]["z2"], json!({"T1": {"dead": 2}, "T2": {"dead": 5}}));
    }
}
