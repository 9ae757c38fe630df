//! The durable Merkle log: one writer (the [`sequencer`]), many readers.
//!
//! [`Log::open`] recovers the log from its store (checking the stored tree against the
//! latest signed checkpoint), then starts the writer thread. Appends are prepared in the
//! caller's thread ([`event::prepare`]) and group-committed by the writer; an append
//! returns only once its event is durable. Readers (entries, bodies, proofs, checkpoints)
//! read the store directly and never block the writer.
//!
//! Memory and start-up time are O(log n): the writer keeps only the tree's right edge.

pub mod event;
pub mod fsck;
pub mod hashcache;
pub mod layout;
pub mod lookups;
pub mod mirror;
pub(crate) mod sequencer;
pub use sequencer::{CommitStream, Committed, MAX_FED_EVENTS};
pub mod view;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use crate::core::checkpoint::{open_checkpoint, Checkpoint};
use crate::core::entry::{self, EntryHeader};
use crate::core::hash::Hash;
use crate::core::merkle::{self, HashReader};
use crate::core::note::{Ed25519Signer, NoteSigner};
use crate::core::proof::{self, ProofError};
use crate::storage::{be, Batch, Store, StoreError, Table};
use event::{NewEvent, PreparedEvent};
use layout::{kind, BodyRecord, StoreHashReader, BUNDLE_WIDTH};
use sequencer::{Request, Writer, WriterConfig, WriterState};

/// Default time between checkpoints while the tree grows.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);
/// Default bound on events in one group commit.
pub const DEFAULT_MAX_BATCH_EVENTS: usize = 8192;
/// Requests that may wait for the writer before appends block (back-pressure).
pub const QUEUE_DEPTH: usize = 1024;
/// Most postings one list call returns.
pub const MAX_LIST_LIMIT: usize = 1000;

/// Why a log operation failed. Messages are for the operator; HTTP maps kinds to codes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    /// The store failed; the outcome of a write in flight is unknown.
    #[error("storage: {0}")]
    Storage(String),
    /// The disk is full or read-only; nothing was written.
    #[error("cannot write: {0}")]
    NoSpace(String),
    /// The data folder is locked by another process.
    #[error("{0}")]
    Locked(String),
    /// Stored data contradicts itself or a signed checkpoint.
    #[error("corrupt log: {0}")]
    Corrupt(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is not valid for this log (e.g. a size beyond the tree).
    #[error("{0}")]
    Invalid(String),
    /// The log is shutting down.
    #[error("the log is closed")]
    Closed,
    /// A broken internal invariant.
    #[error("internal error: {0}")]
    Internal(String),
}

impl LogError {
    pub(crate) fn clone_for_reply(&self) -> LogError {
        self.clone()
    }
}

impl From<StoreError> for LogError {
    fn from(e: StoreError) -> LogError {
        match e {
            StoreError::Locked { .. } => LogError::Locked(e.to_string()),
            StoreError::NoSpace(m) => LogError::NoSpace(m),
            StoreError::Io(m) => LogError::Storage(m),
            StoreError::Corrupt(m) => LogError::Corrupt(m),
        }
    }
}

/// Why one event of a batch was not appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The event is not valid (names the field and the rule).
    #[error("{0}")]
    Invalid(String),
    /// A different event with this event_id is already in the log.
    #[error("event_id {0} is already in the log with different contents")]
    Conflict(String),
}

/// An acknowledged (durable) event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Its leaf index.
    pub index: u64,
    /// Its event id.
    pub event_id: String,
    /// Its leaf hash.
    pub leaf_hash: Hash,
    /// True when this was a retry of an event already in the log.
    pub existing: bool,
}

/// A checkpoint as signed and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The parsed checkpoint.
    pub checkpoint: Checkpoint,
    /// The signed note bytes (what `/checkpoint` serves).
    pub note: Vec<u8>,
}

/// What the writer publishes after each durable batch.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// Committed (durable) tree size.
    pub tree_size: u64,
    /// The latest durable signed checkpoint.
    pub checkpoint: Option<Arc<SignedCheckpoint>>,
}

/// Counters the server exports as Prometheus metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Events appended (not counting idempotent retries).
    pub appended: AtomicU64,
    /// Group commits written.
    pub batches: AtomicU64,
    /// Bytes written by group commits.
    pub batch_bytes: AtomicU64,
    /// Sum of fsync'd write latencies, microseconds.
    pub fsync_micros_sum: AtomicU64,
    /// Number of fsync'd writes.
    pub fsync_count: AtomicU64,
    /// Histogram of batch sizes: buckets 1, 10, 100, 1000, 10000, +Inf.
    pub batch_size_buckets: [AtomicU64; 6],
    /// Histogram of fsync latency: buckets 1ms, 5ms, 10ms, 50ms, 100ms, +Inf.
    pub fsync_buckets: [AtomicU64; 6],
    /// When the latest checkpoint was signed.
    pub last_checkpoint: Mutex<Option<Instant>>,
    /// Storage writes that failed (disk full, read-only, I/O error).
    pub write_failures: AtomicU64,
    /// Whether the latest storage write failed: appends are then being refused (RocksDB
    /// keeps a background error until the folder is reopened), which `/healthz` reports.
    pub write_failing: std::sync::atomic::AtomicBool,
}

/// Upper bounds of [`Metrics::batch_size_buckets`].
pub const BATCH_SIZE_BOUNDS: [f64; 5] = [1.0, 10.0, 100.0, 1000.0, 10000.0];
/// Upper bounds (seconds) of [`Metrics::fsync_buckets`].
pub const FSYNC_BOUNDS: [f64; 5] = [0.001, 0.005, 0.010, 0.050, 0.100];

impl Metrics {
    /// Records the outcome of a storage write.
    pub fn observe_write(&self, ok: bool) {
        if !ok {
            self.write_failures.fetch_add(1, Ordering::Relaxed);
        }
        self.write_failing.store(!ok, Ordering::Relaxed);
    }

    /// Time since the latest checkpoint was signed by this process (zero before the first).
    pub fn checkpoint_age(&self) -> Duration {
        self.last_checkpoint
            .lock()
            .expect("metrics lock")
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }

    pub(crate) fn checkpoint_signed(&self) {
        *self.last_checkpoint.lock().expect("metrics lock") = Some(Instant::now());
    }

    pub(crate) fn observe_fsync(&self, d: Duration) {
        self.fsync_micros_sum
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.fsync_count.fetch_add(1, Ordering::Relaxed);
        let s = d.as_secs_f64();
        let i = FSYNC_BOUNDS.iter().position(|b| s <= *b).unwrap_or(5);
        self.fsync_buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn observe_batch(&self, events: u64, bytes: usize, _took: Duration) {
        self.appended.fetch_add(events, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batch_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        let i = BATCH_SIZE_BOUNDS
            .iter()
            .position(|b| events as f64 <= *b)
            .unwrap_or(5);
        self.batch_size_buckets[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// Settings of a log.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Time between checkpoints while the tree grows.
    pub checkpoint_interval: Duration,
    /// Bound on events in one group commit.
    pub max_batch_events: usize,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
            max_batch_events: DEFAULT_MAX_BATCH_EVENTS,
        }
    }
}

/// A stored event: header, leaf bytes and (unless erased) body.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Leaf index.
    pub index: u64,
    /// The public header.
    pub header: EntryHeader,
    /// The leaf bytes.
    pub entry_bytes: Vec<u8>,
    /// The private body record, if any was stored.
    pub body: Option<BodyRecord>,
}

impl StoredEvent {
    /// The leaf hash.
    pub fn leaf_hash(&self) -> Hash {
        crate::core::hash::leaf_hash(&self.entry_bytes)
    }
}

/// Filters of [`Log::list`].
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only events of this model.
    pub model_id: Option<String>,
    /// Only events of this dataset.
    pub dataset_id: Option<String>,
    /// Only events of this type.
    pub event_type: Option<String>,
    /// Only events of this deployment.
    pub deployment_id: Option<String>,
}

struct Shared {
    store: Arc<dyn Store>,
    origin: String,
    tx: Mutex<Option<SyncSender<Request>>>,
    published: watch::Receiver<Published>,
    writer: Mutex<Option<JoinHandle<()>>>,
    metrics: Arc<Metrics>,
    started: Instant,
    /// Full hash chunks of the upper levels, for proofs (`hashcache`).
    hash_cache: hashcache::HashChunkCache,
    /// The writer's hand-over of committed events to a follower.
    feed: Arc<sequencer::CommitFeed>,
    /// Lookup keys of the newest events, not yet in the lookup table.
    recent: Arc<lookups::RecentLookups>,
}

/// Events prepared for appending, or why each could not be.
type Prepared = Vec<Result<PreparedEvent, AppendError>>;

/// Batches at least this many events a core are prepared on several cores.
const PARALLEL_PREPARE_MIN: usize = 256;
/// The writer's answer to one append request.
type ReplyRx = oneshot::Receiver<sequencer::AppendReply>;

/// A handle on an open log. Cheap to clone; the writer stops when [`Log::close`] is called.
#[derive(Clone)]
pub struct Log {
    shared: Arc<Shared>,
}

/// Reads the leaf at `index` out of its entry bundle.
pub(crate) fn read_entry(
    store: &dyn Store,
    index: u64,
) -> Result<Option<(EntryHeader, Vec<u8>)>, LogError> {
    let Some(bundle) = store.get(Table::Entries, &be(index / BUNDLE_WIDTH))? else {
        return Ok(None);
    };
    let leaves = crate::core::tiles::parse_entry_bundle(&bundle)
        .map_err(|e| LogError::Corrupt(format!("entry bundle {}: {e}", index / BUNDLE_WIDTH)))?;
    let Some(bytes) = leaves.get((index % BUNDLE_WIDTH) as usize) else {
        return Ok(None);
    };
    let header =
        entry::decode_entry(bytes).map_err(|e| LogError::Corrupt(format!("entry {index}: {e}")))?;
    Ok(Some((header, bytes.to_vec())))
}

/// Walks the leaves `start..end` bundle by bundle, reading and parsing each entry bundle
/// once: `f(n, i, leaves)` gets bundle `n` and its leaves `i..i + leaves.len()`.
pub(crate) fn for_each_bundle(
    store: &dyn Store,
    start: u64,
    end: u64,
    mut f: impl FnMut(u64, u64, &[&[u8]]) -> Result<(), LogError>,
) -> Result<(), LogError> {
    let mut i = start;
    while i < end {
        let n = i / BUNDLE_WIDTH;
        let bundle = store
            .get(Table::Entries, &be(n))?
            .ok_or_else(|| LogError::Corrupt(format!("entry bundle {n} missing")))?;
        let leaves = crate::core::tiles::parse_entry_bundle(&bundle)
            .map_err(|e| LogError::Corrupt(format!("entry bundle {n}: {e}")))?;
        let stop = end.min((n + 1) * BUNDLE_WIDTH);
        let range = (i % BUNDLE_WIDTH) as usize..(stop - n * BUNDLE_WIDTH) as usize;
        let wanted = leaves.get(range).ok_or_else(|| {
            LogError::Corrupt(format!(
                "leaf {} missing",
                n * BUNDLE_WIDTH + leaves.len() as u64
            ))
        })?;
        f(n, i, wanted)?;
        i = stop;
    }
    Ok(())
}

impl Log {
    /// Opens the log in `store`, signing checkpoints with `signer` (whose name is the
    /// origin), recovering and checking what is stored, and starts the writer.
    pub fn open(
        store: Arc<dyn Store>,
        signer: Ed25519Signer,
        config: LogConfig,
    ) -> Result<Log, LogError> {
        let origin = signer.name().as_str().to_string();
        // A new log records its layout and origin; an old one must match them.
        match store.get(Table::Meta, layout::META_ORIGIN)? {
            None => {
                if store.get(Table::Meta, layout::META_TREE_SIZE)?.is_some() {
                    return Err(LogError::Corrupt(
                        "tree size stored without an origin".into(),
                    ));
                }
                let mut b = Batch::new();
                b.put(Table::Meta, layout::META_ORIGIN, origin.as_bytes().to_vec());
                b.put(
                    Table::Meta,
                    layout::META_LAYOUT,
                    layout::LAYOUT_VERSION.to_vec(),
                );
                b.put(Table::Meta, layout::META_LOOKUP_INDEXED, be(0));
                store.write(b)?;
            }
            Some(o) if o == origin.as_bytes() => {}
            Some(o) => {
                return Err(LogError::Invalid(format!(
                    "this data folder holds the log {:?}, but the key is for {:?}",
                    String::from_utf8_lossy(&o),
                    origin
                )))
            }
        }
        match store.get(Table::Meta, layout::META_LAYOUT)?.as_deref() {
            Some(v) if v == layout::LAYOUT_VERSION => {}
            Some(v) if v == layout::LAYOUT_V1 => {
                let moved = layout::migrate_v1(&*store)?;
                tracing::info!(moved, "storage layout 1 migrated to 3 (lookup table)");
            }
            Some(v) if v == layout::LAYOUT_V3 || v == layout::LAYOUT_V2 => {
                // Same data (layout 2 differs only by not using appends), and every event's
                // lookup keys are stored.
                layout::mark_all_indexed(&*store)?;
                tracing::info!("storage layout {} marked 4", String::from_utf8_lossy(v));
            }
            Some(v) => {
                return Err(LogError::Corrupt(format!(
                    "unknown storage layout {:?} (written by a newer tlog?)",
                    String::from_utf8_lossy(v)
                )))
            }
            None => return Err(LogError::Corrupt("storage layout not recorded".into())),
        }
        let state = WriterState::load(&*store)?;
        // Lookup keys a crash left only in memory: derived again from the entries.
        let derived = lookups::recover(&*store, state.tree_size)?;
        if derived > 0 {
            tracing::info!(
                events = derived,
                "lookup keys of the newest events restored"
            );
        }
        // Recovery check: the stored tree must have, at the latest checkpoint's size, the
        // root that checkpoint signed. Every batch is atomic, so there is no half-written
        // step to finish; a mismatch means the data was changed behind the log's back.
        let stored = store.get(Table::Checkpoints, &be(state.checkpoint_size))?;
        if stored.is_none() && state.checkpoint_size > 0 {
            return Err(LogError::Corrupt("latest checkpoint missing".into()));
        }
        let checkpoint = match stored {
            None => None,
            Some(note) => {
                if state.checkpoint_size > state.tree_size {
                    return Err(LogError::Corrupt(format!(
                        "checkpoint at size {} but the tree has {} leaves",
                        state.checkpoint_size, state.tree_size
                    )));
                }
                let cp = open_checkpoint(&note, &signer.verifier())
                    .map(|s| s.checkpoint)
                    .map_err(|e| LogError::Corrupt(format!("stored checkpoint: {e}")))?;
                let root = merkle::tree_root(cp.tree_size, &StoreHashReader { store: &*store })
                    .map_err(|e| LogError::Corrupt(e.to_string()))?;
                if root != cp.root_hash || cp.tree_size != state.checkpoint_size {
                    return Err(LogError::Corrupt(format!(
                        "the stored tree does not match the signed checkpoint at size {}",
                        cp.tree_size
                    )));
                }
                Some(Arc::new(SignedCheckpoint {
                    checkpoint: cp,
                    note,
                }))
            }
        };
        let (pub_tx, pub_rx) = watch::channel(Published {
            tree_size: state.tree_size,
            checkpoint,
        });
        let metrics = Arc::new(Metrics::default());
        let feed = Arc::new(sequencer::CommitFeed::default());
        let recent = Arc::new(lookups::RecentLookups::default());
        let writer = Writer {
            lookups: lookups::LookupWriter::new(store.clone(), recent.clone(), state.tree_size)?,
            store: store.clone(),
            signer,
            origin: origin.clone(),
            state,
            config: WriterConfig {
                checkpoint_interval: config.checkpoint_interval,
                max_batch_events: config.max_batch_events.max(1),
            },
            published: pub_tx,
            last_checkpoint_at: Instant::now(),
            metrics: metrics.clone(),
            feed: feed.clone(),
        };
        let (tx, rx) = sync_channel(QUEUE_DEPTH);
        let handle = std::thread::Builder::new()
            .name("tlog-sequencer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| LogError::Internal(format!("starting the writer: {e}")))?;
        Ok(Log {
            shared: Arc::new(Shared {
                store,
                origin,
                tx: Mutex::new(Some(tx)),
                published: pub_rx,
                writer: Mutex::new(Some(handle)),
                metrics,
                started: Instant::now(),
                hash_cache: hashcache::HashChunkCache::new(hashcache::HASH_CACHE_BYTES),
                feed,
                recent,
            }),
        })
    }

    /// The log's origin (the checkpoint key name).
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    /// The store under the log.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// Counters for metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Hands the events of every later durable group to the returned stream (replacing an
    /// earlier one), in index order, as long as its reader keeps up (at most
    /// [`MAX_FED_EVENTS`] waiting). Groups may be missing from the stream, never
    /// out of order or altered: a reader fills gaps from the store ([`Log::events`]).
    pub fn follow_commits(&self) -> sequencer::CommitStream {
        self.shared.feed.follow()
    }

    /// When this handle was opened.
    pub fn started(&self) -> Instant {
        self.shared.started
    }

    fn send(&self, req: Request) -> Result<(), LogError> {
        let tx = self
            .shared
            .tx
            .lock()
            .expect("sender lock")
            .clone()
            .ok_or(LogError::Closed)?;
        tx.send(req).map_err(|_| LogError::Closed)
    }

    /// Prepares events (encoding, hashing) in the caller's thread; a large batch is split
    /// over the machine's cores, so a single writer (`tlog append --batch`, `tlog import`)
    /// is not limited by one core while the sequencer waits for it.
    fn prepare_all(events: Vec<NewEvent>) -> Vec<Result<PreparedEvent, AppendError>> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pieces = cores.min(events.len() / PARALLEL_PREPARE_MIN).max(1);
        let prepared = if pieces == 1 {
            event::prepare_many(events)
        } else {
            let per = events.len().div_ceil(pieces);
            let mut rest = events;
            let mut chunks = Vec::with_capacity(pieces);
            while rest.len() > per {
                let tail = rest.split_off(per);
                chunks.push(rest);
                rest = tail;
            }
            chunks.push(rest);
            std::thread::scope(|s| {
                let handles: Vec<_> = chunks
                    .into_iter()
                    .map(|c| s.spawn(move || event::prepare_many(c)))
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().expect("prepare thread panicked"))
                    .collect()
            })
        };
        prepared
            .into_iter()
            .map(|r| r.map_err(|e| AppendError::Invalid(e.to_string())))
            .collect()
    }

    /// Sends the good events to the writer (moved, not copied) and keeps, for each
    /// position, the refusal of a bad event or `None` for one sent.
    fn request_append(
        &self,
        prepared: Prepared,
    ) -> Result<(Vec<Option<AppendError>>, Option<ReplyRx>), LogError> {
        let mut slots = Vec::with_capacity(prepared.len());
        let mut good = Vec::with_capacity(prepared.len());
        for p in prepared {
            match p {
                Ok(ev) => {
                    good.push(ev);
                    slots.push(None);
                }
                Err(e) => slots.push(Some(e)),
            }
        }
        if good.is_empty() {
            return Ok((slots, None));
        }
        let (reply, rx) = oneshot::channel();
        self.send(Request::Append {
            events: good,
            reply,
        })?;
        Ok((slots, Some(rx)))
    }

    fn merge_results(
        slots: Vec<Option<AppendError>>,
        done: Vec<Result<Appended, AppendError>>,
    ) -> Vec<Result<Appended, AppendError>> {
        let mut done = done.into_iter();
        slots
            .into_iter()
            .map(|slot| match slot {
                None => done.next().unwrap_or_else(|| {
                    Err(AppendError::Invalid("internal: missing result".into()))
                }),
                Some(e) => Err(e),
            })
            .collect()
    }

    /// Appends events and waits until they are durable. One result per event, in order:
    /// invalid events are refused without affecting the others.
    pub async fn append(
        &self,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Result<Appended, AppendError>>, LogError> {
        let prepared = Self::prepare_all(events);
        let (prepared, rx) = self.request_append(prepared)?;
        let done = match rx {
            Some(rx) => rx.await.map_err(|_| LogError::Closed)?.into_results()?,
            None => Vec::new(),
        };
        Ok(Self::merge_results(prepared, done))
    }

    /// Appends already prepared events and waits until they are durable (async).
    pub async fn append_prepared(
        &self,
        prepared: Vec<Result<PreparedEvent, AppendError>>,
    ) -> Result<Vec<Result<Appended, AppendError>>, LogError> {
        let (prepared, rx) = self.request_append(prepared)?;
        let done = match rx {
            Some(rx) => rx.await.map_err(|_| LogError::Closed)?.into_results()?,
            None => Vec::new(),
        };
        Ok(Self::merge_results(prepared, done))
    }

    /// [`Log::append`] for synchronous callers (the CLI); must not be called on a tokio
    /// runtime thread.
    pub fn append_blocking(
        &self,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Result<Appended, AppendError>>, LogError> {
        let prepared = Self::prepare_all(events);
        let (prepared, rx) = self.request_append(prepared)?;
        let done = match rx {
            Some(rx) => rx
                .blocking_recv()
                .map_err(|_| LogError::Closed)?
                .into_results()?,
            None => Vec::new(),
        };
        Ok(Self::merge_results(prepared, done))
    }

    /// Signs a checkpoint now if the tree grew since the last one, and returns the latest.
    pub fn checkpoint_now_blocking(&self) -> Result<Arc<SignedCheckpoint>, LogError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::Checkpoint { reply })?;
        rx.blocking_recv().map_err(|_| LogError::Closed)?
    }

    /// Async form of [`Log::checkpoint_now_blocking`].
    pub async fn checkpoint_now(&self) -> Result<Arc<SignedCheckpoint>, LogError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::Checkpoint { reply })?;
        rx.await.map_err(|_| LogError::Closed)?
    }

    /// Replaces the body of `index` by an erasure marker pointing at the `Erasure` event
    /// `erased_by`. Proofs and checkpoints are unaffected: leaves commit to bodies only by
    /// digest.
    pub fn erase_body_blocking(
        &self,
        index: u64,
        erased_by: u64,
        reason: String,
    ) -> Result<(), LogError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::Erase {
            index,
            erased_by,
            reason,
            reply,
        })?;
        rx.blocking_recv().map_err(|_| LogError::Closed)?
    }

    /// The committed tree size and latest checkpoint.
    pub fn published(&self) -> Published {
        self.shared.published.borrow().clone()
    }

    /// A receiver that sees every publication (for `wait=checkpoint` and the mirror).
    pub fn subscribe(&self) -> watch::Receiver<Published> {
        self.shared.published.clone()
    }

    /// The committed (durable) tree size.
    pub fn tree_size(&self) -> u64 {
        self.shared.published.borrow().tree_size
    }

    /// The latest signed checkpoint, if any.
    pub fn latest_checkpoint(&self) -> Option<Arc<SignedCheckpoint>> {
        self.shared.published.borrow().checkpoint.clone()
    }

    /// Waits until a checkpoint covering `tree_size` leaves is published.
    pub async fn wait_for_checkpoint(
        &self,
        tree_size: u64,
    ) -> Result<Arc<SignedCheckpoint>, LogError> {
        let mut rx = self.subscribe();
        loop {
            if let Some(cp) = rx.borrow_and_update().checkpoint.clone() {
                if cp.checkpoint.tree_size >= tree_size {
                    return Ok(cp);
                }
            }
            rx.changed().await.map_err(|_| LogError::Closed)?;
        }
    }

    /// The stored checkpoint signed at exactly `tree_size`, if one was.
    pub fn checkpoint_at(&self, tree_size: u64) -> Result<Option<Vec<u8>>, LogError> {
        Ok(self.shared.store.get(Table::Checkpoints, &be(tree_size))?)
    }

    /// The event at `index`, with its body record.
    pub fn event(&self, index: u64) -> Result<Option<StoredEvent>, LogError> {
        if index >= self.tree_size() {
            return Ok(None);
        }
        let store = &*self.shared.store;
        let Some((header, entry_bytes)) = read_entry(store, index)? else {
            return Ok(None);
        };
        let body = layout::read_body(store, index)?;
        Ok(Some(StoredEvent {
            index,
            header,
            entry_bytes,
            body,
        }))
    }

    /// Events `start..start+count` (clipped to the committed tree), reading each entry
    /// bundle and body bundle once (what the mirror and scans use; [`Log::event`] reads
    /// both bundles for a single event).
    pub fn events(&self, start: u64, count: u64) -> Result<Vec<StoredEvent>, LogError> {
        let end = start.saturating_add(count).min(self.tree_size());
        let store = &*self.shared.store;
        let mut out = Vec::with_capacity(end.saturating_sub(start) as usize);
        for_each_bundle(store, start, end, |n, first, leaves| {
            let bodies = store.get(Table::Bodies, &be(n))?;
            let records = match &bodies {
                Some(b) => layout::parse_body_bundle(b)?,
                None => Vec::new(),
            };
            for (j, leaf) in (first..).zip(leaves) {
                let header = entry::decode_entry(leaf)
                    .map_err(|e| LogError::Corrupt(format!("entry {j}: {e}")))?;
                let body = records
                    .get((j % BUNDLE_WIDTH) as usize)
                    .map(|r| BodyRecord::decode(r))
                    .transpose()?;
                out.push(StoredEvent {
                    index: j,
                    header,
                    entry_bytes: leaf.to_vec(),
                    body,
                });
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Leaves `start..start+count` (clipped to the committed tree), bundle by bundle.
    pub fn entries(&self, start: u64, count: u64) -> Result<Vec<Vec<u8>>, LogError> {
        let end = start.saturating_add(count).min(self.tree_size());
        let mut out = Vec::with_capacity(end.saturating_sub(start) as usize);
        for_each_bundle(&*self.shared.store, start, end, |_, _, leaves| {
            out.extend(leaves.iter().map(|l| l.to_vec()));
            Ok(())
        })?;
        Ok(out)
    }

    /// The raw stored entry bundle `n` (C2SP tlog-tiles `tile/entries/<n>`), as of now.
    pub fn entry_bundle(&self, n: u64) -> Result<Option<Vec<u8>>, LogError> {
        Ok(self.shared.store.get(Table::Entries, &be(n))?)
    }

    /// The raw stored hash chunk of `level`, number `n` (tiles of level `level/8` when
    /// `level % 8 == 0`).
    pub fn hash_chunk(&self, level: u8, n: u64) -> Result<Option<Vec<u8>>, LogError> {
        Ok(self
            .shared
            .store
            .get(Table::Hashes, &layout::chunk_key(level, n))?)
    }

    /// Finds the leaf index of an event id.
    pub fn find_event_id(&self, event_id: &str) -> Result<Option<u64>, LogError> {
        self.lookup(&layout::event_id_key(event_id))
    }

    /// Looks a lookup key up ([`lookups::RecentLookups::find`]), within the published tree.
    fn lookup(&self, key: &lookups::Key) -> Result<Option<u64>, LogError> {
        let found = self.shared.recent.find(&*self.shared.store, key)?;
        Ok(found.filter(|i| *i < self.tree_size()))
    }

    /// The leaf hash at `index` (from the stored level-0 hashes: no entry is read).
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, LogError> {
        if index >= self.tree_size() {
            return Err(LogError::NotFound(format!("no event at index {index}")));
        }
        self.hash_reader()
            .read_hashes(&[merkle::NodeId::new(0, index)])
            .map_err(|e| LogError::Storage(e.to_string()))?
            .pop()
            .ok_or_else(|| LogError::Internal("no hash returned".into()))
    }

    /// Finds the leaf index of a leaf hash.
    pub fn find_leaf_hash(&self, hash: &Hash) -> Result<Option<u64>, LogError> {
        self.lookup(&layout::leaf_key(hash))
    }

    /// Leaf indexes matching `filter`, in order, strictly after `after`, at most `limit`.
    pub fn list(
        &self,
        filter: &ListFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, LogError> {
        let limit = limit.min(MAX_LIST_LIMIT);
        let size = self.tree_size();
        let start_index = after.map(|a| a.saturating_add(1)).unwrap_or(0);
        // Pick the most selective posting list available; check the others per event.
        let lists: Vec<(u8, &String)> = [
            (kind::MODEL, &filter.model_id),
            (kind::DATASET, &filter.dataset_id),
            (kind::DEPLOYMENT, &filter.deployment_id),
            (kind::TYPE, &filter.event_type),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        let mut out = Vec::new();
        if lists.is_empty() {
            let mut i = start_index;
            while i < size && out.len() < limit {
                out.push(i);
                i += 1;
            }
            return Ok(out);
        }
        let (k, v) = lists[0];
        let store = &*self.shared.store;
        let prefix = layout::posting_prefix(k, v);
        let key_at = |i: u64| {
            let mut key = prefix.clone();
            key.extend_from_slice(&be(i));
            key
        };
        // Posting blocks hold the indexes of one group commit, from their key's index on;
        // only the last block starting at or before `start_index` can hold later ones.
        let mut cursor = match store.last_in_range(
            Table::Index,
            &key_at(0),
            &key_at(start_index.saturating_add(1)),
        )? {
            Some((key, _)) => key,
            None => key_at(start_index),
        };
        let mut end = prefix.clone();
        end.extend_from_slice(&[0xff; 9]);
        while out.len() < limit {
            let page = store.scan(Table::Index, &cursor, &end, 64)?;
            if page.is_empty() {
                break;
            }
            for (_, block) in &page {
                for raw in block.chunks_exact(8) {
                    let i = crate::storage::parse_be(raw)?;
                    if i < start_index {
                        continue;
                    }
                    if i >= size {
                        return Ok(out);
                    }
                    if lists.len() > 1 {
                        let Some((h, _)) = read_entry(store, i)? else {
                            continue;
                        };
                        let ok = lists[1..].iter().all(|(k, v)| {
                            let field = match *k {
                                kind::MODEL => h.model_id.as_ref(),
                                kind::DATASET => h.dataset_id.as_ref(),
                                kind::DEPLOYMENT => h.deployment_id.as_ref(),
                                _ => Some(&h.event_type),
                            };
                            field == Some(*v)
                        });
                        if !ok {
                            continue;
                        }
                    }
                    out.push(i);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
            let mut next = page.last().expect("non-empty page").0.clone();
            next.push(0);
            cursor = next;
        }
        Ok(out)
    }

    /// A reader of stored hashes.
    pub fn hash_reader(&self) -> impl HashReader + '_ {
        hashcache::CachedHashReader {
            store: &*self.shared.store,
            cache: &self.shared.hash_cache,
            size: self.tree_size(),
        }
    }

    fn check_size(&self, tree_size: u64) -> Result<(), LogError> {
        let size = self.tree_size();
        if tree_size > size {
            return Err(LogError::Invalid(format!(
                "tree size {tree_size} is beyond the log's size {size}"
            )));
        }
        Ok(())
    }

    /// The root of the tree at `tree_size` (at most the committed size).
    pub fn root_at(&self, tree_size: u64) -> Result<Hash, LogError> {
        self.check_size(tree_size)?;
        merkle::tree_root(tree_size, &self.hash_reader())
            .map_err(|e| LogError::Storage(e.to_string()))
    }

    /// The inclusion proof of leaf `index` in the tree at `tree_size`.
    pub fn inclusion_proof(&self, index: u64, tree_size: u64) -> Result<Vec<Hash>, LogError> {
        self.check_size(tree_size)?;
        proof::prove_inclusion(index, tree_size, &self.hash_reader()).map_err(proof_err)
    }

    /// The leaf hash of `index` and its inclusion proof in the tree at `tree_size`, read
    /// together (one store read for both).
    pub fn inclusion_proof_with_leaf(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<(Hash, Vec<Hash>), LogError> {
        self.check_size(tree_size)?;
        let reader = WithLeaf {
            inner: self.hash_reader(),
            leaf: merkle::NodeId::new(0, index),
            got: std::cell::Cell::new(None),
        };
        let proof = proof::prove_inclusion(index, tree_size, &reader).map_err(proof_err)?;
        let leaf = match reader.got.get() {
            Some(leaf) => leaf,
            // The proof read no hash (a tree of one leaf): read the leaf alone.
            None => self.leaf_hash(index)?,
        };
        Ok((leaf, proof))
    }

    /// The consistency proof from `old_size` to `new_size`.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, LogError> {
        self.check_size(new_size)?;
        proof::prove_consistency(old_size, new_size, &self.hash_reader()).map_err(proof_err)
    }

    /// Stops the writer after it has answered every queued request and signed a final
    /// checkpoint. Appends after this fail with [`LogError::Closed`].
    pub fn close(&self) {
        self.shared.tx.lock().expect("sender lock").take();
        if let Some(h) = self.shared.writer.lock().expect("writer lock").take() {
            let _ = h.join();
        }
    }
}

/// A reader that also reads one more node (the proven leaf) in the same call.
struct WithLeaf<R> {
    inner: R,
    leaf: merkle::NodeId,
    got: std::cell::Cell<Option<Hash>>,
}

impl<R: HashReader> HashReader for WithLeaf<R> {
    fn read_hashes(&self, nodes: &[merkle::NodeId]) -> Result<Vec<Hash>, merkle::HashReadError> {
        let mut all = Vec::with_capacity(nodes.len() + 1);
        all.extend_from_slice(nodes);
        all.push(self.leaf);
        let mut hashes = self.inner.read_hashes(&all)?;
        self.got.set(hashes.pop());
        Ok(hashes)
    }
}

fn proof_err(e: ProofError) -> LogError {
    match e {
        ProofError::Read(m) => LogError::Storage(m),
        other => LogError::Invalid(other.to_string()),
    }
}

/// The offline proof bundle of a stored event (`spec/bundle.md`).
pub fn make_bundle(
    ev: &StoredEvent,
    inclusion_proof: Vec<Hash>,
    checkpoint_note: Vec<u8>,
) -> crate::core::bundle::ProofBundle {
    use crate::core::bundle::{Erasure, ProofBundle};
    let (body, salt, erased) = match &ev.body {
        Some(BodyRecord::Present { salt, body }) => (Some(body.clone()), Some(*salt), None),
        Some(BodyRecord::Erased { erased_by, reason }) => (
            None,
            None,
            Some(Erasure {
                erased_by: *erased_by,
                reason: reason.clone(),
            }),
        ),
        None => (None, None, None),
    };
    ProofBundle {
        leaf_index: ev.index,
        entry: ev.entry_bytes.clone(),
        body,
        salt,
        erased,
        inclusion_proof,
        checkpoint: checkpoint_note,
    }
}
