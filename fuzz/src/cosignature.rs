//! Witness cosignatures (`core::cosignature`, C2SP tlog-cosignature).
//!
//! - Verifier keys: the parser never panics, accepts only type 0x04 keys, and what it
//!   accepts prints back to the same key.
//! - Any cosignature that verifies under a fuzz witness key is the one that witness makes
//!   (no forgery), on a well-formed checkpoint, and reports the timestamp it carries.
//! - Completeness: a fresh cosignature on any checkpoint text the parser accepts verifies,
//!   at any timestamp up to `i64::MAX`, and not under another witness's key.

use llm_audit_trail::core::checkpoint::parse_checkpoint;
use llm_audit_trail::core::cosignature::{CosignatureVerifier, MAX_TIMESTAMP};
use llm_audit_trail::core::note::{open_note, parse_note, NoteVerifier, VerifierKey};

use super::common::{assert_cosignature, witnesses, Input};

/// Runs the checks on one input.
pub fn check(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(v) = CosignatureVerifier::from_vkey(s) {
            let k = VerifierKey::parse(s).expect("a cosigner key is a verifier key");
            assert_eq!(k.sig_type, 0x04);
            assert_eq!(
                CosignatureVerifier::from_vkey(&v.to_vkey()).as_ref(),
                Ok(&v)
            );
            assert_eq!(v.to_vkey(), k.to_vkey());
        }
    }

    let w = witnesses();
    let verifiers = [w[0].verifier(), w[1].verifier(), w[2].verifier()];
    let dyns: Vec<&dyn NoteVerifier> = verifiers.iter().map(|v| v as &dyn NoteVerifier).collect();
    if let Ok((note, verified)) = open_note(data, &dyns) {
        for sig in &verified {
            assert_cosignature(&note.text, sig);
        }
    }
    if let Ok(note) = parse_note(data) {
        for sig in &note.signatures {
            for v in &verifiers {
                if let Ok(ts) = v.verify_cosignature(&note.text, sig) {
                    assert_cosignature(&note.text, sig);
                    assert_eq!(ts.to_be_bytes(), sig.signature[..8]);
                }
            }
        }
        // Completeness on the parsed text, at a timestamp from the input.
        if parse_checkpoint(&note.text).is_ok() {
            let ts = Input::new(data).u64() % (MAX_TIMESTAMP + 1);
            let who = data.len() % 3;
            let sig = w[who]
                .sign(&note.text, ts)
                .expect("a checkpoint text cosigns");
            assert_eq!(verifiers[who].verify_cosignature(&note.text, &sig), Ok(ts));
            assert!(verifiers[(who + 1) % 3]
                .verify_cosignature(&note.text, &sig)
                .is_err());
            // A timestamp past i64::MAX is refused, on either side.
            assert!(w[who].sign(&note.text, MAX_TIMESTAMP + 1).is_err());
        }
    }
}
