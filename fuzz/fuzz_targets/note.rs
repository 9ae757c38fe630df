#![no_main]
// Signed-note parser: never panics, and every accepted note re-serializes to the input.
use llm_audit_trail::core::note::{open_note, parse_note, Ed25519Signer};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(note) = parse_note(data) {
        assert_eq!(note.serialize(), data);
    }
    let signer = Ed25519Signer::from_seed("fuzz.example", &[1; 32]).unwrap();
    let _ = open_note(data, &[&signer.verifier()]);
});
