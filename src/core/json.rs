//! JSON values as Python's `json` module sees them, and Python's `json.dumps` output.
//!
//! The seed library (llm-audit-trail 0.1.0) hashes
//! `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`; to be
//! byte-compatible we parse JSON into [`JsonValue`] with Python's number semantics
//! (unbounded integers, IEEE doubles, `NaN`/`Infinity` accepted when asked) and print it
//! back exactly as Python would. See `spec/mirror.md`.
//!
//! What this module implements:
//!
//! - Parsing, [`parse`]: a strict, bounded RFC 8259 parser. With [`ParseOptions::PYTHON`] it accepts
//!   what CPython 3.11's `json.loads` accepts (`NaN`, `Infinity`, `-Infinity`; a duplicate
//!   key keeps the *first* key's position and the *last* value, as a `dict` does). With
//!   [`ParseOptions::STRICT`] those are errors ([`JsonError::NonFiniteNumber`],
//!   [`JsonError::DuplicateKey`]). Every size is bounded by a named constant, checked as
//!   the parser goes: [`MAX_JSON_INPUT_BYTES`], [`MAX_JSON_DEPTH`],
//!   [`MAX_JSON_STRING_BYTES`], [`MAX_JSON_INT_DIGITS`].
//! - Numbers follow Python: an integer literal (RFC 8259 §6 `int` with no `frac`/`exp`) is
//!   an exact integer ([`JsonNumber::Int`] or [`JsonNumber::BigInt`]); any literal with a
//!   fraction or exponent is a correctly rounded `f64` ([`JsonNumber::Float`]), and
//!   `1e400` overflows to infinity like Python's `float("1e400")`.
//! - Hashed output, [`python_dumps_sorted`]: byte-exact
//!   `json.dumps(v, sort_keys=True, separators=(",",":"), ensure_ascii=True)`, with
//!   Python's `repr(float)` ([`python_float_repr`]).
//! - API output, [`to_json_string`]: compact RFC 8259 output for API responses (not for hashing).
//! - Conversions from and to `serde_json::Value`.
//!
//! Out of scope, and deliberate differences from CPython:
//!
//! - A lone UTF-16 surrogate escape (`"\ud800"`) is accepted by Python (it yields a lone
//!   surrogate in a `str`) but cannot live in a Rust `String`: it is
//!   [`JsonError::LoneSurrogate`].
//! - Python raises `RecursionError` (not `ValueError`) past ~1000 levels; we stop at
//!   [`MAX_JSON_DEPTH`] with [`JsonError::TooDeep`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Largest input [`parse`] accepts, in bytes (16 MiB).
pub const MAX_JSON_INPUT_BYTES: usize = 16 << 20;
/// Deepest nesting of arrays and objects [`parse`] accepts (the top-level value is depth 1).
pub const MAX_JSON_DEPTH: usize = 128;
/// Longest decoded string (value or key) [`parse`] accepts, in UTF-8 bytes (4 MiB).
pub const MAX_JSON_STRING_BYTES: usize = 4 << 20;
/// Most digits an integer literal may have: CPython ≥ 3.11's
/// `sys.int_info.default_max_str_digits`, past which `json.loads` raises `ValueError`.
pub const MAX_JSON_INT_DIGITS: usize = 4300;

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

/// Why [`parse`] (or a conversion) rejected its input. Offsets are byte offsets into the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The input is longer than [`MAX_JSON_INPUT_BYTES`].
    #[error("JSON input is {len} bytes, more than the limit of {max}")]
    InputTooLarge {
        /// Input length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input is not valid UTF-8.
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// Arrays and objects nest deeper than [`MAX_JSON_DEPTH`].
    #[error("JSON nests deeper than {max} levels at byte {offset}")]
    TooDeep {
        /// Offset of the opening bracket that went too deep.
        offset: usize,
        /// The limit.
        max: usize,
    },
    /// A string decodes to more than [`MAX_JSON_STRING_BYTES`].
    #[error("string starting at byte {offset} is longer than {max} bytes")]
    StringTooLong {
        /// Offset of the opening quote.
        offset: usize,
        /// The limit.
        max: usize,
    },
    /// An integer literal has more than [`MAX_JSON_INT_DIGITS`] digits.
    #[error("integer at byte {offset} has {digits} digits, more than the limit of {max}")]
    IntegerTooLong {
        /// Offset of the literal.
        offset: usize,
        /// Its number of digits.
        digits: usize,
        /// The limit.
        max: usize,
    },
    /// The input ended inside a value.
    #[error("unexpected end of input at byte {offset}")]
    UnexpectedEnd {
        /// The input length.
        offset: usize,
    },
    /// A byte that cannot start or continue the expected token.
    #[error("unexpected character {found:?} at byte {offset}, expected {expected}")]
    UnexpectedChar {
        /// Offset of the character.
        offset: usize,
        /// The character found.
        found: char,
        /// What the grammar allows here.
        expected: &'static str,
    },
    /// A number literal that does not follow RFC 8259 §6.
    #[error("invalid number at byte {offset}")]
    InvalidNumber {
        /// Offset of the literal.
        offset: usize,
    },
    /// A control character (U+0000..U+001F) inside a string (RFC 8259 §7).
    #[error("invalid control character {code:#04x} in string at byte {offset}")]
    ControlCharacter {
        /// Offset of the character.
        offset: usize,
        /// The character's code.
        code: u8,
    },
    /// A backslash escape that RFC 8259 §7 does not define, or a malformed `\uXXXX`.
    #[error("invalid escape at byte {offset}")]
    InvalidEscape {
        /// Offset of the backslash.
        offset: usize,
    },
    /// A `\uD800`..`\uDFFF` escape that is not half of a surrogate pair.
    #[error("lone surrogate escape at byte {offset}")]
    LoneSurrogate {
        /// Offset of the backslash.
        offset: usize,
    },
    /// `NaN`, `Infinity`, `-Infinity`, or a literal that overflows `f64`, in strict mode.
    #[error("non-finite number at byte {offset} (only accepted in Python-compatible mode)")]
    NonFiniteNumber {
        /// Offset of the literal.
        offset: usize,
    },
    /// An object repeats a key, in strict mode.
    #[error("duplicate object key {key:?} at byte {offset}")]
    DuplicateKey {
        /// The repeated key.
        key: String,
        /// Offset of the second occurrence.
        offset: usize,
    },
    /// Non-whitespace after the top-level value ("Extra data" in Python).
    #[error("extra data after the JSON value at byte {offset}")]
    TrailingData {
        /// Offset of the first extra character.
        offset: usize,
    },
    /// A value has no `serde_json::Value` equivalent (an integer beyond 64 bits, a
    /// non-finite float).
    #[error("{what} cannot be represented as a serde_json::Value")]
    NotRepresentable {
        /// What could not be converted.
        what: String,
    },
}

/// How [`parse`] treats the inputs where Python's `json.loads` and RFC 8259 disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Accept `NaN`, `Infinity`, `-Infinity` and overflowing literals (→ ±inf), and let a
    /// duplicate key's last value win at the first key's position, as `json.loads` does.
    /// When false, all of these are errors.
    pub python_compat: bool,
}

impl ParseOptions {
    /// RFC 8259 only: no non-finite numbers, no duplicate keys.
    pub const STRICT: ParseOptions = ParseOptions {
        python_compat: false,
    };
    /// What CPython 3.11's `json.loads` accepts (see the module docs for the differences).
    pub const PYTHON: ParseOptions = ParseOptions {
        python_compat: true,
    };
}

/// Parses one JSON text (RFC 8259 §2: optional whitespace, a value, optional whitespace).
pub fn parse(input: &[u8], options: ParseOptions) -> Result<JsonValue, JsonError> {
    // Bound the input before decoding anything.
    if input.len() > MAX_JSON_INPUT_BYTES {
        return Err(JsonError::InputTooLarge {
            len: input.len(),
            max: MAX_JSON_INPUT_BYTES,
        });
    }
    let text = std::str::from_utf8(input).map_err(|e| JsonError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut p = Parser {
        s: text,
        b: input,
        pos: 0,
        options,
    };
    p.skip_ws();
    let v = p.value(1)?;
    p.skip_ws();
    if p.pos != p.b.len() {
        return Err(JsonError::TrailingData { offset: p.pos });
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    options: ParseOptions,
}

impl Parser<'_> {
    /// RFC 8259 §2: `ws = *( %x20 / %x09 / %x0A / %x0D )`.
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    fn unexpected(&self, expected: &'static str) -> JsonError {
        match self.s[self.pos..].chars().next() {
            Some(found) => JsonError::UnexpectedChar {
                offset: self.pos,
                found,
                expected,
            },
            None => JsonError::UnexpectedEnd { offset: self.pos },
        }
    }

    fn eat_literal(&mut self, lit: &str) -> bool {
        if self.b[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    fn non_finite(&self, start: usize, v: f64) -> Result<JsonValue, JsonError> {
        if self.options.python_compat {
            Ok(JsonValue::Number(JsonNumber::Float(v)))
        } else {
            Err(JsonError::NonFiniteNumber { offset: start })
        }
    }

    fn value(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        let start = self.pos;
        match self.b.get(self.pos) {
            None => Err(JsonError::UnexpectedEnd { offset: self.pos }),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(JsonValue::String(self.string()?)),
            Some(b'n') if self.eat_literal("null") => Ok(JsonValue::Null),
            Some(b't') if self.eat_literal("true") => Ok(JsonValue::Bool(true)),
            Some(b'f') if self.eat_literal("false") => Ok(JsonValue::Bool(false)),
            // Python extensions (json.loads, parse_constant): NaN, Infinity, -Infinity.
            Some(b'N') if self.eat_literal("NaN") => self.non_finite(start, f64::NAN),
            Some(b'I') if self.eat_literal("Infinity") => self.non_finite(start, f64::INFINITY),
            Some(b'-') if self.eat_literal("-Infinity") => {
                self.non_finite(start, f64::NEG_INFINITY)
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.unexpected("a JSON value")),
        }
    }

    fn enter(&self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_JSON_DEPTH {
            return Err(JsonError::TooDeep {
                offset: self.pos,
                max: MAX_JSON_DEPTH,
            });
        }
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        self.enter(depth)?;
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.b.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(JsonValue::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.b.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(JsonValue::Array(items));
                }
                _ => return Err(self.unexpected("',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        /// Objects with more members than this index their keys in a map (no quadratic scan).
        const LINEAR_SCAN_MEMBERS: usize = 16;
        self.enter(depth)?;
        self.pos += 1; // '{'
        let mut members: Vec<(String, JsonValue)> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        self.skip_ws();
        if self.b.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(JsonValue::Object(members));
        }
        loop {
            self.skip_ws();
            if self.b.get(self.pos) != Some(&b'"') {
                return Err(self.unexpected("a string key"));
            }
            let key_offset = self.pos;
            let key = self.string()?;
            self.skip_ws();
            if self.b.get(self.pos) != Some(&b':') {
                return Err(self.unexpected("':'"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(depth + 1)?;
            let existing = if members.len() <= LINEAR_SCAN_MEMBERS {
                members.iter().position(|(k, _)| *k == key)
            } else {
                if index.is_empty() {
                    for (i, (k, _)) in members.iter().enumerate() {
                        index.insert(k.clone(), i);
                    }
                }
                index.get(&key).copied()
            };
            match existing {
                Some(_) if !self.options.python_compat => {
                    return Err(JsonError::DuplicateKey {
                        key,
                        offset: key_offset,
                    })
                }
                // A Python dict: the first key keeps its position, the last value wins.
                Some(i) => members[i].1 = value,
                None => {
                    if !index.is_empty() {
                        index.insert(key.clone(), members.len());
                    }
                    members.push((key, value));
                }
            }
            self.skip_ws();
            match self.b.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(JsonValue::Object(members));
                }
                _ => return Err(self.unexpected("',' or '}'")),
            }
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.b.get(at..at + 4)?;
        let mut v = 0u32;
        for &d in digits {
            v = v * 16 + (d as char).to_digit(16)?;
        }
        Some(v)
    }

    /// RFC 8259 §7 string; `self.pos` is at the opening quote.
    fn string(&mut self) -> Result<String, JsonError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            // Copy the run of plain characters up to the next quote, backslash or control.
            let run_start = self.pos;
            while let Some(&c) = self.b.get(self.pos) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.s[run_start..self.pos]);
            if out.len() > MAX_JSON_STRING_BYTES {
                return Err(JsonError::StringTooLong {
                    offset: open,
                    max: MAX_JSON_STRING_BYTES,
                });
            }
            match self.b.get(self.pos) {
                None => return Err(JsonError::UnexpectedEnd { offset: self.pos }),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(&c) if c < 0x20 => {
                    return Err(JsonError::ControlCharacter {
                        offset: self.pos,
                        code: c,
                    })
                }
                Some(_) => {
                    // Backslash escape.
                    let esc = self.pos;
                    let c = match self.b.get(self.pos + 1) {
                        None => {
                            return Err(JsonError::UnexpectedEnd {
                                offset: self.pos + 1,
                            })
                        }
                        Some(&c) => c,
                    };
                    self.pos += 2;
                    let ch = match c {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self
                                .hex4(self.pos)
                                .ok_or(JsonError::InvalidEscape { offset: esc })?;
                            self.pos += 4;
                            if (0xD800..0xDC00).contains(&hi) {
                                // A high surrogate must be followed by `\u` + low surrogate:
                                // U+10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00).
                                let lo = if self.b.get(self.pos..self.pos + 2) == Some(b"\\u") {
                                    self.hex4(self.pos + 2)
                                } else {
                                    None
                                };
                                match lo {
                                    Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                                        self.pos += 6;
                                        let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                        char::from_u32(cp)
                                            .ok_or(JsonError::LoneSurrogate { offset: esc })?
                                    }
                                    _ => return Err(JsonError::LoneSurrogate { offset: esc }),
                                }
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(JsonError::LoneSurrogate { offset: esc });
                            } else {
                                char::from_u32(hi)
                                    .ok_or(JsonError::InvalidEscape { offset: esc })?
                            }
                        }
                        _ => return Err(JsonError::InvalidEscape { offset: esc }),
                    };
                    out.push(ch);
                }
            }
        }
    }

    /// RFC 8259 §6: `number = [ minus ] int [ frac ] [ exp ]`, with Python's types.
    fn number(&mut self) -> Result<JsonValue, JsonError> {
        let start = self.pos;
        let digits_run = |p: &mut Self| {
            let s = p.pos;
            while let Some(b'0'..=b'9') = p.b.get(p.pos) {
                p.pos += 1;
            }
            p.pos - s
        };
        if self.b.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        // int = zero / ( digit1-9 *DIGIT )
        let int_start = self.pos;
        match self.b.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits_run(self);
            }
            _ => return Err(JsonError::InvalidNumber { offset: start }),
        }
        let int_digits = self.pos - int_start;
        let mut is_float = false;
        // frac = decimal-point 1*DIGIT
        if self.b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if digits_run(self) == 0 {
                return Err(JsonError::InvalidNumber { offset: start });
            }
            is_float = true;
        }
        // exp = e [ minus / plus ] 1*DIGIT
        if let Some(b'e' | b'E') = self.b.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.b.get(self.pos) {
                self.pos += 1;
            }
            if digits_run(self) == 0 {
                return Err(JsonError::InvalidNumber { offset: start });
            }
            is_float = true;
        }
        let lit = &self.s[start..self.pos];
        if is_float {
            // Correctly rounded, overflow to ±inf like Python's float().
            let v: f64 = lit
                .parse()
                .map_err(|_| JsonError::InvalidNumber { offset: start })?;
            if !v.is_finite() && !self.options.python_compat {
                return Err(JsonError::NonFiniteNumber { offset: start });
            }
            return Ok(JsonValue::Number(JsonNumber::Float(v)));
        }
        if int_digits > MAX_JSON_INT_DIGITS {
            return Err(JsonError::IntegerTooLong {
                offset: start,
                digits: int_digits,
                max: MAX_JSON_INT_DIGITS,
            });
        }
        Ok(JsonValue::Number(match lit.parse::<i128>() {
            Ok(i) => JsonNumber::Int(i), // "-0" is Python's int 0
            Err(_) => JsonNumber::BigInt(lit.to_string()),
        }))
    }
}

impl JsonValue {
    /// The value of member `key` if this is an object that has it (Python's `dict.get`).
    pub fn get(&self, key: &str) -> Option<&JsonValue> {
        match self {
            JsonValue::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            JsonValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The members, if this is an object.
    pub fn as_object(&self) -> Option<&[(String, JsonValue)]> {
        match self {
            JsonValue::Object(m) => Some(m),
            _ => None,
        }
    }

    /// True if a `NaN` or infinite float occurs anywhere in the value.
    pub fn contains_non_finite(&self) -> bool {
        match self {
            JsonValue::Number(JsonNumber::Float(f)) => !f.is_finite(),
            JsonValue::Array(items) => items.iter().any(JsonValue::contains_non_finite),
            JsonValue::Object(m) => m.iter().any(|(_, v)| v.contains_non_finite()),
            _ => false,
        }
    }
}

/// Python's `repr(float)` (CPython `float_repr_style == "short"`): the shortest digits that
/// round-trip, in fixed notation when the decimal exponent `e` (value = d.ddd × 10^e)
/// satisfies `-4 <= e < 16`, otherwise `d.ddde±XX` with at least two exponent digits.
/// Examples: `1e-05`, `0.0001`, `100.0`, `1e+16`, `-0.0`, `1.5e+300`, `NaN`, `inf` is
/// written as JSON's `Infinity`.
pub fn python_float_repr(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // Rust's `{:e}` prints the shortest round-trip digits, e.g. "-1.5e300", "1e-5", "0e0".
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("LowerExp always has an exponent");
    let exp: i32 = exp.parse().expect("LowerExp exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::from(sign);
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() > int_len {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            } else {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    out
}

fn write_number(out: &mut String, n: &JsonNumber) {
    match n {
        JsonNumber::Int(i) => {
            let _ = write!(out, "{i}");
        }
        JsonNumber::BigInt(s) => out.push_str(s),
        JsonNumber::Float(f) => out.push_str(&python_float_repr(*f)),
    }
}

/// Python's `ensure_ascii=True` string encoding (`py_encode_basestring_ascii`): `\"`, `\\`,
/// `\n \r \t \b \f` short escapes, every other char outside 0x20..=0x7E as `\uxxxx`
/// (lower-case hex), chars above U+FFFF as a UTF-16 surrogate pair. Appended to `out`.
pub fn write_python_ascii_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Runs of printable ASCII other than `"` and `\` are copied whole; everything else is
    // escaped as Python's `json.dumps(ensure_ascii=True)` does.
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight plain bytes at a time (the mirror writes every key, id and hash through
        // here: a fifth of its time, byte by byte).
        if let Some(chunk) = bytes.get(i..i + 8) {
            if all_plain(u64::from_le_bytes(chunk.try_into().expect("8 bytes"))) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        if (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&s[start..i]);
        let c = s[i..].chars().next().expect("a char starts here");
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
        i += c.len_utf8();
        start = i;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Whether all eight bytes of `x` are printable ASCII (`' '..='~'`) other than `"` and `\`,
/// the bytes [`write_python_ascii_string`] copies as they are. Exact: each test is the
/// classic "has a byte less than n" / "has a zero byte" word trick, whose yes/no answer
/// has no false result (only the position it would point at may be off).
fn all_plain(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_below = |v: u64, n: u64| v.wrapping_sub(ONES * n) & !v & HIGHS != 0;
    let has_byte = |n: u64| has_below(x ^ (ONES * n), 1);
    // A byte >= 0x7f: its high bit is set, or adding one sets it (0x7f). A carry out of a
    // 0xff byte only happens when that byte's own high bit already said so.
    let has_high = (x | x.wrapping_add(ONES)) & HIGHS != 0;
    !(has_below(x, 0x20) || has_high || has_byte(b'"' as u64) || has_byte(b'\\' as u64))
}

/// A value as [`python_dumps_sorted`] writes it, appended to `out`.
pub fn write_python_sorted(out: &mut String, v: &JsonValue) {
    match v {
        JsonValue::Null => out.push_str("null"),
        JsonValue::Bool(true) => out.push_str("true"),
        JsonValue::Bool(false) => out.push_str("false"),
        JsonValue::Number(n) => write_number(out, n),
        JsonValue::String(s) => write_python_ascii_string(out, s),
        JsonValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_python_sorted(out, item);
            }
            out.push(']');
        }
        JsonValue::Object(members) => {
            // sort_keys=True: Python compares str by code point, which is UTF-8 byte order.
            let mut sorted: Vec<&(String, JsonValue)> = members.iter().collect();
            sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_python_ascii_string(out, k);
                out.push(':');
                write_python_sorted(out, v);
            }
            out.push('}');
        }
    }
}

/// Exactly `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True)` as
/// CPython prints it: the seed's `_stable_json`, the bytes the mirror hashes and writes.
pub fn python_dumps_sorted(v: &JsonValue) -> String {
    let mut out = String::new();
    write_python_sorted(&mut out, v);
    out
}

fn write_compact(out: &mut String, v: &JsonValue) {
    match v {
        JsonValue::Null => out.push_str("null"),
        JsonValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        JsonValue::Number(JsonNumber::Float(f)) if !f.is_finite() => out.push_str("null"),
        JsonValue::Number(n) => write_number(out, n),
        JsonValue::String(s) => write_compact_string(out, s),
        JsonValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_compact(out, item);
            }
            out.push(']');
        }
        JsonValue::Object(members) => {
            out.push('{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_compact_string(out, k);
                out.push(':');
                write_compact(out, v);
            }
            out.push('}');
        }
    }
}

/// A string as [`to_json_string`] writes it (quoted, escaped), appended to `out`.
pub fn write_compact_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Runs of bytes that need no escape are copied whole (escapes are all ASCII, so a run
    // boundary is always a char boundary).
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Compact RFC 8259 JSON for API output: members in their order, `,`/`:` separators, UTF-8
/// kept as is (only `"`, `\` and control characters escaped), floats in Python's repr, and
/// non-finite floats written as `null` (RFC 8259 has no NaN). Not the hashed form: use
/// [`python_dumps_sorted`] for that.
pub fn to_json_string(v: &JsonValue) -> String {
    let mut out = String::new();
    write_compact(&mut out, v);
    out
}

impl From<&serde_json::Value> for JsonValue {
    fn from(v: &serde_json::Value) -> JsonValue {
        use serde_json::Value as S;
        match v {
            S::Null => JsonValue::Null,
            S::Bool(b) => JsonValue::Bool(*b),
            S::Number(n) => JsonValue::Number(if let Some(i) = n.as_i64() {
                JsonNumber::Int(i.into())
            } else if let Some(u) = n.as_u64() {
                JsonNumber::Int(u.into())
            } else {
                JsonNumber::Float(n.as_f64().unwrap_or(f64::NAN))
            }),
            S::String(s) => JsonValue::String(s.clone()),
            S::Array(items) => JsonValue::Array(items.iter().map(JsonValue::from).collect()),
            S::Object(m) => JsonValue::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), JsonValue::from(v)))
                    .collect(),
            ),
        }
    }
}

impl TryFrom<&JsonValue> for serde_json::Value {
    type Error = JsonError;

    /// Fails on integers outside `i64`/`u64` and on non-finite floats.
    fn try_from(v: &JsonValue) -> Result<serde_json::Value, JsonError> {
        use serde_json::Value as S;
        Ok(match v {
            JsonValue::Null => S::Null,
            JsonValue::Bool(b) => S::Bool(*b),
            JsonValue::Number(JsonNumber::Int(i)) => {
                if let Ok(x) = i64::try_from(*i) {
                    S::from(x)
                } else if let Ok(x) = u64::try_from(*i) {
                    S::from(x)
                } else {
                    return Err(JsonError::NotRepresentable {
                        what: format!("integer {i}"),
                    });
                }
            }
            JsonValue::Number(JsonNumber::BigInt(s)) => {
                return Err(JsonError::NotRepresentable {
                    what: format!("integer {s}"),
                })
            }
            JsonValue::Number(JsonNumber::Float(f)) => {
                S::Number(serde_json::Number::from_f64(*f).ok_or_else(|| {
                    JsonError::NotRepresentable {
                        what: format!("float {}", python_float_repr(*f)),
                    }
                })?)
            }
            JsonValue::String(s) => S::String(s.clone()),
            JsonValue::Array(items) => S::Array(
                items
                    .iter()
                    .map(serde_json::Value::try_from)
                    .collect::<Result<_, _>>()?,
            ),
            JsonValue::Object(m) => {
                let mut map = serde_json::Map::new();
                for (k, v) in m {
                    map.insert(k.clone(), serde_json::Value::try_from(v)?);
                }
                S::Object(map)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn eight_bytes_at_a_time_agree_with_byte_by_byte() {
        let plain = |b: u8| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\';
        let check = |w: [u8; 8]| {
            assert_eq!(
                all_plain(u64::from_le_bytes(w)),
                w.iter().all(|&b| plain(b)),
                "{w:02x?}"
            );
        };
        // Every byte value at every position among plain bytes, and among bytes that are
        // just on either side of each edge (where borrows and carries could mislead).
        for fill in [
            b'a', b' ', b'~', b'!', b'#', b'[', b']', 0x7f, 0x1f, 0xff, 0x80,
        ] {
            for pos in 0..8 {
                for b in 0..=255u8 {
                    let mut w = [fill; 8];
                    w[pos] = b;
                    check(w);
                }
            }
        }
        // Pseudo-random words (xorshift), biased to the plain range.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut w = x.to_le_bytes();
            for b in &mut w {
                if *b & 0x40 != 0 {
                    *b = b' ' + (*b % 95);
                }
            }
            check(w);
        }
        // And whole strings, through the writer.
        let mut out = String::new();
        write_python_ascii_string(&mut out, "0123456789abcdef\"quoted\"\u{7f}é\n-tail-of-it");
        assert_eq!(
            out,
            "\"0123456789abcdef\\\"quoted\\\"\\u007f\\u00e9\\n-tail-of-it\""
        );
    }

    fn py(s: &str) -> Result<JsonValue, JsonError> {
        parse(s.as_bytes(), ParseOptions::PYTHON)
    }
    fn strict(s: &str) -> Result<JsonValue, JsonError> {
        parse(s.as_bytes(), ParseOptions::STRICT)
    }
    fn float(f: f64) -> JsonValue {
        JsonValue::Number(JsonNumber::Float(f))
    }
    fn int(i: i128) -> JsonValue {
        JsonValue::Number(JsonNumber::Int(i))
    }

    #[test]
    fn python_float_repr_table() {
        // Values checked against CPython 3.11 `repr(float)`; the full table generated by
        // Python is in testdata/seed/float_repr.tsv (tests/json_python.rs).
        let table: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (100.0, "100.0"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.2345e-5, "1.2345e-05"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1.5e300, "1.5e+300"),
            (-1.5e300, "-1.5e+300"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
            (1e22, "1e+22"),
            (1e100, "1e+100"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (v, want) in table {
            assert_eq!(python_float_repr(*v), *want, "repr of {v:e}");
        }
    }

    #[test]
    fn dumps_sorted_golden() {
        // Expected strings are what CPython prints for json.dumps(json.loads(input),
        // sort_keys=True, separators=(",", ":"), ensure_ascii=True).
        let table: &[(&str, &str)] = &[
            ("null", "null"),
            ("[true,false]", "[true,false]"),
            ("-0", "0"),
            ("-0.0", "-0.0"),
            ("1E5", "100000.0"),
            ("1e400", "Infinity"),
            ("[NaN,-Infinity]", "[NaN,-Infinity]"),
            ("1180591620717411303424", "1180591620717411303424"),
            (
                r#"{"b":1,"a":{"d":[],"c":{}}}"#,
                r#"{"a":{"c":{},"d":[]},"b":1}"#,
            ),
            // Sorted by code point: "A" < "a" < "é" < "😀".
            (
                r#"{"😀":1,"é":2,"a":3,"A":4}"#,
                r#"{"A":4,"a":3,"\u00e9":2,"\ud83d\ude00":1}"#,
            ),
            (
                r#""\u0000\u001f\u007f\b\f\n\r\t\"\\/""#,
                r#""\u0000\u001f\u007f\b\f\n\r\t\"\\/""#,
            ),
            (
                "\"caf\u{e9} \u{65e5}\u{2028}\"",
                r#""caf\u00e9 \u65e5\u2028""#,
            ),
            (r#""\ud83d\ude00""#, r#""\ud83d\ude00""#),
            ("\"\u{10ffff}\"", r#""\udbff\udfff""#),
            (r#"{"a":1,"b":2,"a":3}"#, r#"{"a":3,"b":2}"#),
            ("  [ 1 , 2.50 ]  ", "[1,2.5]"),
        ];
        for (input, want) in table {
            let v = py(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(python_dumps_sorted(&v), *want, "input {input}");
        }
    }

    #[test]
    fn duplicate_keys_python_last_wins_strict_rejects() {
        let v = py(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert_eq!(
            v,
            JsonValue::Object(vec![("a".into(), int(3)), ("b".into(), int(2))])
        );
        assert_eq!(
            strict(r#"{"a":1,"b":2,"a":3}"#),
            Err(JsonError::DuplicateKey {
                key: "a".into(),
                offset: 13
            })
        );
        // Many members: the indexed path must behave like the linear one.
        let mut text = String::from("{");
        for i in 0..40 {
            text.push_str(&format!("\"k{i}\":{i},"));
        }
        text.push_str("\"k3\":99}");
        let v = py(&text).unwrap();
        let m = v.as_object().unwrap();
        assert_eq!(m.len(), 40);
        assert_eq!(m[3], ("k3".into(), int(99)));
        assert!(matches!(strict(&text), Err(JsonError::DuplicateKey { key, .. }) if key == "k3"));
    }

    #[test]
    fn bad_inputs_golden() {
        use JsonError as E;
        let end = |offset| E::UnexpectedEnd { offset };
        let table: &[(&[u8], JsonError)] = &[
            // Empty input: no value at all.
            (b"", end(0)),
            // Leading zero: "0" then extra data, as in Python.
            (b"01", E::TrailingData { offset: 1 }),
            // Fraction without digits.
            (b"1.", E::InvalidNumber { offset: 0 }),
            // Exponent without digits.
            (b"1e+", E::InvalidNumber { offset: 0 }),
            // A lone minus sign.
            (b"-", E::InvalidNumber { offset: 0 }),
            // Plus sign is not JSON.
            (
                b"+1",
                E::UnexpectedChar {
                    offset: 0,
                    found: '+',
                    expected: "a JSON value",
                },
            ),
            // Trailing comma in an array.
            (
                b"[1,]",
                E::UnexpectedChar {
                    offset: 3,
                    found: ']',
                    expected: "a JSON value",
                },
            ),
            // Single-quoted key.
            (
                b"{'a':1}",
                E::UnexpectedChar {
                    offset: 1,
                    found: '\'',
                    expected: "a string key",
                },
            ),
            // Missing colon.
            (
                b"{\"a\" 1}",
                E::UnexpectedChar {
                    offset: 5,
                    found: '1',
                    expected: "':'",
                },
            ),
            // Python-only literal spellings that even Python rejects.
            (
                b"nan",
                E::UnexpectedChar {
                    offset: 0,
                    found: 'n',
                    expected: "a JSON value",
                },
            ),
            (b"-NaN", E::InvalidNumber { offset: 0 }),
            // Raw control character inside a string.
            (b"\"a\tb\"", E::ControlCharacter { offset: 2, code: 9 }),
            // Unknown escape.
            (b"\"\\x41\"", E::InvalidEscape { offset: 1 }),
            // Short \u escape.
            (b"\"\\u12\"", E::InvalidEscape { offset: 1 }),
            // Lone high surrogate (Python would keep it; a Rust String cannot).
            (b"\"\\ud800\"", E::LoneSurrogate { offset: 1 }),
            // Lone low surrogate.
            (b"\"\\udc00x\"", E::LoneSurrogate { offset: 1 }),
            // High surrogate followed by a non-surrogate escape.
            (b"\"\\ud800\\u0041\"", E::LoneSurrogate { offset: 1 }),
            // Unterminated string.
            (b"\"abc", end(4)),
            // Unterminated array.
            (b"[1", end(2)),
            // Invalid UTF-8 (a lone continuation byte).
            (b"\"\x80\"", E::InvalidUtf8 { offset: 1 }),
            // UTF-8 byte order mark is not whitespace.
            (
                b"\xef\xbb\xbf1",
                E::UnexpectedChar {
                    offset: 0,
                    found: '\u{feff}',
                    expected: "a JSON value",
                },
            ),
            // Two values.
            (b"1 2", E::TrailingData { offset: 2 }),
        ];
        for (input, want) in table {
            let got = parse(input, ParseOptions::PYTHON);
            assert_eq!(
                got.as_ref(),
                Err(want),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn non_finite_only_in_python_mode() {
        for (input, want) in [
            ("NaN", f64::NAN),
            ("Infinity", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("1e400", f64::INFINITY),
            ("-1e400", f64::NEG_INFINITY),
        ] {
            match py(input) {
                Ok(JsonValue::Number(JsonNumber::Float(f))) => {
                    assert!(f.to_bits() == want.to_bits() || (f.is_nan() && want.is_nan()))
                }
                other => panic!("{input}: {other:?}"),
            }
            assert_eq!(
                strict(input),
                Err(JsonError::NonFiniteNumber { offset: 0 }),
                "{input}"
            );
        }
        // Underflow is finite: 0.0, accepted in both modes.
        assert_eq!(strict("1e-400"), Ok(float(0.0)));
    }

    #[test]
    fn numbers_have_python_types() {
        assert_eq!(py("-0"), Ok(int(0)));
        // i128::MAX = 170141183460469231731687303715884105727: the last value of `Int`.
        assert_eq!(
            py("170141183460469231731687303715884105727"),
            Ok(int(i128::MAX))
        );
        assert_eq!(
            py("170141183460469231731687303715884105728"),
            Ok(JsonValue::Number(JsonNumber::BigInt(
                "170141183460469231731687303715884105728".into()
            )))
        );
        assert_eq!(
            py("-170141183460469231731687303715884105728"),
            Ok(int(i128::MIN))
        );
        assert_eq!(
            py("-170141183460469231731687303715884105729"),
            Ok(JsonValue::Number(JsonNumber::BigInt(
                "-170141183460469231731687303715884105729".into()
            )))
        );
        assert_eq!(py("1.0"), Ok(float(1.0)));
        assert_eq!(py("1E2"), Ok(float(100.0)));
        // Correct rounding on a long literal (the halfway case just above 2^53 rounds to even).
        assert_eq!(py("9007199254740993.0"), Ok(float(9007199254740992.0)));
    }

    #[test]
    fn limits_are_enforced_at_their_edges() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(py(&nest(MAX_JSON_DEPTH)).is_ok());
        assert!(matches!(
            py(&nest(MAX_JSON_DEPTH + 1)),
            Err(JsonError::TooDeep { .. })
        ));
        let objs = format!(
            "{}1{}",
            "{\"a\":".repeat(MAX_JSON_DEPTH + 1),
            "}".repeat(MAX_JSON_DEPTH + 1)
        );
        assert!(matches!(py(&objs), Err(JsonError::TooDeep { .. })));

        let digits = "7".repeat(MAX_JSON_INT_DIGITS);
        assert!(py(&digits).is_ok());
        assert!(py(&format!("-{digits}")).is_ok());
        assert_eq!(
            py(&format!("{digits}7")),
            Err(JsonError::IntegerTooLong {
                offset: 0,
                digits: MAX_JSON_INT_DIGITS + 1,
                max: MAX_JSON_INT_DIGITS
            })
        );
        // Floats have no digit limit in Python.
        assert!(py(&format!("{digits}7.5")).is_ok());

        let long = format!("\"{}\"", "x".repeat(MAX_JSON_STRING_BYTES));
        assert!(py(&long).is_ok());
        let too_long = format!("\"{}\"", "x".repeat(MAX_JSON_STRING_BYTES + 1));
        assert!(matches!(
            py(&too_long),
            Err(JsonError::StringTooLong { offset: 0, .. })
        ));
        let escaped = format!("\"{}\"", "\\n".repeat(MAX_JSON_STRING_BYTES + 1));
        assert!(matches!(py(&escaped), Err(JsonError::StringTooLong { .. })));

        let big = vec![b' '; MAX_JSON_INPUT_BYTES + 1];
        assert_eq!(
            parse(&big, ParseOptions::PYTHON),
            Err(JsonError::InputTooLarge {
                len: MAX_JSON_INPUT_BYTES + 1,
                max: MAX_JSON_INPUT_BYTES
            })
        );
    }

    #[test]
    fn compact_output_and_serde_round_trip() {
        let v = py(r#"{"b":[1,2.5,"é\n"],"a":null,"n":NaN,"big":1180591620717411303424}"#).unwrap();
        assert_eq!(
            to_json_string(&v),
            "{\"b\":[1,2.5,\"é\\n\"],\"a\":null,\"n\":null,\"big\":1180591620717411303424}"
        );
        assert!(matches!(
            serde_json::Value::try_from(&v),
            Err(JsonError::NotRepresentable { .. })
        ));
        let v = py(r#"{"b":[1,2.5,"é\n",-7,18446744073709551615],"a":{"x":true}}"#).unwrap();
        let sv = serde_json::Value::try_from(&v).unwrap();
        assert_eq!(sv.to_string(), to_json_string(&v));
        assert_eq!(JsonValue::from(&sv), v);
    }

    fn arb_json() -> impl Strategy<Value = JsonValue> {
        let leaf = prop_oneof![
            Just(JsonValue::Null),
            any::<bool>().prop_map(JsonValue::Bool),
            any::<i128>().prop_map(int),
            "-?[1-9][0-9]{39,60}".prop_map(|d| JsonValue::Number(JsonNumber::BigInt(d))),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(float),
            any::<String>().prop_map(JsonValue::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(JsonValue::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..8)
                    .prop_map(|m| JsonValue::Object(m.into_iter().collect())),
            ]
        })
    }

    fn sorted(v: &JsonValue) -> JsonValue {
        match v {
            JsonValue::Array(items) => JsonValue::Array(items.iter().map(sorted).collect()),
            JsonValue::Object(m) => {
                let mut m: Vec<_> = m.iter().map(|(k, v)| (k.clone(), sorted(v))).collect();
                m.sort_by(|a, b| a.0.cmp(&b.0));
                JsonValue::Object(m)
            }
            other => other.clone(),
        }
    }

    proptest! {
        #[test]
        fn dumps_then_parse_is_identity(v in arb_json()) {
            let text = python_dumps_sorted(&v);
            prop_assert!(text.is_ascii());
            let back = parse(text.as_bytes(), ParseOptions::STRICT).unwrap();
            prop_assert_eq!(&back, &sorted(&v));
            prop_assert_eq!(python_dumps_sorted(&back), text);
            let compact = to_json_string(&v);
            prop_assert_eq!(parse(compact.as_bytes(), ParseOptions::STRICT).unwrap(), v);
        }

        #[test]
        fn float_repr_round_trips(bits in any::<u64>()) {
            let f = f64::from_bits(bits);
            prop_assume!(f.is_finite());
            let r = python_float_repr(f);
            prop_assert_eq!(r.parse::<f64>().unwrap().to_bits(), bits);
            prop_assert_eq!(py(&r).unwrap(), float(f));
        }

        #[test]
        fn parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&bytes, ParseOptions::PYTHON);
            let _ = parse(&bytes, ParseOptions::STRICT);
        }

        #[test]
        fn parser_never_panics_on_mutated_json(v in arb_json(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut text = python_dumps_sorted(&v).into_bytes();
            let i = pos.index(text.len());
            text[i] = byte;
            let _ = parse(&text, ParseOptions::PYTHON);
            text.truncate(i);
            let _ = parse(&text, ParseOptions::STRICT);
        }
    }

    #[test]
    fn compact_strings_escape_exactly_quotes_backslashes_and_controls() {
        // The reference: escape char by char.
        fn reference(s: &str) -> String {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{0}'..='\u{1f}' => out.push_str(&format!("\\u{:04x}", c as u32)),
                    _ => out.push(c),
                }
            }
            out.push('"');
            out
        }
        let cases = [
            "",
            "plain",
            "origin\n— 12\nabc=\n\n\u{2014} sig\n",
            "\"q\" \\ back",
            "\u{0}\u{1}\u{8}\u{c}\u{1f} ctl",
            "ünïcödé 日本 🦀\t",
            "\n",
        ];
        for c in cases {
            let mut out = String::new();
            write_compact_string(&mut out, c);
            assert_eq!(out, reference(c), "{c:?}");
            // And it parses back to the same string.
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), c);
        }
    }

    #[test]
    fn python_ascii_strings_escape_like_the_char_by_char_reference() {
        fn reference(s: &str) -> String {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    ' '..='~' => out.push(c),
                    _ => {
                        let mut units = [0u16; 2];
                        for u in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{u:04x}"));
                        }
                    }
                }
            }
            out.push('"');
            out
        }
        let cases = [
            "",
            "plain ascii ~",
            "q\"b\\n\nr\rt\tb\u{8}f\u{c}z\u{0}\u{1f}\u{7f}",
            "é日本🦀 mixed é",
            "🦀",
            "end\u{80}",
        ];
        for c in cases {
            let mut out = String::new();
            write_python_ascii_string(&mut out, c);
            assert_eq!(out, reference(c), "{c:?}");
        }
    }
}
