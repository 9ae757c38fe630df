//! The sequencer: the one writer of the log.
//!
//! Requests arrive on a bounded channel. The writer takes the first waiting request, drains
//! whatever else is already queued (group commit, up to `max_batch_events`), and turns the
//! whole group into ONE storage batch: entry bundles, bodies, new stored hashes, index
//! postings, the new tree size and, when one is due, the signed checkpoint of the new tree.
//! Only after `Store::write` returns (the batch is fsync'd) are callers answered and the
//! new size and checkpoint published. See `spec/storage.md`, "Life of an event".
//!
//! # Crash safety
//!
//! Every state change of the log is one atomic, durable batch (storage contract 1–3). A
//! crash before the write returns leaves the store at the previous batch: nothing of this
//! group was acknowledged, so nothing acknowledged is lost. A crash after it returns leaves
//! the whole group, acknowledged or not. A checkpoint is signed over the root of a tree
//! that is written in the same batch, so a stored checkpoint always describes stored
//! leaves; and because stored leaves never change, every checkpoint ever signed for a size
//! has the same root (Ed25519 is deterministic: the very same note). A checkpoint is
//! published only after its batch is durable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use super::layout::{self, kind, BodyRecord, StoreHashReader, BUNDLE_WIDTH, CHUNK_WIDTH};
use super::{AppendError, Appended, LogError, Published, SignedCheckpoint};
use crate::core::checkpoint::{sign_checkpoint, Checkpoint};
use crate::core::entry;
use crate::core::hash::{Hash, HASH_SIZE};
use crate::core::merkle::{Frontier, NodeId};
use crate::core::note::Ed25519Signer;
use crate::log::event::PreparedEvent;
use crate::storage::{be, Batch, Store, Table};

/// The outcome of a duplicate check: none, the original (index, leaf hash), or a conflict.
type Duplicate = Option<Result<(u64, Hash), AppendError>>;

/// A request to the writer.
pub(crate) enum Request {
    /// Append events; the reply has one result per event, in order.
    Append {
        events: Vec<PreparedEvent>,
        reply: oneshot::Sender<AppendReply>,
    },
    /// Sign a checkpoint now if the tree grew since the last one.
    Checkpoint {
        reply: oneshot::Sender<Result<Arc<SignedCheckpoint>, LogError>>,
    },
    /// Erase the body of a leaf (the erasure event itself is appended separately).
    Erase {
        index: u64,
        erased_by: u64,
        reason: String,
        reply: oneshot::Sender<Result<(), LogError>>,
    },
}

/// The writer's in-memory state: O(log n), rebuilt from the store on open.
pub(crate) struct WriterState {
    /// Committed tree size.
    pub tree_size: u64,
    /// Roots of the complete subtrees of the committed tree.
    pub frontier: Frontier,
    /// The partial (not yet full) hash chunk of each level, as stored.
    pub chunks: Vec<Vec<u8>>,
    /// The partial entry bundle, as stored.
    pub bundle: Vec<u8>,
    /// The partial body bundle, as stored.
    pub bodies: Vec<u8>,
    /// How many leading bytes of each of `chunks` the store holds (`None`: unknown, so the
    /// next write puts the whole value). New bytes are appended ([`Op::Append`]), never
    /// rewritten: a group of `g` events writes `O(g)` bytes, not the whole partial bundle.
    ///
    /// [`Op::Append`]: crate::storage::Op::Append
    pub chunks_stored: Vec<Option<usize>>,
    /// Leading bytes of `bundle` the store holds.
    pub bundle_stored: Option<usize>,
    /// Leading bytes of `bodies` the store holds.
    pub bodies_stored: Option<usize>,
    /// Size of the latest stored checkpoint.
    pub checkpoint_size: u64,
}

/// Adds to `batch` what makes the stored value of `key` equal to `value`, when the store
/// holds its first `stored` bytes: an append of the rest, or a put of the whole value when
/// the key is new (`Some(0)`) or its stored length is unknown (`None`).
fn write_grown(
    batch: &mut Batch,
    table: Table,
    key: impl Into<Vec<u8>>,
    value: &[u8],
    stored: Option<usize>,
) {
    match stored {
        Some(n) if n > 0 && n <= value.len() => {
            if n < value.len() {
                batch.append(table, key, value[n..].to_vec());
            }
        }
        _ => batch.put(table, key, value.to_vec()),
    }
}

impl WriterState {
    /// Rebuilds the writer state from the store (recovery).
    pub fn load(store: &dyn Store) -> Result<WriterState, LogError> {
        let tree_size = read_meta_u64(store, layout::META_TREE_SIZE)?.unwrap_or(0);
        let checkpoint_size = read_meta_u64(store, layout::META_CHECKPOINT_SIZE)?.unwrap_or(0);
        let reader = StoreHashReader { store };
        let frontier = Frontier::load(tree_size, &reader)
            .map_err(|e| LogError::Corrupt(format!("loading the tree's right edge: {e}")))?;
        let mut chunks = Vec::new();
        let mut chunks_stored = Vec::new();
        let mut level = 0u8;
        while level < 64 && (tree_size >> level) > 0 {
            let count = tree_size >> level;
            let partial = count % CHUNK_WIDTH;
            let mut chunk = Vec::new();
            let mut stored = Some(0);
            if partial > 0 {
                let key = layout::chunk_key(level, count / CHUNK_WIDTH);
                let v = store.get(Table::Hashes, &key)?.ok_or_else(|| {
                    LogError::Corrupt(format!(
                        "hash chunk {level}/{} missing",
                        count / CHUNK_WIDTH
                    ))
                })?;
                let want = partial as usize * HASH_SIZE;
                if v.len() < want {
                    return Err(LogError::Corrupt(format!(
                        "hash chunk {level}/{} has {} bytes, expected {want}",
                        count / CHUNK_WIDTH,
                        v.len()
                    )));
                }
                // Longer than the tree says (never written so): the next write puts it.
                stored = (v.len() == want).then_some(want);
                chunk = v[..want].to_vec();
            }
            chunks.push(chunk);
            chunks_stored.push(stored);
            level += 1;
        }
        let mut bundle = Vec::new();
        if tree_size % BUNDLE_WIDTH > 0 {
            let n = tree_size / BUNDLE_WIDTH;
            bundle = store
                .get(Table::Entries, &be(n))?
                .ok_or_else(|| LogError::Corrupt(format!("entry bundle {n} missing")))?;
            let leaves = crate::core::tiles::parse_entry_bundle(&bundle)
                .map_err(|e| LogError::Corrupt(format!("entry bundle {n}: {e}")))?;
            if leaves.len() as u64 != tree_size % BUNDLE_WIDTH {
                return Err(LogError::Corrupt(format!(
                    "entry bundle {n} holds {} leaves, expected {}",
                    leaves.len(),
                    tree_size % BUNDLE_WIDTH
                )));
            }
        }
        let mut bodies = Vec::new();
        if tree_size % BUNDLE_WIDTH > 0 {
            let n = tree_size / BUNDLE_WIDTH;
            bodies = store
                .get(Table::Bodies, &be(n))?
                .ok_or_else(|| LogError::Corrupt(format!("body bundle {n} missing")))?;
            let records = layout::parse_body_bundle(&bodies)?;
            if records.len() as u64 != tree_size % BUNDLE_WIDTH {
                return Err(LogError::Corrupt(format!(
                    "body bundle {n} holds {} records, expected {}",
                    records.len(),
                    tree_size % BUNDLE_WIDTH
                )));
            }
        }
        Ok(WriterState {
            tree_size,
            frontier,
            chunks,
            bundle_stored: Some(bundle.len()),
            bodies_stored: Some(bodies.len()),
            bundle,
            bodies,
            chunks_stored,
            checkpoint_size,
        })
    }
}

/// Reads a u64 meta value.
pub(crate) fn read_meta_u64(store: &dyn Store, key: &[u8]) -> Result<Option<u64>, LogError> {
    match store.get(Table::Meta, key)? {
        None => Ok(None),
        Some(v) => Ok(Some(crate::storage::parse_be(&v)?)),
    }
}

/// Settings of the writer.
pub(crate) struct WriterConfig {
    pub checkpoint_interval: Duration,
    pub max_batch_events: usize,
}

/// The writer thread's context.
pub(crate) struct Writer {
    pub store: Arc<dyn Store>,
    pub signer: Ed25519Signer,
    pub origin: String,
    pub state: WriterState,
    pub config: WriterConfig,
    pub published: watch::Sender<Published>,
    pub last_checkpoint_at: Instant,
    pub metrics: Arc<super::Metrics>,
    /// The follower's feed of committed events.
    pub feed: Arc<CommitFeed>,
    /// The newest events' lookup keys, and their way into the lookup table.
    pub lookups: super::lookups::LookupWriter,
}

/// The new leaves of one committed group, in index order, as the writer hands them to a
/// follower of the log ([`CommitFeed`]): `(index, event)`.
pub struct Committed {
    /// The leaves, each with its index.
    pub events: Vec<(u64, PreparedEvent)>,
}

/// Most events handed to the follower and not yet taken. Past it, groups are not handed
/// over (the follower reads them back from the store instead), so a stalled follower costs
/// bounded memory and never slows the writer.
pub const MAX_FED_EVENTS: usize = 1 << 16;
/// Most groups in the feed's channel.
const FEED_DEPTH: usize = 4096;

/// Where the writer hands the events of each durable group to the log's one follower (the
/// JSONL mirror of `tlog serve`), so that it need not read them back from the store and
/// decode them. Best effort by design: a group is handed over only when the follower keeps
/// up, and the follower fills any gap from the store, which stays the source of truth.
#[derive(Default)]
pub(crate) struct CommitFeed {
    /// The follower's channel and its count of events sent and not yet taken (a new count
    /// a follower, so what an earlier follower left unread is not held against the next).
    tx: Mutex<Option<(SyncSender<Committed>, Arc<AtomicUsize>)>>,
}

/// The follower's end of the [`CommitFeed`] ([`super::Log::follow_commits`]).
pub struct CommitStream {
    rx: Receiver<Committed>,
    queued: Arc<AtomicUsize>,
}

impl CommitStream {
    fn taken(&self, c: Committed) -> Committed {
        self.queued.fetch_sub(c.events.len(), Ordering::Relaxed);
        c
    }

    /// The next group, waiting up to `timeout`; `None` when there was none in time or the
    /// log is closed.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Committed> {
        self.rx.recv_timeout(timeout).ok().map(|c| self.taken(c))
    }

    /// The next group if one is waiting.
    pub fn try_recv(&self) -> Option<Committed> {
        self.rx.try_recv().ok().map(|c| self.taken(c))
    }
}

impl CommitFeed {
    /// Starts handing groups to a new follower (replacing any earlier one).
    pub(crate) fn follow(&self) -> CommitStream {
        let (tx, rx) = std::sync::mpsc::sync_channel(FEED_DEPTH);
        let queued = Arc::new(AtomicUsize::new(0));
        *self.tx.lock().expect("feed lock") = Some((tx, queued.clone()));
        CommitStream { rx, queued }
    }

    /// Whether a follower would take `n` more events now.
    fn wants(&self, n: usize) -> bool {
        match &*self.tx.lock().expect("feed lock") {
            Some((_, queued)) => queued.load(Ordering::Relaxed) + n <= MAX_FED_EVENTS,
            None => false,
        }
    }

    fn send(&self, c: Committed) {
        let n = c.events.len();
        let mut slot = self.tx.lock().expect("feed lock");
        let Some((sender, queued)) = slot.as_ref() else {
            return;
        };
        queued.fetch_add(n, Ordering::Relaxed);
        match sender.try_send(c) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                queued.fetch_sub(n, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {
                *slot = None;
            }
        }
    }
}

struct Pending {
    events: Vec<PreparedEvent>,
    reply: oneshot::Sender<AppendReply>,
}

/// The writer's answer to an append request: one result per event, in order, and the
/// events themselves, handed back so that the caller's thread, which allocated them, frees
/// them. Freeing them on the writer's thread took 12% of its time (`perf` on
/// `benches/append.rs`: cross-thread frees), and the writer is the log's bottleneck.
pub(crate) struct AppendReply {
    /// The results, or why the whole group failed.
    pub results: Result<Vec<Result<Appended, AppendError>>, LogError>,
    /// The request's events, to be dropped by the receiver.
    pub events: Vec<PreparedEvent>,
}

impl AppendReply {
    /// The results; the events are freed here, on the receiver's thread.
    pub fn into_results(self) -> Result<Vec<Result<Appended, AppendError>>, LogError> {
        drop(self.events);
        self.results
    }
}

impl Writer {
    /// Runs until every sender is dropped; then signs a final checkpoint.
    pub fn run(mut self, rx: Receiver<Request>) {
        let mut carry: Option<Request> = None;
        loop {
            let req = match carry.take() {
                Some(r) => r,
                None => {
                    let timeout = self.until_checkpoint_due();
                    match rx.recv_timeout(timeout) {
                        Ok(r) => r,
                        Err(RecvTimeoutError::Timeout) => {
                            if self.checkpoint_due() {
                                let _ = self.sign_checkpoint_alone();
                            }
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            match req {
                Request::Append { events, reply } => {
                    let mut group = vec![Pending { events, reply }];
                    let mut count = group[0].events.len();
                    // Group commit: take everything already waiting, up to the batch limit.
                    while count < self.config.max_batch_events {
                        match rx.try_recv() {
                            Ok(Request::Append { events, reply }) => {
                                count += events.len();
                                group.push(Pending { events, reply });
                            }
                            Ok(other) => {
                                carry = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit_group(group);
                }
                Request::Checkpoint { reply } => {
                    let _ = reply.send(self.sign_checkpoint_alone());
                }
                Request::Erase {
                    index,
                    erased_by,
                    reason,
                    reply,
                } => {
                    let _ = reply.send(self.erase(index, erased_by, reason));
                }
            }
        }
        // Shutdown: every queued request was answered above; sign a final checkpoint, and
        // store the lookup keys held in memory (else the next open derives them again).
        let _ = self.sign_checkpoint_alone();
        if let Err(e) = self.lookups.finish() {
            tracing::warn!(error = %e, "storing the newest lookup keys on close failed; the next open derives them");
        }
    }

    fn until_checkpoint_due(&self) -> Duration {
        if self.state.tree_size > self.state.checkpoint_size {
            self.config
                .checkpoint_interval
                .saturating_sub(self.last_checkpoint_at.elapsed())
                .max(Duration::from_millis(1))
        } else {
            Duration::from_secs(3600)
        }
    }

    fn checkpoint_due(&self) -> bool {
        self.state.tree_size > self.state.checkpoint_size
            && self.last_checkpoint_at.elapsed() >= self.config.checkpoint_interval
    }

    /// Signs the checkpoint of the committed tree and writes it in its own batch.
    fn sign_checkpoint_alone(&mut self) -> Result<Arc<SignedCheckpoint>, LogError> {
        if self.state.tree_size == self.state.checkpoint_size {
            if let Some(cp) = self.published.borrow().checkpoint.clone() {
                if cp.checkpoint.tree_size == self.state.tree_size {
                    return Ok(cp);
                }
            }
        }
        let mut batch = Batch::new();
        let signed =
            self.sign_into(&mut batch, self.state.tree_size, self.state.frontier.root())?;
        let started = Instant::now();
        let written = self.store.write(batch);
        self.metrics.observe_write(written.is_ok());
        written?;
        self.metrics.observe_fsync(started.elapsed());
        self.state.checkpoint_size = signed.checkpoint.tree_size;
        self.last_checkpoint_at = Instant::now();
        let signed = Arc::new(signed);
        self.metrics.checkpoint_signed();
        self.publish(Some(signed.clone()));
        Ok(signed)
    }

    /// Signs the checkpoint for (`tree_size`, `root`) and adds it to `batch`.
    fn sign_into(
        &self,
        batch: &mut Batch,
        tree_size: u64,
        root: Hash,
    ) -> Result<SignedCheckpoint, LogError> {
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            tree_size,
            root_hash: root,
            extensions: Vec::new(),
        };
        let note = sign_checkpoint(&checkpoint, &self.signer)
            .map_err(|e| LogError::Internal(format!("signing checkpoint: {e}")))?;
        batch.put(Table::Checkpoints, be(tree_size), note.clone());
        batch.put(Table::Meta, layout::META_CHECKPOINT_SIZE, be(tree_size));
        Ok(SignedCheckpoint { checkpoint, note })
    }

    fn publish(&self, checkpoint: Option<Arc<SignedCheckpoint>>) {
        let tree_size = self.state.tree_size;
        self.published.send_modify(|p| {
            p.tree_size = tree_size;
            if let Some(cp) = checkpoint {
                p.checkpoint = Some(cp);
            }
        });
    }

    fn erase(&mut self, index: u64, erased_by: u64, reason: String) -> Result<(), LogError> {
        if index >= self.state.tree_size {
            return Err(LogError::NotFound(format!("no event at index {index}")));
        }
        // Rewrite the body bundle holding `index` with the erasure marker in its place.
        let n = index / BUNDLE_WIDTH;
        let in_partial = n == self.state.tree_size / BUNDLE_WIDTH;
        let old = if in_partial {
            self.state.bodies.clone()
        } else {
            self.store
                .get(Table::Bodies, &be(n))?
                .ok_or_else(|| LogError::Corrupt(format!("body bundle {n} missing")))?
        };
        let records = layout::parse_body_bundle(&old)?;
        let rec = BodyRecord::Erased { erased_by, reason }.encode();
        let mut new = Vec::with_capacity(old.len());
        for (k, r) in records.iter().enumerate() {
            let r = if k as u64 == index % BUNDLE_WIDTH {
                &rec[..]
            } else {
                r
            };
            layout::push_body_record(&mut new, r);
        }
        let mut batch = Batch::new();
        batch.put(Table::Bodies, be(n), new.clone());
        // Durable point: the body and its salt are gone from the store once this returns.
        self.store.write(batch)?;
        if in_partial {
            self.state.bodies_stored = Some(new.len());
            self.state.bodies = new;
        }
        Ok(())
    }

    /// Looks up an earlier event with the same client-chosen id.
    fn find_duplicate(
        &self,
        ev: &PreparedEvent,
        in_batch: &HashMap<String, (u64, usize)>,
        group_events: &[&PreparedEvent],
    ) -> Result<Duplicate, LogError> {
        if !ev.client_event_id {
            return Ok(None);
        }
        if let Some((index, pos)) = in_batch.get(&ev.header.event_id) {
            let other = group_events[*pos];
            let same = same_event(
                ev,
                &other.header,
                Some(&BodyRecord::Present {
                    salt: other.salt,
                    body: other.body_bytes.clone(),
                }),
            );
            return Ok(Some(if same {
                Ok((*index, other.leaf_hash))
            } else {
                Err(AppendError::Conflict(ev.header.event_id.clone()))
            }));
        }
        let key = layout::event_id_key(&ev.header.event_id);
        let Some(index) = self.lookups.find(&key)? else {
            return Ok(None);
        };
        let (header, bytes) = super::read_entry(&*self.store, index)?
            .ok_or_else(|| LogError::Corrupt(format!("indexed event {index} missing")))?;
        let body = layout::read_body(&*self.store, index)?;
        Ok(Some(if same_event(ev, &header, body.as_ref()) {
            Ok((index, crate::core::hash::leaf_hash(&bytes)))
        } else {
            Err(AppendError::Conflict(ev.header.event_id.clone()))
        }))
    }

    fn commit_group(&mut self, group: Vec<Pending>) {
        match self.try_commit_group(&group) {
            Ok((results, checkpoint)) => {
                self.publish(checkpoint);
                let new_leaves = results
                    .iter()
                    .flatten()
                    .filter(|r| matches!(r, Ok(a) if !a.existing))
                    .count();
                let feed = new_leaves > 0 && self.feed.wants(new_leaves);
                let mut committed = Vec::with_capacity(if feed { new_leaves } else { 0 });
                let mut replies = Vec::with_capacity(group.len());
                for (p, r) in group.into_iter().zip(results) {
                    let mut events = p.events;
                    if feed {
                        // The new leaves go on to the follower; duplicates and refusals
                        // back to the caller. (The follower's thread frees them, not this.)
                        let mut back = Vec::new();
                        for (ev, res) in events.into_iter().zip(&r) {
                            match res {
                                Ok(a) if !a.existing => committed.push((a.index, ev)),
                                _ => back.push(ev),
                            }
                        }
                        events = back;
                    }
                    replies.push((p.reply, r, events));
                }
                // The follower's feed first: once an append is answered, its group is there.
                if feed {
                    self.feed.send(Committed { events: committed });
                }
                for (reply, r, events) in replies {
                    let _ = reply.send(AppendReply {
                        results: Ok(r),
                        events,
                    });
                }
            }
            Err(e) => {
                // The batch may or may not be on disk: rebuild the state from the store so
                // that the next batch continues from whatever is really there (and hold the
                // lookup keys of any events that did land).
                self.lookups.aborted();
                match WriterState::load(&*self.store) {
                    Ok(state) => {
                        if let Err(e2) = self.lookups.catch_up(state.tree_size) {
                            tracing::error!(error = %e2, "deriving lookup keys failed");
                        }
                        self.state = state;
                    }
                    Err(e2) => tracing::error!(error = %e2, "reloading log state failed"),
                }
                self.publish(None);
                for p in group {
                    let _ = p.reply.send(AppendReply {
                        results: Err(e.clone_for_reply()),
                        events: p.events,
                    });
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn try_commit_group(
        &mut self,
        group: &[Pending],
    ) -> Result<
        (
            Vec<Vec<Result<Appended, AppendError>>>,
            Option<Arc<SignedCheckpoint>>,
        ),
        LogError,
    > {
        let started = Instant::now();
        let all: Vec<&PreparedEvent> = group.iter().flat_map(|p| p.events.iter()).collect();
        let mut batch = Batch::new();
        let mut results: Vec<Vec<Result<Appended, AppendError>>> = Vec::with_capacity(group.len());
        let mut in_batch: HashMap<String, (u64, usize)> = HashMap::new();
        let mut new_nodes: Vec<(NodeId, Hash)> = Vec::with_capacity(4);
        let mut dirty = [false; 64];
        let mut bundle_dirty = false;
        // (kind, value) -> leaf indexes of this group, written as one posting block each.
        let mut postings: std::collections::BTreeMap<(u8, &str), Vec<u64>> =
            std::collections::BTreeMap::new();
        let mut size = self.state.tree_size;
        let mut pos = 0usize;
        for p in group {
            let mut rs = Vec::with_capacity(p.events.len());
            for ev in &p.events {
                let this_pos = pos;
                pos += 1;
                match self.find_duplicate(ev, &in_batch, &all)? {
                    Some(Ok((index, leaf_hash))) => {
                        rs.push(Ok(Appended {
                            index,
                            event_id: ev.header.event_id.clone(),
                            leaf_hash,
                            existing: true,
                        }));
                        continue;
                    }
                    Some(Err(e)) => {
                        rs.push(Err(e));
                        continue;
                    }
                    None => {}
                }
                let index = size;
                size += 1;
                if ev.client_event_id {
                    in_batch.insert(ev.header.event_id.clone(), (index, this_pos));
                }
                // Leaf bytes into the entry bundle (u16 BE length || bytes).
                let len = u16::try_from(ev.entry_bytes.len())
                    .map_err(|_| LogError::Internal("entry over 65535 bytes".into()))?;
                self.state.bundle.extend_from_slice(&len.to_be_bytes());
                self.state.bundle.extend_from_slice(&ev.entry_bytes);
                bundle_dirty = true;
                if (index + 1) % BUNDLE_WIDTH == 0 {
                    write_grown(
                        &mut batch,
                        Table::Entries,
                        be(index / BUNDLE_WIDTH),
                        &self.state.bundle,
                        self.state.bundle_stored,
                    );
                    self.state.bundle.clear();
                    self.state.bundle_stored = Some(0);
                    bundle_dirty = false;
                }
                // New stored hashes (Go sumdb/tlog StoredHashes), into their level's chunk.
                new_nodes.clear();
                self.state.frontier.append(ev.leaf_hash, &mut new_nodes);
                for (node, hash) in &new_nodes {
                    let level = node.level as usize;
                    if self.state.chunks.len() <= level {
                        self.state.chunks.resize(level + 1, Vec::new());
                        self.state.chunks_stored.resize(level + 1, Some(0));
                    }
                    let chunk = &mut self.state.chunks[level];
                    debug_assert_eq!(
                        (chunk.len() / HASH_SIZE) as u64,
                        node.index % CHUNK_WIDTH,
                        "hash chunk out of step with the tree"
                    );
                    chunk.extend_from_slice(hash.as_bytes());
                    dirty[level] = true;
                    if (node.index + 1) % CHUNK_WIDTH == 0 {
                        write_grown(
                            &mut batch,
                            Table::Hashes,
                            layout::chunk_key(node.level, node.index / CHUNK_WIDTH),
                            chunk,
                            self.state.chunks_stored[level],
                        );
                        chunk.clear();
                        self.state.chunks_stored[level] = Some(0);
                        dirty[level] = false;
                    }
                }
                // The private body, separately erasable, into the partial body bundle.
                layout::push_present_body(&mut self.state.bodies, &ev.salt, &ev.body_bytes);
                if (index + 1) % BUNDLE_WIDTH == 0 {
                    write_grown(
                        &mut batch,
                        Table::Bodies,
                        be(index / BUNDLE_WIDTH),
                        &self.state.bodies,
                        self.state.bodies_stored,
                    );
                    self.state.bodies.clear();
                    self.state.bodies_stored = Some(0);
                }
                // Unique lookups: held in memory once durable (`lookups`); postings gathered
                // per value below.
                let h = &ev.header;
                self.lookups.stage(index, &h.event_id, &ev.leaf_hash);
                postings
                    .entry((kind::TYPE, h.event_type.as_str()))
                    .or_default()
                    .push(index);
                for (k, v) in [
                    (kind::MODEL, &h.model_id),
                    (kind::DATASET, &h.dataset_id),
                    (kind::DEPLOYMENT, &h.deployment_id),
                ] {
                    if let Some(v) = v {
                        postings.entry((k, v.as_str())).or_default().push(index);
                    }
                }
                rs.push(Ok(Appended {
                    index,
                    event_id: h.event_id.clone(),
                    leaf_hash: ev.leaf_hash,
                    existing: false,
                }));
            }
            results.push(rs);
        }
        let appended = size - self.state.tree_size;
        if appended == 0 {
            // Only duplicates: nothing to write.
            return Ok((results, None));
        }
        // Partial chunks and bundles: what this group added to them. (Should the write
        // fail, `commit_group` reloads all of this state from the store.)
        for (level, d) in dirty.iter().enumerate() {
            if *d {
                let count = size >> level;
                write_grown(
                    &mut batch,
                    Table::Hashes,
                    layout::chunk_key(level as u8, count / CHUNK_WIDTH),
                    &self.state.chunks[level],
                    self.state.chunks_stored[level],
                );
                self.state.chunks_stored[level] = Some(self.state.chunks[level].len());
            }
        }
        if bundle_dirty {
            write_grown(
                &mut batch,
                Table::Entries,
                be(size / BUNDLE_WIDTH),
                &self.state.bundle,
                self.state.bundle_stored,
            );
            self.state.bundle_stored = Some(self.state.bundle.len());
            write_grown(
                &mut batch,
                Table::Bodies,
                be(size / BUNDLE_WIDTH),
                &self.state.bodies,
                self.state.bodies_stored,
            );
            self.state.bodies_stored = Some(self.state.bodies.len());
        }
        for ((k, v), indexes) in &postings {
            let mut value = Vec::with_capacity(indexes.len() * 8);
            for i in indexes {
                value.extend_from_slice(&be(*i));
            }
            batch.put(Table::Index, layout::posting_key(*k, v, indexes[0]), value);
        }
        batch.put(Table::Meta, layout::META_TREE_SIZE, be(size));
        let due = self.last_checkpoint_at.elapsed() >= self.config.checkpoint_interval;
        let signed = if due {
            Some(self.sign_into(&mut batch, size, self.state.frontier.root())?)
        } else {
            None
        };
        let bytes = batch.byte_size();
        let fsync_started = Instant::now();
        // Durable point: after this returns, the whole group (and its checkpoint) is on disk.
        let written = self.store.write(batch);
        self.metrics.observe_write(written.is_ok());
        written?;
        self.lookups.committed();
        self.metrics.observe_fsync(fsync_started.elapsed());
        self.metrics
            .observe_batch(appended, bytes, started.elapsed());
        self.state.tree_size = size;
        let signed = signed.map(|s| {
            self.state.checkpoint_size = size;
            self.last_checkpoint_at = Instant::now();
            self.metrics.checkpoint_signed();
            Arc::new(s)
        });
        Ok((results, signed))
    }
}

/// Whether a retried event is the same as the stored one (so the retry is idempotent).
fn same_event(ev: &PreparedEvent, stored: &entry::EntryHeader, body: Option<&BodyRecord>) -> bool {
    let h = &ev.header;
    let header_same = h.event_type == stored.event_type
        && h.system == stored.system
        && h.model_id == stored.model_id
        && h.dataset_id == stored.dataset_id
        && h.deployment_id == stored.deployment_id
        && (!ev.client_timestamp || h.timestamp == stored.timestamp);
    let body_same = match body {
        Some(BodyRecord::Present { body, .. }) => *body == ev.body_bytes,
        // An erased body can no longer be compared: the id decides.
        Some(BodyRecord::Erased { .. }) | None => true,
    };
    header_same && body_same
}
