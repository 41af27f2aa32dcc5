//! The one error type of the node library.
//!
//! Owns: every way a node operation can fail, with the context a person needs
//! (record, field, reason). Must never: print, exit, or hide the cause in a
//! string when a caller could need to match on it.

use std::path::PathBuf;

/// Result alias for the node library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a node operation.
///
/// [`Error::is_invalid_input`] separates mistakes of the caller (bad usage,
/// invalid data, unknown records: the CLI exits 2) from runtime failures
/// (storage, damaged documents: exit 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field value breaks its kind's schema.
    #[error("{kind} {path}: {reason}")]
    Invalid {
        /// Record kind, e.g. `edan`.
        kind: String,
        /// Dotted path of the field, e.g. `tallies.z2.gaem-2.dead`.
        path: String,
        /// What is wrong, e.g. `-1 is less than the minimum of 0`.
        reason: String,
    },
    /// The kind is not one of the record kinds in `schemas/`.
    #[error("unknown kind '{kind}' (known kinds: {})", known.join(", "))]
    UnknownKind {
        /// The kind asked for.
        kind: String,
        /// The kinds there are.
        known: &'static [&'static str],
    },
    /// No record matches the reference.
    #[error("unknown record '{0}'")]
    NotFound(String),
    /// A `KIND:KEY` reference matches several records (created offline twice).
    #[error("'{reference}' matches several records: {}", ids.join(", "))]
    Ambiguous {
        /// The reference as given.
        reference: String,
        /// The matching document IDs.
        ids: Vec<String>,
    },
    /// The record was deleted; it can be read but not edited.
    #[error("{kind} {key} ({id}) is deleted")]
    Deleted {
        /// Record kind.
        kind: String,
        /// Record key.
        key: String,
        /// Document ID.
        id: String,
    },
    /// A lifecycle transition that the kind's lifecycle does not allow.
    #[error("{kind} {key}: cannot go from '{from}' to '{to}' ({why})")]
    Transition {
        /// Record kind.
        kind: String,
        /// Record key.
        key: String,
        /// Current state.
        from: String,
        /// Requested state.
        to: String,
        /// Why it is refused, e.g. the allowed next states.
        why: String,
    },
    /// This node's role does not allow the change.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// Text given by the caller that cannot be what it should be — a
    /// field path, a document or node ID, a name, a role, a duration, a
    /// token (exit 2, HTTP 400).
    #[error("{message}")]
    Malformed {
        /// What the text should have been, e.g. `field path`, `node ID`.
        what: &'static str,
        /// What is wrong, naming the text.
        message: String,
    },
    /// The node's state does not allow the request: it belongs to no
    /// network, the name is taken, the amendment was already decided…
    /// (exit 2, HTTP 409).
    #[error("{0}")]
    Precondition(String),
    /// Something made elsewhere — a membership, a revocation, a bundle,
    /// another replica's document — that this node checked and refuses
    /// (exit 2, HTTP 422).
    #[error("{what} refused: {reason}")]
    Refused {
        /// What was refused, e.g. `bundle`, `membership`, `document ID`.
        what: String,
        /// Why.
        reason: String,
    },
    /// A file or body over its size limit (exit 2, HTTP 413).
    #[error("{what} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Content of a media type the node does not take (exit 2, HTTP 415).
    #[error("{what} is {found}, which this node does not take (it takes {})", allowed.join(", "))]
    MediaType {
        /// What was refused.
        what: String,
        /// The media type sniffed from its bytes.
        found: String,
        /// The media types taken.
        allowed: Vec<String>,
    },
    /// A failure of this node or of the machine, not of the input (no
    /// randomness, a worker that died, data the node itself could not
    /// encode): exit 1, HTTP 500.
    #[error("{0}")]
    Internal(String),
    /// An import where some lines were bad; nothing was written.
    #[error("import refused, nothing written: {} bad record(s)\n{}", .0.len(), .0.iter().map(|(at, e)| format!("  {at}: {e}")).collect::<Vec<_>>().join("\n"))]
    Import(Vec<(String, String)>),
    /// `ayni init` on a home that already holds a node.
    #[error("a node already exists in {0} (refusing to overwrite it)")]
    NodeExists(PathBuf),
    /// A command that needs a node, on a home without one.
    #[error("no node in {0}: run `ayni init --name NAME` first")]
    NoNode(PathBuf),
    /// A stored document could not be loaded (bad bytes, broken hash chain).
    #[error("document {id} is damaged: {reason}")]
    Damaged {
        /// Document ID.
        id: String,
        /// What failed.
        reason: String,
    },
    /// The store was written by a newer or unknown format version.
    #[error("store format {found} in {path} is not supported (this build reads format {supported})")]
    Format {
        /// Store directory.
        path: PathBuf,
        /// Version found on disk.
        found: String,
        /// Version this build reads.
        supported: u32,
    },
    /// Another process holds the store (e.g. `ayni serve` on this home).
    #[error("the store in {0} is in use by another ayni process (is `ayni serve` running on this home?)")]
    Busy(PathBuf),
    /// The store's files are damaged so that it cannot be opened.
    #[error("the store in {path} cannot be opened ({source}); run `ayni check --repair`: it rebuilds what can be rebuilt and says what to do otherwise (the files it replaces are kept)")]
    StoreDamaged {
        /// Store directory.
        path: PathBuf,
        /// What the storage engine (redb, or sled for a store not moved
        /// yet) reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `ayni check --repair` could not bring the store back.
    #[error("the store in {path} cannot be repaired: {reason}")]
    Unrepairable {
        /// Store directory.
        path: PathBuf,
        /// Why, and what to do instead.
        reason: String,
    },
    /// The embedded storage engine failed.
    #[error("storage error in {path}: {source}")]
    Storage {
        /// Store directory.
        path: PathBuf,
        /// The storage engine's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The node's engine stopped (its thread is gone, or a write could not
    /// be made durable) before the operation's answer came: nothing is
    /// reported done that is not durable.
    #[error("the node's engine {0}")]
    Stopped(&'static str),
    /// automerge refused an operation (a bug or a damaged document).
    #[error("document {id}: {source}")]
    Automerge {
        /// Document ID.
        id: String,
        /// Underlying error.
        #[source]
        source: automerge::AutomergeError,
    },
}

impl Error {
    /// True for mistakes in the caller's input (exit code 2 in the CLI);
    /// false for runtime failures (exit code 1).
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Error::Invalid { .. }
                | Error::UnknownKind { .. }
                | Error::NotFound(_)
                | Error::Ambiguous { .. }
                | Error::Deleted { .. }
                | Error::Transition { .. }
                | Error::Forbidden(_)
                | Error::Malformed { .. }
                | Error::Precondition(_)
                | Error::Refused { .. }
                | Error::TooLarge { .. }
                | Error::MediaType { .. }
                | Error::Import(_)
                | Error::NodeExists(_)
                | Error::NoNode(_)
        )
    }

    /// A file could not be read or written.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), source }
    }

    /// Input that is not what it says it is.
    pub fn malformed(what: &'static str, message: impl Into<String>) -> Error {
        Error::Malformed { what, message: message.into() }
    }

    /// Something refused, and why.
    pub fn refused(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Refused { what: what.into(), reason: reason.into() }
    }

    /// A record field against its kind's schema (`path` empty for the record).
    pub fn invalid(kind: &str, path: &str, reason: impl Into<String>) -> Error {
        Error::Invalid {
            kind: kind.to_string(),
            path: if path.is_empty() { "(record)".into() } else { path.to_string() },
            reason: reason.into(),
        }
    }
}
