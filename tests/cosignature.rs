//! Witness cosignatures (C2SP tlog-cosignature v1.0.1, Ed25519 `cosignature/v1`): the
//! signed message and signature bytes checked byte for byte against the spec text,
//! verification, and refusal of modified checkpoints and of keys of the wrong type.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use llm_audit_trail::core::checkpoint::CheckpointError;
use llm_audit_trail::core::cosignature::{
    cosignature_message, CosignatureError, CosignatureSigner, CosignatureVerifier, MAX_TIMESTAMP,
};
use llm_audit_trail::core::note::{
    open_note, parse_note, parse_verifier_key, sign_note, Ed25519Signer, Ed25519Verifier, KeyName,
    NoteError, NoteSignature, NoteVerifier,
};
use sha2::{Digest, Sha256};

// The checkpoint and the signed-message example of c2sp.org/tlog-cosignature.
const CHECKPOINT: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const SPEC_MESSAGE: &[u8] = b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const SPEC_TIMESTAMP: u64 = 1679315147;
// The witness line of the spec's example (no public key is published for it).
const SPEC_WITNESS_LINE: &str = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==";

const SEED: [u8; 32] = [0x5a; 32];
const NAME: &str = "witness.example.com/w1";

fn witness() -> CosignatureSigner {
    CosignatureSigner::from_seed(NAME, &SEED).unwrap()
}

#[test]
fn message_matches_the_spec_byte_for_byte() {
    assert_eq!(
        cosignature_message(CHECKPOINT, SPEC_TIMESTAMP),
        SPEC_MESSAGE
    );
    // "ASCII decimal with no leading zeroes": zero is "0".
    assert_eq!(
        cosignature_message(CHECKPOINT, 0),
        [
            b"cosignature/v1\ntime 0\n".as_slice(),
            CHECKPOINT.as_bytes()
        ]
        .concat()
    );
}

#[test]
fn signature_bytes_match_the_spec_structure() {
    let w = witness();
    let sig = w.sign(CHECKPOINT, SPEC_TIMESTAMP).unwrap();
    // Key ID = SHA-256(<name> || "\n" || 0x04 || 32-byte public key)[:4], computed here
    // independently.
    let sk = SigningKey::from_bytes(&SEED);
    let pk = sk.verifying_key().to_bytes();
    let digest = Sha256::digest([NAME.as_bytes(), b"\n", &[0x04], &pk].concat());
    assert_eq!(sig.key_id, digest[..4]);
    assert_eq!(sig.name.as_str(), NAME);
    // timestamped_signature = u64 timestamp (big-endian) || ed25519_signature[64]
    assert_eq!(sig.signature.len(), 72);
    assert_eq!(sig.signature[..8], [0, 0, 0, 0, 0x64, 0x18, 0x50, 0xcb]);
    // The Ed25519 signature is over the spec's message, bytes written out above.
    assert_eq!(sig.signature[8..], sk.sign(SPEC_MESSAGE).to_bytes());
    // The vkey carries type 0x04 and the public key.
    let vkey = w.to_vkey();
    let b64 = vkey.rsplit('+').next().unwrap();
    assert_eq!(
        BASE64.decode(b64).unwrap(),
        [[0x04].as_slice(), &pk].concat()
    );
    assert!(vkey.starts_with(&format!("{NAME}+{}", hex(&digest[..4]))));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn spec_witness_line_has_the_cosignature_framing() {
    let note = parse_note(format!("{CHECKPOINT}\n{SPEC_WITNESS_LINE}\n").as_bytes()).unwrap();
    let sig = &note.signatures[0];
    assert_eq!(sig.key_id, [0x8d, 0x66, 0xcf, 0x3f]);
    assert_eq!(sig.signature.len(), 72);
    assert_eq!(
        u64::from_be_bytes(sig.signature[..8].try_into().unwrap()),
        SPEC_TIMESTAMP
    );
    assert_eq!(sig.to_line(), format!("{SPEC_WITNESS_LINE}\n"));
}

#[test]
fn verify_returns_the_timestamp() {
    let w = witness();
    let v = CosignatureVerifier::from_vkey(&w.to_vkey()).unwrap();
    assert_eq!(v, w.verifier());
    assert_eq!(v.to_vkey(), w.to_vkey());
    for ts in [0, 1, SPEC_TIMESTAMP, MAX_TIMESTAMP] {
        let sig = w.sign(CHECKPOINT, ts).unwrap();
        assert_eq!(v.verify_cosignature(CHECKPOINT, &sig), Ok(ts));
    }
}

#[test]
fn modified_checkpoints_and_timestamps_fail() {
    let w = witness();
    let v = w.verifier();
    let sig = w.sign(CHECKPOINT, SPEC_TIMESTAMP).unwrap();
    let invalid = Err(CosignatureError::InvalidSignature {
        name: NAME.into(),
        key_id: w.key_id(),
    });
    // Another tree size.
    let other_size = CHECKPOINT.replace("20852163", "20852164");
    assert_eq!(v.verify_cosignature(&other_size, &sig), invalid);
    // Another root hash.
    let other_root = CHECKPOINT.replace("CsUY", "DsUY");
    assert_eq!(v.verify_cosignature(&other_root, &sig), invalid);
    // An added extension line: extension lines are part of the signed message.
    let extended = format!("{CHECKPOINT}ext\n");
    assert_eq!(v.verify_cosignature(&extended, &sig), invalid);
    // Another timestamp in the signature bytes.
    let mut later = sig.clone();
    later.signature[7] ^= 1;
    assert_eq!(v.verify_cosignature(CHECKPOINT, &later), invalid);
    // A timestamp above 2^63 - 1.
    let mut huge = sig.clone();
    huge.signature[0] = 0x80;
    assert!(matches!(
        v.verify_cosignature(CHECKPOINT, &huge),
        Err(CosignatureError::TimestampTooLarge { .. })
    ));
    // Truncated signature bytes.
    let mut short = sig.clone();
    short.signature.truncate(71);
    assert_eq!(
        v.verify_cosignature(CHECKPOINT, &short),
        Err(CosignatureError::WrongLength { len: 71 })
    );
    // Text that is not a checkpoint.
    assert!(matches!(
        v.verify_cosignature("not a checkpoint\n", &sig),
        Err(CosignatureError::Checkpoint(
            CheckpointError::TooFewLines { .. }
        ))
    ));
    // A signature line of another key.
    let other = CosignatureSigner::from_seed(NAME, &[1; 32]).unwrap();
    assert!(matches!(
        v.verify_cosignature(CHECKPOINT, &other.sign(CHECKPOINT, 1).unwrap()),
        Err(CosignatureError::WrongKey { .. })
    ));
}

#[test]
fn ed25519_note_keys_and_cosignature_keys_do_not_mix() {
    let w = witness();
    let cosig = w.sign(CHECKPOINT, SPEC_TIMESTAMP).unwrap();
    // The same Ed25519 key as a 0x01 note key: another key ID.
    let plain = Ed25519Signer::from_seed(NAME, &SEED).unwrap();
    assert_ne!(plain.verifier().key_id(), w.key_id());
    // The 0x01 verifier cannot verify the 0x04 cosignature, even handed the bytes.
    assert!(!plain
        .verifier()
        .verify(CHECKPOINT.as_bytes(), &cosig.signature));
    // In a note the cosignature is from an unknown key for the 0x01 verifier.
    let note = format!("{CHECKPOINT}\n{}", cosig.to_line());
    assert_eq!(
        open_note(note.as_bytes(), &[&plain.verifier()]),
        Err(NoteError::NoVerifiedSignature)
    );
    // And the 0x04 verifier refuses a plain Ed25519 signature of the text.
    let plain_sig = sign_note(CHECKPOINT, &[&plain]).unwrap();
    let p = parse_note(&plain_sig).unwrap();
    assert!(!w
        .verifier()
        .verify(CHECKPOINT.as_bytes(), &p.signatures[0].signature));
    // Each parser refuses the other's key type.
    assert!(matches!(
        CosignatureVerifier::from_vkey(&plain.to_vkey()),
        Err(CosignatureError::Note(NoteError::WrongKeyType {
            got: 1,
            want: 4
        }))
    ));
    assert!(matches!(
        parse_verifier_key(&w.to_vkey()),
        Err(NoteError::WrongKeyType { got: 4, want: 1 })
    ));
    // Built from the raw key, the verifiers differ only in type, hence key ID.
    let pk = SigningKey::from_bytes(&SEED).verifying_key().to_bytes();
    let name = KeyName::new(NAME).unwrap();
    assert_eq!(
        CosignatureVerifier::new(name.clone(), &pk).unwrap(),
        w.verifier()
    );
    assert_eq!(Ed25519Verifier::new(name, &pk).unwrap(), plain.verifier());
}

#[test]
fn a_cosigned_checkpoint_opens_with_log_and_witness_keys() {
    let log = Ed25519Signer::from_seed("example.com/behind-the-sofa", &[3; 32]).unwrap();
    let w = witness();
    let t = w.at(SPEC_TIMESTAMP);
    let msg = sign_note(CHECKPOINT, &[&log, &t]).unwrap();
    let (note, verified) = open_note(&msg, &[&log.verifier(), &w.verifier()]).unwrap();
    assert_eq!(verified.len(), 2);
    assert_eq!(
        w.verifier().verify_cosignature(&note.text, &verified[1]),
        Ok(SPEC_TIMESTAMP)
    );
    // Appending a cosignature line by hand gives the same note.
    let by_hand = format!(
        "{}{}",
        String::from_utf8(sign_note(CHECKPOINT, &[&log]).unwrap()).unwrap(),
        w.sign(CHECKPOINT, SPEC_TIMESTAMP).unwrap().to_line()
    );
    assert_eq!(by_hand.as_bytes(), msg);
    // A forged cosignature in the note rejects it.
    let mut n = parse_note(&msg).unwrap();
    n.signatures[1].signature[20] ^= 0x40;
    assert!(matches!(
        open_note(&n.serialize(), &[&log.verifier(), &w.verifier()]),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn signing_refuses_bad_input() {
    let w = witness();
    assert_eq!(
        w.sign(CHECKPOINT, MAX_TIMESTAMP + 1),
        Err(CosignatureError::TimestampTooLarge {
            timestamp: MAX_TIMESTAMP + 1
        })
    );
    assert!(matches!(
        w.sign("garbage\n", 1),
        Err(CosignatureError::Checkpoint(_))
    ));
    assert!(CosignatureSigner::from_seed("bad name", &SEED).is_err());
    let dbg = format!("{w:?}");
    assert!(dbg.contains(NAME) && !dbg.contains("5a5a5a"));
    // A NoteSignature from a cosigner round-trips through a note line.
    let sig = w.sign(CHECKPOINT, 7).unwrap();
    let line = sig.to_line();
    let parsed = NoteSignature::parse_line(line.trim_end_matches('\n'), 1).unwrap();
    assert_eq!(parsed, sig);
}
