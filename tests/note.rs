//! Signed notes (C2SP signed-note v1.0.0): golden vectors from Go's `sumdb/note` and the
//! spec, a table of bad notes, open/verify semantics, interop with Cloudflare's
//! `signed_note` crate, and property tests.

use llm_audit_trail::core::note::{
    key_id, open_note, parse_note, parse_signer_key, parse_verifier_key, sign_note, Ed25519Signer,
    Ed25519Verifier, KeyName, NoteError, NoteSignature, NoteSigner, NoteVerifier, VerifierKey,
    MAX_NOTE_SIGNATURES, MAX_NOTE_SIZE, SIG_TYPE_ED25519,
};
use proptest::prelude::*;

// The example of Go's golang.org/x/mod/sumdb/note package documentation.
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                          then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

// The verifier-key example of c2sp.org/signed-note.
const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

fn peter_note() -> String {
    format!("{PETER_TEXT}\n{PETER_SIG}")
}

fn seed(n: u8) -> [u8; 32] {
    [n; 32]
}

#[test]
fn peter_neumann_keys_round_trip_byte_for_byte() {
    let signer = parse_signer_key(PETER_SKEY).unwrap();
    assert_eq!(signer.to_signer_string(), PETER_SKEY);
    assert_eq!(signer.to_vkey(), PETER_VKEY);
    assert_eq!(signer.name().as_str(), "PeterNeumann");
    assert_eq!(signer.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
    let verifier = parse_verifier_key(PETER_VKEY).unwrap();
    assert_eq!(verifier.to_vkey(), PETER_VKEY);
    assert_eq!(verifier, signer.verifier());
    // key ID = SHA-256(name || 0x0A || 0x01 || pubkey)[:4]
    let name = KeyName::new("PeterNeumann").unwrap();
    assert_eq!(
        key_id(&name, SIG_TYPE_ED25519, &verifier.public_key()),
        verifier.key_id()
    );
}

#[test]
fn peter_neumann_signed_note_byte_for_byte() {
    let signer = parse_signer_key(PETER_SKEY).unwrap();
    let msg = sign_note(PETER_TEXT, &[&signer]).unwrap();
    assert_eq!(String::from_utf8(msg.clone()).unwrap(), peter_note());
    let verifier = parse_verifier_key(PETER_VKEY).unwrap();
    let (note, verified) = open_note(&msg, &[&verifier]).unwrap();
    assert_eq!(note.text, PETER_TEXT);
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].name.as_str(), "PeterNeumann");
    assert_eq!(note.serialize(), msg);
}

#[test]
fn go_doubly_signed_note_opens_with_either_key() {
    let msg = format!("{PETER_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let peter = parse_verifier_key(PETER_VKEY).unwrap();
    let enoch = parse_verifier_key(ENOCH_VKEY).unwrap();
    let (_, v) = open_note(msg.as_bytes(), &[&peter, &enoch]).unwrap();
    assert_eq!(v.len(), 2);
    // Each key alone: the other signature is from an unknown key and is ignored.
    let (note, v) = open_note(msg.as_bytes(), &[&enoch]).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].name.as_str(), "EnochRoot");
    assert_eq!(note.signatures.len(), 2);
    let (_, v) = open_note(msg.as_bytes(), &[&peter]).unwrap();
    assert_eq!(v[0].name.as_str(), "PeterNeumann");
}

#[test]
fn spec_verifier_key_example_verifies() {
    let v = parse_verifier_key(SPEC_VKEY).unwrap();
    assert_eq!(v.to_vkey(), SPEC_VKEY);
    let (note, verified) = open_note(SPEC_NOTE.as_bytes(), &[&v]).unwrap();
    assert_eq!(note.text, "This is an example message.\n");
    assert_eq!(verified.len(), 1);
}

#[test]
fn spec_format_example_parses() {
    // c2sp.org/signed-note's opening example: the text holds a blank line of its own.
    let msg = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u{e8} subito sera.\n\n\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    let note = parse_note(msg.as_bytes()).unwrap();
    assert_eq!(
        note.text,
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u{e8} subito sera.\n"
    );
    assert_eq!(note.signatures.len(), 1);
    assert_eq!(note.signatures[0].signature.len(), 64);
    assert_eq!(note.serialize(), msg.as_bytes());
}

#[test]
fn mangled_verifier_keys_are_rejected() {
    // Go sumdb/note TestNewVerifier: every proper substring and every single-byte
    // increment of the key is refused.
    let b = PETER_VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i == 0 && j == b.len() {
                continue;
            }
            let k = std::str::from_utf8(&b[i..j]).unwrap();
            assert!(parse_verifier_key(k).is_err(), "accepted {k:?}");
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] += 1;
        let k = String::from_utf8(m).unwrap();
        assert!(parse_verifier_key(&k).is_err(), "accepted {k:?}");
    }
    // Wrong length key, with adjusted key ID.
    assert!(matches!(
        parse_verifier_key(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        ),
        Err(NoteError::BadVerifierKey { .. })
    ));
    // Unknown algorithm, with adjusted key ID.
    assert!(matches!(
        parse_verifier_key("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(NoteError::WrongKeyType { got: 0x65, .. })
    ));
    // Upper-case hex key IDs are accepted (Go's ParseUint is case-insensitive).
    assert!(parse_verifier_key(&PETER_VKEY.replace("c74f20a3", "C74F20A3")).is_ok());
    // A generic vkey of another type still parses as a VerifierKey.
    let k =
        VerifierKey::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .unwrap();
    assert_eq!(k.sig_type, 0x65);
}

#[test]
fn mangled_signer_keys_are_rejected() {
    // Go sumdb/note TestNewSigner.
    let b = PETER_SKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i == 0 && j == b.len() {
                continue;
            }
            let k = std::str::from_utf8(&b[i..j]).unwrap();
            assert!(parse_signer_key(k).is_err(), "accepted {k:?}");
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] += 1;
        let k = String::from_utf8(m).unwrap();
        assert!(parse_signer_key(&k).is_err(), "accepted {k:?}");
    }
}

#[test]
fn signer_errors_and_debug_never_show_the_secret() {
    let signer = parse_signer_key(PETER_SKEY).unwrap();
    let secret_b64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    let dbg = format!("{signer:?}");
    assert!(dbg.contains("PeterNeumann"));
    assert!(!dbg.contains(secret_b64));
    // The seed in hex: 810a0052d5146c8d84f2443330f5408...
    assert!(!dbg.contains("810a00"));
    let mut bad = PETER_SKEY.to_owned();
    bad.pop();
    let err = parse_signer_key(&bad).unwrap_err();
    assert!(!err.to_string().contains(&secret_b64[..20]));
    assert!(!format!("{err:?}").contains(&secret_b64[..20]));
}

#[test]
fn key_names_are_validated() {
    for good in [
        "a",
        "example.com/log42",
        "PeterNeumann",
        "oid/1.3.6.1",
        "caf\u{e9}",
    ] {
        assert!(KeyName::new(good).is_ok(), "{good:?}");
    }
    for bad in [
        "",           // empty
        "a+b",        // plus
        "a b",        // ASCII space
        "a\tb",       // tab
        "a\u{a0}b",   // no-break space (Unicode White_Space)
        "a\u{2003}b", // em space
        "a\u{3000}b", // ideographic space
        "a\u{85}b",   // next line (Unicode White_Space)
        "a\u{1}b",    // control character
    ] {
        assert!(
            matches!(KeyName::new(bad), Err(NoteError::InvalidKeyName { .. })),
            "{bad:?}"
        );
    }
    assert!(KeyName::new(&"x".repeat(512)).is_ok());
    assert!(KeyName::new(&"x".repeat(513)).is_err());
}

fn sig_line(name: &str, n_bytes: usize) -> String {
    use base64::Engine as _;
    let blob = vec![0xabu8; n_bytes];
    format!(
        "\u{2014} {name} {}\n",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

/// A bad case: what it is, the input, and a check of the error.
type Case = (&'static str, Vec<u8>, fn(&NoteError) -> bool);

#[test]
fn bad_notes_table() {
    let good_sig = sig_line("a", 68);
    let many = |n: usize| format!("text\n\n{}", good_sig.repeat(n));
    let cases: Vec<Case> = vec![
        // CRLF line endings: CR is a control character.
        (
            "crlf",
            format!("text\r\n\r\n{}", good_sig.replace('\n', "\r\n")).into_bytes(),
            |e| {
                matches!(
                    e,
                    NoteError::ControlCharacter {
                        byte: 0x0d,
                        offset: 4
                    }
                )
            },
        ),
        // No blank line between text and signatures.
        (
            "missing blank line",
            format!("text\n{good_sig}").into_bytes(),
            |e| matches!(e, NoteError::MissingBlankLine),
        ),
        // Empty input has no blank line either.
        ("empty", Vec::new(), |e| {
            matches!(e, NoteError::MissingBlankLine)
        }),
        // The last signature line lacks its newline.
        (
            "missing final newline",
            format!("text\n\n{}", good_sig.trim_end()).into_bytes(),
            |e| matches!(e, NoteError::MissingFinalNewline),
        ),
        // Text and blank line but no signature at all.
        ("no signatures", b"text\n\n".to_vec(), |e| {
            matches!(e, NoteError::MissingFinalNewline)
        }),
        // One more signature than MAX_NOTE_SIGNATURES.
        (
            "101 signatures",
            many(MAX_NOTE_SIGNATURES + 1).into_bytes(),
            |e| matches!(e, NoteError::TooManySignatures { max: 100 }),
        ),
        // Characters outside the base64 alphabet.
        ("bad base64", "text\n\n\u{2014} a AAAA!AAA\n".into(), |e| {
            matches!(e, NoteError::BadBase64 { line: 1 })
        }),
        // Unpadded base64 (Go's StdEncoding requires padding).
        (
            "unpadded base64",
            "text\n\n\u{2014} a AAAAAAA\n".into(),
            |e| matches!(e, NoteError::BadBase64 { .. }),
        ),
        // Non-canonical base64: the padding hides non-zero trailing bits.
        (
            "non-canonical base64",
            "text\n\n\u{2014} a AAAAAAB=\n".into(),
            |e| matches!(e, NoteError::BadBase64 { .. }),
        ),
        // A second space inside the base64.
        (
            "space in base64",
            "text\n\n\u{2014} a AAAA AAAA\n".into(),
            |e| matches!(e, NoteError::BadBase64 { .. }),
        ),
        // Signature of 4 bytes: a key ID and nothing signed.
        (
            "4-byte signature",
            format!("text\n\n{}", sig_line("a", 4)).into_bytes(),
            |e| matches!(e, NoteError::SignatureTooShort { len: 4, .. }),
        ),
        // A tab in the text.
        ("tab", format!("te\txt\n\n{good_sig}").into_bytes(), |e| {
            matches!(e, NoteError::ControlCharacter { byte: 0x09, .. })
        }),
        // A NUL byte in the text.
        ("nul", format!("te\0xt\n\n{good_sig}").into_bytes(), |e| {
            matches!(e, NoteError::ControlCharacter { byte: 0, .. })
        }),
        // An escape character in a signature line.
        (
            "escape",
            format!("text\n\n\u{2014} a\x1b {}", &good_sig[6..]).into_bytes(),
            |e| matches!(e, NoteError::ControlCharacter { byte: 0x1b, .. }),
        ),
        // Invalid UTF-8 (a lone continuation byte).
        (
            "not utf-8",
            [b"te".as_slice(), &[0x80], b"xt\n\n", good_sig.as_bytes()].concat(),
            |e| matches!(e, NoteError::NotUtf8 { offset: 2 }),
        ),
        // Invalid UTF-8: an overlong encoding of '/'.
        (
            "overlong utf-8",
            [b"t".as_slice(), &[0xc0, 0xaf], b"\n\n", good_sig.as_bytes()].concat(),
            |e| matches!(e, NoteError::NotUtf8 { offset: 1 }),
        ),
        // An ASCII hyphen instead of the em dash.
        (
            "hyphen prefix",
            format!("text\n\n- a {}", &good_sig[6..]).into_bytes(),
            |e| matches!(e, NoteError::BadSignaturePrefix { line: 1 }),
        ),
        // The em dash without its space.
        (
            "no space after dash",
            format!("text\n\n\u{2014}a {}", &good_sig[6..]).into_bytes(),
            |e| matches!(e, NoteError::BadSignaturePrefix { .. }),
        ),
        // Key name holding a plus.
        (
            "plus in name",
            format!("text\n\n{}", sig_line("a+b", 68)).into_bytes(),
            |e| matches!(e, NoteError::InvalidKeyName { .. }),
        ),
        // Key name holding a no-break space.
        (
            "nbsp in name",
            format!("text\n\n{}", sig_line("a\u{a0}b", 68)).into_bytes(),
            |e| matches!(e, NoteError::InvalidKeyName { .. }),
        ),
        // Empty key name (two spaces after the dash).
        (
            "empty name",
            format!("text\n\n{}", sig_line("", 68)).into_bytes(),
            |e| matches!(e, NoteError::InvalidKeyName { .. }),
        ),
        // Name but no signature.
        ("name only", "text\n\n\u{2014} a\n".into(), |e| {
            matches!(e, NoteError::MissingSignature { line: 1 })
        }),
        // Name, space, nothing.
        ("empty signature", "text\n\n\u{2014} a \n".into(), |e| {
            matches!(e, NoteError::MissingSignature { line: 1 })
        }),
        // The second signature line is bad: its number is reported.
        (
            "bad second line",
            format!("text\n\n{good_sig}junk\n").into_bytes(),
            |e| matches!(e, NoteError::BadSignaturePrefix { line: 2 }),
        ),
        // Larger than MAX_NOTE_SIZE, rejected before decoding.
        (
            "too large",
            format!("{}\n\n{good_sig}", "x".repeat(MAX_NOTE_SIZE)).into_bytes(),
            |e| matches!(e, NoteError::TooLarge { .. }),
        ),
        // A signature line longer than MAX_SIGNATURE_LINE_LEN.
        (
            "long signature line",
            format!("text\n\n{}", sig_line("a", 7000)).into_bytes(),
            |e| matches!(e, NoteError::SignatureLineTooLong { .. }),
        ),
    ];
    for (what, input, check) in cases {
        match parse_note(&input) {
            Ok(n) => panic!("{what}: accepted as {n:?}"),
            Err(e) => assert!(check(&e), "{what}: wrong error {e:?}"),
        }
        // Cloudflare's signed_note rejects these too (it does not bound line length).
        if what != "long signature line" {
            assert!(
                signed_note::Note::from_bytes(&input).is_err(),
                "{what}: signed_note accepted it"
            );
        }
    }
    // The bounds themselves are accepted.
    assert_eq!(
        parse_note(many(MAX_NOTE_SIGNATURES).as_bytes())
            .unwrap()
            .signatures
            .len(),
        100
    );
}

#[test]
fn only_the_last_blank_line_separates() {
    // A blank line inside the signature block turns the lines above it into text.
    let msg = format!("text\n\n{PETER_SIG}\n{ENOCH_SIG}");
    let note = parse_note(msg.as_bytes()).unwrap();
    assert_eq!(note.text, format!("text\n\n{PETER_SIG}"));
    assert_eq!(note.signatures.len(), 1);
}

#[test]
fn open_note_semantics() {
    let a = Ed25519Signer::from_seed("a.example/log", &seed(1)).unwrap();
    let b = Ed25519Signer::from_seed("b.example/log", &seed(2)).unwrap();
    let text = "hello\n";
    let msg = sign_note(text, &[&a, &b]).unwrap();
    let va = a.verifier();

    // A known key and an unknown one: the unknown signature is ignored.
    let (note, v) = open_note(&msg, &[&va]).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(note.signatures.len(), 2);

    // No known key at all.
    assert_eq!(open_note(&msg, &[]), Err(NoteError::NoVerifiedSignature));

    // Same name, different key (so different ID): ignored, not an error.
    let a_other = Ed25519Signer::from_seed("a.example/log", &seed(9)).unwrap();
    assert_eq!(
        open_note(&msg, &[&a_other.verifier()]),
        Err(NoteError::NoVerifiedSignature)
    );

    // A bad signature from a known key rejects the whole note, naming the key.
    let mut note = parse_note(&msg).unwrap();
    note.signatures[0].signature[10] ^= 1;
    assert_eq!(
        open_note(&note.serialize(), &[&va, &b.verifier()]),
        Err(NoteError::InvalidSignature {
            name: "a.example/log".into(),
            key_id: a.key_id()
        })
    );
    // ... even when another known key signed correctly.
    let mut note = parse_note(&msg).unwrap();
    note.signatures[1].signature.pop();
    assert!(matches!(
        open_note(&note.serialize(), &[&va, &b.verifier()]),
        Err(NoteError::InvalidSignature { .. })
    ));

    // A signature over other text.
    let mut note = parse_note(&msg).unwrap();
    note.text = "hellO\n".into();
    assert!(matches!(
        open_note(&note.serialize(), &[&va]),
        Err(NoteError::InvalidSignature { .. })
    ));

    // Two verifiers with one name and key ID: ambiguous.
    assert!(matches!(
        open_note(&msg, &[&va, &a.verifier()]),
        Err(NoteError::AmbiguousKey { .. })
    ));

    // A repeated signature is verified but counted once.
    let mut note = parse_note(&msg).unwrap();
    note.signatures.push(note.signatures[0].clone());
    let (_, v) = open_note(&note.serialize(), &[&va]).unwrap();
    assert_eq!(v.len(), 1);
}

#[test]
fn sign_note_rejects_bad_text() {
    let a = Ed25519Signer::from_seed("a", &seed(1)).unwrap();
    assert_eq!(
        sign_note("no newline", &[&a]),
        Err(NoteError::MissingFinalNewline)
    );
    assert!(matches!(
        sign_note("cr\r\n", &[&a]),
        Err(NoteError::ControlCharacter { byte: 0x0d, .. })
    ));
    assert_eq!(sign_note("ok\n", &[]), Err(NoteError::NoSigners));
    assert!(Ed25519Signer::from_seed("bad name", &seed(1)).is_err());
}

#[test]
fn signer_string_round_trips_for_fresh_keys() {
    for n in 0..8u8 {
        let s = Ed25519Signer::from_seed("x.example/k", &seed(n)).unwrap();
        let back = parse_signer_key(&s.to_signer_string()).unwrap();
        assert_eq!(back.to_vkey(), s.to_vkey());
        assert_eq!(
            parse_verifier_key(&s.to_vkey()).unwrap(),
            s.verifier(),
            "seed {n}"
        );
        let v = Ed25519Verifier::new(
            KeyName::new("x.example/k").unwrap(),
            &s.verifier().public_key(),
        )
        .unwrap();
        assert_eq!(v, s.verifier());
    }
}

#[test]
fn small_order_public_keys_are_refused() {
    // The identity point (y = 1) is a valid encoding but of order 1.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert!(Ed25519Verifier::new(KeyName::new("a").unwrap(), &identity).is_err());
}

// ---- interop with Cloudflare's signed_note 0.2 ----

#[test]
fn notes_we_sign_are_accepted_by_signed_note() {
    for n in 0..4u8 {
        let ours = Ed25519Signer::from_seed("log.example/interop", &seed(n)).unwrap();
        let text = format!("line one\n\nline {n}\n");
        let msg = sign_note(&text, &[&ours]).unwrap();
        let theirs = signed_note::StandardVerifier::new(&ours.to_vkey()).unwrap();
        let note = signed_note::Note::from_bytes(&msg).unwrap();
        let list = signed_note::VerifierList::new(vec![Box::new(theirs)]);
        let (verified, unverified) = note.verify(&list).unwrap();
        assert_eq!((verified.len(), unverified.len()), (1, 0));
        assert_eq!(note.to_bytes(), msg);
        // Their signer key parser accepts our signer string.
        let their_signer = signed_note::StandardSigner::new(&ours.to_signer_string()).unwrap();
        use signed_note::Signer as _;
        assert_eq!(their_signer.key_id().to_be_bytes(), ours.key_id());
    }
}

#[test]
fn notes_signed_by_signed_note_are_accepted_by_us() {
    for n in 0..4u8 {
        let ours = Ed25519Signer::from_seed("log.example/interop", &seed(n)).unwrap();
        let theirs = signed_note::StandardSigner::new(&ours.to_signer_string()).unwrap();
        let text = format!("some checkpoint-like text\n{n}\n");
        let mut note = signed_note::Note::new(text.as_bytes(), &[]).unwrap();
        note.add_sigs(&[&theirs]).unwrap();
        let msg = note.to_bytes();
        let v = parse_verifier_key(&ours.to_vkey()).unwrap();
        let (parsed, verified) = open_note(&msg, &[&v]).unwrap();
        assert_eq!(parsed.text, text);
        assert_eq!(verified.len(), 1);
        // Ed25519 is deterministic: both produce the same bytes.
        assert_eq!(msg, sign_note(&text, &[&ours]).unwrap());
    }
}

// ---- property tests ----

fn key_name() -> impl Strategy<Value = KeyName> {
    "[a-zA-Z0-9./_\u{e9}\u{4e16}-]{1,24}".prop_map(|s| KeyName::new(&s).unwrap())
}

fn note_text() -> impl Strategy<Value = String> {
    // Lines (possibly empty) of printable text, each ending in a newline.
    prop::collection::vec("[ -~\u{e8}\u{2014}\u{1f600}]{0,30}", 1..6)
        .prop_map(|lines| lines.iter().map(|l| format!("{l}\n")).collect())
}

fn note_signature() -> impl Strategy<Value = NoteSignature> {
    (
        key_name(),
        any::<[u8; 4]>(),
        prop::collection::vec(any::<u8>(), 1..100),
    )
        .prop_map(|(name, key_id, signature)| NoteSignature {
            name,
            key_id,
            signature,
        })
}

proptest! {
    #[test]
    fn note_serialization_round_trips(
        text in note_text(),
        signatures in prop::collection::vec(note_signature(), 1..6),
    ) {
        let note = llm_audit_trail::core::note::Note { text, signatures };
        let bytes = note.serialize();
        prop_assert_eq!(parse_note(&bytes).unwrap(), note);
    }

    #[test]
    fn accepted_notes_reserialize_identically(data in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(note) = parse_note(&data) {
            prop_assert_eq!(note.serialize(), data);
        }
    }

    #[test]
    fn mutated_signed_notes_never_panic_and_never_verify_changed_text(
        seed_byte in any::<u8>(),
        text in note_text(),
        pos in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let s = Ed25519Signer::from_seed("m.example", &[seed_byte; 32]).unwrap();
        let msg = sign_note(&text, &[&s]).unwrap();
        let mut bad = msg.clone();
        let i = pos.index(bad.len());
        bad[i] ^= xor;
        // Any change to a signed note (text, separator, name, key ID, signature or
        // encoding) makes it fail to open.
        prop_assert!(open_note(&bad, &[&s.verifier()]).is_err());
    }
}
