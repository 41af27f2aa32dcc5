//! Ayni node: keeps a durable replica of the cooperation records as
//! automerge documents.
#![deny(missing_docs)]

pub mod error;
pub mod id;
pub mod identity;
pub mod lifecycle;
pub mod record;
pub mod schema;

pub use error::{Error, Result};
pub use id::DocumentId;
