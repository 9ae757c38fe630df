//! Erasing an event's private body (GDPR-style requests, leaked secrets), shared by
//! `tlog erase` on a data folder and `POST /v1/events/{id}/erase` on `tlog serve`, so both
//! have one semantics.
//!
//! Leaves commit to bodies only by salted digest, so deleting a body and its salt breaks
//! no proof and no checkpoint. The erasure is itself an event (`Erasure`, system
//! `governance`) naming what was erased and why. The steps, each durable before the next:
//!
//! 1. the `Erasure` event is appended (its `event_id` is derived from the erased event's,
//!    [`erasure_event_id`], so a retry after a crash finds it instead of adding a second);
//! 2. the mirror is marked stale ([`crate::log::mirror::mark_stale`]), so that a crash
//!    before step 4 still leads to a rebuild;
//! 3. the body and salt are replaced by an erasure marker (one atomic write);
//! 4. a checkpoint covering the `Erasure` event is signed; the caller then rebuilds the
//!    mirror (every line after the erased one changes its chain hash), which clears the mark.

use std::path::Path;

use crate::core::hash::{hex_encode, sha256};
use crate::log::event::NewEvent;
use crate::log::layout::BodyRecord;
use crate::log::view::{int, obj, s};
use crate::log::{AppendError, Appended, Log, LogError, StoredEvent};

/// Longest erasure reason, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;
/// Longest actor (the person erasing), in bytes (`spec/entry.md` `MAX_FIELD_LEN`).
pub const MAX_ACTOR_BYTES: usize = 256;

/// Why an erasure was not done.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EraseError {
    /// The reason or actor is not acceptable (names the rule).
    #[error("{0}")]
    Invalid(String),
    /// `Erasure` records keep their bodies: they are the account of what was erased.
    #[error("event {0} is an Erasure record; it cannot be erased")]
    IsErasure(u64),
    /// The event has no stored body.
    #[error("event {0} has no stored body; there is nothing to erase")]
    NoBody(u64),
    /// The body is already gone.
    #[error("event {index} was already erased by event {erased_by} ({reason})")]
    AlreadyErased {
        /// The erased event.
        index: u64,
        /// Its event id.
        event_id: String,
        /// The `Erasure` event that erased it.
        erased_by: u64,
        /// Its reason.
        reason: String,
    },
    /// An `Erasure` event for this event with another reason or actor is already in the log
    /// (an interrupted erasure); retrying with the same reason finishes it.
    #[error("an erasure of event {index} with another reason or actor is already recorded{}; retry with its reason", .erasure.map(|i| format!(" as event {i}")).unwrap_or_default())]
    OtherErasure {
        /// The event to erase.
        index: u64,
        /// The index of the recorded `Erasure` event, if found.
        erasure: Option<u64>,
    },
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// A done erasure.
#[derive(Debug, Clone)]
pub struct Erased {
    /// The erased event's index.
    pub index: u64,
    /// Its event id.
    pub event_id: String,
    /// Its event type.
    pub event_type: String,
    /// Why.
    pub reason: String,
    /// The `Erasure` event (`existing` when a retry found it already recorded).
    pub erasure: Appended,
}

/// Checks and normalises an erasure reason: trimmed, 1..=[`MAX_REASON_BYTES`] bytes, no
/// control characters.
pub fn check_reason(raw: &str) -> Result<String, String> {
    let r = raw.trim();
    if r.is_empty() || r.len() > MAX_REASON_BYTES || r.chars().any(char::is_control) {
        return Err(format!(
            "reason must be 1..={MAX_REASON_BYTES} bytes of text without control characters"
        ));
    }
    Ok(r.to_string())
}

/// Checks and normalises the actor: trimmed, 1..=[`MAX_ACTOR_BYTES`] bytes, no control
/// characters.
pub fn check_actor(raw: &str) -> Result<String, String> {
    let a = raw.trim();
    if a.is_empty() || a.len() > MAX_ACTOR_BYTES || a.chars().any(char::is_control) {
        return Err(format!(
            "actor must be 1..={MAX_ACTOR_BYTES} bytes of text without control characters"
        ));
    }
    Ok(a.to_string())
}

/// The event id of the erasure of `event_id`: fixed, so that a retry after a crash finds
/// the erasure already recorded instead of recording a second one.
pub fn erasure_event_id(event_id: &str) -> String {
    let h = sha256(event_id.as_bytes());
    format!("erasure-{}", hex_encode(&h[..16]))
}

/// Whether `ev`'s body can be erased.
pub fn check_erasable(ev: &StoredEvent) -> Result<(), EraseError> {
    if ev.header.event_type == "Erasure" {
        return Err(EraseError::IsErasure(ev.index));
    }
    match &ev.body {
        Some(BodyRecord::Present { .. }) => Ok(()),
        Some(BodyRecord::Erased { erased_by, reason }) => Err(EraseError::AlreadyErased {
            index: ev.index,
            event_id: ev.header.event_id.clone(),
            erased_by: *erased_by,
            reason: reason.clone(),
        }),
        None => Err(EraseError::NoBody(ev.index)),
    }
}

/// The `Erasure` event recording the erasure of `ev`: same model, dataset and deployment
/// ids; details `erased_index`, `erased_event_id`, `erased_event_type`, `reason`.
pub fn erasure_event(
    ev: &StoredEvent,
    reason: &str,
    actor: Option<String>,
    submitter: Option<String>,
) -> NewEvent {
    let mut e = NewEvent::new("Erasure");
    e.event_id = Some(erasure_event_id(&ev.header.event_id));
    e.system = Some("governance".into());
    e.model_id = ev.header.model_id.clone();
    e.dataset_id = ev.header.dataset_id.clone();
    e.deployment_id = ev.header.deployment_id.clone();
    e.actor = actor;
    e.submitter = submitter;
    e.details = obj(vec![
        ("erased_index", int(ev.index)),
        ("erased_event_id", s(ev.header.event_id.clone())),
        ("erased_event_type", s(ev.header.event_type.clone())),
        ("reason", s(reason.to_string())),
    ]);
    e
}

/// Erases `ev`'s body (steps 1–4 of the module docs; the caller rebuilds the mirror at
/// `mirror`, if any, afterwards). `reason` must have passed [`check_reason`]. Blocking:
/// not for a tokio runtime thread.
pub fn erase_blocking(
    log: &Log,
    ev: &StoredEvent,
    reason: &str,
    actor: Option<String>,
    submitter: Option<String>,
    mirror: Option<&Path>,
) -> Result<Erased, EraseError> {
    check_erasable(ev)?;
    let e = erasure_event(ev, reason, actor, submitter);
    let erasure_id = e.event_id.clone().unwrap_or_default();
    // 1. The Erasure event, durable before anything is deleted. A crash after this step
    //    leaves the body in place; a retry finds this event by its fixed id.
    let appended = log
        .append_blocking(vec![e])?
        .into_iter()
        .next()
        .ok_or_else(|| LogError::Internal("the log gave no result".into()))?
        .map_err(|e| match e {
            AppendError::Invalid(m) => EraseError::Invalid(m),
            AppendError::Conflict(_) => EraseError::OtherErasure {
                index: ev.index,
                erasure: log.find_event_id(&erasure_id).ok().flatten(),
            },
        })?;
    // 2. The mirror is marked stale before it can disagree with the log.
    if let Some(path) = mirror {
        crate::log::mirror::mark_stale(path, &appended.index.to_string())
            .map_err(|e| LogError::Storage(format!("marking the mirror for a rebuild: {e}")))?;
    }
    // 3. The body and salt are replaced by the erasure marker (one atomic write).
    log.erase_body_blocking(ev.index, appended.index, reason.to_string())?;
    // 4. A checkpoint covering the Erasure event.
    log.checkpoint_now_blocking()?;
    Ok(Erased {
        index: ev.index,
        event_id: ev.header.event_id.clone(),
        event_type: ev.header.event_type.clone(),
        reason: reason.to_string(),
        erasure: appended,
    })
}
