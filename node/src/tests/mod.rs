//! Tests of the node's rules across modules, with the node as the library
//! holds it (no engine): merge rules and signed changes between replicas.
//!
//! Owns: scenarios of several nodes exchanging documents directly. Must
//! never: be compiled outside `cargo test`.

mod merge_rules;
mod trust;
