//! The Python-compatible JSON parser and printers (`core::json`).
//!
//! - Any bytes: `Ok` or `Err`, never a panic; strict mode accepts a subset of Python mode,
//!   with the same value.
//! - `python_dumps_sorted` (the bytes the mirror hashes) parses back to the same value with
//!   its keys sorted, floats bit for bit (so `python_float_repr` round-trips), and is a fixed
//!   point; it is pure ASCII, as `ensure_ascii=True` prints.
//! - `to_json_string` parses back, in strict mode, to the same value (members in order).
//! - Differential: on strict RFC 8259 input, serde_json accepts what we accept and reads the
//!   same value (up to its number model: it reads `-0` as the float -0.0, Python as the
//!   integer 0), and rejects only for known reasons what we reject.

use llm_audit_trail::core::json::{
    parse, python_dumps_sorted, to_json_string, JsonError, JsonNumber, JsonValue, ParseOptions,
};

/// `v` with every object's members sorted by key (code point order, as Python sorts).
fn sorted(v: &JsonValue) -> JsonValue {
    match v {
        JsonValue::Array(items) => JsonValue::Array(items.iter().map(sorted).collect()),
        JsonValue::Object(members) => {
            let mut m: Vec<(String, JsonValue)> = members
                .iter()
                .map(|(k, v)| (k.clone(), sorted(v)))
                .collect();
            m.sort_by(|a, b| a.0.cmp(&b.0));
            JsonValue::Object(m)
        }
        other => other.clone(),
    }
}

/// Equality with floats compared bit for bit (NaN equals NaN, -0.0 differs from 0.0).
fn same(a: &JsonValue, b: &JsonValue) -> bool {
    match (a, b) {
        (JsonValue::Number(JsonNumber::Float(x)), JsonValue::Number(JsonNumber::Float(y))) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        (JsonValue::Array(x), JsonValue::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (JsonValue::Object(x), JsonValue::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && same(v1, v2))
        }
        _ => a == b,
    }
}

/// [`same`], but for serde_json's reading of `-0`: the float -0.0 where Python (and we) read
/// the integer 0.
fn same_as_serde(ours: &JsonValue, theirs: &JsonValue) -> bool {
    match (ours, theirs) {
        (JsonValue::Number(JsonNumber::Int(0)), JsonValue::Number(JsonNumber::Float(f))) => {
            *f == 0.0 && f.is_sign_negative()
        }
        (JsonValue::Array(x), JsonValue::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_as_serde(p, q))
        }
        (JsonValue::Object(x), JsonValue::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && same_as_serde(v1, v2))
        }
        _ => same(ours, theirs),
    }
}

/// Whether every number in `v` is one serde_json represents without loss (an integer in
/// i64/u64, or a float).
fn serde_exact(v: &JsonValue) -> bool {
    match v {
        JsonValue::Number(JsonNumber::Int(i)) => {
            i64::try_from(*i).is_ok() || u64::try_from(*i).is_ok()
        }
        JsonValue::Number(JsonNumber::BigInt(_)) => false,
        JsonValue::Array(items) => items.iter().all(serde_exact),
        JsonValue::Object(m) => m.iter().all(|(_, v)| serde_exact(v)),
        _ => true,
    }
}

/// Whether `v` holds an integer of more than 308 digits (past `f64::MAX`).
fn has_int_beyond_f64(v: &JsonValue) -> bool {
    match v {
        JsonValue::Number(JsonNumber::BigInt(d)) => d.trim_start_matches('-').len() > 308,
        JsonValue::Array(items) => items.iter().any(has_int_beyond_f64),
        JsonValue::Object(m) => m.iter().any(|(_, v)| has_int_beyond_f64(v)),
        _ => false,
    }
}

/// Nesting depth of brackets in the raw input (an upper bound, strings included).
fn bracket_depth(data: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for &b in data {
        match b {
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Runs the checks on one input.
pub fn check(data: &[u8]) {
    let python = parse(data, ParseOptions::PYTHON);
    let strict = parse(data, ParseOptions::STRICT);
    if let Ok(v) = &strict {
        let p = python.as_ref().expect("strict input is Python input");
        assert!(same(v, p), "strict and Python modes read the same value");
    }
    if let Ok(v) = &python {
        let text = python_dumps_sorted(v);
        assert!(text.is_ascii(), "ensure_ascii output is ASCII");
        let back = parse(text.as_bytes(), ParseOptions::PYTHON).expect("dumps output parses");
        assert!(
            same(&back, &sorted(v)),
            "dumps output reads back as the value, keys sorted"
        );
        assert_eq!(python_dumps_sorted(&back), text);
        let compact = to_json_string(v);
        if !v.contains_non_finite() {
            let back = parse(compact.as_bytes(), ParseOptions::STRICT)
                .expect("to_json_string output is RFC 8259 JSON");
            assert!(
                same(&back, v),
                "to_json_string output reads back as the value"
            );
        }
    }

    // Differential against serde_json on strict input.
    let theirs = serde_json::from_slice::<serde_json::Value>(data);
    match (&strict, &theirs) {
        (Ok(v), Ok(t)) => {
            if serde_exact(v) {
                assert!(
                    same_as_serde(v, &JsonValue::from(t)),
                    "serde_json reads {t:?}, we read {v:?}"
                );
            }
        }
        (Ok(v), Err(e)) => {
            // serde_json stops at 128 nested levels, as we do, counted its own way; and it
            // reads integers beyond 64 bits as floats, so one past f64's range is "out of
            // range" there and an exact integer here (and in Python).
            assert!(
                bracket_depth(data) >= 127 || has_int_beyond_f64(v),
                "serde_json rejects what we accept: {e}"
            );
        }
        (Err(e), Ok(_)) => {
            // Known differences: duplicate keys (serde_json keeps the last), integers longer
            // than Python accepts, and nesting at the limit.
            let known = matches!(
                e,
                JsonError::DuplicateKey { .. }
                    | JsonError::IntegerTooLong { .. }
                    | JsonError::TooDeep { .. }
            );
            assert!(known, "we reject what serde_json accepts: {e}");
        }
        (Err(_), Err(_)) => {}
    }
}
