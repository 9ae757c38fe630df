//! The entry (Merkle leaf bytes) and the private body, format version 1 of `spec/entry.md`.
//!
//! An event is split in two (DESIGN.md §5): a public [`EntryHeader`], encoded by
//! [`encode_entry`] as the leaf bytes, and a private [`Body`] (`actor`, `details`), encoded by
//! [`encode_body`] and committed to by the header's `body_digest`:
//!
//! ```text
//! body_digest = SHA-256(salt || body_bytes)      salt: 32 random bytes from the caller
//! leaf hash   = SHA-256(0x00 || entry_bytes)     RFC 6962 §2.1, over the stored bytes
//! ```
//!
//! Both are deterministic CBOR (RFC 8949 §4.2.1, see [`crate::core::cbor`]); the decoders
//! accept only the canonical bytes, so an entry has exactly one encoding and the leaf hash is
//! always taken over the bytes as stored, never over a re-encoding.
//!
//! To append an event a caller validates and encodes the body, draws a salt, then builds the
//! header: `let b = encode_body(&body)?; header.body_digest = body_digest(&salt, &b);
//! let leaf = encode_entry(&header)?;`.
//!
//! Also here, because the entry's rules define them: the timestamp format
//! ([`parse_timestamp`], [`format_timestamp`], no clock) and UUID v4 event ids from caller
//! randomness ([`event_id_from_random`]).
//!
//! Out of scope: storage of bodies and salts, erasure events, the JSON API (`spec/api.md`).

use crate::core::cbor::{self, CborError, CborValue, DecodeLimits};
use crate::core::hash::hex_encode;
use crate::core::json::JsonValue;
use std::collections::BTreeMap;

/// The entry format version this module writes and reads.
pub const ENTRY_VERSION: u64 = 1;
/// The largest encoded entry accepted (bytes). The largest valid entry is about 1,800 bytes;
/// tlog-tiles entry bundles allow 65,535 bytes per leaf.
pub const MAX_ENTRY_SIZE: usize = 4096;
/// The largest encoded body accepted (bytes): 256 KiB.
pub const MAX_BODY_SIZE: usize = 256 * 1024;
/// The most characters in an `event_id`.
pub const MAX_EVENT_ID_LEN: usize = 128;
/// The most characters in an `event_type`.
pub const MAX_EVENT_TYPE_LEN: usize = 128;
/// The most bytes in `system`, `model_id`, `dataset_id`, `deployment_id`, `submitter` and
/// `actor`.
pub const MAX_FIELD_LEN: usize = 256;
/// Length of the body salt (bytes).
pub const SALT_SIZE: usize = 32;
/// Length of a body digest (bytes).
pub const BODY_DIGEST_SIZE: usize = 32;
/// Length of a timestamp, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub const TIMESTAMP_LEN: usize = 27;

/// The public header of an event: the content of a Merkle leaf (`spec/entry.md` §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryHeader {
    /// Unique event id, 1–128 characters of `[A-Za-z0-9._:-]` (usually a UUID v4).
    pub event_id: String,
    /// When the event was recorded, `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC).
    pub timestamp: String,
    /// The kind of event (`Evaluation`, `TrainingRun`, …), 1–128 characters of
    /// `[A-Za-z0-9_.:-]`.
    pub event_type: String,
    /// The system that emitted the event.
    pub system: Option<String>,
    /// The model the event is about.
    pub model_id: Option<String>,
    /// The dataset the event is about.
    pub dataset_id: Option<String>,
    /// The deployment the event is about.
    pub deployment_id: Option<String>,
    /// The authenticated identity that appended the event.
    pub submitter: Option<String>,
    /// `SHA-256(salt || body_bytes)`: the commitment to the private body.
    pub body_digest: [u8; BODY_DIGEST_SIZE],
}

/// The private body of an event (`spec/entry.md` §3), stored beside the entry with its salt.
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    /// Who performed the action, if known.
    pub actor: Option<String>,
    /// Free-form details: any JSON value within CBOR's range.
    pub details: JsonValue,
}

/// Which of the two encodings an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The entry (leaf bytes).
    Entry,
    /// The private body.
    Body,
}

impl core::fmt::Display for Part {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Part::Entry => "entry",
            Part::Body => "body",
        })
    }
}

/// Errors of encoding, decoding and verifying entries and bodies, naming the field and rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// The encoded entry or body is over its size limit.
    #[error("{part} is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Entry or body.
        part: Part,
        /// Its size.
        size: usize,
        /// [`MAX_ENTRY_SIZE`] or [`MAX_BODY_SIZE`].
        limit: usize,
    },
    /// The bytes are not canonical CBOR of the supported subset.
    #[error("{part} is not canonical CBOR: {source}")]
    Cbor {
        /// Entry or body.
        part: Part,
        /// What the CBOR decoder found.
        source: CborError,
    },
    /// The top-level item is not a map.
    #[error("{part} is not a CBOR map")]
    NotAMap {
        /// Entry or body.
        part: Part,
    },
    /// The entry's `version` is not [`ENTRY_VERSION`].
    #[error("unsupported entry version {version} (this decoder reads version {ENTRY_VERSION})")]
    UnsupportedVersion {
        /// The version found.
        version: u64,
    },
    /// A required field is absent.
    #[error("{part} field {field} is missing")]
    MissingField {
        /// Entry or body.
        part: Part,
        /// The field.
        field: &'static str,
    },
    /// A key that version 1 does not define.
    #[error("{part} has unknown field {field:?}")]
    UnknownField {
        /// Entry or body.
        part: Part,
        /// The key found.
        field: String,
    },
    /// A field has the wrong CBOR type (e.g. `null` for an absent optional field).
    #[error("{part} field {field} must be {expected}")]
    WrongType {
        /// Entry or body.
        part: Part,
        /// The field.
        field: &'static str,
        /// The type required.
        expected: &'static str,
    },
    /// A text field is empty or too long.
    #[error("field {field} is {len} bytes long; allowed {min}..={max}")]
    FieldLength {
        /// The field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// Least length allowed.
        min: usize,
        /// Greatest length allowed.
        max: usize,
    },
    /// A text field holds a character its rule forbids.
    #[error("field {field} has forbidden character {character:?} at byte {position}; {rule}")]
    FieldCharacter {
        /// The field.
        field: &'static str,
        /// Byte offset of the character in the field.
        position: usize,
        /// The character.
        character: char,
        /// The rule broken.
        rule: &'static str,
    },
    /// A new event's client-chosen `event_id` of digits only: `GET /v1/events/{index or
    /// event_id}` and `tlog show` read such an id as a leaf index, so it could never be
    /// looked up by that id. Refused when an event is created, not when one is decoded.
    #[error("event_id {value:?} is all digits, which reads as a leaf index; add a non-digit character (e.g. a prefix such as \"run-\")")]
    NumericEventId {
        /// The id (at most its first 64 characters).
        value: String,
    },
    /// A timestamp that is not `YYYY-MM-DDTHH:MM:SS.ffffffZ` with a real date and time.
    #[error("invalid timestamp {value:?}: {rule}")]
    InvalidTimestamp {
        /// The timestamp (at most its first 64 characters).
        value: String,
        /// The rule broken.
        rule: &'static str,
    },
    /// An instant outside the years 0001–9999.
    #[error("instant {unix_micros} µs since the epoch is outside the years 0001-9999")]
    TimestampOutOfRange {
        /// The instant given.
        unix_micros: i64,
    },
    /// `details` cannot be carried in CBOR (out-of-range integer, NaN, byte string, …).
    #[error("details: {source}")]
    Details {
        /// Why.
        source: CborError,
    },
    /// `body_digest` is not 32 bytes.
    #[error("body_digest is {len} bytes, must be {BODY_DIGEST_SIZE}")]
    BodyDigestLength {
        /// Its length.
        len: usize,
    },
    /// `SHA-256(salt || body)` differs from the entry's `body_digest`.
    #[error("body does not match the entry: body_digest {expected}, computed {computed}")]
    BodyDigestMismatch {
        /// The entry's `body_digest`, hex.
        expected: String,
        /// The digest of the given salt and body, hex.
        computed: String,
    },
    /// Decoded bytes differ from their canonical re-encoding (a decoder bug if ever seen).
    #[error("{part} bytes are not the canonical encoding of their value")]
    NotCanonical {
        /// Entry or body.
        part: Part,
    },
}

// ---------------------------------------------------------------------------------------------
// Field rules (spec/entry.md §2)

const ID_RULE: &str = "allowed: A-Z a-z 0-9 . _ : -";
const TEXT_RULE: &str = "control characters are not allowed";

/// Checks `event_id`/`event_type`: 1..=max ASCII characters of `[A-Za-z0-9._:-]`.
fn check_identifier(field: &'static str, value: &str, max: usize) -> Result<(), EntryError> {
    if value.is_empty() || value.len() > max {
        return Err(EntryError::FieldLength {
            field,
            len: value.len(),
            min: 1,
            max,
        });
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    if value.bytes().all(|b| allowed(b as char)) {
        return Ok(());
    }
    if let Some((position, character)) = value.char_indices().find(|&(_, c)| !allowed(c)) {
        return Err(EntryError::FieldCharacter {
            field,
            position,
            character,
            rule: ID_RULE,
        });
    }
    Ok(())
}

/// The extra rule for an `event_id` a client chooses for a new event (spec/entry.md §4): not
/// digits only, since an all-digit id reads as a leaf index wherever an index or an id is
/// accepted. Stored entries are not held to it (decoding does not call this).
pub fn check_new_event_id(event_id: &str) -> Result<(), EntryError> {
    if !event_id.is_empty() && event_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EntryError::NumericEventId {
            value: event_id.chars().take(64).collect(),
        });
    }
    Ok(())
}

/// Checks a free-text field: 1..=[`MAX_FIELD_LEN`] bytes, no control character (Unicode Cc).
fn check_text(field: &'static str, value: &str) -> Result<(), EntryError> {
    if value.is_empty() || value.len() > MAX_FIELD_LEN {
        return Err(EntryError::FieldLength {
            field,
            len: value.len(),
            min: 1,
            max: MAX_FIELD_LEN,
        });
    }
    // Fast path: ASCII without C0 controls or DEL has no Unicode control character.
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Ok(());
    }
    if let Some((position, character)) = value.char_indices().find(|&(_, c)| c.is_control()) {
        return Err(EntryError::FieldCharacter {
            field,
            position,
            character,
            rule: TEXT_RULE,
        });
    }
    Ok(())
}

impl EntryHeader {
    /// Checks every field rule of `spec/entry.md` §2.
    pub fn validate(&self) -> Result<(), EntryError> {
        check_identifier("event_id", &self.event_id, MAX_EVENT_ID_LEN)?;
        parse_timestamp(&self.timestamp)?;
        check_identifier("event_type", &self.event_type, MAX_EVENT_TYPE_LEN)?;
        for (field, value) in self.optional_fields() {
            if let Some(v) = value {
                check_text(field, v)?;
            }
        }
        Ok(())
    }

    fn optional_fields(&self) -> [(&'static str, &Option<String>); 5] {
        [
            ("system", &self.system),
            ("model_id", &self.model_id),
            ("dataset_id", &self.dataset_id),
            ("deployment_id", &self.deployment_id),
            ("submitter", &self.submitter),
        ]
    }
}

impl Body {
    /// Checks the field rules of `spec/entry.md` §3 that do not need encoding (`actor`).
    pub fn validate(&self) -> Result<(), EntryError> {
        if let Some(actor) = &self.actor {
            check_text("actor", actor)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Entry

/// Validates `header` and encodes it as the canonical leaf bytes (`spec/entry.md` §2).
pub fn encode_entry(header: &EntryHeader) -> Result<Vec<u8>, EntryError> {
    header.validate()?;
    let bytes = entry_bytes(header);
    check_size(Part::Entry, bytes.len(), MAX_ENTRY_SIZE)?;
    Ok(bytes)
}

/// The canonical CBOR of a header, written directly (no intermediate map): the same bytes
/// as encoding [`entry_value`], which the tests check. Keys in canonical order: shorter
/// first, then bytewise (RFC 8949 §4.2.1).
fn entry_bytes(h: &EntryHeader) -> Vec<u8> {
    let texts: [(&str, Option<&str>); 9] = [
        ("system", h.system.as_deref()),
        ("version", None), // written below as an unsigned integer
        ("event_id", Some(&h.event_id)),
        ("model_id", h.model_id.as_deref()),
        ("submitter", h.submitter.as_deref()),
        ("timestamp", Some(&h.timestamp)),
        ("dataset_id", h.dataset_id.as_deref()),
        ("event_type", Some(&h.event_type)),
        ("deployment_id", h.deployment_id.as_deref()),
    ];
    let present = texts.iter().filter(|(_, v)| v.is_some()).count() + 2;
    let text_len: usize = texts.iter().filter_map(|(_, v)| v.map(str::len)).sum();
    let mut out = Vec::with_capacity(text_len + 160);
    cbor::write_head(&mut out, 5, present as u64);
    for (key, value) in texts {
        if key == "version" {
            cbor::write_text(&mut out, key);
            cbor::write_head(&mut out, 0, ENTRY_VERSION);
            continue;
        }
        if key == "deployment_id" {
            // "body_digest" (11 bytes) sorts before "deployment_id" (13).
            cbor::write_text(&mut out, "body_digest");
            cbor::write_head(&mut out, 2, BODY_DIGEST_SIZE as u64);
            out.extend_from_slice(&h.body_digest);
        }
        if let Some(v) = value {
            cbor::write_text(&mut out, key);
            cbor::write_text(&mut out, v);
        }
    }
    out
}

/// The header as a CBOR map: the reference that [`entry_bytes`] is tested against.
#[cfg(test)]
fn entry_value(h: &EntryHeader) -> CborValue {
    let mut map = BTreeMap::new();
    let mut put = |k: &str, v: CborValue| {
        map.insert(k.to_owned(), v);
    };
    put("version", CborValue::Unsigned(ENTRY_VERSION));
    put("event_id", CborValue::Text(h.event_id.clone()));
    put("timestamp", CborValue::Text(h.timestamp.clone()));
    put("event_type", CborValue::Text(h.event_type.clone()));
    // Absent optional fields are omitted: absent has one encoding, never null.
    for (field, value) in h.optional_fields() {
        if let Some(v) = value {
            put(field, CborValue::Text(v.clone()));
        }
    }
    put("body_digest", CborValue::Bytes(h.body_digest.to_vec()));
    CborValue::Map(map)
}

/// Decodes and checks leaf bytes: size, strict canonical CBOR, version 1, known fields only,
/// every field rule, and that the bytes are exactly the canonical encoding of the result.
pub fn decode_entry(bytes: &[u8]) -> Result<EntryHeader, EntryError> {
    check_size(Part::Entry, bytes.len(), MAX_ENTRY_SIZE)?;
    let limits = DecodeLimits {
        max_size: MAX_ENTRY_SIZE,
        max_depth: 1, // a flat map of scalars
    };
    let mut map = decode_map(Part::Entry, bytes, limits)?;

    // The version is checked first, so a newer entry gets "unsupported version".
    match map.remove("version") {
        None => {
            return Err(EntryError::MissingField {
                part: Part::Entry,
                field: "version",
            })
        }
        Some(CborValue::Unsigned(ENTRY_VERSION)) => {}
        Some(CborValue::Unsigned(version)) => {
            return Err(EntryError::UnsupportedVersion { version })
        }
        Some(_) => {
            return Err(EntryError::WrongType {
                part: Part::Entry,
                field: "version",
                expected: "an unsigned integer",
            })
        }
    }
    let p = Part::Entry;
    let event_id = required_text(p, &mut map, "event_id")?;
    let timestamp = required_text(p, &mut map, "timestamp")?;
    let event_type = required_text(p, &mut map, "event_type")?;
    let system = optional_text(p, &mut map, "system")?;
    let model_id = optional_text(p, &mut map, "model_id")?;
    let dataset_id = optional_text(p, &mut map, "dataset_id")?;
    let deployment_id = optional_text(p, &mut map, "deployment_id")?;
    let submitter = optional_text(p, &mut map, "submitter")?;
    let body_digest = match map.remove("body_digest") {
        None => {
            return Err(EntryError::MissingField {
                part: p,
                field: "body_digest",
            })
        }
        Some(CborValue::Bytes(b)) => <[u8; BODY_DIGEST_SIZE]>::try_from(b.as_slice())
            .map_err(|_| EntryError::BodyDigestLength { len: b.len() })?,
        Some(_) => {
            return Err(EntryError::WrongType {
                part: p,
                field: "body_digest",
                expected: "a byte string",
            })
        }
    };
    reject_unknown(p, map)?;
    let header = EntryHeader {
        event_id,
        timestamp,
        event_type,
        system,
        model_id,
        dataset_id,
        deployment_id,
        submitter,
        body_digest,
    };
    header.validate()?;
    // The stored bytes must be the one encoding of this header.
    if entry_bytes(&header) != bytes {
        return Err(EntryError::NotCanonical { part: p });
    }
    Ok(header)
}

// ---------------------------------------------------------------------------------------------
// Body

/// Validates `body` and encodes it canonically (`spec/entry.md` §3).
pub fn encode_body(body: &Body) -> Result<Vec<u8>, EntryError> {
    body.validate()?;
    let bytes = encode_part(Part::Body, &body_value(body)?)?;
    check_size(Part::Body, bytes.len(), MAX_BODY_SIZE)?;
    Ok(bytes)
}

fn body_value(body: &Body) -> Result<CborValue, EntryError> {
    // The body map is one level; encode() then bounds the total nesting by MAX_DEPTH.
    let details =
        cbor::from_json(&body.details).map_err(|source| EntryError::Details { source })?;
    let mut map = BTreeMap::new();
    if let Some(actor) = &body.actor {
        map.insert("actor".to_owned(), CborValue::Text(actor.clone()));
    }
    map.insert("details".to_owned(), details);
    Ok(CborValue::Map(map))
}

/// Decodes and checks body bytes: size, strict canonical CBOR, known fields only, `actor`'s
/// rule, `details` convertible to JSON, and canonical bytes.
pub fn decode_body(bytes: &[u8]) -> Result<Body, EntryError> {
    check_size(Part::Body, bytes.len(), MAX_BODY_SIZE)?;
    let limits = DecodeLimits {
        max_size: MAX_BODY_SIZE,
        max_depth: cbor::MAX_DEPTH,
    };
    let p = Part::Body;
    let mut map = decode_map(p, bytes, limits)?;
    let actor = optional_text(p, &mut map, "actor")?;
    let details = map.remove("details").ok_or(EntryError::MissingField {
        part: p,
        field: "details",
    })?;
    reject_unknown(p, map)?;
    let details = cbor::to_json(&details).map_err(|source| EntryError::Details { source })?;
    let body = Body { actor, details };
    body.validate()?;
    if encode_part(p, &body_value(&body)?)? != bytes {
        return Err(EntryError::NotCanonical { part: p });
    }
    Ok(body)
}

/// The body commitment: `SHA-256(salt || body_bytes)` (`spec/entry.md` §3).
pub fn body_digest(salt: &[u8; SALT_SIZE], body_bytes: &[u8]) -> [u8; BODY_DIGEST_SIZE] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(salt);
    h.update(body_bytes);
    h.finalize().into()
}

/// Checks a body and its salt against an entry: size, then
/// `SHA-256(salt || body_bytes) == header.body_digest` over the given bytes, then a strict
/// decode. Returns the decoded body.
pub fn verify_body(
    header: &EntryHeader,
    salt: &[u8; SALT_SIZE],
    body_bytes: &[u8],
) -> Result<Body, EntryError> {
    check_size(Part::Body, body_bytes.len(), MAX_BODY_SIZE)?;
    let computed = body_digest(salt, body_bytes);
    if computed != header.body_digest {
        return Err(EntryError::BodyDigestMismatch {
            expected: hex_encode(&header.body_digest),
            computed: hex_encode(&computed),
        });
    }
    decode_body(body_bytes)
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

fn check_size(part: Part, size: usize, limit: usize) -> Result<(), EntryError> {
    if size > limit {
        return Err(EntryError::TooLarge { part, size, limit });
    }
    Ok(())
}

fn encode_part(part: Part, value: &CborValue) -> Result<Vec<u8>, EntryError> {
    cbor::encode(value).map_err(|source| match part {
        Part::Body => EntryError::Details { source },
        Part::Entry => EntryError::Cbor { part, source },
    })
}

fn decode_map(
    part: Part,
    bytes: &[u8],
    limits: DecodeLimits,
) -> Result<BTreeMap<String, CborValue>, EntryError> {
    match cbor::decode(bytes, limits) {
        Ok(CborValue::Map(map)) => Ok(map),
        Ok(_) => Err(EntryError::NotAMap { part }),
        // A nested container in an entry is reported as what it is: not a map of scalars.
        Err(source) => Err(EntryError::Cbor { part, source }),
    }
}

fn required_text(
    part: Part,
    map: &mut BTreeMap<String, CborValue>,
    field: &'static str,
) -> Result<String, EntryError> {
    optional_text(part, map, field)?.ok_or(EntryError::MissingField { part, field })
}

fn optional_text(
    part: Part,
    map: &mut BTreeMap<String, CborValue>,
    field: &'static str,
) -> Result<Option<String>, EntryError> {
    match map.remove(field) {
        None => Ok(None),
        Some(CborValue::Text(s)) => Ok(Some(s)),
        Some(_) => Err(EntryError::WrongType {
            part,
            field,
            expected: "a text string (absent fields are omitted, never null)",
        }),
    }
}

fn reject_unknown(part: Part, map: BTreeMap<String, CborValue>) -> Result<(), EntryError> {
    match map.into_keys().next() {
        Some(field) => Err(EntryError::UnknownField { part, field }),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Timestamps (spec/entry.md §4)

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic-Gregorian civil date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Microseconds since the Unix epoch of 0001-01-01T00:00:00.000000Z.
const MIN_MICROS: i64 = -62_135_596_800 * MICROS_PER_SECOND;
/// Microseconds since the Unix epoch of 9999-12-31T23:59:59.999999Z.
const MAX_MICROS: i64 = 253_402_300_800 * MICROS_PER_SECOND - 1;

/// Formats microseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC), as the
/// seed's `strftime("%Y-%m-%dT%H:%M:%S.%fZ")` does. Instants outside the years 0001–9999 are
/// rejected.
pub fn format_timestamp(unix_micros: i64) -> Result<String, EntryError> {
    if !(MIN_MICROS..=MAX_MICROS).contains(&unix_micros) {
        return Err(EntryError::TimestampOutOfRange { unix_micros });
    }
    let micros = unix_micros.rem_euclid(MICROS_PER_SECOND);
    let seconds = unix_micros.div_euclid(MICROS_PER_SECOND);
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let sod = seconds.rem_euclid(SECONDS_PER_DAY);
    let (y, mo, d) = civil_from_days(days);
    // Digits written in place: `format!` was 4% of a POST handler's time (`perf`).
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, mo);
    put(8, 2, d);
    put(11, 2, sod / 3600);
    put(14, 2, sod / 60 % 60);
    put(17, 2, sod % 60);
    put(20, 6, micros);
    Ok(String::from_utf8(out.to_vec()).expect("digits and separators are ASCII"))
}

/// Parses `YYYY-MM-DDTHH:MM:SS.ffffffZ` (exactly 27 ASCII characters, a real date in years
/// 0001–9999, no leap second) into microseconds since the Unix epoch.
pub fn parse_timestamp(s: &str) -> Result<i64, EntryError> {
    let bad = |rule: &'static str| EntryError::InvalidTimestamp {
        value: s.chars().take(64).collect(),
        rule,
    };
    let b = s.as_bytes();
    if b.len() != TIMESTAMP_LEN {
        return Err(bad(
            "must be exactly 27 characters: YYYY-MM-DDTHH:MM:SS.ffffffZ",
        ));
    }
    // Layout: YYYY-MM-DDTHH:MM:SS.ffffffZ
    //         0    5  8  11 14 17 20     26
    for (i, sep) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ] {
        if b[i] != sep {
            return Err(bad(
                "must be YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC, 6 fraction digits)",
            ));
        }
    }
    let num = |from: usize, to: usize| -> Result<i64, EntryError> {
        b[from..to].iter().try_fold(0i64, |acc, &c| {
            if c.is_ascii_digit() {
                Ok(acc * 10 + i64::from(c - b'0'))
            } else {
                Err(bad("date and time fields must be ASCII digits"))
            }
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second, micros) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 26)?);
    if year < 1 {
        return Err(bad("year must be 0001-9999"));
    }
    if !(1..=12).contains(&month) {
        return Err(bad("month must be 01-12"));
    }
    if !(1..=days_in_month(year, month)).contains(&day) {
        return Err(bad("day does not exist in that month"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(bad("time must be 00:00:00-23:59:59 (no leap second)"));
    }
    let seconds =
        days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
    Ok(seconds * MICROS_PER_SECOND + micros)
}

// ---------------------------------------------------------------------------------------------
// Event ids

/// A UUID version 4 string from 16 random bytes given by the caller, as Python's
/// `str(uuid.uuid4())` prints it: lower-case hex, 8-4-4-4-12. Sets the version (byte 6 high
/// nibble = 4) and the RFC 4122 variant (byte 8 top bits = 10), as `uuid.UUID(version=4)` does.
pub fn event_id_from_random(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // variant 10xx (RFC 4122 §4.1.1)
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_entry_encoding_equals_the_map_encoding_for_every_field_combination() {
        for mask in 0u32..32 {
            let opt = |bit: u32, v: &str| (mask & (1 << bit) != 0).then(|| v.to_string());
            let h = EntryHeader {
                event_id: "0b7c1f6e-0000-4000-8000-000000000000".into(),
                timestamp: "2026-11-27T12:00:00.000000Z".into(),
                event_type: "Evaluation".into(),
                system: opt(0, "hf_trainer"),
                model_id: opt(1, "llama-ft-v1"),
                dataset_id: opt(2, "ds-é-2026"),
                deployment_id: opt(3, &"x".repeat(256)),
                submitter: opt(4, "ci-token"),
                body_digest: [mask as u8; BODY_DIGEST_SIZE],
            };
            let reference = encode_part(Part::Entry, &entry_value(&h)).unwrap();
            assert_eq!(entry_bytes(&h), reference, "fields {mask:05b}");
            assert_eq!(decode_entry(&reference).unwrap(), h);
        }
    }

    #[test]
    fn new_event_ids_of_digits_only_are_refused() {
        for id in ["0", "12345", "0002", &"9".repeat(128)] {
            let e = check_new_event_id(id).unwrap_err();
            assert!(
                matches!(&e, EntryError::NumericEventId { value } if id.starts_with(value.as_str()))
            );
            assert!(e.to_string().contains("reads as a leaf index"), "{e}");
        }
        for id in ["12345a", "a1", "run-7", "1.5", "1e3", "0x10", "-1", "1:2"] {
            check_new_event_id(id).unwrap();
        }
        // A generated id is never digits only (it has hyphens).
        check_new_event_id(&event_id_from_random([0; 16])).unwrap();
    }

    #[test]
    fn event_ids_are_uuid4_strings() {
        let id = event_id_from_random([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let id = event_id_from_random([0; 16]);
        assert_eq!(id, "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn civil_day_conversions_agree_over_every_day_of_years_1_to_9999() {
        // Exhaustive: every day 0001-01-01 ..= 9999-12-31 round-trips, and consecutive days
        // are consecutive dates.
        let first = days_from_civil(1, 1, 1);
        let last = days_from_civil(9999, 12, 31);
        let mut expect = (1i64, 1i64, 1i64);
        for days in first..=last {
            let got = civil_from_days(days);
            assert_eq!(got, expect, "day {days}");
            assert_eq!(days_from_civil(got.0, got.1, got.2), days);
            let (y, m, d) = expect;
            expect = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(first * SECONDS_PER_DAY * MICROS_PER_SECOND, MIN_MICROS);
        assert_eq!(
            (last + 1) * SECONDS_PER_DAY * MICROS_PER_SECOND - 1,
            MAX_MICROS
        );
    }
}
