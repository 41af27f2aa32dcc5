//! Ayni node: keeps a durable replica of the La Paz cooperation records
//! (practices, requests, agreements, missions, EDAN assessments…), one
//! automerge document per record, with field rules from `schemas/`.
//!
//! The one door is [`NodeHandle`]: open a node's home, then add, edit,
//! list and merge records through its typed methods, each made for an
//! [`clients::Actor`] (the node itself, or a client through it). Writes run
//! on the node's engine thread, are judged by the permits and validated
//! against the kind's JSON Schema, and are durable when they return; reads
//! run beside it and cannot write.
//!
//! ```
//! use ayni_node::{clients::Actor, network::Role, NodeHandle};
//! use serde_json::json;
//!
//! # fn main() -> ayni_node::Result<()> {
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let me = Actor::Node;
//! let hq = NodeHandle::init(&dir.path().join("hq"), "hq")?;
//! let (_, hq_membership) = hq.create_network("gamlp").await?;
//! let laptop = NodeHandle::init(&dir.path().join("laptop"), "gaem-1")?;
//! let token = hq.enroll(laptop.id(), Role::Field, "gaem-1", None, None).await?.to_token();
//! laptop.join(&token).await?;
//! laptop.accept_member(hq_membership.bytes).await?; // a sync would bring it
//! let ana = hq.create(&me, "person", Some("ana"), json!({"full_name": "Ana Quispe"})).await?;
//!
//! // the laptop receives the record (every change signed); both edit it
//! // offline, then they merge
//! let id = ana.id.parse()?;
//! laptop.merge_document(id, hq.document_bytes(&ana.id).await?).await?;
//! hq.set(&me, &ana.id, vec![("full_name".into(), json!("Ana María Quispe"))]).await?;
//! laptop.set(&me, "person:ana", vec![("position".into(), json!("evaluadora GAEM"))]).await?;
//! let merged = hq.merge_document(id, laptop.document_bytes(&ana.id).await?).await?;
//! assert_eq!(merged.fields["full_name"], "Ana María Quispe");
//! assert_eq!(merged.fields["position"], "evaluadora GAEM");
//! # Ok(()) })
//! # }
//! ```
#![deny(missing_docs)]

mod admission;
mod amend;
pub mod attach;
mod authority;
pub mod blobs;
mod bulk;
pub mod bundle;
pub mod catalogue;
pub mod clients;
pub mod cooperation;
pub mod decisions;
pub mod demo;
#[cfg(any(test, feature = "fuzzing"))]
pub mod differential;
mod engine;
pub mod feed;
pub mod follow;
mod gateway;
mod handle;
mod ingest;
pub mod key_file;
pub mod laptops;
mod listing;
pub mod net;
pub mod network;
pub mod node;
mod peer_state;
mod policy;
pub mod progress;
mod read;
pub mod repair;
pub mod replica;
pub mod repo;
pub mod report;
pub mod seed;
pub mod situation;
pub mod status;
pub mod submissions;
mod sync_store;
pub mod tables;
mod tally;
#[cfg(test)]
mod tests;
pub mod trust;
mod write;

use ayni_model::effect;
pub use ayni_model::{error, id, lifecycle, permits, record, schema};
pub use ayni_store::{self as store, atomic_file};
pub use ayni_sync::{self as sync, attest, identity, inflate};
pub use error::{Error, Result};
pub use handle::NodeHandle;
pub use id::DocumentId;
pub use ingest::ClientChanges;
pub use listing::{RecordStream, References};
pub use node::Record;
