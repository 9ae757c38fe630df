//! Inclusion and consistency proof verification (`core::proof`).
//!
//! 1. Arbitrary sizes, roots and proofs: never a panic, and never `Ok` unless the proof has
//!    the length the sizes call for.
//! 2. Against the honest tree, with the honest proof edited by the fuzzer (hashes replaced,
//!    dropped, duplicated, swapped, appended): verification succeeds **exactly** when leaf,
//!    root and proof are the honest ones. A wrong leaf, a root of another size or any other
//!    proof never verifies (soundness), and the honest proof always does (completeness).

use llm_audit_trail::core::hash::Hash;
use llm_audit_trail::core::proof::{
    consistency_proof_len, inclusion_proof_len, verify_consistency, verify_inclusion,
};

use super::common::{edit_proof, honest, Input, TREE_LEAVES};

/// Runs the checks on one input.
pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let a = input.u64();
    let b = input.u64();
    let root = input.hash();
    let raw_count = usize::from(input.u8() % 70);
    let raw: Vec<Hash> = input
        .bytes(raw_count * 32)
        .chunks_exact(32)
        .map(|c| Hash(c.try_into().expect("32 bytes")))
        .collect();
    // 1. Arbitrary sizes and hashes: no panic, and the length rule holds.
    if verify_inclusion(a, b, &root, &raw, &root).is_ok() {
        assert_eq!(raw.len(), inclusion_proof_len(a, b));
    }
    if verify_consistency(a, b, &root, &root, &raw).is_ok() {
        assert_eq!(raw.len(), consistency_proof_len(a, b));
    }

    // 2. The honest tree.
    let log = honest();
    let n = 1 + input.below(TREE_LEAVES);
    let i = input.below(n);
    let leaf_pick = input.below(n);
    let root_size = match input.u8() % 4 {
        0 => input.below(TREE_LEAVES + 1),
        _ => n,
    };
    let leaf = match input.u8() % 4 {
        0 => input.hash(),
        1 => log.leaf(leaf_pick),
        _ => log.leaf(i),
    };
    let honest_proof = log.inclusion(i, n);
    assert_eq!(honest_proof.len(), inclusion_proof_len(i, n));
    let mut proof = honest_proof.clone();
    edit_proof(&mut proof, &mut input);
    let ok = verify_inclusion(i, n, &leaf, &proof, &log.root(root_size)).is_ok();
    let expected = leaf == log.leaf(i) && root_size == n && proof == honest_proof;
    assert_eq!(
        ok, expected,
        "inclusion of leaf {i} in size {n} against the root of size {root_size}"
    );

    // Consistency between honest sizes m <= n2.
    let n2 = 1 + input.below(TREE_LEAVES);
    let m = 1 + input.below(n2);
    let old_size = match input.u8() % 4 {
        0 => input.below(TREE_LEAVES + 1),
        _ => m,
    };
    let new_size = match input.u8() % 4 {
        0 => input.below(TREE_LEAVES + 1),
        _ => n2,
    };
    let honest_proof = log.consistency(m, n2);
    assert_eq!(honest_proof.len(), consistency_proof_len(m, n2));
    let mut proof = honest_proof.clone();
    edit_proof(&mut proof, &mut input);
    let ok = verify_consistency(m, n2, &log.root(old_size), &log.root(new_size), &proof).is_ok();
    let expected = if m == n2 {
        // Equal sizes: only the empty proof and equal roots, whatever the size they are of.
        proof.is_empty() && old_size == new_size
    } else {
        old_size == m && new_size == n2 && proof == honest_proof
    };
    assert_eq!(
        ok, expected,
        "consistency {m} -> {n2} against the roots of sizes {old_size} -> {new_size}"
    );
}
