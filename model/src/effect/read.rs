//! Reading a document into [`Snapshot`](super::Snapshot)'s paths: in
//! one pass over its objects ([`Pass`], on automerge's `iter_at`), or
//! object by object ([`walk`], with `map_range`: the pass's fallback, and
//! in debug builds its check), neither deeper than
//! [`MAX_NESTING`](super::MAX_NESTING).
//!
//! Owns: what a reading visits and in what order. Must never: recurse
//! below `MAX_NESTING`, or trust an object's ID to sort after its parent's
//! (a change may claim any counter).

use std::collections::{BTreeMap, HashMap};

use automerge::{ChangeHash, ObjId, ObjType, ReadDoc, Value as AmValue, ROOT};
use serde_json::{Map, Value};

use super::{Path, Val, MAX_NESTING};

/// What one pass over a document's objects (`ReadDoc::iter_at`) found in
/// each map and list: the winning value of each key or index, in order,
/// as `map_range` and `list_range` give them (the pass runs the same
/// iterators, once, where reading object by object seeks each object
/// anew: a seed EDAN reads in ~45 µs, not ~75).
pub(super) struct Pass {
    /// Each object's items, in the order the pass met the objects.
    items: Vec<Vec<Item>>,
    /// Where each object's items are.
    at: HashMap<ObjId, usize>,
}

/// One key or index of a map or list, as the pass read it.
struct Item {
    /// The key (empty for a list's items).
    key: String,
    /// Whether the key holds concurrent values (the winner's is `value`).
    conflict: bool,
    /// Its value: a scalar as JSON, or an object and its type.
    value: std::result::Result<Value, (ObjId, ObjType)>,
}

impl Pass {
    /// Reads `doc` at `heads` in one pass; `None` when the pass could miss
    /// part of it, and the document is read object by object:
    /// - it holds a table (the pass reads a table as a list);
    /// - an object's ID is not above its parent's (the pass visits objects
    ///   in ID order and seeks only forward, so it would skip it; honest
    ///   changes cannot make one, as a child's creator saw its parent, but
    ///   a change may claim any counter);
    /// - one object ID stands for two objects.
    pub(super) fn of<R: ReadDoc>(at: At<'_, R>) -> Option<Pass> {
        let mut pass = Pass { items: vec![], at: HashMap::new() };
        let mut current: Option<(std::sync::Arc<ObjId>, usize)> = None;
        let mut objects = std::collections::HashSet::new();
        for automerge::iter::DocObjItem { obj, item } in at.doc.iter_at(ROOT, at.heads) {
            let child = |value: automerge::ValueRef<'_>, id: &dyn Fn() -> ObjId| match value {
                automerge::ValueRef::Object(ObjType::Table) => None,
                automerge::ValueRef::Object(t) => Some(Err((id(), t))),
                v => Some(Ok(crate::record::scalar_to_json(&AmValue::from(v).into_scalar().ok()?))),
            };
            let (key, value, conflict) = match item {
                automerge::iter::DocItem::Map(m) => {
                    (m.key.to_string(), child(m.value.clone(), &|| m.id())?, m.conflict)
                }
                automerge::iter::DocItem::List(l) => (String::new(), child(l.value.clone(), &|| l.id())?, l.conflict),
                // a block marker in a text is an object the pass does not
                // track; a text's content is read whole when its value is
                automerge::iter::DocItem::Text(automerge::iter::Span::Block(_)) => return None,
                automerge::iter::DocItem::Text(_) => continue,
            };
            if let Err((id, _)) = &value {
                if !above(id, &obj) || !objects.insert(id.clone()) {
                    return None;
                }
            }
            // an object's items come together, under one shared ID
            if current.as_ref().is_none_or(|(c, _)| !std::sync::Arc::ptr_eq(c, &obj)) {
                let next = pass.items.len();
                let at = *pass.at.entry((*obj).clone()).or_insert(next);
                if at == next {
                    pass.items.push(vec![]);
                }
                current = Some((obj, at));
            }
            let at = current.as_ref()?.1;
            pass.items[at].push(Item { key, conflict, value });
        }
        Some(pass)
    }

    /// The items of `obj`, taken (each object is read once).
    fn take(&mut self, obj: &ObjId) -> Vec<Item> {
        self.at.get(obj).map_or_else(Vec::new, |i| std::mem::take(&mut self.items[*i]))
    }

    /// [`walk`] of the map `obj`, from what the pass read: a key holding
    /// concurrent values is read from `doc`, value by value.
    pub(super) fn walk<R: ReadDoc>(
        &mut self,
        at: At<'_, R>,
        obj: &ObjId,
        path: &mut Path,
        out: &mut BTreeMap<Path, Vec<Val>>,
        deep: &mut bool,
    ) {
        if path.len() >= MAX_NESTING {
            *deep |= !self.take(obj).is_empty();
            return;
        }
        for item in self.take(obj) {
            if item.conflict {
                read_key(at, std::slice::from_ref(obj), item.key, path, out, deep);
                continue;
            }
            let val = match item.value {
                Ok(v) => Val::Scalar(v),
                Err((id, ObjType::Map | ObjType::Table)) => Val::Map(id),
                Err((id, ObjType::List)) => {
                    let items = self.list(at, &id, path.len() + 1, deep);
                    Val::List(id, items)
                }
                Err((id, ObjType::Text)) => {
                    let text = at.text(&id);
                    Val::Text(id, text)
                }
            };
            path.push(item.key);
            let map = match &val {
                Val::Map(id) => Some(id.clone()),
                _ => None,
            };
            out.insert(path.clone(), vec![val]);
            if let Some(map) = map {
                self.walk(at, &map, path, out, deep);
            }
            path.pop();
        }
    }

    /// [`list_json`] from what the pass read.
    fn list<R: ReadDoc>(&mut self, at: At<'_, R>, list: &ObjId, depth: usize, deep: &mut bool) -> Vec<Value> {
        if depth >= MAX_NESTING {
            *deep |= !self.take(list).is_empty();
            return vec![];
        }
        self.take(list).into_iter().map(|item| self.json(at, item.value, depth + 1, deep)).collect()
    }

    /// [`value_json`] from what the pass read.
    fn json<R: ReadDoc>(
        &mut self,
        at: At<'_, R>,
        value: std::result::Result<Value, (ObjId, ObjType)>,
        depth: usize,
        deep: &mut bool,
    ) -> Value {
        match value {
            Ok(v) => v,
            Err((id, ObjType::Map | ObjType::Table)) if depth >= MAX_NESTING => {
                *deep |= !self.take(&id).is_empty();
                Value::Object(Map::new())
            }
            Err((id, ObjType::Map | ObjType::Table)) => Value::Object(
                self.take(&id).into_iter().map(|item| (item.key, self.json(at, item.value, depth + 1, deep))).collect(),
            ),
            Err((id, ObjType::List)) => Value::Array(self.list(at, &id, depth, deep)),
            Err((id, ObjType::Text)) => Value::String(at.text(&id)),
        }
    }
}

/// Whether object `child`'s ID is above its parent's: its counter higher.
fn above(child: &ObjId, parent: &ObjId) -> bool {
    match (child, parent) {
        (ObjId::Id(c, ..), ObjId::Root) => *c > 0,
        (ObjId::Id(c, ..), ObjId::Id(p, ..)) => c > p,
        (ObjId::Root, _) => false,
    }
}

/// A document read at `heads` (`None`: its current heads): what every
/// reader here reads through.
pub(super) struct At<'d, R> {
    pub doc: &'d R,
    pub heads: Option<&'d [ChangeHash]>,
}

impl<R> Clone for At<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for At<'_, R> {}

impl<'d, R: ReadDoc> At<'d, R> {
    /// A text object's content.
    fn text(self, text: &ObjId) -> String {
        match self.heads {
            Some(h) => self.doc.text_at(text, h),
            None => self.doc.text(text),
        }
        .unwrap_or_default()
    }

    fn keys(self, obj: &ObjId) -> Vec<String> {
        match self.heads {
            Some(h) => self.doc.keys_at(obj, h).collect(),
            None => self.doc.keys(obj).collect(),
        }
    }

    fn all(self, obj: &ObjId, key: &str) -> Vec<(AmValue<'d>, ObjId)> {
        match self.heads {
            Some(h) => self.doc.get_all_at(obj, key, h),
            None => self.doc.get_all(obj, key),
        }
        .unwrap_or_default()
    }

    fn map_items(self, obj: &ObjId) -> automerge::iter::MapRange<'d> {
        match self.heads {
            Some(h) => self.doc.map_range_at(obj, .., h),
            None => self.doc.map_range(obj, ..),
        }
    }
}

/// One value as read, with its object's identity when it is one.
fn val_of<R: ReadDoc>(at: At<'_, R>, v: &AmValue<'_>, id: ObjId, depth: usize, deep: &mut bool) -> Val {
    match v {
        AmValue::Scalar(s) => Val::Scalar(crate::record::scalar_to_json(s)),
        AmValue::Object(ObjType::Map | ObjType::Table) => Val::Map(id),
        AmValue::Object(ObjType::List) => {
            let items = list_json(at, &id, depth, deep);
            Val::List(id, items)
        }
        AmValue::Object(ObjType::Text) => {
            let text = at.text(&id);
            Val::Text(id, text)
        }
    }
}

/// Reads the union of the concurrent map objects `objs` into `out`. One
/// map (the usual case) is read in one `map_range` pass; only keys whose
/// `conflict` flag says they hold concurrent values, and maps created
/// concurrently under one key, are read value by value.
pub(super) fn walk<R: ReadDoc>(
    at: At<'_, R>,
    objs: &[ObjId],
    path: &mut Path,
    out: &mut BTreeMap<Path, Vec<Val>>,
    deep: &mut bool,
) {
    if path.len() >= MAX_NESTING {
        *deep |= objs.iter().any(|o| at.map_items(o).next().is_some());
        return;
    }
    if let [obj] = objs {
        for item in at.map_items(obj) {
            let key = item.key.to_string();
            if item.conflict {
                read_key(at, objs, key, path, out, deep);
                continue;
            }
            let value = AmValue::from(item.value.clone());
            let val = val_of(at, &value, item.id(), path.len() + 1, deep);
            path.push(key);
            let map = match &val {
                Val::Map(id) => Some(id.clone()),
                _ => None,
            };
            out.insert(path.clone(), vec![val]);
            if let Some(map) = map {
                walk(at, &[map], path, out, deep);
            }
            path.pop();
        }
        return;
    }
    let mut keys: Vec<String> = objs.iter().flat_map(|o| at.keys(o)).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        read_key(at, objs, key, path, out, deep);
    }
}

/// Reads every value of `key` in the maps `objs`, value by value.
fn read_key<R: ReadDoc>(
    at: At<'_, R>,
    objs: &[ObjId],
    key: String,
    path: &mut Path,
    out: &mut BTreeMap<Path, Vec<Val>>,
    deep: &mut bool,
) {
    let mut vals = vec![];
    let mut maps = vec![];
    for o in objs {
        for (v, id) in at.all(o, &key) {
            let val = val_of(at, &v, id, path.len() + 1, deep);
            if let Val::Map(id) = &val {
                maps.push(id.clone());
            }
            vals.push(val);
        }
    }
    vals.sort_by_key(Val::sort_key);
    vals.dedup();
    path.push(key);
    out.insert(path.clone(), vals);
    if !maps.is_empty() {
        walk(at, &maps, path, out, deep);
    }
    path.pop();
}

/// A list's items as JSON (the winning value of each).
fn list_json<R: ReadDoc>(at: At<'_, R>, list: &ObjId, depth: usize, deep: &mut bool) -> Vec<Value> {
    let mut items = match at.heads {
        Some(h) => at.doc.list_range_at(list, .., h),
        None => at.doc.list_range(list, ..),
    };
    if depth >= MAX_NESTING {
        *deep |= items.next().is_some();
        return vec![];
    }
    items.map(|item| value_json(at, &AmValue::from(item.value.clone()), &item.id(), depth + 1, deep)).collect()
}

/// One value as JSON (the winning value of each key below it).
fn value_json<R: ReadDoc>(at: At<'_, R>, v: &AmValue<'_>, id: &ObjId, depth: usize, deep: &mut bool) -> Value {
    match v {
        AmValue::Scalar(s) => crate::record::scalar_to_json(s),
        AmValue::Object(ObjType::Map | ObjType::Table) if depth >= MAX_NESTING => {
            *deep |= at.map_items(id).next().is_some();
            Value::Object(Map::new())
        }
        AmValue::Object(ObjType::Map | ObjType::Table) => Value::Object(
            at.map_items(id)
                .map(|item| {
                    let v = value_json(at, &AmValue::from(item.value.clone()), &item.id(), depth + 1, deep);
                    (item.key.to_string(), v)
                })
                .collect(),
        ),
        AmValue::Object(ObjType::List) => Value::Array(list_json(at, id, depth, deep)),
        AmValue::Object(ObjType::Text) => Value::String(at.text(id)),
    }
}
