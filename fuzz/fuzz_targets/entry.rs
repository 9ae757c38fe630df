#![no_main]
//! Fuzzes the entry and body decoders of `spec/entry.md` and the CBOR codec under them:
//! no input may panic, and any accepted input must be exactly the canonical re-encoding of
//! what it decodes to.

use llm_audit_trail::core::cbor::{self, DecodeLimits, MAX_DEPTH};
use llm_audit_trail::core::entry::{decode_body, decode_entry, encode_body, encode_entry};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits {
        max_size: 1 << 20,
        max_depth: MAX_DEPTH,
    };
    if let Ok(value) = cbor::decode(data, limits) {
        assert_eq!(cbor::encode(&value).expect("decoded value encodes"), data);
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
});
