//! Lifecycles: states, allowed transitions, precedence, and the fold of a
//! record's append-only transition log into its current state.
//!
//! Owns: the pure rules. The declarations themselves live in `schemas/`
//! (`x-ayni.lifecycle`), never in Rust match arms. Must never: touch
//! automerge, the store, or the clock.
//!
//! # The fold
//! Every transition is an entry `{from, to, seq, at, by}`. `seq` is one more
//! than the highest `seq` the writer had seen, so an entry written after
//! another always sorts after it (a Lamport clock; wall clocks on field
//! laptops are not trusted for order). Entries are applied in
//! `(seq, higher precedence first, at, id)` order, and an entry takes effect
//! only if its `from` is the state reached so far and the move is allowed.
//! A replica that comes back with old entries therefore cannot move a record
//! backwards: its entries start from a state the record has already left.
//! An entry that did not apply and whose target the lifecycle declares
//! incompatible with a state that did apply (e.g. `cancelled` vs
//! `completed`) is a conflict, until a resolution entry settles it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A lifecycle, as declared in a kind's schema file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// The state a new record starts in.
    pub initial: String,
    /// Every state with its precedence (higher = further along).
    pub states: BTreeMap<String, u32>,
    /// Allowed moves: state → next states.
    #[serde(default)]
    pub transitions: BTreeMap<String, Vec<String>>,
    /// Pairs of states that must not both be reached concurrently.
    #[serde(default)]
    pub incompatible: Vec<(String, String)>,
    /// Fields that must be present before entering a state.
    #[serde(default)]
    pub requires: BTreeMap<String, Vec<String>>,
    /// Conditions on a move `from->to`: field → required value.
    #[serde(default)]
    pub guards: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// States shown differently depending on a date field (agreements).
    #[serde(default)]
    pub derived: BTreeMap<String, Derived>,
}

/// A state whose shown name depends on a date (e.g. `signed` shows as
/// `active`, `expiring` or `expired` by `valid_until`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Derived {
    /// The date field compared with today.
    pub date_field: String,
    /// Days before the date when the warning name starts.
    pub warn_days: i64,
    /// Name before the warning window.
    pub before: String,
    /// Name inside the warning window.
    pub warning: String,
    /// Name after the date.
    pub after: String,
}

/// One entry of a record's transition log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// Entry ID (a ULID).
    pub id: String,
    /// State the writer saw.
    pub from: String,
    /// State it moved to.
    pub to: String,
    /// Lamport sequence: one more than the highest the writer had seen.
    pub seq: u64,
    /// Wall-clock time (RFC 3339), informative only.
    pub at: String,
    /// Node ID of the writer.
    pub by: String,
    /// Free note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For a resolution entry: the IDs of the conflicting entries it settles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolves: Vec<String>,
}

/// The outcome of folding a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded {
    /// Current state.
    pub state: String,
    /// Highest `seq` in the log (the next entry uses `max_seq + 1`).
    pub max_seq: u64,
    /// Entries that did not apply (stale or superseded).
    pub dropped: Vec<Transition>,
    /// Dropped entries that conflict with an applied state, unresolved.
    pub conflicts: Vec<Transition>,
}

impl Lifecycle {
    /// Precedence of a state (0 for unknown states from newer schemas).
    pub fn precedence(&self, state: &str) -> u32 {
        self.states.get(state).copied().unwrap_or(0)
    }

    /// Whether `from → to` is an allowed move.
    pub fn allows(&self, from: &str, to: &str) -> bool {
        self.transitions.get(from).is_some_and(|next| next.iter().any(|s| s == to))
    }

    /// The allowed next states from `state`.
    pub fn next_states(&self, state: &str) -> &[String] {
        self.transitions.get(state).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether two states are declared incompatible.
    pub fn incompatible(&self, a: &str, b: &str) -> bool {
        self.incompatible.iter().any(|(x, y)| (x == a && y == b) || (x == b && y == a))
    }

    /// Why the move `from → to` is refused for a record with `fields`, or
    /// `None` when it is allowed (the move itself, its guard, the fields the
    /// target state requires).
    pub fn refusal(&self, from: &str, to: &str, fields: &serde_json::Value) -> Option<String> {
        if !self.states.contains_key(to) {
            let states: Vec<&str> = self.states.keys().map(String::as_str).collect();
            return Some(format!("unknown state; states are: {}", states.join(", ")));
        }
        if !self.allows(from, to) {
            let next = self.next_states(from);
            return Some(if next.is_empty() {
                format!("'{from}' is final")
            } else {
                format!("allowed from '{from}': {}", next.join(", "))
            });
        }
        if let Some(guard) = self.guards.get(&format!("{from}->{to}")) {
            for (field, want) in guard {
                if fields.get(field) != Some(want) {
                    return Some(format!("only when {field} is {want}"));
                }
            }
        }
        for field in self.requires.get(to).into_iter().flatten() {
            if fields.get(field).is_none() {
                return Some(format!("{field} must be set first"));
            }
        }
        None
    }

    /// A shortest path of allowed moves from `from` to `to` for a record
    /// with `fields` (for seeding records that start in a later state), or
    /// `None` if unreachable.
    pub fn path(&self, from: &str, to: &str, fields: &serde_json::Value) -> Option<Vec<String>> {
        let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([from]);
        let mut seen = BTreeSet::from([from]);
        while let Some(s) = queue.pop_front() {
            if s == to {
                let mut out = vec![];
                let mut cur = to;
                while cur != from {
                    out.push(cur.to_string());
                    cur = prev[cur];
                }
                out.reverse();
                return Some(out);
            }
            for n in self.next_states(s) {
                if self.refusal(s, n, fields).is_none() && seen.insert(n.as_str()) {
                    prev.insert(n.as_str(), s);
                    queue.push_back(n.as_str());
                }
            }
        }
        None
    }

    /// The log in the order the fold applies it.
    fn ordered<'l>(&self, log: &'l [Transition]) -> Vec<&'l Transition> {
        let mut entries: Vec<&Transition> = log.iter().collect();
        entries.sort_by(|a, b| {
            a.seq
                .cmp(&b.seq)
                .then(self.precedence(&b.to).cmp(&self.precedence(&a.to)))
                .then(a.at.cmp(&b.at))
                .then(a.id.cmp(&b.id))
        });
        entries
    }

    /// The entries that took effect, in the order they did: the record's
    /// path through its states (for time spent in each).
    pub fn applied<'l>(&self, log: &'l [Transition]) -> Vec<&'l Transition> {
        let dropped: BTreeSet<String> = self.fold(log).dropped.into_iter().map(|t| t.id).collect();
        self.ordered(log).into_iter().filter(|t| !dropped.contains(&t.id)).collect()
    }

    /// Folds a transition log into the current state (see the module doc).
    pub fn fold(&self, log: &[Transition]) -> Folded {
        let entries = self.ordered(log);
        let mut state = self.initial.clone();
        let mut reached = vec![state.clone()];
        let mut dropped = vec![];
        let mut resolved: BTreeSet<&str> = BTreeSet::new();
        for e in &entries {
            if !e.resolves.is_empty() && self.states.contains_key(&e.to) {
                resolved.extend(e.resolves.iter().map(String::as_str));
                state = e.to.clone();
                reached.push(state.clone());
            } else if e.from == state && self.allows(&state, &e.to) {
                state = e.to.clone();
                reached.push(state.clone());
            } else {
                dropped.push((*e).clone());
            }
        }
        let conflicts = dropped
            .iter()
            .filter(|e| !resolved.contains(e.id.as_str()))
            .filter(|e| reached.iter().any(|s| self.incompatible(&e.to, s)))
            .cloned()
            .collect();
        Folded { state, max_seq: log.iter().map(|e| e.seq).max().unwrap_or(0), dropped, conflicts }
    }

    /// The state name shown for `state` given the record's fields and
    /// today's date (`YYYY-MM-DD`): derived names for date-driven states.
    pub fn shown_state(&self, state: &str, fields: &serde_json::Value, today: time::Date) -> String {
        let Some(d) = self.derived.get(state) else {
            return state.to_string();
        };
        let Some(date) = fields
            .get(&d.date_field)
            .and_then(|v| v.as_str())
            .and_then(|s| time::Date::parse(s, &time::format_description::well_known::Iso8601::DATE).ok())
        else {
            return d.before.clone();
        };
        let days_left = (date - today).whole_days();
        if days_left < 0 {
            d.after.clone()
        } else if days_left <= d.warn_days {
            d.warning.clone()
        } else {
            d.before.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mission() -> Lifecycle {
        let v = serde_json::json!({
            "initial": "planned",
            "states": {"planned":1,"authorised":2,"in_progress":3,"suspended":3,"completed":4,
                       "results_recorded":5,"under_follow_up":6,"closed":7,"cancelled":8},
            "transitions": {"planned":["authorised","cancelled"],"authorised":["in_progress","cancelled"],
                "in_progress":["completed","suspended","cancelled"],"suspended":["in_progress","cancelled"],
                "completed":["results_recorded"],"results_recorded":["under_follow_up","closed"],
                "under_follow_up":["closed"]},
            "incompatible": [["cancelled","completed"],["cancelled","closed"]]
        });
        serde_json::from_value(v).unwrap()
    }

    fn t(id: &str, from: &str, to: &str, seq: u64, at: &str) -> Transition {
        Transition {
            id: id.into(),
            from: from.into(),
            to: to.into(),
            seq,
            at: at.into(),
            by: "n".into(),
            note: None,
            resolves: vec![],
        }
    }

    fn check(log: &[Transition], state: &str, conflicts: &[&str]) {
        let f = mission().fold(log);
        assert_eq!(f.state, state);
        let ids: Vec<&str> = f.conflicts.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, conflicts);
    }

    #[test]
    fn a_stale_replica_never_moves_a_record_backwards() {
        let hq = [
            t("a", "planned", "authorised", 1, "1"),
            t("b", "authorised", "in_progress", 2, "2"),
            t("c", "in_progress", "completed", 3, "3"),
            t("d", "completed", "results_recorded", 4, "4"),
            t("e", "results_recorded", "closed", 5, "5"),
        ];
        // the stale laptop saw only a and b, and its clock is early
        let mut log = hq.to_vec();
        log.push(t("s", "in_progress", "suspended", 3, "0"));
        log.push(t("r", "suspended", "in_progress", 4, "0"));
        check(&log, "closed", &[]);
        // whatever order the entries arrive in
        log.reverse();
        check(&log, "closed", &[]);
    }

    #[test]
    fn incompatible_concurrent_moves_are_a_conflict_until_resolved() {
        let mut log = vec![
            t("a", "planned", "authorised", 1, "1"),
            t("b", "authorised", "in_progress", 2, "2"),
            t("x", "in_progress", "completed", 3, "3"),
            t("y", "in_progress", "cancelled", 3, "3"),
        ];
        check(&log, "cancelled", &["x"]);
        let mut r = t("z", "cancelled", "completed", 4, "4");
        r.resolves = vec!["x".into()];
        log.push(r);
        check(&log, "completed", &[]);
    }

    #[test]
    fn paths_follow_guards_and_requirements() {
        let l = mission();
        let none = serde_json::json!({});
        assert_eq!(
            l.path("planned", "closed", &none).unwrap(),
            ["authorised", "in_progress", "completed", "results_recorded", "closed"]
        );
        assert!(l.path("closed", "planned", &none).is_none());
        let mut l = l;
        l.requires.insert("completed".into(), vec!["report".into()]);
        assert!(l.path("planned", "closed", &none).is_none());
        assert_eq!(l.refusal("in_progress", "completed", &none).unwrap(), "report must be set first");
        assert_eq!(l.refusal("closed", "planned", &none).unwrap(), "'closed' is final");
    }
}
