//! The JSONL mirror: every durable event, in llm-audit-trail 0.1.0's hash-chained record
//! format (`spec/mirror.md`), so that the seed's tools and its users' scripts keep working.
//!
//! The mirror follows the log; RocksDB is the source of truth. Each record is the seed's
//! record with `seq` = leaf index, plus three extra fields (hashed like the others, which the
//! seed allows): `leaf_hash` (hex), `salt` (hex; absent once the body is erased) and
//! `submitter` (when the server recorded one). With them a verifier can rebuild every leaf
//! from the record and check the whole file against a signed checkpoint
//! ([`verify_chain_file`]), which is what closes the seed's truncated-tail hole.
//!
//! # Crash safety
//!
//! Lines are appended only for events that are already durable in the log, then the file
//! is fsync'd. After a crash, [`Mirror::open`] cuts a torn last line, checks that the last
//! whole line is the log's event at that `seq` (same event id), and re-writes every line the
//! log has and the file lacks. So the mirror can lag the log, never lead or contradict it.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::layout::BodyRecord;
use super::{Committed, Log, LogError, StoredEvent};
use crate::core::chain::{
    write_record_line, ChainAlg, ChainVerifier, RecordFields, VerifiedRecord, VerifyOptions,
    GENESIS, SCHEMA_VERSION,
};
use crate::core::checkpoint::open_checkpoint;
use crate::core::entry::{self, Body, EntryHeader};
use crate::core::hash::{hex_decode, hex_encode, leaf_hash, Hash};
use crate::core::json::{self, JsonValue, ParseOptions};
use crate::core::merkle::Frontier;
use crate::core::note::Ed25519Verifier;
use crate::log::event::NewEvent;

/// Events read from the log per step while catching up.
const CATCH_UP_PAGE: u64 = 1024;
/// Bytes of lines gathered before they are written to the file.
const WRITE_CHUNK_BYTES: usize = 1 << 20;
/// How much of the file's end is read to find the last record.
const MAX_TAIL_BYTES: u64 = 4 << 20;

/// Mirror failures.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// File I/O failed.
    #[error("mirror {path}: {message}")]
    Io {
        /// The mirror path.
        path: String,
        /// What failed.
        message: String,
    },
    /// The mirror contradicts the log.
    #[error("mirror {path} does not match the log: {message} (run `tlog mirror rebuild`)")]
    Mismatch {
        /// The mirror path.
        path: String,
        /// How.
        message: String,
    },
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// A mirror file being kept in step with a log.
pub struct Mirror {
    path: PathBuf,
    file: File,
    next_seq: u64,
    prev_hash: String,
}

/// The record fields of a stored event (taken apart, not copied).
pub fn record_fields(ev: StoredEvent) -> RecordFields {
    let leaf_hash = ev.leaf_hash();
    fields_of(ev.index, ev.header, leaf_hash, ev.body)
}

/// The record fields of the leaf at `index`: its header, leaf hash and body record.
fn fields_of(
    index: u64,
    h: EntryHeader,
    leaf_hash: Hash,
    body: Option<BodyRecord>,
) -> RecordFields {
    let body = match body {
        Some(BodyRecord::Present { salt, body }) => match entry::decode_body(&body) {
            Ok(b) => RecordBody::Present(salt, b),
            Err(_) => RecordBody::Present(
                salt,
                entry::Body {
                    actor: None,
                    details: JsonValue::Null,
                },
            ),
        },
        Some(BodyRecord::Erased { erased_by, reason }) => RecordBody::Erased { erased_by, reason },
        None => RecordBody::Missing,
    };
    fields_with(index, h, leaf_hash, body)
}

/// What a record holds of an event's body.
enum RecordBody {
    /// The salt and the decoded body.
    Present([u8; 32], entry::Body),
    /// Erased: by which event, and why.
    Erased { erased_by: u64, reason: String },
    /// No stored body.
    Missing,
}

fn fields_with(index: u64, h: EntryHeader, leaf_hash: Hash, body: RecordBody) -> RecordFields {
    let mut extra = vec![(
        "leaf_hash".to_string(),
        JsonValue::String(leaf_hash.to_hex()),
    )];
    let (actor, details) = match body {
        RecordBody::Present(salt, b) => {
            extra.push(("salt".into(), JsonValue::String(hex_encode(&salt))));
            (b.actor, b.details)
        }
        RecordBody::Erased { erased_by, reason } => {
            extra.push((
                "erased".into(),
                crate::log::view::obj(vec![
                    ("erased_by", crate::log::view::int(erased_by)),
                    ("reason", crate::log::view::s(reason)),
                ]),
            ));
            (None, JsonValue::Null)
        }
        RecordBody::Missing => (None, JsonValue::Null),
    };
    if let Some(s) = h.submitter {
        extra.push(("submitter".into(), JsonValue::String(s)));
    }
    RecordFields {
        schema_version: SCHEMA_VERSION.to_string(),
        seq: index,
        event_id: h.event_id,
        timestamp: h.timestamp,
        event_type: h.event_type,
        actor,
        system: h.system,
        model_id: h.model_id,
        dataset_id: h.dataset_id,
        deployment_id: h.deployment_id,
        details,
        extra,
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> MirrorError {
    MirrorError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

impl Mirror {
    /// Opens (creating) the mirror at `path` and reconciles it with `log`: a torn last line
    /// is cut, and the last whole line must be the log's event at its `seq`.
    pub fn open(path: &Path, log: &Log) -> Result<Mirror, MirrorError> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                fs::create_dir_all(parent).map_err(|e| io(path, e))?;
            }
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| io(path, e))?;
        let len = file.metadata().map_err(|e| io(path, e))?.len();
        let start = len.saturating_sub(MAX_TAIL_BYTES);
        let mut tail = Vec::new();
        file.seek(SeekFrom::Start(start)).map_err(|e| io(path, e))?;
        (&mut file)
            .take(len - start)
            .read_to_end(&mut tail)
            .map_err(|e| io(path, e))?;
        // Cut a torn last line (a crash mid-write): keep everything up to the last '\n'.
        let keep = match tail.iter().rposition(|b| *b == b'\n') {
            Some(p) => start + p as u64 + 1,
            None => start,
        };
        if keep < len {
            if start > 0 && keep == start {
                return Err(MirrorError::Mismatch {
                    path: path.display().to_string(),
                    message: "last line is longer than the largest record".into(),
                });
            }
            file.set_len(keep).map_err(|e| io(path, e))?;
            file.sync_data().map_err(|e| io(path, e))?;
            tail.truncate((keep - start) as usize);
        }
        let mut mirror = Mirror {
            path: path.to_path_buf(),
            file,
            next_seq: 0,
            prev_hash: GENESIS.to_string(),
        };
        let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
        let last = body.rsplit(|b| *b == b'\n').next().unwrap_or_default();
        if !last.is_empty() {
            let mismatch = |m: String| MirrorError::Mismatch {
                path: path.display().to_string(),
                message: m,
            };
            let rec = json::parse(last, ParseOptions::PYTHON)
                .map_err(|e| mismatch(format!("last line is not JSON: {e}")))?;
            let seq = match rec.get("seq") {
                Some(JsonValue::Number(json::JsonNumber::Int(i))) if *i >= 0 => *i as u64,
                _ => return Err(mismatch("last line has no seq".into())),
            };
            let curr = rec
                .get("curr_hash")
                .and_then(|v| v.as_str())
                .ok_or_else(|| mismatch("last line has no curr_hash".into()))?;
            let id = rec
                .get("event_id")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let ev = log.event(seq)?.ok_or_else(|| {
                mismatch(format!(
                    "it holds seq {seq} but the log has {} events",
                    log.tree_size()
                ))
            })?;
            if ev.header.event_id != id {
                return Err(mismatch(format!(
                    "seq {seq} is event {id:?} in the mirror but {:?} in the log",
                    ev.header.event_id
                )));
            }
            mirror.next_seq = seq + 1;
            mirror.prev_hash = curr.to_string();
        }
        Ok(mirror)
    }

    /// Appends the lines for every event the log has and the mirror lacks, then fsyncs.
    /// Returns how many lines were written.
    pub fn catch_up(&mut self, log: &Log) -> Result<u64, MirrorError> {
        let before = self.next_seq;
        let mut buf = String::new();
        self.lines_from_log(log, log.tree_size(), &mut buf)?;
        self.finish(buf, before)
    }

    /// Appends the lines of `groups`, events handed over by the log's writer
    /// ([`Log::follow_commits`]), then fsyncs; events the mirror has are skipped and a gap
    /// before a group is filled from the store. Returns how many lines were written.
    ///
    /// A line is built from the same header and body bytes that were stored, exactly as
    /// [`Mirror::catch_up`] builds it from the store (`followed_mirror_equals_rebuilt`).
    pub fn write_committed(
        &mut self,
        log: &Log,
        groups: Vec<Committed>,
    ) -> Result<u64, MirrorError> {
        let before = self.next_seq;
        // Sized for a chunk and a typical line past it: grown only for a long line.
        let mut buf = String::with_capacity(WRITE_CHUNK_BYTES + (64 << 10));
        for group in groups {
            for (index, ev) in group.events {
                if index < self.next_seq {
                    continue;
                }
                if index > self.next_seq {
                    self.lines_from_log(log, index, &mut buf)?;
                }
                // The body as the writer encoded it, not decoded back from its bytes.
                let body = RecordBody::Present(ev.salt, ev.body);
                self.push_line(fields_with(index, ev.header, ev.leaf_hash, body), &mut buf)?;
            }
        }
        self.finish(buf, before)
    }

    /// Adds to `buf` the lines of the log's events from `next_seq` up to `end`, read from
    /// the store a page at a time.
    fn lines_from_log(&mut self, log: &Log, end: u64, buf: &mut String) -> Result<(), MirrorError> {
        while self.next_seq < end {
            let page_end = end.min(self.next_seq + CATCH_UP_PAGE);
            let events = log.events(self.next_seq, page_end - self.next_seq)?;
            if events.len() as u64 != page_end - self.next_seq {
                return Err(LogError::Corrupt(format!(
                    "events {}..{page_end} missing",
                    self.next_seq
                ))
                .into());
            }
            for ev in events {
                self.push_line(record_fields(ev), buf)?;
            }
        }
        Ok(())
    }

    /// Adds the line of `fields` (whose `seq` is `next_seq`) to `buf`, writing `buf` out
    /// once it holds [`WRITE_CHUNK_BYTES`].
    fn push_line(&mut self, fields: RecordFields, buf: &mut String) -> Result<(), MirrorError> {
        debug_assert_eq!(fields.seq, self.next_seq);
        self.prev_hash = write_record_line(&fields, &self.prev_hash, &ChainAlg::Sha256, buf)
            .map_err(|e| io(&self.path, e))?;
        self.next_seq += 1;
        if buf.len() >= WRITE_CHUNK_BYTES {
            self.file
                .write_all(buf.as_bytes())
                .map_err(|e| io(&self.path, e))?;
            buf.clear();
        }
        Ok(())
    }

    /// Writes what `buf` holds and fsyncs if anything was written since `before`.
    fn finish(&mut self, buf: String, before: u64) -> Result<u64, MirrorError> {
        self.file
            .write_all(buf.as_bytes())
            .map_err(|e| io(&self.path, e))?;
        let written = self.next_seq - before;
        if written > 0 {
            self.file.sync_data().map_err(|e| io(&self.path, e))?;
        }
        Ok(written)
    }

    /// The next `seq` the mirror will write.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

/// Brings the mirror of `dir` up to date with `log` (used after CLI writes). A mirror
/// marked stale (an erasure not yet reflected, [`mark_stale`]) is rebuilt instead.
pub fn sync_after(log: &Log, dir: &crate::datadir::DataDir) -> Result<u64, MirrorError> {
    let path = dir.mirror_path();
    if stale_tag(&path).is_some() {
        return rebuild(log, &path);
    }
    let mut m = Mirror::open(&path, log)?;
    m.catch_up(log)
}

/// Longest stale-marker content read.
const MAX_MARKER_BYTES: u64 = 256;

/// The marker file beside the mirror at `path` (`<mirror>.stale`): while it exists the
/// mirror may still hold a body that the log has erased, and must be rebuilt.
pub fn stale_marker_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".stale");
    path.with_file_name(name)
}

fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        if let Ok(d) = File::open(if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        }) {
            let _ = d.sync_all();
        }
    }
}

/// Durably marks the mirror at `path` stale before a body is erased, so that a crash before
/// the rebuild cannot leave the erased body in the mirror: every later open of the mirror
/// through [`sync_after`] or [`MirrorFollower::start`] rebuilds it first. `tag` names the
/// erasure (a later erasure overwrites it; a rebuild clears the marker only if the tag it
/// started with is still there).
pub fn mark_stale(path: &Path, tag: &str) -> Result<(), MirrorError> {
    let marker = stale_marker_path(path);
    let tmp = marker.with_extension("stale.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(tag.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &marker)
    };
    write().map_err(|e| io(&marker, e))?;
    sync_parent(&marker);
    Ok(())
}

/// The tag of the stale marker beside the mirror at `path`, if there is one.
pub fn stale_tag(path: &Path) -> Option<String> {
    let f = File::open(stale_marker_path(path)).ok()?;
    let mut s = String::new();
    // An unreadable or odd marker still means "stale".
    let _ = f.take(MAX_MARKER_BYTES).read_to_string(&mut s);
    Some(s)
}

/// Regenerates the mirror at `path` from `log` (atomically: written aside, then renamed),
/// then clears the stale marker if no erasure marked it again meanwhile.
pub fn rebuild(log: &Log, path: &Path) -> Result<u64, MirrorError> {
    let tag = stale_tag(path);
    let tmp = path.with_extension("jsonl.rebuild");
    let _ = fs::remove_file(&tmp);
    {
        let mut m = Mirror::open(&tmp, log)?;
        m.catch_up(log)?;
    }
    fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    sync_parent(path);
    if tag.is_some() && stale_tag(path) == tag {
        let marker = stale_marker_path(path);
        fs::remove_file(&marker).map_err(|e| io(&marker, e))?;
        sync_parent(&marker);
    }
    Ok(log.tree_size())
}

/// Asks a running [`MirrorFollower`] to rebuild its mirror (after an erasure).
#[derive(Debug, Clone, Default)]
pub struct RebuildHandle {
    waiters: std::sync::Arc<std::sync::Mutex<Option<Vec<tokio::sync::oneshot::Sender<()>>>>>,
}

impl RebuildHandle {
    /// Requests a rebuild; the receiver completes once a rebuild that started after this
    /// call has replaced the mirror (it is dropped unanswered if the follower stops first).
    pub fn request(&self) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.waiters
            .lock()
            .expect("rebuild lock")
            .get_or_insert_with(Vec::new)
            .push(tx);
        rx
    }

    fn take(&self) -> Option<Vec<tokio::sync::oneshot::Sender<()>>> {
        self.waiters.lock().expect("rebuild lock").take()
    }

    fn put_back(&self, mut w: Vec<tokio::sync::oneshot::Sender<()>>) {
        let mut g = self.waiters.lock().expect("rebuild lock");
        w.extend(g.take().unwrap_or_default());
        *g = Some(w);
    }
}

/// What `verify-chain` checks beyond the chain itself.
pub struct ChainCheck {
    /// HMAC key: pins `hmac-sha256`; without it `sha256` is pinned.
    pub hmac_key: Option<Vec<u8>>,
    /// Flag non-canonical lines.
    pub strict: bool,
    /// A signed checkpoint note and the log key: the file must be exactly the leaves it covers.
    pub checkpoint: Option<(Vec<u8>, Ed25519Verifier)>,
    /// A seed anchor file's bytes.
    pub anchor: Option<Vec<u8>>,
}

/// The outcome of [`verify_chain_file`].
pub struct ChainReport {
    /// Whether everything checked.
    pub ok: bool,
    /// One line for people.
    pub summary: String,
    /// The seed-shaped report (plus our codes).
    pub json: JsonValue,
}

/// The leaf a mirror record stands for, rebuilt from its fields and salt (`None` when the
/// record carries no salt: erased, or not written by tlog). Checks `leaf_hash` if present.
fn record_leaf(rec: &VerifiedRecord<'_>) -> Result<Option<Hash>, String> {
    let r = rec.record;
    let text = |k: &str| r.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let claimed = match text("leaf_hash") {
        Some(h) => Some(Hash::from_hex(&h).ok_or("leaf_hash is not 64 hex digits")?),
        None => None,
    };
    let Some(salt_hex) = text("salt") else {
        return Ok(claimed);
    };
    let salt: [u8; 32] = hex_decode(&salt_hex)
        .and_then(|v| v.try_into().ok())
        .ok_or("salt is not 64 hex digits")?;
    let body = Body {
        actor: text("actor"),
        details: r.get("details").cloned().unwrap_or(JsonValue::Null),
    };
    let body_bytes = entry::encode_body(&body).map_err(|e| format!("body: {e}"))?;
    let header = EntryHeader {
        event_id: text("event_id").unwrap_or_default(),
        timestamp: text("timestamp").unwrap_or_default(),
        event_type: text("event_type").unwrap_or_default(),
        system: text("system"),
        model_id: text("model_id"),
        dataset_id: text("dataset_id"),
        deployment_id: text("deployment_id"),
        submitter: text("submitter"),
        body_digest: entry::body_digest(&salt, &body_bytes),
    };
    let bytes = entry::encode_entry(&header).map_err(|e| format!("entry: {e}"))?;
    let leaf = leaf_hash(&bytes);
    if let Some(c) = claimed {
        if c != leaf {
            return Err(format!(
                "leaf_hash {c} is not the hash of this record's entry ({leaf})"
            ));
        }
    }
    Ok(Some(leaf))
}

fn failure_report(code: &str, detail: String, extra: Vec<(&str, JsonValue)>) -> ChainReport {
    let mut members = vec![
        ("error", crate::log::view::s(code)),
        ("detail", crate::log::view::s(detail.clone())),
    ];
    members.extend(extra);
    ChainReport {
        ok: false,
        summary: format!("{code}: {detail}"),
        json: crate::log::view::obj(members),
    }
}

/// Verifies a JSONL chain file streaming (O(log n) memory): the chain (algorithm pinned),
/// optionally the seed anchor, canonical bytes (`strict`), and against a signed checkpoint.
pub fn verify_chain_file(path: &Path, check: ChainCheck) -> Result<ChainReport, MirrorError> {
    use crate::log::view::{int, s};
    let anchor = match &check.anchor {
        Some(b) => Some(crate::core::chain::Anchor::parse(b).map_err(|e| io(path, e))?),
        None => None,
    };
    let alg = match &check.hmac_key {
        Some(k) => ChainAlg::HmacSha256 { key: k.clone() },
        None => ChainAlg::Sha256,
    };
    let mut options = VerifyOptions::pinned_strict(alg, anchor);
    options.strict = check.strict;
    let mut verifier = ChainVerifier::new(options).map_err(|e| io(path, e))?;
    let cp = match &check.checkpoint {
        Some((note, key)) => match open_checkpoint(note, key).map(|s| s.checkpoint) {
            Ok(cp) => Some(cp),
            Err(e) => {
                return Ok(failure_report(
                    "checkpoint_invalid",
                    format!("the checkpoint does not verify with the given key: {e}"),
                    vec![],
                ))
            }
        },
        None => None,
    };
    let file = File::open(path).map_err(|e| io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut frontier = Frontier::new();
    let mut root_at_size: Option<Hash> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(crate::core::chain::MAX_RECORD_LINE_BYTES as u64 + 2)
            .read_until(b'\n', &mut line)
            .map_err(|e| io(path, e))?;
        if n == 0 {
            break;
        }
        let result = verifier.feed_line_with(&line, |rec| {
            let Some(cp) = &cp else { return Ok(()) };
            let leaf = record_leaf(rec)?.ok_or_else(|| {
                format!(
                    "line {} has no leaf_hash or salt: only a tlog mirror can be checked against a checkpoint",
                    rec.line
                )
            })?;
            let mut scratch = Vec::new();
            frontier.append(leaf, &mut scratch);
            if frontier.size() == cp.tree_size {
                root_at_size = Some(frontier.root());
            }
            Ok(())
        });
        if result.is_err() {
            break;
        }
    }
    let report = verifier.finish();
    let ok = report.is_ok();
    let mut json_report = report.to_json();
    if !ok {
        let summary = json::to_json_string(&json_report);
        return Ok(ChainReport {
            ok,
            summary,
            json: json_report,
        });
    }
    let events = json_report
        .get("events")
        .cloned()
        .unwrap_or(JsonValue::Null);
    if let Some(cp) = cp {
        let count = frontier.size();
        let size = cp.tree_size;
        if count < size {
            return Ok(failure_report(
                "truncated",
                format!("the chain has {count} records but the checkpoint covers {size}: its tail was cut"),
                vec![("events", int(count)), ("tree_size", int(size))],
            ));
        }
        if count > size {
            return Ok(failure_report(
                "tail_extended",
                format!("the chain has {count} records but the checkpoint covers only {size}"),
                vec![("events", int(count)), ("tree_size", int(size))],
            ));
        }
        let root = if size == 0 {
            crate::core::hash::empty_root()
        } else {
            root_at_size.unwrap_or_else(|| frontier.root())
        };
        if root != cp.root_hash {
            return Ok(failure_report(
                "checkpoint_mismatch",
                format!("the chain's {count} records do not have the checkpoint's root hash"),
                vec![("events", int(count)), ("tree_size", int(size))],
            ));
        }
        if let JsonValue::Object(m) = &mut json_report {
            m.push((
                "checkpoint".into(),
                crate::log::view::obj(vec![
                    ("origin", s(cp.origin.clone())),
                    ("tree_size", int(size)),
                    ("root_hash", s(cp.root_hash.to_hex())),
                ]),
            ));
        }
    }
    let summary = match &check.checkpoint {
        Some(_) => format!(
            "{} records, chain intact, matching the signed checkpoint",
            json::to_json_string(&events)
        ),
        None => format!("{} records, chain intact", json::to_json_string(&events)),
    };
    Ok(ChainReport {
        ok: true,
        summary,
        json: json_report,
    })
}

/// Streams the events of a seed-format chain, `chunk` at a time, to `f` (for `tlog import`).
pub fn for_each_chain_chunk(
    path: &Path,
    chunk: usize,
    mut f: impl FnMut(Vec<NewEvent>) -> Result<(), String>,
) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut batch = Vec::with_capacity(chunk);
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(crate::core::chain::MAX_RECORD_LINE_BYTES as u64 + 2)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let rec =
            json::parse(text, ParseOptions::PYTHON).map_err(|e| format!("line {line_no}: {e}"))?;
        let get = |k: &str| -> Result<Option<String>, String> {
            match rec.get(k) {
                None | Some(JsonValue::Null) => Ok(None),
                Some(JsonValue::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("line {line_no}: field {k:?} is not a string")),
            }
        };
        batch.push(NewEvent {
            event_id: get("event_id")?,
            timestamp: get("timestamp")?,
            event_type: get("event_type")?
                .ok_or_else(|| format!("line {line_no}: no event_type"))?,
            system: get("system")?,
            model_id: get("model_id")?,
            dataset_id: get("dataset_id")?,
            deployment_id: get("deployment_id")?,
            actor: get("actor")?,
            details: rec
                .get("details")
                .cloned()
                .unwrap_or(JsonValue::Object(Vec::new())),
            submitter: None,
        });
        if batch.len() >= chunk {
            f(std::mem::take(&mut batch))?;
        }
    }
    if !batch.is_empty() {
        f(batch)?;
    }
    Ok(())
}

/// A thread that keeps the mirror in step with a running log (used by `tlog serve`), and
/// rebuilds it on request ([`MirrorFollower::rebuilder`]) after an erasure.
pub struct MirrorFollower {
    log: Log,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    rebuild: RebuildHandle,
    handle: Option<std::thread::JoinHandle<Result<(), MirrorError>>>,
}

/// How often the follower looks for new events when idle.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(20);

impl MirrorFollower {
    /// Reconciles the mirror at `path` with `log` now (so a broken mirror stops start-up
    /// with a clear message), then follows the log in a thread.
    pub fn start(log: Log, path: PathBuf) -> Result<MirrorFollower, MirrorError> {
        if stale_tag(&path).is_some() {
            // An erasure whose rebuild did not finish (crash): the mirror may hold its body.
            tracing::info!(path = %path.display(), "mirror marked stale by an erasure; rebuilding");
            rebuild(&log, &path)?;
        }
        // Follow first, so that no group committed during the catch-up is missed (those
        // it already wrote are skipped by index).
        let commits = log.follow_commits();
        let mut mirror = Mirror::open(&path, &log)?;
        mirror.catch_up(&log)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let rebuild_handle = RebuildHandle::default();
        let (log2, stop2, requests) = (log.clone(), stop.clone(), rebuild_handle.clone());
        let handle = std::thread::Builder::new()
            .name("tlog-mirror".into())
            .spawn(move || {
                use std::sync::atomic::Ordering;
                loop {
                    let stopping = stop2.load(Ordering::SeqCst);
                    if let Some(waiters) = requests.take() {
                        // The follower is the mirror's only writer, so it rebuilds it
                        // itself, then follows the new file.
                        match rebuild(&log2, &path).and_then(|_| Mirror::open(&path, &log2)) {
                            Ok(m) => {
                                mirror = m;
                                for w in waiters {
                                    let _ = w.send(());
                                }
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "mirror rebuild failed; will retry");
                                requests.put_back(waiters);
                                if stopping {
                                    return Err(e);
                                }
                                std::thread::sleep(std::time::Duration::from_secs(1));
                            }
                        }
                        continue;
                    }
                    // What the writer handed over (waiting up to a poll interval for it);
                    // else whatever the store has that the mirror lacks (a group the feed
                    // dropped, or the last ones at shutdown).
                    let mut groups = Vec::new();
                    if let Some(c) = commits.recv_timeout(FOLLOW_POLL) {
                        groups.push(c);
                        while let Some(c) = commits.try_recv() {
                            groups.push(c);
                        }
                    }
                    if !groups.is_empty() || log2.tree_size() > mirror.next_seq() {
                        let caught = if groups.is_empty() {
                            mirror.catch_up(&log2)
                        } else {
                            mirror.write_committed(&log2, groups)
                        };
                        if caught.is_ok() && !stopping {
                            // Pace: under load, one catch-up (and one fsync of the mirror)
                            // a poll interval, covering many group commits at once.
                            std::thread::sleep(FOLLOW_POLL);
                        }
                        if let Err(e) = caught {
                            if stopping {
                                // Shutting down (e.g. on a full disk): give up rather than
                                // retry for ever; the next start rebuilds the missing
                                // records from the store.
                                return Err(e);
                            }
                            tracing::error!(error = %e, "mirror write failed; will retry");
                            std::thread::sleep(std::time::Duration::from_secs(1));
                            // Reopen: cuts any torn line and resumes from the file's end.
                            match Mirror::open(&path, &log2) {
                                Ok(m) => mirror = m,
                                Err(e) => tracing::error!(error = %e, "mirror reopen failed"),
                            }
                            continue;
                        }
                    } else if stopping {
                        return Ok(());
                    }
                }
            })
            .map_err(|e| io(Path::new("mirror"), e))?;
        Ok(MirrorFollower {
            log,
            stop,
            rebuild: rebuild_handle,
            handle: Some(handle),
        })
    }

    /// A handle that asks this follower to rebuild the mirror.
    pub fn rebuilder(&self) -> RebuildHandle {
        self.rebuild.clone()
    }

    /// The log followed.
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// Writes what is left (call after the log is closed) and stops.
    pub fn stop(mut self) -> Result<(), MirrorError> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io(Path::new("mirror"), "mirror thread panicked")),
            None => Ok(()),
        }
    }
}
