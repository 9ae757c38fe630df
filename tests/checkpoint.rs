//! Checkpoints (C2SP tlog-checkpoint v1.0.0): the spec example, a table of bad
//! checkpoints, signing and opening with the log key, and property tests.

use llm_audit_trail::core::checkpoint::{
    open_checkpoint, parse_checkpoint, sign_checkpoint, Checkpoint, CheckpointError,
    MAX_EXTENSION_LINES,
};
use llm_audit_trail::core::hash::Hash;
use llm_audit_trail::core::note::{
    open_note, parse_note, sign_note, Ed25519Signer, NoteError, NoteSigner,
};
use proptest::prelude::*;

// The example of c2sp.org/tlog-checkpoint.
const SPEC_TEXT: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const SPEC_SIGNED: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

const ROOT_B64: &str = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";

fn log_signer(origin: &str) -> Ed25519Signer {
    Ed25519Signer::from_seed(origin, &[42; 32]).unwrap()
}

#[test]
fn spec_example_parses_and_round_trips() {
    let cp = parse_checkpoint(SPEC_TEXT).unwrap();
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.tree_size, 20852163);
    assert_eq!(
        cp.root_hash.to_hex(),
        "0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62"
    );
    assert!(cp.extensions.is_empty());
    assert_eq!(cp.to_text(), SPEC_TEXT);
    // The signed example is a well-formed note whose text is the checkpoint.
    let note = parse_note(SPEC_SIGNED.as_bytes()).unwrap();
    assert_eq!(note.text, SPEC_TEXT);
    assert_eq!(note.signatures[0].key_id, [0x03, 0x3d, 0xe0, 0xae]);
    assert_eq!(note.serialize(), SPEC_SIGNED.as_bytes());
}

#[test]
fn good_checkpoints() {
    let cases = [
        // The empty tree.
        format!("o\n0\n{ROOT_B64}\n"),
        // The largest tree size.
        format!("o\n18446744073709551615\n{ROOT_B64}\n"),
        // Extension lines, opaque (spaces, non-ASCII, a plus).
        format!("o\n1\n{ROOT_B64}\next one\n\u{e9}+x\n"),
        // An origin with spaces and a plus: allowed (only a recommendation).
        format!("my log + more\n1\n{ROOT_B64}\n"),
    ];
    for text in &cases {
        let cp = parse_checkpoint(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(&cp.to_text(), text);
    }
    assert_eq!(parse_checkpoint(&cases[1]).unwrap().tree_size, u64::MAX);
}

/// A bad case: what it is, the input, and a check of the error.
type Case = (&'static str, String, fn(&CheckpointError) -> bool);

#[test]
fn bad_checkpoints_table() {
    let r = ROOT_B64;
    let cases: Vec<Case> = vec![
        // Leading zero in the tree size.
        ("leading zero", format!("o\n020852163\n{r}\n"), |e| {
            matches!(
                e,
                CheckpointError::BadTreeSize {
                    reason: "leading zero",
                    ..
                }
            )
        }),
        // "00" is not the canonical zero.
        ("double zero", format!("o\n00\n{r}\n"), |e| {
            matches!(
                e,
                CheckpointError::BadTreeSize {
                    reason: "leading zero",
                    ..
                }
            )
        }),
        // A plus sign.
        ("plus sign", format!("o\n+5\n{r}\n"), |e| {
            matches!(e, CheckpointError::BadTreeSize { .. })
        }),
        // A minus sign.
        ("minus sign", format!("o\n-5\n{r}\n"), |e| {
            matches!(e, CheckpointError::BadTreeSize { .. })
        }),
        // Surrounding space.
        ("space", format!("o\n 5\n{r}\n"), |e| {
            matches!(e, CheckpointError::BadTreeSize { .. })
        }),
        // Hexadecimal.
        ("hex", format!("o\n0x10\n{r}\n"), |e| {
            matches!(e, CheckpointError::BadTreeSize { .. })
        }),
        // Non-ASCII digits (Arabic-Indic five).
        ("unicode digit", format!("o\n\u{665}\n{r}\n"), |e| {
            matches!(e, CheckpointError::BadTreeSize { .. })
        }),
        // 2^64: one more than u64::MAX.
        ("overflow", format!("o\n18446744073709551616\n{r}\n"), |e| {
            matches!(
                e,
                CheckpointError::BadTreeSize {
                    reason: "overflows 64 bits",
                    ..
                }
            )
        }),
        // 21 digits: rejected before parsing.
        (
            "too many digits",
            format!("o\n100000000000000000000\n{r}\n"),
            |e| {
                matches!(
                    e,
                    CheckpointError::BadTreeSize {
                        reason: "too many digits",
                        ..
                    }
                )
            },
        ),
        // Empty tree size line.
        ("empty size", format!("o\n\n{r}\n"), |e| {
            matches!(
                e,
                CheckpointError::BadTreeSize {
                    reason: "empty",
                    ..
                }
            )
        }),
        // Empty origin.
        ("empty origin", format!("\n1\n{r}\n"), |e| {
            matches!(e, CheckpointError::EmptyOrigin)
        }),
        // Root hash of 31 bytes.
        (
            "short root",
            "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n".into(),
            |e| matches!(e, CheckpointError::RootHashWrongLength { len: 31 }),
        ),
        // Root hash of 33 bytes.
        ("long root", format!("o\n1\n{}\n", "A".repeat(44)), |e| {
            matches!(e, CheckpointError::RootHashWrongLength { len: 33 })
        }),
        // Root hash of 64 bytes (hex instead of base64).
        ("hex root", format!("o\n1\n{}\n", "ab".repeat(32)), |e| {
            matches!(e, CheckpointError::RootHashWrongLength { .. })
        }),
        // Root hash without padding.
        (
            "unpadded root",
            format!("o\n1\n{}\n", r.trim_end_matches('=')),
            |e| matches!(e, CheckpointError::BadRootHash),
        ),
        // Root hash in URL-safe base64.
        (
            "url-safe root",
            "o\n1\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n".into(),
            |e| matches!(e, CheckpointError::BadRootHash),
        ),
        // Non-canonical base64: trailing bits set.
        (
            "non-canonical root",
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n".into(),
            |e| matches!(e, CheckpointError::BadRootHash),
        ),
        // No final newline.
        ("no final newline", format!("o\n1\n{r}"), |e| {
            matches!(e, CheckpointError::MissingFinalNewline)
        }),
        // Two lines only.
        ("two lines", "o\n1\n".into(), |e| {
            matches!(e, CheckpointError::TooFewLines { lines: 2 })
        }),
        // Empty extension line.
        ("empty extension", format!("o\n1\n{r}\next\n\n"), |e| {
            matches!(e, CheckpointError::EmptyExtensionLine { line: 5 })
        }),
        // CRLF line endings.
        ("crlf", format!("o\r\n1\r\n{r}\r\n"), |e| {
            matches!(
                e,
                CheckpointError::ControlCharacter {
                    byte: 0x0d,
                    offset: 1
                }
            )
        }),
        // A tab in the origin.
        ("tab", format!("o\tx\n1\n{r}\n"), |e| {
            matches!(e, CheckpointError::ControlCharacter { byte: 0x09, .. })
        }),
        // Too many extension lines.
        (
            "too many extensions",
            format!("o\n1\n{r}\n{}", "x\n".repeat(MAX_EXTENSION_LINES + 1)),
            |e| matches!(e, CheckpointError::TooManyExtensions { .. }),
        ),
        // Origin longer than the limit.
        (
            "long origin",
            format!("{}\n1\n{r}\n", "o".repeat(513)),
            |e| matches!(e, CheckpointError::OriginTooLong { .. }),
        ),
        // Larger than the limit.
        (
            "too large",
            format!("o\n1\n{r}\n{}\n", "x".repeat(20_000)),
            |e| matches!(e, CheckpointError::TooLarge { .. }),
        ),
    ];
    for (what, text, check) in cases {
        match parse_checkpoint(&text) {
            Ok(cp) => panic!("{what}: accepted as {cp:?}"),
            Err(e) => assert!(check(&e), "{what}: wrong error {e:?}"),
        }
    }
}

#[test]
fn non_utf8_checkpoint_note_is_rejected() {
    // A signed checkpoint is a signed note, so non-UTF-8 bytes fail before parsing.
    let s = log_signer("o");
    let mut msg = sign_note(&format!("o\n1\n{ROOT_B64}\n"), &[&s]).unwrap();
    msg[0] = 0xff;
    assert!(matches!(
        open_checkpoint(&msg, &s.verifier()),
        Err(CheckpointError::Note(NoteError::NotUtf8 { offset: 0 }))
    ));
}

#[test]
fn decimal_sizes_exhaustive_small() {
    for n in 0..=2000u64 {
        let text = format!("o\n{n}\n{ROOT_B64}\n");
        assert_eq!(parse_checkpoint(&text).unwrap().tree_size, n);
        let padded = format!("o\n0{n}\n{ROOT_B64}\n");
        assert!(parse_checkpoint(&padded).is_err(), "0{n}");
    }
}

fn sample(origin: &str, tree_size: u64) -> Checkpoint {
    Checkpoint {
        origin: origin.into(),
        tree_size,
        root_hash: Hash([7; 32]),
        extensions: vec![],
    }
}

#[test]
fn sign_and_open_with_the_log_key() {
    let s = log_signer("log.example/a");
    let cp = sample("log.example/a", 12);
    let signed = sign_checkpoint(&cp, &s).unwrap();
    let opened = open_checkpoint(&signed, &s.verifier()).unwrap();
    assert_eq!(opened.checkpoint, cp);
    assert_eq!(opened.note.text, cp.to_text());

    // Changing the size after signing breaks the signature.
    let text = String::from_utf8(signed.clone()).unwrap();
    let forged = text.replacen("\n12\n", "\n13\n", 1);
    assert!(matches!(
        open_checkpoint(forged.as_bytes(), &s.verifier()),
        Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
    ));

    // Another key of the same name does not verify it (its signature is unknown).
    let other = Ed25519Signer::from_seed("log.example/a", &[1; 32]).unwrap();
    assert!(matches!(
        open_checkpoint(&signed, &other.verifier()),
        Err(CheckpointError::Note(NoteError::NoVerifiedSignature))
    ));
}

#[test]
fn key_name_must_be_the_origin() {
    let s = log_signer("log.example/a");
    let cp = sample("log.example/b", 1);
    assert!(matches!(
        sign_checkpoint(&cp, &s),
        Err(CheckpointError::OriginMismatch { .. })
    ));
    // A note signed by a key whose name is not the origin is refused when opened.
    let msg = sign_note(&cp.to_text(), &[&s]).unwrap();
    assert!(matches!(
        open_checkpoint(&msg, &s.verifier()),
        Err(CheckpointError::OriginMismatch { .. })
    ));
}

#[test]
fn unrepresentable_checkpoints_are_not_signed() {
    let s = log_signer("o");
    let mut cp = sample("o", 1);
    cp.extensions = vec!["a\nb".into()];
    assert_eq!(
        sign_checkpoint(&cp, &s),
        Err(CheckpointError::NewlineInField)
    );
    cp.extensions = vec![String::new()];
    assert!(matches!(
        sign_checkpoint(&cp, &s),
        Err(CheckpointError::EmptyExtensionLine { .. })
    ));
    let s2 = log_signer("o");
    let mut cp = sample("o", 1);
    cp.origin = "o\n".into();
    assert_eq!(
        sign_checkpoint(&cp, &s2),
        Err(CheckpointError::NewlineInField)
    );
}

#[test]
fn cosignatures_are_kept_unverified() {
    let s = log_signer("log.example/a");
    let w = Ed25519Signer::from_seed("witness.example", &[5; 32]).unwrap();
    let cp = sample("log.example/a", 3);
    let msg = sign_note(&cp.to_text(), &[&s, &w]).unwrap();
    let opened = open_checkpoint(&msg, &s.verifier()).unwrap();
    assert_eq!(opened.note.signatures.len(), 2);
    assert_eq!(opened.note.signatures[1].name, *w.name());
    let (_, both) = open_note(&msg, &[&s.verifier(), &w.verifier()]).unwrap();
    assert_eq!(both.len(), 2);
}

fn checkpoint_strategy() -> impl Strategy<Value = Checkpoint> {
    (
        "[ -~\u{e9}\u{4e16}]{1,40}",
        any::<u64>(),
        any::<[u8; 32]>(),
        prop::collection::vec("[ -~\u{e9}]{1,30}", 0..4),
    )
        .prop_map(|(origin, tree_size, root, extensions)| Checkpoint {
            origin,
            tree_size,
            root_hash: Hash(root),
            extensions,
        })
}

proptest! {
    #[test]
    fn checkpoint_text_round_trips(cp in checkpoint_strategy()) {
        prop_assert_eq!(parse_checkpoint(&cp.to_text()).unwrap(), cp);
    }

    #[test]
    fn accepted_checkpoints_reserialize_identically(text in "[0-9a-zA-Z+/=\n -]{0,120}") {
        if let Ok(cp) = parse_checkpoint(&text) {
            prop_assert_eq!(cp.to_text(), text);
        }
    }

    #[test]
    fn signed_checkpoints_round_trip(tree_size in any::<u64>(), root in any::<[u8; 32]>()) {
        let s = log_signer("log.example/p");
        let cp = Checkpoint { origin: "log.example/p".into(), tree_size, root_hash: Hash(root), extensions: vec![] };
        let signed = sign_checkpoint(&cp, &s).unwrap();
        prop_assert_eq!(open_checkpoint(&signed, &s.verifier()).unwrap().checkpoint, cp);
    }
}
