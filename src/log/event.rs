//! Events as callers submit them, and their preparation into leaves.
//!
//! A [`NewEvent`] is what a training job, a CLI call or an HTTP client hands in. Preparing
//! it (in the caller's thread, so that the single writer only sequences) fills in what the
//! caller left out — a UUID v4 event id, the current time, a fresh 32-byte salt — and
//! encodes the entry and the private body (`spec/entry.md`).

use crate::core::entry::{self, Body, EntryError, EntryHeader};
use crate::core::hash::{leaf_hash, Hash};
use crate::core::json::JsonValue;

/// An event before it is in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Client-chosen id (makes the append idempotent); generated when absent.
    pub event_id: Option<String>,
    /// Client-chosen timestamp (`YYYY-MM-DDTHH:MM:SS.ffffffZ`); now when absent.
    pub timestamp: Option<String>,
    /// The event type, e.g. `Evaluation`.
    pub event_type: String,
    /// The emitting system, e.g. `hf_trainer`.
    pub system: Option<String>,
    /// The model the event is about.
    pub model_id: Option<String>,
    /// The dataset the event is about.
    pub dataset_id: Option<String>,
    /// The deployment the event is about.
    pub deployment_id: Option<String>,
    /// Who did it (private: kept in the body).
    pub actor: Option<String>,
    /// Free-form details (private: kept in the body).
    pub details: JsonValue,
    /// The authenticated submitter (token name), set by the server, never by the client.
    pub submitter: Option<String>,
}

impl NewEvent {
    /// An event of `event_type` with empty details and nothing else set.
    pub fn new(event_type: impl Into<String>) -> NewEvent {
        NewEvent {
            event_id: None,
            timestamp: None,
            event_type: event_type.into(),
            system: None,
            model_id: None,
            dataset_id: None,
            deployment_id: None,
            actor: None,
            details: JsonValue::Object(Vec::new()),
            submitter: None,
        }
    }
}

/// An event ready for the sequencer: entry and body encoded, leaf hash computed.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    /// The public header.
    pub header: EntryHeader,
    /// The leaf bytes (canonical CBOR of the header).
    pub entry_bytes: Vec<u8>,
    /// `SHA-256(0x00 || entry_bytes)`.
    pub leaf_hash: Hash,
    /// The salt of the body commitment.
    pub salt: [u8; 32],
    /// The canonical CBOR of the body.
    pub body_bytes: Vec<u8>,
    /// The body `body_bytes` encodes, kept for the JSONL mirror, which would otherwise
    /// decode it back (a fifth of the mirror's time). Decoding `body_bytes` gives the same
    /// `actor`, and `details` that differ at most in the order of object members, which the
    /// mirror sorts (`json_round_trips_through_canonical_cbor` in `tests/core_cbor.rs`).
    pub body: Body,
    /// Whether the client chose the event id (then duplicates are looked up).
    pub client_event_id: bool,
    /// Whether the client chose the timestamp (then it is part of the duplicate check).
    pub client_timestamp: bool,
}

/// Prepares `ev` with the given clock reading and random bytes (pure: no clock, no RNG).
pub fn prepare_with(
    ev: NewEvent,
    now_micros: i64,
    random_id: [u8; 16],
    salt: [u8; 32],
) -> Result<PreparedEvent, EntryError> {
    let now = entry::format_timestamp(now_micros)?;
    prepare_at(ev, &now, random_id, salt)
}

/// [`prepare_with`] with the clock reading already formatted (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
fn prepare_at(
    ev: NewEvent,
    now: &str,
    random_id: [u8; 16],
    salt: [u8; 32],
) -> Result<PreparedEvent, EntryError> {
    let client_event_id = ev.event_id.is_some();
    if let Some(id) = &ev.event_id {
        entry::check_new_event_id(id)?;
    }
    let client_timestamp = ev.timestamp.is_some();
    let event_id = ev
        .event_id
        .unwrap_or_else(|| entry::event_id_from_random(random_id));
    let timestamp = match ev.timestamp {
        Some(t) => t,
        None => now.to_string(),
    };
    let body = Body {
        actor: ev.actor,
        details: ev.details,
    };
    let body_bytes = entry::encode_body(&body)?;
    let header = EntryHeader {
        event_id,
        timestamp,
        event_type: ev.event_type,
        system: ev.system,
        model_id: ev.model_id,
        dataset_id: ev.dataset_id,
        deployment_id: ev.deployment_id,
        submitter: ev.submitter,
        body_digest: entry::body_digest(&salt, &body_bytes),
    };
    let entry_bytes = entry::encode_entry(&header)?;
    Ok(PreparedEvent {
        leaf_hash: leaf_hash(&entry_bytes),
        header,
        entry_bytes,
        salt,
        body_bytes,
        body,
        client_event_id,
        client_timestamp,
    })
}

/// Prepares many events with one clock reading and one draw of OS randomness.
pub fn prepare_many(events: Vec<NewEvent>) -> Vec<Result<PreparedEvent, EntryError>> {
    let mut random = vec![0u8; events.len() * 48];
    crate::os::fill_random(&mut random);
    let now_micros = crate::os::now_micros();
    // One clock reading for the whole batch, formatted once.
    let now = entry::format_timestamp(now_micros);
    events
        .into_iter()
        .zip(random.chunks_exact(48))
        .map(|(ev, r)| {
            let id: [u8; 16] = r[..16].try_into().expect("16 bytes");
            let salt: [u8; 32] = r[16..].try_into().expect("32 bytes");
            match &now {
                Ok(now) => prepare_at(ev, now, id, salt),
                Err(_) => prepare_with(ev, now_micros, id, salt),
            }
        })
        .collect()
}

/// Prepares `ev` with the system clock and OS randomness.
pub fn prepare(ev: NewEvent) -> Result<PreparedEvent, EntryError> {
    let mut random_id = [0u8; 16];
    let mut salt = [0u8; 32];
    crate::os::fill_random(&mut random_id);
    crate::os::fill_random(&mut salt);
    prepare_with(ev, crate::os::now_micros(), random_id, salt)
}

/// The event object as clients send it (the inverse of [`new_event_from_json`]): optional
/// fields only when set, `submitter` never (the server sets it).
pub fn new_event_to_json(ev: &NewEvent) -> JsonValue {
    let mut m = vec![(
        "event_type".to_string(),
        JsonValue::String(ev.event_type.clone()),
    )];
    for (k, v) in [
        ("event_id", &ev.event_id),
        ("timestamp", &ev.timestamp),
        ("system", &ev.system),
        ("model_id", &ev.model_id),
        ("dataset_id", &ev.dataset_id),
        ("deployment_id", &ev.deployment_id),
        ("actor", &ev.actor),
    ] {
        if let Some(v) = v {
            m.push((k.to_string(), JsonValue::String(v.clone())));
        }
    }
    m.push(("details".to_string(), ev.details.clone()));
    JsonValue::Object(m)
}

/// Fields a client may set in an event object (JSON API, `tlog append --batch`).
pub const EVENT_FIELDS: [&str; 9] = [
    "event_type",
    "event_id",
    "timestamp",
    "system",
    "model_id",
    "dataset_id",
    "deployment_id",
    "actor",
    "details",
];

/// Reads an event object as clients send it: `event_type` is required, the other
/// [`EVENT_FIELDS`] are optional strings (or null), `details` any JSON value (default
/// `{}`). Unknown fields are refused, so that a misspelt field is not silently dropped.
/// The error names the field.
pub fn new_event_from_json(v: &JsonValue) -> Result<NewEvent, String> {
    let JsonValue::Object(members) = v else {
        return Err("an event must be a JSON object".into());
    };
    let mut ev = NewEvent::new(String::new());
    let mut have_type = false;
    for (k, val) in members {
        let text = |name: &str| -> Result<Option<String>, String> {
            match val {
                JsonValue::Null => Ok(None),
                JsonValue::String(s) => Ok(Some(s.clone())),
                _ => Err(format!("field {name:?} must be a string or null")),
            }
        };
        match k.as_str() {
            "event_type" => {
                ev.event_type = text(k)?.ok_or("field \"event_type\" must be a string")?;
                have_type = true;
            }
            "event_id" => ev.event_id = text(k)?,
            "timestamp" => ev.timestamp = text(k)?,
            "system" => ev.system = text(k)?,
            "model_id" => ev.model_id = text(k)?,
            "dataset_id" => ev.dataset_id = text(k)?,
            "deployment_id" => ev.deployment_id = text(k)?,
            "actor" => ev.actor = text(k)?,
            "details" => ev.details = val.clone(),
            other => {
                return Err(format!(
                    "unknown field {other:?} (allowed: {})",
                    EVENT_FIELDS.join(", ")
                ))
            }
        }
    }
    if !have_type {
        return Err("missing field \"event_type\"".into());
    }
    Ok(ev)
}
