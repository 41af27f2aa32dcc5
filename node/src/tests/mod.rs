//! Tests of the node's rules across modules: merge rules and signed
//! changes between replicas (the node as the library holds it, no engine),
//! and what runs on the engine and what beside it.
//!
//! Owns: scenarios of several nodes exchanging documents directly. Must
//! never: be compiled outside `cargo test`.

mod index;
mod merge_rules;
mod trust;
