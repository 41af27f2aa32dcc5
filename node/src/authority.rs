//! Authority: which of the memberships and revocations a node holds count
//! — who is a member, with which role, and who is revoked — decided the
//! same way by every node from the same records, whatever order they
//! arrived in.
//!
//! Owns: the rules, as a pure function of verified records and the
//! network key:
//! - revocations signed by the network key (the founder's) always count;
//! - a revocation signed by an HQ node counts unless that node revoked
//!   itself, or its own membership does not count, or it is revoked and
//!   the revocation is not among those its revoker kept (`kept_issued`);
//!   of several revocations of one node, the network key's, then the
//!   earliest, decides what is kept of its changes;
//! - a membership counts if signed by the network key, or by an HQ node
//!   whose membership counts and that is not revoked — unless this very
//!   membership is among those its revoker kept: a revoked HQ laptop can
//!   enrol no one, backdated or not;
//! - a node's role is the least its counting memberships give: a
//!   downgrade sticks, the old certificate grants nothing more.
//!
//! Must never: read the store, verify signatures (records arrive verified
//! by `network`), or depend on the order records arrived in.

use std::collections::{BTreeMap, HashMap, HashSet};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::identity::{NodeId, PublicKey};
use crate::network::{Membership, Revocation, Role};

/// The hex SHA-256 of a signed record's bytes: how `kept_issued` names it.
pub fn record_hash(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(bytes))
}

/// Who is what, decided from every record a node holds.
#[derive(Debug, Default, Clone)]
pub struct Authority {
    network_key: String,
    /// Node → the revocation that counts for it.
    revoked: HashMap<NodeId, Revocation>,
    /// Node → its role, from the memberships that count.
    roles: HashMap<NodeId, Role>,
    /// Node → the membership it presents: the one giving its role (the
    /// latest issued of those).
    effective: HashMap<NodeId, Membership>,
}

/// The node an issuer key (hex) belongs to.
fn issuer_node(issuer: &str) -> Option<NodeId> {
    let bytes = data_encoding::HEXLOWER_PERMISSIVE.decode(issuer.as_bytes()).ok()?;
    Some(PublicKey::from_bytes(&bytes).ok()?.node_id())
}

/// The membership an HQ issuer carried inside a record it signed.
fn chain(issuer_membership: Option<&str>) -> Option<Membership> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(issuer_membership?).ok()?;
    Membership::from_bytes(&bytes).ok()
}

impl Authority {
    /// Decides from `memberships` and `revocations` (each verified up to
    /// the network whose key is `network_key`, hex).
    pub fn decide(network_key: &str, memberships: &[Membership], revocations: &[Revocation]) -> Authority {
        let mut a = Authority { network_key: network_key.to_string(), ..Default::default() };
        // the network key's revocations first, then HQ nodes' in time order
        let mut ordered: Vec<&Revocation> = revocations.iter().collect();
        ordered.sort_by_key(|r| (r.payload.issuer != network_key, r.payload.revoked_at.clone(), record_hash(&r.bytes)));
        // revocations found not to count; the decision is remade without
        // them until none more is found (each round excludes at least one)
        let mut excluded: HashSet<String> = HashSet::new();
        loop {
            a.revoked.clear();
            for r in &ordered {
                let Ok(target) = r.payload.node_id.parse::<NodeId>() else { continue };
                if excluded.contains(&record_hash(&r.bytes)) || a.revoked.contains_key(&target) {
                    continue;
                }
                if r.payload.issuer != network_key && !a.issuer_counts(r) {
                    continue;
                }
                a.revoked.insert(target, (*r).clone());
            }
            let void: Vec<String> = a
                .revoked
                .values()
                .filter(|r| r.payload.issuer != network_key && !a.issuer_counts(r))
                .map(|r| record_hash(&r.bytes))
                .collect();
            if void.is_empty() {
                break;
            }
            excluded.extend(void);
        }
        for m in memberships {
            let Ok(node) = m.node_id() else { continue };
            if !a.counts(m) {
                continue;
            }
            let role = m.payload.role;
            let better = match (a.roles.get(&node), a.effective.get(&node)) {
                (Some(Role::Field), _) if role == Role::Hq => false,
                (Some(r), Some(e)) if *r == role => m.payload.issued_at > e.payload.issued_at,
                _ => true,
            };
            if better {
                a.roles.insert(node, role);
                a.effective.insert(node, m.clone());
            }
        }
        a
    }

    /// Whether an HQ node's revocation `r` counts: its issuer did not
    /// revoke itself, its issuer's membership counts, and its issuer is
    /// not revoked (or kept this revocation).
    fn issuer_counts(&self, r: &Revocation) -> bool {
        let Some(issuer) = issuer_node(&r.payload.issuer) else { return false };
        if r.payload.node_id == issuer.to_string() {
            return false;
        }
        let Some(m) = chain(r.payload.issuer_membership.as_deref()) else { return false };
        m.payload.role == Role::Hq && self.counts(&m) && self.kept_by_revoker(&issuer, &r.bytes)
    }

    /// Whether what `issuer` signed (`bytes`) stands: the issuer is not
    /// revoked, or its revocation kept it.
    fn kept_by_revoker(&self, issuer: &NodeId, bytes: &[u8]) -> bool {
        match self.revoked.get(issuer) {
            None => true,
            Some(rev) => rev.payload.kept_issued.contains(&record_hash(bytes)),
        }
    }

    /// Whether membership `m` counts (see the module doc).
    pub fn counts(&self, m: &Membership) -> bool {
        self.counts_at(m, 0)
    }

    fn counts_at(&self, m: &Membership, depth: usize) -> bool {
        if m.payload.issuer == self.network_key {
            return true;
        }
        if depth > 2 {
            return false;
        }
        let (Some(issuer), Some(parent)) =
            (issuer_node(&m.payload.issuer), chain(m.payload.issuer_membership.as_deref()))
        else {
            return false;
        };
        parent.payload.role == Role::Hq && self.counts_at(&parent, depth + 1) && self.kept_by_revoker(&issuer, &m.bytes)
    }

    /// The role of `node`, if one of its memberships counts.
    pub fn role(&self, node: &NodeId) -> Option<Role> {
        self.roles.get(node).copied()
    }

    /// The membership that gives `node` its role.
    pub fn membership(&self, node: &NodeId) -> Option<&Membership> {
        self.effective.get(node)
    }

    /// Every node with a role, and the membership that gives it.
    pub fn members(&self) -> impl Iterator<Item = (&NodeId, &Membership)> {
        self.effective.iter()
    }

    /// The revocation that counts for `node`, if any.
    pub fn revocation(&self, node: &NodeId) -> Option<&Revocation> {
        self.revoked.get(node)
    }

    /// Every revocation that counts, by node.
    pub fn revocations(&self) -> BTreeMap<NodeId, &Revocation> {
        self.revoked.iter().map(|(n, r)| (*n, r)).collect()
    }
}

#[cfg(test)]
mod tests {
    //! The rules, on records made in memory.

    use super::*;
    use crate::identity::SecretKey;
    use crate::network::{NetworkInfo, RevocationPayload};

    struct Net {
        info: NetworkInfo,
        key: SecretKey,
        _dir: tempfile::TempDir,
    }

    fn net() -> Net {
        let dir = tempfile::tempdir().unwrap();
        let (info, key) = crate::network::create_network(dir.path(), "gamlp").unwrap();
        Net { info, key, _dir: dir }
    }

    fn member(n: &Net, by: Option<(&SecretKey, &Membership)>, who: &SecretKey, role: Role, at: &str) -> Membership {
        let (issuer, chain) = match by {
            Some((k, m)) => (k, Some(m)),
            None => (&n.key, None),
        };
        Membership::issue(&n.info, issuer, chain, who.public().node_id(), role, "x", at, None).unwrap()
    }

    fn revoke(
        n: &Net,
        by: Option<(&SecretKey, &Membership)>,
        who: &SecretKey,
        at: &str,
        kept_issued: Vec<String>,
    ) -> Revocation {
        let (issuer, chain) = match by {
            Some((k, m)) => (k, Some(m.to_token().trim_start_matches("ayni1-").to_string())),
            None => (&n.key, None),
        };
        let payload = RevocationPayload {
            network: n.info.clone(),
            node_id: who.public().node_id().to_string(),
            reason: "test".into(),
            revoked_at: at.into(),
            kept: Default::default(),
            kept_issued,
            issuer: data_encoding::HEXLOWER.encode(&issuer.public().to_bytes()),
            issuer_membership: chain,
        };
        Revocation::issue(payload, issuer).unwrap()
    }

    fn key() -> SecretKey {
        SecretKey::generate().unwrap()
    }

    #[test]
    fn a_revoked_hq_node_enrols_no_one_backdated_or_not_but_what_it_enrolled_before_stays_if_kept() {
        let n = net();
        let (hq2, early, late) = (key(), key(), key());
        let m_hq2 = member(&n, None, &hq2, Role::Hq, "2026-01-01T00:00:00Z");
        let m_early = member(&n, Some((&hq2, &m_hq2)), &early, Role::Field, "2026-01-02T00:00:00Z");
        // after its revocation, backdated to before it
        let m_late = member(&n, Some((&hq2, &m_hq2)), &late, Role::Hq, "2026-01-01T12:00:00Z");
        let r = revoke(&n, None, &hq2, "2026-01-03T00:00:00Z", vec![record_hash(&m_early.bytes)]);
        let a = Authority::decide(&n.info.public_key, &[m_hq2.clone(), m_early.clone(), m_late.clone()], &[r]);
        assert_eq!(a.role(&early.public().node_id()), Some(Role::Field), "kept by the revocation");
        assert_eq!(a.role(&late.public().node_id()), None, "not kept: void whatever its date");
        assert!(!a.counts(&m_late));
        assert!(a.revocation(&hq2.public().node_id()).is_some());
        // before the revocation is known, both count
        let before = Authority::decide(&n.info.public_key, &[m_hq2, m_early, m_late.clone()], &[]);
        assert!(before.counts(&m_late));
    }

    #[test]
    fn the_network_key_decides_races_and_a_node_cannot_pre_empt_its_own_revocation() {
        let n = net();
        let (hq1, hq2) = (key(), key());
        let m1 = member(&n, None, &hq1, Role::Hq, "2026-01-01T00:00:00Z");
        let m2 = member(&n, None, &hq2, Role::Hq, "2026-01-01T00:00:00Z");
        let members = [m1.clone(), m2.clone()];
        // HQ-2, compromised, revokes itself keeping everything, and revokes HQ-1 first
        let mut generous = revoke(&n, Some((&hq2, &m2)), &hq2, "2026-01-01T01:00:00Z", vec![]);
        generous.payload.kept.insert("doc".into(), u64::MAX);
        let generous = Revocation::issue(generous.payload, &hq2).unwrap();
        let coup = revoke(&n, Some((&hq2, &m2)), &hq1, "2026-01-01T02:00:00Z", vec![]);
        let a = Authority::decide(&n.info.public_key, &members, &[generous.clone(), coup.clone()]);
        assert!(a.revocation(&hq2.public().node_id()).is_none(), "a self-revocation counts for nothing");
        assert!(a.revocation(&hq1.public().node_id()).is_some(), "an HQ node may revoke another");
        // HQ-1 answers, later: a race between two HQ nodes, the earlier stands
        let answer = revoke(&n, Some((&hq1, &m1)), &hq2, "2026-01-01T03:00:00Z", vec![]);
        let a = Authority::decide(&n.info.public_key, &members, &[coup.clone(), answer.clone()]);
        assert!(a.revocation(&hq1.public().node_id()).is_some());
        assert!(a.revocation(&hq2.public().node_id()).is_none(), "its revoker was revoked first");
        // the founder's network key settles it: HQ-2 revoked, and its coup
        // (not among what the founder kept) voided, in whatever order
        let founder = revoke(&n, None, &hq2, "2026-01-01T04:00:00Z", vec![]);
        for records in [vec![coup.clone(), answer.clone(), founder.clone()], vec![founder.clone(), answer, coup]] {
            let a = Authority::decide(&n.info.public_key, &members, &records);
            assert!(a.revocation(&hq2.public().node_id()).is_some());
            assert!(a.revocation(&hq1.public().node_id()).is_none(), "HQ-2's revocation of HQ-1 is void");
            assert_eq!(a.role(&hq1.public().node_id()), Some(Role::Hq));
        }
    }

    #[test]
    fn a_role_is_the_least_its_memberships_give() {
        let n = net();
        let laptop = key();
        let up = member(&n, None, &laptop, Role::Hq, "2026-01-01T00:00:00Z");
        let down = member(&n, None, &laptop, Role::Field, "2026-02-01T00:00:00Z");
        for order in [vec![up.clone(), down.clone()], vec![down.clone(), up.clone()]] {
            let a = Authority::decide(&n.info.public_key, &order, &[]);
            assert_eq!(a.role(&laptop.public().node_id()), Some(Role::Field));
            assert_eq!(a.membership(&laptop.public().node_id()), Some(&down));
        }
    }
}
