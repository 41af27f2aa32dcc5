//! The policy: what a node knows, at one moment, of who may write what —
//! whether it belongs to a network, the members and their roles, the
//! revocations, which nodes count for which team, and the kinds' schemas.
//!
//! Owns: the [`Policy`] snapshot and the shape of its cache on the node
//! (`trust` fills it from the store, and builds it again when the store's
//! policy generation moves: a membership, a revocation or a team written). Must never: read the store while judging (admission and
//! the role rules see only a snapshot, so they can be tested without a
//! home directory), or be consulted after a write it predates.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::identity::{NodeId, PublicKey};
use crate::network::Role;
use crate::schema::{KindSchema, Schemas};

/// Record kinds whose records decide who may write what (a team's
/// `node_ids`): writing one moves the store's policy generation.
pub const KINDS: &[&str] = &["team"];

/// Whether writing a record of `kind` changes who may write what.
pub(crate) fn decides(kind: &str) -> bool {
    KINDS.contains(&kind)
}

/// A revoked member, as admission needs it.
#[derive(Debug, Clone)]
pub struct Revoked {
    /// When (RFC 3339).
    pub at: String,
    /// Per document ID: the highest sequence number of the node's changes
    /// that are kept.
    pub kept: BTreeMap<String, u64>,
}

/// Who may write what, at one moment.
#[derive(Clone)]
pub struct Policy {
    pub(crate) in_network: bool,
    pub(crate) members: HashMap<NodeId, Role>,
    /// `Err` holds why a stored revocation could not be read: admission
    /// refuses to judge that node's changes rather than admit them.
    pub(crate) revocations: HashMap<NodeId, std::result::Result<Revoked, String>>,
    /// Team key → node IDs it lists; `None` when several records share the
    /// key (created offline twice): nobody counts for it until HQ settles it.
    teams: HashMap<String, Option<Vec<String>>>,
    /// Revoked clients: (gateway, client name) → when (Unix seconds).
    clients_revoked: HashMap<(NodeId, String), i64>,
    /// The node judging (outside a network it vouches for its own clients).
    own: Option<NodeId>,
    schemas: &'static Schemas,
    /// Which memberships and revocations count (the members and
    /// revocations above are read from it).
    pub(crate) authority: Arc<crate::authority::Authority>,
    /// Public keys already read from their bytes (see [`Policy::key`]).
    keys: Arc<Mutex<HashMap<[u8; 32], Option<Key>>>>,
}

/// A public key and the node ID it makes.
type Key = (PublicKey, NodeId);

/// Keys [`Policy::key`] remembers at most before it starts again.
const KEYS_KEPT: usize = 4096;

impl Policy {
    /// An empty policy: no network, no members, no teams.
    pub fn new(schemas: &'static Schemas) -> Policy {
        Policy {
            in_network: false,
            members: HashMap::new(),
            revocations: HashMap::new(),
            teams: HashMap::new(),
            clients_revoked: HashMap::new(),
            own: None,
            schemas,
            authority: Arc::default(),
            keys: Arc::default(),
        }
    }

    /// The Ed25519 public key of these bytes and its node ID (`None`: not
    /// a key). Reading a key from its bytes costs about a quarter of
    /// checking a signature with it, and a sync checks thousands of changes
    /// by a few authors: each key is read once per policy snapshot.
    pub(crate) fn key(&self, bytes: &[u8; 32]) -> Option<Key> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = keys.get(bytes) {
            return *known;
        }
        if keys.len() >= KEYS_KEPT {
            keys.clear();
        }
        let key = PublicKey::from_bytes(bytes).ok().map(|k| (k, k.node_id()));
        keys.insert(*bytes, key);
        key
    }

    /// The node belongs to a network (else it judges only its own store,
    /// and every change it makes is allowed).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn in_network(mut self) -> Policy {
        self.in_network = true;
        self
    }

    /// `node` is a member with `role`.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn with_member(mut self, node: NodeId, role: Role) -> Policy {
        self.members.insert(node, role);
        self
    }

    /// `node` was revoked.
    #[cfg(test)]
    pub fn with_revocation(mut self, node: NodeId, revoked: Revoked) -> Policy {
        self.revocations.insert(node, Ok(revoked));
        self
    }

    /// Team `team` lists `nodes` in its `node_ids`.
    pub fn with_team(mut self, team: &str, nodes: Vec<String>) -> Policy {
        use std::collections::hash_map::Entry;
        match self.teams.entry(team.to_string()) {
            Entry::Vacant(v) => {
                v.insert(Some(nodes));
            }
            Entry::Occupied(mut o) => {
                o.insert(None);
            }
        }
        self
    }

    /// The policy is `node`'s own.
    pub fn of(mut self, node: NodeId) -> Policy {
        self.own = Some(node);
        self
    }

    /// Client `client` of gateway `gateway` was revoked at `at` (Unix
    /// seconds): what its gateway attested from then on is refused.
    pub fn with_client_revocation(mut self, gateway: NodeId, client: &str, at: i64) -> Policy {
        let e = self.clients_revoked.entry((gateway, client.to_string())).or_insert(at);
        *e = (*e).min(at);
        self
    }

    /// When client `client` of `gateway` was revoked, if it was.
    pub fn client_revoked(&self, gateway: &NodeId, client: &str) -> Option<i64> {
        self.clients_revoked.get(&(*gateway, client.to_string())).copied()
    }

    /// The role with which `gateway` vouches for its clients' changes: its
    /// membership's; outside a network, a node vouches for its own clients
    /// with every right (it judges only its own store).
    pub fn gateway_role(&self, gateway: &NodeId) -> Option<Role> {
        self.role_of(gateway).or_else(|| (!self.in_network && self.own == Some(*gateway)).then_some(Role::Hq))
    }

    /// Whether the judging node records amendment proposals: an HQ node
    /// (or a node outside any network, which judges only its own store).
    pub fn records_amendments(&self) -> bool {
        self.own.is_some_and(|me| self.gateway_role(&me) == Some(Role::Hq))
    }

    /// Whether the node belongs to a network.
    pub fn has_network(&self) -> bool {
        self.in_network
    }

    /// The role of `node`, if it is a member.
    pub fn role_of(&self, node: &NodeId) -> Option<Role> {
        self.members.get(node).copied()
    }

    /// The revocation of `node`, if any; `Err` when the stored one cannot
    /// be read (the caller fails closed).
    pub fn revocation(&self, node: &NodeId) -> Result<Option<&Revoked>> {
        match self.revocations.get(node) {
            None => Ok(None),
            Some(Ok(r)) => Ok(Some(r)),
            Some(Err(why)) => Err(Error::Damaged { id: format!("revocation of {node}"), reason: why.clone() }),
        }
    }

    /// Whether `node` counts for team `team`.
    pub fn in_team(&self, node: &str, team: &str) -> bool {
        matches!(self.teams.get(team), Some(Some(nodes)) if nodes.iter().any(|n| n == node))
    }

    /// The schema of `kind`.
    pub fn kind(&self, kind: &str) -> Result<&'static KindSchema> {
        self.schemas.kind(kind)
    }
}

/// A node's cached snapshot and the store generation it was built at
/// (filled by `Node::policy`, in `trust`).
#[derive(Default)]
pub(crate) struct Cache(pub(crate) Mutex<Option<(u64, Arc<Policy>)>>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_read_once_and_read_alike_and_bytes_that_are_no_key_stay_none() {
        let p = Policy::new(crate::schema::schemas().unwrap());
        let public = crate::identity::SecretKey::generate().unwrap().public();
        let bytes = public.to_bytes();
        for _ in 0..2 {
            assert_eq!(p.key(&bytes), Some((public, public.node_id())));
        }
        // y = 2 is no point of the curve
        let mut no_key = [0u8; 32];
        no_key[0] = 2;
        assert!(PublicKey::from_bytes(&no_key).is_err());
        assert_eq!(p.key(&no_key), None);
        assert_eq!(p.key(&no_key), None);
        // a clone of the snapshot shares what it read; past the bound it starts again
        let clone = p.clone();
        for i in 0..KEYS_KEPT as u32 {
            let mut other = [0u8; 32];
            other[..4].copy_from_slice(&i.to_be_bytes());
            clone.key(&other);
        }
        assert!(p.keys.lock().unwrap().len() <= KEYS_KEPT);
        assert_eq!(p.key(&bytes), Some((public, public.node_id())));
    }
}
