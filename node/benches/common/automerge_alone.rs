//! automerge by itself on the same records, the baseline the speed
//! benches compare Ayni against: each record built as one change in its
//! own document and saved, on one core; then every saved document loaded.
//! Shared by `node/benches/speed.rs` and the end-to-end `benches/floor.rs`.

use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ScalarValue, ROOT};
use serde_json::Value;

/// Writes a JSON value into an automerge object (maps and lists as such).
pub fn put_json<T: Transactable>(tx: &mut T, obj: &automerge::ObjId, key: automerge::Prop, v: &Value) {
    let scalar = |v: &Value| -> ScalarValue {
        match v {
            Value::Bool(b) => ScalarValue::Boolean(*b),
            Value::Number(n) if n.is_i64() => ScalarValue::Int(n.as_i64().unwrap_or(0)),
            Value::Number(n) => ScalarValue::F64(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => ScalarValue::Str(s.as_str().into()),
            _ => ScalarValue::Null,
        }
    };
    let child = match (v, &key) {
        (Value::Object(_), automerge::Prop::Map(k)) => Some(tx.put_object(obj, k.as_str(), ObjType::Map).unwrap()),
        (Value::Array(_), automerge::Prop::Map(k)) => Some(tx.put_object(obj, k.as_str(), ObjType::List).unwrap()),
        (Value::Object(_), automerge::Prop::Seq(i)) => Some(tx.insert_object(obj, *i, ObjType::Map).unwrap()),
        (Value::Array(_), automerge::Prop::Seq(i)) => Some(tx.insert_object(obj, *i, ObjType::List).unwrap()),
        (_, automerge::Prop::Map(k)) => {
            tx.put(obj, k.as_str(), scalar(v)).unwrap();
            None
        }
        (_, automerge::Prop::Seq(i)) => {
            tx.insert(obj, *i, scalar(v)).unwrap();
            None
        }
    };
    match (v, child) {
        (Value::Object(m), Some(c)) => {
            for (k, x) in m {
                put_json(tx, &c, automerge::Prop::Map(k.as_str().into()), x);
            }
        }
        (Value::Array(a), Some(c)) => {
            for (i, x) in a.iter().enumerate() {
                put_json(tx, &c, automerge::Prop::Seq(i), x);
            }
        }
        _ => {}
    }
}

/// automerge alone, one core: each record built as one change and saved;
/// then every saved document loaded.
pub fn automerge_baseline(records: &[Value]) -> (Duration, Duration) {
    let t = Instant::now();
    let saved: Vec<Vec<u8>> = records
        .iter()
        .map(|r| {
            let mut doc = Automerge::new();
            let mut tx = doc.transaction();
            put_json(&mut tx, &ROOT, automerge::Prop::Map("data".into()), r);
            tx.commit();
            doc.save()
        })
        .collect();
    let build = t.elapsed();
    let t = Instant::now();
    let loaded: usize = saved.iter().map(|b| Automerge::load(b).map(|_| 1).unwrap_or(0)).sum();
    let load = t.elapsed();
    assert_eq!(loaded, records.len());
    (build, load)
}
