//! The log side of the witness protocol: a coordinator that gets each new checkpoint
//! cosigned by the policy's witnesses and publishes the cosigned note.
//!
//! Implements the client side of C2SP `tlog-witness` v1.0.0 §add-checkpoint, over the
//! witnesses of a C2SP `tlog-policy` file (their URL is the submission prefix), verifying
//! each cosignature (C2SP `tlog-cosignature` v1.0.1) before using it:
//!
//! 1. The coordinator follows [`Log::subscribe`]. For each new checkpoint it sends
//!    `POST <prefix>/add-checkpoint` to every witness in parallel (at most
//!    [`CoordinatorConfig::max_parallel`] at once, each bounded by
//!    [`CoordinatorConfig::timeout`]), with `old <size>` = the size that witness last
//!    cosigned (0 when unknown, e.g. after a restart) and the consistency proof from there.
//! 2. 409: the body (`text/x.tlog.size`) is the witness's size; retry with a new proof (at
//!    most [`MAX_CONFLICT_RETRIES`] times). A 409 naming the size we sent means the witness
//!    holds a different root for that size: alerted as a possible fork, not retried.
//! 3. 400/403/404/422: logged as an alert and not retried for this checkpoint (a retry
//!    would get the same answer); timeouts and other failures are retried with a backoff
//!    kept per witness, across checkpoints: a witness that is down is asked after 0.2 s,
//!    0.4 s, ... up to every [`RETRY_MAX`], not at every new checkpoint, and its failures
//!    are logged at 1, 2, 4, 8, ... in a row (then once more when it cosigns again).
//! 4. Each verified cosignature is added to the checkpoint; the cosigned note is published
//!    to [`CosignedView`] once the quorum holds (or at once, with
//!    [`CoordinatorConfig::publish_without_quorum`]), and re-published as more arrive.
//!
//! Out of scope: persisting per-witness sizes (they are learnt again from 409s), and
//! pushing cosignatures to monitors.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::core::note::{parse_note, Note, NoteSignature, NoteVerifier};
use crate::core::policy::Policy;
use crate::core::witness::{
    parse_cosignatures, parse_size_body, serialize_add_checkpoint, AddCheckpointRequest,
    MAX_RESPONSE_SIZE, MAX_SIZE_BODY, SIZE_CONTENT_TYPE,
};
use crate::log::{Log, SignedCheckpoint};

/// How many 409 answers one submission follows before giving up.
pub const MAX_CONFLICT_RETRIES: usize = 3;
/// Default time a witness has to answer one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on requests in flight at once.
pub const DEFAULT_MAX_PARALLEL: usize = 16;
/// First delay before asking again the witnesses that did not cosign the latest checkpoint.
pub const RETRY_MIN: Duration = Duration::from_millis(200);
/// Longest delay between such retries.
pub const RETRY_MAX: Duration = Duration::from_secs(30);
/// How many recent cosigned checkpoints the view keeps by size (for `?size=N` bundles).
pub const RECENT_COSIGNED: usize = 64;

/// Settings of the coordinator.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// The witnesses (with URLs) and the quorum.
    pub policy: Policy,
    /// Publish each checkpoint with whatever cosignatures it has, before the quorum holds.
    pub publish_without_quorum: bool,
    /// Time a witness has to answer one request.
    pub timeout: Duration,
    /// Most requests in flight at once.
    pub max_parallel: usize,
}

impl CoordinatorConfig {
    /// The defaults for `policy`: publish only with quorum, 10 s timeout, 16 in flight.
    pub fn new(policy: Policy) -> CoordinatorConfig {
        CoordinatorConfig {
            policy,
            publish_without_quorum: false,
            timeout: DEFAULT_TIMEOUT,
            max_parallel: DEFAULT_MAX_PARALLEL,
        }
    }
}

/// Why one witness did not cosign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The witness refused with 400/403/404/422 (or 409 for the size we sent).
    #[error("witness {witness} answered {status}: {message}")]
    Refused {
        /// Policy name.
        witness: String,
        /// HTTP status.
        status: u16,
        /// The answer's first line.
        message: String,
    },
    /// The witness has cosigned a larger tree than this checkpoint.
    #[error("witness {witness} has cosigned size {size}, beyond this checkpoint's {ours}")]
    Ahead {
        /// Policy name.
        witness: String,
        /// Its size.
        size: u64,
        /// Ours.
        ours: u64,
    },
    /// No answer in time, a network error, or an unexpected status.
    #[error("witness {witness}: {message}")]
    Unavailable {
        /// Policy name.
        witness: String,
        /// What happened.
        message: String,
    },
    /// The answer was malformed or its cosignature did not verify.
    #[error("witness {witness} sent a bad answer: {message}")]
    BadAnswer {
        /// Policy name.
        witness: String,
        /// What is wrong.
        message: String,
    },
}

impl SubmitError {
    /// Whether asking again later for the same checkpoint may help.
    pub fn retryable(&self) -> bool {
        matches!(self, SubmitError::Unavailable { .. })
    }
}

/// The cosigned checkpoints the server publishes when witnesses are configured.
#[derive(Debug, Clone)]
pub struct CosignedView {
    rx: watch::Receiver<Option<Arc<SignedCheckpoint>>>,
    recent: Arc<Mutex<VecDeque<Arc<SignedCheckpoint>>>>,
}

impl CosignedView {
    /// The latest published cosigned checkpoint.
    pub fn latest(&self) -> Option<Arc<SignedCheckpoint>> {
        self.rx.borrow().clone()
    }

    /// The cosigned checkpoint of size `tree_size`, if it is among the recent ones.
    pub fn at(&self, tree_size: u64) -> Option<Arc<SignedCheckpoint>> {
        self.recent
            .lock()
            .expect("recent lock")
            .iter()
            .rev()
            .find(|c| c.checkpoint.tree_size == tree_size)
            .cloned()
    }

    /// Waits until a cosigned checkpoint covering `tree_size` leaves is published; `None`
    /// if the coordinator stopped.
    pub async fn wait_for(&self, tree_size: u64) -> Option<Arc<SignedCheckpoint>> {
        let mut rx = self.rx.clone();
        loop {
            if let Some(cp) = rx.borrow_and_update().clone() {
                if cp.checkpoint.tree_size >= tree_size {
                    return Some(cp);
                }
            }
            rx.changed().await.ok()?;
        }
    }
}

/// The publishing end of a [`CosignedView`].
#[derive(Debug)]
struct Publisher {
    tx: watch::Sender<Option<Arc<SignedCheckpoint>>>,
    recent: Arc<Mutex<VecDeque<Arc<SignedCheckpoint>>>>,
}

impl Publisher {
    fn publish(&self, cp: SignedCheckpoint) {
        let cp = Arc::new(cp);
        {
            let mut r = self.recent.lock().expect("recent lock");
            r.retain(|c| c.checkpoint.tree_size != cp.checkpoint.tree_size);
            r.push_back(cp.clone());
            while r.len() > RECENT_COSIGNED {
                r.pop_front();
            }
        }
        // Never move the published checkpoint backwards.
        self.tx.send_if_modified(|cur| match cur {
            Some(c) if c.checkpoint.tree_size > cp.checkpoint.tree_size => false,
            _ => {
                *cur = Some(cp.clone());
                true
            }
        });
    }
}

/// One witness as the coordinator tracks it.
#[derive(Debug, Clone)]
struct Target {
    /// Index in the policy.
    index: usize,
    name: String,
    url: String,
    /// The size this witness last cosigned, as far as we know (0: unknown).
    last_size: u64,
    /// Retryable failures in a row: the witness is asked again only after a backoff that
    /// doubles with each (from [`RETRY_MIN`] to [`RETRY_MAX`]), even as new checkpoints
    /// come, and a failure is logged only when this count reaches a power of two.
    failures: u32,
    /// When it may be asked again (set while failing).
    retry_at: Option<tokio::time::Instant>,
}

impl Target {
    /// Whether it may be asked now.
    fn ready(&self, now: tokio::time::Instant) -> bool {
        self.retry_at.is_none_or(|t| t <= now)
    }

    /// Notes a retryable failure; returns whether to log it.
    fn failed(&mut self, now: tokio::time::Instant) -> bool {
        self.failures = self.failures.saturating_add(1);
        self.retry_at = Some(now + retry_delay(self.failures));
        self.failures.is_power_of_two()
    }

    /// Notes a cosignature; returns the failures it ends.
    fn succeeded(&mut self) -> u32 {
        self.retry_at = None;
        std::mem::take(&mut self.failures)
    }
}

/// The wait after `failures` retryable failures in a row: [`RETRY_MIN`] doubled each time,
/// at most [`RETRY_MAX`].
fn retry_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    RETRY_MIN.saturating_mul(1 << doublings).min(RETRY_MAX)
}

/// Starts the coordinator on the current tokio runtime; returns the view the server reads
/// and the task's handle (it ends when the log closes).
pub fn start(
    log: Log,
    config: CoordinatorConfig,
) -> Result<(CosignedView, tokio::task::JoinHandle<()>), String> {
    let targets: Vec<Target> = config
        .policy
        .witnesses
        .iter()
        .enumerate()
        .filter_map(|(index, w)| {
            w.url.as_ref().map(|u| Target {
                index,
                name: w.display_name(),
                url: u.trim_end_matches('/').to_string(),
                last_size: 0,
                failures: 0,
                retry_at: None,
            })
        })
        .collect();
    let with_all: Vec<usize> = targets.iter().map(|t| t.index).collect();
    if !config.policy.quorum_met_by(&with_all) {
        return Err("the witnesses with a URL in the policy can never satisfy its quorum".into());
    }
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let (tx, rx) = watch::channel(None);
    let recent = Arc::new(Mutex::new(VecDeque::new()));
    let view = CosignedView {
        rx,
        recent: recent.clone(),
    };
    let publisher = Publisher { tx, recent };
    let handle = tokio::spawn(coordinate(log, config, targets, client, publisher));
    Ok((view, handle))
}

/// The state of the round for one checkpoint.
struct Round {
    cp: Arc<SignedCheckpoint>,
    note: Note,
    /// Verified cosignature per target.
    sigs: Vec<Option<NoteSignature>>,
    /// Targets that refused for good (no retry for this checkpoint).
    given_up: Vec<bool>,
}

async fn coordinate(
    log: Log,
    config: CoordinatorConfig,
    mut targets: Vec<Target>,
    client: reqwest::Client,
    publisher: Publisher,
) {
    let config = Arc::new(config);
    let limit = Arc::new(Semaphore::new(config.max_parallel.max(1)));
    let mut rx = log.subscribe();
    let mut round: Option<Round> = None;
    loop {
        let latest = rx.borrow_and_update().checkpoint.clone();
        if let Some(cp) = latest {
            let is_new = round
                .as_ref()
                .is_none_or(|r| r.cp.checkpoint.tree_size != cp.checkpoint.tree_size);
            if is_new {
                match parse_note(&cp.note) {
                    Ok(note) => {
                        round = Some(Round {
                            cp,
                            note,
                            sigs: vec![None; targets.len()],
                            given_up: vec![false; targets.len()],
                        });
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the log's own checkpoint does not parse")
                    }
                }
            }
        }
        // The earliest time a witness still missing may be asked again.
        let retry = match &mut round {
            Some(r) => {
                run_round(&log, &config, &mut targets, &client, &limit, r, &publisher).await;
                (0..targets.len())
                    .filter(|&i| r.sigs[i].is_none() && !r.given_up[i])
                    .map(|i| {
                        targets[i]
                            .retry_at
                            .unwrap_or_else(|| tokio::time::Instant::now() + RETRY_MIN)
                    })
                    .min()
            }
            None => None,
        };
        // Wait for a new checkpoint, or until a missing witness's backoff has passed.
        match retry {
            Some(at) => tokio::select! {
                changed = rx.changed() => if changed.is_err() { break },
                _ = tokio::time::sleep_until(at) => {}
            },
            None => {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        }
    }
    tracing::info!("witness coordinator stopped: the log closed");
}

/// Asks every target still missing for the round's checkpoint, in parallel, and publishes
/// as cosignatures arrive.
async fn run_round(
    log: &Log,
    config: &Arc<CoordinatorConfig>,
    targets: &mut [Target],
    client: &reqwest::Client,
    limit: &Arc<Semaphore>,
    round: &mut Round,
    publisher: &Publisher,
) {
    let mut set = JoinSet::new();
    let now = tokio::time::Instant::now();
    for (i, t) in targets.iter().enumerate() {
        if round.sigs[i].is_some() || round.given_up[i] || !t.ready(now) {
            continue;
        }
        let (t, log, client, limit, cp, config) = (
            t.clone(),
            log.clone(),
            client.clone(),
            limit.clone(),
            round.cp.clone(),
            config.clone(),
        );
        set.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            let verifier = &config.policy.witnesses[t.index].verifier;
            let (size, result) = submit(&client, &t, verifier, &cp, &log).await;
            (i, size, result)
        });
    }
    let mut published_quorum = false;
    while let Some(joined) = set.join_next().await {
        let Ok((i, size, result)) = joined else {
            tracing::error!("a witness request task failed");
            continue;
        };
        let t = &mut targets[i];
        t.last_size = size;
        match result {
            Ok(sig) => {
                let failures = t.succeeded();
                if failures > 0 {
                    tracing::info!(witness = %t.name, failures, "witness cosigns again");
                }
                round.sigs[i] = Some(sig);
            }
            Err(e) => {
                if e.retryable() {
                    if t.failed(tokio::time::Instant::now()) {
                        // Logged at 1, 2, 4, 8, ... failures in a row, not at every one.
                        tracing::warn!(
                            error = %e,
                            failures = t.failures,
                            retry_in_ms = retry_delay(t.failures).as_millis() as u64,
                            "witness did not cosign; will retry"
                        );
                    }
                } else {
                    // Alert: a refusal is either our bug or the witness disagreeing with
                    // the log; a human must look.
                    tracing::error!(alert = true, error = %e, "witness refused the checkpoint");
                    round.given_up[i] = true;
                }
                continue;
            }
        }
        let have = cosigned_indexes(targets, round);
        if config.policy.quorum_met_by(&have) || config.publish_without_quorum {
            publisher.publish(assemble(round));
            published_quorum = true;
        }
    }
    if !published_quorum && config.publish_without_quorum {
        publisher.publish(assemble(round));
    }
}

fn cosigned_indexes(targets: &[Target], round: &Round) -> Vec<usize> {
    targets
        .iter()
        .zip(&round.sigs)
        .filter(|(_, s)| s.is_some())
        .map(|(t, _)| t.index)
        .collect()
}

/// The round's checkpoint with the log's signatures and every cosignature gathered.
fn assemble(round: &Round) -> SignedCheckpoint {
    let mut note = round.note.clone();
    note.signatures.extend(round.sigs.iter().flatten().cloned());
    SignedCheckpoint {
        checkpoint: round.cp.checkpoint.clone(),
        note: note.serialize(),
    }
}

/// Reads at most `limit` bytes of a response body.
async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if out.len() + chunk.len() > limit {
            return Err(format!("answer larger than {limit} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// One witness, one checkpoint: returns the witness's size as now known, and its verified
/// cosignature or why there is none.
async fn submit(
    client: &reqwest::Client,
    t: &Target,
    verifier: &crate::core::cosignature::CosignatureVerifier,
    cp: &SignedCheckpoint,
    log: &Log,
) -> (u64, Result<NoteSignature, SubmitError>) {
    let size = cp.checkpoint.tree_size;
    let mut old = t.last_size;
    let unavailable = |message: String| SubmitError::Unavailable {
        witness: t.name.clone(),
        message,
    };
    let bad = |message: String| SubmitError::BadAnswer {
        witness: t.name.clone(),
        message,
    };
    let text = match parse_note(&cp.note) {
        Ok(n) => n.text,
        Err(e) => return (old, Err(bad(format!("our checkpoint: {e}")))),
    };
    for _ in 0..=MAX_CONFLICT_RETRIES {
        if old > size {
            return (
                old,
                Err(SubmitError::Ahead {
                    witness: t.name.clone(),
                    size: old,
                    ours: size,
                }),
            );
        }
        // The proof is empty from 0 and between equal sizes.
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            let log = log.clone();
            match tokio::task::spawn_blocking(move || log.consistency_proof(old, size)).await {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => return (old, Err(unavailable(format!("consistency proof: {e}")))),
                Err(e) => return (old, Err(unavailable(e.to_string()))),
            }
        };
        let body = serialize_add_checkpoint(&AddCheckpointRequest {
            old_size: old,
            proof,
            checkpoint: cp.note.clone(),
        });
        let resp = match client
            .post(format!("{}/add-checkpoint", t.url))
            .body(body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return (old, Err(unavailable("timed out".into()))),
            Err(e) => return (old, Err(unavailable(e.to_string()))),
        };
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        match status {
            200 => {
                let body = match read_limited(resp, MAX_RESPONSE_SIZE).await {
                    Ok(b) => b,
                    Err(e) => return (old, Err(unavailable(e))),
                };
                let sigs = match parse_cosignatures(&body) {
                    Ok(s) => s,
                    Err(e) => return (old, Err(bad(e.to_string()))),
                };
                // "The client MUST ignore any cosignatures from unknown keys."
                let Some(sig) = sigs
                    .into_iter()
                    .find(|s| &s.name == verifier.name() && s.key_id == verifier.key_id())
                else {
                    return (old, Err(bad("no cosignature from the policy's key".into())));
                };
                if let Err(e) = verifier.verify_cosignature(&text, &sig) {
                    return (old, Err(bad(e.to_string())));
                }
                return (size, Ok(sig));
            }
            409 => {
                let body = match read_limited(resp, MAX_SIZE_BODY).await {
                    Ok(b) => b,
                    Err(e) => return (old, Err(bad(e))),
                };
                if !content_type.starts_with(SIZE_CONTENT_TYPE) {
                    return (
                        old,
                        Err(bad(format!("409 with content type {content_type:?}"))),
                    );
                }
                let theirs = match parse_size_body(&body) {
                    Ok(s) => s,
                    Err(e) => return (old, Err(bad(e.to_string()))),
                };
                if theirs == old {
                    // Same size, different root: the witness saw another tree.
                    return (
                        old,
                        Err(SubmitError::Refused {
                            witness: t.name.clone(),
                            status,
                            message: format!(
                                "conflict at size {old}: the witness cosigned a different root (possible fork)"
                            ),
                        }),
                    );
                }
                tracing::info!(witness = %t.name, ours = old, theirs, "witness is at another size; retrying");
                old = theirs;
            }
            _ => {
                let body = read_limited(resp, 4096).await.unwrap_or_default();
                let message = String::from_utf8_lossy(&body)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                return match status {
                    400 | 403 | 404 | 422 => (
                        old,
                        Err(SubmitError::Refused {
                            witness: t.name.clone(),
                            status,
                            message,
                        }),
                    ),
                    _ => (old, Err(unavailable(format!("HTTP {status}: {message}")))),
                };
            }
        }
    }
    (old, Err(unavailable("too many 409 answers".into())))
}
