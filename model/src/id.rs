//! Identifiers: document IDs compatible with automerge-repo, and item IDs.
//!
//! Owns: the textual forms of IDs. Must never: depend on the store or on time
//! for anything but item-ID ordering.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The ID of one record's automerge document.
///
/// Same form as automerge-repo's `DocumentId` (the part after `automerge:`
/// in a URL): bs58check of 16 random bytes, so JavaScript and Swift
/// automerge-repo clients can later open the same documents.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocumentId([u8; 16]);

impl DocumentId {
    /// A new random ID.
    pub fn random() -> Result<DocumentId> {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes).map_err(|e| Error::Internal(format!("no randomness available: {e}")))?;
        Ok(DocumentId(bytes))
    }

    /// The 16 raw bytes (the store's key form).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// From the 16 raw bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> DocumentId {
        DocumentId(bytes)
    }

    /// The `automerge:` URL that automerge-repo clients understand.
    pub fn url(&self) -> String {
        format!("automerge:{self}")
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(&self.0).with_check().into_string())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

/// The automerge URL of a document (given as its ID): `automerge:` + ID,
/// by which automerge-repo clients open it.
pub fn automerge_url(id: impl fmt::Display) -> String {
    format!("automerge:{id}")
}

impl FromStr for DocumentId {
    type Err = Error;

    fn from_str(s: &str) -> Result<DocumentId> {
        let s = s.strip_prefix("automerge:").unwrap_or(s);
        let bytes = bs58::decode(s)
            .with_check(None)
            .into_vec()
            .map_err(|e| Error::malformed("document ID", format!("'{s}' is not a document ID: {e}")))?;
        let arr: [u8; 16] = bytes
            .try_into()
            .map_err(|_| Error::malformed("document ID", format!("'{s}' is not a document ID: wrong length")))?;
        Ok(DocumentId(arr))
    }
}

/// A new ID for an item of a set-like collection (a need, a log entry…):
/// a ULID, so items sort by creation time and never collide across replicas.
pub fn new_item_id() -> String {
    ulid::Ulid::new().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_corruption() {
        let id = DocumentId::random().unwrap();
        let text = id.to_string();
        assert_eq!(text.parse::<DocumentId>().unwrap(), id);
        assert_eq!(id.url().parse::<DocumentId>().unwrap(), id);
        // flip one character: the bs58check checksum must catch it
        let mut chars: Vec<char> = text.chars().collect();
        chars[3] = if chars[3] == '2' { '3' } else { '2' };
        let bad: String = chars.into_iter().collect();
        assert!(bad.parse::<DocumentId>().is_err());
    }

    #[test]
    fn matches_automerge_repo_form() {
        // automerge-repo encodes 16 bytes with bs58check: 16 + 4 checksum bytes
        let id = DocumentId::from_bytes([0u8; 16]);
        let decoded = bs58::decode(id.to_string()).into_vec().unwrap();
        assert_eq!(decoded.len(), 20);
    }
}
