//! What a record is, read as values, so that a change is judged by what it
//! does: the record before it and after it, compared.
//!
//! Owns: [`Snapshot`] — a document read at some heads into every path from
//! its root (envelope, `live`, `tombstone`, `transitions`, `data`), each
//! with *all* its concurrent values, and each map, list and text with its
//! object identity (replacing a map is not the same as editing it: edits
//! made concurrently into the old one would be lost). It is read in one
//! pass over the document's objects (`read::Pass`), keys holding concurrent
//! values value by value; every debug build reads it object by object too
//! and compares the two. Must never: decide whether a difference is
//! allowed (that is `permits`), or read the store.

mod read;

use std::collections::BTreeMap;

use automerge::{ChangeHash, ObjId, ObjType, ReadDoc, ROOT};
use serde_json::{Map, Value};

/// A path from the document's root: `["data", "tallies", "z1"]`.
pub type Path = Vec<String>;

/// One of the values at a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A scalar, as JSON.
    Scalar(Value),
    /// A map (its contents are the paths below).
    Map(ObjId),
    /// A list and its items, as JSON (a list is judged whole).
    List(ObjId, Vec<Value>),
    /// A text object and its content.
    Text(ObjId, String),
}

impl Val {
    /// An order for sorting the values at one path (concurrent values
    /// arrive in the order automerge keeps them; two snapshots compare
    /// them as sets).
    fn sort_key(&self) -> (u8, String) {
        match self {
            Val::Scalar(v) => (0, v.to_string()),
            Val::Map(id) => (1, id.to_string()),
            Val::List(id, _) => (2, id.to_string()),
            Val::Text(id, _) => (3, id.to_string()),
        }
    }

    /// The object a map, list or text value is.
    pub fn object(&self) -> Option<&ObjId> {
        match self {
            Val::Scalar(_) => None,
            Val::Map(id) | Val::List(id, _) | Val::Text(id, _) => Some(id),
        }
    }
}

/// A document read at some heads: every path with all its values.
#[derive(Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Path → its values (sorted; more than one when concurrent).
    pub paths: BTreeMap<Path, Vec<Val>>,
    /// Objects nest deeper than [`MAX_NESTING`] below the root: what is
    /// deeper was not read (no record may be so deep; admission refuses
    /// such a change).
    pub too_deep: bool,
}

/// How deep objects may nest below a document's root, maps and lists
/// alike, before reading stops: a record's fields are at most
/// [`crate::schema::MAX_DEPTH`] deep below `data`. Reading deeper would
/// recurse as deep as a change chooses, and a change may nest objects as
/// deep as it likes.
pub const MAX_NESTING: usize = crate::schema::MAX_DEPTH + 8;

impl Snapshot {
    /// Reads `doc` at `heads` (`None`: at its current heads), in one pass
    /// over its objects (`read::Pass`), or object by object where the pass
    /// declines it; never deeper than [`MAX_NESTING`] (see `too_deep`).
    pub fn read<R: ReadDoc>(doc: &R, heads: Option<&[ChangeHash]>) -> Snapshot {
        let mut s = Snapshot::default();
        let deep = &mut s.too_deep;
        let at = read::At { doc, heads };
        match read::Pass::of(at) {
            Some(mut pass) => pass.walk(at, &ROOT, &mut vec![], &mut s.paths, deep),
            None => read::walk(at, &[ROOT], &mut vec![], &mut s.paths, deep),
        }
        // every debug build (the test suite's) checks the pass against the
        // reading object by object
        #[cfg(debug_assertions)]
        {
            let (mut by_object, mut deep) = (BTreeMap::new(), false);
            read::walk(at, &[ROOT], &mut vec![], &mut by_object, &mut deep);
            assert_eq!((&s.paths, s.too_deep), (&by_object, deep), "a document read in one pass and object by object");
        }
        s
    }

    /// The values at `path`.
    pub fn get(&self, path: &[String]) -> Option<&[Val]> {
        self.paths.get(path).map(Vec::as_slice)
    }

    /// The one scalar at `path` (`None` when absent, concurrent or not a
    /// scalar).
    pub fn scalar(&self, path: &[&str]) -> Option<&Value> {
        let path: Path = path.iter().map(|s| s.to_string()).collect();
        match self.paths.get(&path).map(Vec::as_slice) {
            Some([Val::Scalar(v)]) => Some(v),
            _ => None,
        }
    }

    /// The one string at `path`: a scalar string, or a text object's
    /// content (what an automerge-repo client writes for a plain JS
    /// string); `None` when absent, concurrent or not a string.
    pub fn string(&self, path: &[&str]) -> Option<&str> {
        let path: Path = path.iter().map(|s| s.to_string()).collect();
        match self.paths.get(&path).map(Vec::as_slice) {
            Some([Val::Scalar(Value::String(s))]) => Some(s),
            Some([Val::Text(_, t)]) => Some(t),
            _ => None,
        }
    }

    /// Every path at or below `prefix`, in order.
    pub fn below<'a>(&'a self, prefix: &'a [String]) -> impl Iterator<Item = (&'a Path, &'a Vec<Val>)> + 'a {
        self.paths.range(prefix.to_vec()..).take_while(move |(p, _)| p.starts_with(prefix))
    }

    /// The keys directly under `prefix`.
    pub fn children<'a>(&'a self, prefix: &'a [String]) -> impl Iterator<Item = &'a String> + 'a {
        self.below(prefix).filter(move |(p, _)| p.len() == prefix.len() + 1).map(|(p, _)| &p[prefix.len()])
    }

    /// The value at `prefix` rebuilt as JSON from the paths below it (the
    /// first of concurrent values; lists and text as read).
    pub fn json(&self, prefix: &[String]) -> Option<Value> {
        let mut below = self.below(prefix).peekable();
        let (_, vals) = below.next()?;
        json_of(vals.first()?, prefix.len(), &mut below)
    }
}

impl Snapshot {
    /// The record's fields when this is `doc` read at its current heads and
    /// no path at or below `data` holds concurrent values: then they are
    /// what [`crate::record::read_data`] reads of `doc`, with no conflicts,
    /// and `doc` need not be read again. `None` otherwise (read `doc`).
    pub fn settled_fields<R: ReadDoc>(&self, doc: &R) -> Option<Value> {
        let data = ["data".to_string()];
        let mut below = self.below(&data);
        let Some((_, [Val::Map(obj)])) = below.next().map(|(p, v)| (p, v.as_slice())) else {
            // no `data`, or not one map: the reading of the document decides
            return None;
        };
        // `read_data` reads a root `data` map, not a table; and in a list it
        // merges maps made concurrently under one key of an item's map,
        // where a list read here shows the winner's only
        let unsettled = |v: &[Val]| v.len() != 1 || matches!(v, [Val::List(_, items)] if map_in_map(items, false));
        if below.any(|(_, v)| unsettled(v)) || doc.object_type(obj).ok()? != ObjType::Map {
            return None;
        }
        self.json(&data)
    }
}

impl Snapshot {
    /// The record's [`Outline`](crate::record::Outline) when this is `doc`
    /// read at its current heads and the envelope, `live`, `tombstone` and
    /// every path of the transition log hold one value each (`None`
    /// otherwise: read `doc`). Equal to `Outline::of(doc)` then.
    pub fn outline<R: ReadDoc>(&self, doc: &R) -> Option<crate::record::Outline> {
        let root = |k: &str| vec![k.to_string()];
        let settled = |k: &str| self.get(&root(k)).is_none_or(|v| v.len() == 1);
        if !["kind", "key", "id", "created_at", "created_by", "live", "tombstone"].iter().all(|k| settled(k)) {
            return None;
        }
        // the record reads a tombstone and a log only as maps, not tables
        let map_or_none = |k: &str| match self.get(&root(k)) {
            Some([Val::Map(obj)]) => doc.object_type(obj).ok().map(|t| t == ObjType::Map),
            Some(_) => Some(false),
            None => Some(false),
        };
        let log = root("transitions");
        let transitions = match self.get(&log) {
            None => vec![],
            Some(_) if self.below(&log).any(|(_, v)| v.len() != 1) => return None,
            Some(_) if !map_or_none("transitions")? => return None,
            Some(_) => self.log(),
        };
        Some(crate::record::Outline {
            // read from `doc`: as values, bytes and a string look alike
            envelope: crate::record::envelope(doc),
            live: self.get(&root("live")).is_some(),
            tombstone: map_or_none("tombstone")?,
            transitions,
        })
    }
}

impl Snapshot {
    /// The transition log's entries (those that read as entries; the fold
    /// would ignore the others).
    pub fn log(&self) -> Vec<crate::lifecycle::Transition> {
        let log = vec!["transitions".to_string()];
        let ids: Vec<String> = self.children(&log).cloned().collect();
        ids.into_iter()
            .filter_map(|id| {
                let mut v = self.json(&[log[0].clone(), id.clone()])?;
                v.as_object_mut()?.insert("id".into(), Value::String(id));
                serde_json::from_value(v).ok()
            })
            .collect()
    }

    /// The record's state by its kind's lifecycle (`None` without one).
    pub fn state(&self, schema: &crate::schema::KindSchema) -> Option<String> {
        schema.lifecycle.as_ref().map(|lc| lc.fold(&self.log()).state)
    }
}

/// Every path where `before` and `after` differ (in either direction), in
/// order, with the values on each side.
pub fn differences<'a>(
    before: &'a Snapshot,
    after: &'a Snapshot,
) -> Vec<(&'a Path, Option<&'a [Val]>, Option<&'a [Val]>)> {
    let mut out = vec![];
    let mut b = before.paths.iter().peekable();
    let mut a = after.paths.iter().peekable();
    loop {
        match (b.peek(), a.peek()) {
            (None, None) => break,
            (Some((bp, bv)), Some((ap, av))) if bp == ap => {
                if bv != av {
                    out.push((*bp, Some(bv.as_slice()), Some(av.as_slice())));
                }
                b.next();
                a.next();
            }
            (Some((bp, bv)), Some((ap, _))) if bp < ap => {
                out.push((*bp, Some(bv.as_slice()), None));
                b.next();
            }
            (Some((bp, bv)), None) => {
                out.push((*bp, Some(bv.as_slice()), None));
                b.next();
            }
            (_, Some((ap, av))) => {
                out.push((*ap, None, Some(av.as_slice())));
                a.next();
            }
        }
    }
    out
}

/// Whether JSON `items` (of a list) hold a map as the value of a map's key
/// (`in_map`: `items` are such values themselves).
fn map_in_map<'a>(items: impl IntoIterator<Item = &'a Value>, in_map: bool) -> bool {
    items.into_iter().any(|v| match v {
        Value::Object(m) => in_map || map_in_map(m.values(), true),
        Value::Array(a) => map_in_map(a, false),
        _ => false,
    })
}

/// `val`, at a path of `depth` segments, as JSON; `rest` holds the paths
/// below it, next in order (paths sort parent first, then each child with
/// everything below it): a map takes its children from there, any other
/// value passes over them (they are another concurrent value's).
fn json_of<'a>(
    val: &Val,
    depth: usize,
    rest: &mut std::iter::Peekable<impl Iterator<Item = (&'a Path, &'a Vec<Val>)>>,
) -> Option<Value> {
    let value = match val {
        Val::Scalar(v) => v.clone(),
        Val::List(_, items) => Value::Array(items.clone()),
        Val::Text(_, t) => Value::String(t.clone()),
        Val::Map(_) => {
            let mut out = Map::new();
            while let Some((path, vals)) = rest.next_if(|(p, _)| p.len() > depth) {
                let v = vals.first().and_then(|first| json_of(first, path.len(), rest));
                // (a path whose parent is not here is no child of this map)
                if let (Some(v), true) = (v, path.len() == depth + 1) {
                    out.insert(path[depth].clone(), v);
                }
            }
            return Some(Value::Object(out));
        }
    };
    while rest.next_if(|(p, _)| p.len() > depth).is_some() {}
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{ActorId, Automerge};

    fn p(s: &str) -> Path {
        s.split('.').map(String::from).collect()
    }

    /// A random document: two actors editing apart and merging, with
    /// maps, lists of maps, text, tables, counters, deletes and keys
    /// written concurrently; and the heads after each round.
    fn random_document(seed: u64) -> (Automerge, Vec<Vec<ChangeHash>>) {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut next = move |n: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let mut a = Automerge::new().with_actor(ActorId::from([1u8; 32]));
        let mut b = Automerge::new().with_actor(ActorId::from([2u8; 16]));
        let mut heads = vec![];
        for _ in 0..6 {
            for doc in [&mut a, &mut b] {
                let mut tx = doc.transaction();
                for _ in 0..1 + next(6) {
                    // a map to write in: the root, or one a path of keys reaches
                    let mut obj = ROOT;
                    for _ in 0..next(3) {
                        match tx.get(&obj, ["m", "n"][next(2) as usize]).unwrap() {
                            Some((automerge::Value::Object(ObjType::Map), id)) => obj = id,
                            _ => break,
                        }
                    }
                    let key = ["m", "n", "s", "l", "t", "x"][next(6) as usize];
                    match next(9) {
                        0 | 1 => drop(tx.put_object(&obj, key, ObjType::Map).unwrap()),
                        2 => {
                            let list = tx.put_object(&obj, key, ObjType::List).unwrap();
                            for i in 0..next(3) {
                                let item = tx.insert_object(&list, i as usize, ObjType::Map).unwrap();
                                tx.put(&item, "k", i as i64).unwrap();
                            }
                            tx.insert(&list, 0, "first").unwrap();
                        }
                        3 => {
                            let text = tx.put_object(&obj, key, ObjType::Text).unwrap();
                            tx.splice_text(&text, 0, 0, "Sama").unwrap();
                            if next(3) == 0 {
                                // a block marker: the pass declines the document
                                tx.split_block(&text, 2).unwrap();
                            }
                        }
                        4 if next(4) == 0 => drop(tx.put_object(&obj, key, ObjType::Table).unwrap()),
                        5 => tx.delete(&obj, key).unwrap(),
                        6 => tx.put(&obj, key, automerge::ScalarValue::counter(3)).unwrap(),
                        _ => tx.put(&obj, key, next(100) as i64).unwrap(),
                    }
                }
                tx.commit();
            }
            if next(2) == 0 {
                a.merge(&mut b).unwrap();
                b.merge(&mut a).unwrap();
            }
            heads.push(a.get_heads());
        }
        a.merge(&mut b).unwrap();
        (a, heads)
    }

    #[test]
    fn an_object_claiming_a_counter_below_its_parents_is_still_read_whole() {
        // a change may claim any counter: here a map made inside one whose
        // ID is 6@y claims to be 1@x, which a pass in ID order would skip
        let mut y = Automerge::new().with_actor(ActorId::from([2u8; 16]));
        let mut tx = y.transaction();
        for i in 0..5 {
            tx.put(ROOT, format!("f{i}"), i as i64).unwrap();
        }
        let parent = tx.put_object(ROOT, "a", ObjType::Map).unwrap();
        tx.commit();
        let mut x = y.fork().with_actor(ActorId::from([1u8; 16]));
        let mut tx = x.transaction();
        tx.put_object(&parent, "k", ObjType::Map).unwrap();
        tx.commit();
        let mut forged = x.get_last_local_change().unwrap().decode();
        forged.start_op = std::num::NonZeroU64::new(1).unwrap();
        let mut doc = y.clone();
        doc.apply_changes([automerge::Change::from(forged)]).unwrap();
        let (_, child) = doc.get(&parent, "k").unwrap().unwrap();
        assert!(matches!(child, ObjId::Id(1, ..)), "the claimed counter: {child:?}");
        doc.set_actor(ActorId::from([3u8; 16]));
        let mut tx = doc.transaction();
        tx.put(&child, "hidden", 1).unwrap();
        tx.commit();
        assert!(read::Pass::of(read::At { doc: &doc, heads: None }).is_none(), "the pass declines it");
        let read = Snapshot::read(&doc, None);
        assert_eq!(read.get(&p("a.k.hidden")), Some(&[Val::Scalar(serde_json::json!(1))][..]));
    }

    #[test]
    fn objects_nested_deeper_than_any_record_are_not_read_and_the_snapshot_says_so() {
        // 20,000 maps one inside the next, and lists of lists: read whole,
        // they would overflow the stack of the thread reading them
        for list in [false, true] {
            let mut doc = Automerge::new();
            let mut tx = doc.transaction();
            let mut obj = tx.put_object(ROOT, "data", ObjType::Map).unwrap();
            for _ in 0..20_000 {
                obj = match list {
                    false => tx.put_object(&obj, "d", ObjType::Map).unwrap(),
                    true if tx.object_type(&obj).unwrap() == ObjType::List => {
                        tx.insert_object(&obj, 0, ObjType::List).unwrap()
                    }
                    true => tx.put_object(&obj, "l", ObjType::List).unwrap(),
                };
            }
            tx.commit();
            let s = Snapshot::read(&doc, None);
            assert!(s.too_deep, "list {list}");
            assert!(s.paths.keys().all(|p| p.len() <= MAX_NESTING));
        }
        // a record's deepest fields are read whole
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        let mut obj = tx.put_object(ROOT, "data", ObjType::Map).unwrap();
        for _ in 0..crate::schema::MAX_DEPTH {
            obj = tx.put_object(&obj, "d", ObjType::Map).unwrap();
        }
        tx.put(&obj, "n", 1).unwrap();
        tx.commit();
        assert!(!Snapshot::read(&doc, None).too_deep);
    }

    #[test]
    fn a_document_reads_alike_in_one_pass_and_object_by_object() {
        // `Snapshot::read` compares both readings itself in a debug build
        assert!(cfg!(debug_assertions), "run in a debug build: the comparison is a debug assertion");
        let (mut conflicted, mut in_one_pass) = (0, 0);
        for seed in 0..300 {
            let (doc, heads) = random_document(seed);
            in_one_pass += usize::from(read::Pass::of(read::At { doc: &doc, heads: None }).is_some());
            let now = Snapshot::read(&doc, None);
            conflicted += usize::from(now.paths.values().any(|v| v.len() > 1));
            for h in &heads {
                Snapshot::read(&doc, Some(h));
            }
        }
        assert!(conflicted > 30, "the documents hold concurrent values: {conflicted}");
        // and most are read in one pass (the others hold a table or a block)
        assert!(in_one_pass > 100, "read in one pass: {in_one_pass} of 300");
    }

    #[test]
    fn a_snapshot_holds_every_concurrent_value_and_each_objects_identity() {
        let mut a = Automerge::new().with_actor(ActorId::from(vec![1; 16]));
        let mut tx = a.transaction();
        let data = tx.put_object(ROOT, "data", ObjType::Map).unwrap();
        tx.put(&data, "title", "x").unwrap();
        let list = tx.put_object(&data, "l", ObjType::List).unwrap();
        tx.insert(&list, 0, 1).unwrap();
        tx.commit();
        let before = a.get_heads();
        let mut b = a.fork().with_actor(ActorId::from(vec![2; 16]));
        a.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(&data, "title", "A").map(|_| ())).unwrap();
        b.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(&data, "title", "B").map(|_| ())).unwrap();
        a.merge(&mut b).unwrap();
        let now = Snapshot::read(&a, None);
        assert_eq!(
            now.get(&p("data.title")).unwrap(),
            &[Val::Scalar(Value::from("A")), Val::Scalar(Value::from("B"))],
            "both concurrent values"
        );
        let then = Snapshot::read(&a, Some(&before));
        assert_eq!(then.scalar(&["data", "title"]), Some(&Value::from("x")), "read at the earlier heads");
        let diff = differences(&then, &now);
        assert_eq!(diff.len(), 1);
        assert_eq!(diff[0].0, &p("data.title"));
        assert_eq!(now.json(&p("data")).unwrap()["l"], serde_json::json!([1]));
        assert_eq!(now.settled_fields(&a), None, "a field with concurrent values");
    }

    #[test]
    fn settled_fields_are_what_the_record_reads() {
        // a seed-shaped record: nested maps, lists of maps, text, counters
        let mut doc = Automerge::new().with_actor(ActorId::from(vec![1; 16]));
        let env = crate::record::Envelope {
            kind: "edan".into(),
            key: "edan-1".into(),
            id: "d".into(),
            created_at: "t".into(),
            created_by: "n".into(),
        };
        let data = serde_json::json!({
            "title": "Incendio", "n": 3, "f": 1.5, "ok": true, "none": null,
            "tallies": {"z1": {"GAEM-1": {"dead": 1, "injured": 4}}},
            "needs": [{"item": "agua", "qty": 10, "tags": ["a", "b"]}, {"item": "techo"}],
            "empty": {}, "list": []
        });
        let mut tx = doc.transaction();
        crate::record::create(&mut tx, "d", &env, &data).unwrap();
        let d = tx.get(ROOT, "data").unwrap().unwrap().1;
        let text = tx.put_object(&d, "note", ObjType::Text).unwrap();
        tx.splice_text(&text, 0, 0, "hola").unwrap();
        tx.put(&d, "count", automerge::ScalarValue::counter(2)).unwrap();
        tx.commit();
        let s = Snapshot::read(&doc, None);
        let (fields, conflicts) = crate::record::read_data(&doc);
        assert!(conflicts.is_empty());
        assert_eq!(s.settled_fields(&doc), Some(fields));
        assert_eq!(s.outline(&doc), Some(crate::record::Outline::of(&doc)));

        // a transition, a deletion: the outline still agrees
        let t = crate::lifecycle::Transition {
            id: "01J".into(),
            from: "preliminar".into(),
            to: "consolidated".into(),
            seq: 1,
            at: "t".into(),
            by: "n".into(),
            note: Some("ok".into()),
            resolves: vec![],
        };
        let mut tx = doc.transaction();
        crate::record::append_transition(&mut tx, "d", &t).unwrap();
        crate::record::mark_deleted(&mut tx, "d", "t", "n").unwrap();
        tx.commit();
        let s = Snapshot::read(&doc, None);
        let outline = s.outline(&doc).unwrap();
        assert_eq!(outline, crate::record::Outline::of(&doc));
        assert!(outline.tombstone && !outline.live && outline.transitions.len() == 1);

        // equal concurrent values are settled; differing ones are not
        let mut other = doc.fork().with_actor(ActorId::from(vec![2; 16]));
        for (d2, v) in [(&mut doc, "x"), (&mut other, "x")] {
            let obj = d2.get(ROOT, "data").unwrap().unwrap().1;
            d2.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(&obj, "title", v).map(|_| ())).unwrap();
        }
        doc.merge(&mut other).unwrap();
        let s = Snapshot::read(&doc, None);
        assert_eq!(s.settled_fields(&doc), Some(crate::record::fields(&doc)));
        let mut other = doc.fork().with_actor(ActorId::from(vec![3; 16]));
        let obj = doc.get(ROOT, "data").unwrap().unwrap().1;
        doc.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(&obj, "n", 4).map(|_| ())).unwrap();
        other.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(&obj, "n", 5).map(|_| ())).unwrap();
        doc.merge(&mut other).unwrap();
        assert_eq!(Snapshot::read(&doc, None).settled_fields(&doc), None);
        let mut other = doc.fork().with_actor(ActorId::from(vec![4; 16]));
        doc.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "key", "a").map(|_| ())).unwrap();
        other.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "key", "b").map(|_| ())).unwrap();
        doc.merge(&mut other).unwrap();
        assert_eq!(Snapshot::read(&doc, None).outline(&doc), None, "a key with concurrent values");

        // a map inside an item's map in a list: left to the record's reading
        // (it merges maps made concurrently there)
        let mut d = Automerge::new();
        let mut tx = d.transaction();
        crate::record::create(&mut tx, "d", &env, &serde_json::json!({"l": [{"detail": {"a": 1}}]})).unwrap();
        tx.commit();
        assert_eq!(Snapshot::read(&d, None).settled_fields(&d), None);

        // a key written as bytes is no record's key, though it reads as hex
        let mut d = Automerge::new();
        d.transact::<_, _, automerge::AutomergeError>(|tx| {
            tx.put(ROOT, "kind", "edan")?;
            tx.put(ROOT, "key", automerge::ScalarValue::Bytes(vec![0xab]))
        })
        .unwrap();
        let outline = Snapshot::read(&d, None).outline(&d).unwrap();
        assert_eq!(outline.envelope, None);
        assert_eq!(outline, crate::record::Outline::of(&d));

        // `data` a table, a scalar, or absent: left to the record's reading
        for make in [ObjType::Table, ObjType::List] {
            let mut d = Automerge::new();
            let mut tx = d.transaction();
            tx.put_object(ROOT, "data", make).unwrap();
            tx.commit();
            assert_eq!(Snapshot::read(&d, None).settled_fields(&d), None, "{make:?}");
        }
        assert_eq!(Snapshot::read(&Automerge::new(), None).settled_fields(&Automerge::new()), None);
    }
}
