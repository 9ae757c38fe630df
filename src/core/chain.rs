//! The seed's linear hash chain: the record format of llm-audit-trail 0.1.0 (DESIGN.md §6,
//! `spec/mirror.md`), a record builder for writers and a streaming verifier.
//!
//! Every JSONL line is one record `{schema_version, seq, event_id, timestamp, event_type,
//! actor, system, model_id, dataset_id, deployment_id, details, hash_alg, prev_hash,
//! curr_hash}` (extra fields allowed, and hashed), written as `stable_json(record) + "\n"`,
//! where `stable_json` is [`python_dumps_sorted`]. With `body` = the record without
//! `curr_hash`:
//!
//! ```text
//! curr_hash = hex(SHA-256(prev_hash || stable_json(body)))          hash_alg "sha256"
//! curr_hash = hex(HMAC-SHA256(key, prev_hash || stable_json(body)))  hash_alg "hmac-sha256"
//! ```
//!
//! and the first record's `prev_hash` is the string `GENESIS`.
//!
//! [`ChainVerifier`] reproduces the seed's `verify_log` (report keys, error codes, 1-based
//! line numbers, blank lines skipped, Python's universal newlines and `str.strip`) one
//! line at a time in O(1) memory, and closes the seed's holes when asked:
//!
//! - [`AlgPolicy::Pinned`]: the caller fixes the algorithm; a line claiming another one is
//!   `hash_alg_mismatch` (the seed trusts each line, so an HMAC ledger rewritten as plain
//!   SHA-256 passes).
//! - [`Anchor`]: the seed's `{seq, hash}` anchor (or one taken from a signed checkpoint)
//!   catches a truncated tail (`anchor_missing`) or a rewritten anchored record
//!   (`anchor_mismatch`).
//! - `strict`: a line whose bytes are not exactly `stable_json(record)` (re-formatted JSON,
//!   duplicate keys, `NaN`/`Infinity`, CR line ends, blank lines) is `non_canonical`.
//! - A per-record hook ([`ChainVerifier::feed_line_with`]) lets the caller check every
//!   verified record against something else, e.g. a Merkle-tree leaf.
//!
//! Out of scope: file I/O (the caller reads lines), the clock (timestamps are arguments).
//! Differences from the seed that no option removes: invalid UTF-8 is `malformed_json`
//! (the seed raises `UnicodeDecodeError`), a lone surrogate escape is `malformed_json`
//! (see [`crate::core::json`]), and a line longer than [`MAX_RECORD_LINE_BYTES`] is
//! `line_too_long`.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::core::hash::hex_encode;
use crate::core::json::{
    parse, python_dumps_sorted, write_python_ascii_string, write_python_sorted, JsonNumber,
    JsonValue, ParseOptions, MAX_JSON_INPUT_BYTES,
};

/// The record format version the seed writes (`SCHEMA_VERSION`).
pub const SCHEMA_VERSION: &str = "0.2.0";
/// The `prev_hash` of the first record.
pub const GENESIS: &str = "GENESIS";
/// Longest record line (without its line end) the verifier and the builder accept.
pub const MAX_RECORD_LINE_BYTES: usize = MAX_JSON_INPUT_BYTES;
/// Longest anchor file [`Anchor::parse`] accepts.
pub const MAX_ANCHOR_BYTES: usize = 64 << 10;

/// The record fields every seed record has, in the seed's insertion order (`curr_hash` last).
pub const RECORD_FIELDS: [&str; 14] = [
    "schema_version",
    "seq",
    "event_id",
    "timestamp",
    "event_type",
    "actor",
    "system",
    "model_id",
    "dataset_id",
    "deployment_id",
    "details",
    "hash_alg",
    "prev_hash",
    "curr_hash",
];

/// The seed's `hash_alg` value for plain SHA-256 chains.
pub const HASH_ALG_SHA256: &str = "sha256";
/// The seed's `hash_alg` value for HMAC-SHA256 chains.
pub const HASH_ALG_HMAC_SHA256: &str = "hmac-sha256";

/// Errors of the record builder and of anchor parsing (verification failures are reported
/// in a [`ChainFailure`], with the seed's codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// An HMAC key of zero bytes: the seed treats it as "no key" and writes a SHA-256 chain.
    #[error("the HMAC key is empty")]
    EmptyHmacKey,
    /// An extra field reuses the name of a record field.
    #[error("extra field {name:?} collides with a record field")]
    ExtraFieldConflict {
        /// The field name.
        name: String,
    },
    /// Two extra fields share a name.
    #[error("extra field {name:?} appears twice")]
    DuplicateExtraField {
        /// The field name.
        name: String,
    },
    /// A value holds `NaN` or an infinity: valid for the seed, but not RFC 8259 JSON.
    #[error("the record holds a NaN or infinite float")]
    NonFiniteValue,
    /// The record line would be longer than [`MAX_RECORD_LINE_BYTES`].
    #[error("the record line is {len} bytes, more than the limit of {max}")]
    LineTooLong {
        /// The line length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An anchor that is not a JSON object, or is too large.
    #[error("invalid anchor: {reason}")]
    InvalidAnchor {
        /// What is wrong with it.
        reason: String,
    },
}

/// A chain algorithm together with its key: what a writer uses and a verifier pins.
#[derive(Clone, PartialEq, Eq)]
pub enum ChainAlg {
    /// `hash_alg: "sha256"`: anyone can recompute the chain.
    Sha256,
    /// `hash_alg: "hmac-sha256"` with this secret key (non-empty).
    HmacSha256 {
        /// The secret (the seed encodes a `str` key as UTF-8).
        key: Vec<u8>,
    },
}

impl core::fmt::Debug for ChainAlg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the key.
        f.write_str(self.hash_alg())
    }
}

impl ChainAlg {
    /// The record's `hash_alg` value for this algorithm.
    pub fn hash_alg(&self) -> &'static str {
        match self {
            ChainAlg::Sha256 => HASH_ALG_SHA256,
            ChainAlg::HmacSha256 { .. } => HASH_ALG_HMAC_SHA256,
        }
    }

    /// The HMAC key, or `None` for plain SHA-256.
    pub fn key(&self) -> Option<&[u8]> {
        match self {
            ChainAlg::Sha256 => None,
            ChainAlg::HmacSha256 { key } => Some(key),
        }
    }

    fn check(&self) -> Result<(), ChainError> {
        match self {
            ChainAlg::HmacSha256 { key } if key.is_empty() => Err(ChainError::EmptyHmacKey),
            _ => Ok(()),
        }
    }
}

/// The seed's `_digest`: `hex(SHA-256(prev_hash || stable_json(body)))`, or
/// `hex(HMAC-SHA256(key, prev_hash || stable_json(body)))` when a key is given.
/// `body` is the record without `curr_hash`.
pub fn chain_digest(prev_hash: &str, body: &JsonValue, key: Option<&[u8]>) -> String {
    digest_hex(prev_hash, &python_dumps_sorted(body), key)
}

/// `hex(SHA-256(prev_hash || body_json))`, or the HMAC-SHA256 with `key`.
fn digest_hex(prev_hash: &str, body_json: &str, key: Option<&[u8]>) -> String {
    match key {
        Some(key) => {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
                .expect("HMAC-SHA256 accepts keys of any length");
            mac.update(prev_hash.as_bytes());
            mac.update(body_json.as_bytes());
            hex_encode(&mac.finalize().into_bytes())
        }
        None => {
            let mut h = Sha256::new();
            h.update(prev_hash.as_bytes());
            h.update(body_json.as_bytes());
            hex_encode(&h.finalize())
        }
    }
}

/// The fields of a new record, before chaining. `hash_alg`, `prev_hash` and `curr_hash` are
/// filled in by [`build_record_line`].
#[derive(Debug, Clone, PartialEq)]
pub struct RecordFields {
    /// `schema_version`, normally [`SCHEMA_VERSION`].
    pub schema_version: String,
    /// `seq`: the record's 0-based position, equal to its Merkle leaf index.
    pub seq: u64,
    /// `event_id`: a UUID string.
    pub event_id: String,
    /// `timestamp`: `YYYY-MM-DDTHH:MM:SS.ffffffZ` (see [`crate::core::entry::format_timestamp`]).
    pub timestamp: String,
    /// `event_type`, e.g. `Evaluation`.
    pub event_type: String,
    /// `actor`, or `null`.
    pub actor: Option<String>,
    /// `system`, or `null`.
    pub system: Option<String>,
    /// `model_id`, or `null`.
    pub model_id: Option<String>,
    /// `dataset_id`, or `null`.
    pub dataset_id: Option<String>,
    /// `deployment_id`, or `null`.
    pub deployment_id: Option<String>,
    /// `details`: any JSON value (the seed writes `{}` when absent).
    pub details: JsonValue,
    /// Extra fields, appended after `prev_hash` (hashed like the others).
    pub extra: Vec<(String, JsonValue)>,
}

/// A chained record ready to append.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordLine {
    /// The full record, `curr_hash` included, in the seed's field order.
    pub record: JsonValue,
    /// The exact line to append: `stable_json(record) + "\n"`.
    pub line: String,
    /// The record's `curr_hash` (the next record's `prev_hash`).
    pub curr_hash: String,
}

/// A record member's value, borrowed from the [`RecordFields`] it is written from.
#[derive(Clone, Copy)]
enum Member<'a> {
    Str(&'a str),
    Null,
    Int(u64),
    Value(&'a JsonValue),
}

impl<'a> Member<'a> {
    fn opt(v: &'a Option<String>) -> Member<'a> {
        v.as_deref().map_or(Member::Null, Member::Str)
    }

    fn write(self, out: &mut String) {
        match self {
            Member::Str(s) => write_python_ascii_string(out, s),
            Member::Null => out.push_str("null"),
            Member::Int(i) => {
                use std::fmt::Write as _;
                let _ = write!(out, "{i}");
            }
            Member::Value(v) => write_python_sorted(out, v),
        }
    }

    fn to_value(self) -> JsonValue {
        match self {
            Member::Str(s) => JsonValue::String(s.to_string()),
            Member::Null => JsonValue::Null,
            Member::Int(i) => JsonValue::Number(JsonNumber::Int(i.into())),
            Member::Value(v) => v.clone(),
        }
    }
}

/// The members of the record built from `fields`, `curr_hash` aside, in the seed's order,
/// after checking the extra fields.
fn record_members<'a>(
    fields: &'a RecordFields,
    prev_hash: &'a str,
    alg: &ChainAlg,
) -> Result<Vec<(&'a str, Member<'a>)>, ChainError> {
    alg.check()?;
    let mut members: Vec<(&str, Member)> = Vec::with_capacity(13 + fields.extra.len());
    members.extend([
        ("schema_version", Member::Str(&fields.schema_version)),
        ("seq", Member::Int(fields.seq)),
        ("event_id", Member::Str(&fields.event_id)),
        ("timestamp", Member::Str(&fields.timestamp)),
        ("event_type", Member::Str(&fields.event_type)),
        ("actor", Member::opt(&fields.actor)),
        ("system", Member::opt(&fields.system)),
        ("model_id", Member::opt(&fields.model_id)),
        ("dataset_id", Member::opt(&fields.dataset_id)),
        ("deployment_id", Member::opt(&fields.deployment_id)),
        ("details", Member::Value(&fields.details)),
        ("hash_alg", Member::Str(alg.hash_alg())),
        ("prev_hash", Member::Str(prev_hash)),
    ]);
    for (name, value) in &fields.extra {
        if RECORD_FIELDS.contains(&name.as_str()) {
            return Err(ChainError::ExtraFieldConflict { name: name.clone() });
        }
        if members.iter().any(|(k, _)| k == name) {
            return Err(ChainError::DuplicateExtraField { name: name.clone() });
        }
        members.push((name, Member::Value(value)));
    }
    let non_finite = |m: &Member| matches!(m, Member::Value(v) if v.contains_non_finite());
    if members.iter().any(|(_, m)| non_finite(m)) {
        return Err(ChainError::NonFiniteValue);
    }
    Ok(members)
}

/// Appends to `out` the line (newline included) of the record that follows `prev_hash`
/// ([`GENESIS`] for the first), exactly as [`build_record_line`] builds it, and returns its
/// `curr_hash`. Nothing is appended on error. This is the mirror's path: the fields are
/// written where they are, with no record built.
pub fn write_record_line(
    fields: &RecordFields,
    prev_hash: &str,
    alg: &ChainAlg,
    out: &mut String,
) -> Result<String, ChainError> {
    let members = record_members(fields, prev_hash, alg)?;
    write_members_line(members, prev_hash, alg, out)
}

/// How many members every record has before its extra fields ([`record_members`]).
const FIXED_MEMBERS: usize = 13;

/// The fixed members of [`record_members`] in sorted (code point) order, as positions in
/// the seed's order: `actor`, `dataset_id`, `deployment_id`, `details`, `event_id`,
/// `event_type`, `hash_alg`, `model_id`, `prev_hash`, `schema_version`, `seq`, `system`,
/// `timestamp` (checked by `fixed_members_sorted_order_is_the_sorted_order`).
const SORTED_FIXED: [usize; FIXED_MEMBERS] = [5, 8, 9, 10, 2, 4, 11, 7, 12, 0, 1, 6, 3];

/// The members of [`record_members`] sorted by key as Python's `sort_keys=True` sorts them
/// (by code point, which is UTF-8 byte order): the fixed ones by their known order, the
/// few extra ones sorted and merged in. A general sort of every member (an insertion sort
/// of ~16 keys by `memcmp`) was a tenth of the mirror's time (`perf` on `tlog serve`).
fn sorted_members<'a>(members: &[(&'a str, Member<'a>)]) -> Vec<(&'a str, Member<'a>)> {
    let (fixed, extra) = members.split_at(FIXED_MEMBERS.min(members.len()));
    let mut sorted = Vec::with_capacity(members.len());
    if fixed.len() < FIXED_MEMBERS {
        sorted.extend_from_slice(members);
        sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        return sorted;
    }
    let mut extra = extra.to_vec();
    extra.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut extra = extra.into_iter().peekable();
    for &i in &SORTED_FIXED {
        let (key, value) = fixed[i];
        while let Some(e) = extra.next_if(|e| e.0.as_bytes() < key.as_bytes()) {
            sorted.push(e);
        }
        sorted.push((key, value));
    }
    sorted.extend(extra);
    sorted
}

fn write_members_line(
    members: Vec<(&str, Member)>,
    prev_hash: &str,
    alg: &ChainAlg,
    out: &mut String,
) -> Result<String, ChainError> {
    // curr_hash = digest(prev_hash || stable_json(body)), body = record without curr_hash.
    // The line is the same sorted JSON with the curr_hash member inserted at its place, so
    // the body is serialised once (`line_matches_the_sorted_record` checks the splice).
    let sorted = sorted_members(&members);
    let mut body = String::with_capacity(512);
    body.push('{');
    // Where the curr_hash member goes: the byte offset, and whether a member precedes it.
    let mut splice: Option<(usize, bool)> = None;
    for (i, (k, v)) in sorted.iter().enumerate() {
        if splice.is_none() && k.as_bytes() > b"curr_hash".as_slice() {
            splice = Some((body.len(), i > 0));
        }
        if i > 0 {
            body.push(',');
        }
        write_python_ascii_string(&mut body, k);
        body.push(':');
        v.write(&mut body);
    }
    let splice = splice.unwrap_or((body.len(), !sorted.is_empty()));
    body.push('}');
    let curr_hash = digest_hex(prev_hash, &body, alg.key());
    // `"curr_hash":"` + 64 hex + `"`, a comma, the newline.
    let len = body.len() + curr_hash.len() + 16;
    if len - 1 > MAX_RECORD_LINE_BYTES {
        return Err(ChainError::LineTooLong {
            len: len - 1,
            max: MAX_RECORD_LINE_BYTES,
        });
    }
    out.reserve(len);
    out.push_str(&body[..splice.0]);
    let member = |out: &mut String| {
        out.push_str("\"curr_hash\":\"");
        out.push_str(&curr_hash);
        out.push('"');
    };
    match splice {
        // After another member: `,"curr_hash":…` (the next member keeps its comma).
        (_, true) => {
            out.push(',');
            member(out);
        }
        // First member: `"curr_hash":…,` unless it is the only one.
        (at, false) => {
            member(out);
            if at + 1 < body.len() {
                out.push(',');
            }
        }
    }
    out.push_str(&body[splice.0..]);
    out.push('\n');
    Ok(curr_hash)
}

/// Builds the record that follows `prev_hash` ([`GENESIS`] for the first) and its exact line
/// bytes, as the seed's `AuditLogger.emit` would write them.
pub fn build_record_line(
    fields: &RecordFields,
    prev_hash: &str,
    alg: &ChainAlg,
) -> Result<RecordLine, ChainError> {
    let members = record_members(fields, prev_hash, alg)?;
    let mut record: Vec<(String, JsonValue)> = members
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_value()))
        .collect();
    let mut line = String::new();
    let curr_hash = write_members_line(members, prev_hash, alg, &mut line)?;
    record.push(("curr_hash".into(), JsonValue::String(curr_hash.clone())));
    Ok(RecordLine {
        record: JsonValue::Object(record),
        line,
        curr_hash,
    })
}

/// How the verifier chooses each line's algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlgPolicy {
    /// Every line must claim this algorithm (`hash_alg`, default `sha256` when absent, as
    /// in the seed); any other is `hash_alg_mismatch`. Use this.
    Pinned(ChainAlg),
    /// The seed's behaviour: trust each line's `hash_alg`, verify HMAC lines with `key`
    /// (`key_required` when there is none). An attacker can downgrade HMAC lines to plain
    /// SHA-256. Only for reproducing the seed's reports.
    PerLine {
        /// The HMAC key; `None` or empty means none (the seed's `_resolve_key`).
        key: Option<Vec<u8>>,
    },
}

/// The seed's anchor (`write_anchor`): the `seq` and `hash` (a `curr_hash`) of a record that
/// must still be in the ledger. The whole object is kept for the `anchor_missing` report.
#[derive(Debug, Clone, PartialEq)]
pub struct Anchor {
    /// The anchor as read (an object with at least `seq` and `hash` for it to be useful).
    pub raw: JsonValue,
}

impl Anchor {
    /// Parses an anchor file (the seed writes `json.dump(anchor, indent=2, sort_keys=True)`).
    pub fn parse(bytes: &[u8]) -> Result<Anchor, ChainError> {
        if bytes.len() > MAX_ANCHOR_BYTES {
            return Err(ChainError::InvalidAnchor {
                reason: format!("{} bytes, more than {MAX_ANCHOR_BYTES}", bytes.len()),
            });
        }
        let raw = parse(bytes, ParseOptions::PYTHON).map_err(|e| ChainError::InvalidAnchor {
            reason: e.to_string(),
        })?;
        if raw.as_object().is_none() {
            return Err(ChainError::InvalidAnchor {
                reason: "not a JSON object".into(),
            });
        }
        Ok(Anchor { raw })
    }

    /// An anchor for record `seq` with `curr_hash` `hash` (e.g. from a signed checkpoint).
    pub fn new(seq: u64, hash: &str) -> Anchor {
        Anchor {
            raw: JsonValue::Object(vec![
                ("hash".into(), JsonValue::String(hash.into())),
                ("seq".into(), JsonValue::Number(JsonNumber::Int(seq.into()))),
            ]),
        }
    }

    fn get(&self, key: &str) -> JsonValue {
        self.raw.get(key).cloned().unwrap_or(JsonValue::Null)
    }
}

/// Verifier settings.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyOptions {
    /// How each line's algorithm is chosen.
    pub alg: AlgPolicy,
    /// The seed's `expected_head`.
    pub anchor: Option<Anchor>,
    /// Flag lines whose bytes are not exactly `stable_json(record)` (`non_canonical`).
    pub strict: bool,
}

impl VerifyOptions {
    /// Exactly the seed's `verify_log(path, key=key, expected_head=anchor)`.
    pub fn seed_compatible(key: Option<Vec<u8>>, anchor: Option<Anchor>) -> VerifyOptions {
        VerifyOptions {
            alg: AlgPolicy::PerLine { key },
            anchor,
            strict: false,
        }
    }

    /// Our default: the algorithm pinned, canonical bytes required.
    pub fn pinned_strict(alg: ChainAlg, anchor: Option<Anchor>) -> VerifyOptions {
        VerifyOptions {
            alg: AlgPolicy::Pinned(alg),
            anchor,
            strict: true,
        }
    }
}

/// The verification error codes: the seed's, then ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    /// A line is not JSON (seed).
    MalformedJson,
    /// A line is JSON but not an object (seed).
    MalformedRecord,
    /// `curr_hash` missing or not a string (seed).
    MissingCurrHash,
    /// `prev_hash` is not the previous record's `curr_hash` (seed).
    BrokenLink,
    /// `hash_alg` is neither `sha256` nor `hmac-sha256` (seed).
    UnknownHashAlg,
    /// An HMAC line and no key (seed; only with [`AlgPolicy::PerLine`]).
    KeyRequired,
    /// `curr_hash` is not the digest of the record (seed).
    HashMismatch,
    /// `seq` is not the previous `seq` + 1 (seed).
    SeqGap,
    /// The anchored record has another hash (seed).
    AnchorMismatch,
    /// The anchored record is not in the ledger (seed).
    AnchorMissing,
    /// A line claims another algorithm than the pinned one (ours).
    HashAlgMismatch,
    /// A line's bytes are not `stable_json(record)` (ours, `strict`).
    NonCanonical,
    /// A line is longer than [`MAX_RECORD_LINE_BYTES`] (ours).
    LineTooLong,
    /// The caller's per-record check rejected a record (ours).
    RecordCheckFailed,
}

impl FailureCode {
    /// The report's `error` string.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::MalformedJson => "malformed_json",
            FailureCode::MalformedRecord => "malformed_record",
            FailureCode::MissingCurrHash => "missing_curr_hash",
            FailureCode::BrokenLink => "broken_link",
            FailureCode::UnknownHashAlg => "unknown_hash_alg",
            FailureCode::KeyRequired => "key_required",
            FailureCode::HashMismatch => "hash_mismatch",
            FailureCode::SeqGap => "seq_gap",
            FailureCode::AnchorMismatch => "anchor_mismatch",
            FailureCode::AnchorMissing => "anchor_missing",
            FailureCode::HashAlgMismatch => "hash_alg_mismatch",
            FailureCode::NonCanonical => "non_canonical",
            FailureCode::LineTooLong => "line_too_long",
            FailureCode::RecordCheckFailed => "record_check_failed",
        }
    }
}

/// Why verification failed: the code, the 1-based line (none for `anchor_missing`) and the
/// seed-shaped report (`{"error": code, "line": n, ...}`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChainFailure {
    /// The error code.
    pub code: FailureCode,
    /// The 1-based line number, counted like Python's universal newlines.
    pub line: Option<u64>,
    /// The report object, with the seed's keys in the seed's order.
    pub report: JsonValue,
}

impl core::fmt::Display for ChainFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} at line {line}", self.code.as_str())?,
            None => f.write_str(self.code.as_str())?,
        }
        if let Some(detail) = self.report.get("detail").and_then(JsonValue::as_str) {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

/// The verifier's result: the seed's `(ok, report)`.
#[derive(Debug, Clone, PartialEq)]
pub enum VerifyReport {
    /// The chain verified: `{"events": n, "head": {seq, hash, timestamp} | null}`.
    Ok {
        /// Number of records.
        events: u64,
        /// The last record's `{seq, hash, timestamp}`, or `Null` for an empty ledger.
        head: JsonValue,
    },
    /// The first failure.
    Failed(ChainFailure),
}

impl VerifyReport {
    /// The seed's `ok`.
    pub fn is_ok(&self) -> bool {
        matches!(self, VerifyReport::Ok { .. })
    }

    /// The seed's `report` dict as a JSON value.
    pub fn to_json(&self) -> JsonValue {
        match self {
            VerifyReport::Ok { events, head } => JsonValue::Object(vec![
                ("events".into(), int((*events).into())),
                ("head".into(), head.clone()),
            ]),
            VerifyReport::Failed(f) => f.report.clone(),
        }
    }
}

/// A record that passed every chain check, handed to the caller's hook.
#[derive(Debug)]
pub struct VerifiedRecord<'a> {
    /// Its 1-based line number.
    pub line: u64,
    /// Its `seq`, when it is a non-negative integer that fits `u64`.
    pub seq: Option<u64>,
    /// The parsed record.
    pub record: &'a JsonValue,
    /// Its `curr_hash`.
    pub curr_hash: &'a str,
    /// Its canonical bytes, `stable_json(record)` (the line itself when canonical).
    pub canonical: &'a str,
}

fn int(i: i128) -> JsonValue {
    JsonValue::Number(JsonNumber::Int(i))
}

fn obj(members: Vec<(&str, JsonValue)>) -> JsonValue {
    JsonValue::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn s(v: &str) -> JsonValue {
    JsonValue::String(v.into())
}

/// Python's `isinstance(v, int)` (bools included) as canonical decimal digits.
fn py_int(v: &JsonValue) -> Option<String> {
    match v {
        JsonValue::Bool(b) => Some(if *b { "1" } else { "0" }.into()),
        JsonValue::Number(JsonNumber::Int(i)) => Some(i.to_string()),
        JsonValue::Number(JsonNumber::BigInt(d)) => Some(d.clone()),
        _ => None,
    }
}

/// Python's `int == v` for an anchor's `seq` (an int, a bool or an integral float).
fn py_int_eq(digits: &str, v: &JsonValue) -> bool {
    match v {
        JsonValue::Number(JsonNumber::Float(f)) => {
            f.is_finite() && f.fract() == 0.0 && {
                let whole = if *f == 0.0 {
                    "0".into()
                } else {
                    format!("{f:.0}")
                };
                whole == digits
            }
        }
        other => py_int(other).as_deref() == Some(digits),
    }
}

/// `n + 1` on canonical decimal digits (arbitrary size, like Python's int).
fn decimal_succ(n: &str) -> String {
    fn add_one(mag: &str) -> String {
        let mut d: Vec<u8> = mag.bytes().collect();
        let mut i = d.len();
        loop {
            if i == 0 {
                d.insert(0, b'1');
                break;
            }
            i -= 1;
            if d[i] == b'9' {
                d[i] = b'0';
            } else {
                d[i] += 1;
                break;
            }
        }
        String::from_utf8(d).expect("ASCII digits")
    }
    fn sub_one(mag: &str) -> String {
        // mag >= 1
        let mut d: Vec<u8> = mag.bytes().collect();
        let mut i = d.len();
        while i > 0 {
            i -= 1;
            if d[i] == b'0' {
                d[i] = b'9';
            } else {
                d[i] -= 1;
                break;
            }
        }
        let s = String::from_utf8(d).expect("ASCII digits");
        let t = s.trim_start_matches('0');
        if t.is_empty() { "0" } else { t }.to_string()
    }
    match n.strip_prefix('-') {
        Some(mag) => {
            let m = sub_one(mag);
            if m == "0" {
                m
            } else {
                format!("-{m}")
            }
        }
        None => add_one(n),
    }
}

fn decimal_json(digits: &str) -> JsonValue {
    JsonValue::Number(match digits.parse::<i128>() {
        Ok(i) => JsonNumber::Int(i),
        Err(_) => JsonNumber::BigInt(digits.into()),
    })
}

/// Python's `str.isspace()` for the characters `str.strip()` removes.
fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Constant-time string comparison (the seed's `hmac.compare_digest`).
fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The streaming verifier: feed the ledger one line at a time, then [`finish`].
/// Memory is bounded by one line, whatever the ledger's length.
///
/// [`finish`]: ChainVerifier::finish
#[derive(Debug)]
pub struct ChainVerifier {
    options: VerifyOptions,
    line_no: u64,
    prev_hash: String,
    prev_seq: Option<String>,
    events: u64,
    /// `{seq, hash, timestamp}` of the last verified record.
    head: JsonValue,
    anchor_seen: bool,
    /// The last non-empty line was fed without its `\n` (a torn write, or a caller that
    /// strips line ends): `non_canonical` at [`finish`](Self::finish) in strict mode.
    unterminated: bool,
    failure: Option<ChainFailure>,
}

impl ChainVerifier {
    /// A verifier at the start of a ledger. Fails on a pinned HMAC key of zero bytes.
    pub fn new(options: VerifyOptions) -> Result<ChainVerifier, ChainError> {
        if let AlgPolicy::Pinned(alg) = &options.alg {
            alg.check()?;
        }
        Ok(ChainVerifier {
            anchor_seen: options.anchor.is_none(),
            options,
            line_no: 0,
            prev_hash: GENESIS.into(),
            prev_seq: None,
            events: 0,
            head: JsonValue::Null,
            unterminated: false,
            failure: None,
        })
    }

    /// The first failure, if verification has already failed (later lines are ignored).
    pub fn failure(&self) -> Option<&ChainFailure> {
        self.failure.as_ref()
    }

    /// Feeds one line, with its `\n`. Lines are counted like Python's universal newlines: a
    /// bare `\r` inside it also ends a line. In strict mode every line must end in `\n`: if
    /// the last non-empty line fed has none (a torn write), [`finish`](Self::finish) reports
    /// `non_canonical`; the seed-compatible mode accepts it, as the seed does.
    pub fn feed_line(&mut self, line: &[u8]) -> Result<(), &ChainFailure> {
        self.feed_line_with(line, |_| Ok(()))
    }

    /// Like [`feed_line`](Self::feed_line), and calls `check` on every record that passed
    /// every chain check, before it becomes the head; `Err(detail)` fails verification with
    /// `record_check_failed`.
    pub fn feed_line_with<F>(&mut self, line: &[u8], mut check: F) -> Result<(), &ChainFailure>
    where
        F: FnMut(&VerifiedRecord<'_>) -> Result<(), String>,
    {
        let terminated = line.ends_with(b"\n");
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if terminated || !line.is_empty() {
            self.unterminated = !terminated;
        }
        // Universal newlines: split on '\r'; a final empty part after a '\r' is the '\r\n'
        // ending (or nothing at EOF), not a line of its own.
        let parts: Vec<&[u8]> = line.split(|b| *b == b'\r').collect();
        let n = parts.len();
        for (i, part) in parts.iter().enumerate() {
            if self.failure.is_some() {
                break;
            }
            if n > 1 && i == n - 1 && part.is_empty() {
                break;
            }
            let cr_ended = i + 1 < n;
            self.line_no += 1;
            if let Err(f) = self.logical_line(part, cr_ended, &mut check) {
                self.failure = Some(f);
            }
        }
        match &self.failure {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    fn fail(&self, code: FailureCode, fields: Vec<(&str, JsonValue)>) -> ChainFailure {
        let mut members = vec![
            ("error", s(code.as_str())),
            ("line", int(self.line_no.into())),
        ];
        members.extend(fields);
        ChainFailure {
            code,
            line: Some(self.line_no),
            report: obj(members),
        }
    }

    fn logical_line<F>(
        &mut self,
        raw: &[u8],
        cr_ended: bool,
        check: &mut F,
    ) -> Result<(), ChainFailure>
    where
        F: FnMut(&VerifiedRecord<'_>) -> Result<(), String>,
    {
        let strict = self.options.strict;
        if raw.len() > MAX_RECORD_LINE_BYTES {
            return Err(self.fail(
                FailureCode::LineTooLong,
                vec![
                    ("length", int(raw.len() as i128)),
                    ("max", int(MAX_RECORD_LINE_BYTES as i128)),
                ],
            ));
        }
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(e) => {
                return Err(self.fail(
                    FailureCode::MalformedJson,
                    vec![(
                        "detail",
                        s(&format!("invalid UTF-8 at byte {}", e.valid_up_to())),
                    )],
                ))
            }
        };
        // The seed: `line = raw.strip(); if not line: continue`.
        let line = text.trim_matches(py_isspace);
        if line.is_empty() {
            if strict {
                return Err(self.non_canonical("blank line"));
            }
            return Ok(());
        }
        let record = match parse(line.as_bytes(), ParseOptions::PYTHON) {
            Ok(r) => r,
            Err(e) => {
                return Err(self.fail(
                    FailureCode::MalformedJson,
                    vec![("detail", s(&e.to_string()))],
                ))
            }
        };
        let JsonValue::Object(members) = &record else {
            return Err(self.fail(FailureCode::MalformedRecord, vec![]));
        };
        let get = |k: &str| record.get(k).cloned().unwrap_or(JsonValue::Null);
        let event_id = get("event_id");

        let claimed = match record.get("curr_hash") {
            Some(JsonValue::String(c)) => c.clone(),
            _ => return Err(self.fail(FailureCode::MissingCurrHash, vec![("event_id", event_id)])),
        };

        if record.get("prev_hash").and_then(JsonValue::as_str) != Some(self.prev_hash.as_str()) {
            return Err(self.fail(
                FailureCode::BrokenLink,
                vec![
                    ("event_id", event_id),
                    ("expected_prev_hash", s(&self.prev_hash)),
                    ("found_prev_hash", get("prev_hash")),
                    (
                        "detail",
                        s("an event was deleted, reordered or inserted here"),
                    ),
                ],
            ));
        }

        // alg = record.get("hash_alg", "sha256")
        let alg = record
            .get("hash_alg")
            .cloned()
            .unwrap_or(s(HASH_ALG_SHA256));
        let alg_name = match alg.as_str() {
            Some(a @ (HASH_ALG_SHA256 | HASH_ALG_HMAC_SHA256)) => a,
            _ => {
                return Err(self.fail(FailureCode::UnknownHashAlg, vec![("hash_alg", alg)]));
            }
        };
        let key: Option<&[u8]> = match &self.options.alg {
            AlgPolicy::Pinned(pinned) => {
                if alg_name != pinned.hash_alg() {
                    return Err(self.fail(
                        FailureCode::HashAlgMismatch,
                        vec![
                            ("event_id", event_id),
                            ("expected_hash_alg", s(pinned.hash_alg())),
                            ("found_hash_alg", alg),
                            ("detail", s("this event claims another hash algorithm than the ledger's (downgrade?)")),
                        ],
                    ));
                }
                pinned.key()
            }
            AlgPolicy::PerLine { key } => {
                let key = key.as_deref().filter(|k| !k.is_empty());
                if alg_name == HASH_ALG_HMAC_SHA256 {
                    if key.is_none() {
                        return Err(self.fail(
                            FailureCode::KeyRequired,
                            vec![(
                                "detail",
                                s("ledger is HMAC-chained; pass key= or set $AUDIT_HMAC_KEY"),
                            )],
                        ));
                    }
                    key
                } else {
                    None
                }
            }
        };

        // body = record without curr_hash; curr_hash = digest(prev_hash || stable_json(body))
        let body = JsonValue::Object(
            members
                .iter()
                .filter(|(k, _)| k != "curr_hash")
                .cloned()
                .collect(),
        );
        let calculated = chain_digest(&self.prev_hash, &body, key);
        if !ct_eq(&calculated, &claimed) {
            return Err(self.fail(
                FailureCode::HashMismatch,
                vec![
                    ("event_id", event_id),
                    ("expected", s(&calculated)),
                    ("found", s(&claimed)),
                    (
                        "detail",
                        s("this event's contents were modified after it was written"),
                    ),
                ],
            ));
        }

        let canonical = python_dumps_sorted(&record);
        if strict {
            let reason = if canonical.as_bytes() != raw {
                Some("the line is not stable_json(record) (re-formatted, duplicate keys or padded)")
            } else if cr_ended {
                Some("the line ends with a carriage return")
            } else if record.contains_non_finite() {
                Some("the record holds NaN or Infinity")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(self.non_canonical_with(reason, event_id));
            }
        }

        let seq = get("seq");
        if let Some(seq_digits) = py_int(&seq) {
            if let Some(prev) = &self.prev_seq {
                let expected = decimal_succ(prev);
                if seq_digits != expected {
                    return Err(self.fail(
                        FailureCode::SeqGap,
                        vec![
                            ("expected_seq", decimal_json(&expected)),
                            ("found_seq", seq),
                        ],
                    ));
                }
            }
            if let Some(anchor) = self.options.anchor.as_ref().filter(|_| !self.anchor_seen) {
                if py_int_eq(&seq_digits, &anchor.get("seq")) {
                    let expected = anchor.get("hash");
                    if expected.as_str() != Some(claimed.as_str()) {
                        return Err(self.fail(
                            FailureCode::AnchorMismatch,
                            vec![
                                ("seq", seq.clone()),
                                ("expected", expected),
                                ("found", s(&claimed)),
                                ("detail", s("the anchored event was rewritten")),
                            ],
                        ));
                    }
                    self.anchor_seen = true;
                }
            }
            self.prev_seq = Some(seq_digits);
        }

        let verified = VerifiedRecord {
            line: self.line_no,
            seq: match &seq {
                JsonValue::Number(JsonNumber::Int(i)) => u64::try_from(*i).ok(),
                _ => None,
            },
            record: &record,
            curr_hash: &claimed,
            canonical: &canonical,
        };
        if let Err(detail) = check(&verified) {
            return Err(self.fail(
                FailureCode::RecordCheckFailed,
                vec![("event_id", event_id), ("seq", seq), ("detail", s(&detail))],
            ));
        }

        self.head = obj(vec![
            ("seq", seq),
            ("hash", s(&claimed)),
            ("timestamp", get("timestamp")),
        ]);
        self.prev_hash = claimed;
        self.events += 1;
        Ok(())
    }

    fn non_canonical(&self, reason: &str) -> ChainFailure {
        self.fail(FailureCode::NonCanonical, vec![("detail", s(reason))])
    }

    fn non_canonical_with(&self, reason: &str, event_id: JsonValue) -> ChainFailure {
        self.fail(
            FailureCode::NonCanonical,
            vec![("event_id", event_id), ("detail", s(reason))],
        )
    }

    /// Ends the ledger and returns the seed's report (`anchor_missing` if the anchored
    /// record never appeared).
    pub fn finish(self) -> VerifyReport {
        if let Some(f) = self.failure {
            return VerifyReport::Failed(f);
        }
        if self.options.strict && self.unterminated {
            // spec/mirror.md §5: each line is stable_json(record) ending in '\n'. A last line
            // without one is a torn write (the mirror cuts it when it reopens the file).
            return VerifyReport::Failed(
                self.non_canonical("the last line does not end in a newline (a torn write)"),
            );
        }
        if !self.anchor_seen {
            let anchor = self
                .options
                .anchor
                .map(|a| a.raw)
                .unwrap_or(JsonValue::Null);
            return VerifyReport::Failed(ChainFailure {
                code: FailureCode::AnchorMissing,
                line: None,
                report: obj(vec![
                    ("error", s(FailureCode::AnchorMissing.as_str())),
                    (
                        "detail",
                        s("the anchored event is no longer in the ledger; its tail was truncated or rewritten"),
                    ),
                    ("expected_head", anchor),
                    ("events", int(self.events.into())),
                    ("head", self.head),
                ]),
            });
        }
        VerifyReport::Ok {
            events: self.events,
            head: self.head,
        }
    }
}

/// Verifies a whole in-memory ledger (splits after each `\n`; see [`ChainVerifier`] for large
/// files).
pub fn verify_ledger(ledger: &[u8], options: VerifyOptions) -> Result<VerifyReport, ChainError> {
    let mut v = ChainVerifier::new(options)?;
    for line in ledger.split_inclusive(|b| *b == b'\n') {
        if v.feed_line(line).is_err() {
            break;
        }
    }
    Ok(v.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_members_sorted_order_is_the_sorted_order() {
        let fields = RecordFields {
            schema_version: SCHEMA_VERSION.into(),
            seq: 0,
            event_id: "e".into(),
            timestamp: "2026-01-02T03:04:05.000006Z".into(),
            event_type: "T".into(),
            actor: None,
            system: None,
            model_id: None,
            dataset_id: None,
            deployment_id: None,
            details: JsonValue::Null,
            extra: Vec::new(),
        };
        let members = record_members(&fields, GENESIS, &ChainAlg::Sha256).unwrap();
        assert_eq!(members.len(), FIXED_MEMBERS);
        let mut names: Vec<&str> = members.iter().map(|(k, _)| *k).collect();
        names.sort_unstable();
        let by_table: Vec<&str> = SORTED_FIXED.iter().map(|&i| members[i].0).collect();
        assert_eq!(by_table, names);
    }
}
