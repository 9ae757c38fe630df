//! The offline proof bundle (spec/bundle.md): round trip, verification, and every tamper.

use llm_audit_trail::core::bundle::{BundleError, ProofBundle};
use llm_audit_trail::core::checkpoint::{sign_checkpoint, Checkpoint};
use llm_audit_trail::core::entry::{self, Body, EntryHeader};
use llm_audit_trail::core::hash::leaf_hash;
use llm_audit_trail::core::json::{self, JsonNumber, JsonValue};
use llm_audit_trail::core::merkle::MemoryHashStore;
use llm_audit_trail::core::note::Ed25519Signer;
use llm_audit_trail::core::proof::prove_inclusion;

const ORIGIN: &str = "example.com/bundles";

fn signer() -> Ed25519Signer {
    Ed25519Signer::from_seed(ORIGIN, &[3u8; 32]).unwrap()
}

/// A tree of 10 events and the bundle of leaf 6.
fn make() -> ProofBundle {
    let mut store = MemoryHashStore::new();
    let mut target = None;
    for i in 0..10u8 {
        let body = Body {
            actor: Some("alice".into()),
            details: JsonValue::Object(vec![(
                "accuracy".into(),
                JsonValue::Number(JsonNumber::Float(0.5 + f64::from(i) / 100.0)),
            )]),
        };
        let body_bytes = entry::encode_body(&body).unwrap();
        let salt = [i; 32];
        let header = EntryHeader {
            event_id: format!("ev-{i}"),
            timestamp: "2026-01-02T09:15:04.123456Z".into(),
            event_type: "Evaluation".into(),
            system: Some("demo".into()),
            model_id: Some("demo-imdb-v1".into()),
            dataset_id: None,
            deployment_id: None,
            submitter: None,
            body_digest: entry::body_digest(&salt, &body_bytes),
        };
        let bytes = entry::encode_entry(&header).unwrap();
        store.push_leaf(leaf_hash(&bytes));
        if i == 6 {
            target = Some((bytes, body_bytes, salt));
        }
    }
    let (entry_bytes, body, salt) = target.unwrap();
    let cp = Checkpoint {
        origin: ORIGIN.into(),
        tree_size: 10,
        root_hash: store.root(),
        extensions: vec![],
    };
    ProofBundle {
        leaf_index: 6,
        entry: entry_bytes,
        body: Some(body),
        salt: Some(salt),
        erased: None,
        inclusion_proof: prove_inclusion(6, 10, &store).unwrap(),
        checkpoint: sign_checkpoint(&cp, &signer()).unwrap(),
    }
}

fn reparse(b: &ProofBundle) -> String {
    json::to_json_string(&b.to_json())
}

#[test]
fn a_bundle_round_trips_and_verifies() {
    let b = make();
    let text = reparse(&b);
    let parsed = ProofBundle::parse(text.as_bytes()).unwrap();
    assert_eq!(parsed, b);
    let v = parsed.verify(&signer().verifier()).unwrap();
    assert_eq!(v.checkpoint.tree_size, 10);
    assert_eq!(v.header.event_id, "ev-6");
    assert_eq!(v.body.unwrap().actor.as_deref(), Some("alice"));
    assert_eq!(v.leaf_hash, leaf_hash(&b.entry));
}

#[test]
fn every_tamper_is_caught_and_named() {
    let good = make();
    let key = signer().verifier();
    // Wrong key.
    let other = Ed25519Signer::from_seed(ORIGIN, &[4u8; 32])
        .unwrap()
        .verifier();
    assert!(matches!(
        good.verify(&other),
        Err(BundleError::Checkpoint(_))
    ));
    // Another index.
    let mut b = good.clone();
    b.leaf_index = 5;
    assert!(matches!(b.verify(&key), Err(BundleError::Inclusion(_))));
    // A flipped proof byte.
    for k in 0..b.inclusion_proof.len() {
        let mut b = good.clone();
        b.inclusion_proof[k].0[0] ^= 1;
        assert!(matches!(b.verify(&key), Err(BundleError::Inclusion(_))));
    }
    // A changed entry byte (the leaf no longer is in the tree, or no longer decodes).
    let mut b = good.clone();
    let last = b.entry.len() - 1;
    b.entry[last] ^= 1;
    assert!(b.verify(&key).is_err());
    // A changed body, or salt: the commitment fails.
    let mut b = good.clone();
    b.salt = Some([9u8; 32]);
    assert!(matches!(b.verify(&key), Err(BundleError::Body(_))));
    let mut b = good.clone();
    let mut body = b.body.clone().unwrap();
    let n = body.len() - 1;
    body[n] ^= 1;
    b.body = Some(body);
    assert!(matches!(b.verify(&key), Err(BundleError::Body(_))));
    // A body without its salt.
    let mut b = good.clone();
    b.salt = None;
    assert!(matches!(b.verify(&key), Err(BundleError::Body(_))));
    // Withheld body: still proves the entry.
    let mut b = good.clone();
    b.body = None;
    b.salt = None;
    assert!(b.verify(&key).unwrap().body.is_none());
}

#[test]
fn a_bundle_whose_body_does_not_decode_prints_and_parses_back() {
    // Found by the bundle fuzz target's round-trip check: a bundle with a body that is not
    // a valid body (and no event view) parsed, but `to_json` then added an event view
    // without the body, which `parse` refused ("body is not canonical CBOR").
    let mut b = make();
    b.body = Some(b"x".to_vec());
    let text = reparse(&b);
    assert!(
        !text.contains("\"event\""),
        "no event view for a body that does not decode"
    );
    assert_eq!(ProofBundle::parse(text.as_bytes()), Ok(b.clone()));
    // Verification still refuses it, naming the body.
    assert!(matches!(
        b.verify(&signer().verifier()),
        Err(BundleError::Body(_))
    ));
    // An entry that does not decode: no view either, and it still reads back.
    let mut b = make();
    b.entry = vec![0xa0];
    let text = reparse(&b);
    assert_eq!(ProofBundle::parse(text.as_bytes()), Ok(b));
}

#[test]
fn an_edited_event_view_or_malformed_file_is_refused() {
    let text = reparse(&make());
    let edited = text.replace("\"accuracy\":0.56", "\"accuracy\":0.99");
    assert_ne!(edited, text);
    assert!(matches!(
        ProofBundle::parse(edited.as_bytes()),
        Err(BundleError::View(_))
    ));
    let bad_hash = text.replacen("\"leaf_hash\":\"", "\"leaf_hash\":\"00", 1);
    assert!(ProofBundle::parse(bad_hash.as_bytes()).is_err());
    for bad in [
        "",
        "{}",
        "[]",
        r#"{"format":"other"}"#,
        &text.replace("llm-audit-trail/bundle/v1", "v2"),
        &text.replace("\"leaf_index\":6", "\"leaf_index\":-1"),
        &text.replace("\"leaf_index\":6", "\"leaf_index\":6.0"),
    ] {
        assert!(ProofBundle::parse(bad.as_bytes()).is_err(), "{bad}");
    }
    let huge = vec![b' '; 2 << 20];
    assert!(matches!(
        ProofBundle::parse(&huge),
        Err(BundleError::Malformed(_))
    ));
}
