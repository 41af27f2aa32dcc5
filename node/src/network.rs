//! Networks and membership: the network's signing key, enrolment tokens,
//! and the checks every node makes before it lets a peer in.
//!
//! Owns: the membership token format and its verification. Must never: do
//! I/O beyond the node's home files, or accept a membership it has not
//! verified up to the network key.
//!
//! # Token format, version 1
//! A membership is `version u8 (1) | payload length u32 BE | payload (JSON)
//! | Ed25519 signature (64) over the payload`. The payload names the
//! network (ID, name, public key), the member's node ID, its role and
//! label, when it was issued, an address hint for reaching HQ, the issuer's
//! public key, and — when the issuer is an HQ node rather than the network
//! key itself — the issuer's own membership (also a token), so any node can
//! check the chain up to the network key. Printed for people as
//! `ayni1-` + base64url (no padding).

use std::path::Path;

use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::identity::{NodeId, PublicKey, SecretKey};

const TOKEN_FORMAT: u8 = 1;
const TOKEN_PREFIX: &str = "ayni1-";

/// What a member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Headquarters: everything, including enrolling others.
    Hq,
    /// A field laptop.
    Field,
}

impl std::str::FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Role> {
        match s {
            "hq" => Ok(Role::Hq),
            "field" => Ok(Role::Field),
            other => Err(Error::malformed("role", format!("unknown role '{other}' (roles: hq, field)"))),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Hq => "hq",
            Role::Field => "field",
        })
    }
}

/// A network: who it is, for people and for signature checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// Short ID: first 8 bytes of SHA-256(public key), hex.
    pub id: String,
    /// Name given at creation.
    pub name: String,
    /// The network's Ed25519 public key (hex).
    pub public_key: String,
}

impl NetworkInfo {
    fn new(name: &str, pk: &PublicKey) -> NetworkInfo {
        let digest = Sha256::digest(pk.to_bytes());
        NetworkInfo { id: hex(&digest[..8]), name: name.to_string(), public_key: hex(&pk.to_bytes()) }
    }

    fn key(&self) -> Result<VerifyingKey> {
        let bytes = unhex(&self.public_key).ok_or_else(|| Error::malformed("network key", "network key is not hex"))?;
        let arr: [u8; 32] =
            bytes.try_into().map_err(|_| Error::malformed("network key", "network key is not 32 bytes"))?;
        VerifyingKey::from_bytes(&arr).map_err(|e| Error::malformed("network key", format!("bad network key: {e}")))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// The signed content of a membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// The network.
    pub network: NetworkInfo,
    /// The member.
    pub node_id: String,
    /// Its role.
    pub role: Role,
    /// A name people recognise.
    pub label: String,
    /// When it was issued (RFC 3339).
    pub issued_at: String,
    /// Where HQ can be reached (`host:port`), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr_hint: Option<String>,
    /// Public key of the signer (the network key, or an HQ node's key), hex.
    pub issuer: String,
    /// The issuer's own membership token bytes (base64url) when the issuer
    /// is an HQ node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_membership: Option<String>,
}

/// A verified membership: its payload and the exact token bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// What it says.
    pub payload: Payload,
    /// The token bytes (what travels and is stored).
    pub bytes: Vec<u8>,
}

/// What a signed network record (membership or revocation) says about who
/// signed it: the parts [`verify_signed`] checks.
trait Signed: serde::de::DeserializeOwned + Serialize {
    /// Format byte of this kind of record.
    const FORMAT: u8;
    /// What a refusal is called ("membership refused", "revocation refused").
    const NAME: &'static str;
    fn network(&self) -> &NetworkInfo;
    fn issuer(&self) -> &str;
    fn issuer_membership(&self) -> Option<&str>;
}

/// Both kinds of signed record name their network and issuer the same way.
macro_rules! signed_record {
    ($payload:ty, $format:expr, $name:literal) => {
        impl Signed for $payload {
            const FORMAT: u8 = $format;
            const NAME: &'static str = $name;
            fn network(&self) -> &NetworkInfo {
                &self.network
            }
            fn issuer(&self) -> &str {
                &self.issuer
            }
            fn issuer_membership(&self) -> Option<&str> {
                self.issuer_membership.as_deref()
            }
        }
    };
}
signed_record!(Payload, TOKEN_FORMAT, "membership");
signed_record!(RevocationPayload, REVOCATION_FORMAT, "revocation");

/// `format u8 | payload length u32 BE | payload JSON | Ed25519 signature`.
fn sign_payload<P: Signed>(payload: &P, key: &SecretKey) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(payload).map_err(|e| Error::Internal(e.to_string()))?;
    let mut out = Vec::with_capacity(json.len() + 69);
    out.push(P::FORMAT);
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&key.sign(&json));
    Ok(out)
}

/// Why a signed network record is not accepted.
fn refused_as(name: &str, why: impl Into<String>) -> Error {
    Error::refused(name, why)
}

/// Why a membership is not accepted.
fn refused(why: impl Into<String>) -> Error {
    refused_as("membership", why)
}

/// The one verification of a signed network record, membership or
/// revocation alike: the framing, the signature against the issuer key it
/// names, the network ID against the network key, and the issuer being
/// either the network key or an HQ member of the same network (its own
/// membership, carried inside, verified the same way, at most two links).
fn verify_signed<P: Signed>(bytes: &[u8], depth: usize) -> Result<P> {
    let refused = |why: &str| refused_as(P::NAME, why);
    if depth > 2 {
        return Err(refused("issuer chain too long"));
    }
    let (&format, rest) = bytes.split_first().ok_or_else(|| refused("empty"))?;
    if format != P::FORMAT {
        return Err(refused(&format!("format {format} is not supported")));
    }
    if rest.len() < 4 + 64 {
        return Err(refused("truncated"));
    }
    let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    if rest.len() != 4 + len + 64 {
        return Err(refused("length does not match"));
    }
    let json = &rest[4..4 + len];
    let sig = Signature::from_slice(&rest[4 + len..]).map_err(|_| refused("bad signature bytes"))?;
    let payload: P = serde_json::from_slice(json).map_err(|e| refused(&format!("bad payload: {e}")))?;
    let issuer_bytes = unhex(payload.issuer()).ok_or_else(|| refused("issuer key is not hex"))?;
    let issuer = PublicKey::from_bytes(&issuer_bytes).map_err(|_| refused("issuer key is not an Ed25519 key"))?;
    let issuer_vk = VerifyingKey::from_bytes(&issuer.to_bytes()).map_err(|_| refused("issuer key"))?;
    issuer_vk.verify(json, &sig).map_err(|_| refused("signature does not verify"))?;
    let network = payload.network();
    let network_key = network.key()?;
    if network.id != NetworkInfo::new(&network.name, &PublicKey::from_bytes(network_key.as_bytes())?).id {
        return Err(refused("network ID does not match its key"));
    }
    if issuer_vk != network_key {
        // signed by a node: that node must be an HQ member of the same network
        let chain = payload
            .issuer_membership()
            .ok_or_else(|| refused("issuer is neither the network key nor an enrolled HQ node"))?;
        let chain_bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(chain)
            .map_err(|_| refused("issuer membership is not base64url"))?;
        let parent: Payload = verify_signed(&chain_bytes, depth + 1)?;
        if parent.role != Role::Hq {
            return Err(refused("issuer is not an HQ node"));
        }
        if parent.network != *network {
            return Err(refused("issuer belongs to another network"));
        }
        if parent.node_id != issuer.node_id().to_string() {
            return Err(refused("issuer membership is for another node"));
        }
    }
    Ok(payload)
}

impl Membership {
    /// Issues a membership for `node_id`, signed by `issuer` (the network key,
    /// or an HQ node's key together with that node's own membership).
    pub fn issue(
        network: &NetworkInfo,
        issuer: &SecretKey,
        issuer_membership: Option<&Membership>,
        node_id: NodeId,
        role: Role,
        label: &str,
        issued_at: &str,
        addr_hint: Option<String>,
    ) -> Result<Membership> {
        let payload = Payload {
            network: network.clone(),
            node_id: node_id.to_string(),
            role,
            label: label.to_string(),
            issued_at: issued_at.to_string(),
            addr_hint,
            issuer: hex(&issuer.public().to_bytes()),
            issuer_membership: issuer_membership
                .map(|m| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&m.bytes)),
        };
        let bytes = sign_payload(&payload, issuer)?;
        Ok(Membership { payload, bytes })
    }

    /// Parses and verifies token bytes: the signature, and the chain up to
    /// the network key the token names. Whether that network is *ours* is
    /// for the caller to check ([`Membership::verify_for`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Membership> {
        Self::parse(bytes, 0)
    }

    fn parse(bytes: &[u8], depth: usize) -> Result<Membership> {
        let payload: Payload = verify_signed(bytes, depth)?;
        payload.node_id.parse::<NodeId>().map_err(|_| refused("node ID is malformed"))?;
        Ok(Membership { payload, bytes: bytes.to_vec() })
    }

    /// Verifies that this membership is of `network` and belongs to `node`.
    pub fn verify_for(&self, network: &NetworkInfo, node: NodeId) -> Result<()> {
        if self.payload.network != *network {
            return Err(refused(format!(
                "it is for network '{}' ({}), not '{}' ({})",
                self.payload.network.name, self.payload.network.id, network.name, network.id
            )));
        }
        if self.payload.node_id != node.to_string() {
            return Err(refused(format!("it names node {}, not {node}", self.payload.node_id)));
        }
        Ok(())
    }

    /// The member's node ID.
    pub fn node_id(&self) -> Result<NodeId> {
        self.payload.node_id.parse()
    }

    /// The token as people paste it.
    pub fn to_token(&self) -> String {
        format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.bytes))
    }

    /// Parses and verifies a pasted token.
    pub fn from_token(token: &str) -> Result<Membership> {
        let body = token.trim().strip_prefix(TOKEN_PREFIX).ok_or_else(|| {
            Error::malformed("enrolment token", format!("not an enrolment token (it should start with {TOKEN_PREFIX})"))
        })?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).map_err(|_| {
            Error::malformed("enrolment token", "the enrolment token is damaged (not base64url): was it copied whole?")
        })?;
        Membership::from_bytes(&bytes)
    }
}

/// The network this node belongs to, as stored in `network.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NetworkFile {
    format: u32,
    network: NetworkInfo,
}

/// Reads the node's network, if it founded or joined one.
pub fn read_network(home: &Path) -> Result<Option<NetworkInfo>> {
    let path = home.join("network.json");
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let file: NetworkFile = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Damaged { id: path.display().to_string(), reason: e.to_string() })?;
    Ok(Some(file.network))
}

/// Writes `network.json` (refusing to replace a different network).
pub fn write_network(home: &Path, network: &NetworkInfo) -> Result<()> {
    if let Some(existing) = read_network(home)? {
        if existing != *network {
            return Err(Error::Precondition(format!(
                "this node already belongs to network '{}' ({})",
                existing.name, existing.id
            )));
        }
        return Ok(());
    }
    let path = home.join("network.json");
    let bytes = serde_json::to_vec_pretty(&NetworkFile { format: 1, network: network.clone() })
        .map_err(|e| Error::Internal(e.to_string()))?;
    crate::atomic_file::replace(&path, &bytes, crate::atomic_file::Access::Shared).map_err(|e| Error::io(&path, e))
}

/// Creates a network key and its description.
pub fn create_network(home: &Path, name: &str) -> Result<(NetworkInfo, SecretKey)> {
    if name.trim().is_empty() {
        return Err(Error::malformed("network name", "the network name must not be empty"));
    }
    if let Some(n) = read_network(home)? {
        return Err(Error::Precondition(format!("this node already belongs to network '{}' ({})", n.name, n.id)));
    }
    let key = SecretKey::generate()?;
    let info = NetworkInfo::new(name, &key.public());
    crate::key_file::write_new(&key, &home.join("network.key"))?;
    write_network(home, &info)?;
    Ok((info, key))
}

/// The network's secret key, on the node that founded it.
pub fn network_key(home: &Path) -> Result<Option<SecretKey>> {
    let path = home.join("network.key");
    if path.exists() {
        crate::key_file::read(&path).map(Some)
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(name: &str) -> (NetworkInfo, SecretKey) {
        let key = SecretKey::generate().unwrap();
        (NetworkInfo::new(name, &key.public()), key)
    }

    #[test]
    fn tokens_verify_through_an_hq_chain_and_reject_tampering() {
        let (network, nkey) = net("gamlp");
        let hq = SecretKey::generate().unwrap();
        let hq_m = Membership::issue(
            &network,
            &nkey,
            None,
            hq.public().node_id(),
            Role::Hq,
            "hq",
            "t",
            Some("10.0.0.1:7420".into()),
        )
        .unwrap();
        let laptop = SecretKey::generate().unwrap().public().node_id();
        let m = Membership::issue(&network, &hq, Some(&hq_m), laptop, Role::Field, "gaem-1", "t", None).unwrap();
        let back = Membership::from_token(&m.to_token()).unwrap();
        assert_eq!(back, m);
        back.verify_for(&network, laptop).unwrap();
        assert!(back.verify_for(&network, hq.public().node_id()).is_err());
        // a flipped byte anywhere breaks it
        for i in [0, 3, 10, m.bytes.len() / 2, m.bytes.len() - 1] {
            let mut bad = m.bytes.clone();
            bad[i] ^= 1;
            assert!(Membership::from_bytes(&bad).is_err(), "byte {i}");
        }
        // a field node cannot enrol others
        let field_key = SecretKey::generate().unwrap();
        let field_m =
            Membership::issue(&network, &nkey, None, field_key.public().node_id(), Role::Field, "f", "t", None)
                .unwrap();
        let sneaky = Membership::issue(&network, &field_key, Some(&field_m), laptop, Role::Hq, "x", "t", None).unwrap();
        assert!(Membership::from_bytes(&sneaky.bytes).unwrap_err().to_string().contains("not an HQ node"));
        // another network's membership is refused for ours
        let (other, okey) = net("other");
        let foreign = Membership::issue(&other, &okey, None, laptop, Role::Hq, "x", "t", None).unwrap();
        assert!(Membership::from_bytes(&foreign.bytes).unwrap().verify_for(&network, laptop).is_err());
        // a self-made "network" that reuses our name and ID but another key
        let mut fake = network.clone();
        fake.public_key = other.public_key.clone();
        let forged = Membership::issue(&fake, &okey, None, laptop, Role::Hq, "x", "t", None);
        assert!(forged.is_err() || Membership::from_bytes(&forged.unwrap().bytes).is_err());
    }
}

/// Memberships and revocations already verified, by their exact bytes: a
/// node reads them from its store for every incoming change, and an
/// Ed25519 verification each time would cost more than the change itself.
/// Keyed by the bytes, so it never answers for bytes it did not verify.
#[derive(Default)]
pub(crate) struct Verified {
    memberships: std::sync::Mutex<std::collections::HashMap<Vec<u8>, Membership>>,
    revocations: std::sync::Mutex<std::collections::HashMap<Vec<u8>, Revocation>>,
}

impl Verified {
    /// [`Membership::from_bytes`], remembered.
    pub(crate) fn membership(&self, bytes: &[u8]) -> Result<Membership> {
        remembered(&self.memberships, bytes, Membership::from_bytes)
    }

    /// [`Revocation::from_bytes`], remembered.
    pub(crate) fn revocation(&self, bytes: &[u8]) -> Result<Revocation> {
        remembered(&self.revocations, bytes, Revocation::from_bytes)
    }
}

fn remembered<T: Clone>(
    cache: &std::sync::Mutex<std::collections::HashMap<Vec<u8>, T>>,
    bytes: &[u8],
    verify: fn(&[u8]) -> Result<T>,
) -> Result<T> {
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = cache.get(bytes) {
        return Ok(v.clone());
    }
    let v = verify(bytes)?;
    cache.insert(bytes.to_vec(), v.clone());
    Ok(v)
}

const REVOCATION_FORMAT: u8 = 0x11;

/// What a revocation says: a node is cut off; changes it made before are
/// kept (up to `kept[doc]`, the highest sequence number HQ had of that
/// node's changes per document), anything it signs later is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationPayload {
    /// The network.
    pub network: NetworkInfo,
    /// The revoked node.
    pub node_id: String,
    /// Why (e.g. "laptop lost in a ravine").
    pub reason: String,
    /// When (RFC 3339).
    pub revoked_at: String,
    /// Per document ID: the highest change sequence number of that node HQ had.
    pub kept: std::collections::BTreeMap<String, u64>,
    /// When the revoked node is an HQ node: the memberships and revocations
    /// it signed that still count (hex SHA-256 of each record's bytes);
    /// everything else it signed, before or after, counts for nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_issued: Vec<String>,
    /// Public key of the signer (network key or an HQ node's key), hex.
    pub issuer: String,
    /// The issuer's membership token (base64url) when an HQ node signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_membership: Option<String>,
}

/// A verified revocation and its exact bytes (what travels and is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// What it says.
    pub payload: RevocationPayload,
    /// The signed bytes.
    pub bytes: Vec<u8>,
}

impl Revocation {
    /// Issues a revocation signed by `issuer` (an HQ node with its membership,
    /// or the network key).
    pub fn issue(payload: RevocationPayload, issuer: &SecretKey) -> Result<Revocation> {
        let bytes = sign_payload(&payload, issuer)?;
        Ok(Revocation { payload, bytes })
    }

    /// Whether these bytes are a revocation (rather than a membership).
    pub fn is_revocation(bytes: &[u8]) -> bool {
        bytes.first() == Some(&REVOCATION_FORMAT)
    }

    /// Parses and verifies: the signature, and that the signer is the
    /// network key or an HQ member of the same network.
    pub fn from_bytes(bytes: &[u8]) -> Result<Revocation> {
        let payload: RevocationPayload = verify_signed(bytes, 0)?;
        payload.node_id.parse::<NodeId>().map_err(|_| refused_as("revocation", "node ID is malformed"))?;
        Ok(Revocation { payload, bytes: bytes.to_vec() })
    }
}
