//! Proofs of authorship: what makes a change accountable. A member's
//! change carries its author's signature (its actor ID *is* the signing
//! key); a client's change (an automerge-repo app, whose actor ID is
//! random and which holds no key) carries its gateway's attestation.
//!
//! Owns: [`Proof`], the [`Attestation`] format, signing and checking one,
//! and the roles a client acts with ([`ClientRole`]; `clients` issues them).
//! Must never: decide whether the gateway or the client may write (that is
//! admission's, under a policy), or accept an attestation whose signature
//! does not cover every byte it states.
//!
//! # Attestation, format 1
//! The gateway — the node a client synced its change to — judged the
//! change under the client's role and team and vouches for it:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | format (`0xA1`) |
//! | 32 | the change hash |
//! | 32 | the gateway's Ed25519 public key |
//! | 8 | when it attested, Unix seconds (i64 BE) |
//! | 1 | the client's role: 1 = hq, 2 = field |
//! | 1 + n | the client's name (n ≤ 64, UTF-8) |
//! | 1 + n | the client's team (n ≤ 255; empty for none) |
//! | 64 | the gateway's signature of `"ayni attestation 1\0"` and every byte above |
//!
//! Stored beside signatures (`g:` change hash → 64 bytes of signature, or
//! an attestation, which is longer) and sent where signatures go: QUIC
//! protocol version 3 (`Proofs` frames) and bundle format 3.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::identity::{NodeId, PublicKey, SecretKey};

const FORMAT: u8 = 0xA1;
const DOMAIN: &[u8] = b"ayni attestation 1\0";
const SIGNATURE: usize = 64;

/// What a client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientRole {
    /// Everything the node may do.
    Hq,
    /// What a field member may do (tallies only for its team).
    Field,
    /// Reads only.
    Read,
}

impl std::str::FromStr for ClientRole {
    type Err = Error;
    fn from_str(s: &str) -> Result<ClientRole, Error> {
        match s {
            "hq" => Ok(ClientRole::Hq),
            "field" => Ok(ClientRole::Field),
            "read" => Ok(ClientRole::Read),
            other => {
                Err(Error::malformed("client role", format!("unknown client role '{other}' (roles: hq, field, read)")))
            }
        }
    }
}

impl std::fmt::Display for ClientRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientRole::Hq => "hq",
            ClientRole::Field => "field",
            ClientRole::Read => "read",
        })
    }
}

/// A change hash and what vouches for it.
pub type Signed = ([u8; 32], Proof);

/// What vouches for one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// Its author's signature of the change hash.
    Signature([u8; 64]),
    /// A gateway's attestation that a client made it.
    Attested(Box<Attestation>),
}

impl Proof {
    /// The proof as stored and sent: 64 bytes of signature, or an
    /// attestation (never 64 bytes long).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Proof::Signature(s) => s.to_vec(),
            Proof::Attested(a) => a.bytes.clone(),
        }
    }

    /// Reads a proof back ([`Proof::to_bytes`]). Parsing an attestation
    /// does not verify it: admission does.
    pub fn from_bytes(bytes: &[u8]) -> Result<Proof, String> {
        match <[u8; 64]>::try_from(bytes) {
            Ok(sig) => Ok(Proof::Signature(sig)),
            Err(_) => Ok(Proof::Attested(Box::new(Attestation::parse(bytes)?))),
        }
    }

    /// The signature, if this is one.
    pub fn signature(&self) -> Option<&[u8; 64]> {
        match self {
            Proof::Signature(s) => Some(s),
            Proof::Attested(_) => None,
        }
    }
}

/// A gateway's statement that a client made a change (see the module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// The change hash.
    pub change: [u8; 32],
    /// The gateway.
    pub gateway: NodeId,
    /// When it attested (Unix seconds, the gateway's clock).
    pub at: i64,
    /// The client's name on its gateway.
    pub client: String,
    /// The client's role.
    pub role: ClientRole,
    /// The team whose tallies a `field` client writes.
    pub team: Option<String>,
    gateway_key: [u8; 32],
    bytes: Vec<u8>,
}

impl Attestation {
    /// `gateway` attests that client `client` (with `role` and `team`)
    /// made the change `change`, at `at`.
    pub fn sign(
        gateway: &SecretKey,
        change: [u8; 32],
        client: &str,
        role: ClientRole,
        team: Option<&str>,
        at: i64,
    ) -> Result<Attestation, String> {
        let role_byte = match role {
            ClientRole::Hq => 1,
            ClientRole::Field => 2,
            ClientRole::Read => return Err(format!("client '{client}' may only read: nothing of it is attested")),
        };
        let team = team.unwrap_or("");
        if client.is_empty() || client.len() > 64 || team.len() > 255 {
            return Err(format!("client '{client}' or its team '{team}' is too long to attest"));
        }
        let mut bytes = vec![FORMAT];
        bytes.extend_from_slice(&change);
        bytes.extend_from_slice(&gateway.public().to_bytes());
        bytes.extend_from_slice(&at.to_be_bytes());
        bytes.push(role_byte);
        for s in [client, team] {
            bytes.push(s.len() as u8);
            bytes.extend_from_slice(s.as_bytes());
        }
        let mut signed = DOMAIN.to_vec();
        signed.extend_from_slice(&bytes);
        bytes.extend_from_slice(&gateway.sign(&signed));
        Attestation::parse(&bytes)
    }

    /// Reads an attestation (format 1), without verifying it.
    pub fn parse(bytes: &[u8]) -> Result<Attestation, String> {
        let bad = |what: &str| format!("a malformed attestation: {what}");
        let mut r = bytes;
        let mut take = |n: usize, what: &str| -> Result<&[u8], String> {
            if r.len() < n {
                return Err(bad(what));
            }
            let (head, tail) = r.split_at(n);
            r = tail;
            Ok(head)
        };
        if take(1, "format")? != [FORMAT] {
            return Err(bad("unknown format"));
        }
        let change: [u8; 32] = take(32, "change hash")?.try_into().map_err(|_| bad("change hash"))?;
        let gateway_key: [u8; 32] = take(32, "gateway key")?.try_into().map_err(|_| bad("gateway key"))?;
        let at = i64::from_be_bytes(take(8, "time")?.try_into().map_err(|_| bad("time"))?);
        let role = match take(1, "role")?[0] {
            1 => ClientRole::Hq,
            2 => ClientRole::Field,
            _ => return Err(bad("unknown client role")),
        };
        let mut text = |what: &str| -> Result<String, String> {
            let n = take(1, what)?[0] as usize;
            String::from_utf8(take(n, what)?.to_vec()).map_err(|_| bad(what))
        };
        let client = text("client name")?;
        let team = Some(text("team")?).filter(|t| !t.is_empty());
        take(SIGNATURE, "signature")?;
        if !r.is_empty() || client.is_empty() || client.len() > 64 {
            return Err(bad("trailing bytes or no client name"));
        }
        let gateway = PublicKey::from_bytes(&gateway_key).map_err(|_| bad("gateway key"))?.node_id();
        Ok(Attestation { change, gateway, at, client, role, team, gateway_key, bytes: bytes.to_vec() })
    }

    /// Checks that the gateway signed every byte, for the change `hash`;
    /// `Err` says why not.
    pub fn verify(&self, hash: &[u8; 32]) -> Result<(), String> {
        use ed25519_dalek::{Signature, Verifier, VerifyingKey};
        if &self.change != hash {
            return Err("its attestation is for another change".into());
        }
        let (stated, sig) = self.bytes.split_at(self.bytes.len() - SIGNATURE);
        let sig: [u8; 64] = sig.try_into().map_err(|_| "a malformed attestation".to_string())?;
        let key =
            VerifyingKey::from_bytes(&self.gateway_key).map_err(|_| "its gateway key is not a key".to_string())?;
        let mut signed = DOMAIN.to_vec();
        signed.extend_from_slice(stated);
        key.verify(&signed, &Signature::from_bytes(&sig))
            .map_err(|_| format!("its attestation by {} does not verify (altered, or not the gateway's)", self.gateway))
    }

    /// Who made the change, for people: `client NAME via NODE`.
    pub fn label(&self) -> String {
        label(&self.client, &self.gateway)
    }
}

/// The client name a node vouches for its own form imports under
/// (`import:odk`, `import:kobo`): what their records' `created_by` says,
/// alike on every node that imports one submission. No client token's name
/// has a `:`.
pub const IMPORT_PREFIX: &str = "import:";

/// How a client's changes are attributed: `client NAME via NODE` (what a
/// record the client creates carries as `created_by`).
pub fn label(client: &str, gateway: &NodeId) -> String {
    format!("client {client} via {gateway}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attestation_round_trips_verifies_and_any_altered_byte_breaks_it() {
        let key = SecretKey::generate().unwrap();
        let a = Attestation::sign(&key, [7; 32], "tablet-3", ClientRole::Field, Some("gaem-1"), 1_780_000_000).unwrap();
        assert_eq!(a.gateway, key.public().node_id());
        let proof = Proof::Attested(Box::new(a.clone()));
        let bytes = proof.to_bytes();
        assert_ne!(bytes.len(), 64);
        assert_eq!(Proof::from_bytes(&bytes).unwrap(), proof);
        a.verify(&[7; 32]).unwrap();
        assert!(a.verify(&[8; 32]).unwrap_err().contains("another change"));
        for i in 1..bytes.len() {
            let mut altered = bytes.clone();
            altered[i] ^= 1;
            let ok = Attestation::parse(&altered).map(|b| b.verify(&b.change.clone()).is_ok());
            assert!(!matches!(ok, Ok(true)) || altered == bytes, "byte {i} altered still verifies");
        }
        assert!(Attestation::parse(&bytes[..bytes.len() - 1]).is_err());
        assert!(Attestation::sign(&key, [7; 32], "r", ClientRole::Read, None, 0).is_err());
        assert_eq!(Proof::from_bytes(&[3; 64]).unwrap(), Proof::Signature([3; 64]));
        let none = Attestation::sign(&key, [1; 32], "hq-panel", ClientRole::Hq, None, 5).unwrap();
        assert_eq!(none.team, None);
        assert_eq!(none.label(), format!("client hq-panel via {}", key.public().node_id()));
    }
}
