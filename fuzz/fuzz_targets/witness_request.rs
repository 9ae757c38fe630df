#![no_main]
// The add-checkpoint request, 409 and 200 body parsers never panic; a parsed request
// re-serializes to the same bytes; the witness's decision on any input is an answer, never
// a panic.
use llm_audit_trail::core::note::{Ed25519Signer, NoteVerifier};
use llm_audit_trail::core::witness::{
    decide, parse_add_checkpoint, parse_cosignatures, parse_size_body, parse_submission,
    serialize_add_checkpoint, LogRecord,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(req) = parse_add_checkpoint(data) {
        assert_eq!(serialize_add_checkpoint(&req), data);
    }
    let _ = parse_size_body(data);
    let _ = parse_cosignatures(data);
    if let Ok(sub) = parse_submission(data) {
        let log = Ed25519Signer::from_seed(&sub.checkpoint.origin, &[1; 32]);
        if let Ok(log) = log {
            let v = log.verifier();
            let trusted: [&dyn NoteVerifier; 1] = [&v];
            let _ = decide(&sub, Some(&trusted), &LogRecord::empty());
            let _ = decide(&sub, None, &LogRecord::empty());
        }
    }
});
