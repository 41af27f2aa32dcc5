//! The bottom layer of Ayni: the records and their rules, which every
//! other crate names and none may redefine — the typed [`error::Error`]
//! every operation answers with, [`id::DocumentId`] and automerge URLs,
//! the [`schema`]s (the only field rules), [`lifecycle`]s, the
//! [`record`] layout (one automerge document per record), what a change
//! does ([`effect`]) and who may make it ([`permits`]).
//!
//! Owns: these types and pure functions of them. Must never: do I/O
//! beyond reading its own embedded files, read a clock (time is passed
//! in), or depend on another Ayni crate (everything depends on it; the
//! compiler keeps it that way).

pub mod effect;
pub mod error;
pub mod id;
pub mod lifecycle;
pub mod permits;
pub mod record;
pub mod schema;
