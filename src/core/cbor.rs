//! A small deterministic CBOR codec: RFC 8949 §4.2.1 ("core deterministic encoding").
//!
//! Implements the subset of CBOR (RFC 8949 §3) that the entry and body of `spec/entry.md` use:
//! unsigned and negative integers (major types 0 and 1), byte strings (2), text strings (3),
//! arrays (4), maps with text keys (5), `false`/`true`/`null` and finite floats (7).
//!
//! [`encode`] writes the one canonical encoding of a value:
//!
//! 1. shortest argument for every integer, length and count (§4.2.1, first bullet);
//! 2. definite lengths only (§4.2.1);
//! 3. map keys sorted by the bytewise order of their encoded form (§4.2.1, "keys in the
//!    bytewise lexicographic order of their deterministic encodings");
//! 4. floats in the shortest of half/single/double that is exact (§4.2.1 with the preferred
//!    serialization of §4.1); an integral float stays a float.
//!
//! [`decode`] accepts exactly those bytes and rejects everything else with a [`CborError`]
//! naming the offset and the rule: non-shortest arguments or floats, indefinite lengths, tags,
//! `undefined` and other simple values, NaN and ±Infinity, non-text, unsorted or duplicate map
//! keys, invalid UTF-8, truncated input, trailing bytes, and input over the caller's
//! [`DecodeLimits`] (size checked before decoding, nesting depth at most [`MAX_DEPTH`], every
//! length checked against the bytes that remain before allocating).
//!
//! Out of scope: tags (major type 6) and every simple value other than `false`, `true` and
//! `null`; streaming; `serde`. No CBOR crate is used at run time because none of them sorts map
//! keys or checks §4.2.1 on decode (see `spec/entry.md` §1).

use std::collections::BTreeMap;

use crate::core::json::{JsonNumber, JsonValue};

/// The deepest container nesting any decoder, [`from_json`] or [`encode`] accepts: a
/// top-level array or map is at depth 1.
pub const MAX_DEPTH: usize = 64;

/// A CBOR data item of the supported subset.
///
/// Map keys are text and unique by construction; [`encode`] writes them in canonical order,
/// whatever order the `BTreeMap` iterates in.
#[derive(Debug, Clone, PartialEq)]
pub enum CborValue {
    /// Major type 0: an unsigned integer `0 ..= 2^64-1`.
    Unsigned(u64),
    /// Major type 1: the negative integer `-1 - n` (so `Negative(0)` is −1, `Negative(u64::MAX)`
    /// is −2^64).
    Negative(u64),
    /// Major type 2: a byte string.
    Bytes(Vec<u8>),
    /// Major type 3: a UTF-8 text string.
    Text(String),
    /// Major type 4: an array.
    Array(Vec<CborValue>),
    /// Major type 5: a map with text keys.
    Map(BTreeMap<String, CborValue>),
    /// Major type 7, simple values 20 and 21: `false`, `true`.
    Bool(bool),
    /// Major type 7, simple value 22: `null`.
    Null,
    /// Major type 7, a half, single or double float. Must be finite to be encoded.
    Float(f64),
}

impl CborValue {
    /// Builds the integer `n` if it is in CBOR's range −2^64 ..= 2^64−1.
    pub fn integer(n: i128) -> Option<CborValue> {
        if n >= 0 {
            u64::try_from(n).ok().map(CborValue::Unsigned)
        } else {
            // major type 1 carries -1 - n
            u64::try_from(-1 - n).ok().map(CborValue::Negative)
        }
    }

    /// The value of an integer item (major type 0 or 1), `None` for anything else.
    pub fn as_i128(&self) -> Option<i128> {
        match *self {
            CborValue::Unsigned(n) => Some(i128::from(n)),
            CborValue::Negative(n) => Some(-1 - i128::from(n)),
            _ => None,
        }
    }
}

/// Limits a decoder enforces before and while decoding untrusted bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// The largest input accepted, in bytes; checked before anything is decoded.
    pub max_size: usize,
    /// The deepest container nesting accepted (a top-level array or map is depth 1); values
    /// above [`MAX_DEPTH`] are treated as [`MAX_DEPTH`].
    pub max_depth: usize,
}

/// Errors of CBOR decoding, encoding and JSON conversion. Offsets are byte offsets into the
/// input of [`decode`], pointing at the start of the offending item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    /// The input is over [`DecodeLimits::max_size`].
    #[error("CBOR input is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Input length.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The input is empty.
    #[error("CBOR input is empty")]
    Empty,
    /// The input ends in the middle of an item.
    #[error("CBOR input truncated: item at offset {offset} needs {needed} more bytes")]
    Truncated {
        /// Start of the item or argument that does not fit.
        offset: usize,
        /// Bytes missing.
        needed: usize,
    },
    /// Bytes follow the single top-level item.
    #[error("{count} trailing bytes after the CBOR item, at offset {offset}")]
    TrailingBytes {
        /// Offset of the first trailing byte.
        offset: usize,
        /// How many bytes trail.
        count: usize,
    },
    /// An integer, length or count is not in its shortest form (RFC 8949 §4.2.1).
    #[error("non-shortest argument {value} at offset {offset} (RFC 8949 §4.2.1)")]
    NonShortestArgument {
        /// Offset of the initial byte.
        offset: usize,
        /// The argument's value.
        value: u64,
    },
    /// Additional information 28, 29 or 30: reserved (RFC 8949 §3).
    #[error("reserved additional information {info} at offset {offset}")]
    ReservedAdditionalInfo {
        /// Offset of the initial byte.
        offset: usize,
        /// The additional information (low 5 bits).
        info: u8,
    },
    /// An indefinite-length string, array or map, or a `break` (RFC 8949 §4.2.1 forbids them).
    #[error("indefinite length or break at offset {offset} (RFC 8949 §4.2.1)")]
    IndefiniteLength {
        /// Offset of the initial byte.
        offset: usize,
    },
    /// A tag (major type 6); none is allowed.
    #[error("tag at offset {offset}: tags are not allowed")]
    Tag {
        /// Offset of the initial byte.
        offset: usize,
    },
    /// A simple value other than `false`, `true`, `null` (e.g. `undefined`, 0xf7).
    #[error("simple value {value} at offset {offset} is not allowed (only false, true, null)")]
    UnsupportedSimpleValue {
        /// Offset of the initial byte.
        offset: usize,
        /// The simple value, or the additional information for 0xf8.
        value: u8,
    },
    /// A float that a shorter width represents exactly (RFC 8949 §4.2.1, preferred
    /// serialization).
    #[error("non-shortest float at offset {offset} (RFC 8949 §4.2.1)")]
    NonShortestFloat {
        /// Offset of the initial byte.
        offset: usize,
    },
    /// NaN or ±Infinity in the input.
    #[error("NaN or Infinity at offset {offset} is not allowed")]
    NonFiniteFloat {
        /// Offset of the initial byte.
        offset: usize,
    },
    /// A map key that is not a text string.
    #[error("map key at offset {offset} is not a text string")]
    NonTextKey {
        /// Offset of the key.
        offset: usize,
    },
    /// A map key that sorts before the previous key (RFC 8949 §4.2.1).
    #[error("map key {key:?} at offset {offset} is out of canonical order (RFC 8949 §4.2.1)")]
    UnsortedKeys {
        /// Offset of the key.
        offset: usize,
        /// The key.
        key: String,
    },
    /// A map key equal to the previous key.
    #[error("duplicate map key {key:?} at offset {offset}")]
    DuplicateKey {
        /// Offset of the second occurrence.
        offset: usize,
        /// The key.
        key: String,
    },
    /// A text string that is not valid UTF-8.
    #[error("text string at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Offset of the string's initial byte.
        offset: usize,
    },
    /// Containers nested deeper than the limit.
    #[error("containers nested deeper than {limit} at offset {offset}")]
    DepthExceeded {
        /// Offset of the container that is one too deep.
        offset: usize,
        /// The depth limit.
        limit: usize,
    },
    /// A string length or element count larger than the bytes that remain.
    #[error("length {length} at offset {offset} exceeds the {remaining} bytes that remain")]
    LengthExceedsInput {
        /// Offset of the initial byte.
        offset: usize,
        /// The claimed length or count.
        length: u64,
        /// Bytes left after the head.
        remaining: usize,
    },
    /// A value to encode or convert nests deeper than [`MAX_DEPTH`].
    #[error("value nests deeper than {limit} containers")]
    NestingTooDeep {
        /// The depth limit.
        limit: usize,
    },
    /// A value to encode or convert is NaN or ±Infinity.
    #[error("NaN and Infinity cannot be encoded")]
    NonFiniteValue,
    /// A JSON integer outside CBOR's range −2^64 ..= 2^64−1.
    #[error("integer {value} is outside CBOR's range -2^64 ..= 2^64-1")]
    IntegerOutOfRange {
        /// The integer, in decimal.
        value: String,
    },
    /// A JSON object with a repeated key.
    #[error("duplicate object key {key:?}")]
    DuplicateJsonKey {
        /// The key.
        key: String,
    },
    /// A CBOR byte string, which has no JSON form.
    #[error("a byte string has no JSON form")]
    BytesNotJson,
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Encodes `value` in the canonical encoding of RFC 8949 §4.2.1.
///
/// Fails only on values that have no canonical encoding here: a non-finite float, or nesting
/// deeper than [`MAX_DEPTH`].
pub fn encode(value: &CborValue) -> Result<Vec<u8>, CborError> {
    let mut out = Vec::new();
    encode_into(value, 0, &mut out)?;
    Ok(out)
}

fn encode_into(value: &CborValue, depth: usize, out: &mut Vec<u8>) -> Result<(), CborError> {
    match value {
        CborValue::Unsigned(n) => write_head(out, 0, *n),
        CborValue::Negative(n) => write_head(out, 1, *n),
        CborValue::Bytes(b) => {
            write_head(out, 2, b.len() as u64);
            out.extend_from_slice(b);
        }
        CborValue::Text(s) => write_text(out, s),
        CborValue::Array(items) => {
            check_nesting(depth)?;
            write_head(out, 4, items.len() as u64);
            for item in items {
                encode_into(item, depth + 1, out)?;
            }
        }
        CborValue::Map(map) => {
            check_nesting(depth)?;
            write_head(out, 5, map.len() as u64);
            // §4.2.1: keys sorted by the bytewise order of their encoded form. For text keys
            // that is shorter first, then bytewise: the head grows with the length.
            let mut entries: Vec<(&String, &CborValue)> = map.iter().collect();
            entries.sort_by(|a, b| canonical_key_order(a.0, b.0));
            for (k, v) in entries {
                write_text(out, k);
                encode_into(v, depth + 1, out)?;
            }
        }
        CborValue::Bool(false) => out.push(0xf4),
        CborValue::Bool(true) => out.push(0xf5),
        CborValue::Null => out.push(0xf6),
        CborValue::Float(f) => {
            if !f.is_finite() {
                return Err(CborError::NonFiniteValue);
            }
            write_float(out, *f);
        }
    }
    Ok(())
}

fn check_nesting(depth: usize) -> Result<(), CborError> {
    if depth >= MAX_DEPTH {
        return Err(CborError::NestingTooDeep { limit: MAX_DEPTH });
    }
    Ok(())
}

/// The order of two text map keys in the canonical encoding: the bytewise order of their
/// encoded forms, which for text strings is length first, then bytewise (RFC 8949 §4.2.1).
pub fn canonical_key_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// Writes a text string (head and UTF-8 bytes).
pub(crate) fn write_text(out: &mut Vec<u8>, s: &str) {
    write_head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Writes an initial byte and argument in the shortest form (RFC 8949 §4.2.1, first bullet):
/// `n < 24` in the initial byte, else 1, 2, 4 or 8 bytes big-endian (additional information
/// 24, 25, 26, 27).
/// Writes a head: major type and argument in the shortest form (RFC 8949 §4.2.1).
pub(crate) fn write_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let mt = major << 5;
    if n < 24 {
        out.push(mt | n as u8);
    } else if n <= u64::from(u8::MAX) {
        out.push(mt | 24);
        out.push(n as u8);
    } else if n <= u64::from(u16::MAX) {
        out.push(mt | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= u64::from(u32::MAX) {
        out.push(mt | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(mt | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Writes a finite float in the shortest exact width: half (0xf9), single (0xfa) or double
/// (0xfb) (RFC 8949 §4.1 preferred serialization, required by §4.2.1).
fn write_float(out: &mut Vec<u8>, f: f64) {
    if let Some(h) = f64_to_f16_exact(f) {
        out.push(0xf9);
        out.extend_from_slice(&h.to_be_bytes());
    } else if let Some(s) = f64_to_f32_exact(f) {
        out.push(0xfa);
        out.extend_from_slice(&s.to_bits().to_be_bytes());
    } else {
        out.push(0xfb);
        out.extend_from_slice(&f.to_bits().to_be_bytes());
    }
}

/// `2^n` for `-1022 <= n <= 1023`, built from its bits so it is exact.
fn pow2(n: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&n));
    f64::from_bits(((1023 + n) as u64) << 52)
}

/// The IEEE 754 binary16 bits of `f` if binary16 represents the finite `f` exactly.
fn f64_to_f16_exact(f: f64) -> Option<u16> {
    let sign: u16 = if f.is_sign_negative() { 0x8000 } else { 0 };
    if f == 0.0 {
        return Some(sign); // ±0 keeps its sign
    }
    let a = f.abs();
    // binary16 spans 2^-24 (smallest subnormal) ..= 65504 (largest normal).
    if !(pow2(-24)..=65504.0).contains(&a) {
        return None;
    }
    // a is a normal f64 here, so its exponent field gives floor(log2(a)).
    let e = ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    if e >= -14 {
        // normal binary16: a = (1024 + m) * 2^(e - 10), m < 1024
        let scaled = a * pow2(10 - e);
        if scaled.fract() != 0.0 {
            return None;
        }
        let m = scaled as u16 - 1024;
        Some(sign | (((e + 15) as u16) << 10) | m)
    } else {
        // subnormal binary16: a = m * 2^-24, 1 <= m < 1024
        let scaled = a * pow2(24);
        if scaled.fract() != 0.0 {
            return None;
        }
        Some(sign | scaled as u16)
    }
}

/// `f` as a binary32 if that represents the finite `f` exactly.
fn f64_to_f32_exact(f: f64) -> Option<f32> {
    let s = f as f32;
    (s.is_finite() && f64::from(s) == f).then_some(s)
}

/// The value of IEEE 754 binary16 bits (NaN and infinities included).
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let mant = f64::from(h & 0x3ff);
    let magnitude = match exp {
        0 => mant * pow2(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1024.0 + mant) * pow2(exp - 25),
    };
    sign * magnitude
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Decodes exactly one canonical CBOR item that spans all of `bytes`.
///
/// Rejects, with the offset and rule, everything [`encode`] would not have produced (see the
/// module documentation), so that any accepted input re-encodes to itself.
pub fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<CborValue, CborError> {
    // Size is bounded before anything is decoded.
    if bytes.len() > limits.max_size {
        return Err(CborError::TooLarge {
            size: bytes.len(),
            limit: limits.max_size,
        });
    }
    if bytes.is_empty() {
        return Err(CborError::Empty);
    }
    let mut d = Decoder {
        buf: bytes,
        pos: 0,
        max_depth: limits.max_depth.min(MAX_DEPTH),
    };
    let value = d.value(0)?;
    if d.pos != bytes.len() {
        return Err(CborError::TrailingBytes {
            offset: d.pos,
            count: bytes.len() - d.pos,
        });
    }
    Ok(value)
}

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl<'a> Decoder<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, item_offset: usize) -> Result<&'a [u8], CborError> {
        if n > self.remaining() {
            return Err(CborError::Truncated {
                offset: item_offset,
                needed: n - self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Reads the argument of additional information `info` (RFC 8949 §3), requiring the
    /// shortest form (§4.2.1).
    fn argument(&mut self, info: u8, offset: usize) -> Result<u64, CborError> {
        let (n, min) = match info {
            0..=23 => return Ok(u64::from(info)),
            24 => (u64::from(self.take(1, offset)?[0]), 24),
            25 => (be_u64(self.take(2, offset)?), 0x100),
            26 => (be_u64(self.take(4, offset)?), 0x1_0000),
            27 => (be_u64(self.take(8, offset)?), 0x1_0000_0000),
            28..=30 => return Err(CborError::ReservedAdditionalInfo { offset, info }),
            _ => return Err(CborError::IndefiniteLength { offset }),
        };
        if n < min {
            return Err(CborError::NonShortestArgument { offset, value: n });
        }
        Ok(n)
    }

    /// Checks a length or count against the bytes that remain, before allocating:
    /// each element needs at least `min_item_size` bytes.
    fn bounded_len(&self, n: u64, min_item_size: u64, offset: usize) -> Result<usize, CborError> {
        let remaining = self.remaining();
        if n.saturating_mul(min_item_size) > remaining as u64 {
            return Err(CborError::LengthExceedsInput {
                offset,
                length: n,
                remaining,
            });
        }
        Ok(n as usize) // n <= remaining, which is a usize
    }

    fn enter(&self, depth: usize, offset: usize) -> Result<usize, CborError> {
        if depth >= self.max_depth {
            return Err(CborError::DepthExceeded {
                offset,
                limit: self.max_depth,
            });
        }
        Ok(depth + 1)
    }

    /// Decodes one item; `depth` is the number of enclosing containers.
    fn value(&mut self, depth: usize) -> Result<CborValue, CborError> {
        let offset = self.pos;
        let initial = self.take(1, offset)?[0];
        let major = initial >> 5;
        let info = initial & 0x1f;
        match major {
            0 => Ok(CborValue::Unsigned(self.argument(info, offset)?)),
            1 => Ok(CborValue::Negative(self.argument(info, offset)?)),
            2 => {
                let n = self.argument(info, offset)?;
                let n = self.bounded_len(n, 1, offset)?;
                Ok(CborValue::Bytes(self.take(n, offset)?.to_vec()))
            }
            3 => Ok(CborValue::Text(self.text(info, offset)?)),
            4 => {
                let n = self.argument(info, offset)?;
                let n = self.bounded_len(n, 1, offset)?;
                let inner = self.enter(depth, offset)?;
                let mut items = Vec::new(); // grows with the input actually read
                for _ in 0..n {
                    items.push(self.value(inner)?);
                }
                Ok(CborValue::Array(items))
            }
            5 => {
                let n = self.argument(info, offset)?;
                let n = self.bounded_len(n, 2, offset)?;
                let inner = self.enter(depth, offset)?;
                let mut map = BTreeMap::new();
                let mut prev_key: Option<&'a [u8]> = None;
                for _ in 0..n {
                    let key_offset = self.pos;
                    let key_initial = self.take(1, key_offset)?[0];
                    if key_initial >> 5 != 3 {
                        return Err(CborError::NonTextKey { offset: key_offset });
                    }
                    let key = self.text(key_initial & 0x1f, key_offset)?;
                    // §4.2.1: encoded keys strictly increasing, bytewise.
                    let encoded_key = &self.buf[key_offset..self.pos];
                    if let Some(prev) = prev_key {
                        match prev.cmp(encoded_key) {
                            std::cmp::Ordering::Less => {}
                            std::cmp::Ordering::Equal => {
                                return Err(CborError::DuplicateKey {
                                    offset: key_offset,
                                    key,
                                })
                            }
                            std::cmp::Ordering::Greater => {
                                return Err(CborError::UnsortedKeys {
                                    offset: key_offset,
                                    key,
                                })
                            }
                        }
                    }
                    prev_key = Some(encoded_key);
                    let v = self.value(inner)?;
                    map.insert(key, v);
                }
                Ok(CborValue::Map(map))
            }
            6 => Err(CborError::Tag { offset }),
            _ => self.simple_or_float(info, offset),
        }
    }

    fn text(&mut self, info: u8, offset: usize) -> Result<String, CborError> {
        let n = self.argument(info, offset)?;
        let n = self.bounded_len(n, 1, offset)?;
        let raw = self.take(n, offset)?;
        core::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| CborError::InvalidUtf8 { offset })
    }

    /// Major type 7 (RFC 8949 §3.3): only false/true/null and finite, shortest floats.
    fn simple_or_float(&mut self, info: u8, offset: usize) -> Result<CborValue, CborError> {
        match info {
            20 => Ok(CborValue::Bool(false)),
            21 => Ok(CborValue::Bool(true)),
            22 => Ok(CborValue::Null),
            25 => {
                let h = be_u64(self.take(2, offset)?) as u16;
                let f = f16_to_f64(h);
                if !f.is_finite() {
                    return Err(CborError::NonFiniteFloat { offset });
                }
                Ok(CborValue::Float(f)) // nothing is shorter than a half
            }
            26 => {
                let s = f32::from_bits(be_u64(self.take(4, offset)?) as u32);
                let f = f64::from(s);
                if !f.is_finite() {
                    return Err(CborError::NonFiniteFloat { offset });
                }
                if f64_to_f16_exact(f).is_some() {
                    return Err(CborError::NonShortestFloat { offset });
                }
                Ok(CborValue::Float(f))
            }
            27 => {
                let f = f64::from_bits(be_u64(self.take(8, offset)?));
                if !f.is_finite() {
                    return Err(CborError::NonFiniteFloat { offset });
                }
                if f64_to_f16_exact(f).is_some() || f64_to_f32_exact(f).is_some() {
                    return Err(CborError::NonShortestFloat { offset });
                }
                Ok(CborValue::Float(f))
            }
            28..=30 => Err(CborError::ReservedAdditionalInfo { offset, info }),
            31 => Err(CborError::IndefiniteLength { offset }), // a stray break
            24 => {
                let v = self.take(1, offset).map(|b| b[0]).unwrap_or(info);
                Err(CborError::UnsupportedSimpleValue { offset, value: v })
            }
            _ => Err(CborError::UnsupportedSimpleValue {
                offset,
                value: info,
            }),
        }
    }
}

fn be_u64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

// ---------------------------------------------------------------------------------------------
// JSON conversion (spec/entry.md §3)

/// Converts a JSON value to CBOR: integers to major type 0/1 (rejecting those outside
/// −2^64 ..= 2^64−1 and every `BigInt`), floats to floats (rejecting NaN and ±Infinity),
/// objects to maps (rejecting duplicate keys), nesting at most [`MAX_DEPTH`].
pub fn from_json(value: &JsonValue) -> Result<CborValue, CborError> {
    from_json_at(value, 0)
}

fn from_json_at(value: &JsonValue, depth: usize) -> Result<CborValue, CborError> {
    Ok(match value {
        JsonValue::Null => CborValue::Null,
        JsonValue::Bool(b) => CborValue::Bool(*b),
        JsonValue::Number(JsonNumber::Int(i)) => {
            CborValue::integer(*i).ok_or_else(|| CborError::IntegerOutOfRange {
                value: i.to_string(),
            })?
        }
        JsonValue::Number(JsonNumber::BigInt(digits)) => {
            return Err(CborError::IntegerOutOfRange {
                value: digits.clone(),
            })
        }
        JsonValue::Number(JsonNumber::Float(f)) => {
            if !f.is_finite() {
                return Err(CborError::NonFiniteValue);
            }
            CborValue::Float(*f)
        }
        JsonValue::String(s) => CborValue::Text(s.clone()),
        JsonValue::Array(items) => {
            check_nesting(depth)?;
            CborValue::Array(
                items
                    .iter()
                    .map(|v| from_json_at(v, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        JsonValue::Object(members) => {
            check_nesting(depth)?;
            let mut map = BTreeMap::new();
            for (k, v) in members {
                if map.insert(k.clone(), from_json_at(v, depth + 1)?).is_some() {
                    return Err(CborError::DuplicateJsonKey { key: k.clone() });
                }
            }
            CborValue::Map(map)
        }
    })
}

/// Converts CBOR to JSON: integers to [`JsonNumber::Int`], floats to [`JsonNumber::Float`],
/// maps to objects with members in canonical key order. Byte strings, non-finite floats and
/// nesting deeper than [`MAX_DEPTH`] are rejected.
pub fn to_json(value: &CborValue) -> Result<JsonValue, CborError> {
    to_json_at(value, 0)
}

fn to_json_at(value: &CborValue, depth: usize) -> Result<JsonValue, CborError> {
    Ok(match value {
        CborValue::Unsigned(_) | CborValue::Negative(_) => {
            // as_i128 is Some for both integer variants
            JsonValue::Number(JsonNumber::Int(value.as_i128().unwrap_or_default()))
        }
        CborValue::Bytes(_) => return Err(CborError::BytesNotJson),
        CborValue::Text(s) => JsonValue::String(s.clone()),
        CborValue::Array(items) => {
            check_nesting(depth)?;
            JsonValue::Array(
                items
                    .iter()
                    .map(|v| to_json_at(v, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        CborValue::Map(map) => {
            check_nesting(depth)?;
            let mut members: Vec<(&String, &CborValue)> = map.iter().collect();
            members.sort_by(|a, b| canonical_key_order(a.0, b.0));
            JsonValue::Object(
                members
                    .into_iter()
                    .map(|(k, v)| Ok((k.clone(), to_json_at(v, depth + 1)?)))
                    .collect::<Result<_, CborError>>()?,
            )
        }
        CborValue::Bool(b) => JsonValue::Bool(*b),
        CborValue::Null => JsonValue::Null,
        CborValue::Float(f) => {
            if !f.is_finite() {
                return Err(CborError::NonFiniteValue);
            }
            JsonValue::Number(JsonNumber::Float(*f))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_f16_bit_pattern_round_trips_through_the_exactness_check() {
        // Exhaustive over all 65,536 half-precision patterns: every finite one is exact in
        // binary16 and maps back to the same bits; NaN and infinities decode as non-finite.
        for h in 0..=u16::MAX {
            let f = f16_to_f64(h);
            if (h >> 10) & 0x1f == 0x1f {
                assert!(!f.is_finite(), "{h:#06x}");
                continue;
            }
            assert_eq!(f64_to_f16_exact(f), Some(h), "{h:#06x} = {f:e}");
        }
    }

    #[test]
    fn values_between_halves_are_not_half_exact() {
        for h in 0x0001u16..0x7bff {
            let lo = f16_to_f64(h);
            let hi = f16_to_f64(h + 1);
            let mid = (lo + hi) / 2.0; // exact in f64, never a half
            assert_eq!(f64_to_f16_exact(mid), None, "{mid:e}");
        }
        assert_eq!(f64_to_f16_exact(65505.0), None);
        assert_eq!(f64_to_f16_exact(65536.0), None);
        assert_eq!(f64_to_f16_exact(pow2(-25)), None);
    }

    #[test]
    fn pow2_is_exact() {
        assert_eq!(pow2(0), 1.0);
        assert_eq!(pow2(10), 1024.0);
        assert_eq!(pow2(-24), 1.0 / 16_777_216.0);
    }
}
