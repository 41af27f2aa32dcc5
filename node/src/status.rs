//! A node at a glance (`ayni status`): who it is, its network and role,
//! what it holds, what waits for a person, and the peers it knows.
//!
//! What it counts of each record — deleted, in conflict, proposals
//! waiting ([`tally_of`]) — the store keeps in the record's index entry,
//! so the status reads no record whatever the store's size. A store
//! written before those counts fills them once when the node opens
//! ([`Node::complete_tallies`]).
//!
//! Owns: [`NodeStatus`], what a record's tally is. Must never: write
//! anything but those counts, or hold every record in memory at once.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::network::Role;
use crate::node::{Node, Reader, Record};
use crate::replica::PeerInfo;
use crate::store::Tally;

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
            let t = match self.store().tally(kind)? {
                Some(t) => t,
                // a store whose counts are not filled yet (a node opens
                // and fills them; a reader beside it may come first), or
                // that an older build wrote to since (repair rewrites them)
                None => {
                    tracing::warn!(
                        "counting {kind} records from their views: their index lacks the counts \
                         (`ayni check --repair` writes them)"
                    );
                    let mut t = crate::store::KindTally::default();
                    t.live = self.list_each(kind, &[], |rec| {
                        let one = tally_of(&rec);
                        t.conflicted += usize::from(one.conflicted);
                        t.proposals += one.proposals as usize;
                        Ok(())
                    })?;
                    t
                }
            };
            records.insert(kind.to_string(), t.live);
            conflicts += t.conflicted;
            pending_amendments += t.proposals;
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

/// Tallies written at a time when a store from before them is filled.
const FILL_BATCH: usize = 4096;

/// What the status counts of a record.
pub fn tally_of(rec: &Record) -> Tally {
    crate::tally::of(rec.deleted, rec.conflicts, &rec.fields)
}

impl Node {
    /// Fills every record's tally in a store written before them (read
    /// from every view, once); a no-op once filled.
    pub(crate) fn complete_tallies(&self) -> Result<()> {
        if self.store().tallied()? {
            return Ok(());
        }
        let mut entries = vec![];
        for kind in crate::schema::KINDS {
            for item in self.store().views_of_kind_iter(kind) {
                // a damaged view is left to `check`/repair, whose rewrite
                // of the record writes its tally like any write
                let (id, bytes) = match item {
                    Ok(item) => item,
                    Err(Error::Damaged { .. }) => continue,
                    Err(e) => return Err(e),
                };
                // a stray entry (its view names another kind) is repair's
                match serde_json::from_slice::<Record>(&bytes) {
                    Ok(r) if r.kind == *kind => entries.push((r.kind.clone(), r.key.clone(), id, tally_of(&r))),
                    _ => {}
                }
                if entries.len() == FILL_BATCH {
                    self.writer().complete_tallies(&std::mem::take(&mut entries), false)?;
                }
            }
        }
        self.writer().complete_tallies(&entries, true)
    }
}
