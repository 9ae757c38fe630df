//! `tlog serve`: the HTTP server (axum on tokio) over a durable [`Log`].
//!
//! - JSON API under `/v1` (`spec/api.md`, OpenAPI at `/v1/openapi.json`): post events
//!   (bearer token), erase an event's body (admin token), read events, inclusion and
//!   consistency proofs, bundles, checkpoints.
//! - C2SP tlog-tiles read API: `/checkpoint`, `/tile/<L>/<N>[.p/<W>]`,
//!   `/tile/entries/<N>[.p/<W>]`, public and cacheable.
//! - Operations: `/healthz`, `/metrics` (Prometheus text).
//!
//! - With witnesses (`tlog serve --witness-policy`), `/checkpoint`, `/v1/checkpoint`, proofs,
//!   bundles and `wait=checkpoint` use the cosigned checkpoint of
//!   [`crate::witness::client::CosignedView`] (an axum extension set by [`run_cosigned`]).
//!
//! [`run`] takes a bound listener and a shutdown future, so tests bind `127.0.0.1:0` and
//! talk to a real socket. Errors become responses in exactly one place ([`error`]).
//! Connections are served by [`limits::serve`], which cuts off clients that send their
//! request head or body too slowly ([`limits::Limits`]).

pub mod api;
pub mod auth;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod tiles;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

use crate::log::mirror::RebuildHandle;
use crate::log::Log;
use auth::{RateLimiter, Tokens};
use error::{ApiError, ErrorKind};
use limits::Limits;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 4 << 20;
/// Largest erasure request body accepted (`{"reason", "actor"}`).
pub const MAX_ERASE_BODY_BYTES: usize = 16 << 10;
/// Longest an erasure's answer waits for the mirror's rebuild (which then goes on).
pub const MIRROR_REBUILD_WAIT: Duration = Duration::from_secs(30);
/// Most events in one POST.
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;
/// Time a client has to send its whole request body (the default and the largest accepted
/// [`Limits::body_timeout`]).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest `wait=checkpoint` hold before the server answers 503.
pub const CHECKPOINT_WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the handlers share.
pub struct AppState {
    /// The log.
    pub log: Log,
    /// Accepted writer tokens.
    pub tokens: Tokens,
    /// Per-token rate limit.
    pub rate: RateLimiter,
    /// HTTP counters.
    pub http: metrics::HttpMetrics,
    /// The log's verifier key, as served in `/v1/checkpoint`.
    pub vkey: String,
    /// What erasures need beyond the log.
    pub erasures: Erasures,
}

/// What `POST /v1/events/{id}/erase` needs beyond the log.
#[derive(Debug, Default)]
pub struct Erasures {
    /// Serialises erasures, so that checking a body and erasing it is one step.
    pub lock: std::sync::Mutex<()>,
    /// The JSONL mirror's path (marked stale before a body is erased) and the follower
    /// that rebuilds it; `None` when the server keeps no mirror.
    pub mirror: Option<(std::path::PathBuf, RebuildHandle)>,
}

/// The shared state handle.
pub type Shared = Arc<AppState>;

/// Adds CORS headers to an answer to a read request (auditor pages in browsers).
fn add_cors_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("86400"));
}

/// Everything every request goes through, in one layer (one boxed future a request instead
/// of five), from the outside in:
///
/// 1. CORS: preflights (`OPTIONS`) are answered here; answers to reads get CORS headers.
/// 2. Status counting ([`metrics::HttpMetrics`]), of the final answer.
/// 3. JSON errors ([`json_errors`]): axum's own rejections get the [`ApiError`] shape.
/// 4. Body deadlines: a request whose body did not arrive in time gets 408
///    ([`limits::BodyDeadline`]).
/// 5. A declared body size (Content-Length) over [`MAX_BODY_BYTES`] gets 413 before any of
///    it is read.
async fn edge(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let is_read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let mut resp = if *req.method() == Method::OPTIONS {
        Response::new(axum::body::Body::empty())
    } else {
        let deadline = req.extensions().get::<limits::BodyDeadline>().cloned();
        let resp = if declared_oversize(&req) {
            too_large_response()
        } else {
            next.run(req).await
        };
        let resp = limits::with_body_deadline(deadline, resp, body_timeout_response);
        let resp = json_errors(resp).await;
        state.http.observe(resp.status().as_u16());
        resp
    };
    if is_read {
        add_cors_headers(&mut resp);
    }
    resp
}

/// The 408 answer to a request whose body did not arrive before its deadline.
fn body_timeout_response() -> Response {
    use axum::response::IntoResponse as _;
    ApiError::new(ErrorKind::Timeout, "request body not received in time").into_response()
}

/// Whether a request declares (Content-Length) a body over [`MAX_BODY_BYTES`].
fn declared_oversize(req: &Request) -> bool {
    http_body::Body::size_hint(req.body()).lower() > MAX_BODY_BYTES as u64
}

/// The 413 answer to a declared oversize body.
fn too_large_response() -> Response {
    use axum::response::IntoResponse as _;
    ApiError::new(
        ErrorKind::TooLarge,
        format!("request body over {MAX_BODY_BYTES} bytes"),
    )
    .into_response()
}

/// Longest text of a framework rejection kept as the message of its JSON error.
const MAX_REJECTION_TEXT: usize = 200;

/// Gives every error response the JSON shape of [`ApiError`]: the handlers' errors have it
/// already; axum's own rejections (a path segment that is not UTF-8, a method the route does
/// not take) are plain text or empty, and are rewritten here, keeping their status and
/// headers such as `Allow`.
async fn json_errors(resp: Response) -> Response {
    use axum::response::IntoResponse as _;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let mut message: String = text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(MAX_REJECTION_TEXT)
        .collect();
    if message.trim().is_empty() {
        message = status.canonical_reason().unwrap_or("error").to_lowercase();
    }
    let kind = ErrorKind::from_status(status).unwrap_or(if status.is_client_error() {
        ErrorKind::BadRequest
    } else {
        ErrorKind::Internal
    });
    let json = ApiError::new(kind, message).into_response();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    let (json_parts, json_body) = json.into_parts();
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, json_body)
}

/// The router with every route.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/v1/events", post(api::post_events).get(api::list_events))
        .route("/v1/events/{id}", get(api::get_event))
        .route("/v1/events/{id}/erase", post(api::erase_event))
        .route("/v1/proof/inclusion", get(api::inclusion_proof))
        .route("/v1/proof/consistency", get(api::consistency_proof))
        .route("/v1/bundle/{id}", get(api::bundle))
        .route("/v1/checkpoint", get(api::checkpoint_json))
        .route("/v1/openapi.json", get(openapi::openapi))
        .route("/checkpoint", get(tiles::checkpoint))
        .route("/tile/{*path}", get(tiles::tile))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(metrics::metrics))
        .fallback(api::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), edge))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish (their events are acknowledged), and returns. The caller then
/// closes the log, which signs a final checkpoint.
/// Uses the default [`Limits::log_defaults`].
pub async fn run(
    listener: TcpListener,
    state: Shared,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, state, None, Limits::log_defaults(), shutdown).await
}

/// Like [`run`], and when `cosigned` is given, the published checkpoint is the witnessed one.
pub async fn run_cosigned(
    listener: TcpListener,
    state: Shared,
    cosigned: Option<crate::witness::client::CosignedView>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, state, cosigned, Limits::log_defaults(), shutdown).await
}

/// Like [`run_cosigned`], with the header and body deadlines of `limits`.
pub async fn run_with(
    listener: TcpListener,
    state: Shared,
    cosigned: Option<crate::witness::client::CosignedView>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut app = router(state);
    if let Some(view) = cosigned {
        app = app.layer(axum::Extension(view));
    }
    limits::serve(listener, app, limits, shutdown).await
}
