//! The pure core: everything a verifier needs, with no I/O.
//!
//! Nothing in this module reads a clock, the file system, the network or OS randomness:
//! time and random bytes are passed in by the caller.

pub mod bundle;
pub mod cbor;
pub mod chain;
pub mod checkpoint;
pub mod cosignature;
pub mod entry;
pub mod hash;
pub mod json;
pub mod merkle;
pub mod note;
pub mod policy;
pub mod proof;
pub mod tiles;
pub mod tlog_proof;
pub mod witness;
