//! Signed notes (`core::note`, C2SP signed-note).
//!
//! - The parser never panics, and every accepted note serializes back to exactly its bytes
//!   (the format has one spelling: canonical base64, one blank line, `— ` lines).
//! - `open_note` with the fuzz log and witness keys: whatever it accepts carries only the
//!   signatures those keys really made (no forgery), every known-key signature in it is
//!   valid (a bad one must reject the note), and it reports each key once.
//! - Completeness: any text the parser accepts can be signed, and the signed note opens.
//! - The key parsers never panic, and what they accept prints back to the same key.

use llm_audit_trail::core::note::{
    open_note, parse_note, parse_signer_key, parse_verifier_key, sign_note, NoteSignature,
    NoteVerifier, VerifierKey, SIGNATURE_LINE_PREFIX,
};

use super::common::{assert_cosignature, assert_log_signature, log_signer, witnesses, LOG_ORIGIN};

/// Runs the checks on one input.
pub fn check(data: &[u8]) {
    let parsed = parse_note(data);
    if let Ok(note) = &parsed {
        assert_eq!(
            note.serialize(),
            data,
            "an accepted note re-serializes to itself"
        );
        for (i, sig) in note.signatures.iter().enumerate() {
            let line = sig.to_line();
            let line = line.strip_suffix('\n').expect("lines end in a newline");
            assert!(line.starts_with(SIGNATURE_LINE_PREFIX));
            assert_eq!(NoteSignature::parse_line(line, i + 1).as_ref(), Ok(sig));
        }
    }

    let log = log_signer().verifier();
    let w = witnesses();
    let cosigners = [w[0].verifier(), w[1].verifier(), w[2].verifier()];
    let mut verifiers: Vec<&dyn NoteVerifier> = vec![&log];
    verifiers.extend(cosigners.iter().map(|c| c as &dyn NoteVerifier));
    match open_note(data, &verifiers) {
        Ok((note, verified)) => {
            assert_eq!(
                Ok(&note),
                parsed.as_ref(),
                "open_note parses like parse_note"
            );
            assert!(!verified.is_empty());
            // Every signature from a known key is genuine, not only the first.
            for sig in &note.signatures {
                let known = verifiers
                    .iter()
                    .any(|v| v.name() == &sig.name && v.key_id() == sig.key_id);
                if !known {
                    continue;
                }
                if sig.name.as_str() == LOG_ORIGIN {
                    assert_log_signature(&note.text, sig);
                } else {
                    assert_cosignature(&note.text, sig);
                }
            }
            for (i, a) in verified.iter().enumerate() {
                assert!(note.signatures.contains(a));
                for b in &verified[i + 1..] {
                    assert!(
                        a.name != b.name || a.key_id != b.key_id,
                        "a key reported twice"
                    );
                }
            }
        }
        Err(_) => {
            // Only rejections are left to check: a note made of well-formed lines whose
            // known-key signatures are all genuine and that has one must open.
            if let Ok(note) = &parsed {
                let all_genuine_known = note.signatures.iter().all(|sig| {
                    let known = verifiers
                        .iter()
                        .any(|v| v.name() == &sig.name && v.key_id() == sig.key_id);
                    !known
                        || (sig.name.as_str() == LOG_ORIGIN
                            && log_signer().sign_line(&note.text) == *sig)
                });
                let has_log_sig = note
                    .signatures
                    .iter()
                    .any(|s| s.name.as_str() == LOG_ORIGIN && s.key_id == log.key_id());
                assert!(
                    !(all_genuine_known && has_log_sig),
                    "a note whose only known signature is genuine was rejected"
                );
            }
        }
    }

    // Completeness: the text of any accepted note can be signed and opened again.
    if let Ok(note) = &parsed {
        let signed = sign_note(&note.text, &[log_signer()]).expect("an accepted text signs");
        let (opened, verified) = open_note(&signed, &[&log]).expect("a fresh signature opens");
        assert_eq!(opened.text, note.text);
        assert_eq!(verified.len(), 1);
    }

    // Key strings: never a panic; accepted keys print back to the same key.
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(k) = VerifierKey::parse(s) {
            let printed = k.to_vkey();
            assert_same_key(&printed, s);
            assert_eq!(VerifierKey::parse(&printed).as_ref(), Ok(&k));
        }
        if let Ok(v) = parse_verifier_key(s) {
            assert_same_key(&v.to_vkey(), s);
        }
        if let Ok(signer) = parse_signer_key(s) {
            let printed = signer.to_signer_string();
            let strip = |k: &str| k.strip_prefix("PRIVATE+KEY+").map(str::to_owned);
            assert_same_key(
                &strip(&printed).expect("prefix"),
                &strip(s).expect("an accepted signer key has the prefix"),
            );
        }
    }
}

/// Asserts that two `name+hex8(keyID)+base64(key)` strings are the same key, spelled the
/// same way but for the case of the key ID's hex digits (the parser accepts either case).
fn assert_same_key(printed: &str, input: &str) {
    let split = |k: &str| -> (String, String, String) {
        let mut parts = k.splitn(3, '+');
        let mut next = || parts.next().unwrap_or_default().to_string();
        (next(), next(), next())
    };
    let (pn, pid, pkey) = split(printed);
    let (n, id, key) = split(input);
    assert_eq!(pn, n);
    assert!(pid.eq_ignore_ascii_case(&id));
    assert_eq!(pkey, key, "the key's base64 is canonical");
}

/// The signature line the fuzz log key makes on a text.
trait SignLine {
    fn sign_line(&self, text: &str) -> NoteSignature;
}

impl SignLine for llm_audit_trail::core::note::Ed25519Signer {
    fn sign_line(&self, text: &str) -> NoteSignature {
        use llm_audit_trail::core::note::NoteSigner;
        NoteSignature {
            name: self.name().clone(),
            key_id: self.key_id(),
            signature: self.sign(text.as_bytes()).expect("signing never fails"),
        }
    }
}
