//! Offline proof bundles (`core::bundle`, `spec/bundle.md`).
//!
//! - The parser never panics; a parsed bundle printed with `to_json` parses back to the
//!   same bundle.
//! - Soundness: a bundle that verifies under the fuzz log key holds an entry of the honest
//!   log at its index, and, when it carries one, that entry's committed body.
//! - Completeness: the honest bundle of any leaf, with or without its body, printed and
//!   parsed, verifies and shows the event it holds.

use llm_audit_trail::core::bundle::ProofBundle;
use llm_audit_trail::core::entry::{decode_body, decode_entry};
use llm_audit_trail::core::json::to_json_string;

use super::common::{honest, log_signer, Input, TREE_LEAVES};

/// Runs the checks on one input.
pub fn check(data: &[u8]) {
    let log = honest();
    let key = log_signer().verifier();
    if let Ok(b) = ProofBundle::parse(data) {
        let printed = to_json_string(&b.to_json());
        let back = ProofBundle::parse(printed.as_bytes());
        assert_eq!(
            back.as_ref(),
            Ok(&b),
            "a parsed bundle prints and parses back"
        );
        if let Ok(v) = b.verify(&key) {
            let i = b.leaf_index;
            assert!(
                v.checkpoint.tree_size <= TREE_LEAVES,
                "only honest checkpoints are signed"
            );
            assert_eq!(v.checkpoint.root_hash, log.root(v.checkpoint.tree_size));
            assert_eq!(
                b.entry, log.entries[i as usize],
                "a bundle verified a foreign entry"
            );
            if v.body.is_some() {
                assert_eq!(b.body.as_deref(), Some(&log.bodies[i as usize][..]));
                assert_eq!(b.salt, Some(log.salts[i as usize]));
            }
        }
    }

    // The honest bundle of a leaf.
    let mut input = Input::new(data);
    let n = 1 + input.below(TREE_LEAVES);
    let i = input.below(n);
    let with_body = input.u8() % 2 == 0;
    let b = ProofBundle {
        leaf_index: i,
        entry: log.entries[i as usize].clone(),
        body: with_body.then(|| log.bodies[i as usize].clone()),
        salt: with_body.then_some(log.salts[i as usize]),
        erased: None,
        inclusion_proof: log.inclusion(i, n),
        checkpoint: log.signed_checkpoint(n),
    };
    let printed = to_json_string(&b.to_json());
    let parsed = ProofBundle::parse(printed.as_bytes()).expect("an honest bundle parses");
    assert_eq!(parsed, b);
    let v = parsed.verify(&key).expect("an honest bundle verifies");
    assert_eq!(v.checkpoint.tree_size, n);
    assert_eq!(
        Ok(&v.header),
        decode_entry(&log.entries[i as usize]).as_ref()
    );
    if with_body {
        assert_eq!(
            v.body.as_ref(),
            decode_body(&log.bodies[i as usize]).ok().as_ref()
        );
    } else {
        assert!(v.body.is_none());
    }
}
