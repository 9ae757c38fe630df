//! `tlog-proof@v1` files (`core::tlog_proof`).
//!
//! - The parser never panics; every accepted file serializes back to exactly its bytes.
//! - Soundness: a file that verifies under the fuzz log key proves only what the honest log
//!   holds: the leaf hash it is checked with must be the honest leaf at its index (the
//!   fuzzer picks that hash: the honest one, another leaf's, or 32 bytes of the input).
//! - Completeness: the honest proof of any leaf, with fuzzed extra data, parses and verifies.

use llm_audit_trail::core::hash::Hash;
use llm_audit_trail::core::tlog_proof::TlogProof;

use super::common::{honest, log_signer, Input, TREE_LEAVES};

/// Runs the checks on one input.
pub fn check(data: &[u8]) {
    let log = honest();
    let verifier = log_signer().verifier();
    if let Ok(p) = TlogProof::parse(data) {
        assert_eq!(
            p.serialize(),
            data,
            "an accepted file re-serializes to itself"
        );
        // The leaf to check: 32 bytes of extra data, else the honest leaf at the index (or,
        // for an index past the honest tree, a fixed hash).
        let claimed = match p.extra_data.as_deref().and_then(Hash::from_slice) {
            Some(h) => h,
            None if p.leaf_index < TREE_LEAVES => log.leaf(p.leaf_index),
            None => Hash([0x5a; 32]),
        };
        if let Ok(cp) = p.verify(&claimed, &verifier) {
            assert!(
                cp.tree_size <= TREE_LEAVES,
                "only honest checkpoints are signed"
            );
            assert_eq!(cp.root_hash, log.root(cp.tree_size));
            assert!(p.leaf_index < cp.tree_size);
            assert_eq!(
                claimed,
                log.leaf(p.leaf_index),
                "a proof verified a leaf not in the log"
            );
            assert_eq!(p.proof, log.inclusion(p.leaf_index, cp.tree_size));
        }
    }

    // Completeness: an honest proof file.
    let mut input = Input::new(data);
    let n = 1 + input.below(TREE_LEAVES);
    let i = input.below(n);
    let extra = match input.u8() % 3 {
        0 => None,
        _ => {
            let len = usize::from(input.u8());
            Some(input.bytes(len).to_vec())
        }
    };
    let honest_file = TlogProof {
        extra_data: extra,
        leaf_index: i,
        proof: log.inclusion(i, n),
        checkpoint: log.signed_checkpoint(n),
    };
    let bytes = honest_file.serialize();
    let parsed = TlogProof::parse(&bytes).expect("an honest proof file parses");
    assert_eq!(parsed, honest_file);
    let cp = parsed
        .verify(&log.leaf(i), &verifier)
        .expect("an honest proof file verifies");
    assert_eq!(cp.tree_size, n);
    if n > 1 {
        let other = (i + 1 + input.below(n - 1)) % n;
        assert!(parsed.verify(&log.leaf(other), &verifier).is_err());
    }
}
