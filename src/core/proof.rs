//! Inclusion and consistency proofs of the RFC 6962 Merkle tree.
//!
//! Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) step by
//! step; generation (RFC 9162 §2.1.3.1 `PATH` and §2.1.4.1 `SUBPROOF`) reads stored hashes
//! through [`crate::core::merkle::HashReader`].
//!
//! Out of scope: fetching proofs or checkpoints, and deciding which root to trust.

use crate::core::hash::{node_hash, Hash};
use crate::core::merkle::{fold_range, range_nodes, read_exact, HashReader, NodeId};

/// The most hashes a proof can hold: one per level of a tree of at most 2^64 leaves.
pub const MAX_PROOF_HASHES: usize = 64;

/// Why a proof did not verify, or could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {leaf_index} is not below tree size {tree_size}")]
    IndexOutOfRange {
        /// The index asked for.
        leaf_index: u64,
        /// The size of the tree.
        tree_size: u64,
    },
    /// A consistency proof was asked for between sizes that do not allow one.
    #[error("no consistency proof from size {old_size} to size {new_size}")]
    BadSizes {
        /// The older (smaller) tree size.
        old_size: u64,
        /// The newer tree size.
        new_size: u64,
    },
    /// The proof has the wrong number of hashes for its tree sizes.
    #[error("proof has {got} hashes, expected {want}")]
    WrongLength {
        /// Hashes in the proof.
        got: usize,
        /// Hashes the sizes call for.
        want: usize,
    },
    /// The proof is well formed but leads to a different root.
    #[error("proof does not lead to the expected root")]
    RootMismatch,
    /// A stored hash could not be read while generating a proof.
    #[error("reading stored hashes: {0}")]
    Read(String),
}

/// The number of hashes in an inclusion proof for `leaf_index` in a tree of `tree_size`
/// (0 when `leaf_index >= tree_size`: there is no such proof).
pub fn inclusion_proof_len(leaf_index: u64, tree_size: u64) -> usize {
    if leaf_index >= tree_size {
        return 0;
    }
    // The path has one hash per level below the point where the leaf's path and the
    // tree's right edge meet, plus one per 1-bit of the remaining right edge.
    let inner = 64 - (leaf_index ^ (tree_size - 1)).leading_zeros();
    let border = leaf_index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// Verifies that `leaf_hash` is the leaf at `leaf_index` of the tree of `tree_size` leaves
/// with root `root`, per RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    // Step 1: compare leaf_index against tree_size; if leaf_index >= tree_size, fail.
    if leaf_index >= tree_size {
        return Err(ProofError::IndexOutOfRange {
            leaf_index,
            tree_size,
        });
    }
    let want = inclusion_proof_len(leaf_index, tree_size);
    if proof.len() != want {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want,
        });
    }
    // Step 2: fn = leaf_index, sn = tree_size - 1.
    let mut f_n = leaf_index;
    let mut s_n = tree_size - 1;
    // Step 3: r = leaf_hash.
    let mut r = *leaf_hash;
    // Step 4: for each p in the inclusion path:
    for p in proof {
        // 4a: if sn is 0, stop and fail.
        if s_n == 0 {
            return Err(ProofError::RootMismatch);
        }
        // 4b: if LSB(fn) is set, or fn equals sn:
        if f_n & 1 == 1 || f_n == s_n {
            // r = HASH(0x01 || p || r)
            r = node_hash(p, &r);
            // if LSB(fn) is not set, right-shift fn and sn until LSB(fn) is set or fn is 0.
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            // Otherwise r = HASH(0x01 || r || p).
            r = node_hash(&r, p);
        }
        // 4c: right-shift both fn and sn one time.
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5: sn is 0 and r equals root.
    if s_n == 0 && r == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Verifies that the tree of `new_size` leaves with root `new_root` extends the tree of
/// `old_size` leaves with root `old_root`, per RFC 9162 §2.1.4.2.
///
/// `old_size` must be at least 1 (a proof from the empty tree carries no information;
/// callers that accept growth from size 0 handle it themselves, as C2SP tlog-witness does).
/// Equal sizes verify only with an empty proof and equal roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::BadSizes { old_size, new_size });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                want: 0,
            });
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let want = consistency_proof_len(old_size, new_size);
    if proof.len() != want {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want,
        });
    }
    // Step 2: if first is an exact power of 2, prepend first_hash to the path.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    // Step 3: fn = first - 1, sn = second - 1.
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    // Step 4: if LSB(fn) is set, right-shift fn and sn until LSB(fn) is not set.
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5: fr = sr = the first value in the path.
    let mut f_r = path[0];
    let mut s_r = path[0];
    // Step 6: for each subsequent value c in the path:
    for c in &path[1..] {
        // 6a: if sn is 0, stop and fail.
        if s_n == 0 {
            return Err(ProofError::RootMismatch);
        }
        // 6b: if LSB(fn) is set, or fn equals sn:
        if f_n & 1 == 1 || f_n == s_n {
            // fr = HASH(0x01 || c || fr), sr = HASH(0x01 || c || sr)
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            // if LSB(fn) is not set, right-shift fn and sn until LSB(fn) is set or fn is 0.
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            // Otherwise sr = HASH(0x01 || sr || c).
            s_r = node_hash(&s_r, c);
        }
        // 6c: right-shift both fn and sn one time.
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 7: fr equals first_hash, sr equals second_hash and sn is 0.
    if f_r == *old_root && s_r == *new_root && s_n == 0 {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// The number of hashes in a consistency proof from `old_size` to `new_size`
/// (`0 < old_size < new_size`; 0 for any other sizes, whose proof is empty or does not exist).
pub fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    if old_size == 0 || old_size >= new_size {
        return 0;
    }
    // The proof is the inclusion path of leaf old_size-1 in the new tree, minus the levels
    // below the largest complete subtree that ends at old_size (they are implied), plus the
    // root of that subtree unless it is the whole old tree (old_size a power of two).
    let inner = 64 - ((old_size - 1) ^ (new_size - 1)).leading_zeros();
    let border = (old_size - 1).checked_shr(inner).unwrap_or(0).count_ones();
    let shift = old_size.trailing_zeros();
    let seed = usize::from(!old_size.is_power_of_two());
    seed + (inner - shift) as usize + border as usize
}

/// Returns the largest power of two strictly below `n` (`n >= 2`): RFC 9162's `k`.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Pushes, in proof order, the leaf ranges whose Merkle Tree Hashes make up
/// `PATH(m, D[lo:hi])` (RFC 9162 §2.1.3.1), `m` relative to `lo`.
fn path_ranges(m: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
    let n = hi - lo;
    // PATH(0, {d(0)}) = {}
    if n <= 1 {
        return;
    }
    // k is the largest power of two smaller than n.
    let k = split_point(n);
    if m < k {
        // for m < k: PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])
        path_ranges(m, lo, lo + k, out);
        out.push((lo + k, hi));
    } else {
        // for m >= k: PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])
        path_ranges(m - k, lo + k, hi, out);
        out.push((lo, lo + k));
    }
}

/// Pushes, in proof order, the leaf ranges whose Merkle Tree Hashes make up
/// `SUBPROOF(m, D[lo:hi], b)` (RFC 9162 §2.1.4.1), `m` relative to `lo`.
fn subproof_ranges(m: u64, lo: u64, hi: u64, b: bool, out: &mut Vec<(u64, u64)>) {
    let n = hi - lo;
    if m == n {
        // SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}
        if !b {
            out.push((lo, hi));
        }
        return;
    }
    // m < n: k is the largest power of two smaller than n.
    let k = split_point(n);
    if m <= k {
        // SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
        subproof_ranges(m, lo, lo + k, b, out);
        out.push((lo + k, hi));
    } else {
        // SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
        subproof_ranges(m - k, lo + k, hi, false, out);
        out.push((lo, lo + k));
    }
}

/// Reads every stored hash the ranges need in ONE `read_hashes` call, then folds each
/// range into its Merkle Tree Hash.
fn hashes_of_ranges(
    ranges: &[(u64, u64)],
    reader: &impl HashReader,
) -> Result<Vec<Hash>, ProofError> {
    let per_range: Vec<Vec<NodeId>> = ranges.iter().map(|&(lo, hi)| range_nodes(lo, hi)).collect();
    let all: Vec<NodeId> = per_range.iter().flatten().copied().collect();
    let hashes = read_exact(reader, &all).map_err(|e| ProofError::Read(e.0))?;
    let mut at = 0;
    let mut out = Vec::with_capacity(ranges.len());
    for nodes in &per_range {
        let part = &hashes[at..at + nodes.len()];
        at += nodes.len();
        out.push(fold_range(part).expect("ranges of a proof are never empty"));
    }
    Ok(out)
}

/// Returns the inclusion proof `PATH(leaf_index, D[0:tree_size])` (RFC 9162 §2.1.3.1) from
/// stored hashes, with one [`HashReader::read_hashes`] call of O(log n) nodes.
///
/// Errors: [`ProofError::IndexOutOfRange`] if `leaf_index >= tree_size`, [`ProofError::Read`]
/// if the reader fails (for instance when `tree_size` is larger than the stored tree).
pub fn prove_inclusion(
    leaf_index: u64,
    tree_size: u64,
    reader: &impl HashReader,
) -> Result<Vec<Hash>, ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::IndexOutOfRange {
            leaf_index,
            tree_size,
        });
    }
    let mut ranges = Vec::with_capacity(MAX_PROOF_HASHES);
    path_ranges(leaf_index, 0, tree_size, &mut ranges);
    hashes_of_ranges(&ranges, reader)
}

/// Returns the consistency proof `PROOF(old_size, D[0:new_size])` (RFC 9162 §2.1.4.1) from
/// stored hashes, with one [`HashReader::read_hashes`] call of O(log n) nodes.
///
/// `old_size == new_size` (at least 1) gives the empty proof, which [`verify_consistency`]
/// accepts with equal roots. `old_size == 0` or `old_size > new_size` is
/// [`ProofError::BadSizes`]: the verifier rejects those too (a proof from the empty tree
/// carries no information). [`ProofError::Read`] if the reader fails.
pub fn prove_consistency(
    old_size: u64,
    new_size: u64,
    reader: &impl HashReader,
) -> Result<Vec<Hash>, ProofError> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::BadSizes { old_size, new_size });
    }
    if old_size == new_size {
        return Ok(Vec::new());
    }
    let mut ranges = Vec::with_capacity(MAX_PROOF_HASHES);
    // PROOF(m, D[n]) = SUBPROOF(m, D[n], true)
    subproof_ranges(old_size, 0, new_size, true, &mut ranges);
    hashes_of_ranges(&ranges, reader)
}
