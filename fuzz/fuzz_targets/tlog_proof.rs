#![no_main]
// tlog-proof parser: never panics, every accepted file re-serializes to the input, and
// verification of an accepted file never panics.
use llm_audit_trail::core::hash::Hash;
use llm_audit_trail::core::note::Ed25519Signer;
use llm_audit_trail::core::tlog_proof::TlogProof;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(p) = TlogProof::parse(data) {
        assert_eq!(p.serialize(), data);
        let signer = Ed25519Signer::from_seed("fuzz.example", &[1; 32]).unwrap();
        let _ = p.verify(&Hash([0; 32]), &signer.verifier());
    }
});
