//! Deterministic CBOR (RFC 8949 §4.2.1): golden encodings, a table of rejected inputs, the
//! `ciborium` oracle, and property tests.

use std::collections::BTreeMap;

use llm_audit_trail::core::cbor::{
    canonical_key_order, decode, encode, from_json, to_json, CborError, CborValue, DecodeLimits,
    MAX_DEPTH,
};
use llm_audit_trail::core::hash::{hex_decode, hex_encode};
use llm_audit_trail::core::json::{python_dumps_sorted, JsonNumber, JsonValue};
use proptest::prelude::*;

const LIMITS: DecodeLimits = DecodeLimits {
    max_size: 1 << 20,
    max_depth: MAX_DEPTH,
};

fn h(s: &str) -> Vec<u8> {
    hex_decode(&s.replace(' ', "")).expect("test hex")
}

fn int(n: i128) -> CborValue {
    CborValue::integer(n).expect("in range")
}

fn text(s: &str) -> CborValue {
    CborValue::Text(s.to_owned())
}

fn map(entries: Vec<(&str, CborValue)>) -> CborValue {
    CborValue::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// (value, canonical encoding). Most rows are from RFC 8949 Appendix A (the ones in our
/// subset); the rest are the boundaries of §4.2.1's shortest forms. Every row is checked both
/// ways: encode(value) == bytes, decode(bytes) == value.
fn golden() -> Vec<(CborValue, &'static str)> {
    let two64 = 1i128 << 64;
    vec![
        // Unsigned integers at every argument-size boundary.
        (int(0), "00"),
        (int(1), "01"),
        (int(10), "0a"),
        (int(23), "17"),
        (int(24), "18 18"),
        (int(25), "18 19"),
        (int(100), "18 64"),
        (int(255), "18 ff"),
        (int(256), "19 0100"),
        (int(1000), "19 03e8"),
        (int(65535), "19 ffff"),
        (int(65536), "1a 00010000"),
        (int(1_000_000), "1a 000f4240"),
        (int((1 << 32) - 1), "1a ffffffff"),
        (int(1 << 32), "1b 0000000100000000"),
        (int(1_000_000_000_000), "1b 000000e8d4a51000"),
        (int(two64 - 1), "1b ffffffffffffffff"),
        // Negative integers: major type 1 carries -1 - n.
        (int(-1), "20"),
        (int(-10), "29"),
        (int(-24), "37"),
        (int(-25), "38 18"),
        (int(-100), "38 63"),
        (int(-256), "38 ff"),
        (int(-257), "39 0100"),
        (int(-1000), "39 03e7"),
        (int(-65536), "39 ffff"),
        (int(-65537), "3a 00010000"),
        (int(-(1 << 32)), "3a ffffffff"),
        (int(-(1 << 32) - 1), "3b 0000000100000000"),
        (int(-two64), "3b ffffffffffffffff"),
        // Floats: shortest exact width; integral floats stay floats; signs are kept.
        (CborValue::Float(0.0), "f9 0000"),
        (CborValue::Float(-0.0), "f9 8000"),
        (CborValue::Float(1.0), "f9 3c00"),
        (CborValue::Float(1.5), "f9 3e00"),
        (CborValue::Float(-4.0), "f9 c400"),
        (CborValue::Float(65504.0), "f9 7bff"),
        (CborValue::Float(65505.0), "fa 477fe100"),
        (CborValue::Float(100000.0), "fa 47c35000"),
        (CborValue::Float(3.4028234663852886e38), "fa 7f7fffff"),
        (CborValue::Float(1.1), "fb 3ff199999999999a"),
        (CborValue::Float(0.1), "fb 3fb999999999999a"),
        (CborValue::Float(-4.1), "fb c010666666666666"),
        (CborValue::Float(1e-05), "fb 3ee4f8b588e368f1"),
        (CborValue::Float(1e300), "fb 7e37e43c8800759c"),
        (CborValue::Float(f64::MAX), "fb 7fefffffffffffff"),
        // Subnormals: smallest half, largest half subnormal, smallest normal half,
        // smallest single subnormal, smallest double subnormal.
        (CborValue::Float(5.960464477539063e-8), "f9 0001"),
        (CborValue::Float(6.097555160522461e-5), "f9 03ff"),
        (CborValue::Float(6.103515625e-5), "f9 0400"),
        (
            CborValue::Float(f64::from(f32::from_bits(1))),
            "fa 00000001",
        ),
        (CborValue::Float(5e-324), "fb 0000000000000001"),
        // Simple values.
        (CborValue::Bool(false), "f4"),
        (CborValue::Bool(true), "f5"),
        (CborValue::Null, "f6"),
        // Strings.
        (CborValue::Bytes(vec![]), "40"),
        (CborValue::Bytes(vec![1, 2, 3, 4]), "44 01020304"),
        (
            CborValue::Bytes(vec![0xaa; 24]),
            "58 18 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
        (text(""), "60"),
        (text("a"), "61 61"),
        (text("IETF"), "64 49455446"),
        (text("\"\\"), "62 225c"),
        (text("\u{fc}"), "62 c3bc"),
        (text("\u{6c34}"), "63 e6b0b4"),
        (text("\u{10151}"), "64 f0908591"),
        // Arrays.
        (CborValue::Array(vec![]), "80"),
        (CborValue::Array(vec![int(1), int(2), int(3)]), "83 010203"),
        (
            CborValue::Array(vec![
                int(1),
                CborValue::Array(vec![int(2), int(3)]),
                CborValue::Array(vec![int(4), int(5)]),
            ]),
            "83 01 820203 820405",
        ),
        (
            CborValue::Array((1..=25).map(int).collect()),
            "98 19 0102030405060708090a0b0c0d0e0f101112131415161718181819",
        ),
        // Maps: keys sorted by encoded bytes, so shorter keys first.
        (CborValue::Map(BTreeMap::new()), "a0"),
        (
            map(vec![
                ("a", int(1)),
                ("b", CborValue::Array(vec![int(2), int(3)])),
            ]),
            "a2 6161 01 6162 820203",
        ),
        (
            CborValue::Array(vec![text("a"), map(vec![("b", text("c"))])]),
            "82 6161 a1 6162 6163",
        ),
        (
            map(vec![
                ("a", text("A")),
                ("b", text("B")),
                ("c", text("C")),
                ("d", text("D")),
                ("e", text("E")),
            ]),
            "a5 6161 6141 6162 6142 6163 6143 6164 6144 6165 6145",
        ),
        // Nested maps with keys of different lengths: "b" sorts before "aa" (length first),
        // and inside, "d" before "ccc".
        (
            map(vec![
                ("aa", CborValue::Array(vec![])),
                ("b", int(1)),
                ("a", map(vec![("ccc", int(2)), ("d", int(3))])),
            ]),
            "a3 6161 a2 6164 03 63636363 02 6162 01 626161 80",
        ),
        // A 24-byte key sorts after every 23-byte key (head 0x78 18 > 0x77).
        (
            map(vec![
                ("x".repeat(24).as_str(), int(0)),
                ("y".repeat(23).as_str(), int(1)),
            ]),
            "a2 77 7979797979797979797979797979797979797979797979 01 \
             78 18 787878787878787878787878787878787878787878787878 00",
        ),
    ]
}

#[test]
fn golden_encodings_both_ways() {
    for (value, hex) in golden() {
        let bytes = h(hex);
        assert_eq!(
            hex_encode(&encode(&value).unwrap()),
            hex_encode(&bytes),
            "encode {value:?}"
        );
        let back = decode(&bytes, LIMITS).unwrap_or_else(|e| panic!("decode {hex}: {e}"));
        assert_eq!(back, value, "decode {hex}");
        // PartialEq on f64 equates 0.0 and -0.0; the bytes do not.
        assert_eq!(encode(&back).unwrap(), bytes, "re-encode {hex}");
    }
}

/// Inputs every decoder of ours must refuse, with the error each gets. One comment per case.
fn rejected() -> Vec<(&'static str, &'static str, CborError)> {
    use CborError::*;
    vec![
        // --- non-shortest arguments (§4.2.1 first bullet)
        (
            "1817",
            "23 in a 1-byte argument",
            NonShortestArgument {
                offset: 0,
                value: 23,
            },
        ),
        (
            "1900ff",
            "255 in a 2-byte argument",
            NonShortestArgument {
                offset: 0,
                value: 255,
            },
        ),
        (
            "1a0000ffff",
            "65535 in 4 bytes",
            NonShortestArgument {
                offset: 0,
                value: 65535,
            },
        ),
        (
            "1b00000000ffffffff",
            "2^32-1 in 8 bytes",
            NonShortestArgument {
                offset: 0,
                value: 0xffff_ffff,
            },
        ),
        (
            "3817",
            "-24 in a 1-byte argument",
            NonShortestArgument {
                offset: 0,
                value: 23,
            },
        ),
        (
            "5801ff",
            "byte-string length 1 in 1 byte",
            NonShortestArgument {
                offset: 0,
                value: 1,
            },
        ),
        (
            "780161",
            "text length 1 in 1 byte",
            NonShortestArgument {
                offset: 0,
                value: 1,
            },
        ),
        (
            "9800",
            "array count 0 in 1 byte",
            NonShortestArgument {
                offset: 0,
                value: 0,
            },
        ),
        (
            "b800",
            "map count 0 in 1 byte",
            NonShortestArgument {
                offset: 0,
                value: 0,
            },
        ),
        (
            "81 1800",
            "nested non-shortest int, offset points inside",
            NonShortestArgument {
                offset: 1,
                value: 0,
            },
        ),
        // --- map keys (§4.2.1 key order; text keys only)
        (
            "a2 6162 01 6161 02",
            "unsorted keys {b, a}",
            UnsortedKeys {
                offset: 4,
                key: "a".into(),
            },
        ),
        (
            "a2 626161 01 6162 02",
            "{aa, b}: bytewise-text order, not encoded-length order",
            UnsortedKeys {
                offset: 5,
                key: "b".into(),
            },
        ),
        (
            "a2 6161 01 6161 02",
            "duplicate key a",
            DuplicateKey {
                offset: 4,
                key: "a".into(),
            },
        ),
        ("a1 01 02", "integer key", NonTextKey { offset: 1 }),
        ("a1 4161 02", "byte-string key", NonTextKey { offset: 1 }),
        ("a1 f6 02", "null key", NonTextKey { offset: 1 }),
        (
            "a1 6161",
            "key without a value (truncated)",
            Truncated {
                offset: 3,
                needed: 1,
            },
        ),
        // --- indefinite lengths and break
        (
            "9f 01 ff",
            "indefinite-length array",
            IndefiniteLength { offset: 0 },
        ),
        (
            "5f 4101 ff",
            "indefinite-length byte string",
            IndefiniteLength { offset: 0 },
        ),
        (
            "7f 6161 ff",
            "indefinite-length text string",
            IndefiniteLength { offset: 0 },
        ),
        (
            "bf ff",
            "indefinite-length map",
            IndefiniteLength { offset: 0 },
        ),
        ("ff", "stray break", IndefiniteLength { offset: 0 }),
        (
            "1f",
            "indefinite unsigned integer (malformed)",
            IndefiniteLength { offset: 0 },
        ),
        // --- reserved additional information
        (
            "1c",
            "additional information 28",
            ReservedAdditionalInfo {
                offset: 0,
                info: 28,
            },
        ),
        (
            "5d",
            "additional information 29 on a byte string",
            ReservedAdditionalInfo {
                offset: 0,
                info: 29,
            },
        ),
        (
            "fe",
            "additional information 30 in major type 7",
            ReservedAdditionalInfo {
                offset: 0,
                info: 30,
            },
        ),
        // --- tags
        (
            "c0 74 323031332d30332d32315432303a30343a30305a",
            "tag 0 (date/time)",
            Tag { offset: 0 },
        ),
        ("c1 1a514b67b0", "tag 1 (epoch)", Tag { offset: 0 }),
        ("d8 20 6161", "tag 32 (URI)", Tag { offset: 0 }),
        // --- simple values other than false/true/null
        (
            "f7",
            "undefined",
            UnsupportedSimpleValue {
                offset: 0,
                value: 23,
            },
        ),
        (
            "f0",
            "simple(16)",
            UnsupportedSimpleValue {
                offset: 0,
                value: 16,
            },
        ),
        (
            "f8 ff",
            "simple(255), two-byte form",
            UnsupportedSimpleValue {
                offset: 0,
                value: 255,
            },
        ),
        // --- NaN and Infinity, every width
        ("f9 7e00", "half NaN", NonFiniteFloat { offset: 0 }),
        ("f9 7c00", "half +Infinity", NonFiniteFloat { offset: 0 }),
        ("f9 fc00", "half -Infinity", NonFiniteFloat { offset: 0 }),
        ("fa 7fc00000", "single NaN", NonFiniteFloat { offset: 0 }),
        (
            "fa 7f800000",
            "single +Infinity",
            NonFiniteFloat { offset: 0 },
        ),
        (
            "fb 7ff8000000000000",
            "double NaN",
            NonFiniteFloat { offset: 0 },
        ),
        (
            "fb fff0000000000000",
            "double -Infinity",
            NonFiniteFloat { offset: 0 },
        ),
        // --- non-shortest floats (preferred serialization)
        (
            "fa 3fc00000",
            "1.5 as a single",
            NonShortestFloat { offset: 0 },
        ),
        (
            "fb 3ff8000000000000",
            "1.5 as a double",
            NonShortestFloat { offset: 0 },
        ),
        (
            "fb 3ff0000000000000",
            "1.0 as a double",
            NonShortestFloat { offset: 0 },
        ),
        (
            "fa 00000000",
            "0.0 as a single",
            NonShortestFloat { offset: 0 },
        ),
        (
            "fb 8000000000000000",
            "-0.0 as a double",
            NonShortestFloat { offset: 0 },
        ),
        (
            "fb 40f86a0000000000",
            "100000.0 as a double (fits a single)",
            NonShortestFloat { offset: 0 },
        ),
        (
            "fa 33800000",
            "2^-24 as a single (a half subnormal)",
            NonShortestFloat { offset: 0 },
        ),
        // --- trailing bytes, truncation, empty
        (
            "00 00",
            "a second top-level item",
            TrailingBytes {
                offset: 1,
                count: 1,
            },
        ),
        (
            "a0 ff",
            "break after a complete map",
            TrailingBytes {
                offset: 1,
                count: 1,
            },
        ),
        ("", "empty input", Empty),
        (
            "19 01",
            "argument cut short",
            Truncated {
                offset: 0,
                needed: 1,
            },
        ),
        (
            "fb 3ff1",
            "double cut short",
            Truncated {
                offset: 0,
                needed: 6,
            },
        ),
        (
            "83 01 02",
            "array of 3 with 2 bytes left",
            LengthExceedsInput {
                offset: 0,
                length: 3,
                remaining: 2,
            },
        ),
        (
            "82 8101",
            "array missing its second element",
            Truncated {
                offset: 3,
                needed: 1,
            },
        ),
        // --- invalid UTF-8
        (
            "62 c328",
            "invalid continuation byte",
            InvalidUtf8 { offset: 0 },
        ),
        ("61 ff", "0xff is never UTF-8", InvalidUtf8 { offset: 0 }),
        (
            "63 eda080",
            "an encoded UTF-16 surrogate (U+D800)",
            InvalidUtf8 { offset: 0 },
        ),
        (
            "62 c0af",
            "overlong encoding of '/'",
            InvalidUtf8 { offset: 0 },
        ),
        (
            "a1 62c328 00",
            "invalid UTF-8 in a map key",
            InvalidUtf8 { offset: 1 },
        ),
        // --- lengths that cannot fit the input (checked before allocating)
        (
            "5b 8000000000000000",
            "byte string claiming 2^63 bytes",
            LengthExceedsInput {
                offset: 0,
                length: 1 << 63,
                remaining: 0,
            },
        ),
        (
            "7b 7fffffffffffffff 61",
            "text claiming 2^63-1 bytes",
            LengthExceedsInput {
                offset: 0,
                length: (1 << 63) - 1,
                remaining: 1,
            },
        ),
        (
            "9b ffffffffffffffff 00",
            "array claiming 2^64-1 elements",
            LengthExceedsInput {
                offset: 0,
                length: u64::MAX,
                remaining: 1,
            },
        ),
        (
            "a2 6161 00",
            "map of 2 entries in 3 bytes",
            LengthExceedsInput {
                offset: 0,
                length: 2,
                remaining: 3,
            },
        ),
        (
            "45 0102",
            "byte string of 5 with 2 bytes left",
            LengthExceedsInput {
                offset: 0,
                length: 5,
                remaining: 2,
            },
        ),
    ]
}

#[test]
fn rejected_inputs_get_the_right_error() {
    for (hex, why, want) in rejected() {
        let got = decode(&h(hex), LIMITS);
        assert_eq!(got, Err(want), "{why}: {hex}");
    }
}

#[test]
fn rejected_inputs_are_refused_by_our_rules_not_by_ciborium() {
    // Rows that ciborium accepts show that each rule is ours to enforce (the point).
    for hex in [
        "1817",
        "a2 6162 01 6161 02",
        "a2 6161 01 6161 02",
        "fb 3ff8000000000000",
    ] {
        assert!(
            ciborium::de::from_reader::<ciborium::Value, _>(&h(hex)[..]).is_ok(),
            "{hex}"
        );
        assert!(decode(&h(hex), LIMITS).is_err(), "{hex}");
    }
}

#[test]
fn every_input_of_up_to_three_bytes_is_rejected_or_canonical() {
    // Exhaustive on small sizes: all 16,843,009 inputs of 0..=3 bytes. Whatever is accepted
    // re-encodes to exactly itself; count the accepted ones to see the check is not vacuous.
    let mut accepted = 0u32;
    let mut check = |bytes: &[u8]| {
        if let Ok(v) = decode(bytes, LIMITS) {
            assert_eq!(encode(&v).unwrap(), bytes, "{}", hex_encode(bytes));
            accepted += 1;
        }
    };
    check(&[]);
    for a in 0..=255u8 {
        check(&[a]);
        for b in 0..=255u8 {
            check(&[a, b]);
            for c in 0..=255u8 {
                check(&[a, b, c]);
            }
        }
    }
    // 1 byte: 0x00-0x17, 0x20-0x37 (ints), 0x40, 0x60, 0x80, 0xa0, 0xf4-0xf6 = 55.
    // That count alone is checked; the larger totals only need to be non-trivial.
    assert!(accepted > 10_000, "{accepted}");
    let one_byte = (0..=255u8)
        .filter(|&a| decode(&[a], LIMITS).is_ok())
        .count();
    assert_eq!(one_byte, 55);
}

#[test]
fn depth_bombs_are_rejected_without_recursing_deeper_than_the_limit() {
    // 10,000 nested one-element arrays: would overflow the stack of a naive decoder.
    let mut bomb = vec![0x81u8; 10_000];
    bomb.push(0x00);
    assert_eq!(
        decode(&bomb, LIMITS),
        Err(CborError::DepthExceeded {
            offset: MAX_DEPTH,
            limit: MAX_DEPTH
        })
    );
    // Exactly MAX_DEPTH levels is fine; one more is not.
    let mut ok = vec![0x81u8; MAX_DEPTH];
    ok.push(0x00);
    assert!(decode(&ok, LIMITS).is_ok());
    let mut over = vec![0x81u8; MAX_DEPTH + 1];
    over.push(0x00);
    assert!(matches!(
        decode(&over, LIMITS),
        Err(CborError::DepthExceeded { .. })
    ));
    // Maps count too; a caller's smaller limit applies.
    let flat = DecodeLimits {
        max_size: 100,
        max_depth: 1,
    };
    assert!(decode(&h("a1 6161 00"), flat).is_ok());
    assert_eq!(
        decode(&h("a1 6161 a0"), flat),
        Err(CborError::DepthExceeded {
            offset: 3,
            limit: 1
        })
    );
    // Scalars at the top need no depth at all.
    assert!(decode(
        &h("00"),
        DecodeLimits {
            max_size: 1,
            max_depth: 0
        }
    )
    .is_ok());
}

#[test]
fn size_limit_is_checked_before_decoding() {
    // Over the limit by one byte: refused even though the bytes are garbage (not decoded).
    let limits = DecodeLimits {
        max_size: 4,
        max_depth: 4,
    };
    assert_eq!(
        decode(&h("ffffffffff"), limits),
        Err(CborError::TooLarge { size: 5, limit: 4 })
    );
    assert!(decode(
        &h("1a000f4240"),
        DecodeLimits {
            max_size: 5,
            max_depth: 0
        }
    )
    .is_ok());
}

#[test]
fn encode_refuses_values_without_a_canonical_encoding() {
    for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(encode(&CborValue::Float(f)), Err(CborError::NonFiniteValue));
    }
    let mut deep = CborValue::Null;
    for _ in 0..MAX_DEPTH {
        deep = CborValue::Array(vec![deep]);
    }
    assert!(encode(&deep).is_ok());
    let deeper = CborValue::Array(vec![deep]);
    assert_eq!(
        encode(&deeper),
        Err(CborError::NestingTooDeep { limit: MAX_DEPTH })
    );
}

#[test]
fn json_conversion_rules() {
    use JsonNumber::*;
    let two64 = 1i128 << 64;
    // Integers at CBOR's range edges convert; one beyond does not.
    assert_eq!(
        from_json(&JsonValue::Number(Int(two64 - 1))),
        Ok(int(two64 - 1))
    );
    assert_eq!(from_json(&JsonValue::Number(Int(-two64))), Ok(int(-two64)));
    assert!(matches!(
        from_json(&JsonValue::Number(Int(two64))),
        Err(CborError::IntegerOutOfRange { .. })
    ));
    assert!(matches!(
        from_json(&JsonValue::Number(Int(-two64 - 1))),
        Err(CborError::IntegerOutOfRange { .. })
    ));
    assert_eq!(
        from_json(&JsonValue::Number(BigInt("1".repeat(50)))),
        Err(CborError::IntegerOutOfRange {
            value: "1".repeat(50)
        })
    );
    // NaN and Infinity are refused; 1.0 stays a float and 1 an integer.
    for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(
            from_json(&JsonValue::Number(Float(f))),
            Err(CborError::NonFiniteValue)
        );
    }
    assert_eq!(
        encode(&from_json(&JsonValue::Number(Float(1.0))).unwrap()).unwrap(),
        h("f93c00")
    );
    assert_eq!(
        encode(&from_json(&JsonValue::Number(Int(1))).unwrap()).unwrap(),
        h("01")
    );
    assert_eq!(
        to_json(&CborValue::Float(1.0)),
        Ok(JsonValue::Number(Float(1.0)))
    );
    assert_eq!(to_json(&int(1)), Ok(JsonValue::Number(Int(1))));
    // Duplicate keys are refused rather than silently merged.
    let dup = JsonValue::Object(vec![
        ("a".into(), JsonValue::Null),
        ("a".into(), JsonValue::Bool(true)),
    ]);
    assert_eq!(
        from_json(&dup),
        Err(CborError::DuplicateJsonKey { key: "a".into() })
    );
    // Byte strings have no JSON form.
    assert_eq!(
        to_json(&CborValue::Bytes(vec![1])),
        Err(CborError::BytesNotJson)
    );
    // Objects come back in canonical key order.
    let obj = JsonValue::Object(vec![
        ("zz".into(), JsonValue::Null),
        ("b".into(), JsonValue::Null),
        ("a".into(), JsonValue::Null),
    ]);
    let back = to_json(&from_json(&obj).unwrap()).unwrap();
    let JsonValue::Object(members) = back else {
        panic!("not an object")
    };
    let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "b", "zz"]);
}

// ---------------------------------------------------------------------------------------------
// The ciborium oracle

/// Our value as ciborium sees it, map entries in our canonical order.
fn to_ciborium(v: &CborValue) -> ciborium::Value {
    use ciborium::Value as C;
    match v {
        CborValue::Unsigned(_) | CborValue::Negative(_) => {
            C::Integer(ciborium::value::Integer::try_from(v.as_i128().unwrap()).unwrap())
        }
        CborValue::Bytes(b) => C::Bytes(b.clone()),
        CborValue::Text(s) => C::Text(s.clone()),
        CborValue::Array(a) => C::Array(a.iter().map(to_ciborium).collect()),
        CborValue::Map(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| canonical_key_order(a.0, b.0));
            C::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (C::Text(k.clone()), to_ciborium(v)))
                    .collect(),
            )
        }
        CborValue::Bool(b) => C::Bool(*b),
        CborValue::Null => C::Null,
        CborValue::Float(f) => C::Float(*f),
    }
}

/// Same value, with float bits compared exactly (so 0.0 and -0.0 differ).
fn same_ciborium(a: &ciborium::Value, b: &ciborium::Value) -> bool {
    use ciborium::Value as C;
    match (a, b) {
        (C::Float(x), C::Float(y)) => x.to_bits() == y.to_bits(),
        (C::Array(x), C::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_ciborium(p, q))
        }
        (C::Map(x), C::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && same_ciborium(v1, v2))
        }
        _ => a == b,
    }
}

fn check_with_ciborium(value: &CborValue) {
    let ours = encode(value).unwrap();
    let theirs: ciborium::Value = ciborium::de::from_reader(&ours[..])
        .unwrap_or_else(|e| panic!("ciborium rejects {}: {e}", hex_encode(&ours)));
    let expect = to_ciborium(value);
    assert!(
        same_ciborium(&theirs, &expect),
        "{}: {theirs:?} != {expect:?}",
        hex_encode(&ours)
    );
}

#[test]
fn ciborium_decodes_every_golden_encoding_to_the_same_value() {
    for (value, _) in golden() {
        check_with_ciborium(&value);
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests

fn json_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        any::<f32>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(f64::from),
        any::<u16>().prop_map(|b| (b as f64) / 8.0),
        Just(0.0),
        Just(-0.0),
        Just(1e-05),
        Just(5e-324),
    ]
}

fn json_int() -> impl Strategy<Value = i128> {
    let two64 = 1i128 << 64;
    prop_oneof![
        any::<i64>().prop_map(i128::from),
        any::<u64>().prop_map(i128::from),
        any::<u64>().prop_map(|n| -1 - i128::from(n)),
        Just(two64 - 1),
        Just(-two64),
        -30i128..30,
    ]
}

fn json_value() -> impl Strategy<Value = JsonValue> {
    let leaf = prop_oneof![
        Just(JsonValue::Null),
        any::<bool>().prop_map(JsonValue::Bool),
        json_int().prop_map(|i| JsonValue::Number(JsonNumber::Int(i))),
        json_float().prop_map(|f| JsonValue::Number(JsonNumber::Float(f))),
        ".{0,12}".prop_map(JsonValue::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(JsonValue::Array),
            // Unique keys, in a random (non-canonical) order.
            prop::collection::btree_map("[a-z]{0,4}|.{0,6}", inner, 0..6)
                .prop_map(|m| JsonValue::Object(m.into_iter().rev().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_round_trips_through_canonical_cbor(j in json_value()) {
        let value = from_json(&j).unwrap();
        let bytes = encode(&value).unwrap();
        let decoded = decode(&bytes, LIMITS).unwrap();
        prop_assert_eq!(&decoded, &value);
        // Same bytes again (so float signs and key order are stable).
        prop_assert_eq!(encode(&decoded).unwrap(), bytes.clone());
        // And the same JSON value back, once objects are in canonical order.
        let back = to_json(&decoded).unwrap();
        prop_assert_eq!(from_json(&back).unwrap(), value.clone());
        // What the JSONL mirror writes of it is the same, whether it writes the value it was
        // given (a fed event) or the one it decodes from the stored bytes (a rebuild).
        prop_assert_eq!(python_dumps_sorted(&back), python_dumps_sorted(&j));
        prop_assert_eq!(encode(&from_json(&back).unwrap()).unwrap(), bytes);
        check_with_ciborium(&value);
    }

    #[test]
    fn random_bytes_never_panic_and_accepted_bytes_are_canonical(
        bytes in prop::collection::vec(any::<u8>(), 0..64)
    ) {
        if let Ok(v) = decode(&bytes, LIMITS) {
            prop_assert_eq!(encode(&v).unwrap(), bytes);
        }
    }

    #[test]
    fn mutated_encodings_are_rejected_or_canonical(
        j in json_value(), pos in any::<prop::sample::Index>(), byte in any::<u8>()
    ) {
        // Flip one byte of a valid encoding: either an error, or bytes that are themselves
        // the canonical encoding of what they decode to.
        let mut bytes = encode(&from_json(&j).unwrap()).unwrap();
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        if let Ok(v) = decode(&bytes, LIMITS) {
            prop_assert_eq!(encode(&v).unwrap(), bytes);
        }
    }

    #[test]
    fn key_order_is_the_bytewise_order_of_encoded_keys(a in ".{0,30}", b in ".{0,30}") {
        let ea = encode(&CborValue::Text(a.clone())).unwrap();
        let eb = encode(&CborValue::Text(b.clone())).unwrap();
        prop_assert_eq!(canonical_key_order(&a, &b), ea.cmp(&eb));
    }
}
