//! The witness side of C2SP tlog-witness (`core::witness`).
//!
//! - Raw bytes: the `add-checkpoint`, 409 and 200 body parsers never panic, and whatever
//!   they accept serializes back to the same bytes; the witness's decision on any parsed
//!   submission is an answer, and one it accepts carries the log's genuine signature.
//! - Model check: a request built from fuzzed choices (record size and root, checkpoint
//!   size and root, honest or forked; old size; honest or edited consistency proof; log or
//!   foreign signature; known or unknown origin) gets exactly the status the spec's order of
//!   checks gives (404, 403, 400, 409, 422 or 200), and an accepted one the new record.

use std::sync::OnceLock;

use llm_audit_trail::core::checkpoint::{sign_checkpoint, Checkpoint};
use llm_audit_trail::core::note::{Ed25519Signer, NoteSigner, NoteVerifier};
use llm_audit_trail::core::witness::{
    decide, parse_add_checkpoint, parse_cosignatures, parse_size_body, parse_submission,
    serialize_add_checkpoint, serialize_cosignatures, serialize_size_body, AddCheckpointRequest,
    LogRecord,
};

use super::common::{
    assert_log_signature, edit_proof, honest, log_signer, Input, LOG_ORIGIN, TREE_LEAVES,
};

/// A key that has the log's name but not its key.
fn impostor() -> &'static Ed25519Signer {
    static S: OnceLock<Ed25519Signer> = OnceLock::new();
    S.get_or_init(|| Ed25519Signer::from_seed(LOG_ORIGIN, &[9; 32]).expect("valid name"))
}

/// Runs the checks on one input.
pub fn check(data: &[u8]) {
    let log = honest();
    let verifier = log_signer().verifier();
    let trusted: [&dyn NoteVerifier; 1] = [&verifier];

    if let Ok(req) = parse_add_checkpoint(data) {
        assert_eq!(serialize_add_checkpoint(&req), data);
    }
    if let Ok(size) = parse_size_body(data) {
        assert_eq!(serialize_size_body(size), data);
    }
    if let Ok(sigs) = parse_cosignatures(data) {
        assert_eq!(serialize_cosignatures(&sigs), data);
    }
    if let Ok(sub) = parse_submission(data) {
        let _ = decide(&sub, None, &LogRecord::empty());
        let m = sub.request.old_size.min(TREE_LEAVES);
        let record = LogRecord {
            size: m,
            root: log.root(m),
        };
        if let Ok(acc) = decide(&sub, Some(&trusted), &record) {
            let sig = acc
                .note
                .signatures
                .iter()
                .find(|s| s.name == *log_signer().name() && s.key_id == log_signer().key_id())
                .expect("an accepted checkpoint carries the log signature");
            assert_log_signature(&acc.note.text, sig);
            assert_eq!(acc.record.size, acc.checkpoint.tree_size);
        }
    }

    // The model.
    let mut input = Input::new(data);
    let m = input.below(TREE_LEAVES + 1);
    let record_root = if input.u8() % 4 == 0 {
        input.hash()
    } else {
        log.root(m)
    };
    let record = LogRecord {
        size: m,
        root: record_root,
    };
    let n = match input.u8() % 4 {
        0 => input.below(TREE_LEAVES + 1),
        _ => m + input.below(TREE_LEAVES + 1 - m),
    };
    let cp_root = if input.u8() % 4 == 0 {
        input.hash()
    } else {
        log.root(n)
    };
    let old_size = if input.u8() % 4 == 0 {
        input.below(TREE_LEAVES + 1)
    } else {
        m
    };
    let honest_proof = if 0 < old_size && old_size < n {
        log.consistency(old_size, n)
    } else {
        Vec::new()
    };
    let mut proof = honest_proof.clone();
    edit_proof(&mut proof, &mut input);
    proof.truncate(63);
    let cp = Checkpoint {
        origin: LOG_ORIGIN.into(),
        tree_size: n,
        root_hash: cp_root,
        extensions: Vec::new(),
    };
    let signed_by_log = input.u8() % 8 != 0;
    let checkpoint = if signed_by_log {
        sign_checkpoint(&cp, log_signer())
    } else {
        sign_checkpoint(&cp, impostor())
    }
    .expect("the checkpoint signs");
    let known_origin = input.u8() % 8 != 0;
    let body = serialize_add_checkpoint(&AddCheckpointRequest {
        old_size,
        proof: proof.clone(),
        checkpoint,
    });
    let sub = parse_submission(&body).expect("a well-formed request parses");
    let got = decide(&sub, known_origin.then_some(&trusted[..]), &record);

    let proof_ok = if old_size == n || old_size == 0 {
        proof.is_empty()
    } else {
        record.root == log.root(old_size) && cp_root == log.root(n) && proof == honest_proof
    };
    let want = if !known_origin {
        404
    } else if !signed_by_log {
        403
    } else if old_size > n {
        400
    } else if old_size != m {
        409
    } else if old_size == n && !proof.is_empty() {
        422
    } else if old_size == n && cp_root != record.root {
        409
    } else if !proof_ok {
        422
    } else {
        200
    };
    let status = match &got {
        Ok(_) => 200,
        Err(r) => r.status(),
    };
    assert_eq!(
        status, want,
        "record {m}, checkpoint {n}, old {old_size}: {got:?}"
    );
    if let Ok(acc) = got {
        assert_eq!(
            acc.record,
            LogRecord {
                size: n,
                root: cp_root
            }
        );
        assert_eq!(acc.checkpoint, cp);
    } else if let Err(r) = got {
        if status == 409 {
            assert_eq!(r.conflict_size(), Some(m));
        }
    }
}
