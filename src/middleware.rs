//! `AuditLayer`: a tower layer that records every HTTP request a Rust model server answers
//! as two events, `InferenceRequest` and `InferenceResponse`, like the Python package's
//! FastAPI `AuditMiddleware`.
//!
//! Each event carries the method, path, a request id (the client's `X-Request-ID`, or a new
//! UUID v4, returned on the response), and the size and salted SHA-256 of the body
//! (`SHA-256(salt || body)`, with a random 32-byte salt per layer, so equal bodies can be
//! matched inside one run but not guessed): bodies are hashed as they stream, never
//! buffered and never recorded. The request event is written when the response starts;
//! the response event when its body ends (with the status — 500 when the inner service
//! fails — and the latency), or, if the client goes away first, when the body is dropped
//! (`"complete": false`). Events go to an [`AuditSink`] through a bounded queue drained by a background
//! task: recording never delays or fails the user's request (a full queue drops events and
//! counts them in [`AuditLayer::dropped`]).
//!
//! ```no_run
//! # async fn demo(log: llm_audit_trail::log::Log) {
//! use llm_audit_trail::middleware::{AuditLayer, LocalSink};
//! let app: axum::Router = axum::Router::new()
//!     .route("/predict", axum::routing::post(|| async { "ok" }))
//!     .layer(AuditLayer::new(LocalSink::new(log), Some("demo-imdb-v1".into())));
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::http::{HeaderValue, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::core::json::{JsonNumber, JsonValue};
use crate::log::event::NewEvent;
use crate::log::Log;

/// Events that may wait for the sink before new ones are dropped.
pub const AUDIT_QUEUE: usize = 10_000;
/// Events written to the sink at once.
pub const AUDIT_BATCH: usize = 1000;
/// Header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";
/// Longest client-supplied request id kept.
pub const MAX_REQUEST_ID: usize = 128;

/// Where audit events go.
pub trait AuditSink: Send + Sync + 'static {
    /// Writes a batch of events; errors are logged by the caller, never raised to users.
    fn write(
        &self,
        events: Vec<NewEvent>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

/// Writes to a [`Log`] opened in this process.
pub struct LocalSink {
    log: Log,
}

impl LocalSink {
    /// A sink appending to `log`.
    pub fn new(log: Log) -> LocalSink {
        LocalSink { log }
    }
}

impl AuditSink for LocalSink {
    fn write(
        &self,
        events: Vec<NewEvent>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            let results = self.log.append(events).await.map_err(|e| e.to_string())?;
            match results.into_iter().find_map(Result::err) {
                Some(e) => Err(e.to_string()),
                None => Ok(()),
            }
        })
    }
}

/// Writes to a `tlog serve` over HTTP (`POST /v1/events`, bearer token).
pub struct RemoteSink {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl RemoteSink {
    /// A sink posting to the server at `url` (e.g. `http://127.0.0.1:8080`) with `token`.
    pub fn new(url: &str, token: &str) -> RemoteSink {
        RemoteSink {
            url: format!("{}/v1/events", url.trim_end_matches('/')),
            token: token.to_string(),
            http: reqwest::Client::new(),
        }
    }
}

impl AuditSink for RemoteSink {
    fn write(
        &self,
        events: Vec<NewEvent>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            let body = JsonValue::Array(
                events
                    .iter()
                    .map(crate::log::event::new_event_to_json)
                    .collect(),
            );
            let resp = self
                .http
                .post(&self.url)
                .bearer_auth(&self.token)
                .header("content-type", "application/json")
                .body(crate::core::json::to_json_string(&body))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(format!("server answered {}", resp.status()))
            }
        })
    }
}

/// The layer. Cloning shares the queue.
#[derive(Clone)]
pub struct AuditLayer {
    tx: mpsc::Sender<NewEvent>,
    model_id: Option<String>,
    dropped: Arc<AtomicU64>,
    salt: [u8; 32],
}

impl AuditLayer {
    /// A layer recording to `sink`, tagging events with `model_id`. Must be called inside
    /// a tokio runtime (it spawns the task that drains the queue).
    pub fn new(sink: impl AuditSink, model_id: Option<String>) -> AuditLayer {
        let (tx, mut rx) = mpsc::channel::<NewEvent>(AUDIT_QUEUE);
        let sink = Arc::new(sink);
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(AUDIT_BATCH);
            while rx.recv_many(&mut buf, AUDIT_BATCH).await > 0 {
                let events = std::mem::take(&mut buf);
                if let Err(e) = sink.write(events).await {
                    tracing::warn!(error = %e, "audit events could not be written");
                }
            }
        });
        let mut salt = [0u8; 32];
        crate::os::fill_random(&mut salt);
        AuditLayer {
            tx,
            model_id,
            dropped: Arc::new(AtomicU64::new(0)),
            salt,
        }
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn record(&self, ev: NewEvent) {
        if self.tx.try_send(ev).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<S> tower::Layer<S> for AuditLayer {
    type Service = AuditService<S>;

    fn layer(&self, inner: S) -> AuditService<S> {
        AuditService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`AuditLayer`] wraps around an inner service.
#[derive(Clone)]
pub struct AuditService<S> {
    inner: S,
    layer: AuditLayer,
}

fn num(v: u64) -> JsonValue {
    JsonValue::Number(JsonNumber::Int(i128::from(v)))
}

fn request_id(headers: &axum::http::HeaderMap) -> String {
    match headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()) {
        Some(id)
            if !id.is_empty()
                && id.len() <= MAX_REQUEST_ID
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) =>
        {
            id.to_string()
        }
        _ => {
            let mut r = [0u8; 16];
            crate::os::fill_random(&mut r);
            crate::core::entry::event_id_from_random(r)
        }
    }
}

/// What a [`HashingBody`] has seen so far.
#[derive(Default)]
struct BodyTally {
    bytes: u64,
    hasher: Option<Sha256>,
    digest: Option<String>,
}

impl BodyTally {
    fn new(salt: &[u8; 32]) -> BodyTally {
        let mut h = Sha256::new();
        h.update(salt);
        BodyTally {
            bytes: 0,
            hasher: Some(h),
            digest: None,
        }
    }

    fn finish(&mut self) {
        if let Some(h) = self.hasher.take() {
            self.digest = Some(crate::core::hash::hex_encode(&h.finalize()));
        }
    }

    fn details(&self) -> (JsonValue, JsonValue) {
        (
            num(self.bytes),
            self.digest
                .clone()
                .map(|d| JsonValue::String(format!("sha256:{d}")))
                .unwrap_or(JsonValue::Null),
        )
    }
}

/// Called once when a response body ends (`true`) or is dropped unfinished (`false`).
type OnEnd = Box<dyn FnOnce(&BodyTally, bool) + Send>;

/// A body that hashes its data frames as they pass (`SHA-256(salt || data)`).
pub struct HashingBody<B> {
    inner: B,
    tally: Arc<std::sync::Mutex<BodyTally>>,
    on_end: Option<OnEnd>,
}

impl<B> HashingBody<B> {
    fn end(&mut self, complete: bool) {
        let mut t = self.tally.lock().expect("tally lock");
        t.finish();
        if let Some(f) = self.on_end.take() {
            f(&t, complete);
        }
    }
}

impl<B> Drop for HashingBody<B> {
    fn drop(&mut self) {
        if self.on_end.is_some() {
            self.end(false);
        }
    }
}

impl<B> HttpBody for HashingBody<B>
where
    B: HttpBody<Data = axum::body::Bytes> + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let mut t = self.tally.lock().expect("tally lock");
                    t.bytes += data.len() as u64;
                    if let Some(h) = t.hasher.as_mut() {
                        h.update(data);
                    }
                }
                if self.inner.is_end_stream() {
                    self.end(true);
                }
            }
            Poll::Ready(None) => self.end(true),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn hashing<B: HttpBody>(
    body: B,
    salt: &[u8; 32],
    on_end: Option<OnEnd>,
) -> (HashingBody<B>, Arc<std::sync::Mutex<BodyTally>>) {
    let mut tally = BodyTally::new(salt);
    if body.is_end_stream() {
        tally.finish();
    }
    let tally = Arc::new(std::sync::Mutex::new(tally));
    (
        HashingBody {
            inner: body,
            tally: tally.clone(),
            on_end,
        },
        tally,
    )
}

impl<S, ReqB, ResB> tower::Service<Request<ReqB>> for AuditService<S>
where
    S: tower::Service<Request<HashingBody<ReqB>>, Response = Response<ResB>> + Send + 'static,
    S::Future: Send + 'static,
    ReqB: HttpBody<Data = axum::body::Bytes> + Unpin + Send + 'static,
    ResB: HttpBody<Data = axum::body::Bytes> + Unpin + Send + 'static,
{
    type Response = Response<HashingBody<ResB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let started = Instant::now();
        let rid = request_id(req.headers());
        let method = req.method().to_string();
        let path = req.uri().path().chars().take(512).collect::<String>();
        let salt = self.layer.salt;
        let (parts, body) = req.into_parts();
        let (body, req_tally) = hashing(body, &salt, None);
        let fut = self.inner.call(Request::from_parts(parts, body));
        let layer = self.layer.clone();
        Box::pin(async move {
            let result = fut.await;
            let base = |event_type: &str, extra: Vec<(&str, JsonValue)>| {
                let mut ev = NewEvent::new(event_type);
                ev.system = Some("axum".into());
                ev.model_id = layer.model_id.clone();
                let mut d = vec![
                    ("request_id".to_string(), JsonValue::String(rid.clone())),
                    ("method".to_string(), JsonValue::String(method.clone())),
                    ("path".to_string(), JsonValue::String(path.clone())),
                ];
                d.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
                ev.details = JsonValue::Object(d);
                ev
            };
            // The request event: the body is hashed as far as the handler read it (all of
            // it, normally; `request_sha256` is null when the handler left it unread).
            let (req_bytes, req_hash) = req_tally.lock().expect("tally lock").details();
            layer.record(base(
                "InferenceRequest",
                vec![("request_bytes", req_bytes), ("request_sha256", req_hash)],
            ));
            match result {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let (mut parts, body) = resp.into_parts();
                    if let Ok(v) = HeaderValue::from_str(&rid) {
                        parts.headers.insert(REQUEST_ID, v);
                    }
                    let layer2 = layer.clone();
                    let response_event = base(
                        "InferenceResponse",
                        vec![("status", num(u64::from(status)))],
                    );
                    let on_end: OnEnd = Box::new(move |t: &BodyTally, complete: bool| {
                        let (bytes, hash) = t.details();
                        let mut ev = response_event;
                        if let JsonValue::Object(d) = &mut ev.details {
                            let ms = started.elapsed().as_secs_f64() * 1000.0;
                            d.push((
                                "latency_ms".into(),
                                JsonValue::Number(JsonNumber::Float(
                                    (ms * 1000.0).round() / 1000.0,
                                )),
                            ));
                            d.push(("response_bytes".into(), bytes));
                            d.push(("response_sha256".into(), hash));
                            d.push(("complete".into(), JsonValue::Bool(complete)));
                        }
                        layer2.record(ev);
                    });
                    let (body, _) = hashing(body, &salt, Some(on_end));
                    Ok(Response::from_parts(parts, body))
                }
                Err(e) => {
                    let ms = started.elapsed().as_secs_f64() * 1000.0;
                    layer.record(base(
                        "InferenceResponse",
                        vec![
                            ("status", num(500)),
                            (
                                "latency_ms",
                                JsonValue::Number(JsonNumber::Float(
                                    (ms * 1000.0).round() / 1000.0,
                                )),
                            ),
                            ("response_bytes", JsonValue::Null),
                            ("response_sha256", JsonValue::Null),
                            ("complete", JsonValue::Bool(false)),
                        ],
                    ));
                    Err(e)
                }
            }
        })
    }
}
