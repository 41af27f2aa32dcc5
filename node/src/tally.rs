//! What a record counts for in `ayni status` — deleted, in conflict,
//! amendment proposals waiting — read from its view on every write (the
//! store keeps it in the record's index entry: `ayni_store::Tally`), and
//! when an amendment entry is still a proposal.
//!
//! Owns: a record's tally, an amendment entry's decision as written.
//! Must never: read the store, or depend on the node's modules (every
//! write in `node.rs` computes its tally here).

use serde_json::Value;

use crate::store::Tally;

/// A proposal's decision: `proposed`, `accepted` or `rejected` (the
/// `decision` added to the entry, or the status older entries carry).
pub fn amendment_status(entry: &Value) -> &str {
    entry.pointer("/decision/status").or_else(|| entry.get("status")).and_then(Value::as_str).unwrap_or("proposed")
}

/// The tally of a record from its view's parts: whether it is deleted,
/// how many conflicts it holds, its fields.
pub fn of(deleted: bool, conflicts: usize, fields: &Value) -> Tally {
    let proposals = match fields.get("amendments") {
        Some(Value::Object(amendments)) => amendments.values().filter(|a| amendment_status(a) == "proposed").count(),
        _ => 0,
    };
    Tally { deleted, conflicted: conflicts > 0, proposals: u32::try_from(proposals).unwrap_or(u32::MAX) }
}
