//! Offline proofs (C2SP tlog-proof@v1): the spec example, a golden file, round trips and
//! verification on every leaf of small trees, and every bad case.

use llm_audit_trail::core::checkpoint::{sign_checkpoint, Checkpoint, CheckpointError};
use llm_audit_trail::core::hash::{leaf_hash, node_hash, Hash};
use llm_audit_trail::core::note::{Ed25519Signer, NoteError};
use llm_audit_trail::core::proof::ProofError;
use llm_audit_trail::core::tlog_proof::{parse_tlog_proof, TlogProof, TlogProofError};
use proptest::prelude::*;

const ORIGIN: &str = "log.example/proofs";

fn log_key() -> Ed25519Signer {
    Ed25519Signer::from_seed(ORIGIN, &[9; 32]).unwrap()
}

// RFC 6962 §2.1 reference definitions, written independently of the crate's code.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => unreachable!(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// The largest power of two smaller than n (n > 1).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 §2.1.1 PATH(m, D[n]).
fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n == 1 {
        return vec![];
    }
    let k = split(n);
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

fn leaves(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
        .collect()
}

fn signed_checkpoint(tree: &[Hash]) -> Vec<u8> {
    let cp = Checkpoint {
        origin: ORIGIN.into(),
        tree_size: tree.len() as u64,
        root_hash: mth(tree),
        extensions: vec![],
    };
    sign_checkpoint(&cp, &log_key()).unwrap()
}

#[test]
fn every_leaf_of_small_trees_round_trips_and_verifies() {
    let key = log_key().verifier();
    for n in 1..=33usize {
        let tree = leaves(n);
        let checkpoint = signed_checkpoint(&tree);
        for m in 0..n {
            let proof = TlogProof {
                extra_data: (m % 2 == 0).then(|| vec![m as u8; m]),
                leaf_index: m as u64,
                proof: path(m, &tree),
                checkpoint: checkpoint.clone(),
            };
            let bytes = proof.serialize();
            let back = parse_tlog_proof(&bytes).unwrap();
            assert_eq!(back, proof);
            let cp = back.verify(&tree[m], &key).unwrap();
            assert_eq!((cp.tree_size, cp.root_hash), (n as u64, mth(&tree)));

            // Wrong leaf hash: another leaf of the same tree.
            let other = tree[(m + 1) % n];
            if n > 1 {
                assert!(matches!(
                    back.verify(&other, &key),
                    Err(TlogProofError::Inclusion(ProofError::RootMismatch))
                ));
            }
            // Wrong index.
            let mut wrong = back.clone();
            wrong.leaf_index = ((m + 1) % n) as u64;
            if n > 1 {
                assert!(wrong.verify(&tree[m], &key).is_err(), "n={n} m={m}");
            }
            // Index outside the tree.
            wrong.leaf_index = n as u64;
            assert!(matches!(
                wrong.verify(&tree[m], &key),
                Err(TlogProofError::Inclusion(
                    ProofError::IndexOutOfRange { .. }
                ))
            ));
            // Each proof hash with one bit flipped.
            for i in 0..back.proof.len() {
                let mut bad = back.clone();
                bad.proof[i].0[i % 32] ^= 0x10;
                assert!(matches!(
                    bad.verify(&tree[m], &key),
                    Err(TlogProofError::Inclusion(ProofError::RootMismatch))
                ));
            }
            // A proof hash missing, or one too many.
            if !back.proof.is_empty() {
                let mut bad = back.clone();
                bad.proof.pop();
                assert!(bad.verify(&tree[m], &key).is_err());
            }
            let mut bad = back.clone();
            bad.proof.push(Hash([0; 32]));
            assert!(bad.verify(&tree[m], &key).is_err());
        }
    }
}

/// A bad case: what it is, the input, and a check of the error.
type Case = (&'static str, String, fn(&TlogProofError) -> bool);

#[test]
fn bad_checkpoint_signature_fails() {
    let tree = leaves(5);
    let proof = TlogProof {
        extra_data: None,
        leaf_index: 2,
        proof: path(2, &tree),
        checkpoint: signed_checkpoint(&tree),
    };
    // The signature's last base64 quantum changed: still canonical base64.
    let mut bad = proof.clone();
    let text = String::from_utf8(bad.checkpoint.clone()).unwrap();
    let i = text.rfind('=').unwrap() - 3;
    let c = if &text[i..i + 1] == "A" { "B" } else { "A" };
    bad.checkpoint = format!("{}{c}{}", &text[..i], &text[i + 1..]).into_bytes();
    assert!(matches!(
        bad.verify(&tree[2], &log_key().verifier()),
        Err(TlogProofError::Checkpoint(CheckpointError::Note(
            NoteError::InvalidSignature { .. }
        )))
    ));
    // Another log's key: its signature is not there.
    let other = Ed25519Signer::from_seed(ORIGIN, &[10; 32]).unwrap();
    assert!(matches!(
        proof.verify(&tree[2], &other.verifier()),
        Err(TlogProofError::Checkpoint(CheckpointError::Note(
            NoteError::NoVerifiedSignature
        )))
    ));
    // A checkpoint of another (bigger) tree.
    let mut bigger = proof.clone();
    bigger.checkpoint = signed_checkpoint(&leaves(6));
    assert!(bigger.verify(&tree[2], &log_key().verifier()).is_err());
}

// The example of c2sp.org/tlog-proof, with real base64 in place of the elided
// signatures ("hI2DJw[...]1roloI=").
fn spec_example() -> String {
    let sig = format!("AAAAAA{}==", "A".repeat(84));
    format!(
        "c2sp.org/tlog-proof@v1\n\
         extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n\
         index 73894\n\
         gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n\
         B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n\
         EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=\n\
         RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=\n\
         AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n\
         \n\
         example.com/fancylog\n\
         109482\n\
         sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\
         \n\
         \u{2014} example.com/fancylog {sig}\n\
         \u{2014} witness1.example {sig}\n"
    )
}

#[test]
fn spec_example_parses_and_round_trips() {
    let text = spec_example();
    let p = parse_tlog_proof(text.as_bytes()).unwrap();
    assert_eq!(
        p.extra_data.as_deref().unwrap()[..30],
        *b"age-v1.2.1-darwin-arm64.tar.gz"
    );
    assert_eq!(p.leaf_index, 73894);
    assert_eq!(p.proof.len(), 5);
    assert_eq!(
        p.proof[0].to_hex(),
        "8122b25e861952067a8ddb9662b9033804629ce30626f7978e032405371d3e54"
    );
    assert!(p.checkpoint.starts_with(b"example.com/fancylog\n109482\n"));
    assert_eq!(p.serialize(), text.as_bytes());
}

// The golden file of `golden_file`: leaf hashes of "leaf 0" and "leaf 2" and the root
// (checked with Python's hashlib: SHA-256(0x00 || leaf), SHA-256(0x01 || l || r)), then
// the checkpoint signed by the key of seed [9; 32] (checked with the `signed_note` crate).
const GOLDEN: &str = "c2sp.org/tlog-proof@v1\n\
extra aGk=\n\
index 1\n\
G7l9zCFjXUfiZj79/QoXRobZjdcBNS3SzQbotD/T0wU=\n\
qze6NNHf4pAV3nF6bVdkqPsCnDp6D1tkuTtUNRiFv3w=\n\
\n\
log.example/proofs\n\
3\n\
1Pksj7uJcg6ztVZ3x9fvrd/rENEaGoSguo8aIzN/qpU=\n\
\n\
\u{2014} log.example/proofs TR9SY/iLk9+01U2NQ3sbMhsFMzcA2z7O3T/tFg0BgTJD8zZHsvpDbj2bch/Nb/GNnwEUVibzpHxJqGqs+8R/niAZ1gs=\n";

#[test]
fn golden_file() {
    // A size-3 tree, leaf 1, with extra data; every byte of the file written out.
    let tree = leaves(3);
    let proof = TlogProof {
        extra_data: Some(b"hi".to_vec()),
        leaf_index: 1,
        proof: path(1, &tree),
        checkpoint: signed_checkpoint(&tree),
    };
    // The proof of leaf 1 in a tree of 3 is [leaf 0, leaf 2] (RFC 6962 §2.1.3).
    assert_eq!(proof.proof, vec![tree[0], tree[2]]);
    assert_eq!(String::from_utf8(proof.serialize()).unwrap(), GOLDEN);
    let parsed = parse_tlog_proof(GOLDEN.as_bytes()).unwrap();
    assert_eq!(parsed, proof);
    assert_eq!(
        parsed
            .verify(&tree[1], &log_key().verifier())
            .unwrap()
            .tree_size,
        3
    );
    // The checkpoint inside verifies with Cloudflare's signed_note too.
    let theirs = signed_note::StandardVerifier::new(&log_key().to_vkey()).unwrap();
    let note = signed_note::Note::from_bytes(&parsed.checkpoint).unwrap();
    note.verify(&signed_note::VerifierList::new(vec![Box::new(theirs)]))
        .unwrap();
    // A proof without extra data omits the line; a tree of one leaf has no hashes.
    let one = leaves(1);
    let p1 = TlogProof {
        extra_data: None,
        leaf_index: 0,
        proof: vec![],
        checkpoint: signed_checkpoint(&one),
    };
    let bytes = p1.serialize();
    assert!(bytes.starts_with(b"c2sp.org/tlog-proof@v1\nindex 0\n\nlog.example/proofs\n1\n"));
    assert_eq!(
        p1.verify(&one[0], &log_key().verifier()).unwrap().tree_size,
        1
    );
}

#[test]
fn bad_proof_files_table() {
    let tree = leaves(3);
    let cp = String::from_utf8(signed_checkpoint(&tree)).unwrap();
    let h = "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=";
    let cases: Vec<Case> = vec![
        // Another version in the header.
        (
            "header v2",
            format!("c2sp.org/tlog-proof@v2\nindex 1\n\n{cp}"),
            |e| matches!(e, TlogProofError::BadHeader),
        ),
        // Empty file.
        ("empty", String::new(), |e| {
            matches!(e, TlogProofError::BadHeader)
        }),
        // CRLF after the header.
        (
            "crlf",
            format!("c2sp.org/tlog-proof@v1\r\nindex 1\r\n\r\n{cp}"),
            |e| matches!(e, TlogProofError::BadHeader),
        ),
        // Extra data that is not base64.
        (
            "bad extra",
            format!("c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\n{cp}"),
            |e| matches!(e, TlogProofError::BadExtraData),
        ),
        // Extra data larger than the limit.
        (
            "huge extra",
            format!(
                "c2sp.org/tlog-proof@v1\nextra {}\nindex 1\n\n{cp}",
                "A".repeat(90_000)
            ),
            |e| matches!(e, TlogProofError::ExtraDataTooLarge { .. }),
        ),
        // No index line.
        (
            "no index",
            format!("c2sp.org/tlog-proof@v1\n{h}\n\n{cp}"),
            |e| matches!(e, TlogProofError::MissingIndex),
        ),
        // "index" without its space.
        (
            "index no space",
            format!("c2sp.org/tlog-proof@v1\nindex1\n\n{cp}"),
            |e| matches!(e, TlogProofError::MissingIndex),
        ),
        // Index with a leading zero.
        (
            "index leading zero",
            format!("c2sp.org/tlog-proof@v1\nindex 01\n\n{cp}"),
            |e| {
                matches!(
                    e,
                    TlogProofError::BadIndex {
                        reason: "leading zero"
                    }
                )
            },
        ),
        // Negative index.
        (
            "negative index",
            format!("c2sp.org/tlog-proof@v1\nindex -1\n\n{cp}"),
            |e| matches!(e, TlogProofError::BadIndex { .. }),
        ),
        // Index beyond 64 bits.
        (
            "index overflow",
            format!("c2sp.org/tlog-proof@v1\nindex 18446744073709551616\n\n{cp}"),
            |e| matches!(e, TlogProofError::BadIndex { .. }),
        ),
        // A proof hash of 31 bytes.
        (
            "short hash",
            format!(
                "c2sp.org/tlog-proof@v1\nindex 1\n{}\n\n{cp}",
                "A".repeat(42) + "=="
            ),
            |e| matches!(e, TlogProofError::BadProofHash { line: 3 }),
        ),
        // A proof hash in hex.
        (
            "hex hash",
            format!(
                "c2sp.org/tlog-proof@v1\nindex 1\n{h}\n{}\n\n{cp}",
                "ab".repeat(32)
            ),
            |e| matches!(e, TlogProofError::BadProofHash { line: 4 }),
        ),
        // 65 proof hashes.
        (
            "too many hashes",
            format!(
                "c2sp.org/tlog-proof@v1\nindex 1\n{}\n{cp}",
                format!("{h}\n").repeat(65)
            ),
            |e| matches!(e, TlogProofError::TooManyHashes { max: 64 }),
        ),
        // No empty line: the file ends inside the proof.
        (
            "no checkpoint",
            format!("c2sp.org/tlog-proof@v1\nindex 1\n{h}\n"),
            |e| matches!(e, TlogProofError::MissingCheckpoint),
        ),
        // Empty line but no checkpoint after it.
        (
            "empty checkpoint",
            "c2sp.org/tlog-proof@v1\nindex 1\n\n".into(),
            |e| matches!(e, TlogProofError::Checkpoint(CheckpointError::Note(_))),
        ),
        // The checkpoint note has no signature.
        (
            "unsigned checkpoint",
            format!("c2sp.org/tlog-proof@v1\nindex 1\n\n{ORIGIN}\n3\n{h}\n"),
            |e| matches!(e, TlogProofError::Checkpoint(CheckpointError::Note(_))),
        ),
        // A signed note that is not a checkpoint.
        (
            "not a checkpoint",
            format!(
                "c2sp.org/tlog-proof@v1\nindex 1\n\nhello\n\n\u{2014} a {}\n",
                "AAAAAAAA"
            ),
            |e| {
                matches!(
                    e,
                    TlogProofError::Checkpoint(CheckpointError::TooFewLines { .. })
                )
            },
        ),
    ];
    for (what, text, check) in cases {
        match parse_tlog_proof(text.as_bytes()) {
            Ok(p) => panic!("{what}: accepted as {p:?}"),
            Err(e) => assert!(check(&e), "{what}: wrong error {e:?}"),
        }
    }
    // Not UTF-8.
    let mut bytes = format!("c2sp.org/tlog-proof@v1\nindex 1\n\n{cp}").into_bytes();
    bytes[30] = 0xff;
    assert!(matches!(
        parse_tlog_proof(&bytes),
        Err(TlogProofError::NotUtf8 { offset: 30 })
    ));
    // Too large, rejected before decoding.
    let huge = vec![b'a'; 3 << 20];
    assert!(matches!(
        parse_tlog_proof(&huge),
        Err(TlogProofError::TooLarge { .. })
    ));
}

proptest! {
    #[test]
    fn parse_never_panics_and_accepted_files_reserialize(
        data in prop::collection::vec(any::<u8>(), 0..400)
    ) {
        let mut input = b"c2sp.org/tlog-proof@v1\n".to_vec();
        input.extend_from_slice(&data);
        if let Ok(p) = parse_tlog_proof(&input) {
            prop_assert_eq!(p.serialize(), input);
        }
    }

    #[test]
    fn proofs_round_trip(
        n in 1usize..200,
        m_seed in any::<prop::sample::Index>(),
        extra in prop::option::of(prop::collection::vec(any::<u8>(), 0..50)),
    ) {
        let tree = leaves(n);
        let m = m_seed.index(n);
        let p = TlogProof {
            extra_data: extra,
            leaf_index: m as u64,
            proof: path(m, &tree),
            checkpoint: signed_checkpoint(&tree),
        };
        let back = parse_tlog_proof(&p.serialize()).unwrap();
        prop_assert_eq!(&back, &p);
        prop_assert!(back.verify(&tree[m], &log_key().verifier()).is_ok());
    }
}
