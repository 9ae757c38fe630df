#![no_main]
// Checkpoint parser: never panics, and every accepted text round-trips; opening a signed
// checkpoint never panics.
use llm_audit_trail::core::checkpoint::{open_checkpoint, parse_checkpoint};
use llm_audit_trail::core::note::Ed25519Signer;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cp) = parse_checkpoint(text) {
            assert_eq!(cp.to_text(), text);
        }
    }
    let signer = Ed25519Signer::from_seed("fuzz.example", &[1; 32]).unwrap();
    let _ = open_checkpoint(data, &signer.verifier());
});
