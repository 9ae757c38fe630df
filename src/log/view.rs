//! JSON views of stored events, shared by the CLI (`--json`) and the HTTP API.

use super::layout::BodyRecord;
use super::StoredEvent;
use crate::core::entry;
use crate::core::hash::hex_encode;
use crate::core::json::{JsonNumber, JsonValue};

/// A JSON string.
pub fn s(v: impl Into<String>) -> JsonValue {
    JsonValue::String(v.into())
}

/// A JSON string or null.
pub fn opt(v: &Option<String>) -> JsonValue {
    v.as_ref().map(|v| s(v.clone())).unwrap_or(JsonValue::Null)
}

/// A JSON integer.
pub fn int(v: u64) -> JsonValue {
    JsonValue::Number(JsonNumber::Int(i128::from(v)))
}

/// A JSON object from (key, value) pairs.
pub fn obj(members: Vec<(&str, JsonValue)>) -> JsonValue {
    JsonValue::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// The event as the API and `tlog show --json` present it: header, body (or the erasure),
/// leaf hash.
pub fn event_json(ev: &StoredEvent) -> JsonValue {
    let h = &ev.header;
    let (actor, details, erased) = match &ev.body {
        Some(BodyRecord::Present { body, .. }) => match entry::decode_body(body) {
            Ok(b) => (opt(&b.actor), b.details, JsonValue::Null),
            Err(e) => (
                JsonValue::Null,
                JsonValue::Null,
                obj(vec![("error", s(format!("stored body unreadable: {e}")))]),
            ),
        },
        Some(BodyRecord::Erased { erased_by, reason }) => (
            JsonValue::Null,
            JsonValue::Null,
            obj(vec![
                ("erased_by", int(*erased_by)),
                ("reason", s(reason.clone())),
            ]),
        ),
        None => (JsonValue::Null, JsonValue::Null, JsonValue::Null),
    };
    obj(vec![
        ("index", int(ev.index)),
        ("event_id", s(h.event_id.clone())),
        ("timestamp", s(h.timestamp.clone())),
        ("event_type", s(h.event_type.clone())),
        ("system", opt(&h.system)),
        ("model_id", opt(&h.model_id)),
        ("dataset_id", opt(&h.dataset_id)),
        ("deployment_id", opt(&h.deployment_id)),
        ("submitter", opt(&h.submitter)),
        ("actor", actor),
        ("details", details),
        ("erased", erased),
        ("body_digest", s(hex_encode(&h.body_digest))),
        ("leaf_hash", s(ev.leaf_hash().to_hex())),
    ])
}
