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
//! Out of scope: how stored hashes are laid out on disk (see `storage`).

use crate::core::hash::Hash;

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
