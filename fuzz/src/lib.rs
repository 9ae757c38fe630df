//! The checks behind the fuzz targets: one module per target, each with a `check(data)`
//! that must never panic on any input.
//!
//! The targets in `fuzz_targets/` call these, and the main crate's `tests/fuzz_seeds.rs`
//! includes this file to replay the committed corpus (`fuzz/corpus/<target>/`) through the
//! very same assertions on stable Rust. Inside these modules, refer to each other with
//! `super::`, never `crate::`, so that both builds resolve the paths.

pub mod common;

pub mod bundle;
pub mod chain_line;
pub mod checkpoint;
pub mod cosignature;
pub mod entry;
pub mod json;
pub mod note;
pub mod policy;
pub mod proof_verify;
pub mod tile_path;
pub mod tlog_proof;
pub mod witness_request;

/// A target's check: panics when an input breaks a property.
pub type Check = fn(&[u8]);

/// Every target's name with its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("note", note::check),
    ("checkpoint", checkpoint::check),
    ("cosignature", cosignature::check),
    ("tile_path", tile_path::check),
    ("tlog_proof", tlog_proof::check),
    ("proof_verify", proof_verify::check),
    ("entry", entry::check),
    ("chain_line", chain_line::check),
    ("json", json::check),
    ("policy", policy::check),
    ("witness_request", witness_request::check),
    ("bundle", bundle::check),
];
