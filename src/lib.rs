//! llm-audit-trail: a verifiable transparency log for the lifecycle of machine-learning models.
//!
//! Layers (arrows point down only, see `README.md` § Architecture):
//!
//! - [`core`]: the pure core — RFC 6962 hashing, proofs, C2SP notes, checkpoints,
//!   cosignatures and tiles, the entry encoding and the seed-compatible hash chain. No I/O,
//!   no clock, no OS randomness; builds with `--no-default-features`.
//! - `storage`, `log`, `server`, `cli` (feature `server`): RocksDB, the sequencer, the
//!   JSONL mirror, the HTTP server and the `tlog` command line.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod core;
pub mod lineage;

#[cfg(feature = "server")]
pub mod cli;
#[cfg(feature = "server")]
pub mod datadir;
#[cfg(feature = "server")]
pub mod dataset;
#[cfg(feature = "server")]
pub mod erasure;
#[cfg(feature = "server")]
pub mod log;
#[cfg(feature = "server")]
pub mod middleware;
#[cfg(feature = "server")]
pub mod monitor;
#[cfg(feature = "server")]
pub mod os;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod storage;
#[cfg(feature = "server")]
pub mod witness;
