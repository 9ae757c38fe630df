//! JSON values as Python's `json` module sees them, and Python's `json.dumps` output.
//!
//! The seed library (llm-audit-trail 0.1.0) hashes
//! `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`; to be
//! byte-compatible we parse JSON into [`JsonValue`] with Python's number semantics
//! (unbounded integers, IEEE doubles, `NaN`/`Infinity` accepted when asked) and print it
//! back exactly as Python would. See `spec/mirror.md`.

/// A JSON number with Python's semantics: integers are exact, floats are IEEE doubles.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonNumber {
    /// An integer that fits in `i128` (every integer CBOR can carry natively fits).
    Int(i128),
    /// An integer outside `i128`, as canonical decimal digits (optional `-`, no leading zeros).
    BigInt(String),
    /// A float (a JSON number with a fraction or exponent). May be non-finite only when the
    /// value came from Python-compatible parsing of `NaN`, `Infinity` or `-Infinity`.
    Float(f64),
}

/// A parsed JSON value. Object members keep their order; keys are unique.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonValue {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number.
    Number(JsonNumber),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<JsonValue>),
    /// An object: (key, value) members in input order, keys unique.
    Object(Vec<(String, JsonValue)>),
}
