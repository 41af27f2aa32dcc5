//! Node identity: the Ed25519 key pair, the human-checkable node ID, and the
//! automerge actor ID derived from the key.
//!
//! Owns: key generation, the key file format, node-ID encoding. Must never:
//! reveal secret bytes through `Debug`/`Display`, or touch a file or the
//! store (the node reads and writes key files: `ayni_node::key_file`).
//!
//! Key file (`node.key`, mode 0600): `b"AYNK"`, format byte `1`, then the
//! 32-byte Ed25519 seed.

use std::fmt;
use std::str::FromStr;

use data_encoding::BASE32_NOPAD;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const KEY_MAGIC: &[u8; 4] = b"AYNK";
const KEY_FORMAT: u8 = 1;

/// A node's secret signing key. Never printed.
pub struct SecretKey(SigningKey);

/// A node's public key: what others use to verify it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

/// A human-checkable node identifier, as people read it over a radio:
/// the first 20 bytes of SHA-256(public key) in base32, split into four
/// chunks of eight characters, each followed by a Luhn mod-32 check
/// character (Syncthing's device-ID scheme), shown as six groups of six.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId([u8; 20]);

impl SecretKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Result<SecretKey> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| Error::Internal(format!("no randomness available: {e}")))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// A key from fixed bytes: reproducible worlds for tests and fuzzing.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    /// The key file's bytes (`node.key`, `network.key`): written by the
    /// node, mode 0600, never shown.
    pub fn file_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(37);
        bytes.extend_from_slice(KEY_MAGIC);
        bytes.push(KEY_FORMAT);
        bytes.extend_from_slice(&self.0.to_bytes());
        bytes
    }

    /// The key in a key file's bytes ([`SecretKey::file_bytes`]); `name`
    /// names the file in errors.
    pub fn from_file_bytes(bytes: &[u8], name: &str) -> Result<SecretKey> {
        if bytes.len() != 37 || &bytes[..4] != KEY_MAGIC {
            return Err(Error::Damaged { id: name.to_string(), reason: "not an Ayni key file".into() });
        }
        if bytes[4] != KEY_FORMAT {
            return Err(Error::Damaged {
                id: name.to_string(),
                reason: format!("key file format {} is not supported", bytes[4]),
            });
        }
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&bytes[5..]);
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<redacted>, public {})", self.public().node_id())
    }
}

impl PublicKey {
    /// The 32 key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// From 32 key bytes; fails on bytes that are not a curve point.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| Error::malformed("public key", "a public key is 32 bytes"))?;
        VerifyingKey::from_bytes(&arr)
            .map(PublicKey)
            .map_err(|e| Error::malformed("public key", format!("not an Ed25519 public key: {e}")))
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.0.verify(message, &ed25519_dalek::Signature::from_bytes(signature)).is_ok()
    }

    /// The node ID of this key.
    pub fn node_id(&self) -> NodeId {
        let digest = Sha256::digest(self.0.as_bytes());
        let mut id = [0u8; 20];
        id.copy_from_slice(&digest[..20]);
        NodeId(id)
    }

    /// The automerge actor ID of every change this node authors: the public
    /// key bytes themselves, so any replica can tell (and later verify) which
    /// node wrote a change without a lookup table.
    pub fn actor_id(&self) -> automerge::ActorId {
        automerge::ActorId::from(self.0.as_bytes().as_slice())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.node_id())
    }
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn luhn32(chunk: &[u8]) -> u8 {
    let n = 32u32;
    let mut factor = 1u32;
    let mut sum = 0u32;
    for c in chunk {
        let code = ALPHABET.iter().position(|a| a == c).unwrap_or(0) as u32;
        let mut addend = factor * code;
        factor = if factor == 2 { 1 } else { 2 };
        addend = addend / n + addend % n;
        sum += addend;
    }
    ALPHABET[((n - sum % n) % n) as usize]
}

impl NodeId {
    /// The 20 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The node ID of the author of a change, when its actor is a node key.
    pub fn from_actor(actor: &automerge::ActorId) -> Option<NodeId> {
        PublicKey::from_bytes(actor.to_bytes()).ok().map(|k| k.node_id())
    }

    /// The first group only: enough to tell nodes apart in a table.
    pub fn short(&self) -> String {
        self.to_string()[..6].to_string()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b32 = BASE32_NOPAD.encode(&self.0); // 32 characters
        let mut with_checks = Vec::with_capacity(36);
        for chunk in b32.as_bytes().chunks(8) {
            with_checks.extend_from_slice(chunk);
            with_checks.push(luhn32(chunk));
        }
        let groups: Vec<&str> = with_checks.chunks(6).map(|g| std::str::from_utf8(g).unwrap_or("?")).collect();
        f.write_str(&groups.join("-"))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl FromStr for NodeId {
    type Err = Error;

    fn from_str(s: &str) -> Result<NodeId> {
        let clean: Vec<u8> = s.bytes().filter(|b| *b != b'-' && *b != b' ').map(|b| b.to_ascii_uppercase()).collect();
        let bad = |why: &str| Error::malformed("node ID", format!("'{s}' is not a node ID: {why}"));
        if clean.len() != 36 {
            return Err(bad("expected 36 characters in groups"));
        }
        let mut b32 = Vec::with_capacity(32);
        for chunk in clean.chunks(9) {
            let (data, check) = chunk.split_at(8);
            if luhn32(data) != check[0] {
                return Err(bad("check character mismatch (mistyped?)"));
            }
            b32.extend_from_slice(data);
        }
        let bytes = BASE32_NOPAD.decode(&b32).map_err(|_| bad("not base32"))?;
        let arr: [u8; 20] = bytes.try_into().map_err(|_| bad("wrong length"))?;
        Ok(NodeId(arr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_round_trips_and_catches_typos() {
        let key = SecretKey::generate().unwrap();
        let id = key.public().node_id();
        let text = id.to_string();
        assert_eq!(text.len(), 41, "{text}");
        assert_eq!(text.parse::<NodeId>().unwrap(), id);
        assert_eq!(text.to_lowercase().parse::<NodeId>().unwrap(), id);
        let mut chars: Vec<char> = text.chars().collect();
        chars[1] = if chars[1] == 'A' { 'B' } else { 'A' };
        let typo: String = chars.into_iter().collect();
        assert!(typo.parse::<NodeId>().is_err());
    }

    #[test]
    fn secret_is_redacted_and_actor_maps_back() {
        let key = SecretKey::generate().unwrap();
        assert!(format!("{key:?}").contains("redacted"));
        let actor = key.public().actor_id();
        assert_eq!(NodeId::from_actor(&actor), Some(key.public().node_id()));
    }

    #[test]
    fn key_file_bytes_round_trip_and_others_are_refused() {
        let key = SecretKey::generate().unwrap();
        let back = SecretKey::from_file_bytes(&key.file_bytes(), "node.key").unwrap();
        assert_eq!(back.public(), key.public());
        let mut other = key.file_bytes();
        other[4] = 9;
        assert!(SecretKey::from_file_bytes(&other, "node.key").is_err());
        assert!(SecretKey::from_file_bytes(b"AYNK", "node.key").is_err());
    }
}
