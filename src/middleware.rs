//! `AuditLayer`: a tower layer that records every HTTP request a Rust model server answers
//! as two events, `InferenceRequest` and `InferenceResponse`, like the Python package's
//! FastAPI `AuditMiddleware`.
//!
//! Each event carries the method, path, a request id (the client's `X-Request-ID`, or a new
//! UUID v4, returned on the response), and sizes from `Content-Length`; the response event
//! adds the status (500 when the inner service fails) and the latency. Bodies are never
//! recorded. Events go to an [`AuditSink`] through a bounded queue drained by a background
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
        AuditLayer {
            tx,
            model_id,
            dropped: Arc::new(AtomicU64::new(0)),
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

fn content_length<B>(headers: &axum::http::HeaderMap, _b: Option<&B>) -> JsonValue {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(num)
        .unwrap_or(JsonValue::Null)
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

impl<S, ReqB, ResB> tower::Service<Request<ReqB>> for AuditService<S>
where
    S: tower::Service<Request<ReqB>, Response = Response<ResB>> + Send + 'static,
    S::Future: Send + 'static,
    ReqB: Send + 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResB>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let started = Instant::now();
        let rid = request_id(req.headers());
        let method = req.method().to_string();
        let path = req.uri().path().chars().take(512).collect::<String>();
        let mut ev = NewEvent::new("InferenceRequest");
        ev.system = Some("axum".into());
        ev.model_id = self.layer.model_id.clone();
        ev.details = JsonValue::Object(vec![
            ("request_id".into(), JsonValue::String(rid.clone())),
            ("method".into(), JsonValue::String(method.clone())),
            ("path".into(), JsonValue::String(path.clone())),
            (
                "request_bytes".into(),
                content_length::<ReqB>(req.headers(), None),
            ),
        ]);
        self.layer.record(ev);
        let layer = self.layer.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let result = fut.await;
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            let (status, bytes) = match &result {
                Ok(resp) => (
                    num(u64::from(resp.status().as_u16())),
                    content_length::<ResB>(resp.headers(), None),
                ),
                Err(_) => (num(500), JsonValue::Null),
            };
            let mut ev = NewEvent::new("InferenceResponse");
            ev.system = Some("axum".into());
            ev.model_id = layer.model_id.clone();
            ev.details = JsonValue::Object(vec![
                ("request_id".into(), JsonValue::String(rid.clone())),
                ("method".into(), JsonValue::String(method)),
                ("path".into(), JsonValue::String(path)),
                ("status".into(), status),
                (
                    "latency_ms".into(),
                    JsonValue::Number(JsonNumber::Float((latency_ms * 1000.0).round() / 1000.0)),
                ),
                ("response_bytes".into(), bytes),
            ]);
            layer.record(ev);
            result.map(|mut resp| {
                if let Ok(v) = HeaderValue::from_str(&rid) {
                    resp.headers_mut().insert(REQUEST_ID, v);
                }
                resp
            })
        })
    }
}
