//! The edits the differential generator makes inside one transaction:
//! values, paths reached through existing maps, list edits, transition
//! entries, envelope keys, tombstones, amendments — chosen by the bytes.
//!
//! Owns: one edit at a time ([`edit`]). Must never: be compiled outside
//! tests and fuzzing.

use automerge::transaction::{Transactable, Transaction};
use automerge::{ObjId, ObjType, ReadDoc, ROOT};
use serde_json::{json, Value};

use super::{Choices, NOW};

/// Field names, keys and values the generator writes: mostly ones the
/// records and their schemas know, so that many changes pass validation
/// and the permits decide.
const KEYS: &[&str] = &[
    "title",
    "event_id",
    "edan_type",
    "zones",
    "z1",
    "z2",
    "z3",
    "name",
    "geo",
    "lat",
    "lon",
    "assigned_team",
    "coverage_status",
    "tallies",
    "GAEM-1",
    "GAEM-2",
    "dead",
    "injured",
    "families_affected",
    "livestock_dead",
    "ovino",
    "needs",
    "n1",
    "n9",
    "status",
    "item",
    "services",
    "s1",
    "accepted",
    "team",
    "sign_off",
    "validated_by",
    "amendments",
    "a1",
    "a9",
    "decision",
    "proposed",
    "by",
    "at",
    "node_ids",
    "title_es",
    "summary",
    "impact_text",
    "log",
    "l9",
    "text",
    "results",
    "full_name",
    "position",
    "info_sources",
    "evaluators",
    "scope",
    "declaration",
];

fn value(ch: &mut Choices<'_>) -> Value {
    match ch.below(8) {
        0 | 1 | 2 => json!(ch.below(40)),
        3 => json!("x"),
        4 => json!(*ch.pick(&["identified", "covered", "GAEM-1", "GAEM-2", "in_progress", "2026-12-06T00:00:00Z"])),
        5 => json!(true),
        6 => json!(-3),
        _ => json!({"text": "nuevo", "dead": 1}),
    }
}

/// A map object of `doc` reached from `data` by existing map keys, and a
/// key there (existing or from [`KEYS`]).
fn spot(tx: &Transaction<'_>, ch: &mut Choices<'_>, start: &ObjId) -> (ObjId, String, Vec<String>) {
    let mut obj = start.clone();
    let mut path = vec![];
    loop {
        let keys: Vec<String> = tx.keys(&obj).collect();
        let key = if !keys.is_empty() && ch.chance(200) { ch.pick(&keys).clone() } else { ch.pick(KEYS).to_string() };
        let deeper = match tx.get(&obj, key.as_str()) {
            Ok(Some((automerge::Value::Object(ObjType::Map), id))) if ch.chance(170) => Some(id),
            _ => None,
        };
        path.push(key.clone());
        match deeper {
            Some(id) if path.len() < 6 => obj = id,
            _ => return (obj, key, path),
        }
    }
}

fn data_of(tx: &Transaction<'_>) -> Option<ObjId> {
    match tx.get(ROOT, "data") {
        Ok(Some((automerge::Value::Object(ObjType::Map), id))) => Some(id),
        _ => None,
    }
}

fn lists_of(tx: &Transaction<'_>, data: &ObjId) -> Vec<ObjId> {
    let mut out = vec![];
    for k in tx.keys(data).collect::<Vec<_>>() {
        if let Ok(Some((automerge::Value::Object(ObjType::List), id))) = tx.get(data, k.as_str()) {
            out.push(id);
        }
    }
    out
}

/// One edit, chosen by `ch`, inside `tx`. `names` are names an author
/// might put in a transition entry's `by`.
pub(super) fn edit(tx: &mut Transaction<'_>, ch: &mut Choices<'_>, names: &[String]) {
    let Some(data) = data_of(tx) else {
        let _ = tx.put_object(ROOT, "data", ObjType::Map);
        return;
    };
    match ch.below(16) {
        0..=3 => {
            let (obj, key, _) = spot(tx, ch, &data);
            let v = value(ch);
            let _ = match v {
                Value::Object(_) => tx.put_object(&obj, key.as_str(), ObjType::Map).map(|m| {
                    let _ = tx.put(&m, "dead", 1);
                }),
                v => tx.put(&obj, key.as_str(), crate::record::json_to_scalar(&v)),
            };
        }
        4 | 5 => {
            let (obj, key, _) = spot(tx, ch, &data);
            let _ = tx.delete(&obj, key.as_str());
        }
        6 => {
            let (obj, key, _) = spot(tx, ch, &data);
            if let Ok(m) = tx.put_object(&obj, key.as_str(), ObjType::Map) {
                if ch.chance(128) {
                    let _ = tx.put(&m, *ch.pick(&["dead", "GAEM-1", "GAEM-2", "name", "status"]), ch.below(9) as u64);
                }
            }
        }
        7 => {
            let lists = lists_of(tx, &data);
            if lists.is_empty() {
                return;
            }
            let list = ch.pick(&lists).clone();
            let len = tx.length(&list);
            let _ = match ch.below(4) {
                0 => tx.insert(&list, len, "direct_observation").map(|_| ()),
                1 if len > 0 => tx.insert(&list, ch.below(len), "health_post").map(|_| ()),
                2 if len > 0 => tx.delete(&list, ch.below(len)),
                _ if len > 0 => tx.put(&list, ch.below(len), "Otro"),
                _ => Ok(()),
            };
        }
        8 => {
            let (obj, key, _) = spot(tx, ch, &data);
            let _ = tx.put_object(&obj, key.as_str(), ObjType::List);
        }
        9 | 10 => {
            // a new transition entry
            let log = match tx.get(ROOT, "transitions") {
                Ok(Some((automerge::Value::Object(ObjType::Map), id))) => id,
                _ => return,
            };
            let old: Vec<String> = tx.keys(&log).collect();
            let states = [
                "draft",
                "submitted",
                "consolidated",
                "validated",
                "published",
                "active",
                "controlled",
                "ended",
                "in_progress",
                "completed",
                "suspended",
                "cancelled",
                "prioritised",
                "systematised",
            ];
            let state = crate::record::transitions(&*tx);
            let max = state.iter().map(|t| t.seq).max().unwrap_or(0);
            let current =
                tx.get(ROOT, "kind").ok().flatten().and(crate::record::root_str(&*tx, "kind")).and_then(|k| {
                    crate::schema::schemas().ok()?.kind(&k).ok()?.lifecycle.as_ref().map(|lc| lc.fold(&state).state)
                });
            let from = if ch.chance(200) { current.unwrap_or_default() } else { ch.pick(&states).to_string() };
            let seq = if ch.chance(220) { max + 1 } else { ch.below(6) as u64 };
            let by = if ch.chance(220) { names[0].clone() } else { ch.pick(names).clone() };
            let id = format!("01GEN{:04}", ch.below(10_000));
            let Ok(e) = tx.put_object(&log, id.as_str(), ObjType::Map) else { return };
            let _ = tx.put(&e, "from", from.as_str());
            let _ = tx.put(&e, "to", *ch.pick(&states));
            let _ = tx.put(&e, "seq", seq);
            let _ = tx.put(&e, "at", NOW);
            let _ = tx.put(&e, "by", by.as_str());
            if ch.chance(30) && !old.is_empty() {
                if let Ok(l) = tx.put_object(&e, "resolves", ObjType::List) {
                    let _ = tx.insert(&l, 0, ch.pick(&old).as_str());
                }
            }
            if ch.chance(20) {
                let _ = tx.put(&e, "extra", 1);
            }
        }
        11 => {
            // an existing transition entry edited or removed
            let log = match tx.get(ROOT, "transitions") {
                Ok(Some((automerge::Value::Object(ObjType::Map), id))) => id,
                _ => return,
            };
            let ids: Vec<String> = tx.keys(&log).collect();
            if ids.is_empty() {
                return;
            }
            let id = ch.pick(&ids).clone();
            if ch.chance(60) {
                let _ = tx.delete(&log, id.as_str());
            } else if let Ok(Some((_, e))) = tx.get(&log, id.as_str()) {
                let _ = tx.put(&e, *ch.pick(&["to", "from", "seq"]), *ch.pick(&["validated", "draft", "published"]));
            }
        }
        12 => {
            // envelope and root keys
            let key =
                *ch.pick(&["kind", "key", "id", "created_by", "ayni", "created_at", "extra", "transitions", "data"]);
            let value = *ch.pick(&["person", "edan-9", "other"]);
            let _ = match ch.below(4) {
                0 => tx.delete(ROOT, key),
                1 => tx.put(ROOT, key, value),
                // a plain JS string, as an automerge-repo client writes one
                2 => tx.put_object(ROOT, key, ObjType::Text).and_then(|t| tx.splice_text(&t, 0, 0, value)),
                _ => tx.put_object(ROOT, key, ObjType::Map).map(|_| ()),
            };
        }
        13 => {
            // delete the record, or write a tombstone of some shape
            if ch.chance(200) {
                let _ = tx.delete(ROOT, "live");
            }
            if let Ok(t) = tx.put_object(ROOT, "tombstone", ObjType::Map) {
                let _ = tx.put(&t, "at", NOW);
                if ch.chance(220) {
                    let _ = tx.put(&t, "by", names[0].as_str());
                }
                if ch.chance(20) {
                    let _ = tx.put(&t, "junk", "x".repeat(200));
                }
            }
        }
        14 => {
            // bring back: a live token, the tombstone cleared
            let _ = tx.put(ROOT, "live", "01BACK");
            if ch.chance(200) {
                let _ = tx.delete(ROOT, "tombstone");
            }
        }
        _ => {
            // amendments: a new entry, a decision, an edit
            let am = match tx.get(&data, "amendments") {
                Ok(Some((automerge::Value::Object(ObjType::Map), id))) => id,
                _ => match tx.put_object(&data, "amendments", ObjType::Map) {
                    Ok(id) => id,
                    Err(_) => return,
                },
            };
            match ch.below(3) {
                0 => {
                    if let Ok(e) = tx.put_object(&am, *ch.pick(&["a9", "a8"]), ObjType::Map) {
                        let _ = tx.put(&e, "by", "x");
                        let _ = tx.put(&e, "status", "proposed");
                        if let Ok(p) = tx.put_object(&e, "proposed", ObjType::Map) {
                            let _ = tx.put(&p, *ch.pick(&["tallies.z1.GAEM-1.dead", "sign_off.validated_by"]), 3);
                        }
                    }
                }
                1 => {
                    if let Ok(Some((_, e))) = tx.get(&am, "a1") {
                        if let Ok(d) = tx.put_object(&e, "decision", ObjType::Map) {
                            let _ = tx.put(&d, "status", *ch.pick(&["accepted", "rejected"]));
                            let _ = tx.put(&d, "by", names[0].as_str());
                            let _ = tx.put(&d, "at", NOW);
                        }
                    }
                }
                _ => {
                    if let Ok(Some((_, e))) = tx.get(&am, "a1") {
                        let _ = tx.put(&e, "status", "accepted");
                    }
                }
            }
        }
    }
    if ch.chance(230) {
        let _ = tx.put(ROOT, "live", crate::id::new_item_id());
    }
}
