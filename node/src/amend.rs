//! Amendment proposals (DOMAIN.md §3 row 7): an edit to frozen figures
//! (an EDAN's tallies once validated) made by a replica that had not seen
//! the validation does not change the validated numbers; it is refused from
//! the document and recorded in the record's `amendments` for HQ to accept
//! or reject.
//!
//! Owns: recording and deciding proposals (`roles::frozen_edit` detects
//! the edits). Must never: let a non-hq change alter frozen figures.

use automerge::transaction::CommitOptions;
use automerge::Automerge;
use serde_json::{json, Value};

use crate::admission::Proposal;
use crate::attest::Signed;
use crate::error::{Error, Result};
use crate::node::Node;

impl Node {
    /// Writes received proposals into the record's `amendments` as this
    /// node's own (signed) change; returns the signatures to store.
    pub(crate) fn record_amendments(&self, doc: &mut Automerge, proposals: &[Proposal]) -> Result<Vec<Signed>> {
        // a proposal already recorded (the same change offered again, by a
        // reconnecting client) is not reopened: HQ may have decided it
        let known =
            crate::record::fields(doc).get("amendments").and_then(Value::as_object).cloned().unwrap_or_default();
        let proposals: Vec<&Proposal> = proposals.iter().filter(|p| !known.contains_key(&p.change)).collect();
        if proposals.is_empty() {
            return Ok(vec![]);
        }
        let before = doc.get_heads();
        let mut d = std::mem::take(doc).with_actor(self.secret().public().actor_id());
        let mut tx = d.transaction();
        for p in &proposals {
            let entry = json!({
                "by": p.by,
                "recorded_by": self.id().to_string(),
                "at": crate::node::now_rfc3339(),
                "proposed": p.proposed,
                "status": "proposed",
            });
            crate::record::set_path(&mut tx, "amendments", &["amendments".to_string(), p.change.clone()], &entry)?;
        }
        crate::record::touch(&mut tx, "amendments")?;
        tx.commit_with(
            CommitOptions::default()
                .with_message(format!("record {} amendment proposal(s)", proposals.len()))
                .with_time(time::OffsetDateTime::now_utc().unix_timestamp()),
        );
        let sigs = self.sign_own(&d, &before);
        *doc = d;
        Ok(sigs)
    }

    /// Accepts (applying its values as HQ's own change) or rejects an
    /// amendment proposal. HQ only.
    pub fn decide_amendment(&self, reference: &str, change: &str, accept: bool) -> Result<crate::Record> {
        if self.policy()?.role_of(&self.id()) != Some(crate::network::Role::Hq) {
            return Err(Error::Forbidden("only hq may decide amendments".into()));
        }
        let rec = self.get(reference)?;
        let amendments = rec.fields.get("amendments").and_then(Value::as_object).cloned().unwrap_or_default();
        let (key, entry) = amendments
            .iter()
            .find(|(k, _)| k.starts_with(change))
            .ok_or_else(|| Error::malformed("amendment", format!("{reference} has no amendment {change}")))?;
        if entry.get("status").and_then(Value::as_str) != Some("proposed") {
            return Err(Error::Precondition(format!("amendment {key} was already decided")));
        }
        let mut set: Vec<(String, Value)> = vec![];
        if accept {
            for (path, value) in entry.get("proposed").and_then(Value::as_object).into_iter().flatten() {
                set.push((path.clone(), value.clone()));
            }
        }
        set.push((format!("amendments.{key}.status"), json!(if accept { "accepted" } else { "rejected" })));
        set.push((format!("amendments.{key}.decided_by"), json!(self.id().to_string())));
        set.push((format!("amendments.{key}.decided_at"), json!(crate::node::now_rfc3339())));
        self.set(reference, &set)
    }
}
