//! The RFC 6962 Merkle tree over stored hashes.
//!
//! A tree of `n` leaves is fully described by its append-only set of *stored hashes*: the
//! root of every complete (perfect, aligned) subtree, named by [`NodeId`] `(level, index)`
//! — the subtree of `2^level` leaves starting at leaf `index << level`. Level 0 holds the
//! leaf hashes. Appending leaf `n` adds the node `(0, n)` and one node per level for which
//! the new leaf completes a subtree (Go `sumdb/tlog` `StoredHashes`). Every tree root,
//! proof and tile of any size `<= n` is computed from O(log n) stored hashes read through
//! [`HashReader`].
//!
//! Here: [`range_nodes`] (the decomposition of a leaf range into complete subtrees),
//! [`tree_root`] (RFC 6962 §2.1 `MTH` of any size from stored hashes, one read),
//! [`Frontier`] (the O(log n) right edge a sequencer appends to) and [`MemoryHashStore`] (all
//! stored hashes in memory, for tests and offline tools). Proofs are in `proof`, tiles in
//! `tiles`.
//!
//! Out of scope: how stored hashes are laid out on disk (see `storage`).

use crate::core::hash::{empty_root, node_hash, Hash};

/// The name of a stored hash: the root of the complete subtree of `2^level` leaves that
/// starts at leaf `index << level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height of the subtree above the leaves (0 = a leaf hash).
    pub level: u8,
    /// Position of the subtree among the subtrees of the same level, from the left.
    pub index: u64,
}

impl NodeId {
    /// Builds a node name.
    pub fn new(level: u8, index: u64) -> NodeId {
        NodeId { level, index }
    }
}

/// An error from a [`HashReader`]: a stored hash that should exist could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HashReadError(pub String);

/// HashReader reads stored hashes.
///
/// Contract: `read_hashes(nodes)` returns exactly one hash per requested node, in the order
/// requested, or an error. It is only ever asked for nodes of complete subtrees of a tree
/// size the caller knows to be stored; an implementation must return an error (never a
/// made-up hash) for a node it does not have. Stored hashes never change once written, so
/// answers may be cached freely.
pub trait HashReader {
    /// Returns the stored hashes of `nodes`, in order.
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, HashReadError>;
}

/// The most levels a tree of at most `u64::MAX` leaves has above its leaves, plus one: stored
/// hashes live on levels `0..MAX_LEVELS`.
pub const MAX_LEVELS: usize = 64;

/// Returns the decomposition of the leaf range `[lo, hi)` into maximal complete aligned
/// subtrees, left to right. Empty when `lo >= hi`; at most `2 * 64` nodes. When `lo` is a
/// multiple of a power of two `>= hi - lo` (so for every `[0, n)` and every range a proof
/// needs), `MTH(D[lo:hi])` (RFC 9162 §2.1.1) is the right-fold of their hashes with
/// `node_hash`: the subtrees are then exactly the ones the largest-power-of-two split makes.
pub fn range_nodes(lo: u64, hi: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut lo = lo;
    while lo < hi {
        // The largest aligned subtree starting at lo (alignment: trailing zeros of lo) that
        // still fits below hi (size: the largest power of two <= hi - lo).
        let fit = 63 - (hi - lo).leading_zeros();
        let level = if lo == 0 {
            fit
        } else {
            fit.min(lo.trailing_zeros())
        };
        out.push(NodeId::new(level as u8, lo >> level));
        lo += 1u64 << level;
    }
    out
}

/// Reads `nodes` with one call to `reader` and checks the reader kept its contract (one hash
/// per node).
pub(crate) fn read_exact(
    reader: &impl HashReader,
    nodes: &[NodeId],
) -> Result<Vec<Hash>, HashReadError> {
    if nodes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(nodes)?;
    if hashes.len() != nodes.len() {
        return Err(HashReadError(format!(
            "hash reader returned {} hashes for {} nodes",
            hashes.len(),
            nodes.len()
        )));
    }
    Ok(hashes)
}

/// Folds the hashes of the subtrees of a [`range_nodes`] decomposition into the Merkle Tree
/// Hash of the range: `MTH(D[lo:hi]) = node_hash(h_0, node_hash(h_1, … h_k))` (RFC 9162
/// §2.1.1, the right edge is built from the right; see [`range_nodes`] for which ranges).
/// `None` for an empty slice.
pub(crate) fn fold_range(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}

/// Returns the RFC 6962 Merkle Tree Hash `MTH(D[0:tree_size])` of the first `tree_size`
/// leaves, reading at most 64 stored hashes in one [`HashReader::read_hashes`] call. The empty
/// tree has root [`empty_root`] (`SHA-256()`).
pub fn tree_root(tree_size: u64, reader: &impl HashReader) -> Result<Hash, HashReadError> {
    let nodes = range_nodes(0, tree_size);
    let hashes = read_exact(reader, &nodes)?;
    Ok(fold_range(&hashes).unwrap_or_else(empty_root))
}

/// Frontier is the compact range (right edge) of a tree: the roots of the complete subtrees
/// that make up the tree, `range_nodes(0, size)`, left to right. It holds at most 64 hashes
/// whatever the size, and is all a sequencer needs to append leaves and compute roots.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    /// Number of leaves in the tree.
    size: u64,
    /// Hashes of `range_nodes(0, size)`, left to right (largest subtree first).
    hashes: Vec<Hash>,
}

impl Frontier {
    /// Returns the frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Returns the number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Returns the tree's root, `MTH(D[0:size])` ([`empty_root`] for the empty tree).
    pub fn root(&self) -> Hash {
        fold_range(&self.hashes).unwrap_or_else(empty_root)
    }

    /// Returns the names of the frontier's hashes, `range_nodes(0, size)`.
    pub fn nodes(&self) -> Vec<NodeId> {
        range_nodes(0, self.size)
    }

    /// Returns the frontier's hashes, left to right, matching [`Frontier::nodes`].
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends the leaf whose leaf hash is `leaf_hash` as leaf number `size`, and pushes onto
    /// `out` every stored hash this leaf defines: the leaf node `(0, size)` first, then each
    /// parent it completes, lowest first (Go `sumdb/tlog` `StoredHashes` order).
    ///
    /// # Panics
    ///
    /// Panics if the tree already holds `u64::MAX` leaves.
    pub fn append(&mut self, leaf_hash: Hash, out: &mut Vec<(NodeId, Hash)>) {
        let n = self.size;
        let next = n
            .checked_add(1)
            .expect("Frontier::append: tree is full (u64::MAX leaves)");
        out.push((NodeId::new(0, n), leaf_hash));
        let mut h = leaf_hash;
        let mut index = n;
        let mut level = 0u8;
        // Each 1-bit at the bottom of n is a complete left sibling on the frontier:
        // parent = SHA-256(0x01 || left || right) (RFC 6962 §2.1).
        while index & 1 == 1 {
            let left = self
                .hashes
                .pop()
                .expect("Frontier invariant: one hash per 1-bit of size");
            h = node_hash(&left, &h);
            index >>= 1;
            level += 1;
            out.push((NodeId::new(level, index), h));
        }
        self.hashes.push(h);
        self.size = next;
    }

    /// Loads the frontier of the tree of `tree_size` leaves from its stored hashes, with one
    /// [`HashReader::read_hashes`] call of at most 64 nodes.
    pub fn load(tree_size: u64, reader: &impl HashReader) -> Result<Frontier, HashReadError> {
        let nodes = range_nodes(0, tree_size);
        let hashes = read_exact(reader, &nodes)?;
        Ok(Frontier {
            size: tree_size,
            hashes,
        })
    }
}

/// MemoryHashStore keeps every stored hash of a tree in memory, one `Vec<Hash>` per level.
/// It is meant for tests, offline verifiers and tools; the log itself uses `storage`.
#[derive(Debug, Clone, Default)]
pub struct MemoryHashStore {
    /// `levels[l][i]` is the stored hash `NodeId { level: l, index: i }`.
    levels: Vec<Vec<Hash>>,
    /// The right edge, to compute each new leaf's parents.
    frontier: Frontier,
}

impl MemoryHashStore {
    /// Returns an empty store.
    pub fn new() -> MemoryHashStore {
        MemoryHashStore::default()
    }

    /// Appends a leaf by its leaf hash and stores every hash it defines; returns its leaf index.
    pub fn push_leaf(&mut self, leaf_hash: Hash) -> u64 {
        let index = self.frontier.size();
        let mut defined = Vec::with_capacity(8);
        self.frontier.append(leaf_hash, &mut defined);
        for (node, h) in defined {
            let level = usize::from(node.level);
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            debug_assert_eq!(self.levels[level].len() as u64, node.index);
            self.levels[level].push(h);
        }
        index
    }

    /// Returns the number of leaves stored.
    pub fn tree_size(&self) -> u64 {
        self.frontier.size()
    }

    /// Returns the root of the whole stored tree.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }
}

impl HashReader for MemoryHashStore {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, HashReadError> {
        nodes
            .iter()
            .map(|n| {
                usize::try_from(n.index)
                    .ok()
                    .and_then(|i| self.levels.get(usize::from(n.level))?.get(i))
                    .copied()
                    .ok_or_else(|| {
                        HashReadError(format!(
                            "no stored hash at level {} index {}",
                            n.level, n.index
                        ))
                    })
            })
            .collect()
    }
}
