//! Handlers of the `/v1` JSON API (`spec/api.md`).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::auth::Scope;
use super::error::{ApiError, ErrorKind};
use super::{
    Shared, CHECKPOINT_WAIT_TIMEOUT, MAX_BODY_BYTES, MAX_ERASE_BODY_BYTES, MAX_EVENTS_PER_REQUEST,
    MIRROR_REBUILD_WAIT,
};
use crate::core::bundle::b64;
use crate::core::hash::Hash;
use crate::core::json::{self, JsonValue, ParseOptions};
use crate::erasure::{check_actor, check_reason, erase_blocking};
use crate::log::event::{new_event_from_json, prepare_many};
use crate::log::layout::BodyRecord;
use crate::log::view::{event_json, int, obj, s};
use crate::log::{AppendError, ListFilter, SignedCheckpoint, MAX_LIST_LIMIT};
use crate::witness::client::CosignedView;

/// The cosigned-checkpoint view, present when the server runs with witnesses.
type Cosigned = Option<Extension<CosignedView>>;

/// Default page size of `GET /v1/events`.
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// Bytes of stored events one page of `GET /v1/events` carries at most (entries plus bodies);
/// a page stops early at this budget and says where to go on (`next_after`), so a public
/// request cannot make the server build a response of `limit` maximum-size events.
pub const LIST_PAGE_BYTES: usize = 4 << 20;

/// A JSON response with a status.
pub fn json_response(status: StatusCode, v: &JsonValue) -> Response {
    json_text_response(status, json::to_json_string(v))
}

/// A response whose body is JSON text already written.
fn json_text_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// 404 for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint (see /v1/openapi.json)")
}

/// `GET /healthz`.
pub async fn healthz(State(st): State<Shared>) -> Response {
    let p = st.log.published();
    let failing = st
        .log
        .metrics()
        .write_failing
        .load(std::sync::atomic::Ordering::Relaxed);
    // A failing store (disk full, read-only) refuses every append until the server is
    // restarted with space back: a health check must see it.
    let (code, status) = if failing {
        (StatusCode::SERVICE_UNAVAILABLE, "storage_failing")
    } else {
        (StatusCode::OK, "ok")
    };
    json_response(
        code,
        &obj(vec![
            ("status", s(status)),
            ("tree_size", int(p.tree_size)),
            (
                "checkpoint_size",
                int(p.checkpoint.map(|c| c.checkpoint.tree_size).unwrap_or(0)),
            ),
        ]),
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The name and scope of the request's bearer token (401 without one or for an unknown one).
fn authenticate(st: &Shared, headers: &HeaderMap) -> Result<(String, Scope), ApiError> {
    let token = bearer(headers).ok_or_else(|| {
        ApiError::new(
            ErrorKind::Unauthorized,
            "writing needs Authorization: Bearer <token>",
        )
    })?;
    st.tokens
        .authenticate(token)
        .map(|(name, scope)| (name.to_string(), scope))
        .ok_or_else(|| ApiError::new(ErrorKind::Unauthorized, "unknown token"))
}

/// Reads the body with a size limit of [`MAX_BODY_BYTES`] and a deadline (slow clients get
/// 408).
async fn read_body(body: Body) -> Result<Vec<u8>, ApiError> {
    read_body_limited(body, MAX_BODY_BYTES).await
}

/// Reads the body with a size limit. The deadline (slow clients get 408) is the body's own:
/// [`super::limits::serve`] wraps every request body in a `DeadlineBody`,
/// so no second timer is set here.
async fn read_body_limited(body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    match axum::body::to_bytes(body, limit).await {
        Err(e) => {
            let msg = e.to_string();
            if msg.contains("length limit")
                || std::error::Error::source(&e)
                    .is_some_and(|s| s.to_string().contains("length limit"))
            {
                Err(ApiError::new(
                    ErrorKind::TooLarge,
                    format!("request body over {limit} bytes"),
                ))
            } else {
                Err(ApiError::bad_request(format!(
                    "reading request body: {msg}"
                )))
            }
        }
        Ok(b) => Ok(b.to_vec()),
    }
}

/// The query parameters of `req` (none allocated when it has no query string).
fn query_of(req: &Request) -> Result<HashMap<String, String>, ApiError> {
    if req.uri().query().is_none() {
        return Ok(HashMap::new());
    }
    Query::<HashMap<String, String>>::try_from_uri(req.uri())
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("bad query string: {e}")))
}

fn wants_checkpoint(q: &HashMap<String, String>, headers: &HeaderMap) -> Result<bool, ApiError> {
    match q.get("wait").map(String::as_str) {
        Some("checkpoint") => return Ok(true),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "wait={other:?} is not supported (use wait=checkpoint)"
            )))
        }
        None => {}
    }
    Ok(headers
        .get("tlog-wait")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("checkpoint")))
}

fn proof_json(proof: &[Hash]) -> JsonValue {
    JsonValue::Array(proof.iter().map(|h| s(b64(h.as_bytes()))).collect())
}

fn note_text(cp: &SignedCheckpoint) -> JsonValue {
    s(String::from_utf8_lossy(&cp.note).into_owned())
}

/// Prefixes a validation message with the event's position in an array.
fn at(single: bool, i: usize, m: String) -> String {
    if single {
        m
    } else {
        format!("events[{i}]: {m}")
    }
}

/// `POST /v1/events`: one event object or an array of them.
pub async fn post_events(
    State(st): State<Shared>,
    cosigned: Cosigned,
    req: Request,
) -> Result<Response, ApiError> {
    // Both scopes may write. (Headers and query are read in place: no copy a request.)
    let (submitter, _scope) = authenticate(&st, req.headers())?;
    let wait = wants_checkpoint(&query_of(&req)?, req.headers())?;
    let body = read_body(req.into_body()).await?;
    let v = json::parse(&body, ParseOptions::STRICT)
        .map_err(|e| ApiError::bad_request(format!("body is not valid JSON: {e}")))?;
    let (items, single) = match v {
        JsonValue::Array(items) => (items, false),
        obj @ JsonValue::Object(_) => (vec![obj], true),
        _ => {
            return Err(ApiError::bad_request(
                "body must be an event object or an array of them",
            ))
        }
    };
    if items.is_empty() {
        return Err(ApiError::bad_request("empty array: nothing to append"));
    }
    if items.len() > MAX_EVENTS_PER_REQUEST {
        return Err(ApiError::new(
            ErrorKind::TooLarge,
            format!(
                "{} events in one request; the limit is {MAX_EVENTS_PER_REQUEST}",
                items.len()
            ),
        ));
    }
    // Validate every event before appending any: a request is accepted or refused whole.
    let mut events = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let mut ev = new_event_from_json(item).map_err(|m| ApiError::invalid(at(single, i, m)))?;
        ev.submitter = Some(submitter.clone());
        events.push(ev);
    }
    let mut prepared = Vec::with_capacity(events.len());
    for (i, p) in prepare_many(events).into_iter().enumerate() {
        prepared.push(Ok(
            p.map_err(|e| ApiError::invalid(at(single, i, e.to_string())))?
        ));
    }
    if !st.rate.take(&submitter, prepared.len()) {
        return Err(ApiError::new(
            ErrorKind::RateLimited,
            "rate limit exceeded for this token; retry later",
        ));
    }
    let results = st.log.append_prepared(prepared).await?;
    let checkpoint = if wait {
        let need = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|a| a.index + 1))
            .max()
            .unwrap_or(0);
        let wait = async {
            match &cosigned {
                // With witnesses, wait for the cosigned checkpoint.
                Some(v) => v.wait_for(need).await.ok_or(crate::log::LogError::Closed),
                None => st.log.wait_for_checkpoint(need).await,
            }
        };
        let cp = tokio::time::timeout(CHECKPOINT_WAIT_TIMEOUT, wait)
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorKind::Unavailable,
                    "no checkpoint covering the events was signed in time; they are durable",
                )
            })??;
        Some(cp)
    } else {
        None
    };
    if let ([Ok(a)], true, None) = (results.as_slice(), single, &checkpoint) {
        // The common answer (one event, no wait), written straight out.
        return Ok(json_text_response(StatusCode::CREATED, appended_body(a)));
    }
    let mut out = Vec::with_capacity(results.len());
    for r in &results {
        match r {
            Ok(a) => {
                let mut m = vec![
                    ("index", int(a.index)),
                    ("event_id", s(a.event_id.clone())),
                    ("leaf_hash", s(a.leaf_hash.to_hex())),
                    ("existing", JsonValue::Bool(a.existing)),
                ];
                if let Some(cp) = &checkpoint {
                    let proof = st.log.inclusion_proof(a.index, cp.checkpoint.tree_size)?;
                    m.push(("tree_size", int(cp.checkpoint.tree_size)));
                    m.push(("inclusion_proof", proof_json(&proof)));
                }
                out.push(obj(m));
            }
            Err(e) => {
                if single {
                    return Err(e.clone().into());
                }
                let kind = match e {
                    AppendError::Invalid(_) => ErrorKind::Invalid,
                    AppendError::Conflict(_) => ErrorKind::Conflict,
                };
                out.push(obj(vec![
                    ("error", s(kind.code())),
                    ("message", s(e.to_string())),
                ]));
            }
        }
    }
    let mut body = if single {
        out.pop().expect("one result")
    } else {
        obj(vec![("results", JsonValue::Array(out))])
    };
    if let (Some(cp), JsonValue::Object(m)) = (&checkpoint, &mut body) {
        m.push(("checkpoint".into(), note_text(cp)));
    }
    Ok(json_response(StatusCode::CREATED, &body))
}

/// Reads `{"reason": text, "actor": text or null}` (reason required, nothing else).
fn erase_request(v: &JsonValue) -> Result<(String, Option<String>), ApiError> {
    let JsonValue::Object(members) = v else {
        return Err(ApiError::bad_request(
            "body must be a JSON object like {\"reason\": \"GDPR art. 17 request\"}",
        ));
    };
    let (mut reason, mut actor) = (None, None);
    for (k, val) in members {
        match (k.as_str(), val) {
            ("reason", JsonValue::String(r)) => reason = Some(r),
            ("reason", _) => return Err(ApiError::invalid("field \"reason\" must be a string")),
            ("actor", JsonValue::Null) => {}
            ("actor", JsonValue::String(a)) => actor = Some(a),
            ("actor", _) => {
                return Err(ApiError::invalid(
                    "field \"actor\" must be a string or null",
                ))
            }
            (other, _) => {
                return Err(ApiError::invalid(format!(
                    "unknown field {other:?} (allowed: reason, actor)"
                )))
            }
        }
    }
    let reason = reason.ok_or_else(|| ApiError::invalid("missing field \"reason\""))?;
    let reason = check_reason(reason).map_err(ApiError::invalid)?;
    let actor = actor
        .map(|a| check_actor(a).map_err(ApiError::invalid))
        .transpose()?;
    Ok((reason, actor))
}

/// `POST /v1/events/{index or event_id}/erase` with `{"reason": …, "actor": …}`: erases the
/// event's body like `tlog erase` ([`crate::erasure`]); needs an admin token, whose name is
/// the `Erasure` event's submitter. Answers once the erasure is durable and the mirror is
/// rebuilt (or [`super::MIRROR_REBUILD_WAIT`] has passed; the rebuild then goes on).
pub async fn erase_event(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, ApiError> {
    let (submitter, scope) = authenticate(&st, &headers)?;
    if !scope.may_erase() {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            format!(
                "token {submitter:?} may write events but not erase them; erasing needs an admin token (`tlog token create --admin`)"
            ),
        ));
    }
    let body = read_body_limited(req.into_body(), MAX_ERASE_BODY_BYTES).await?;
    let v = json::parse(&body, ParseOptions::STRICT)
        .map_err(|e| ApiError::bad_request(format!("body is not valid JSON: {e}")))?;
    let (reason, actor) = erase_request(&v)?;
    if !st.rate.take(&submitter, 1) {
        return Err(ApiError::new(
            ErrorKind::RateLimited,
            "rate limit exceeded for this token; retry later",
        ));
    }
    let index = resolve(&st, &id)?;
    let st2 = st.clone();
    let who = submitter.clone();
    let (done, rebuilt) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        // One erasure at a time: checking the body and erasing it is one step. The lock is
        // held in this thread, so a client that hangs up cannot release it early.
        let _one = st2.erasures.lock.lock().unwrap_or_else(|p| p.into_inner());
        let ev = st2
            .log
            .event(index)?
            .ok_or_else(|| ApiError::not_found(format!("no event at index {index}")))?;
        let mirror = st2.erasures.mirror.as_ref();
        let done = erase_blocking(
            &st2.log,
            &ev,
            &reason,
            actor,
            Some(who),
            mirror.map(|(p, _)| p.as_path()),
        )?;
        Ok((done, mirror.map(|(_, h)| h.request())))
    })
    .await
    .map_err(|_| ApiError::new(ErrorKind::Internal, "internal error"))??;
    let mirror = match rebuilt {
        None => "none",
        Some(rx) => match tokio::time::timeout(MIRROR_REBUILD_WAIT, rx).await {
            Ok(Ok(())) => "rebuilt",
            _ => "pending",
        },
    };
    tracing::info!(
        erased_index = done.index,
        erasure_index = done.erasure.index,
        submitter = %submitter,
        mirror,
        "event body erased"
    );
    let status = if done.erasure.existing {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(json_response(
        status,
        &obj(vec![
            ("index", int(done.erasure.index)),
            ("event_id", s(done.erasure.event_id.clone())),
            ("leaf_hash", s(done.erasure.leaf_hash.to_hex())),
            ("existing", JsonValue::Bool(done.erasure.existing)),
            ("erased_index", int(done.index)),
            ("erased_event_id", s(done.event_id)),
            ("erased_event_type", s(done.event_type)),
            ("reason", s(done.reason)),
            ("mirror", s(mirror)),
        ]),
    ))
}

/// Resolves `{id}`: a decimal index or an event id.
fn resolve(st: &Shared, id: &str) -> Result<u64, ApiError> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        let i: u64 = id
            .parse()
            .map_err(|_| ApiError::bad_request(format!("index {id} is out of range")))?;
        if i >= st.log.tree_size() {
            return Err(ApiError::not_found(format!("no event at index {i}")));
        }
        return Ok(i);
    }
    if id.len() > 128 {
        return Err(ApiError::bad_request("event id longer than 128 characters"));
    }
    st.log
        .find_event_id(id)?
        .ok_or_else(|| ApiError::not_found(format!("no event with id {id:?}")))
}

/// `GET /v1/events/{index or event_id}`.
pub async fn get_event(
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let i = resolve(&st, &id)?;
    let ev = st
        .log
        .event(i)?
        .ok_or_else(|| ApiError::not_found(format!("no event at index {i}")))?;
    Ok(json_response(StatusCode::OK, &event_json(&ev)))
}

fn parse_u64(q: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    match q.get(name) {
        None => Ok(None),
        Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
            ApiError::bad_request(format!("{name} must be a non-negative integer, not {v:?}"))
        }),
    }
}

/// `GET /v1/events?model_id=&dataset_id=&deployment_id=&type=&after=&limit=`.
pub async fn list_events(
    State(st): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    for k in q.keys() {
        if ![
            "model_id",
            "dataset_id",
            "deployment_id",
            "type",
            "after",
            "limit",
        ]
        .contains(&k.as_str())
        {
            return Err(ApiError::bad_request(format!(
                "unknown query parameter {k:?}"
            )));
        }
    }
    let limit = parse_u64(&q, "limit")?.unwrap_or(DEFAULT_LIST_LIMIT as u64);
    if limit == 0 || limit > MAX_LIST_LIMIT as u64 {
        return Err(ApiError::bad_request(format!(
            "limit must be 1..={MAX_LIST_LIMIT}"
        )));
    }
    let filter = ListFilter {
        model_id: q.get("model_id").cloned(),
        dataset_id: q.get("dataset_id").cloned(),
        event_type: q.get("type").cloned(),
        deployment_id: q.get("deployment_id").cloned(),
    };
    let st2 = st.clone();
    let after = parse_u64(&q, "after")?;
    let (events, full) =
        tokio::task::spawn_blocking(move || -> Result<(Vec<JsonValue>, bool), ApiError> {
            let idx = st2.log.list(&filter, after, limit as usize)?;
            let mut out = Vec::with_capacity(idx.len());
            let mut bytes = 0usize;
            let mut full = idx.len() as u64 == limit;
            for (k, i) in idx.iter().enumerate() {
                if let Some(ev) = st2.log.event(*i)? {
                    bytes += ev.entry_bytes.len()
                        + match &ev.body {
                            Some(BodyRecord::Present { body, .. }) => body.len(),
                            _ => 0,
                        };
                    out.push(event_json(&ev));
                    if bytes >= LIST_PAGE_BYTES && k + 1 < idx.len() {
                        full = true;
                        break;
                    }
                }
            }
            Ok((out, full))
        })
        .await
        .map_err(|_| ApiError::new(ErrorKind::Internal, "internal error"))??;
    let next = if full {
        events
            .last()
            .and_then(|e| e.get("index").cloned())
            .unwrap_or(JsonValue::Null)
    } else {
        JsonValue::Null
    };
    Ok(json_response(
        StatusCode::OK,
        &obj(vec![
            ("events", JsonValue::Array(events)),
            ("next_after", next),
        ]),
    ))
}

/// The checkpoint to prove against: the one stored at `size`, or the latest.
fn checkpoint_for(
    st: &Shared,
    cosigned: &Cosigned,
    size: Option<u64>,
) -> Result<(u64, Vec<u8>), ApiError> {
    if let Some(Extension(v)) = cosigned {
        // With witnesses: the cosigned checkpoint (latest, or a recent one of that size).
        match size {
            None => {
                let cp = v
                    .latest()
                    .ok_or_else(|| ApiError::not_found("no checkpoint has been cosigned yet"))?;
                return Ok((cp.checkpoint.tree_size, cp.note.clone()));
            }
            Some(n) => {
                if let Some(cp) = v.at(n) {
                    return Ok((n, cp.note.clone()));
                }
            }
        }
    }
    match size {
        Some(n) => {
            if n > st.log.tree_size() {
                return Err(ApiError::bad_request(format!(
                    "size {n} is beyond the log's size {}",
                    st.log.tree_size()
                )));
            }
            let note = st.log.checkpoint_at(n)?.ok_or_else(|| {
                ApiError::not_found(format!("no checkpoint was signed at size {n}"))
            })?;
            Ok((n, note))
        }
        None => {
            let cp = st
                .log
                .latest_checkpoint()
                .ok_or_else(|| ApiError::not_found("no checkpoint has been signed yet"))?;
            Ok((cp.checkpoint.tree_size, cp.note.clone()))
        }
    }
}

/// `GET /v1/proof/inclusion?index=I|event_id=E|leaf_hash=H[&size=N]`.
pub async fn inclusion_proof(
    State(st): State<Shared>,
    cosigned: Cosigned,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let index = match (q.get("index"), q.get("event_id"), q.get("leaf_hash")) {
        (Some(_), None, None) => parse_u64(&q, "index")?.expect("present"),
        (None, Some(e), None) => resolve(&st, e)?,
        (None, None, Some(h)) => {
            let hash = Hash::from_hex(h)
                .ok_or_else(|| ApiError::bad_request("leaf_hash must be 64 hex digits"))?;
            st.log
                .find_leaf_hash(&hash)?
                .ok_or_else(|| ApiError::not_found("no leaf with that hash"))?
        }
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of index, event_id, leaf_hash",
            ))
        }
    };
    let (size, note) = checkpoint_for(&st, &cosigned, parse_u64(&q, "size")?)?;
    if index >= size {
        return Err(ApiError::not_found(format!(
            "leaf {index} is not covered by the checkpoint at size {size} (yet)"
        )));
    }
    let (leaf, proof) = st.log.inclusion_proof_with_leaf(index, size)?;
    Ok(json_text_response(
        StatusCode::OK,
        proof_body(
            &[("leaf_index", index), ("tree_size", size)],
            Some(&leaf),
            "inclusion_proof",
            &proof,
            &note,
        ),
    ))
}

/// `{"index":…,"event_id":"…","leaf_hash":"…","existing":…}`, the answer to one appended
/// event, written straight out: the same bytes as the generic path
/// (`appended_body_is_the_generic_json`).
fn appended_body(a: &crate::log::Appended) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(160 + a.event_id.len());
    let _ = write!(out, "{{\"index\":{},\"event_id\":", a.index);
    json::write_compact_string(&mut out, &a.event_id);
    let _ = write!(
        out,
        ",\"leaf_hash\":\"{}\",\"existing\":{}}}",
        a.leaf_hash.to_hex(),
        a.existing
    );
    out
}

/// The body of a proof answer, written straight out (the endpoints auditors call most):
/// `{"<int name>":n,…,["leaf_hash":"hex",]"<proof name>":["b64",…],"checkpoint":"note"}`,
/// the same bytes as serialising the equal [`JsonValue`] (`proof_body_is_the_generic_json`).
fn proof_body(
    ints: &[(&str, u64)],
    leaf: Option<&Hash>,
    proof_name: &str,
    proof: &[Hash],
    note: &[u8],
) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(128 + proof.len() * 48 + note.len());
    out.push('{');
    for (name, n) in ints {
        let _ = write!(out, "\"{name}\":{n},");
    }
    if let Some(h) = leaf {
        let _ = write!(out, "\"leaf_hash\":\"{}\",", h.to_hex());
    }
    let _ = write!(out, "\"{proof_name}\":[");
    for (i, h) in proof.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Base64 needs no escaping.
        out.push('"');
        crate::core::bundle::b64_append(h.as_bytes(), &mut out);
        out.push('"');
    }
    out.push_str("],\"checkpoint\":");
    json::write_compact_string(&mut out, &String::from_utf8_lossy(note));
    out.push('}');
    out
}

/// `GET /v1/proof/consistency?from=A&to=B` (`to` defaults to the latest checkpoint).
pub async fn consistency_proof(
    State(st): State<Shared>,
    cosigned: Cosigned,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let from = parse_u64(&q, "from")?.ok_or_else(|| ApiError::bad_request("from is required"))?;
    let (to, note) = checkpoint_for(&st, &cosigned, parse_u64(&q, "to")?)?;
    if from == 0 || from > to {
        return Err(ApiError::bad_request(format!(
            "need 1 <= from <= to (to = {to})"
        )));
    }
    let proof = st.log.consistency_proof(from, to)?;
    Ok(json_text_response(
        StatusCode::OK,
        proof_body(
            &[("old_size", from), ("tree_size", to)],
            None,
            "consistency_proof",
            &proof,
            &note,
        ),
    ))
}

/// `GET /v1/bundle/{index or event_id}[?size=N]`: the offline proof bundle.
pub async fn bundle(
    State(st): State<Shared>,
    cosigned: Cosigned,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let index = resolve(&st, &id)?;
    let (size, note) = checkpoint_for(&st, &cosigned, parse_u64(&q, "size")?)?;
    if index >= size {
        return Err(ApiError::not_found(format!(
            "event {index} is not covered by the checkpoint at size {size} (yet)"
        )));
    }
    let ev = st
        .log
        .event(index)?
        .ok_or_else(|| ApiError::not_found(format!("no event at index {index}")))?;
    let proof = st.log.inclusion_proof(index, size)?;
    let b = crate::log::make_bundle(&ev, proof, note);
    Ok(json_response(StatusCode::OK, &b.to_json()))
}

/// `GET /v1/checkpoint`: the latest checkpoint as JSON.
pub async fn checkpoint_json(
    State(st): State<Shared>,
    cosigned: Cosigned,
) -> Result<Response, ApiError> {
    let p = st.log.published();
    let cp = match cosigned {
        // With witnesses: the latest checkpoint published with its cosignatures.
        Some(Extension(v)) => v
            .latest()
            .ok_or_else(|| ApiError::not_found("no checkpoint has been cosigned yet"))?,
        None => p
            .checkpoint
            .ok_or_else(|| ApiError::not_found("no checkpoint has been signed yet"))?,
    };
    Ok(json_response(
        StatusCode::OK,
        &obj(vec![
            ("origin", s(cp.checkpoint.origin.clone())),
            ("tree_size", int(cp.checkpoint.tree_size)),
            ("root_hash", s(cp.checkpoint.root_hash.to_hex())),
            ("note", note_text(&cp)),
            ("log_size", int(p.tree_size)),
            ("vkey", s(st.vkey.clone())),
        ]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_body_is_the_generic_json() {
        for (index, id, existing) in [(0, "a", false), (u64::MAX, "x.y:z-\"\\\u{1}é", true)] {
            let a = crate::log::Appended {
                index,
                event_id: id.into(),
                leaf_hash: Hash::from_slice(&[9; 32]).unwrap(),
                existing,
            };
            let generic = json::to_json_string(&obj(vec![
                ("index", int(a.index)),
                ("event_id", s(a.event_id.clone())),
                ("leaf_hash", s(a.leaf_hash.to_hex())),
                ("existing", JsonValue::Bool(a.existing)),
            ]));
            assert_eq!(appended_body(&a), generic);
        }
    }

    #[test]
    fn proof_body_is_the_generic_json() {
        let hashes: Vec<Hash> = (0..24u8)
            .map(|i| Hash::from_slice(&[i; 32]).unwrap())
            .collect();
        // A note with newlines, a quote and non-ASCII (escaped or kept as the generic writer
        // does), and one that is not UTF-8 (replaced the same way).
        for note in [
            &b"example.com/log\n42\nq83\"+\n\n\xe2\x80\x94 k\xc3\xa9y\x01 AbC=\n"[..],
            &b"bad \xff utf-8\n"[..],
        ] {
            for n in [0, 1, 24] {
                let proof = &hashes[..n];
                let generic = json::to_json_string(&obj(vec![
                    ("leaf_index", int(7)),
                    ("tree_size", int(u64::MAX)),
                    ("leaf_hash", s(hashes[3].to_hex())),
                    ("inclusion_proof", proof_json(proof)),
                    ("checkpoint", s(String::from_utf8_lossy(note).into_owned())),
                ]));
                let direct = proof_body(
                    &[("leaf_index", 7), ("tree_size", u64::MAX)],
                    Some(&hashes[3]),
                    "inclusion_proof",
                    proof,
                    note,
                );
                assert_eq!(direct, generic);
                let generic = json::to_json_string(&obj(vec![
                    ("old_size", int(1)),
                    ("tree_size", int(2)),
                    ("consistency_proof", proof_json(proof)),
                    ("checkpoint", s(String::from_utf8_lossy(note).into_owned())),
                ]));
                let direct = proof_body(
                    &[("old_size", 1), ("tree_size", 2)],
                    None,
                    "consistency_proof",
                    proof,
                    note,
                );
                assert_eq!(direct, generic);
            }
        }
    }
}
