//! A monitor: follows a log through its public read API only and reports misbehaviour.
//!
//! Reads C2SP `tlog-tiles` (`/checkpoint`, `/tile/<L>/<N>[.p/<W>]`,
//! `/tile/entries/<N>[.p/<W>]`) and checks, for each new checkpoint:
//!
//! 1. the log's signature (C2SP `tlog-checkpoint` v1.0.0) and, with a C2SP `tlog-policy`,
//!    the witness cosignatures (C2SP `tlog-cosignature` v1.0.1) and their quorum;
//! 2. that it does not go back (rollback) and, at the size last seen, has the same root
//!    (fork);
//! 3. that the hash tiles hash to its root, and that the tree it describes extends the last
//!    one seen: an RFC 6962 consistency proof built from the tiles must verify from the
//!    stored root (else fork, or bad tiles when the tiles contradict themselves);
//! 4. that every new entry decodes (`core::entry::decode_entry`), hashes to the leaf hash in
//!    the level-0 tile, and that each level-0 tile is included under the root (one inclusion
//!    proof per tile, for its last new leaf: its left siblings cover the tile's other leaves).
//!
//! The last verified checkpoint is kept in a state file, written atomically (temporary
//! file, fsync, rename, directory fsync), so a restart resumes where it stopped and a
//! rollback across restarts is still seen. Memory is bounded by one level-0 tile and bundle
//! plus the O(log n) upper tiles the proofs touch.
//!
//! Out of scope: fetching cosignatures from witnesses directly (tlog-witness leaves that
//! "TBD"), and checking the private bodies (not public).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::core::checkpoint::{open_checkpoint, Checkpoint};
use crate::core::entry::decode_entry;
use crate::core::hash::{leaf_hash, Hash, HASH_SIZE};
use crate::core::merkle::{tree_root, HashReadError, HashReader, NodeId};
use crate::core::note::{Ed25519Verifier, MAX_NOTE_SIZE};
use crate::core::policy::{Policy, PolicyError};
use crate::core::proof::{
    prove_consistency, prove_inclusion, verify_consistency, verify_inclusion,
};
use crate::core::tiles::{
    hash_from_tile, parse_entry_bundle, tile_for_node, tiles_at_level, TilePath,
    MAX_ENTRY_BUNDLE_SIZE, TILE_HEIGHT, TILE_WIDTH,
};

/// The largest hash tile: 256 hashes.
pub const MAX_HASH_TILE_SIZE: usize = TILE_WIDTH as usize * HASH_SIZE;
/// The largest state file read.
pub const MAX_STATE_SIZE: u64 = 2 * MAX_NOTE_SIZE as u64;
/// Rounds of "fetch the missing tiles, try again" one computation may take.
const MAX_FETCH_ROUNDS: usize = 8;

/// What the monitor found wrong with the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Incident {
    /// The checkpoint's log signature does not verify.
    #[error("bad signature: {reason}")]
    BadSignature {
        /// Why.
        reason: String,
    },
    /// The witness cosignatures do not satisfy the policy.
    #[error("witness quorum not met: {reason}")]
    NoQuorum {
        /// Why.
        reason: String,
    },
    /// The checkpoint is for another origin than the one followed.
    #[error("origin changed from {seen:?} to {got:?}")]
    OriginChanged {
        /// The origin followed.
        seen: String,
        /// The new one.
        got: String,
    },
    /// The tree got smaller.
    #[error(
        "rollback: the log served size {size}, smaller than the size {seen_size} already seen"
    )]
    Rollback {
        /// Size seen before.
        seen_size: u64,
        /// Size served now.
        size: u64,
    },
    /// Two different trees were signed: the new one does not extend the one seen.
    #[error("fork: at size {size} the root was {seen_root}, now the log says {other_root} (checkpoint size {checkpoint_size})")]
    Fork {
        /// The size seen before.
        size: u64,
        /// Its root, hex.
        seen_root: String,
        /// The root the new tree gives that size, hex.
        other_root: String,
        /// The new checkpoint's size.
        checkpoint_size: u64,
    },
    /// A tile is malformed or does not hash to the checkpoint.
    #[error("bad tile {tile}: {reason}")]
    BadTile {
        /// Tile path.
        tile: String,
        /// Why.
        reason: String,
    },
    /// An entry does not decode or does not match its leaf hash.
    #[error("bad entry {index}: {reason}")]
    BadEntry {
        /// Leaf index.
        index: u64,
        /// Why.
        reason: String,
    },
}

impl Incident {
    /// A short kind: `bad-signature`, `no-quorum`, `origin-changed`, `rollback`, `fork`,
    /// `bad-tile`, `bad-entry`.
    pub fn kind(&self) -> &'static str {
        match self {
            Incident::BadSignature { .. } => "bad-signature",
            Incident::NoQuorum { .. } => "no-quorum",
            Incident::OriginChanged { .. } => "origin-changed",
            Incident::Rollback { .. } => "rollback",
            Incident::Fork { .. } => "fork",
            Incident::BadTile { .. } => "bad-tile",
            Incident::BadEntry { .. } => "bad-entry",
        }
    }
}

/// Why a monitoring step failed.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The log misbehaved.
    #[error("{0}")]
    Incident(#[from] Incident),
    /// The log could not be read (network, HTTP status, size limits).
    #[error("log unavailable: {0}")]
    Unavailable(String),
    /// The state file could not be read or written.
    #[error("monitor state {path}: {message}")]
    State {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
}

/// The last verified checkpoint, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorState {
    /// The log's origin.
    pub origin: String,
    /// The tree size.
    pub tree_size: u64,
    /// The root hash, hex.
    pub root: String,
    /// The signed note as served.
    pub checkpoint: String,
}

/// Settings of a monitor.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    /// Base URL of the log's read API (`<url>/checkpoint`, `<url>/tile/...`).
    pub log_url: String,
    /// The log's key.
    pub log_key: Ed25519Verifier,
    /// The witness policy, if cosignatures are required.
    pub policy: Option<Policy>,
    /// Where the last verified checkpoint is kept.
    pub state_path: PathBuf,
    /// Time one HTTP request may take.
    pub timeout: Duration,
}

/// What one step found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The verified tree size.
    pub tree_size: u64,
    /// The size verified before this step (0 the first time).
    pub previous_size: u64,
    /// Entries checked in this step.
    pub new_entries: u64,
}

/// A log follower.
#[derive(Debug)]
pub struct Monitor {
    config: MonitorConfig,
    client: reqwest::blocking::Client,
    state: Option<MonitorState>,
}

/// Hash tiles held during one step, fetched on demand.
#[derive(Debug, Default)]
struct TileCache {
    tiles: BTreeMap<(u8, u64), (TilePath, Vec<u8>)>,
    missing: RefCell<BTreeSet<(u8, u64)>>,
}

impl HashReader for TileCache {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, HashReadError> {
        let mut out = Vec::with_capacity(nodes.len());
        let mut missing = false;
        for &node in nodes {
            let need = tile_for_node(node)
                .ok_or_else(|| HashReadError(format!("no tile for node {node:?}")))?;
            let key = (
                need.tree_level().expect("hash tile") / TILE_HEIGHT,
                need.index(),
            );
            match self.tiles.get(&key) {
                Some((tile, data)) if tile.width() >= need.width() => out.push(
                    hash_from_tile(tile, data, node).map_err(|e| HashReadError(e.to_string()))?,
                ),
                _ => {
                    self.missing.borrow_mut().insert(key);
                    missing = true;
                }
            }
        }
        if missing {
            return Err(HashReadError("tiles missing".into()));
        }
        Ok(out)
    }
}

/// The width tile (level, index) has in a tree of `tree_size` leaves (0: none).
fn width_at(tree_size: u64, level: u8, index: u64) -> u16 {
    let (full, partial) = tiles_at_level(tree_size, level);
    if index < full {
        TILE_WIDTH
    } else if index == full {
        partial
    } else {
        0
    }
}

fn hex(h: &Hash) -> String {
    h.to_hex()
}

impl Monitor {
    /// A monitor with `config`, resuming from its state file if there is one.
    pub fn new(config: MonitorConfig) -> Result<Monitor, MonitorError> {
        let client = reqwest::blocking::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| MonitorError::Unavailable(format!("HTTP client: {e}")))?;
        let state = load_state(&config.state_path)?;
        Ok(Monitor {
            config,
            client,
            state,
        })
    }

    /// The last verified checkpoint.
    pub fn state(&self) -> Option<&MonitorState> {
        self.state.as_ref()
    }

    fn get(&self, path: &str, limit: usize) -> Result<Vec<u8>, MonitorError> {
        let url = format!("{}/{path}", self.config.log_url.trim_end_matches('/'));
        let resp = self
            .client
            .get(&url)
            .send()
            .map_err(|e| MonitorError::Unavailable(format!("GET {url}: {e}")))?;
        if !resp.status().is_success() {
            return Err(MonitorError::Unavailable(format!(
                "GET {url}: HTTP {}",
                resp.status().as_u16()
            )));
        }
        let mut out = Vec::new();
        resp.take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| MonitorError::Unavailable(format!("GET {url}: {e}")))?;
        if out.len() > limit {
            return Err(MonitorError::Unavailable(format!(
                "GET {url}: more than {limit} bytes"
            )));
        }
        Ok(out)
    }

    /// Fetches hash tile (level, index) at the width it has in a tree of `tree_size`.
    fn fetch_hash_tile(
        &self,
        cache: &mut TileCache,
        tree_size: u64,
        key: (u8, u64),
    ) -> Result<(), MonitorError> {
        let width = width_at(tree_size, key.0, key.1);
        let bad =
            |tile: String, reason: String| MonitorError::from(Incident::BadTile { tile, reason });
        if width == 0 {
            return Err(bad(
                format!("tile/{}/{}", key.0, key.1),
                format!("needed, but not part of a tree of size {tree_size}"),
            ));
        }
        let tile = TilePath::hash(key.0, key.1, width)
            .map_err(|e| bad(format!("tile/{}/{}", key.0, key.1), e.to_string()))?;
        let data = self.get(&tile.to_path(), MAX_HASH_TILE_SIZE)?;
        if data.len() != usize::from(width) * HASH_SIZE {
            return Err(bad(
                tile.to_path(),
                format!(
                    "{} bytes, expected {}",
                    data.len(),
                    usize::from(width) * HASH_SIZE
                ),
            ));
        }
        cache.tiles.insert(key, (tile, data));
        Ok(())
    }

    /// Runs `op` over the cache, fetching the tiles it reports missing, until it succeeds.
    fn with_tiles<T, E: ToString>(
        &self,
        cache: &mut TileCache,
        tree_size: u64,
        op: impl Fn(&TileCache) -> Result<T, E>,
    ) -> Result<Result<T, String>, MonitorError> {
        for _ in 0..MAX_FETCH_ROUNDS {
            cache.missing.borrow_mut().clear();
            let r = op(cache);
            let missing: Vec<(u8, u64)> = cache.missing.borrow().iter().copied().collect();
            if missing.is_empty() {
                return Ok(r.map_err(|e| e.to_string()));
            }
            for key in missing {
                self.fetch_hash_tile(cache, tree_size, key)?;
            }
        }
        Ok(Err("tiles still missing after fetching".into()))
    }

    /// Fetches `/checkpoint` and verifies its signature (and quorum, with a policy).
    fn fetch_checkpoint(&self) -> Result<(Checkpoint, Vec<u8>), MonitorError> {
        let note = self.get("checkpoint", MAX_NOTE_SIZE)?;
        let cp = match &self.config.policy {
            Some(p) => match p.verify_checkpoint(&note, Some(&self.config.log_key)) {
                Ok(v) => v.checkpoint,
                Err(e @ (PolicyError::LogSignature(_) | PolicyError::Checkpoint(_))) => {
                    return Err(Incident::BadSignature {
                        reason: e.to_string(),
                    }
                    .into())
                }
                Err(e) => {
                    return Err(Incident::NoQuorum {
                        reason: e.to_string(),
                    }
                    .into())
                }
            },
            None => {
                open_checkpoint(&note, &self.config.log_key)
                    .map_err(|e| Incident::BadSignature {
                        reason: e.to_string(),
                    })?
                    .checkpoint
            }
        };
        Ok((cp, note))
    }

    /// One step: fetch the latest checkpoint, verify everything new, and persist it.
    pub fn step(&mut self) -> Result<Step, MonitorError> {
        let (cp, note) = self.fetch_checkpoint()?;
        let (seen_size, seen_root) = match &self.state {
            Some(s) => {
                if s.origin != cp.origin {
                    return Err(Incident::OriginChanged {
                        seen: s.origin.clone(),
                        got: cp.origin,
                    }
                    .into());
                }
                let root = Hash::from_hex(&s.root).ok_or_else(|| MonitorError::State {
                    path: self.config.state_path.display().to_string(),
                    message: "root is not 64 hex digits".into(),
                })?;
                (s.tree_size, Some(root))
            }
            None => (0, None),
        };
        let n = cp.tree_size;
        // 2. No rollback; the same size must have the same root.
        if n < seen_size {
            return Err(Incident::Rollback { seen_size, size: n }.into());
        }
        if let Some(seen_root) = seen_root {
            if n == seen_size {
                if cp.root_hash != seen_root {
                    return Err(Incident::Fork {
                        size: n,
                        seen_root: hex(&seen_root),
                        other_root: hex(&cp.root_hash),
                        checkpoint_size: n,
                    }
                    .into());
                }
                return Ok(Step {
                    tree_size: n,
                    previous_size: seen_size,
                    new_entries: 0,
                });
            }
        }
        let mut cache = TileCache::default();
        if n > 0 {
            // 3. The tiles hash to the root.
            let root = self.with_tiles(&mut cache, n, |c| tree_root(n, c))?;
            match root {
                Ok(r) if r == cp.root_hash => {}
                Ok(r) => {
                    return Err(Incident::BadTile {
                        tile: format!("tiles of size {n}"),
                        reason: format!(
                            "they hash to {}, not the checkpoint root {}",
                            hex(&r),
                            hex(&cp.root_hash)
                        ),
                    }
                    .into())
                }
                Err(e) => {
                    return Err(Incident::BadTile {
                        tile: format!("tiles of size {n}"),
                        reason: e,
                    }
                    .into())
                }
            }
            // 3. Consistency with the last checkpoint seen.
            if let (Some(seen_root), true) = (seen_root, seen_size > 0) {
                let proof = self
                    .with_tiles(&mut cache, n, |c| prove_consistency(seen_size, n, c))?
                    .map_err(|e| Incident::BadTile {
                        tile: format!("tiles of size {n}"),
                        reason: e,
                    })?;
                if verify_consistency(seen_size, n, &seen_root, &cp.root_hash, &proof).is_err() {
                    // Which is it: the tiles give the old size another root (authenticated
                    // by the new root through the proof), or the tiles contradict themselves?
                    let other = self
                        .with_tiles(&mut cache, n, |c| tree_root(seen_size, c))?
                        .map_err(|e| Incident::BadTile {
                            tile: format!("tiles of size {n}"),
                            reason: e,
                        })?;
                    if verify_consistency(seen_size, n, &other, &cp.root_hash, &proof).is_ok() {
                        return Err(Incident::Fork {
                            size: seen_size,
                            seen_root: hex(&seen_root),
                            other_root: hex(&other),
                            checkpoint_size: n,
                        }
                        .into());
                    }
                    return Err(Incident::BadTile {
                        tile: format!("tiles of size {n}"),
                        reason: "they give no consistent proof to the checkpoint root".into(),
                    }
                    .into());
                }
            }
            // 4. Every new entry.
            self.check_entries(&mut cache, seen_size, n, &cp.root_hash)?;
        }
        let state = MonitorState {
            origin: cp.origin.clone(),
            tree_size: n,
            root: hex(&cp.root_hash),
            checkpoint: String::from_utf8_lossy(&note).into_owned(),
        };
        save_state(&self.config.state_path, &state)?;
        self.state = Some(state);
        Ok(Step {
            tree_size: n,
            previous_size: seen_size,
            new_entries: n - seen_size,
        })
    }

    /// Checks entries `[from, to)` against the tiles and the root `root` of size `to`.
    fn check_entries(
        &self,
        cache: &mut TileCache,
        from: u64,
        to: u64,
        root: &Hash,
    ) -> Result<(), MonitorError> {
        let w = u64::from(TILE_WIDTH);
        for b in from / w..to.div_ceil(w) {
            let width = width_at(to, 0, b);
            let bundle_path = TilePath::entries(b, width)
                .map_err(|e| Incident::BadTile {
                    tile: format!("tile/entries/{b}"),
                    reason: e.to_string(),
                })?
                .to_path();
            let data = self.get(&bundle_path, MAX_ENTRY_BUNDLE_SIZE)?;
            let entries = parse_entry_bundle(&data).map_err(|e| Incident::BadTile {
                tile: bundle_path.clone(),
                reason: e.to_string(),
            })?;
            if entries.len() != usize::from(width) {
                return Err(Incident::BadTile {
                    tile: bundle_path,
                    reason: format!("{} entries, expected {width}", entries.len()),
                }
                .into());
            }
            // The level-0 tile at the same width.
            let key = (0u8, b);
            cache.tiles.remove(&key);
            self.fetch_hash_tile(cache, to, key)?;
            let (tile, hashes) = cache.tiles.get(&key).expect("just fetched").clone();
            let start = from.max(b * w);
            let end = to.min((b + 1) * w);
            for index in start..end {
                let j = (index - b * w) as usize;
                let entry = entries[j];
                decode_entry(entry).map_err(|e| Incident::BadEntry {
                    index,
                    reason: e.to_string(),
                })?;
                if leaf_hash(entry).as_bytes()[..] != hashes[j * HASH_SIZE..(j + 1) * HASH_SIZE] {
                    return Err(Incident::BadEntry {
                        index,
                        reason: format!(
                            "its leaf hash is not the one in {} (entry bundle and hash tile disagree)",
                            tile.to_path()
                        ),
                    }
                    .into());
                }
            }
            // The tile's leaves are under the root: the inclusion proof of its last new
            // leaf, whose left siblings inside the tile cover every other leaf of it.
            let last = end - 1;
            let lh = leaf_hash(entries[(last - b * w) as usize]);
            let proof = self
                .with_tiles(cache, to, |c| prove_inclusion(last, to, c))?
                .map_err(|e| Incident::BadTile {
                    tile: tile.to_path(),
                    reason: e,
                })?;
            if verify_inclusion(last, to, &lh, &proof, root).is_err() {
                return Err(Incident::BadTile {
                    tile: tile.to_path(),
                    reason: "its leaves are not included under the checkpoint root".into(),
                }
                .into());
            }
            // Bounded memory: drop the level-0 tile once its bundle is checked.
            cache.tiles.remove(&key);
        }
        Ok(())
    }
}

fn state_err(path: &Path, message: String) -> MonitorError {
    MonitorError::State {
        path: path.display().to_string(),
        message,
    }
}

/// Reads the state file (`None` if it does not exist).
pub fn load_state(path: &Path) -> Result<Option<MonitorState>, MonitorError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(state_err(path, e.to_string())),
    };
    if meta.len() > MAX_STATE_SIZE {
        return Err(state_err(path, "too large".into()));
    }
    let bytes = fs::read(path).map_err(|e| state_err(path, e.to_string()))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| state_err(path, e.to_string()))
}

/// Writes the state file atomically: temporary file, fsync, rename, directory fsync. A
/// crash leaves either the old or the new state, never a torn one.
pub fn save_state(path: &Path, state: &MonitorState) -> Result<(), MonitorError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| state_err(path, e.to_string()))?;
    let mut f = File::create(&tmp).map_err(|e| state_err(&tmp, e.to_string()))?;
    f.write_all(&bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| state_err(&tmp, e.to_string()))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| state_err(path, e.to_string()))?;
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| state_err(&dir, e.to_string()))
}
