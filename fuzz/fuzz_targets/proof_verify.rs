#![no_main]
// Proof verification on untrusted input never panics, and a fuzzed proof never proves a leaf
// or a consistency the small honest tree below does not contain.
use llm_audit_trail::core::hash::{leaf_hash, Hash};
use llm_audit_trail::core::merkle::MemoryHashStore;
use llm_audit_trail::core::proof::{verify_consistency, verify_inclusion};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let a = u64::from_be_bytes(data[..8].try_into().unwrap());
    let b = u64::from_be_bytes(data[8..16].try_into().unwrap());
    let proof: Vec<Hash> = data[16..]
        .chunks_exact(32)
        .take(70)
        .map(|c| Hash::from_slice(c).unwrap())
        .collect();
    // Arbitrary sizes and roots: must not panic.
    let r = Hash([0x11; 32]);
    let _ = verify_inclusion(a, b, &r, &proof, &r);
    let _ = verify_consistency(a, b, &r, &r, &proof);

    // A real tree of up to 64 leaves: a leaf that is not in it never verifies.
    let n = 1 + b % 64;
    let mut s = MemoryHashStore::new();
    for i in 0..n {
        s.push_leaf(leaf_hash(&i.to_be_bytes()));
    }
    let foreign = leaf_hash(b"not in the tree");
    assert!(verify_inclusion(a % n, n, &foreign, &proof, &s.root()).is_err());
});
