//! The lookup keys of the newest events, held in memory and written to the lookup table
//! in sorted slices (layout 4).
//!
//! Every event has two lookup keys (`b'e' || SHA-256(event_id)` and `b'h' || leaf hash`),
//! uniformly random. Written with each group commit, they made RocksDB sort a memtable of
//! random keys at every flush (a hash-bucketed memtable) or insert each one at a random
//! place in a skiplist: either way the most expensive part of an append under load
//! (`perf`: the flush thread spent 17-21 µs a POST sorting the lookup memtable, the whole
//! HTTP handler ~35 µs). So the writer keeps them:
//!
//! - **in memory** while they are recent: [`RecentLookups`], read by every lookup before the
//!   store, in chunks of [`CHUNK_EVENTS`] events;
//! - **then in the store**, in key order: a full chunk goes to a thread of its own (the
//!   spiller), which sorts it and writes it in slices of [`SPILL_SLICE_KEYS`], unsynced
//!   (the writer's next synced group commit makes them durable, in order). RocksDB takes
//!   sorted runs into its (skiplist) memtable cheaply, on the spiller's thread, and flushes
//!   it without sorting. The slice that completes a chunk also sets `meta/lookup_indexed`
//!   to the chunk's end; only after that write does the chunk leave memory.
//!
//! Crash safety: lookup keys are derived data (an entry holds its event id; a leaf hash is
//! the hash of the entry), and `meta/lookup_indexed` is written only in the batch that
//! completes the keys below it. On open, [`recover`] derives the keys of every event from
//! `lookup_indexed` to the tree size from the stored entries and writes them, so a crash
//! loses no lookup. The in-memory part is bounded: the spiller holds one chunk and its
//! channel one more; with both taken the writer waits, so at most three chunks are held
//! (~15 MiB).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use super::layout::{self, LOOKUP_KEY_LEN};
use super::LogError;
use crate::core::entry;
use crate::core::hash::leaf_hash;
use crate::storage::{be, Batch, Store, Table};

/// A lookup-table key.
pub type Key = [u8; LOOKUP_KEY_LEN];

/// Events a chunk of recent lookups covers before it is frozen and written out (65,536
/// keys, ~5 MiB in memory). At 20k events/s that is a chunk every 1.6 s.
pub const CHUNK_EVENTS: u64 = 1 << 15;
/// Keys of a frozen chunk the spiller writes in one batch: small, so that a group commit of
/// the writer that RocksDB puts in the same write group does not wait long for it.
pub const SPILL_SLICE_KEYS: usize = 512;
/// Most keys a batch of [`recover`] or of a final write on close.
const WRITE_KEYS_MAX: usize = 1 << 16;

/// The lookup keys of the events not yet in the lookup table, shared by the writer (which
/// adds and retires them) and every reader.
#[derive(Default)]
pub(crate) struct RecentLookups {
    inner: RwLock<Chunks>,
}

#[derive(Default)]
struct Chunks {
    /// The chunk being filled.
    active: HashMap<Key, u64, RandomState>,
    /// Full chunks being written out, oldest first.
    frozen: VecDeque<HashMap<Key, u64, RandomState>>,
}

impl RecentLookups {
    /// The index of `key` if it is recent.
    pub fn get(&self, key: &Key) -> Option<u64> {
        let c = self.inner.read().expect("recent lookups lock");
        c.active
            .get(key)
            .or_else(|| c.frozen.iter().find_map(|m| m.get(key)))
            .copied()
    }

    /// The index of `key`: among the recent keys, then in the lookup table of `store`.
    /// (The writer adds keys here after they are durable, and drops them only after they
    /// are in the store, so a key is always in one of the two places.)
    pub fn find(&self, store: &dyn Store, key: &Key) -> Result<Option<u64>, LogError> {
        if let Some(i) = self.get(key) {
            return Ok(Some(i));
        }
        match store.get(Table::Lookup, key)? {
            None => Ok(None),
            Some(v) => Ok(Some(crate::storage::parse_be(&v)?)),
        }
    }

    fn insert(&self, pairs: &[(Key, u64)]) {
        let mut c = self.inner.write().expect("recent lookups lock");
        c.active.reserve(pairs.len());
        for (k, i) in pairs {
            c.active.insert(*k, *i);
        }
    }

    fn freeze(&self) {
        let mut c = self.inner.write().expect("recent lookups lock");
        let full = std::mem::take(&mut c.active);
        c.frozen.push_back(full);
    }

    /// Drops the oldest frozen chunk, whose keys are now all in the store.
    fn retire_oldest(&self) {
        let mut c = self.inner.write().expect("recent lookups lock");
        c.frozen.pop_front();
    }

    fn clear(&self) {
        let mut c = self.inner.write().expect("recent lookups lock");
        c.active.clear();
        c.frozen.clear();
    }
}

/// A frozen chunk for the spiller: its keys (unsorted) and the index it completes.
struct SpillJob {
    end: u64,
    keys: Vec<(Key, u64)>,
}

fn sort_keys(mut v: Vec<(Key, u64)>) -> Vec<(Key, u64)> {
    v.sort_unstable_by_key(|p| p.0);
    v
}

/// The spiller thread: sorts each frozen chunk and writes it in slices of
/// [`SPILL_SLICE_KEYS`] (unsynced: the writer's next synced group makes them durable, in
/// order), the last with `meta/lookup_indexed`; then drops the chunk from memory. Runs
/// until the writer drops its sender. A failed write is retried (after a pause) until it
/// succeeds or the log closes; the keys stay in memory meanwhile, and whatever was not
/// stored is derived again on the next open.
fn spiller(
    store: Arc<dyn Store>,
    shared: Arc<RecentLookups>,
    rx: Receiver<SpillJob>,
    closing: Arc<AtomicBool>,
) {
    while let Ok(job) = rx.recv() {
        let sorted = sort_keys(job.keys);
        let mut done = 0;
        let mut failures = 0u32;
        while done < sorted.len() {
            let slice = &sorted[done..sorted.len().min(done + SPILL_SLICE_KEYS)];
            let mut batch = Batch::new();
            for (k, i) in slice {
                batch.put(Table::Lookup, k.to_vec(), be(*i));
            }
            if done + slice.len() == sorted.len() {
                batch.put(Table::Meta, layout::META_LOOKUP_INDEXED, be(job.end));
            }
            match store.write_unsynced(batch) {
                Ok(()) => done += slice.len(),
                Err(e) => {
                    failures += 1;
                    if failures.is_power_of_two() {
                        tracing::warn!(error = %e, failures, "storing lookup keys failed; retrying");
                    }
                    // Pauses of up to 5 s; given up only when the log closes (the next
                    // open derives the keys).
                    for _ in 0..failures.min(50) {
                        if closing.load(Ordering::Relaxed) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
        shared.retire_oldest();
    }
}

/// The writer's side of the lookup keys.
pub(crate) struct LookupWriter {
    store: Arc<dyn Store>,
    shared: Arc<RecentLookups>,
    /// The active chunk's keys, in the order they were added.
    active: Vec<(Key, u64)>,
    /// First index of the active chunk.
    active_start: u64,
    /// Index after the newest event whose keys were added.
    next: u64,
    /// Keys of the group being committed.
    staged: Vec<(Key, u64)>,
    /// The spiller's channel (one chunk in hand, one waiting: then the writer waits) and
    /// thread; `None` once finished.
    spiller: Option<(SyncSender<SpillJob>, JoinHandle<()>)>,
    /// Tells a spiller that is retrying a failed write to stop.
    closing: Arc<AtomicBool>,
}

impl LookupWriter {
    /// A writer for a log whose keys are all stored below `tree_size` (after [`recover`]).
    pub fn new(
        store: Arc<dyn Store>,
        shared: Arc<RecentLookups>,
        tree_size: u64,
    ) -> Result<LookupWriter, LogError> {
        let (tx, rx) = sync_channel(1);
        let closing = Arc::new(AtomicBool::new(false));
        let (st, sh, cl) = (store.clone(), shared.clone(), closing.clone());
        let handle = std::thread::Builder::new()
            .name("tlog-lookups".into())
            .spawn(move || spiller(st, sh, rx, cl))
            .map_err(|e| LogError::Internal(format!("starting the lookup spiller: {e}")))?;
        Ok(LookupWriter {
            store,
            shared,
            active: Vec::new(),
            active_start: tree_size,
            next: tree_size,
            staged: Vec::new(),
            spiller: Some((tx, handle)),
            closing,
        })
    }

    /// The index of `key`, recent or stored (the writer's own duplicate check).
    pub fn find(&self, key: &Key) -> Result<Option<u64>, LogError> {
        self.shared.find(&*self.store, key)
    }

    /// Stages the keys of the new event `index` for the group being committed.
    pub fn stage(&mut self, index: u64, event_id: &str, leaf: &crate::core::hash::Hash) {
        self.staged.push((layout::event_id_key(event_id), index));
        self.staged.push((layout::leaf_key(leaf), index));
    }

    /// The batch of the group (with its staged keys) is durable.
    pub fn committed(&mut self) {
        let staged = std::mem::take(&mut self.staged);
        if let Some((_, last)) = staged.last() {
            self.next = self.next.max(last + 1);
        }
        self.add_durable(staged);
    }

    /// The group's batch failed: nothing staged counts.
    pub fn aborted(&mut self) {
        self.staged.clear();
    }

    /// Adds keys of durable events (in index order), handing the chunk to the spiller when
    /// it is full.
    fn add_durable(&mut self, mut pairs: Vec<(Key, u64)>) {
        if pairs.is_empty() {
            return;
        }
        self.shared.insert(&pairs);
        if self.active.is_empty() {
            self.active = std::mem::take(&mut pairs);
        } else {
            self.active.append(&mut pairs);
        }
        self.staged = pairs; // keeps the (empty) buffer's capacity
        if self.next - self.active_start >= CHUNK_EVENTS {
            if let Some((tx, _)) = &self.spiller {
                self.shared.freeze();
                let job = SpillJob {
                    end: self.next,
                    keys: std::mem::take(&mut self.active),
                };
                if tx.send(job).is_err() {
                    // The spiller is gone (it only stops when told): keep the keys in
                    // memory; the next open stores them.
                    tracing::error!("the lookup spiller stopped");
                }
                self.active_start = self.next;
            }
        }
    }

    /// After a failed write that may have landed: adds the keys of events the store has
    /// beyond those the writer holds (`tree_size` is the reloaded size).
    pub fn catch_up(&mut self, tree_size: u64) -> Result<(), LogError> {
        if tree_size > self.next {
            let pairs = derive(&*self.store, self.next, tree_size)?;
            self.next = tree_size;
            self.add_durable(pairs);
        }
        Ok(())
    }

    /// Lets the spiller finish, then writes every key still held (on close), so that the
    /// next open has nothing to derive.
    pub fn finish(&mut self) -> Result<(), LogError> {
        if let Some((tx, handle)) = self.spiller.take() {
            // Queued chunks are still written; a write that keeps failing is given up.
            drop(tx);
            self.closing.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
        write_sorted(
            &*self.store,
            sort_keys(std::mem::take(&mut self.active)),
            self.next,
        )?;
        self.shared.clear();
        self.active_start = self.next;
        Ok(())
    }
}

/// The lookup keys of events `from .. to`, in index order, from their stored entries.
pub(crate) fn derive(store: &dyn Store, from: u64, to: u64) -> Result<Vec<(Key, u64)>, LogError> {
    let mut out = Vec::with_capacity(2 * (to - from) as usize);
    super::for_each_bundle(store, from, to, |_, first, leaves| {
        for (i, bytes) in (first..).zip(leaves) {
            let header = entry::decode_entry(bytes)
                .map_err(|e| LogError::Corrupt(format!("entry {i}: {e}")))?;
            out.push((layout::event_id_key(&header.event_id), i));
            out.push((layout::leaf_key(&leaf_hash(bytes)), i));
        }
        Ok(())
    })?;
    Ok(out)
}

/// Writes sorted keys in batches, the last with `meta/lookup_indexed = indexed`.
fn write_sorted(store: &dyn Store, sorted: Vec<(Key, u64)>, indexed: u64) -> Result<(), LogError> {
    let mut slices = sorted.chunks(WRITE_KEYS_MAX).peekable();
    loop {
        let mut batch = Batch::new();
        let slice = slices.next().unwrap_or(&[]);
        for (k, i) in slice {
            batch.put(Table::Lookup, k.to_vec(), be(*i));
        }
        let last = slices.peek().is_none();
        if last {
            batch.put(Table::Meta, layout::META_LOOKUP_INDEXED, be(indexed));
        }
        store.write(batch)?;
        if last {
            return Ok(());
        }
    }
}

/// On open: derives and stores the keys of every event from `meta/lookup_indexed` to
/// `tree_size` (those a crash left in memory only). Returns how many events it indexed.
pub(crate) fn recover(store: &dyn Store, tree_size: u64) -> Result<u64, LogError> {
    let indexed = super::sequencer::read_meta_u64(store, layout::META_LOOKUP_INDEXED)?
        .ok_or_else(|| LogError::Corrupt("meta/lookup_indexed missing".into()))?;
    if indexed >= tree_size {
        return Ok(0);
    }
    // In bounded steps: a step's keys are in the store before the next is read.
    let mut from = indexed;
    while from < tree_size {
        let to = tree_size.min(from + CHUNK_EVENTS);
        write_sorted(store, sort_keys(derive(store, from, to)?), to)?;
        from = to;
    }
    Ok(tree_size - indexed)
}
