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
//! - **then in the store**, in key order: a full chunk is sorted off the writer's thread and
//!   its keys ride along with the next group commits, a slice of at least
//!   [`SPILL_KEYS_MIN`] each (in the same synced batch, so no extra write and no extra
//!   fsync). RocksDB takes sorted runs into its (skiplist) memtable cheaply and flushes it
//!   without sorting. The batch with a chunk's last slice also sets `meta/lookup_indexed`
//!   to the chunk's end; only after that write does the chunk leave memory.
//!
//! Crash safety: lookup keys are derived data (an entry holds its event id; a leaf hash is
//! the hash of the entry), and `meta/lookup_indexed` is written only in the batch that
//! completes the keys below it. On open, [`recover`] derives the keys of every event from
//! `lookup_indexed` to the tree size from the stored entries and writes them, so a crash
//! loses no lookup. The in-memory part is bounded: the writer drains a frozen chunk at
//! least twice as fast as it fills the next one, so at most about two chunks are held.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use super::layout::{self, BUNDLE_WIDTH, LOOKUP_KEY_LEN};
use super::LogError;
use crate::core::entry;
use crate::core::hash::leaf_hash;
use crate::storage::{be, Batch, Store, Table};

/// A lookup-table key.
pub type Key = [u8; LOOKUP_KEY_LEN];

/// Events a chunk of recent lookups covers before it is frozen and written out (65,536
/// keys, ~5 MiB in memory). At 20k events/s that is a chunk every 1.6 s.
pub const CHUNK_EVENTS: u64 = 1 << 15;
/// Fewest keys of a frozen chunk written with one group commit.
pub const SPILL_KEYS_MIN: usize = 2048;
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

/// A frozen chunk on its way to the store.
struct Spill {
    /// Events below this index have their keys in the store once this chunk is written.
    end: u64,
    sorted: Sorted,
    /// Keys of `sorted` already durable.
    written: usize,
}

enum Sorted {
    /// Being sorted on its own thread.
    Sorting(JoinHandle<Vec<(Key, u64)>>),
    Ready(Vec<(Key, u64)>),
}

impl Sorted {
    /// The sorted keys, waiting for the sort when `wait`; `None` while still sorting.
    fn ready(&mut self, wait: bool) -> Option<&[(Key, u64)]> {
        if let Sorted::Sorting(h) = self {
            if !wait && !h.is_finished() {
                return None;
            }
            let Sorted::Sorting(h) = std::mem::replace(self, Sorted::Ready(Vec::new())) else {
                unreachable!()
            };
            // A sort of fixed-size keys by a total order does not panic.
            *self = Sorted::Ready(h.join().expect("sorting lookup keys"));
        }
        match self {
            Sorted::Ready(v) => Some(v),
            Sorted::Sorting(_) => None,
        }
    }
}

fn take_keys(slot: &Mutex<Option<Vec<(Key, u64)>>>) -> Vec<(Key, u64)> {
    slot.lock()
        .expect("lookup keys slot")
        .take()
        .unwrap_or_default()
}

fn sort_keys(mut v: Vec<(Key, u64)>) -> Vec<(Key, u64)> {
    v.sort_unstable_by_key(|p| p.0);
    v
}

/// The writer's side of the lookup keys.
pub(crate) struct LookupWriter {
    shared: Arc<RecentLookups>,
    /// The active chunk's keys, in the order they were added.
    active: Vec<(Key, u64)>,
    /// First index of the active chunk.
    active_start: u64,
    /// Index after the newest event whose keys were added.
    next: u64,
    /// Frozen chunks, oldest first (the same order as `shared.frozen`).
    spills: VecDeque<Spill>,
    /// Keys of the group being committed.
    staged: Vec<(Key, u64)>,
    /// Keys of the oldest spill put into the batch being committed.
    in_flight: usize,
}

impl LookupWriter {
    /// A writer for a log whose keys are all stored below `tree_size` (after [`recover`]).
    pub fn new(shared: Arc<RecentLookups>, tree_size: u64) -> LookupWriter {
        LookupWriter {
            shared,
            active: Vec::new(),
            active_start: tree_size,
            next: tree_size,
            spills: VecDeque::new(),
            staged: Vec::new(),
            in_flight: 0,
        }
    }

    /// The index of `key` if it is recent (the writer's own duplicate check).
    pub fn get(&self, key: &Key) -> Option<u64> {
        self.shared.get(key)
    }

    /// Stages the keys of the new event `index` for the group being committed.
    pub fn stage(&mut self, index: u64, event_id: &str, leaf: &crate::core::hash::Hash) {
        self.staged.push((layout::event_id_key(event_id), index));
        self.staged.push((layout::leaf_key(leaf), index));
    }

    /// Adds to `batch` the next slice of the oldest frozen chunk (if its sort is done),
    /// and `meta/lookup_indexed` when the slice is its last.
    pub fn add_spill(&mut self, batch: &mut Batch) {
        self.in_flight = 0;
        let budget = SPILL_KEYS_MIN.max(4 * self.staged.len());
        let Some(s) = self.spills.front_mut() else {
            return;
        };
        let Some(sorted) = s.sorted.ready(false) else {
            return;
        };
        let take = budget.min(sorted.len() - s.written);
        for (k, i) in &sorted[s.written..s.written + take] {
            batch.put(Table::Lookup, k.to_vec(), be(*i));
        }
        if s.written + take == sorted.len() {
            batch.put(Table::Meta, layout::META_LOOKUP_INDEXED, be(s.end));
        }
        self.in_flight = take;
    }

    /// The batch of the group (with its staged keys and spill slice) is durable.
    pub fn committed(&mut self) {
        if let Some(s) = self.spills.front_mut() {
            s.written += self.in_flight;
            if matches!(&s.sorted, Sorted::Ready(v) if s.written == v.len()) {
                self.spills.pop_front();
                self.shared.retire_oldest();
            }
        }
        self.in_flight = 0;
        let staged = std::mem::take(&mut self.staged);
        if let Some((_, last)) = staged.last() {
            self.next = self.next.max(last + 1);
        }
        self.add_durable(staged);
    }

    /// The group's batch failed: nothing staged or spilled counts.
    pub fn aborted(&mut self) {
        self.staged.clear();
        self.in_flight = 0;
    }

    /// Adds keys of durable events (in index order), freezing the chunk when it is full.
    fn add_durable(&mut self, pairs: Vec<(Key, u64)>) {
        if pairs.is_empty() {
            return;
        }
        self.shared.insert(&pairs);
        let mut pairs = pairs;
        if self.active.is_empty() {
            self.active = std::mem::take(&mut pairs);
        } else {
            self.active.append(&mut pairs);
        }
        self.staged = pairs; // keeps the (empty) buffer's capacity
        if self.next - self.active_start >= CHUNK_EVENTS {
            self.shared.freeze();
            // Sorted on a thread of its own (~5 ms for a chunk), not in the writer's path.
            // Should no thread be had, the keys are still in `slot`, and sorted here.
            let slot = Arc::new(Mutex::new(Some(std::mem::take(&mut self.active))));
            let theirs = slot.clone();
            let sorted = match std::thread::Builder::new()
                .name("tlog-lookup-sort".into())
                .spawn(move || sort_keys(take_keys(&theirs)))
            {
                Ok(h) => Sorted::Sorting(h),
                Err(e) => {
                    tracing::warn!(error = %e, "sorting lookup keys on the writer thread");
                    Sorted::Ready(sort_keys(take_keys(&slot)))
                }
            };
            self.spills.push_back(Spill {
                end: self.next,
                sorted,
                written: 0,
            });
            self.active_start = self.next;
        }
    }

    /// After a failed write that may have landed: adds the keys of events the store has
    /// beyond those the writer holds (`tree_size` is the reloaded size).
    pub fn catch_up(&mut self, store: &dyn Store, tree_size: u64) -> Result<(), LogError> {
        if tree_size > self.next {
            let pairs = derive(store, self.next, tree_size)?;
            self.next = tree_size;
            self.add_durable(pairs);
        }
        Ok(())
    }

    /// Writes every key still held (on close), so that the next open has nothing to derive.
    pub fn finish(&mut self, store: &dyn Store) -> Result<(), LogError> {
        let mut all = Vec::new();
        for mut s in std::mem::take(&mut self.spills) {
            let written = s.written;
            if let Some(v) = s.sorted.ready(true) {
                all.extend_from_slice(&v[written..]);
            }
        }
        all.append(&mut self.active);
        write_sorted(store, sort_keys(all), self.next)?;
        self.shared.clear();
        self.active_start = self.next;
        Ok(())
    }
}

/// The lookup keys of events `from .. to`, in index order, from their stored entries.
pub(crate) fn derive(store: &dyn Store, from: u64, to: u64) -> Result<Vec<(Key, u64)>, LogError> {
    let mut out = Vec::with_capacity(2 * (to - from) as usize);
    let mut i = from;
    while i < to {
        let n = i / BUNDLE_WIDTH;
        let bundle = store
            .get(Table::Entries, &be(n))?
            .ok_or_else(|| LogError::Corrupt(format!("entry bundle {n} missing")))?;
        let leaves = crate::core::tiles::parse_entry_bundle(&bundle)
            .map_err(|e| LogError::Corrupt(format!("entry bundle {n}: {e}")))?;
        while i < to && i / BUNDLE_WIDTH == n {
            let bytes = leaves
                .get((i % BUNDLE_WIDTH) as usize)
                .ok_or_else(|| LogError::Corrupt(format!("entry {i} missing")))?;
            let header = entry::decode_entry(bytes)
                .map_err(|e| LogError::Corrupt(format!("entry {i}: {e}")))?;
            out.push((layout::event_id_key(&header.event_id), i));
            out.push((layout::leaf_key(&leaf_hash(bytes)), i));
            i += 1;
        }
    }
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
