//! Enrolled laptops as HQ's desk lists them: every membership this node
//! holds, with its revocation if any, the teams it counts for and when it
//! last synced with this node.
//!
//! Owns: gathering that view. Must never: enrol or revoke (`replica`,
//! `authority`), or decide who counts (`authority` does).

use serde::Serialize;
use serde_json::Value;

use crate::error::Result;
use crate::network::Role;
use crate::node::Reader;

/// A revocation, as shown.
#[derive(Debug, Clone, Serialize)]
pub struct Revoked {
    /// When.
    pub at: String,
    /// Why.
    pub reason: String,
}

/// One enrolled laptop.
#[derive(Debug, Clone, Serialize)]
pub struct Laptop {
    /// Its node ID.
    pub node_id: String,
    /// The name it was enrolled with.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// When it was enrolled.
    pub enrolled_at: String,
    /// The teams whose `node_ids` list it.
    pub teams: Vec<String>,
    /// Its last completed sync with this node.
    pub last_sync: Option<String>,
    /// Its revocation, if any.
    pub revoked: Option<Revoked>,
    /// Whether it is this node.
    pub this_node: bool,
}

impl Reader {
    /// Every laptop enrolled in this node's network that this node knows of,
    /// in the order they were enrolled.
    pub fn laptops(&self) -> Result<Vec<Laptop>> {
        let authority = self.authority()?;
        let revocations = authority.revocations();
        let peers = self.peers()?;
        let teams = self.list("team", &[])?;
        let mut out: Vec<Laptop> = vec![];
        for m in self.members_all()? {
            let p = &m.payload;
            if out.iter().any(|l| l.node_id == p.node_id) {
                continue;
            }
            let revoked = revocations
                .iter()
                .find(|(id, _)| id.to_string() == p.node_id)
                .map(|(_, r)| Revoked { at: r.payload.revoked_at.clone(), reason: r.payload.reason.clone() });
            out.push(Laptop {
                node_id: p.node_id.clone(),
                name: p.label.clone(),
                role: p.role,
                enrolled_at: p.issued_at.clone(),
                teams: teams
                    .iter()
                    .filter(|t| {
                        t.fields
                            .get("node_ids")
                            .and_then(Value::as_array)
                            .is_some_and(|ids| ids.iter().any(|i| i == &p.node_id))
                    })
                    .map(|t| t.key.clone())
                    .collect(),
                last_sync: peers.iter().find(|peer| peer.node_id == p.node_id).and_then(|peer| peer.last_sync.clone()),
                revoked,
                this_node: p.node_id == self.id().to_string(),
            });
        }
        out.sort_by(|a, b| a.enrolled_at.cmp(&b.enrolled_at));
        Ok(out)
    }
}
