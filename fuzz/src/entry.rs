//! Entries, bodies (`spec/entry.md`) and the deterministic CBOR codec under them.
//!
//! - No input panics; whatever the CBOR decoder accepts is exactly the canonical encoding of
//!   what it decodes to, and survives the JSON conversion both ways.
//! - Differential: whatever our strict decoder accepts, `ciborium` (a general CBOR decoder)
//!   decodes to the same value.
//! - Entries and bodies: accepted bytes are the canonical encoding of what they decode to.
//! - Body commitment: no body but the honest one verifies against an honest entry's digest.

use llm_audit_trail::core::cbor::{self, CborValue, DecodeLimits, MAX_DEPTH};
use llm_audit_trail::core::entry::{
    decode_body, decode_entry, encode_body, encode_entry, verify_body,
};

use super::common::{honest, TREE_LEAVES};

/// Whether our CBOR value and ciborium's are the same data item.
fn same(ours: &CborValue, theirs: &ciborium::Value) -> bool {
    use ciborium::Value as V;
    match (ours, theirs) {
        (CborValue::Unsigned(_) | CborValue::Negative(_), V::Integer(i)) => {
            ours.as_i128() == Some(i128::from(*i))
        }
        (CborValue::Bytes(a), V::Bytes(b)) => a == b,
        (CborValue::Text(a), V::Text(b)) => a == b,
        (CborValue::Bool(a), V::Bool(b)) => a == b,
        (CborValue::Null, V::Null) => true,
        (CborValue::Float(a), V::Float(b)) => a.to_bits() == b.to_bits(),
        (CborValue::Array(a), V::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (CborValue::Map(a), V::Map(b)) => {
            a.len() == b.len()
                && b.iter().all(|(k, v)| match k {
                    V::Text(k) => a.get(k).is_some_and(|x| same(x, v)),
                    _ => false,
                })
        }
        _ => false,
    }
}

/// Runs the checks on one input.
pub fn check(data: &[u8]) {
    let limits = DecodeLimits {
        max_size: 1 << 20,
        max_depth: MAX_DEPTH,
    };
    if let Ok(value) = cbor::decode(data, limits) {
        assert_eq!(cbor::encode(&value).expect("decoded value encodes"), data);
        let theirs: ciborium::Value =
            ciborium::de::from_reader(data).expect("ciborium reads what we accept");
        assert!(
            same(&value, &theirs),
            "ciborium reads {theirs:?}, we read {value:?}"
        );
        if let Ok(json) = cbor::to_json(&value) {
            let back = cbor::from_json(&json).expect("to_json output converts back");
            assert_eq!(cbor::encode(&back).expect("encodes"), data);
        }
    }
    if let Ok(header) = decode_entry(data) {
        assert_eq!(encode_entry(&header).expect("decoded entry encodes"), data);
    }
    if let Ok(body) = decode_body(data) {
        assert_eq!(encode_body(&body).expect("decoded body encodes"), data);
    }

    // The body commitment of an honest entry admits only the honest body.
    let log = honest();
    let i = data.len() as u64 % TREE_LEAVES;
    let header = decode_entry(&log.entries[i as usize]).expect("honest entry decodes");
    if verify_body(&header, &log.salts[i as usize], data).is_ok() {
        assert_eq!(
            data, log.bodies[i as usize],
            "a body other than the committed one verified"
        );
    }
    let body = verify_body(&header, &log.salts[i as usize], &log.bodies[i as usize])
        .expect("the honest body verifies");
    assert_eq!(encode_body(&body).expect("encodes"), log.bodies[i as usize]);
}
