//! A node at a glance (`ayni status`): who it is, its network and role,
//! what it holds, what waits for a person, and the peers it knows.
//!
//! Owns: [`NodeStatus`]. Must never: write anything, or hold every record
//! in memory at once (records are counted as they stream past).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::error::Result;
use crate::network::Role;
use crate::node::Reader;
use crate::replica::PeerInfo;

/// What `ayni status` shows of the node itself (serving details are the
/// front end's).
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    /// The node ID.
    pub node_id: String,
    /// The node's name.
    pub name: String,
    /// The home directory.
    pub home: String,
    /// The network's ID and name, once the node belongs to one.
    pub network: Option<NetworkStatus>,
    /// The node's role in it.
    pub role: Option<Role>,
    /// Live records of each kind.
    pub records: BTreeMap<String, usize>,
    /// Records with concurrent values waiting for `ayni resolve`.
    pub conflicts: usize,
    /// Amendment proposals waiting for HQ's decision.
    pub pending_amendments: usize,
    /// Known peers: addresses, last sync, state.
    pub peers: Vec<PeerInfo>,
}

/// A network, as the status names it.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkStatus {
    /// Its ID.
    pub id: String,
    /// Its name.
    pub name: String,
}

impl Reader {
    /// The node at a glance.
    pub fn status(&self) -> Result<NodeStatus> {
        let mut records = BTreeMap::new();
        let (mut conflicts, mut pending_amendments) = (0, 0);
        for kind in crate::schema::KINDS {
            let n = self.list_each(kind, &[], |rec| {
                if rec.conflicts > 0 {
                    conflicts += 1;
                }
                if let Some(Value::Object(amendments)) = rec.fields.get("amendments") {
                    pending_amendments +=
                        amendments.values().filter(|a| crate::amend::status_of(a) == "proposed").count();
                }
                Ok(())
            })?;
            records.insert(kind.to_string(), n);
        }
        Ok(NodeStatus {
            node_id: self.id().to_string(),
            name: self.info().name.clone(),
            home: self.home().display().to_string(),
            network: self.network()?.map(|n| NetworkStatus { id: n.id, name: n.name }),
            role: self.membership()?.map(|m| m.payload.role),
            records,
            conflicts,
            pending_amendments,
            peers: self.peers()?,
        })
    }
}
