//! The accept loop of `tlog serve` and `tlog witness serve`, with deadlines on slow clients.
//!
//! `axum::serve` sets no timer on its HTTP/1 connections, so hyper's header read timeout is
//! off: a client that sends a request head one byte at a time, or connects and sends nothing,
//! holds its connection (a task and a file descriptor) forever. [`serve`] is the same loop
//! with two deadlines ([`Limits`]):
//!
//! - **header deadline**: the request head (request line and headers) must arrive within
//!   [`Limits::header_timeout`] of the server starting to wait for it, which also bounds how
//!   long an idle keep-alive connection stays open. Past it hyper closes the connection
//!   without an answer.
//! - **body deadline**: the request body must arrive within [`Limits::body_timeout`] of the
//!   request head. Past it, reading the body fails, and the request carries a
//!   [`BodyDeadline`] extension that says so; the routers turn that failure into
//!   `408 Request Timeout` (see [`answer_body_timeouts`]).
//!
//! Other clients are served meanwhile: every connection is its own task, and a slow one
//! only ever waits on its own socket.
//!
//! Shutdown: when the shutdown future completes, the loop stops accepting, asks every open
//! connection to finish its in-flight request and close (idle ones close at once), waits for
//! all of them, and returns.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::Service as _;

/// Default time a client has to send a request head (and longest idle keep-alive).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest header timeout accepted from configuration.
pub const MAX_HEADER_TIMEOUT: Duration = Duration::from_secs(600);

/// Deadlines applied to every connection by [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time a client has to send a request head; also the longest idle keep-alive.
    pub header_timeout: Duration,
    /// Time a client has to send a request body, counted from the end of its head.
    pub body_timeout: Duration,
}

impl Limits {
    /// The log server's defaults: [`DEFAULT_HEADER_TIMEOUT`] and
    /// [`super::BODY_TIMEOUT`].
    pub fn log_defaults() -> Limits {
        Limits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: super::BODY_TIMEOUT,
        }
    }

    /// Checks that both timeouts are at least 1 ms, the header timeout at most
    /// [`MAX_HEADER_TIMEOUT`] and the body timeout at most `max_body`.
    pub fn validate(&self, max_body: Duration) -> Result<(), String> {
        let ms = Duration::from_millis(1);
        if self.header_timeout < ms || self.header_timeout > MAX_HEADER_TIMEOUT {
            return Err(format!(
                "header timeout must be 1..={} ms",
                MAX_HEADER_TIMEOUT.as_millis()
            ));
        }
        if self.body_timeout < ms || self.body_timeout > max_body {
            return Err(format!(
                "body timeout must be 1..={} ms",
                max_body.as_millis()
            ));
        }
        Ok(())
    }
}

/// A request extension set by [`serve`] on requests with a body: whether the body's deadline
/// passed before it was read.
#[derive(Debug, Clone, Default)]
pub struct BodyDeadline(Arc<AtomicBool>);

impl BodyDeadline {
    /// True once reading the body failed because its deadline passed.
    pub fn expired(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The error a body yields past its deadline.
#[derive(Debug, thiserror::Error)]
#[error("request body not received in time")]
pub struct BodyTimeout;

/// A request body that fails with [`BodyTimeout`] once its deadline has passed.
struct DeadlineBody<B> {
    inner: B,
    sleep: Pin<Box<tokio::time::Sleep>>,
    flag: BodyDeadline,
}

impl<B> http_body::Body for DeadlineBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        // The deadline first: a client trickling bytes must not extend it.
        if this.sleep.as_mut().poll(cx).is_ready() {
            this.flag.0.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(BodyTimeout.into())));
        }
        Pin::new(&mut this.inner)
            .poll_frame(cx)
            .map(|f| f.map(|r| r.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware for the routers served by [`serve`]: a failed response to a request whose
/// body deadline passed becomes `timeout()` (a 408 in the router's error format).
pub async fn answer_body_timeouts(timeout: fn() -> Response, req: Request, next: Next) -> Response {
    let deadline = req.extensions().get::<BodyDeadline>().cloned();
    let resp = next.run(req).await;
    with_body_deadline(deadline, resp, timeout)
}

/// `resp`, or `timeout()` when it failed because the request's body deadline passed
/// (`deadline` is the request's [`BodyDeadline`] extension, taken before it was handled).
pub fn with_body_deadline(
    deadline: Option<BodyDeadline>,
    resp: Response,
    timeout: fn() -> Response,
) -> Response {
    match deadline {
        Some(d) if d.expired() && !resp.status().is_success() => timeout(),
        _ => resp,
    }
}

/// Accept errors that concern one connection only (the listener is fine).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Serves `app` over HTTP/1.1 on `listener` with the deadlines of `limits` until `shutdown`
/// completes; then stops accepting, lets in-flight requests finish, and returns once every
/// connection has closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    // Every connection task holds a clone; recv() returns None once all are gone.
    let (alive_tx, mut alive_rx) = tokio::sync::mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // E.g. out of file descriptors: wait for some to close, as axum does.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let mut closing = closing_rx.clone();
        let alive = alive_tx.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let mut app = app.clone();
                async move {
                    let (mut parts, body): (_, hyper::body::Incoming) = req.into_parts();
                    let body = if http_body::Body::is_end_stream(&body) {
                        Body::new(body)
                    } else {
                        let flag = BodyDeadline::default();
                        parts.extensions.insert(flag.clone());
                        Body::new(DeadlineBody {
                            inner: body,
                            sleep: Box::pin(tokio::time::sleep(limits.body_timeout)),
                            flag,
                        })
                    };
                    app.call(Request::from_parts(parts, body)).await
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = async { closing.wait_for(|c| *c).await.map(|_| ()) } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
            drop(alive);
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    drop(alive_tx);
    let _ = alive_rx.recv().await;
    Ok(())
}
