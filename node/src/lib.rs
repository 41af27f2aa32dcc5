//! Ayni node: keeps a durable replica of the La Paz cooperation records
//! (practices, requests, agreements, missions, EDAN assessments…), one
//! automerge document per record, with field rules from `schemas/`.
//!
//! The entry point is [`Node`]: open a node's home, then add, edit, list and
//! merge records. Every write is validated against the kind's JSON Schema
//! and is durable when the call returns.
//!
//! ```
//! use ayni_node::{network::Role, Node};
//! use serde_json::json;
//!
//! # fn main() -> ayni_node::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let hq = Node::init(&dir.path().join("hq"), "hq")?;
//! let (_, hq_membership) = hq.create_network("gamlp")?;
//! let laptop = Node::init(&dir.path().join("laptop"), "gaem-1")?;
//! laptop.join(&hq.enroll(laptop.id(), Role::Field, "gaem-1", None)?.to_token())?;
//! laptop.accept_member(&hq_membership.bytes)?; // a sync would bring it
//! let ana = hq.add("person", Some("ana"), json!({"full_name": "Ana Quispe"}))?;
//!
//! // the laptop receives the record (every change signed), both edit it
//! // offline, they merge
//! let id = ana.id.parse()?;
//! laptop.merge_document(&id, &hq.document_bytes(&ana.id)?)?;
//! hq.set(&ana.id, &[("full_name".into(), json!("Ana María Quispe"))])?;
//! laptop.set("person:ana", &[("position".into(), json!("evaluadora GAEM"))])?;
//! let merged = hq.merge_document(&id, &laptop.document_bytes(&ana.id)?)?;
//! assert_eq!(merged.fields["full_name"], "Ana María Quispe");
//! assert_eq!(merged.fields["position"], "evaluadora GAEM");
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod admission;
pub mod amend;
pub mod attach;
pub mod attest;
pub mod authority;
pub mod blobs;
mod bulk;
pub mod bundle;
pub mod catalogue;
pub mod clients;
pub mod cooperation;
pub mod demo;
#[cfg(any(test, feature = "fuzzing"))]
pub mod differential;
mod effect;
mod engine;
pub mod error;
pub mod feed;
pub mod follow;
pub mod gateway;
mod handle;
pub mod id;
pub mod identity;
pub mod inflate;
mod ingest;
pub mod lifecycle;
pub mod net;
pub mod network;
pub mod node;
pub mod permits;
pub mod policy;
pub mod progress;
mod read;
pub mod record;
pub mod repair;
pub mod replica;
pub mod repo;
pub mod report;
pub mod schema;
pub mod seed;
pub mod situation;
pub mod status;
pub mod store;
pub mod submissions;
pub mod sync;
pub mod tables;
#[cfg(test)]
mod tests;
pub mod trust;
pub mod write;

pub use error::{Error, Result};
pub use handle::{NodeHandle, RecordStream, References};
pub use id::DocumentId;
pub use ingest::ClientChanges;
pub use node::{Node, Record};
