//! Checkpoints (`core::checkpoint`, C2SP tlog-checkpoint).
//!
//! - The text parser never panics; what it accepts prints back to exactly the same text.
//! - Model check: a checkpoint built from fuzzed fields parses back to itself exactly when
//!   its fields obey the spec's rules (non-empty origin of at most 512 bytes, at most 16
//!   non-empty extension lines, no control character, no newline inside a field).
//! - `open_checkpoint` under the fuzz log key accepts only the log's real signature on an
//!   honest tree head, and any text the parser accepts, once signed by a key named after its
//!   origin, opens to the same checkpoint.

use llm_audit_trail::core::checkpoint::{
    open_checkpoint, parse_checkpoint, sign_checkpoint, Checkpoint, MAX_CHECKPOINT_TEXT_SIZE,
    MAX_EXTENSION_LINES, MAX_ORIGIN_LEN,
};
use llm_audit_trail::core::note::{Ed25519Signer, NoteSigner};

use super::common::{assert_log_signature, honest, log_signer, Input, TREE_LEAVES};

/// Whether a field is a valid checkpoint line (no control character, no newline).
fn clean(s: &str) -> bool {
    !s.bytes().any(|b| b < 0x20)
}

/// Runs the checks on one input.
pub fn check(data: &[u8]) {
    let text = std::str::from_utf8(data).ok();
    if let Some(text) = text {
        if let Ok(cp) = parse_checkpoint(text) {
            assert_eq!(
                cp.to_text(),
                text,
                "an accepted checkpoint prints back to itself"
            );
            // Completeness: signed by a key named after its origin, it opens.
            if let Ok(signer) = Ed25519Signer::from_seed(&cp.origin, &[7; 32]) {
                let signed = sign_checkpoint(&cp, &signer).expect("a parsed checkpoint signs");
                let opened = open_checkpoint(&signed, &signer.verifier()).expect("it opens");
                assert_eq!(opened.checkpoint, cp);
            }
        }
    }

    // Soundness under the fuzz log key.
    if let Ok(signed) = open_checkpoint(data, &log_signer().verifier()) {
        let cp = &signed.checkpoint;
        let sig = signed
            .note
            .signatures
            .iter()
            .find(|s| s.name == *log_signer().name() && s.key_id == log_signer().key_id())
            .expect("an opened checkpoint carries the log signature");
        assert_log_signature(&signed.note.text, sig);
        // The fuzz log only signs honest tree heads.
        assert!(cp.tree_size <= TREE_LEAVES);
        assert_eq!(cp.root_hash, honest().root(cp.tree_size));
        assert_eq!(cp.to_text(), signed.note.text);
    }

    // Model check of the field rules on a checkpoint built from the input.
    let mut input = Input::new(data);
    let origin_len = usize::from(input.u16() % 600);
    let origin = String::from_utf8_lossy(input.bytes(origin_len)).into_owned();
    let tree_size = input.u64();
    let root_hash = input.hash();
    let n_ext = usize::from(input.u8() % 20);
    let extensions: Vec<String> = (0..n_ext)
        .map(|_| {
            let len = usize::from(input.u8() % 40);
            String::from_utf8_lossy(input.bytes(len)).into_owned()
        })
        .collect();
    let cp = Checkpoint {
        origin,
        tree_size,
        root_hash,
        extensions,
    };
    let text = cp.to_text();
    let valid = !cp.origin.is_empty()
        && cp.origin.len() <= MAX_ORIGIN_LEN
        && clean(&cp.origin)
        && cp.extensions.len() <= MAX_EXTENSION_LINES
        && cp.extensions.iter().all(|e| !e.is_empty() && clean(e))
        && text.len() <= MAX_CHECKPOINT_TEXT_SIZE;
    // Valid fields: the text parses back to them. Invalid ones: the text is rejected, or
    // (a newline inside a field) reads as some other checkpoint, never as this one.
    let parsed = parse_checkpoint(&text);
    if valid {
        assert_eq!(parsed.as_ref(), Ok(&cp), "valid fields round-trip");
    } else {
        assert_ne!(
            parsed.as_ref(),
            Ok(&cp),
            "invalid fields round-tripped: {cp:?}"
        );
    }
    // Signing applies the same rules, and requires the key name to be the origin.
    let signed = sign_checkpoint(&cp, log_signer());
    assert_eq!(
        signed.is_ok(),
        valid && cp.origin == log_signer().name().as_str()
    );
}
