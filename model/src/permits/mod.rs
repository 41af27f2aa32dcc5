//! Permits: what each role may do to each kind of record — the rules table
//! in `schemas/permits.json` — and the judgement of a change by what it
//! does. Default deny: whatever the table does not list is refused.
//!
//! Owns: reading the table, and [`judge`]: the record before and after a
//! change (two [`Snapshot`]s, read in the change's own causal context) and
//! its author → allowed, or why not, naming the rule. One judgement for
//! every door: a node's own write before it is stored, a client's change
//! at the gateway, every change that arrives by sync or bundle. Must
//! never: read the store, the clock or signatures (the author arrives
//! already identified), or allow what the table does not list.
//!
//! What is judged, for every role:
//! - the document's root holds only the record layout's keys; the
//!   envelope (`ayni`, `kind`, `key`, `created_at`, `created_by`, `id`) is
//!   written by the creating change — with `id` the document's own ID and
//!   `created_by` its author — and never changes after;
//! - deleting (the record stops being live, a tombstone is written) needs
//!   `delete`; bringing a deleted record back, or clearing the tombstone of
//!   one edited while deleted, needs `undelete`;
//! - transition-log entries never change once written; a new entry moves
//!   from the state its author saw, with the next sequence number, along a
//!   move the lifecycle allows and the role's `moves` list (a resolution
//!   entry, settling concurrent states, needs `settle`); its `by` is its
//!   author;
//! - `data` is never replaced as a whole; every path where the record's
//!   fields differ (a value set, changed, removed; a concurrent value added;
//!   a map or list replaced by another object) must be covered by one of
//!   the kind's field permits; entries of the collections the table lists
//!   under `entries` never change once written.

use serde_json::Value;

#[cfg(any(test, feature = "fuzzing"))]
pub mod model;
mod table;

pub use table::{permits, KindPermits, Op, Pattern, Permits, RolePermits, Rule, ROLES};

use crate::effect::{Path, Snapshot, Val};
use crate::schema::KindSchema;

/// The rules table, as shipped.
pub const FILE: &str = include_str!("../../../schemas/permits.json");

/// The keys a record's document has at its root.
pub const ROOT_KEYS: [&str; 10] =
    ["ayni", "kind", "key", "created_at", "created_by", "id", "live", "tombstone", "data", "transitions"];

/// The root keys written once, by the creating change.
pub const ENVELOPE: [&str; 6] = ["ayni", "kind", "key", "created_at", "created_by", "id"];

/// Who made a change, as the permits see it.
pub struct Author<'a> {
    /// How refusals name it (a node ID, `client NAME via NODE`).
    pub label: String,
    /// The names its records and transition entries may carry as their
    /// author (`created_by`, `by`).
    pub names: Vec<String>,
    /// Its role in the table: `hq`, `field` or `read`.
    pub role: &'a str,
    /// Whether it counts for a team.
    pub in_team: &'a dyn Fn(&str) -> bool,
}

/// What the judgement found, when it allows the change.
#[derive(Debug, Default)]
pub struct Allowed {
    /// The field paths (below `data`) whose values differ.
    pub fields: Vec<Path>,
    /// Whether the change created the record.
    pub created: bool,
}

/// A path below the root, as people read it.
fn dotted(path: &[String]) -> String {
    path.join(".")
}

fn data_path(path: &[String]) -> Option<&[String]> {
    match path.split_first() {
        Some((first, rest)) if first == "data" && !rest.is_empty() => Some(rest),
        _ => None,
    }
}

/// Judges the change that took the record (of document `doc_id`) from
/// `before` to `after`, made by `author`. `kinds` finds a kind's schema;
/// `fields_after` reads the record's fields after the change as people see
/// them (for a lifecycle's guards; read only when a transition is made).
/// `Err` says why it is refused, naming the rule.
pub fn judge(
    permits: &Permits,
    kinds: &dyn Fn(&str) -> Option<&'static KindSchema>,
    doc_id: &str,
    author: &Author<'_>,
    before: &Snapshot,
    after: &Snapshot,
    fields_after: &dyn Fn() -> Value,
) -> std::result::Result<Allowed, String> {
    let who = author.role;
    // the root: only the layout's keys
    for key in after.children(&[]) {
        if !ROOT_KEYS.contains(&key.as_str())
            && before.get(std::slice::from_ref(key)) != after.get(std::slice::from_ref(key))
        {
            return Err(format!("it writes '{key}' at the document's root, which a record does not have"));
        }
    }
    let created = before.get(&["kind".to_string()]).is_none();
    if !created {
        for key in ENVELOPE {
            let path = vec![key.to_string()];
            if before.get(&path) != after.get(&path) {
                return Err(format!("it changes the record's '{key}', which never changes once created"));
            }
        }
    }
    let kind = match after.string(&["kind"]) {
        Some(k) => k.to_string(),
        None => return Err("it does not create an Ayni record (no kind)".into()),
    };
    let schema = kinds(&kind).ok_or_else(|| format!("unknown record kind '{kind}'"))?;
    let table = |what: &str| format!("(permits: {who} › {kind}{what})");
    // a kind the role does not list: nothing is allowed
    let none = KindPermits::default();
    let p = permits.of(who, &kind).unwrap_or(&none);
    if created {
        envelope_of_new(after, &kind, doc_id, author)?;
        if !p.create {
            return Err(format!("role: {who} may not create {kind} records {}", table(": no \"create\"")));
        }
        if after.get(&["live".to_string()]).is_none() {
            return Err("it creates a record already deleted".into());
        }
    }
    let case = Case { permits, kind: &kind, schema, before, after, p, author };
    if !created {
        case.liveness()?;
    }
    case.transitions(fields_after)?;
    let fields = case.fields(created)?;
    Ok(Allowed { fields, created })
}

/// One change being judged: the record before and after, the kind, the
/// author and what its role may do to the kind.
struct Case<'a> {
    permits: &'a Permits,
    kind: &'a str,
    schema: &'a KindSchema,
    before: &'a Snapshot,
    after: &'a Snapshot,
    p: &'a KindPermits,
    author: &'a Author<'a>,
}

impl Case<'_> {
    /// Where a refusal points in the table.
    fn table(&self, what: &str) -> String {
        format!("(permits: {} › {}{what})", self.author.role, self.kind)
    }
}

/// The envelope a creating change must write.
fn envelope_of_new(after: &Snapshot, kind: &str, doc_id: &str, author: &Author<'_>) -> std::result::Result<(), String> {
    if after.scalar(&["ayni"]).and_then(Value::as_u64) != Some(crate::record::LAYOUT_VERSION) {
        return Err(format!("it does not create an Ayni record of layout {}", crate::record::LAYOUT_VERSION));
    }
    let key = after.string(&["key"]).unwrap_or_default();
    if !crate::record::valid_key(key) {
        return Err(format!("it creates a {kind} whose key is not a valid key"));
    }
    if after.string(&["id"]) != Some(doc_id) {
        return Err(format!(
            "it creates a record bound to another document (its 'id' is not {doc_id}): a history replayed under a new ID"
        ));
    }
    let created_at = after.string(&["created_at"]).unwrap_or_default();
    if created_at.len() > 64 || created_at.is_empty() {
        return Err("it creates a record without a creation time".into());
    }
    let by = after.string(&["created_by"]).unwrap_or_default();
    if !author.names.iter().any(|n| n == by) {
        return Err(format!("it creates a record whose created_by ('{by}') is not its author ({})", author.label));
    }
    Ok(())
}

impl Case<'_> {
    /// Deleting and undeleting: the `live` key and the tombstone.
    fn liveness(&self) -> std::result::Result<(), String> {
        let Case { before, after, p, kind, .. } = *self;
        let who = self.author.role;
        let live = |s: &Snapshot| s.get(&["live".to_string()]).is_some();
        let (was, is) = (live(before), live(after));
        let stone = vec!["tombstone".to_string()];
        let stone_changed = before.below(&stone).ne(after.below(&stone));
        if after.get(&stone).is_some() && stone_changed {
            tombstone_shape(after)?;
        }
        let (deleting, restoring) = match (was, is) {
            (true, false) => (true, false),
            (false, true) => (false, true),
            _ if stone_changed => (after.get(&stone).is_some(), after.get(&stone).is_none()),
            _ => (false, false),
        };
        if deleting && !p.delete {
            return Err(format!("role: {who} may not delete {kind} records (permits: {who} › {kind}: no \"delete\")"));
        }
        if restoring && !p.undelete {
            return Err(format!(
                "role: {who} may not bring back a deleted {kind} (permits: {who} › {kind}: no \"undelete\")"
            ));
        }
        Ok(())
    }
}

/// A tombstone is `{at, by}`, two short strings.
fn tombstone_shape(after: &Snapshot) -> std::result::Result<(), String> {
    let stone = vec!["tombstone".to_string()];
    let text = |key: &str| match after.get(&[stone[0].clone(), key.to_string()]) {
        Some([Val::Scalar(Value::String(s))]) | Some([Val::Text(_, s)]) => !s.is_empty() && s.len() <= 128,
        _ => false,
    };
    let ok = matches!(after.get(&stone), Some([Val::Map(_)]))
        && after.below(&stone).count() == 3
        && text("at")
        && text("by");
    if ok {
        Ok(())
    } else {
        Err("its tombstone is not {at, by}: two strings of at most 128 bytes".into())
    }
}

impl Case<'_> {
    /// The transition log: entries never change; new ones follow the lifecycle.
    fn transitions(&self, fields_after: &dyn Fn() -> Value) -> std::result::Result<(), String> {
        let Case { before, after, schema, p, author, .. } = *self;
        let table = |what: &str| self.table(what);
        let log = vec!["transitions".to_string()];
        let had = before.get(&log).is_some();
        if had && before.get(&log) != after.get(&log) {
            return Err("it replaces the record's transition log".into());
        }
        for (path, vals) in before.below(&log) {
            if path.len() > 1 && after.get(path) != Some(vals.as_slice()) {
                return Err(format!("it changes transition entry {}, which never changes once written", path[1]));
            }
        }
        let new_ids: Vec<&String> =
            after.children(&log).filter(|id| before.get(&[log[0].clone(), (*id).clone()]).is_none()).collect();
        if new_ids.is_empty() {
            return Ok(());
        }
        let lc = schema.lifecycle.as_ref().ok_or_else(|| format!("{} records have no lifecycle", schema.kind))?;
        let old: Vec<crate::lifecycle::Transition> = entries(before, &log, before.children(&log).collect())?;
        let mut new = entries(after, &log, new_ids)?;
        new.sort_by_key(|t| t.seq);
        let folded = lc.fold(&old);
        let (mut state, mut seq) = (folded.state, folded.max_seq);
        let fields = fields_after();
        for t in new {
            let mv = format!("{}->{}", t.from, t.to);
            if !author.names.iter().any(|n| *n == t.by) {
                return Err(format!(
                    "transition entry {} says it is by '{}', not by its author ({})",
                    t.id, t.by, author.label
                ));
            }
            if t.from != state || t.seq != seq + 1 {
                return Err(format!(
                "transition entry {} ({mv}, seq {}) does not follow the log its author saw (state '{state}', seq {})",
                t.id,
                t.seq,
                seq + 1
            ));
            }
            if !lc.states.contains_key(&t.to) {
                return Err(format!(
                    "transition entry {} moves to '{}', which is not a state of {}",
                    t.id, t.to, schema.kind
                ));
            }
            if !t.resolves.is_empty() {
                if !p.settle {
                    return Err(format!(
                        "role: {} may not settle concurrent states {}",
                        author.role,
                        table(": no \"settle\"")
                    ));
                }
                if let Some(unknown) = t.resolves.iter().find(|id| !old.iter().any(|e| &e.id == *id)) {
                    return Err(format!(
                        "transition entry {} settles entry {unknown}, which the log does not hold",
                        t.id
                    ));
                }
            } else {
                if let Some(why) = lc.refusal(&t.from, &t.to, &fields) {
                    return Err(format!("lifecycle: {} cannot move {mv}: {why}", schema.kind));
                }
                if !p.moves.iter().any(|m| m == "*" || *m == mv) {
                    return Err(format!(
                        "role: {} may not move {} records {mv} {}",
                        author.role,
                        schema.kind,
                        table(": moves")
                    ));
                }
            }
            state = t.to.clone();
            seq = t.seq;
        }
        Ok(())
    }
}

/// The log entries `ids` read from a snapshot; an entry that is not
/// exactly `{from, to, seq, at, by, note?, resolves?}` is refused.
fn entries(
    s: &Snapshot,
    log: &[String],
    ids: Vec<&String>,
) -> std::result::Result<Vec<crate::lifecycle::Transition>, String> {
    let mut out = vec![];
    for id in ids {
        let path = [log.to_vec(), vec![id.clone()]].concat();
        let single = s.below(&path).all(|(_, v)| v.len() == 1);
        let json = s.json(&path);
        let known = matches!(&json, Some(Value::Object(m)) if m.keys().all(|k| ["from", "to", "seq", "at", "by", "note", "resolves"].contains(&k.as_str())));
        let parsed = json.and_then(|mut v| {
            v.as_object_mut()?.insert("id".into(), Value::String(id.clone()));
            serde_json::from_value::<crate::lifecycle::Transition>(v).ok()
        });
        match parsed {
            Some(t) if single && known && id.len() <= 64 && t.note.as_ref().is_none_or(|n| n.len() <= 4096) => {
                out.push(t)
            }
            _ => return Err(format!("transition entry {id} is not {{from, to, seq, at, by, note?, resolves?}}")),
        }
    }
    Ok(out)
}

impl Case<'_> {
    /// The record's fields: every differing path covered by a permit.
    fn fields(&self, created: bool) -> std::result::Result<Vec<Path>, String> {
        let Case { permits, kind, before, after, p, author, .. } = *self;
        let table = |what: &str| self.table(what);
        let data = vec!["data".to_string()];
        if before.get(&data).is_some() && before.get(&data) != after.get(&data) {
            return Err("it replaces the record's data as a whole".into());
        }
        if created && !matches!(after.get(&data), Some([Val::Map(_)])) {
            return Err("it creates a record without its data".into());
        }
        let in_team = author.in_team;
        let entry_patterns = permits.entries_of(kind);
        let allows =
            |path: &[String], op: Op| p.fields.iter().any(|r| r.ops.contains(&op) && r.pattern.covers(path, in_team));
        let adds_at =
            |path: &[String]| p.fields.iter().any(|r| r.ops.contains(&Op::Add) && r.pattern.matches(path, in_team));
        // an existing entry of an immutable collection at or above `path`
        // (`full` is `path` under `data`: `full[..=n]` is `path[..n]` there)
        let entry_above = |full: &[String]| -> Option<usize> {
            let path = &full[1..];
            entry_patterns.iter().find_map(|e| {
                (e.len() <= path.len()
                    && e.matches(&path[..e.len()], &|_| true)
                    && before.get(&full[..=e.len()]).is_some())
                .then_some(e.len())
            })
        };
        // whether an existing entry lies at or below `path`
        let entry_below = |full: &[String]| {
            before.below(full).any(|(q, _)| entry_patterns.iter().any(|e| e.matches(&q[1..], &|_| true)))
        };
        let refuse = |what: &str, path: &[String]| {
            Err(format!("role: {} may not {what} {} in {kind} records {}", author.role, dotted(path), table("")))
        };
        let mut changed = vec![];
        for (full, b, a) in crate::effect::differences(before, after) {
            let Some(path) = data_path(full) else { continue };
            changed.push(path.to_vec());
            if let Some(depth) = entry_above(full) {
                if b.is_some() {
                    return Err(format!(
                        "it changes {} of {} entry {}, which never changes once written",
                        dotted(path),
                        kind,
                        dotted(&path[..depth])
                    ));
                }
                // a new key inside an existing entry: only where an `add` names it
                let named = (depth + 1..=path.len()).any(|n| {
                    after.get(&full[..=n]).is_some() && before.get(&full[..=n]).is_none() && adds_at(&path[..n])
                });
                if !named {
                    return refuse("add", path);
                }
                continue;
            }
            match (b, a) {
                (None, None) => {}
                (None, Some(now)) => {
                    let by_set = allows(path, Op::Set);
                    let by_add =
                        by_set || (1..=path.len()).any(|n| before.get(&full[..=n]).is_none() && adds_at(&path[..n]));
                    let container =
                        now.iter().all(|v| matches!(v, Val::Map(_))) && after.children(full).next().is_some();
                    if !(by_set || by_add || container) {
                        return refuse("add", path);
                    }
                }
                (Some(_), None) => {
                    let parent = &full[..full.len() - 1];
                    if parent.len() > 1 && before.get(parent) != after.get(parent) {
                        continue; // judged with its parent
                    }
                    if entry_below(full) {
                        return Err(format!(
                            "it removes {} in {kind} records, which holds entries that never change",
                            dotted(path)
                        ));
                    }
                    if !allows(path, Op::Remove) {
                        return refuse("remove", path);
                    }
                }
                (Some(was), Some(now)) => {
                    if entry_below(full) && was.iter().any(|v| v.object().is_some()) {
                        return Err(format!(
                            "it replaces {} in {kind} records, which holds entries that never change",
                            dotted(path)
                        ));
                    }
                    let appended = match (was, now) {
                        ([Val::List(x, old)], [Val::List(y, new)]) => x == y && is_subsequence(old, new),
                        _ => false,
                    };
                    let ok = allows(path, Op::Set)
                        || (appended
                            && p.fields
                                .iter()
                                .any(|r| r.ops.contains(&Op::Append) && r.pattern.matches(path, in_team)));
                    if !ok {
                        return refuse(if appended { "append to" } else { "change" }, path);
                    }
                }
            }
        }
        Ok(changed)
    }
}

/// Whether every item of `old` is in `new`, in order (only insertions).
fn is_subsequence(old: &[Value], new: &[Value]) -> bool {
    let mut it = new.iter();
    old.iter().all(|o| it.any(|n| n == o))
}
