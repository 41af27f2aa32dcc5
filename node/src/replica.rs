//! The node as replication sees it: the network this node belongs to,
//! memberships and peers (the store a sync session works on is
//! `sync_store`).
//!
//! Owns: enrolment (found a network, enrol, join), the membership set that
//! replicates with every sync, the peer list. Must never: accept a
//! membership it has not verified, or write a document from a peer that is
//! not an Ayni record.

use crate::store::Table;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::identity::NodeId;
use crate::network::{self, Membership, NetworkInfo, Revocation, RevocationPayload, Role};
use crate::node::{Node, Reader};

/// What this node knows of a peer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's node ID (empty until first contact, for an address hint).
    pub node_id: String,
    /// Its label from its membership.
    #[serde(default)]
    pub label: String,
    /// Addresses it was reached at or announced (`host:port`), newest first.
    #[serde(default)]
    pub addrs: Vec<String>,
    /// Last successful contact (RFC 3339).
    #[serde(default)]
    pub last_seen: Option<String>,
    /// Last completed sync (RFC 3339).
    #[serde(default)]
    pub last_sync: Option<String>,
    /// `ok`, `unreachable`, `refused` or `new`.
    #[serde(default)]
    pub state: String,
    /// Why the last attempt failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Where `ayni serve` serves this node: its sync (QUIC) address and its
/// HTTP API's URL (`http://ADDR` or `https://ADDR`), kept for the commands
/// that hand them out (`enroll`'s address hint, `client add --qr`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    /// The QUIC address, `host:port`.
    pub listen: Option<String>,
    /// The HTTP API's URL.
    pub http: Option<String>,
}

impl Reader {
    /// The network this node belongs to, if any.
    pub fn network(&self) -> Result<Option<NetworkInfo>> {
        network::read_network(self.home())
    }

    /// This node's own membership, once it founded or joined a network:
    /// the one that gives it its role (see `authority`); `None` when none
    /// counts (never enrolled, or enrolled by an HQ node since revoked).
    pub fn membership(&self) -> Result<Option<Membership>> {
        Ok(self.authority()?.membership(&self.id()).cloned())
    }

    /// Who is what in this node's network, from every membership and
    /// revocation it holds (see `authority`).
    pub fn authority(&self) -> Result<std::sync::Arc<crate::authority::Authority>> {
        Ok(self.policy()?.authority.clone())
    }

    /// Where this node was last served (by `ayni serve`).
    pub(crate) fn served(&self) -> Result<Served> {
        let row = |name| -> Result<Option<String>> {
            Ok(self.store().row(Table::Local, name)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
        };
        Ok(Served { listen: row("listen")?, http: row("http")? })
    }

    /// Revokes a node (HQ only): a signed record that replicates with every
    /// sync and bundle. Changes the node made that this node holds are kept;

    /// The network's members: for each node whose enrolment counts, the
    /// membership that gives it its role.
    pub fn members(&self) -> Result<Vec<Membership>> {
        let authority = self.authority()?;
        let mut out: Vec<Membership> = authority.members().map(|(_, m)| m.clone()).collect();
        out.sort_by(|a, b| a.payload.issued_at.cmp(&b.payload.issued_at));
        Ok(out)
    }

    /// Every membership record this node holds that verifies, counting or
    /// not.
    pub(crate) fn members_all(&self) -> Result<Vec<Membership>> {
        Ok(self.store().rows(Table::Members)?.iter().filter_map(|(_, b)| self.verified().membership(b).ok()).collect())
    }

    /// The membership of `node` that gives it its role, if one counts.
    pub fn member(&self, node: &NodeId) -> Result<Option<Membership>> {
        Ok(self.authority()?.membership(node).cloned())
    }

    /// Every membership, revocation and client revocation record this
    /// node holds: what replicates in `Members` frames and bundles.
    pub fn membership_records(&self) -> Result<Vec<Vec<u8>>> {
        let mut out: Vec<Vec<u8>> = self.store().rows(Table::Members)?.into_iter().map(|(_, v)| v).collect();
        out.extend(self.store().rows(Table::Revocations)?.into_iter().map(|(_, v)| v));
        out.extend(self.store().rows(Table::ClientRevocations)?.into_iter().map(|(_, v)| v));
        Ok(out)
    }

    /// Known peers.
    pub fn peers(&self) -> Result<Vec<PeerInfo>> {
        let mut out = vec![];
        for (_, p) in self.store().rows_json::<PeerInfo>(Table::Peers)? {
            out.push(p);
        }
        Ok(out)
    }
}

impl Node {
    /// Stores a membership or revocation record under its own name (node
    /// ID and a hash of its bytes: several per node may count at once).
    /// `Ok(false)` if it was already stored.
    fn put_record(&self, table: Table, node: &str, bytes: &[u8]) -> Result<bool> {
        let name = format!("{node}.{}", &crate::authority::record_hash(bytes)[..16]);
        if self.store().row(table, &name)?.as_deref() == Some(bytes) {
            return Ok(false);
        }
        self.writer().put(table, &name, bytes)?;
        Ok(true)
    }

    /// Founds a network on this node, which becomes its first HQ member.
    pub fn create_network(&self, name: &str) -> Result<(NetworkInfo, Membership)> {
        let (info, key) = network::create_network(self.home(), name)?;
        let m = Membership::issue(
            &info,
            &key,
            None,
            self.id(),
            Role::Hq,
            &self.info().name,
            &crate::node::now_rfc3339(),
            None,
        )?;
        self.put_record(Table::Members, &self.id().to_string(), &m.bytes)?;
        Ok((info, m))
    }

    /// Enrols another node (HQ only): returns the membership whose token
    /// the other node passes to `join`. It also replicates to every node.
    pub fn enroll(&self, node: NodeId, role: Role, label: &str, addr_hint: Option<String>) -> Result<Membership> {
        let network = self.network()?.ok_or_else(|| {
            Error::Precondition(
                "this node belongs to no network: run `ayni network create --name NAME` (HQ) or `ayni join TOKEN`"
                    .into(),
            )
        })?;
        let mine = self.membership()?.ok_or_else(|| Error::Precondition("this node is not enrolled".into()))?;
        if mine.payload.role != Role::Hq {
            return Err(Error::Forbidden(format!(
                "only an hq node may enrol others; this node is {}",
                mine.payload.role
            )));
        }
        if role == Role::Hq && self.authority()?.role(&node) == Some(Role::Field) {
            return Err(Error::Precondition(format!(
                "{node} is enrolled as field: a node's role can be lowered, never raised (enrol a new node for hq)"
            )));
        }
        let label = if label.is_empty() { node.to_string()[..6].to_string() } else { label.to_string() };
        if let Some(other) =
            self.members_all()?.into_iter().find(|m| m.payload.label == label && m.payload.node_id != node.to_string())
        {
            return Err(Error::Precondition(format!(
                "a member is already named '{label}' (node {}): choose another --name",
                other.payload.node_id
            )));
        }
        let m = match network::network_key(self.home())? {
            Some(key) => {
                Membership::issue(&network, &key, None, node, role, &label, &crate::node::now_rfc3339(), addr_hint)?
            }
            None => Membership::issue(
                &network,
                self.secret(),
                Some(&mine),
                node,
                role,
                &label,
                &crate::node::now_rfc3339(),
                addr_hint,
            )?,
        };
        self.put_record(Table::Members, &node.to_string(), &m.bytes)?;
        Ok(m)
    }

    /// Lists `node` in team `team`'s `node_ids` (if it is not there yet), so
    /// it counts for the team: it may write the team's EDAN tallies and
    /// vouch for the team's field clients.
    pub fn count_in_team(&self, node: NodeId, team: &str) -> Result<crate::Record> {
        let reference = format!("team:{team}");
        let rec = self.get(&reference)?;
        let mut ids: Vec<Value> = rec.fields.get("node_ids").and_then(Value::as_array).cloned().unwrap_or_default();
        let id = Value::String(node.to_string());
        if ids.contains(&id) {
            return Ok(rec);
        }
        ids.push(id);
        self.set(&reference, &[("node_ids".to_string(), Value::Array(ids))])
    }

    /// `ayni enroll`: enrols `node` ([`Node::enroll`]) with, unless another
    /// is given, the address this node serves sync on as the token's hint,
    /// and counts it in `team` (checked before anything is written).
    pub(crate) fn enroll_in(
        &self,
        node: NodeId,
        role: Role,
        label: &str,
        addr: Option<String>,
        team: Option<&str>,
    ) -> Result<Membership> {
        if let Some(t) = team {
            self.get(&format!("team:{t}")).map_err(|_| {
                Error::malformed("team", format!("unknown team '{t}' (team:{t}): `ayni list team` shows the teams"))
            })?;
        }
        let addr = match addr {
            Some(a) => Some(a),
            None => self.served()?.listen,
        };
        let m = self.enroll(node, role, label, addr)?;
        if let Some(t) = team {
            self.count_in_team(node, t)?;
        }
        Ok(m)
    }

    /// Notes where this node is served now.
    pub(crate) fn note_served(&self, served: &Served) -> Result<()> {
        for (name, value) in [("listen", &served.listen), ("http", &served.http)] {
            if let Some(v) = value {
                self.writer().put(Table::Local, name, v.as_bytes())?;
            }
        }
        Ok(())
    }

    /// Joins the network a token enrols this node in.
    pub fn join(&self, token: &str) -> Result<Membership> {
        let m = Membership::from_token(token)?;
        m.verify_for(&m.payload.network, self.id())?;
        network::write_network(self.home(), &m.payload.network)?;
        self.put_record(Table::Members, &self.id().to_string(), &m.bytes)?;
        if let Some(addr) = &m.payload.addr_hint {
            self.note_peer(None, addr, |p| {
                if p.state.is_empty() {
                    p.state = "new".into();
                }
            })?;
        }
        Ok(m)
    }

    /// anything it signs later is refused, and it is refused at the
    /// handshake by every node that has learned of the revocation.
    pub fn revoke(&self, node: NodeId, reason: &str) -> Result<Revocation> {
        let network = self.network()?.ok_or_else(|| Error::Precondition("this node belongs to no network".into()))?;
        let mine = self.membership()?.ok_or_else(|| Error::Precondition("this node is not enrolled".into()))?;
        if mine.payload.role != Role::Hq {
            return Err(Error::Forbidden(format!("only an hq node may revoke; this node is {}", mine.payload.role)));
        }
        if node == self.id() {
            return Err(Error::Precondition("a node cannot revoke itself".into()));
        }
        let authority = self.authority()?;
        if authority.role(&node).is_none() && !self.members_all()?.iter().any(|m| m.payload.node_id == node.to_string())
        {
            return Err(Error::Precondition(format!("{node} is not a member of this network")));
        }
        // what HQ holds of that node: its highest change sequence per document
        let mut kept = std::collections::BTreeMap::new();
        for id in self.store().all_ids()? {
            let Some(doc) = self.store().load_uncached(&id)? else { continue };
            let mut actors: HashMap<automerge::ActorId, bool> = HashMap::new();
            for c in doc.get_changes(&[]) {
                let by_node = *actors
                    .entry(c.actor_id().clone())
                    .or_insert_with(|| NodeId::from_actor(c.actor_id()) == Some(node));
                if by_node {
                    let e = kept.entry(id.to_string()).or_insert(0);
                    *e = (*e).max(c.seq());
                }
            }
        }
        let (issuer, issuer_membership) = match network::network_key(self.home())? {
            Some(k) => (k, None),
            None => (
                crate::key_file::read(&self.home().join("node.key"))?,
                Some(mine.to_token().trim_start_matches("ayni1-").to_string()),
            ),
        };
        // what the node signed that stays: every membership and revocation
        // of it this node holds, but a revocation of this node
        let key_hex = |k: &str| k.to_ascii_lowercase();
        let mut kept_issued = vec![];
        let me = self.id().to_string();
        for (table, _) in [(Table::Members, ()), (Table::Revocations, ())] {
            for (_, bytes) in self.store().rows(table)? {
                let issued_by = if Revocation::is_revocation(&bytes) {
                    Revocation::from_bytes(&bytes).ok().filter(|r| r.payload.node_id != me).map(|r| r.payload.issuer)
                } else {
                    Membership::from_bytes(&bytes).ok().map(|m| m.payload.issuer)
                };
                let by_node = issued_by
                    .and_then(|i| data_encoding::HEXLOWER_PERMISSIVE.decode(key_hex(&i).as_bytes()).ok())
                    .and_then(|b| crate::identity::PublicKey::from_bytes(&b).ok())
                    .is_some_and(|k| k.node_id() == node);
                if by_node {
                    kept_issued.push(crate::authority::record_hash(&bytes));
                }
            }
        }
        kept_issued.sort();
        kept_issued.dedup();
        let payload = RevocationPayload {
            network,
            node_id: node.to_string(),
            reason: reason.to_string(),
            revoked_at: crate::node::now_rfc3339(),
            kept,
            kept_issued,
            issuer: issuer.public().to_bytes().iter().map(|b| format!("{b:02x}")).collect(),
            issuer_membership,
        };
        let r = Revocation::issue(payload, &issuer)?;
        self.put_record(Table::Revocations, &node.to_string(), &r.bytes)?;
        Ok(r)
    }

    /// Verifies a membership, revocation or client revocation of this
    /// node's network and records it; `Ok(false)` if it was already
    /// known. Every verified record is kept (several memberships of one
    /// node, several revocations): which count is decided from all of them
    /// (`authority`), not by which arrived first.
    pub fn accept_member(&self, bytes: &[u8]) -> Result<bool> {
        let network = self.network()?.ok_or_else(|| Error::Precondition("this node belongs to no network".into()))?;
        if crate::clients::ClientRevocation::is_one(bytes) {
            return self.accept_client_revocation(bytes, &network.id);
        }
        if Revocation::is_revocation(bytes) {
            let r = Revocation::from_bytes(bytes)?;
            if r.payload.network != network {
                return Err(Error::refused("revocation", "it is of another network"));
            }
            let new = self.put_record(Table::Revocations, &r.payload.node_id, bytes)?;
            if new {
                tracing::warn!(
                    "learned that node {} was revoked at {}: {}",
                    r.payload.node_id,
                    r.payload.revoked_at,
                    r.payload.reason
                );
            }
            return Ok(new);
        }
        let m = Membership::from_bytes(bytes)?;
        m.verify_for(&network, m.node_id()?)?;
        self.put_record(Table::Members, &m.payload.node_id, bytes)
    }

    /// Updates what this node knows of a peer (by node ID, or by address
    /// before the first contact).
    pub fn note_peer(&self, node: Option<NodeId>, addr: &str, f: impl FnOnce(&mut PeerInfo)) -> Result<PeerInfo> {
        let _guard = self.write_lock();
        let name = match node {
            Some(n) => n.to_string(),
            None => format!("addr-{addr}"),
        };
        let mut info: PeerInfo = match self.store().row(Table::Peers, &name)? {
            Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            None => PeerInfo::default(),
        };
        if let Some(n) = node {
            info.node_id = n.to_string();
            // an address-only entry becomes this peer's entry
            let by_address = format!("addr-{addr}");
            if let Some(bytes) = self.store().row(Table::Peers, &by_address)? {
                if let Ok(old) = serde_json::from_slice::<PeerInfo>(&bytes) {
                    for a in old.addrs {
                        if !info.addrs.contains(&a) {
                            info.addrs.push(a);
                        }
                    }
                }
                self.writer().remove(Table::Peers, &by_address)?;
            }
            if let Ok(Some(m)) = self.member(&n) {
                info.label = m.payload.label;
            }
        }
        if !addr.is_empty() {
            info.addrs.retain(|a| a != addr);
            info.addrs.insert(0, addr.to_string());
            info.addrs.truncate(4);
        }
        f(&mut info);
        self.writer().put_json(Table::Peers, &name, &info)?;
        Ok(info)
    }
}
