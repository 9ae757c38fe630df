#![no_main]
// Cosignature verification on arbitrary notes and signature bytes never panics, and
// arbitrary verifier keys never make the key parser panic.
use llm_audit_trail::core::cosignature::{CosignatureSigner, CosignatureVerifier};
use llm_audit_trail::core::note::{open_note, parse_note};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = CosignatureVerifier::from_vkey(s);
    }
    let w = CosignatureSigner::from_seed("witness.fuzz", &[2; 32]).unwrap();
    let v = w.verifier();
    let _ = open_note(data, &[&v]);
    if let Ok(note) = parse_note(data) {
        for sig in &note.signatures {
            let _ = v.verify_cosignature(&note.text, sig);
        }
    }
});
