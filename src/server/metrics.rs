//! `GET /metrics`: Prometheus text exposition of the log and the HTTP server.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::log::{BATCH_SIZE_BOUNDS, FSYNC_BOUNDS};

/// Counts of HTTP responses by status code.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    by_status: Mutex<BTreeMap<u16, u64>>,
}

impl HttpMetrics {
    /// Counts one response.
    pub fn observe(&self, status: u16) {
        *self
            .by_status
            .lock()
            .expect("metrics lock")
            .entry(status)
            .or_insert(0) += 1;
    }
}

fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    bounds: &[f64],
    buckets: &[std::sync::atomic::AtomicU64; 6],
    sum: f64,
    count: u64,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    let mut acc = 0;
    for (i, b) in bounds.iter().enumerate() {
        acc += buckets[i].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {acc}");
    }
    acc += buckets[5].load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "{name}_bucket{{le=\"+Inf\"}} {acc}\n{name}_sum {sum}\n{name}_count {count}"
    );
}

/// Renders every metric.
pub fn render(st: &Shared) -> String {
    let m = st.log.metrics();
    let p = st.log.published();
    let mut out = String::new();
    let appended = m.appended.load(Ordering::Relaxed);
    let batches = m.batches.load(Ordering::Relaxed);
    let _ = writeln!(out, "# HELP tlog_appended_events_total Events appended (retries not counted).\n# TYPE tlog_appended_events_total counter\ntlog_appended_events_total {appended}");
    let _ = writeln!(out, "# HELP tlog_tree_size Committed (durable) tree size.\n# TYPE tlog_tree_size gauge\ntlog_tree_size {}", p.tree_size);
    let cp_size = p
        .checkpoint
        .as_ref()
        .map(|c| c.checkpoint.tree_size)
        .unwrap_or(0);
    let _ = writeln!(out, "# HELP tlog_checkpoint_size Tree size of the latest signed checkpoint.\n# TYPE tlog_checkpoint_size gauge\ntlog_checkpoint_size {cp_size}");
    let _ = writeln!(
        out,
        "# HELP tlog_checkpoint_age_seconds Seconds since the latest checkpoint was signed.\n# TYPE tlog_checkpoint_age_seconds gauge\ntlog_checkpoint_age_seconds {:.3}",
        m.checkpoint_age().as_secs_f64()
    );
    histogram(
        &mut out,
        "tlog_batch_events",
        "Events per group commit.",
        &BATCH_SIZE_BOUNDS,
        &m.batch_size_buckets,
        appended as f64,
        batches,
    );
    histogram(
        &mut out,
        "tlog_fsync_seconds",
        "Latency of synced storage writes.",
        &FSYNC_BOUNDS,
        &m.fsync_buckets,
        m.fsync_micros_sum.load(Ordering::Relaxed) as f64 / 1e6,
        m.fsync_count.load(Ordering::Relaxed),
    );
    let _ = writeln!(out, "# HELP tlog_batch_bytes_total Bytes written by group commits.\n# TYPE tlog_batch_bytes_total counter\ntlog_batch_bytes_total {}", m.batch_bytes.load(Ordering::Relaxed));
    let _ = writeln!(out, "# HELP tlog_storage_write_failures_total Storage writes that failed.\n# TYPE tlog_storage_write_failures_total counter\ntlog_storage_write_failures_total {}", m.write_failures.load(Ordering::Relaxed));
    let _ = writeln!(out, "# HELP tlog_storage_failing 1 while the latest storage write failed (appends refused).\n# TYPE tlog_storage_failing gauge\ntlog_storage_failing {}", u8::from(m.write_failing.load(Ordering::Relaxed)));
    let _ = writeln!(out, "# HELP tlog_http_responses_total HTTP responses by status code.\n# TYPE tlog_http_responses_total counter");
    for (code, n) in st.http.by_status.lock().expect("metrics lock").iter() {
        let _ = writeln!(out, "tlog_http_responses_total{{code=\"{code}\"}} {n}");
    }
    out
}

/// `GET /metrics`.
pub async fn metrics(State(st): State<Shared>) -> Response {
    let mut r = render(&st).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}
