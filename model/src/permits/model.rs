//! The reference model of the permits: the rules of `schemas/permits.json`
//! written out plainly, to check admission against (the way Cedar's
//! authorizer is checked against its model). Slow on purpose: a record is
//! read into strings, contexts are rebuilt with `fork_at`, every rule is a
//! loop over every path. It shares no code with `permits::judge` or
//! `effect` beyond the rules file itself, the lifecycle fold and the
//! schemas.
//!
//! Owns: [`allowed`]. Must never: be used to decide anything outside tests
//! and fuzzing.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{Automerge, ObjId, ObjType, ReadDoc, Value as Am, ROOT};
use serde_json::Value;

/// A record read plainly: dotted path from the root → every value there,
/// each written as text (`s:` a scalar's JSON, `m:` a map's object ID,
/// `l:` a list's object ID and items, `t:` a text's object ID and text).
pub type Plain = BTreeMap<Vec<String>, BTreeSet<String>>;

/// Reads `doc` (as it is now) plainly.
pub fn read(doc: &Automerge) -> Plain {
    let mut out = Plain::new();
    read_maps(doc, vec![ROOT], vec![], &mut out);
    out
}

fn read_maps(doc: &Automerge, maps: Vec<ObjId>, path: Vec<String>, out: &mut Plain) {
    let mut keys = BTreeSet::new();
    for m in &maps {
        keys.extend(doc.keys(m));
    }
    for key in keys {
        let mut here = path.clone();
        here.push(key.clone());
        let mut values = BTreeSet::new();
        let mut children = vec![];
        for m in &maps {
            for (v, id) in doc.get_all(m, key.as_str()).unwrap_or_default() {
                let text = match v {
                    Am::Scalar(s) => format!("s:{}", crate::record::scalar_to_json(&s)),
                    Am::Object(ObjType::Map | ObjType::Table) => {
                        children.push(id.clone());
                        format!("m:{id}")
                    }
                    Am::Object(ObjType::List) => format!("l:{id}:{}", plain_json(doc, &id)),
                    Am::Object(ObjType::Text) => format!("t:{id}:{}", doc.text(&id).unwrap_or_default()),
                };
                values.insert(text);
            }
        }
        out.insert(here.clone(), values);
        if !children.is_empty() {
            read_maps(doc, children, here, out);
        }
    }
}

/// A list (or map) as JSON, winning values only.
fn plain_json(doc: &Automerge, obj: &ObjId) -> Value {
    match doc.object_type(obj) {
        Ok(ObjType::List) => Value::Array(
            (0..doc.length(obj))
                .filter_map(|i| doc.get(obj, i).ok().flatten())
                .map(|(v, id)| match v {
                    Am::Scalar(s) => crate::record::scalar_to_json(&s),
                    Am::Object(ObjType::Text) => Value::String(doc.text(&id).unwrap_or_default()),
                    Am::Object(_) => plain_json(doc, &id),
                })
                .collect(),
        ),
        Ok(ObjType::Text) => Value::String(doc.text(obj).unwrap_or_default()),
        _ => Value::Object(
            doc.keys(obj)
                .filter_map(|k| {
                    let (v, id) = doc.get(obj, k.as_str()).ok().flatten()?;
                    let v = match v {
                        Am::Scalar(s) => crate::record::scalar_to_json(&s),
                        Am::Object(ObjType::Text) => Value::String(doc.text(&id).unwrap_or_default()),
                        Am::Object(_) => plain_json(doc, &id),
                    };
                    Some((k, v))
                })
                .collect(),
        ),
    }
}

/// The one scalar (or text, as its string) at a root key, if there is
/// exactly one.
fn scalar(r: &Plain, key: &str) -> Option<Value> {
    let vals = r.get(&vec![key.to_string()])?;
    if vals.len() != 1 {
        return None;
    }
    let v = vals.iter().next()?;
    // a text object reads as its string (a JS client's plain string)
    if let Some(text) = v.strip_prefix("t:") {
        return text.split_once(':').map(|(_, t)| Value::String(t.to_string()));
    }
    serde_json::from_str(v.strip_prefix("s:")?).ok()
}

/// Who made the change, as the model needs it.
pub struct Who<'a> {
    /// `hq`, `field` or `read`.
    pub role: &'a str,
    /// The names `created_by` and a transition's `by` may carry.
    pub names: Vec<String>,
    /// The teams it counts for.
    pub teams: Vec<String>,
}

/// One permit from the table.
struct Permit {
    pattern: Vec<String>,
    ops: Vec<String>,
}

/// Whether `pattern` (with `*` and `{team}`) matches `path` exactly.
fn matches(pattern: &[String], path: &[String], teams: &[String]) -> bool {
    pattern.len() == path.len()
        && pattern.iter().zip(path).all(|(p, k)| p == "*" || p == k || (p == "{team}" && teams.contains(k)))
}

/// Whether some permit with `op` matches `path` or a path above it.
fn covered(permits: &[Permit], op: &str, path: &[String], teams: &[String]) -> bool {
    permits.iter().any(|p| {
        p.ops.iter().any(|o| o == op)
            && p.pattern.len() <= path.len()
            && matches(&p.pattern, &path[..p.pattern.len()], teams)
    })
}

/// Whether some permit with `op` matches exactly `path`.
fn exactly(permits: &[Permit], op: &str, path: &[String], teams: &[String]) -> bool {
    permits.iter().any(|p| p.ops.iter().any(|o| o == op) && matches(&p.pattern, path, teams))
}

fn split(path: &str) -> Vec<String> {
    path.split('.').map(String::from).collect()
}

/// Whether the permits allow the change that took a record of document
/// `doc_id` from `before` to `after` (both read in the change's causal
/// context), by `who`: the rules of `schemas/permits.json`, stated plainly.
pub fn allowed(
    table: &Value,
    kinds: &crate::schema::Schemas,
    doc_id: &str,
    who: &Who<'_>,
    before: &Automerge,
    after: &Automerge,
) -> bool {
    let (b, a) = (read(before), read(after));
    let root = |k: &str| vec![k.to_string()];
    // nothing outside the record layout at the root
    let layout = ["ayni", "kind", "key", "created_at", "created_by", "id", "live", "tombstone", "data", "transitions"];
    for path in a.keys().filter(|p| p.len() == 1) {
        if !layout.contains(&path[0].as_str()) && b.get(path) != a.get(path) {
            return false;
        }
    }
    let envelope = ["ayni", "kind", "key", "created_at", "created_by", "id"];
    let created = !b.contains_key(&root("kind"));
    if !created && envelope.iter().any(|k| b.get(&root(k)) != a.get(&root(k))) {
        return false;
    }
    let Some(Value::String(kind)) = scalar(&a, "kind") else { return false };
    let Ok(schema) = kinds.kind(&kind) else { return false };
    // the role's permits for the kind: the kind's own entry, else `*`
    let role = &table["roles"][who.role]["kinds"];
    let entry = if role.get(&kind).is_some() { &role[&kind] } else { &role["*"] };
    let flag = |name: &str| entry.get(name).and_then(Value::as_bool).unwrap_or(false);
    let permits: Vec<Permit> = entry
        .get("fields")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(path, ops)| Permit {
                    pattern: split(path),
                    ops: ops.as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from).collect(),
                })
                .collect()
        })
        .unwrap_or_default();
    let moves: Vec<String> = entry
        .get("moves")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    let live = |r: &Plain| r.contains_key(&root("live"));
    if created {
        let key_ok = matches!(scalar(&a, "key"), Some(Value::String(k)) if crate::record::valid_key(&k));
        let by_ok = matches!(scalar(&a, "created_by"), Some(Value::String(by)) if who.names.contains(&by));
        let at_ok = matches!(scalar(&a, "created_at"), Some(Value::String(at)) if !at.is_empty() && at.len() <= 64);
        if scalar(&a, "ayni") != Some(Value::from(1u64))
            || scalar(&a, "id") != Some(Value::String(doc_id.to_string()))
            || !key_ok
            || !by_ok
            || !at_ok
            || !flag("create")
            || !live(&a)
        {
            return false;
        }
    } else {
        // deleting, restoring
        let stone = |r: &Plain| -> Vec<(Vec<String>, BTreeSet<String>)> {
            r.iter().filter(|(p, _)| p[0] == "tombstone").map(|(p, v)| (p.clone(), v.clone())).collect()
        };
        let (stone_before, stone_after) = (stone(&b), stone(&a));
        let stone_now = a.contains_key(&root("tombstone"));
        let deletes = (live(&b) && !live(&a)) || (live(&b) == live(&a) && stone_before != stone_after && stone_now);
        let restores = (!live(&b) && live(&a)) || (live(&b) == live(&a) && stone_before != stone_after && !stone_now);
        if (deletes && !flag("delete")) || (restores && !flag("undelete")) {
            return false;
        }
        if stone_before != stone_after && stone_now {
            let ok = a.get(&root("tombstone")).is_some_and(|v| v.len() == 1 && v.iter().all(|x| x.starts_with("m:")))
                && stone_after.len() == 3
                && ["at", "by"].iter().all(|k| {
                    a.get(&vec!["tombstone".to_string(), k.to_string()]).is_some_and(|v| {
                        v.len() == 1
                            && v.iter().all(|x| {
                                // a scalar string, or a text object's string
                                let text =
                                    x.strip_prefix("t:").and_then(|t| t.split_once(':')).map(|(_, t)| t.to_string());
                                let s = text.or_else(|| {
                                    match serde_json::from_str::<Value>(x.strip_prefix("s:").unwrap_or("")) {
                                        Ok(Value::String(s)) => Some(s),
                                        _ => None,
                                    }
                                });
                                s.is_some_and(|s| !s.is_empty() && s.len() <= 128)
                            })
                    })
                });
            if !ok {
                return false;
            }
        }
    }
    if !log_allowed(&b, &a, &crate::record::fields(after), schema, who, &moves, flag("settle")) {
        return false;
    }
    data_allowed(table, &kind, &b, &a, &permits, &who.teams, created)
}

/// The transition log: old entries unchanged, new ones a valid chain.
#[allow(clippy::too_many_arguments)]
fn log_allowed(
    b: &Plain,
    a: &Plain,
    fields: &Value,
    schema: &crate::schema::KindSchema,
    who: &Who<'_>,
    moves: &[String],
    settle: bool,
) -> bool {
    let log = vec!["transitions".to_string()];
    if b.contains_key(&log) && b.get(&log) != a.get(&log) {
        return false;
    }
    for (p, v) in b.iter().filter(|(p, _)| p.len() > 1 && p[0] == "transitions") {
        if a.get(p) != Some(v) {
            return false;
        }
    }
    let entry_ids = |r: &Plain| -> BTreeSet<String> {
        r.keys().filter(|p| p.len() == 2 && p[0] == "transitions").map(|p| p[1].clone()).collect()
    };
    let entry = |r: &Plain, id: &str| -> Option<crate::lifecycle::Transition> {
        let mut m = serde_json::Map::new();
        for (p, v) in r.iter().filter(|(p, _)| p.len() == 3 && p[0] == "transitions" && p[1] == id) {
            if v.len() != 1 {
                return None;
            }
            let text = v.iter().next()?;
            let value = match text.split_once(':')? {
                ("s", json) => serde_json::from_str(json).ok()?,
                ("l", rest) => serde_json::from_str(rest.split_once(':')?.1).ok()?,
                ("t", rest) => Value::String(rest.split_once(':')?.1.to_string()),
                _ => return None,
            };
            if !["from", "to", "seq", "at", "by", "note", "resolves"].contains(&p[2].as_str()) {
                return None;
            }
            m.insert(p[2].clone(), value);
        }
        if r.iter().any(|(p, _)| p.len() > 3 && p[0] == "transitions" && p[1] == id) {
            return None;
        }
        if r.get(&vec!["transitions".to_string(), id.to_string()]).is_none_or(|v| v.len() != 1) {
            return None;
        }
        m.insert("id".into(), Value::String(id.to_string()));
        let t: crate::lifecycle::Transition = serde_json::from_value(Value::Object(m)).ok()?;
        (id.len() <= 64 && t.note.as_ref().is_none_or(|n| n.len() <= 4096)).then_some(t)
    };
    let old_ids = entry_ids(b);
    let new_ids: Vec<String> = entry_ids(a).difference(&old_ids).cloned().collect();
    if new_ids.is_empty() {
        return true;
    }
    let Some(lc) = &schema.lifecycle else { return false };
    let mut old = vec![];
    for id in &old_ids {
        match entry(b, id) {
            Some(t) => old.push(t),
            None => return false,
        }
    }
    let mut new = vec![];
    for id in &new_ids {
        match entry(a, id) {
            Some(t) => new.push(t),
            None => return false,
        }
    }
    new.sort_by_key(|t| t.seq);
    let folded = lc.fold(&old);
    let (mut state, mut seq) = (folded.state, folded.max_seq);
    for t in new {
        if !who.names.contains(&t.by) || t.from != state || t.seq != seq + 1 || !lc.states.contains_key(&t.to) {
            return false;
        }
        if t.resolves.is_empty() {
            let mv = format!("{}->{}", t.from, t.to);
            if lc.refusal(&t.from, &t.to, fields).is_some() || !moves.iter().any(|m| m == "*" || *m == mv) {
                return false;
            }
        } else if !settle || !t.resolves.iter().all(|r| old.iter().any(|e| e.id == *r)) {
            return false;
        }
        state = t.to;
        seq = t.seq;
    }
    true
}

/// The record's fields: every differing path covered by a permit.
fn data_allowed(
    table: &Value,
    kind: &str,
    b: &Plain,
    a: &Plain,
    permits: &[Permit],
    teams: &[String],
    created: bool,
) -> bool {
    let data = vec!["data".to_string()];
    if b.contains_key(&data) && b.get(&data) != a.get(&data) {
        return false;
    }
    if created && !a.get(&data).is_some_and(|v| v.len() == 1 && v.iter().all(|x| x.starts_with("m:"))) {
        return false;
    }
    let entries: Vec<Vec<String>> = table["entries"]
        .get(kind)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(split)
        .collect();
    // an entry of an immutable collection that existed before
    let is_entry =
        |p: &[String]| entries.iter().any(|e| e.len() == p.len() && e.iter().zip(p).all(|(x, k)| x == "*" || x == k));
    let paths: BTreeSet<&Vec<String>> = b.keys().chain(a.keys()).filter(|p| p.len() > 1 && p[0] == "data").collect();
    for full in paths {
        let (was, now) = (b.get(full), a.get(full));
        if was == now {
            continue;
        }
        let path = &full[1..];
        let existed = |n: usize| b.contains_key(&[data.clone(), path[..n].to_vec()].concat());
        let exists = |n: usize| a.contains_key(&[data.clone(), path[..n].to_vec()].concat());
        // under an entry that never changes
        if let Some(depth) = (1..=path.len()).find(|&n| is_entry(&path[..n]) && existed(n)) {
            if was.is_some() {
                return false;
            }
            if !(depth + 1..=path.len()).any(|n| exists(n) && !existed(n) && exactly(permits, "add", &path[..n], teams))
            {
                return false;
            }
            continue;
        }
        // an entry that never changes, at or below this path
        let entries_below = b.keys().any(|q| q.starts_with(full) && is_entry(&q[1..]));
        match (was, now) {
            (None, Some(now)) => {
                let set = covered(permits, "set", path, teams);
                let add = (1..=path.len()).any(|n| !existed(n) && exactly(permits, "add", &path[..n], teams));
                let container = now.iter().all(|v| v.starts_with("m:"))
                    && a.keys().any(|q| q.len() == full.len() + 1 && q.starts_with(full));
                if !(set || add || container) {
                    return false;
                }
            }
            (Some(_), None) => {
                let parent = &full[..full.len() - 1];
                if parent.len() > 1 && b.get(parent) != a.get(parent) {
                    continue;
                }
                if entries_below || !covered(permits, "remove", path, teams) {
                    return false;
                }
            }
            (Some(was), Some(now)) => {
                if entries_below && was.iter().any(|v| !v.starts_with("s:")) {
                    return false;
                }
                let appended = was.len() == 1 && now.len() == 1 && {
                    let (x, y) = (
                        was.iter().next().unwrap_or(&String::new()).clone(),
                        now.iter().next().unwrap_or(&String::new()).clone(),
                    );
                    list_appended(&x, &y)
                };
                let ok = covered(permits, "set", path, teams) || (appended && exactly(permits, "append", path, teams));
                if !ok {
                    return false;
                }
            }
            (None, None) => {}
        }
    }
    true
}

/// Whether two `l:ID:JSON` values are the same list with only items added.
fn list_appended(was: &str, now: &str) -> bool {
    let parse = |s: &str| -> Option<(String, Vec<Value>)> {
        let rest = s.strip_prefix("l:")?;
        // the object ID has no ':' after its counter and actor: split at the JSON
        let start = rest.find(":[")?;
        let items: Vec<Value> = serde_json::from_str(&rest[start + 1..]).ok()?;
        Some((rest[..start].to_string(), items))
    };
    let (Some((x, old)), Some((y, new))) = (parse(was), parse(now)) else { return false };
    if x != y {
        return false;
    }
    let mut it = new.iter();
    old.iter().all(|o| it.any(|n| n == o))
}
