//! The entry and body of `spec/entry.md`: the spec's example byte for byte, field rules,
//! a table of rejected entries, timestamps, event ids, and property tests.

use std::collections::BTreeMap;

use llm_audit_trail::core::cbor::{self, CborError, CborValue};
use llm_audit_trail::core::entry::*;
use llm_audit_trail::core::hash::{hex_decode, hex_encode, leaf_hash};
use llm_audit_trail::core::json::{JsonNumber, JsonValue};
use proptest::prelude::*;

const SPEC: &str = include_str!("../spec/entry.md");

fn h(s: &str) -> Vec<u8> {
    hex_decode(&s.replace(' ', "")).expect("test hex")
}

fn salt() -> [u8; 32] {
    core::array::from_fn(|i| i as u8)
}

fn example_body() -> Body {
    Body {
        actor: Some("alice".into()),
        details: JsonValue::Object(vec![
            (
                "accuracy".into(),
                JsonValue::Number(JsonNumber::Float(0.88)),
            ),
            ("epochs".into(), JsonValue::Number(JsonNumber::Int(3))),
            ("lr".into(), JsonValue::Number(JsonNumber::Float(1e-05))),
            ("warmup".into(), JsonValue::Number(JsonNumber::Float(1.5))),
        ]),
    }
}

fn example_header(body_digest: [u8; 32]) -> EntryHeader {
    EntryHeader {
        event_id: "00000000-0000-4000-8000-000000000000".into(),
        timestamp: "2026-01-02T09:15:04.123456Z".into(),
        event_type: "Evaluation".into(),
        system: Some("demo".into()),
        model_id: Some("demo-imdb-v1".into()),
        dataset_id: None,
        deployment_id: None,
        submitter: Some("ci".into()),
        body_digest,
    }
}

// The expected values of spec/entry.md §6, produced by tools/gen_entry_example.py.
const EXAMPLE_BODY: &str = "a2656163746f7265616c6963656764657461696c73a4626c72fb3ee4f8b588e368f16665706f63687303667761726d7570f93e00686163637572616379fb3fec28f5c28f5c29";
const EXAMPLE_DIGEST: &str = "7aaa23e772bc18a838c9b7e389d274505346fad73e4fa1fed0371060c1b28e08";
const EXAMPLE_ENTRY: &str = "a86673797374656d6464656d6f6776657273696f6e01686576656e745f6964782430303030303030302d303030302d343030302d383030302d303030303030303030303030686d6f64656c5f69646c64656d6f2d696d64622d7631697375626d69747465726263696974696d657374616d70781b323032362d30312d30325430393a31353a30342e3132333435365a6a6576656e745f747970656a4576616c756174696f6e6b626f64795f64696765737458207aaa23e772bc18a838c9b7e389d274505346fad73e4fa1fed0371060c1b28e08";
const EXAMPLE_LEAF_HASH: &str = "270191e7af1878320d107ff1515a72d3af8605ee10b3fd3f20245d3780b2107b";
const EXAMPLE_SALT: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn example_entry_bytes() -> Vec<u8> {
    h(EXAMPLE_ENTRY)
}

#[test]
fn spec_example_byte_for_byte() {
    // The spec shows these exact values (so spec and test cannot drift apart).
    for v in [
        EXAMPLE_BODY,
        EXAMPLE_DIGEST,
        EXAMPLE_ENTRY,
        EXAMPLE_LEAF_HASH,
        EXAMPLE_SALT,
    ] {
        assert!(SPEC.contains(v), "spec/entry.md lacks {v}");
    }
    assert_eq!(hex_encode(&salt()), EXAMPLE_SALT);

    let body_bytes = encode_body(&example_body()).unwrap();
    assert_eq!(hex_encode(&body_bytes), EXAMPLE_BODY);
    let digest = body_digest(&salt(), &body_bytes);
    assert_eq!(hex_encode(&digest), EXAMPLE_DIGEST);
    let header = example_header(digest);
    let entry = encode_entry(&header).unwrap();
    assert_eq!(hex_encode(&entry), EXAMPLE_ENTRY);
    assert_eq!(leaf_hash(&entry).to_hex(), EXAMPLE_LEAF_HASH);

    // And back.
    assert_eq!(decode_entry(&entry).unwrap(), header);
    let body = verify_body(&header, &salt(), &body_bytes).unwrap();
    // details come back in canonical key order: lr, epochs, warmup, accuracy.
    let JsonValue::Object(members) = &body.details else {
        panic!("details not an object")
    };
    let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["lr", "epochs", "warmup", "accuracy"]);
    assert_eq!(body.actor.as_deref(), Some("alice"));
    assert_eq!(encode_body(&body).unwrap(), body_bytes);
}

#[test]
fn ciborium_reads_the_example_entry_as_the_same_map() {
    let v: ciborium::Value = ciborium::de::from_reader(&example_entry_bytes()[..]).unwrap();
    let ciborium::Value::Map(entries) = v else {
        panic!("not a map")
    };
    let keys: Vec<String> = entries
        .iter()
        .map(|(k, _)| k.as_text().unwrap().to_owned())
        .collect();
    assert_eq!(
        keys,
        [
            "system",
            "version",
            "event_id",
            "model_id",
            "submitter",
            "timestamp",
            "event_type",
            "body_digest"
        ]
    );
    assert_eq!(entries[1].1, ciborium::Value::Integer(1.into()));
    assert_eq!(entries[7].1, ciborium::Value::Bytes(h(EXAMPLE_DIGEST)));
}

// ---------------------------------------------------------------------------------------------
// Rejected entries

/// The example entry as a CBOR map, to be altered one field at a time.
fn example_map() -> BTreeMap<String, CborValue> {
    match cbor::decode(
        &example_entry_bytes(),
        cbor::DecodeLimits {
            max_size: 4096,
            max_depth: 1,
        },
    ) {
        Ok(CborValue::Map(m)) => m,
        other => panic!("{other:?}"),
    }
}

fn with(change: impl FnOnce(&mut BTreeMap<String, CborValue>)) -> Vec<u8> {
    let mut m = example_map();
    change(&mut m);
    cbor::encode(&CborValue::Map(m)).unwrap()
}

fn set(k: &'static str, v: CborValue) -> impl FnOnce(&mut BTreeMap<String, CborValue>) {
    move |m| {
        m.insert(k.to_owned(), v);
    }
}

fn text(s: &str) -> CborValue {
    CborValue::Text(s.to_owned())
}

#[test]
fn rejected_entries() {
    use EntryError::*;
    let e = Part::Entry;
    let mut trailing = example_entry_bytes();
    trailing.push(0x00);
    let mut non_shortest_version = example_entry_bytes();
    // "version" 01 at offset 21 rewritten as 18 01: same value, non-shortest, one byte longer.
    assert_eq!(non_shortest_version[21], 0x01);
    non_shortest_version.splice(21..22, [0x18, 0x01]);

    let cases: Vec<(&str, Vec<u8>, EntryError)> = vec![
        // Canonical-CBOR violations surface as Cbor errors.
        (
            "a trailing byte",
            trailing,
            Cbor {
                part: e,
                source: CborError::TrailingBytes {
                    offset: 211,
                    count: 1,
                },
            },
        ),
        (
            "version 1 encoded as 18 01",
            non_shortest_version,
            Cbor {
                part: e,
                source: CborError::NonShortestArgument {
                    offset: 21,
                    value: 1,
                },
            },
        ),
        (
            "a nested map as a field value",
            with(set("system", CborValue::Map(BTreeMap::new()))),
            Cbor {
                part: e,
                source: CborError::DepthExceeded {
                    offset: 8,
                    limit: 1,
                },
            },
        ),
        // Structure.
        ("an array, not a map", h("80"), NotAMap { part: e }),
        (
            "version 2",
            with(set("version", CborValue::Unsigned(2))),
            UnsupportedVersion { version: 2 },
        ),
        (
            "version 2 with an unknown field: version is reported first",
            with(|m| {
                m.insert("version".into(), CborValue::Unsigned(2));
                m.insert("new_field".into(), text("x"));
            }),
            UnsupportedVersion { version: 2 },
        ),
        (
            "version as text",
            with(set("version", text("1"))),
            WrongType {
                part: e,
                field: "version",
                expected: "an unsigned integer",
            },
        ),
        (
            "no version",
            with(|m| {
                m.remove("version");
            }),
            MissingField {
                part: e,
                field: "version",
            },
        ),
        (
            "no event_id",
            with(|m| {
                m.remove("event_id");
            }),
            MissingField {
                part: e,
                field: "event_id",
            },
        ),
        (
            "no timestamp",
            with(|m| {
                m.remove("timestamp");
            }),
            MissingField {
                part: e,
                field: "timestamp",
            },
        ),
        (
            "no event_type",
            with(|m| {
                m.remove("event_type");
            }),
            MissingField {
                part: e,
                field: "event_type",
            },
        ),
        (
            "no body_digest",
            with(|m| {
                m.remove("body_digest");
            }),
            MissingField {
                part: e,
                field: "body_digest",
            },
        ),
        (
            "an unknown field",
            with(set("actor", text("alice"))),
            UnknownField {
                part: e,
                field: "actor".into(),
            },
        ),
        (
            "null for an absent optional field (absent is omitted)",
            with(set("dataset_id", CborValue::Null)),
            WrongType {
                part: e,
                field: "dataset_id",
                expected: "a text string (absent fields are omitted, never null)",
            },
        ),
        (
            "event_id as bytes",
            with(set("event_id", CborValue::Bytes(vec![0x61]))),
            WrongType {
                part: e,
                field: "event_id",
                expected: "a text string (absent fields are omitted, never null)",
            },
        ),
        (
            "body_digest as text",
            with(set("body_digest", text(EXAMPLE_DIGEST))),
            WrongType {
                part: e,
                field: "body_digest",
                expected: "a byte string",
            },
        ),
        (
            "body_digest of 31 bytes",
            with(set("body_digest", CborValue::Bytes(vec![0; 31]))),
            BodyDigestLength { len: 31 },
        ),
        // Field rules.
        (
            "empty event_id",
            with(set("event_id", text(""))),
            FieldLength {
                field: "event_id",
                len: 0,
                min: 1,
                max: 128,
            },
        ),
        (
            "event_id of 129 characters",
            with(set("event_id", text(&"a".repeat(129)))),
            FieldLength {
                field: "event_id",
                len: 129,
                min: 1,
                max: 128,
            },
        ),
        (
            "space in event_id",
            with(set("event_id", text("a b"))),
            FieldCharacter {
                field: "event_id",
                position: 1,
                character: ' ',
                rule: "allowed: A-Z a-z 0-9 . _ : -",
            },
        ),
        (
            "slash in event_type",
            with(set("event_type", text("eval/x"))),
            FieldCharacter {
                field: "event_type",
                position: 4,
                character: '/',
                rule: "allowed: A-Z a-z 0-9 . _ : -",
            },
        ),
        (
            "non-ASCII letter in event_type",
            with(set("event_type", text("évaluation"))),
            FieldCharacter {
                field: "event_type",
                position: 0,
                character: 'é',
                rule: "allowed: A-Z a-z 0-9 . _ : -",
            },
        ),
        (
            "empty system",
            with(set("system", text(""))),
            FieldLength {
                field: "system",
                len: 0,
                min: 1,
                max: 256,
            },
        ),
        (
            "model_id of 257 bytes",
            with(set("model_id", text(&"m".repeat(257)))),
            FieldLength {
                field: "model_id",
                len: 257,
                min: 1,
                max: 256,
            },
        ),
        (
            "newline in submitter",
            with(set("submitter", text("ci\nroot"))),
            FieldCharacter {
                field: "submitter",
                position: 2,
                character: '\n',
                rule: "control characters are not allowed",
            },
        ),
        (
            "C1 control (U+0085) in deployment_id",
            with(set("deployment_id", text("a\u{85}"))),
            FieldCharacter {
                field: "deployment_id",
                position: 1,
                character: '\u{85}',
                rule: "control characters are not allowed",
            },
        ),
        (
            "timestamp without microseconds",
            with(set("timestamp", text("2026-01-02T09:15:04Z"))),
            InvalidTimestamp {
                value: "2026-01-02T09:15:04Z".into(),
                rule: "must be exactly 27 characters: YYYY-MM-DDTHH:MM:SS.ffffffZ",
            },
        ),
        (
            "timestamp on 2026-02-29",
            with(set("timestamp", text("2026-02-29T00:00:00.000000Z"))),
            InvalidTimestamp {
                value: "2026-02-29T00:00:00.000000Z".into(),
                rule: "day does not exist in that month",
            },
        ),
        // Size: refused before decoding.
        (
            "4097 bytes",
            vec![0u8; 4097],
            TooLarge {
                part: e,
                size: 4097,
                limit: MAX_ENTRY_SIZE,
            },
        ),
    ];
    for (why, bytes, want) in cases {
        assert_eq!(decode_entry(&bytes), Err(want), "{why}");
    }
}

#[test]
fn encode_entry_applies_the_same_rules() {
    let mut header = example_header([7; 32]);
    header.system = Some(String::new());
    assert!(matches!(
        encode_entry(&header),
        Err(EntryError::FieldLength {
            field: "system",
            ..
        })
    ));
    let mut header = example_header([7; 32]);
    header.timestamp = "2026-01-02 09:15:04.123456Z".into();
    assert!(matches!(
        encode_entry(&header),
        Err(EntryError::InvalidTimestamp { .. })
    ));
}

#[test]
fn absent_optional_fields_are_omitted() {
    let mut header = example_header([7; 32]);
    header.system = None;
    header.model_id = None;
    header.submitter = None;
    let bytes = encode_entry(&header).unwrap();
    assert_eq!(
        bytes[0], 0xa5,
        "five keys: version, event_id, timestamp, event_type, body_digest"
    );
    assert!(!bytes.windows(6).any(|w| w == b"system"));
    assert_eq!(decode_entry(&bytes).unwrap(), header);
}

// A tlog-tiles entry bundle holds leaves of at most 65,535 bytes.
const _: () = assert!(MAX_ENTRY_SIZE < 65_535);

#[test]
fn the_largest_valid_entry_fits_a_tile_bundle_with_room_to_spare() {
    let long = "\u{10348}".repeat(64); // 4-byte characters: 256 bytes
    let header = EntryHeader {
        event_id: "e".repeat(MAX_EVENT_ID_LEN),
        timestamp: "9999-12-31T23:59:59.999999Z".into(),
        event_type: "t".repeat(MAX_EVENT_TYPE_LEN),
        system: Some(long.clone()),
        model_id: Some(long.clone()),
        dataset_id: Some(long.clone()),
        deployment_id: Some(long.clone()),
        submitter: Some(long),
        body_digest: [0xff; 32],
    };
    let bytes = encode_entry(&header).unwrap();
    assert!(bytes.len() <= 1800, "{}", bytes.len());
    assert_eq!(decode_entry(&bytes).unwrap(), header);
}

// ---------------------------------------------------------------------------------------------
// Bodies

#[test]
fn verify_body_checks_salt_bytes_and_encoding() {
    let body_bytes = encode_body(&example_body()).unwrap();
    let header = example_header(body_digest(&salt(), &body_bytes));
    assert!(verify_body(&header, &salt(), &body_bytes).is_ok());

    // Wrong salt.
    let mut other_salt = salt();
    other_salt[31] ^= 1;
    assert!(matches!(
        verify_body(&header, &other_salt, &body_bytes),
        Err(EntryError::BodyDigestMismatch { .. })
    ));
    // Every single-byte change to the body is caught by the digest.
    for i in 0..body_bytes.len() {
        let mut tampered = body_bytes.clone();
        tampered[i] ^= 0x01;
        assert!(
            matches!(
                verify_body(&header, &salt(), &tampered),
                Err(EntryError::BodyDigestMismatch { .. })
            ),
            "byte {i}"
        );
    }
    // A digest over non-canonical bytes still fails: bytes must also decode strictly.
    let mut padded = body_bytes.clone();
    padded.push(0x00);
    let header2 = example_header(body_digest(&salt(), &padded));
    assert_eq!(
        verify_body(&header2, &salt(), &padded),
        Err(EntryError::Cbor {
            part: Part::Body,
            source: CborError::TrailingBytes {
                offset: body_bytes.len(),
                count: 1
            }
        })
    );
    // Oversized bodies are refused before hashing.
    let huge = vec![0u8; MAX_BODY_SIZE + 1];
    assert_eq!(
        verify_body(&header, &salt(), &huge),
        Err(EntryError::TooLarge {
            part: Part::Body,
            size: MAX_BODY_SIZE + 1,
            limit: MAX_BODY_SIZE
        })
    );
}

#[test]
fn rejected_bodies() {
    use EntryError::*;
    let b = Part::Body;
    let enc = |v: CborValue| cbor::encode(&v).unwrap();
    let body_map = |entries: Vec<(&str, CborValue)>| {
        CborValue::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    };
    let cases: Vec<(&str, Vec<u8>, EntryError)> = vec![
        // null actor: absent is omitted, never null.
        (
            "null actor",
            enc(body_map(vec![
                ("actor", CborValue::Null),
                ("details", CborValue::Null),
            ])),
            WrongType {
                part: b,
                field: "actor",
                expected: "a text string (absent fields are omitted, never null)",
            },
        ),
        // details is required.
        (
            "no details",
            enc(body_map(vec![("actor", text("a"))])),
            MissingField {
                part: b,
                field: "details",
            },
        ),
        // an unknown key.
        (
            "extra key",
            enc(body_map(vec![
                ("details", CborValue::Null),
                ("salt", text("x")),
            ])),
            UnknownField {
                part: b,
                field: "salt".into(),
            },
        ),
        // a byte string has no JSON form.
        (
            "bytes in details",
            enc(body_map(vec![("details", CborValue::Bytes(vec![1]))])),
            Details {
                source: CborError::BytesNotJson,
            },
        ),
        // actor's text rule.
        (
            "tab in actor",
            enc(body_map(vec![
                ("actor", text("a\tb")),
                ("details", CborValue::Null),
            ])),
            FieldCharacter {
                field: "actor",
                position: 1,
                character: '\t',
                rule: "control characters are not allowed",
            },
        ),
        // a top-level array.
        (
            "not a map",
            enc(CborValue::Array(vec![])),
            NotAMap { part: b },
        ),
        // NaN inside details.
        (
            "NaN in details",
            h("a1 67 64657461696c73 f97e00"),
            Cbor {
                part: b,
                source: CborError::NonFiniteFloat { offset: 9 },
            },
        ),
    ];
    for (why, bytes, want) in cases {
        assert_eq!(decode_body(&bytes), Err(want), "{why}");
    }
    // The minimal body: details null, no actor.
    let minimal = h("a1 67 64657461696c73 f6");
    assert_eq!(
        decode_body(&minimal),
        Ok(Body {
            actor: None,
            details: JsonValue::Null
        })
    );
}

#[test]
fn encode_body_refuses_what_cbor_cannot_carry() {
    let body = |details| Body {
        actor: None,
        details,
    };
    assert!(matches!(
        encode_body(&body(JsonValue::Number(JsonNumber::BigInt("1".repeat(30))))),
        Err(EntryError::Details {
            source: CborError::IntegerOutOfRange { .. }
        })
    ));
    assert!(matches!(
        encode_body(&body(JsonValue::Number(JsonNumber::Float(f64::NAN)))),
        Err(EntryError::Details {
            source: CborError::NonFiniteValue
        })
    ));
    // Nesting: the body map is level 1, so details may nest MAX_DEPTH - 1 containers.
    let mut deep = JsonValue::Null;
    for _ in 0..cbor::MAX_DEPTH - 1 {
        deep = JsonValue::Array(vec![deep]);
    }
    let bytes = encode_body(&body(deep.clone())).unwrap();
    assert_eq!(decode_body(&bytes).unwrap().details, deep);
    assert!(matches!(
        encode_body(&body(JsonValue::Array(vec![deep]))),
        Err(EntryError::Details {
            source: CborError::NestingTooDeep { .. }
        })
    ));
    // Size: a 300 KB string is over MAX_BODY_SIZE.
    assert!(matches!(
        encode_body(&body(JsonValue::String("x".repeat(300_000)))),
        Err(EntryError::TooLarge {
            part: Part::Body,
            ..
        })
    ));
    assert!(matches!(
        encode_body(&Body {
            actor: Some(String::new()),
            details: JsonValue::Null
        }),
        Err(EntryError::FieldLength { field: "actor", .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Timestamps and event ids

#[test]
fn timestamps_agree_with_python_datetime() {
    // (timestamp, microseconds since the epoch) computed with Python's datetime.
    let vectors = [
        ("1970-01-01T00:00:00.000000Z", 0),
        ("2026-01-02T09:15:04.123456Z", 1_767_345_304_123_456),
        ("0001-01-01T00:00:00.000000Z", -62_135_596_800_000_000),
        ("9999-12-31T23:59:59.999999Z", 253_402_300_799_999_999),
        ("2000-02-29T12:00:00.000001Z", 951_825_600_000_001),
        ("1969-12-31T23:59:59.999999Z", -1),
    ];
    for (s, micros) in vectors {
        assert_eq!(parse_timestamp(s), Ok(micros), "{s}");
        assert_eq!(format_timestamp(micros).as_deref(), Ok(s), "{micros}");
    }
    for micros in [
        -62_135_596_800_000_001,
        253_402_300_800_000_000,
        i64::MIN,
        i64::MAX,
    ] {
        assert_eq!(
            format_timestamp(micros),
            Err(EntryError::TimestampOutOfRange {
                unix_micros: micros
            })
        );
    }
}

#[test]
fn malformed_timestamps_are_rejected() {
    let bad = [
        "2026-01-02T09:15:04.123456",       // no Z
        "2026-01-02T09:15:04.123456+00:00", // offset instead of Z
        "2026-01-02T09:15:04.12345Z",       // 5 fraction digits
        "2026-01-02T09:15:04.1234567Z",     // 7 fraction digits
        "2026-01-02 09:15:04.123456Z",      // space instead of T
        "2026-01-02t09:15:04.123456Z",      // lower-case t
        "2026-01-02T09:15:04.123456z",      // lower-case z
        "2026/01/02T09:15:04.123456Z",      // wrong date separator
        "0000-01-01T00:00:00.000000Z",      // year 0
        "2026-00-01T00:00:00.000000Z",      // month 0
        "2026-13-01T00:00:00.000000Z",      // month 13
        "2026-01-00T00:00:00.000000Z",      // day 0
        "2026-01-32T00:00:00.000000Z",      // day 32
        "2026-04-31T00:00:00.000000Z",      // April has 30 days
        "2100-02-29T00:00:00.000000Z",      // 2100 is not a leap year
        "2026-01-02T24:00:00.000000Z",      // hour 24
        "2026-01-02T23:60:00.000000Z",      // minute 60
        "2016-12-31T23:59:60.000000Z",      // leap second (Python rejects it too)
        "+026-01-02T09:15:04.123456Z",      // sign instead of a digit
        "2026-01-02T09:15:04.12345aZ",      // letter in the fraction
        "2026-01-02T09:15:04.١٢٣٤٥٦Z",      // Arabic-Indic digits (multi-byte)
        "",                                 // empty
    ];
    for s in bad {
        assert!(
            matches!(parse_timestamp(s), Err(EntryError::InvalidTimestamp { .. })),
            "{s:?}"
        );
    }
    assert!(
        parse_timestamp("2000-02-29T00:00:00.000000Z").is_ok(),
        "2000 is a leap year"
    );
}

#[test]
fn event_ids_match_python_uuid4_formatting() {
    // (random bytes, str(uuid.UUID(bytes=..., version=4))) from Python 3.11.
    let vectors = [
        (
            "00000000000000000000000000000000",
            "00000000-0000-4000-8000-000000000000",
        ),
        (
            "ffffffffffffffffffffffffffffffff",
            "ffffffff-ffff-4fff-bfff-ffffffffffff",
        ),
        (
            "000102030405060708090a0b0c0d0e0f",
            "00010203-0405-4607-8809-0a0b0c0d0e0f",
        ),
        (
            "d3b07384d113edec49eaa6238ad5ff00",
            "d3b07384-d113-4dec-89ea-a6238ad5ff00",
        ),
    ];
    for (random, want) in vectors {
        let bytes: [u8; 16] = h(random).try_into().unwrap();
        let id = event_id_from_random(bytes);
        assert_eq!(id, want);
        let mut header = example_header([0; 32]);
        header.event_id = id;
        assert!(header.validate().is_ok());
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[^\\p{Cc}]{1,40}")
}

fn header() -> impl Strategy<Value = EntryHeader> {
    (
        "[A-Za-z0-9._:-]{1,128}",
        -62_135_596_800_000_000i64..=253_402_300_799_999_999,
        "[A-Za-z0-9_.:-]{1,128}",
        (opt_text(), opt_text(), opt_text(), opt_text(), opt_text()),
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(event_id, micros, event_type, (s, m, d, dep, sub), body_digest)| EntryHeader {
                event_id,
                timestamp: format_timestamp(micros).unwrap(),
                event_type,
                system: s,
                model_id: m,
                dataset_id: d,
                deployment_id: dep,
                submitter: sub,
                body_digest,
            },
        )
}

fn details() -> impl Strategy<Value = JsonValue> {
    let leaf = prop_oneof![
        Just(JsonValue::Null),
        any::<bool>().prop_map(JsonValue::Bool),
        any::<i64>().prop_map(|i| JsonValue::Number(JsonNumber::Int(i.into()))),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| JsonValue::Number(JsonNumber::Float(f))),
        ".{0,10}".prop_map(JsonValue::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(JsonValue::Array),
            // Objects already in canonical key order, so decode gives back the same value.
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..5).prop_map(|m| {
                let mut members: Vec<_> = m.into_iter().collect();
                members.sort_by(|a, b| cbor::canonical_key_order(&a.0, &b.0));
                JsonValue::Object(members)
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn entries_round_trip(header in header()) {
        let bytes = encode_entry(&header).unwrap();
        prop_assert!(bytes.len() <= MAX_ENTRY_SIZE);
        prop_assert_eq!(decode_entry(&bytes).unwrap(), header);
    }

    #[test]
    fn bodies_round_trip_and_verify(
        actor in opt_text(), details in details(), salt in any::<[u8; 32]>(), h in header()
    ) {
        let body = Body { actor, details };
        let bytes = encode_body(&body).unwrap();
        prop_assert_eq!(decode_body(&bytes).unwrap(), body.clone());
        let header = EntryHeader { body_digest: body_digest(&salt, &bytes), ..h };
        prop_assert_eq!(verify_body(&header, &salt, &bytes).unwrap(), body);
    }

    #[test]
    fn timestamps_round_trip(micros in -62_135_596_800_000_000i64..=253_402_300_799_999_999) {
        let s = format_timestamp(micros).unwrap();
        prop_assert_eq!(s.len(), TIMESTAMP_LEN);
        prop_assert_eq!(parse_timestamp(&s).unwrap(), micros);
    }

    #[test]
    fn decoders_never_panic_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_entry(&bytes);
        let _ = decode_body(&bytes);
    }

    #[test]
    fn accepted_mutations_of_an_entry_reencode_to_themselves(
        pos in any::<prop::sample::Index>(), byte in any::<u8>()
    ) {
        let mut bytes = example_entry_bytes();
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        if let Ok(header) = decode_entry(&bytes) {
            prop_assert_eq!(encode_entry(&header).unwrap(), bytes);
        }
    }
}
