//! The witness: a durable record of the logs it follows and an HTTP server that cosigns
//! their consistent checkpoints.
//!
//! Implements the witness side of C2SP `tlog-witness` v1.0.0
//! (<https://c2sp.org/tlog-witness@v1.0.0>) with Ed25519 `cosignature/v1` cosignatures
//! (C2SP `tlog-cosignature` v1.0.1):
//!
//! - `POST <prefix>/add-checkpoint`: the checks of [`crate::core::witness::decide`] (404,
//!   403, 400, 409 with a `text/x.tlog.size` body, 422), then a cosignature over our
//!   re-encoding of the parsed checkpoint, persisted before the 200 answer. Checking the old
//!   size and storing the new one happen under one lock ("MUST be performed atomically").
//! - `GET <prefix>/<hex SHA-256(origin)>/checkpoint`: the latest cosigned checkpoint, with
//!   the log's signature and ours, for monitors (the spec's retrieval mechanism is "TBD";
//!   this is ours, documented in `spec/witness.md`).
//!
//! The witness folder holds `witness.key` (the Ed25519 seed, mode 0600, never printed),
//! `witness.vkey` (the cosignature verifier key, type 0x04), `logs.json` (per origin: the
//! trusted log keys, the last cosigned size, root and note) and `lock` (held by the running
//! server so that `tlog witness add-log` cannot race it).
//!
//! Submodule [`client`] is the other side: the log's coordinator that asks witnesses for
//! cosignatures.
//!
//! Out of scope: bastions, ML-DSA-44 cosignatures, and keys in an agent or HSM.

pub mod client;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use tokio::net::TcpListener;

use crate::core::cosignature::CosignatureSigner;
use crate::core::hash::{hex_encode, sha256, Hash};
use crate::core::note::{
    parse_verifier_key, Ed25519Verifier, Note, NoteSignature, NoteVerifier, SIG_TYPE_COSIGNATURE_V1,
};
use crate::core::witness::{
    decide, parse_submission, serialize_cosignatures, serialize_size_body, LogRecord, Refusal,
    MAX_REQUEST_SIZE, SIZE_CONTENT_TYPE,
};
use crate::server::limits::Limits;

/// File name of the witness's private key (mode 0600).
pub const KEY_FILE: &str = "witness.key";
/// File name of the witness's cosignature verifier key.
pub const VKEY_FILE: &str = "witness.vkey";
/// File name of the state: the logs and what was last cosigned for each.
pub const STATE_FILE: &str = "logs.json";
/// File name of the lock the running server holds.
pub const LOCK_FILE: &str = "lock";
/// The largest state file read, in bytes.
pub const MAX_STATE_SIZE: u64 = 16 << 20;
/// The most logs one witness follows.
pub const MAX_LOGS: usize = 10_000;
/// The most trusted keys per log.
pub const MAX_KEYS_PER_LOG: usize = 16;
/// The largest key file read, in bytes.
const MAX_KEY_FILE: u64 = 4096;
/// Time a client has to send its whole request body (the default and the largest accepted
/// body timeout).
pub const REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The prefix of the witness key file: `PRIVATE+KEY+<name>+<hex key ID>+base64(0x04 || seed)`,
/// the Go `sumdb/note` signer key layout with the cosignature type byte.
const KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a witness operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
    /// The folder has no witness key.
    #[error("{0} is not a witness folder (run `tlog witness init --dir {0} --name NAME`)")]
    NotInitialised(String),
    /// The folder already has a witness key.
    #[error("{0} already holds a witness key")]
    AlreadyInitialised(String),
    /// The key file is unusable.
    #[error("witness key {path}: {message}")]
    BadKey {
        /// The file.
        path: String,
        /// What is wrong (never the key itself).
        message: String,
    },
    /// The state file is unusable.
    #[error("witness state {path}: {message}")]
    BadState {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Bad input from the operator.
    #[error("{0}")]
    Invalid(String),
    /// The server holds the folder's lock.
    #[error("{0} is in use by a running witness; stop it first")]
    Locked(String),
}

fn io_err(path: &Path, e: std::io::Error) -> WitnessError {
    WitnessError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// One log as stored in `logs.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredLog {
    /// Trusted Ed25519 verifier keys of the log (type 0x01).
    pub keys: Vec<String>,
    /// Size of the latest cosigned checkpoint (0 if none).
    pub size: u64,
    /// Hex of its root hash (the empty tree's root if none).
    pub root: String,
    /// The latest cosigned checkpoint note, with the log's signatures and our cosignature.
    #[serde(default)]
    pub checkpoint: Option<String>,
}

/// The whole `logs.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredState {
    /// Per origin.
    pub logs: BTreeMap<String, StoredLog>,
}

/// A log as the server holds it in memory.
#[derive(Debug, Clone)]
struct LogEntry {
    stored: StoredLog,
    verifiers: Vec<Ed25519Verifier>,
    record: LogRecord,
}

fn load_entry(origin: &str, stored: StoredLog) -> Result<LogEntry, String> {
    if stored.keys.is_empty() || stored.keys.len() > MAX_KEYS_PER_LOG {
        return Err(format!(
            "log {origin:?} must have 1..={MAX_KEYS_PER_LOG} keys"
        ));
    }
    let verifiers = stored
        .keys
        .iter()
        .map(|k| parse_verifier_key(k).map_err(|e| format!("log {origin:?} key {k:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let root = Hash::from_hex(&stored.root)
        .ok_or_else(|| format!("log {origin:?}: root is not 64 hex digits"))?;
    Ok(LogEntry {
        record: LogRecord {
            size: stored.size,
            root,
        },
        verifiers,
        stored,
    })
}

/// A witness folder.
#[derive(Debug, Clone)]
pub struct WitnessDir {
    /// The folder.
    pub path: PathBuf,
}

impl WitnessDir {
    /// The folder at `path` (nothing is read yet).
    pub fn new(path: impl Into<PathBuf>) -> WitnessDir {
        WitnessDir { path: path.into() }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Creates the folder, a fresh key named `name` (from `seed`) and an empty state;
    /// returns the cosignature verifier key.
    pub fn init(&self, name: &str, seed: &[u8; 32]) -> Result<String, WitnessError> {
        let signer = CosignatureSigner::from_seed(name, seed)
            .map_err(|e| WitnessError::Invalid(format!("witness name {name:?}: {e}")))?;
        let key_path = self.file(KEY_FILE);
        if key_path.exists() {
            return Err(WitnessError::AlreadyInitialised(
                self.path.display().to_string(),
            ));
        }
        fs::create_dir_all(&self.path).map_err(|e| io_err(&self.path, e))?;
        let _ = fs::set_permissions(&self.path, fs::Permissions::from_mode(0o700));
        let mut blob = Vec::with_capacity(33);
        blob.push(SIG_TYPE_COSIGNATURE_V1);
        blob.extend_from_slice(seed);
        let kname = signer.name().clone();
        let text = format!(
            "{KEY_PREFIX}{kname}+{}+{}",
            hex_encode(&signer.key_id()),
            BASE64.encode(&blob)
        );
        blob.fill(0);
        // A new file created with mode 0600: never briefly readable by others.
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key_path)
            .map_err(|e| io_err(&key_path, e))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.write_all(b"\n"))
            .and_then(|_| f.sync_all())
            .map_err(|e| io_err(&key_path, e))?;
        let vkey = signer.to_vkey();
        let vkey_path = self.file(VKEY_FILE);
        fs::write(&vkey_path, format!("{vkey}\n")).map_err(|e| io_err(&vkey_path, e))?;
        if !self.file(STATE_FILE).exists() {
            self.save_state(&StoredState::default())?;
        }
        Ok(vkey)
    }

    /// Loads the witness key, refusing a key file others can read.
    pub fn load_signer(&self) -> Result<CosignatureSigner, WitnessError> {
        let path = self.file(KEY_FILE);
        let bad = |message: String| WitnessError::BadKey {
            path: path.display().to_string(),
            message,
        };
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(WitnessError::NotInitialised(
                    self.path.display().to_string(),
                ))
            }
            Err(e) => return Err(io_err(&path, e)),
        };
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(bad(format!(
                "readable by other users (mode {:o}); run `chmod 600 {}`",
                meta.permissions().mode() & 0o777,
                path.display()
            )));
        }
        if meta.len() > MAX_KEY_FILE {
            return Err(bad("too large to be a key".into()));
        }
        let mut text = fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
        let result = parse_witness_key(text.trim());
        zeroize::Zeroize::zeroize(&mut text);
        result.map_err(|m| bad(m.into()))
    }

    /// Reads `logs.json`.
    pub fn load_state(&self) -> Result<StoredState, WitnessError> {
        let path = self.file(STATE_FILE);
        let bad = |message: String| WitnessError::BadState {
            path: path.display().to_string(),
            message,
        };
        let meta = fs::metadata(&path).map_err(|e| io_err(&path, e))?;
        if meta.len() > MAX_STATE_SIZE {
            return Err(bad(format!("larger than {MAX_STATE_SIZE} bytes")));
        }
        let bytes = fs::read(&path).map_err(|e| io_err(&path, e))?;
        let state: StoredState = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if state.logs.len() > MAX_LOGS {
            return Err(bad(format!("more than {MAX_LOGS} logs")));
        }
        Ok(state)
    }

    /// Writes `logs.json` atomically and durably.
    ///
    /// Crash safety: the new state goes to `logs.json.tmp`, which is fsync'd, then renamed
    /// over `logs.json`, then the folder is fsync'd. A crash before the rename leaves the old
    /// state (nothing was answered yet); after the directory fsync the new state is what any
    /// restart reads. The answer to the client is sent only after this returns, so a
    /// cosignature never exists for a size the witness could forget.
    pub fn save_state(&self, state: &StoredState) -> Result<(), WitnessError> {
        let path = self.file(STATE_FILE);
        let tmp = self.file(&format!("{STATE_FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| WitnessError::BadState {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(&bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| io_err(&tmp, e))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
        File::open(&self.path)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(&self.path, e))
    }

    /// Takes the folder's lock (non-blocking), held until the returned file is dropped.
    pub fn lock(&self) -> Result<File, WitnessError> {
        let path = self.file(LOCK_FILE);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        // flock(2), exclusive and non-blocking; released when the file is closed.
        match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(f),
            Err(rustix::io::Errno::WOULDBLOCK) => {
                Err(WitnessError::Locked(self.path.display().to_string()))
            }
            Err(e) => Err(io_err(&path, e.into())),
        }
    }

    /// Adds a trusted key for `origin` (a new log starts at size 0). The running server
    /// must be stopped: it holds the lock.
    pub fn add_log(&self, origin: &str, vkey: &str) -> Result<(), WitnessError> {
        let _lock = self.lock()?;
        if !self.file(KEY_FILE).exists() {
            return Err(WitnessError::NotInitialised(
                self.path.display().to_string(),
            ));
        }
        crate::core::checkpoint::parse_checkpoint(&format!(
            "{origin}\n0\n{}\n",
            BASE64.encode(crate::core::hash::empty_root().as_bytes())
        ))
        .map_err(|e| WitnessError::Invalid(format!("origin {origin:?}: {e}")))?;
        let v = parse_verifier_key(vkey)
            .map_err(|e| WitnessError::Invalid(format!("log key {vkey:?}: {e}")))?;
        let mut state = self.load_state()?;
        if !state.logs.contains_key(origin) && state.logs.len() >= MAX_LOGS {
            return Err(WitnessError::Invalid(format!("more than {MAX_LOGS} logs")));
        }
        let entry = state
            .logs
            .entry(origin.to_string())
            .or_insert_with(|| StoredLog {
                keys: Vec::new(),
                size: 0,
                root: crate::core::hash::empty_root().to_hex(),
                checkpoint: None,
            });
        let vkey = v.to_vkey();
        if !entry.keys.contains(&vkey) {
            if entry.keys.len() >= MAX_KEYS_PER_LOG {
                return Err(WitnessError::Invalid(format!(
                    "log {origin:?} already has {MAX_KEYS_PER_LOG} keys"
                )));
            }
            entry.keys.push(vkey);
        }
        self.save_state(&state)
    }
}

/// Parses `PRIVATE+KEY+<name>+<hex key ID>+base64(0x04 || 32-byte seed)`. Errors never
/// include the key.
pub fn parse_witness_key(text: &str) -> Result<CosignatureSigner, &'static str> {
    let rest = text
        .strip_prefix(KEY_PREFIX)
        .ok_or("not a PRIVATE+KEY+ key")?;
    let (name, rest) = rest.split_once('+').ok_or("missing key ID")?;
    let (id_hex, b64) = rest.split_once('+').ok_or("missing key")?;
    let mut blob = BASE64.decode(b64).map_err(|_| "key is not base64")?;
    let result = (|| {
        if blob.len() != 33 || blob[0] != SIG_TYPE_COSIGNATURE_V1 {
            return Err("not a cosignature/v1 (type 0x04) Ed25519 key");
        }
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&blob[1..]);
        let signer = CosignatureSigner::from_seed(name, &seed).map_err(|_| "bad key name");
        seed.fill(0);
        let signer = signer?;
        if hex_encode(&signer.key_id()) != id_hex.to_ascii_lowercase() {
            return Err("key ID does not match the key");
        }
        Ok(signer)
    })();
    blob.fill(0);
    result
}

/// Why `add-checkpoint` failed: a refusal from the protocol, or our own failure (500).
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The spec's 400/403/404/409/422.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// We could not persist: nothing was cosigned.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A running witness: its key, its folder and its state.
pub struct Witness {
    dir: WitnessDir,
    signer: CosignatureSigner,
    logs: Mutex<BTreeMap<String, LogEntry>>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("dir", &self.dir)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// Opens the witness in `dir`: loads its key and state.
    pub fn open(dir: WitnessDir) -> Result<Witness, WitnessError> {
        let signer = dir.load_signer()?;
        let state = dir.load_state()?;
        let mut logs = BTreeMap::new();
        for (origin, stored) in state.logs {
            let entry = load_entry(&origin, stored).map_err(|message| WitnessError::BadState {
                path: dir.file(STATE_FILE).display().to_string(),
                message,
            })?;
            logs.insert(origin, entry);
        }
        Ok(Witness {
            dir,
            signer,
            logs: Mutex::new(logs),
        })
    }

    /// The cosignature verifier key.
    pub fn vkey(&self) -> String {
        self.signer.to_vkey()
    }

    /// Handles one `add-checkpoint` body at POSIX time `timestamp`: checks, cosigns the
    /// re-encoded checkpoint, persists, and returns the cosignature lines to send. Blocking
    /// (it fsyncs); the check and the store happen under one lock.
    pub fn add_checkpoint(
        &self,
        body: &[u8],
        timestamp: u64,
    ) -> Result<Vec<NoteSignature>, AddError> {
        // 400 for anything malformed, before taking the lock.
        let sub = parse_submission(body)?;
        let origin = sub.checkpoint.origin.clone();
        let mut logs = self.logs.lock().expect("witness state lock");
        let entry = logs.get(&origin);
        let verifiers: Option<Vec<&dyn NoteVerifier>> =
            entry.map(|e| e.verifiers.iter().map(|v| v as &dyn NoteVerifier).collect());
        let record = entry
            .map(|e| e.record.clone())
            .unwrap_or_else(LogRecord::empty);
        let accepted = match decide(&sub, verifiers.as_deref(), &record) {
            Ok(a) => a,
            Err(r) => {
                // The request is signed by the log: a 422 or a root conflict is evidence of
                // misbehaviour (tlog-witness: "MAY log the request").
                if matches!(r, Refusal::BadProof { .. } | Refusal::RootConflict { .. }) {
                    tracing::warn!(
                        origin = %origin,
                        refusal = %r,
                        request = %String::from_utf8_lossy(body),
                        "refused a signed checkpoint: possible log misbehaviour"
                    );
                }
                return Err(r.into());
            }
        };
        // Cosign the re-encoding of what was parsed, never the raw input.
        let text = accepted.checkpoint.to_text();
        let cosig = self
            .signer
            .sign(&text, timestamp)
            .map_err(|e| AddError::Internal(e.to_string()))?;
        let mut note = Note {
            text,
            signatures: accepted.note.signatures.clone(),
        };
        note.signatures
            .retain(|s| s.name != cosig.name || s.key_id != cosig.key_id);
        note.signatures.push(cosig.clone());
        // Persist the whole state with the new record, then update memory, then answer.
        let entry = logs.get(&origin).expect("decide refuses unknown origins");
        let mut stored = entry.stored.clone();
        stored.size = accepted.record.size;
        stored.root = accepted.record.root.to_hex();
        stored.checkpoint = Some(String::from_utf8_lossy(&note.serialize()).into_owned());
        let mut state = StoredState {
            logs: logs
                .iter()
                .map(|(o, e)| (o.clone(), e.stored.clone()))
                .collect(),
        };
        state.logs.insert(origin.clone(), stored.clone());
        self.dir
            .save_state(&state)
            .map_err(|e| AddError::Internal(e.to_string()))?;
        let entry = logs.get_mut(&origin).expect("present");
        entry.stored = stored;
        entry.record = accepted.record;
        tracing::info!(origin = %origin, size = entry.record.size, "cosigned");
        Ok(vec![cosig])
    }

    /// The latest cosigned checkpoint of the log whose origin hashes to `origin_hash`.
    pub fn latest_checkpoint(&self, origin_hash: &[u8; 32]) -> Option<String> {
        let logs = self.logs.lock().expect("witness state lock");
        logs.iter()
            .find(|(o, _)| &sha256(o.as_bytes()) == origin_hash)
            .and_then(|(_, e)| e.stored.checkpoint.clone())
    }
}

/// The shared witness handle of the HTTP handlers.
pub type SharedWitness = Arc<Witness>;

fn text_response(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Maps an [`AddError`] to its response: the one place statuses are chosen.
fn add_error_response(e: AddError) -> Response {
    match e {
        AddError::Refused(r) => {
            let status = StatusCode::from_u16(r.status()).expect("valid status");
            match r.conflict_size() {
                // 409: "The response body MUST consist of the tree size of the latest
                // cosigned checkpoint in decimal, followed by a newline", text/x.tlog.size.
                Some(size) => text_response(status, SIZE_CONTENT_TYPE, serialize_size_body(size)),
                None => text_response(
                    status,
                    "text/plain; charset=utf-8",
                    format!("{r}\n").into_bytes(),
                ),
            }
        }
        AddError::Internal(m) => {
            tracing::error!(error = %m, "add-checkpoint failed");
            text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                b"internal error\n".to_vec(),
            )
        }
    }
}

/// `POST /add-checkpoint`.
async fn add_checkpoint(State(w): State<SharedWitness>, body: Body) -> Response {
    let too_large = || {
        text_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/plain; charset=utf-8",
            format!("request body over {MAX_REQUEST_SIZE} bytes\n").into_bytes(),
        )
    };
    // A declared Content-Length over the limit is refused before reading anything.
    if http_body::Body::size_hint(&body).lower() > MAX_REQUEST_SIZE as u64 {
        return too_large();
    }
    let bytes = match tokio::time::timeout(
        REQUEST_BODY_TIMEOUT,
        axum::body::to_bytes(body, MAX_REQUEST_SIZE),
    )
    .await
    {
        Err(_) => return body_timeout_response(),
        Ok(Err(e)) => {
            // axum reports the size limit as a `LengthLimitError` source.
            let over_limit =
                std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<http_body_util::LengthLimitError>());
            return if over_limit {
                too_large()
            } else {
                text_response(
                    StatusCode::BAD_REQUEST,
                    "text/plain; charset=utf-8",
                    b"request body unreadable\n".to_vec(),
                )
            };
        }
        Ok(Ok(b)) => b,
    };
    let now = crate::os::now_secs();
    let result = tokio::task::spawn_blocking(move || w.add_checkpoint(&bytes, now)).await;
    match result {
        Ok(Ok(sigs)) => text_response(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            serialize_cosignatures(&sigs),
        ),
        Ok(Err(e)) => add_error_response(e),
        Err(e) => add_error_response(AddError::Internal(e.to_string())),
    }
}

/// The 408 answer to a request whose body did not arrive in time.
fn body_timeout_response() -> Response {
    text_response(
        StatusCode::REQUEST_TIMEOUT,
        "text/plain; charset=utf-8",
        b"request body not received in time\n".to_vec(),
    )
}

/// `GET /<hex SHA-256(origin)>/checkpoint`.
async fn get_checkpoint(
    State(w): State<SharedWitness>,
    UrlPath(origin_hash): UrlPath<String>,
) -> Response {
    let hash = crate::core::hash::hex_decode(&origin_hash)
        .filter(|_| origin_hash.bytes().all(|b| !b.is_ascii_uppercase()))
        .and_then(|v| <[u8; 32]>::try_from(v).ok());
    let Some(hash) = hash else {
        return text_response(
            StatusCode::BAD_REQUEST,
            "text/plain; charset=utf-8",
            b"expected /<64 lowercase hex digits of SHA-256(origin)>/checkpoint\n".to_vec(),
        );
    };
    match w.latest_checkpoint(&hash) {
        Some(note) => text_response(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            note.into_bytes(),
        ),
        None => text_response(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            b"no checkpoint cosigned for this log\n".to_vec(),
        ),
    }
}

/// The witness's router.
pub fn router(w: SharedWitness) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/{origin_hash}/checkpoint", get(get_checkpoint))
        .layer(axum::middleware::from_fn(
            |req: axum::extract::Request, next: axum::middleware::Next| {
                crate::server::limits::answer_body_timeouts(body_timeout_response, req, next)
            },
        ))
        .with_state(w)
}

/// The witness's default deadlines: a request head within
/// [`crate::server::limits::DEFAULT_HEADER_TIMEOUT`], its body within
/// [`REQUEST_BODY_TIMEOUT`].
pub fn default_limits() -> Limits {
    Limits {
        header_timeout: crate::server::limits::DEFAULT_HEADER_TIMEOUT,
        body_timeout: REQUEST_BODY_TIMEOUT,
    }
}

/// Serves the witness on `listener` until `shutdown` completes, with [`default_limits`].
pub async fn run(
    listener: TcpListener,
    w: SharedWitness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, w, default_limits(), shutdown).await
}

/// Like [`run`], with the header and body deadlines of `limits` (slow clients are cut off:
/// see [`crate::server::limits`]).
pub async fn run_with(
    listener: TcpListener,
    w: SharedWitness,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::server::limits::serve(listener, router(w), limits, shutdown).await
}
