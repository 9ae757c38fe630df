//! The kill -9 harness: runs `tlog serve` (a real process on a loopback socket) under
//! concurrent writers, kills it with SIGKILL at random moments, restarts it, and after every
//! restart checks, against the server's own API and files:
//!
//! - every event whose POST was acknowledged (201) is at the same index with the same leaf
//!   hash, the same contents as sent, and the same served JSON bytes as when first seen;
//! - the leaf hashes of the whole log give the root of the latest signed checkpoint;
//! - every checkpoint ever served (polled during the load, or returned by
//!   `wait=checkpoint`) is consistent with the current tree (consistency proof from the
//!   API, verified here), and no two checkpoints of one size have different roots;
//! - the JSONL mirror verifies (`tlog verify-chain --strict` against the latest checkpoint)
//!   and each of its records matches the log's event at that index;
//! - the server accepts appends again (requests that got no answer are retried with the
//!   same `event_id`s, then a probe event).
//!
//! Shared by the `crashloop` example (`tools/crashloop`, the long run) and
//! `tests/crash_server.rs` (a short run in the test suite).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use llm_audit_trail::core::checkpoint::open_checkpoint;
use llm_audit_trail::core::hash::{sha256, Hash};
use llm_audit_trail::core::merkle::Frontier;
use llm_audit_trail::core::note::{parse_verifier_key, Ed25519Verifier};
use llm_audit_trail::core::proof::{verify_consistency, verify_inclusion};
use serde_json::{json, Value};

/// Origin of the log the harness creates.
pub const ORIGIN: &str = "crashloop.test/log";
/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the checks wait for a checkpoint (or the mirror) to catch up with the tree.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// Timeout of one HTTP request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Most problem messages kept for the report.
const MAX_PROBLEMS: usize = 30;
/// Page size of `GET /v1/events` (the server's maximum).
const LIST_PAGE: u64 = 1000;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `tlog` binary.
    pub tlog: PathBuf,
    /// Kills under load (each followed by a restart and the full check).
    pub rounds: u32,
    /// No new round starts after this much time; the run ends with the final check.
    pub time_limit: Duration,
    /// Concurrent writer threads (each with its own connections).
    pub writers: usize,
    /// Seed of the request shapes and kill moments.
    pub seed: u64,
    /// A kill comes 0..=`max_kill_ms` milliseconds after the load starts.
    pub max_kill_ms: u64,
    /// An empty folder: the data folder is `work_dir/data`, the server's stderr is appended
    /// to `work_dir/server.log`.
    pub work_dir: PathBuf,
    /// `tlog serve --checkpoint-interval-ms`.
    pub checkpoint_interval_ms: u64,
}

/// What a run saw.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Kills under load.
    pub rounds: u32,
    /// Extra kills while the server was starting (opening RocksDB, reconciling the mirror).
    pub early_kills: u32,
    /// Distinct events acknowledged with 201.
    pub acknowledged: u64,
    /// Events whose request got no answer (the server was killed) and were retried.
    pub in_doubt: u64,
    /// Of those, events the retry found already in the log (`existing: true`).
    pub landed_unacked: u64,
    /// Distinct checkpoints (sizes) seen.
    pub checkpoints: u64,
    /// Consistency proofs verified.
    pub consistency_proofs: u64,
    /// Tree size at the end.
    pub tree_size: u64,
    /// Acknowledged events missing, moved, or with another leaf hash.
    pub lost: u64,
    /// Sizes with two different signed roots.
    pub forks: u64,
    /// Any other failed check (contents, bytes, mirror, consistency, refused appends).
    pub mismatches: u64,
    /// The first problems, in words.
    pub problems: Vec<String>,
    /// The seed used.
    pub seed: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Whether the time limit ended the run before `rounds`.
    pub stopped_by_time: bool,
}

impl Summary {
    /// No loss, no fork, no mismatch.
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.forks == 0 && self.mismatches == 0
    }

    /// The one-line summary.
    pub fn line(&self) -> String {
        format!(
            "rounds={} early_kills={} acknowledged={} in_doubt={} landed_unacked={} checkpoints={} consistency_proofs={} tree_size={} lost={} forks={} mismatches={} seed={} elapsed={:.1}s{}",
            self.rounds,
            self.early_kills,
            self.acknowledged,
            self.in_doubt,
            self.landed_unacked,
            self.checkpoints,
            self.consistency_proofs,
            self.tree_size,
            self.lost,
            self.forks,
            self.mismatches,
            self.seed,
            self.elapsed.as_secs_f64(),
            if self.stopped_by_time { " (time limit)" } else { "" }
        )
    }

    fn problem(&mut self, kind: Problem, msg: String) {
        match kind {
            Problem::Lost => self.lost += 1,
            Problem::Fork => self.forks += 1,
            Problem::Mismatch => self.mismatches += 1,
        }
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(msg);
        }
    }
}

#[derive(Clone, Copy)]
enum Problem {
    Lost,
    Fork,
    Mismatch,
}

/// SplitMix64: a small deterministic generator (no RNG crate's stream to depend on).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Canonical JSON text (object keys sorted, recursively) so that values that are equal as
/// JSON compare equal as strings, whatever key order a producer used.
fn canon(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canon(&m[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canon).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// The fields a writer chooses, as a digest: what the log must give back unchanged.
/// `with_timestamp`: the writer chose the timestamp too.
fn content_digest(ev: &Value, with_timestamp: bool) -> [u8; 32] {
    let f = |k: &str| ev.get(k).cloned().unwrap_or(Value::Null);
    let v = json!([
        f("event_id"),
        f("event_type"),
        f("system"),
        f("model_id"),
        f("dataset_id"),
        f("deployment_id"),
        f("actor"),
        f("details"),
        if with_timestamp {
            f("timestamp")
        } else {
            Value::Null
        },
    ]);
    sha256(canon(&v).as_bytes())
}

/// The fields a mirror record shares with the log's event, as a digest.
fn mirror_digest(ev: &Value) -> [u8; 32] {
    let f = |k: &str| ev.get(k).cloned().unwrap_or(Value::Null);
    let v = json!([
        f("event_id"),
        f("timestamp"),
        f("event_type"),
        f("actor"),
        f("system"),
        f("model_id"),
        f("dataset_id"),
        f("deployment_id"),
        f("details"),
        f("leaf_hash"),
    ]);
    sha256(canon(&v).as_bytes())
}

/// One event a writer sent: its id and content digest.
#[derive(Clone)]
struct SentEvent {
    event_id: String,
    content: [u8; 32],
    with_timestamp: bool,
}

/// One POST body and its events.
#[derive(Clone)]
struct Req {
    body: String,
    array: bool,
    wait: bool,
    events: Vec<SentEvent>,
}

/// An acknowledgement: index, leaf hash, and what was sent.
struct AckMsg {
    index: u64,
    leaf_hash: String,
    existing: bool,
    sent: SentEvent,
}

/// What the checks remember about an acknowledged event.
struct Ack {
    event_id: String,
    leaf_hash: String,
    content: [u8; 32],
    with_timestamp: bool,
    /// SHA-256 of the served JSON of the event, the first time the checks saw it.
    served: Option<[u8; 32]>,
}

/// What the load threads report back.
#[derive(Default)]
struct Shared {
    acks: Vec<AckMsg>,
    in_doubt: Vec<Req>,
    notes: Vec<Vec<u8>>,
    problems: Vec<String>,
}

const EVENT_TYPES: [&str; 6] = [
    "EpochEnd",
    "Evaluation",
    "Checkpoint",
    "InferenceRequest",
    "Approval",
    "DatasetRegistered",
];

fn random_text(rng: &mut Rng, max: u64) -> String {
    const PIECES: [&str; 12] = [
        "a", "loss", " ", "é", "Ω", "🙂", "\"", "\\", "\n", "\t", "\u{7f}", "x",
    ];
    let n = rng.below(max + 1);
    (0..n)
        .map(|_| PIECES[rng.below(PIECES.len() as u64) as usize])
        .collect()
}

fn make_event(rng: &mut Rng, id: String, writer: usize) -> (Value, SentEvent) {
    let mut ev = serde_json::Map::new();
    ev.insert("event_id".into(), json!(id));
    ev.insert(
        "event_type".into(),
        json!(EVENT_TYPES[rng.below(EVENT_TYPES.len() as u64) as usize]),
    );
    ev.insert("system".into(), json!("crashloop"));
    ev.insert("model_id".into(), json!(format!("m{}", writer % 3)));
    if rng.below(4) == 0 {
        ev.insert("dataset_id".into(), json!(format!("d{}", rng.below(5))));
    }
    if rng.below(8) == 0 {
        ev.insert("deployment_id".into(), json!("prod"));
    }
    if rng.below(3) == 0 {
        // Header-like fields refuse control characters (spec/entry.md).
        let actor: String = random_text(rng, 12)
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        ev.insert("actor".into(), json!(format!("actor-{actor}")));
    }
    let with_timestamp = rng.below(4) == 0;
    if with_timestamp {
        ev.insert(
            "timestamp".into(),
            json!(format!(
                "2026-01-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.below(1_000_000)
            )),
        );
    }
    let big = if rng.below(20) == 0 { 3000 } else { 40 };
    ev.insert(
        "details".into(),
        json!({
            "w": writer,
            "n": rng.below(1 << 40),
            "loss": (rng.below(1_000_000) as f64) / 1024.0 + 0.5,
            "neg": -(rng.below(1000) as i64),
            "ok": rng.below(2) == 0,
            "none": null,
            "tags": [random_text(rng, 6), 1.5e-7, [], {}],
            "text": random_text(rng, big),
        }),
    );
    let v = Value::Object(ev);
    let sent = SentEvent {
        event_id: id,
        content: content_digest(&v, with_timestamp),
        with_timestamp,
    };
    (v, sent)
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client")
}

/// A running `tlog serve` (killed when dropped).
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Server {
    /// Spawns `tlog serve` on a free loopback port; does not wait for it.
    fn spawn(opts: &Options) -> Result<Child, String> {
        let data = opts.work_dir.join("data");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(opts.work_dir.join("server.log"))
            .map_err(|e| format!("server.log: {e}"))?;
        Command::new(&opts.tlog)
            .arg("serve")
            .arg("--dir")
            .arg(&data)
            .args(["--listen", "127.0.0.1:0", "--origin", ORIGIN])
            .args([
                "--checkpoint-interval-ms",
                &opts.checkpoint_interval_ms.to_string(),
            ])
            .args(["--rate-limit-per-sec", "1000000000"])
            .env_remove("AUDIT_LOG_PATH")
            .env_remove("TLOG_CONFIG")
            .env_remove("TLOG_WITNESS_POLICY")
            .env("TLOG_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", opts.tlog.display()))
    }

    /// Spawns `tlog serve` and waits until it listens.
    pub fn start(opts: &Options) -> Result<Server, String> {
        let mut child = Self::spawn(opts)?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
                    let _ = tx.send(url.trim_end_matches('/').to_string());
                }
                line.clear();
            }
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => Ok(Server { child, url }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                Err(format!(
                    "tlog serve did not start listening within {START_TIMEOUT:?} (exit: {status:?}; see server.log)"
                ))
            }
        }
    }

    /// SIGKILL and reap.
    pub fn kill(self) {
        // Drop does it.
    }

    /// SIGTERM (graceful: final checkpoint, mirror caught up) and reap.
    fn terminate(mut self) -> Result<(), String> {
        let pid = self.child.id().to_string();
        let st = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .map_err(|e| format!("kill -TERM: {e}"))?;
        if !st.success() {
            return Err("kill -TERM failed".into());
        }
        let deadline = Instant::now() + CATCH_UP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!("tlog serve exited with {status} after SIGTERM"))
                };
            }
            if Instant::now() > deadline {
                self.kill();
                return Err("tlog serve did not exit after SIGTERM".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A no-op for a child already reaped: std never signals a reaped pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The harness's view of the log.
pub struct Harness {
    opts: Options,
    token: String,
    verifier: Ed25519Verifier,
    http: reqwest::blocking::Client,
    acked: BTreeMap<u64, Ack>,
    by_id: HashMap<String, u64>,
    /// size → root of every checkpoint seen (the first root seen for that size).
    checkpoints: BTreeMap<u64, Hash>,
    in_doubt: Vec<Req>,
    summary: Summary,
    rng: Rng,
    next_req: u64,
}

impl Harness {
    /// Starts the first server (it creates the data folder, key and writer token) and
    /// returns the harness with it.
    pub fn start(opts: Options) -> Result<(Harness, Server), String> {
        let data = opts.work_dir.join("data");
        let server = Server::start(&opts)?;
        let token = read_trimmed(&data.join("default.token"))?;
        let verifier = parse_verifier_key(&read_trimmed(&data.join("log.vkey"))?)
            .map_err(|e| format!("log.vkey: {e}"))?;
        let h = Harness {
            rng: Rng::new(opts.seed),
            summary: Summary {
                seed: opts.seed,
                ..Summary::default()
            },
            opts,
            token,
            verifier,
            http: client(),
            acked: BTreeMap::new(),
            by_id: HashMap::new(),
            checkpoints: BTreeMap::new(),
            in_doubt: Vec::new(),
            next_req: 0,
        };
        Ok((h, server))
    }

    /// What the checks found so far.
    pub fn summary(&self) -> Summary {
        let mut s = self.summary.clone();
        s.acknowledged = self.acked.len() as u64;
        s.checkpoints = self.checkpoints.len() as u64;
        s
    }
}

/// Runs the harness. `Err` means the harness itself could not run (e.g. the server did not
/// start); findings about the log are in the [`Summary`].
pub fn run(opts: Options, progress: &mut dyn FnMut(&str)) -> Result<Summary, String> {
    let started = Instant::now();
    let (mut h, first) = Harness::start(opts)?;
    let mut server = Some(first);
    let mut round = 0u32;
    loop {
        let s = server.take().expect("a running server");
        // After a restart: retry what got no answer, append a probe, check everything.
        h.after_restart(&s.url, round);
        h.check(&s.url, round)?;
        let now = h.summary();
        progress(&format!(
            "round {round}: tree_size={} acknowledged={} checkpoints={} lost={} forks={} mismatches={}",
            now.tree_size, now.acknowledged, now.checkpoints, now.lost, now.forks, now.mismatches
        ));
        if round >= h.opts.rounds {
            server = Some(s);
            break;
        }
        if started.elapsed() >= h.opts.time_limit {
            h.summary.stopped_by_time = true;
            server = Some(s);
            break;
        }
        h.load_and_kill(s, round);
        round += 1;
        h.summary.rounds = round;
        // Sometimes kill the restarted server again while it opens the store and
        // reconciles the mirror.
        if h.rng.below(6) == 0 {
            let mut child = Server::spawn(&h.opts)?;
            std::thread::sleep(Duration::from_millis(h.rng.below(150)));
            let _ = child.kill();
            let _ = child.wait();
            h.summary.early_kills += 1;
        }
        server = Some(Server::start(&h.opts)?);
    }
    // The end: a graceful stop, then the offline checks on the folder.
    let s = server.expect("a running server");
    if let Err(e) = s.terminate() {
        h.summary
            .problem(Problem::Mismatch, format!("shutdown: {e}"));
    }
    h.offline_checks();
    let mut summary = h.summary();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn read_trimmed(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("{}: {e}", p.display()))
}

/// Posts `req`; returns the acknowledgements, or `None` when there was no usable answer.
fn post(
    http: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    req: &Req,
    verifier: &Ed25519Verifier,
    notes: &mut Vec<Vec<u8>>,
) -> Result<Vec<AckMsg>, PostError> {
    let mut u = format!("{url}/v1/events");
    if req.wait {
        u.push_str("?wait=checkpoint");
    }
    let resp = http
        .post(&u)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(req.body.clone())
        .send()
        .map_err(|e| PostError::NoAnswer(e.to_string()))?;
    let status = resp.status().as_u16();
    let text = resp
        .text()
        .map_err(|e| PostError::NoAnswer(e.to_string()))?;
    if status == 503 {
        return Err(PostError::NoAnswer(format!("503 {text}")));
    }
    if status != 201 {
        return Err(PostError::Refused(format!("{status} {text}")));
    }
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| PostError::Refused(format!("201 with a body that is not JSON: {e}")))?;
    let results: Vec<Value> = if req.array {
        v["results"].as_array().cloned().unwrap_or_default()
    } else {
        vec![v.clone()]
    };
    if results.len() != req.events.len() {
        return Err(PostError::Refused(format!(
            "201 with {} results for {} events",
            results.len(),
            req.events.len()
        )));
    }
    // wait=checkpoint: verify the checkpoint and every inclusion proof against it.
    let checkpoint = match v.get("checkpoint").and_then(Value::as_str) {
        Some(note) => {
            let cp = open_checkpoint(note.as_bytes(), verifier)
                .map_err(|e| PostError::Refused(format!("checkpoint in the answer: {e}")))?;
            notes.push(note.as_bytes().to_vec());
            Some(cp.checkpoint)
        }
        None if req.wait => {
            return Err(PostError::Refused(
                "wait=checkpoint answered without a checkpoint".into(),
            ))
        }
        None => None,
    };
    let mut acks = Vec::new();
    for (r, sent) in results.iter().zip(&req.events) {
        let index = r["index"].as_u64().ok_or_else(|| {
            PostError::Refused(format!("event {} not acknowledged: {r}", sent.event_id))
        })?;
        if r["event_id"].as_str() != Some(sent.event_id.as_str()) {
            return Err(PostError::Refused(format!(
                "acknowledged {r} for event {}",
                sent.event_id
            )));
        }
        let leaf_hash = r["leaf_hash"].as_str().unwrap_or_default().to_string();
        if let Some(cp) = &checkpoint {
            let proof = b64_hashes(&r["inclusion_proof"]);
            let leaf = Hash::from_hex(&leaf_hash);
            let ok = match (proof, leaf) {
                (Some(p), Some(l)) => {
                    r["tree_size"].as_u64() == Some(cp.tree_size)
                        && verify_inclusion(index, cp.tree_size, &l, &p, &cp.root_hash).is_ok()
                }
                _ => false,
            };
            if !ok {
                return Err(PostError::Refused(format!(
                    "event {} at {index}: the inclusion proof in the answer does not verify",
                    sent.event_id
                )));
            }
        }
        acks.push(AckMsg {
            index,
            leaf_hash,
            existing: r["existing"].as_bool().unwrap_or(false),
            sent: sent.clone(),
        });
    }
    Ok(acks)
}

enum PostError {
    /// No answer, or 503: the events may or may not be in the log.
    NoAnswer(String),
    /// An answer that is wrong for a valid, idempotent request.
    Refused(String),
}

fn b64_hashes(v: &Value) -> Option<Vec<Hash>> {
    v.as_array()?
        .iter()
        .map(|h| {
            let b = B64.decode(h.as_str()?).ok()?;
            Hash::from_slice(&b)
        })
        .collect()
}

impl Harness {
    fn problem(&mut self, kind: Problem, msg: String) {
        self.summary.problem(kind, msg);
    }

    fn new_req(&mut self, writer: usize, round: u32, rng: &mut Rng) -> Req {
        self.next_req += 1;
        make_req(rng, writer, round, self.next_req)
    }

    /// Test hook: pretend `event_id` was acknowledged at `index` with `leaf_hash`.
    /// (Used by `tests/crash_server.rs`; unused when the example itself is built as a test.)
    #[cfg(test)]
    #[allow(dead_code)]
    pub fn forge_ack(&mut self, index: u64, event_id: &str, leaf_hash: &str) {
        self.acked.insert(
            index,
            Ack {
                event_id: event_id.into(),
                leaf_hash: leaf_hash.into(),
                content: [0; 32],
                with_timestamp: false,
                served: None,
            },
        );
    }

    /// Test hook: as if the server had served this signed checkpoint note.
    #[cfg(test)]
    #[allow(dead_code)]
    pub fn forge_served_note(&mut self, note: &[u8]) {
        self.saw_note(note);
    }

    /// Records acknowledgements; an event acknowledged twice must keep its index.
    fn record(&mut self, acks: Vec<AckMsg>, retried: bool) {
        for a in acks {
            if retried {
                self.summary.in_doubt += 1;
                if a.existing {
                    self.summary.landed_unacked += 1;
                }
            }
            if let Some(&i) = self.by_id.get(&a.sent.event_id) {
                if i != a.index {
                    self.problem(
                        Problem::Lost,
                        format!(
                            "event {} acknowledged at {i}, then at {}",
                            a.sent.event_id, a.index
                        ),
                    );
                }
                continue;
            }
            if let Some(other) = self.acked.get(&a.index) {
                let msg = format!(
                    "index {} acknowledged for {} and for {}",
                    a.index, other.event_id, a.sent.event_id
                );
                self.problem(Problem::Lost, msg);
                continue;
            }
            self.by_id.insert(a.sent.event_id.clone(), a.index);
            self.acked.insert(
                a.index,
                Ack {
                    event_id: a.sent.event_id,
                    leaf_hash: a.leaf_hash,
                    content: a.sent.content,
                    with_timestamp: a.sent.with_timestamp,
                    served: None,
                },
            );
        }
    }

    /// Adds a signed checkpoint to the ones seen; counts a fork if its size already had
    /// another root.
    fn saw_note(&mut self, note: &[u8]) {
        match open_checkpoint(note, &self.verifier) {
            Ok(cp) => {
                let c = cp.checkpoint;
                match self.checkpoints.get(&c.tree_size) {
                    Some(root) if *root != c.root_hash => {
                        let msg = format!(
                            "fork: two checkpoints of size {} with roots {} and {}",
                            c.tree_size,
                            root.to_hex(),
                            c.root_hash.to_hex()
                        );
                        self.problem(Problem::Fork, msg);
                    }
                    Some(_) => {}
                    None => {
                        self.checkpoints.insert(c.tree_size, c.root_hash);
                    }
                }
            }
            Err(e) => self.problem(
                Problem::Mismatch,
                format!("a served checkpoint does not verify: {e}"),
            ),
        }
    }

    /// Retries every request that got no answer (same bodies, so the same event ids), then
    /// appends a probe: the restarted server must accept appends.
    pub fn after_restart(&mut self, url: &str, round: u32) {
        let reqs = std::mem::take(&mut self.in_doubt);
        let mut notes = Vec::new();
        for req in reqs {
            match post(
                &self.http,
                url,
                &self.token,
                &req,
                &self.verifier,
                &mut notes,
            ) {
                Ok(acks) => self.record(acks, true),
                Err(PostError::NoAnswer(e)) | Err(PostError::Refused(e)) => self.problem(
                    Problem::Mismatch,
                    format!("round {round}: retry after restart refused: {e}"),
                ),
            }
        }
        let mut rng = Rng::new(self.opts.seed ^ 0x70_726f_6265 ^ u64::from(round));
        let probe = self.new_req(usize::MAX, round, &mut rng);
        match post(
            &self.http,
            url,
            &self.token,
            &probe,
            &self.verifier,
            &mut notes,
        ) {
            Ok(acks) => {
                if acks.iter().any(|a| a.existing) {
                    self.problem(
                        Problem::Mismatch,
                        format!("round {round}: a new probe event was reported existing"),
                    );
                }
                self.record(acks, false);
            }
            Err(PostError::NoAnswer(e)) | Err(PostError::Refused(e)) => self.problem(
                Problem::Mismatch,
                format!("round {round}: the restarted server refuses appends: {e}"),
            ),
        }
        for n in notes {
            self.saw_note(&n);
        }
    }

    /// Runs the writers and the checkpoint poller, kills the server at a random moment,
    /// and collects what was acknowledged and what got no answer.
    fn load_and_kill(&mut self, server: Server, round: u32) {
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let mut threads = Vec::new();
        for w in 0..self.opts.writers {
            let (stop, shared) = (stop.clone(), shared.clone());
            let (url, token, verifier) = (
                server.url.clone(),
                self.token.clone(),
                self.verifier.clone(),
            );
            let mut rng = Rng::new(self.rng.next_u64());
            let base = self.next_req;
            self.next_req += 1 << 32;
            threads.push(std::thread::spawn(move || {
                let http = client();
                let mut n = base;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let req = make_req(&mut rng, w, round, n);
                    let mut notes = Vec::new();
                    let r = post(&http, &url, &token, &req, &verifier, &mut notes);
                    let mut sh = shared.lock().expect("shared state");
                    sh.notes.extend(notes);
                    match r {
                        Ok(acks) => sh.acks.extend(acks),
                        Err(PostError::NoAnswer(_)) => sh.in_doubt.push(req),
                        Err(PostError::Refused(e)) => {
                            sh.problems.push(format!("writer {w}: {e}"));
                            sh.in_doubt.push(req);
                        }
                    }
                }
            }));
        }
        // The poller: every checkpoint the server publishes while under load.
        {
            let (stop, shared, url) = (stop.clone(), shared.clone(), server.url.clone());
            threads.push(std::thread::spawn(move || {
                let http = client();
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(r) = http.get(format!("{url}/checkpoint")).send() {
                        if r.status().as_u16() == 200 {
                            if let Ok(b) = r.bytes() {
                                shared.lock().expect("shared state").notes.push(b.to_vec());
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(
            self.rng.below(self.opts.max_kill_ms + 1),
        ));
        // Stop first, then kill: a writer that sees `stop` sends nothing more, and every
        // request in flight at the kill is in doubt.
        stop.store(true, Ordering::SeqCst);
        server.kill();
        for t in threads {
            let _ = t.join();
        }
        let sh = std::mem::take(&mut *shared.lock().expect("shared state"));
        self.record(sh.acks, false);
        self.in_doubt.extend(sh.in_doubt);
        for n in sh.notes {
            self.saw_note(&n);
        }
        for p in sh.problems {
            self.problem(Problem::Mismatch, format!("round {round}: {p}"));
        }
    }

    fn get_json(&mut self, url: &str) -> Result<Value, String> {
        let r = self
            .http
            .get(url)
            .send()
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = r.status().as_u16();
        let text = r.text().map_err(|e| format!("GET {url}: {e}"))?;
        if status != 200 {
            return Err(format!("GET {url}: {status} {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("GET {url}: not JSON: {e}"))
    }

    /// Waits for the latest checkpoint to cover the whole tree (the load has stopped, so
    /// the timer signs one within the interval) and returns it.
    fn settled_checkpoint(&mut self, url: &str) -> Result<(u64, Hash, Vec<u8>), String> {
        let deadline = Instant::now() + CATCH_UP_TIMEOUT;
        loop {
            let v = self.get_json(&format!("{url}/v1/checkpoint"))?;
            let note = v["note"].as_str().unwrap_or_default().as_bytes().to_vec();
            let cp = open_checkpoint(&note, &self.verifier)
                .map_err(|e| format!("/v1/checkpoint does not verify: {e}"))?
                .checkpoint;
            if Some(cp.tree_size) == v["log_size"].as_u64() {
                return Ok((cp.tree_size, cp.root_hash, note));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no checkpoint covering the tree ({}) within {CATCH_UP_TIMEOUT:?}",
                    v["log_size"]
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every check, with the server up and no load.
    pub fn check(&mut self, url: &str, round: u32) -> Result<(), String> {
        let (size, root, note) = self.settled_checkpoint(url)?;
        self.saw_note(&note);
        self.summary.tree_size = size;

        // 1. Every event, page by page: the leaf hashes give the checkpoint's root, and each
        //    acknowledged event is where it was, with what was sent and the same bytes.
        let mut frontier = Frontier::new();
        let mut out = Vec::new();
        let mut mirror_digests: Vec<[u8; 32]> = Vec::with_capacity(size as usize);
        let mut after: Option<u64> = None;
        while frontier.size() < size {
            let page = match after {
                None => format!("{url}/v1/events?limit={LIST_PAGE}"),
                Some(a) => format!("{url}/v1/events?limit={LIST_PAGE}&after={a}"),
            };
            let v = self.get_json(&page)?;
            let events = v["events"].as_array().cloned().unwrap_or_default();
            if events.is_empty() {
                break;
            }
            for ev in events {
                let i = frontier.size();
                if ev["index"].as_u64() != Some(i) {
                    self.problem(
                        Problem::Mismatch,
                        format!("round {round}: listing gave index {} at {i}", ev["index"]),
                    );
                    return Ok(());
                }
                let leaf = ev["leaf_hash"].as_str().and_then(Hash::from_hex);
                let Some(leaf) = leaf else {
                    self.problem(
                        Problem::Mismatch,
                        format!("round {round}: event {i} has no leaf hash"),
                    );
                    return Ok(());
                };
                out.clear();
                frontier.append(leaf, &mut out);
                mirror_digests.push(mirror_digest(&ev));
                self.check_event(i, &ev, round);
                if i + 1 == size {
                    break;
                }
            }
            after = Some(frontier.size() - 1);
        }
        if frontier.size() != size {
            self.problem(
                Problem::Lost,
                format!(
                    "round {round}: the listing has {} events, the checkpoint {size}",
                    frontier.size()
                ),
            );
        } else if frontier.root() != root {
            self.problem(
                Problem::Mismatch,
                format!("round {round}: the events' leaf hashes do not give the checkpoint root at size {size}"),
            );
        }
        let beyond: Vec<(u64, String)> = self
            .acked
            .range(size..)
            .map(|(i, a)| (*i, a.event_id.clone()))
            .collect();
        for (i, id) in beyond {
            self.problem(
                Problem::Lost,
                format!(
                    "round {round}: acknowledged event {id} at {i} is beyond the tree ({size})"
                ),
            );
        }

        // 1b. Lookups: the newest acknowledged events (whose lookup keys a kill may have
        //     left only in the dead server's memory) and a sample of older ones are found by
        //     event id and by leaf hash. (Events beyond the tree are reported as lost above.)
        let probes: Vec<(u64, String, String)> = self
            .acked
            .range(..size)
            .rev()
            .enumerate()
            .filter(|(k, _)| *k < 64 || k % 211 == 0)
            .map(|(_, (i, a))| (*i, a.event_id.clone(), a.leaf_hash.clone()))
            .collect();
        for (i, id, leaf) in probes {
            for (how, path) in [
                ("event id", format!("{url}/v1/events/{id}")),
                (
                    "leaf hash",
                    format!("{url}/v1/proof/inclusion?leaf_hash={leaf}"),
                ),
            ] {
                let found = self.get_json(&path).map(|v| {
                    v.get("index")
                        .or_else(|| v.get("leaf_index"))
                        .and_then(Value::as_u64)
                });
                if !matches!(found, Ok(Some(f)) if f == i) {
                    self.problem(
                        Problem::Mismatch,
                        format!("round {round}: acknowledged event {id} at {i} not found by {how}: {found:?}"),
                    );
                }
            }
        }

        // 2. Every checkpoint ever seen is consistent with the current one.
        let seen: Vec<(u64, Hash)> = self.checkpoints.iter().map(|(s, r)| (*s, *r)).collect();
        for (old, old_root) in seen {
            if old == 0 {
                continue;
            }
            if old > size {
                self.problem(
                    Problem::Lost,
                    format!("round {round}: a checkpoint of size {old} was served, the tree now has {size}"),
                );
                continue;
            }
            if old == size {
                if old_root != root {
                    self.problem(
                        Problem::Fork,
                        format!("round {round}: two roots for size {size}"),
                    );
                }
                continue;
            }
            let v = self.get_json(&format!("{url}/v1/proof/consistency?from={old}&to={size}"))?;
            let proof = b64_hashes(&v["consistency_proof"]).unwrap_or_default();
            let ok = v["tree_size"].as_u64() == Some(size)
                && verify_consistency(old, size, &old_root, &root, &proof).is_ok();
            self.summary.consistency_proofs += 1;
            if !ok {
                self.problem(
                    Problem::Fork,
                    format!("round {round}: checkpoint of size {old} is not consistent with size {size}"),
                );
            }
        }

        // 3. The mirror catches up, verifies against the checkpoint, and matches the log.
        self.check_mirror(size, &note, &mirror_digests, round)
    }

    fn check_event(&mut self, i: u64, ev: &Value, round: u32) {
        let Some(a) = self.acked.get_mut(&i) else {
            return;
        };
        let mut problems = Vec::new();
        if ev["event_id"].as_str() != Some(a.event_id.as_str())
            || ev["leaf_hash"].as_str() != Some(a.leaf_hash.as_str())
        {
            problems.push((
                Problem::Lost,
                format!(
                    "round {round}: acknowledged event {} (leaf {}) at {i} is now {} (leaf {})",
                    a.event_id, a.leaf_hash, ev["event_id"], ev["leaf_hash"]
                ),
            ));
        } else {
            if content_digest(ev, a.with_timestamp) != a.content {
                problems.push((
                    Problem::Mismatch,
                    format!(
                        "round {round}: event {i} ({}) differs from what was sent: {ev}",
                        a.event_id
                    ),
                ));
            }
            let served = sha256(ev.to_string().as_bytes());
            match a.served {
                None => a.served = Some(served),
                Some(s) if s != served => problems.push((
                    Problem::Mismatch,
                    format!(
                        "round {round}: event {i} is served with other bytes than before: {ev}"
                    ),
                )),
                Some(_) => {}
            }
        }
        for (k, m) in problems {
            self.problem(k, m);
        }
    }

    fn check_mirror(
        &mut self,
        size: u64,
        note: &[u8],
        digests: &[[u8; 32]],
        round: u32,
    ) -> Result<(), String> {
        let data = self.opts.work_dir.join("data");
        let mirror = data.join("audit_trail.jsonl");
        // The mirror follows the log asynchronously: wait for it (bounded).
        let deadline = Instant::now() + CATCH_UP_TIMEOUT;
        let text = loop {
            let mut t = String::new();
            if let Ok(mut f) = std::fs::File::open(&mirror) {
                f.read_to_string(&mut t)
                    .map_err(|e| format!("reading the mirror: {e}"))?;
            }
            let lines = t.bytes().filter(|b| *b == b'\n').count() as u64;
            if lines == size && t.ends_with('\n') || size == 0 && t.is_empty() {
                break t;
            }
            if lines > size {
                self.problem(
                    Problem::Mismatch,
                    format!("round {round}: the mirror has {lines} records, the log {size}"),
                );
                return Ok(());
            }
            if Instant::now() > deadline {
                self.problem(
                    Problem::Mismatch,
                    format!("round {round}: the mirror has {lines} of {size} records after {CATCH_UP_TIMEOUT:?}"),
                );
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let cp_path = self.opts.work_dir.join("checkpoint.txt");
        std::fs::write(&cp_path, note).map_err(|e| format!("{}: {e}", cp_path.display()))?;
        let o = Command::new(&self.opts.tlog)
            .arg("verify-chain")
            .arg(&mirror)
            .arg("--checkpoint")
            .arg(&cp_path)
            .arg("--key-file")
            .arg(data.join("log.vkey"))
            .arg("--strict")
            .output()
            .map_err(|e| format!("tlog verify-chain: {e}"))?;
        if !o.status.success() {
            self.problem(
                Problem::Mismatch,
                format!(
                    "round {round}: tlog verify-chain: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
            );
        }
        for (i, line) in text.lines().enumerate() {
            let rec: Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    self.problem(
                        Problem::Mismatch,
                        format!("round {round}: mirror line {i}: {e}"),
                    );
                    return Ok(());
                }
            };
            if rec["seq"].as_u64() != Some(i as u64)
                || digests.get(i).copied() != Some(mirror_digest(&rec))
            {
                self.problem(
                    Problem::Mismatch,
                    format!(
                        "round {round}: mirror record {i} does not match the log's event: {line}"
                    ),
                );
                return Ok(());
            }
        }
        Ok(())
    }

    /// After the graceful stop: `tlog fsck` re-verifies the whole folder offline.
    fn offline_checks(&mut self) {
        let data = self.opts.work_dir.join("data");
        match Command::new(&self.opts.tlog)
            .arg("fsck")
            .arg("--dir")
            .arg(&data)
            .env_remove("AUDIT_LOG_PATH")
            .output()
        {
            Ok(o) if o.status.success() => {}
            Ok(o) => self.problem(
                Problem::Mismatch,
                format!("tlog fsck: {}", String::from_utf8_lossy(&o.stderr).trim()),
            ),
            Err(e) => self.problem(Problem::Mismatch, format!("tlog fsck: {e}")),
        }
    }
}

/// A request of 1 to 8 events from writer `writer` (`usize::MAX`: the probe).
fn make_req(rng: &mut Rng, writer: usize, round: u32, n: u64) -> Req {
    let count = if writer == usize::MAX || rng.below(5) < 3 {
        1
    } else {
        2 + rng.below(7) as usize
    };
    let who = if writer == usize::MAX {
        "probe".to_string()
    } else {
        format!("w{writer}")
    };
    let mut values = Vec::with_capacity(count);
    let mut events = Vec::with_capacity(count);
    for k in 0..count {
        let (v, s) = make_event(rng, format!("cl-{who}-r{round}-{n}-{k}"), writer % 1000);
        values.push(v);
        events.push(s);
    }
    let array = count > 1 || rng.below(10) == 0;
    let body = if array {
        Value::Array(values).to_string()
    } else {
        values.pop().expect("one event").to_string()
    };
    Req {
        body,
        array,
        wait: writer != usize::MAX && rng.below(10) == 0,
        events,
    }
}
