//! The bottom layer of Ayni: what every other crate names and none of
//! them may redefine — the typed [`error::Error`] every operation answers
//! with, [`id::DocumentId`] and automerge URLs, and the records'
//! [`lifecycle`]s.
//!
//! Owns: these types and their text forms. Must never: do I/O, read a
//! clock, or depend on another Ayni crate (everything depends on it; the
//! compiler keeps it that way).

pub mod error;
pub mod id;
pub mod lifecycle;
