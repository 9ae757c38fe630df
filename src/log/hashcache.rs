//! Fast reads of stored hashes for proofs: a bounded in-process cache of the upper levels'
//! full hash chunks, and the low levels derived from the leaf hashes.
//!
//! An inclusion proof at 10^7 leaves asks for one stored hash on each of ~24 levels, each in
//! its own hash chunk (`level || chunk`). Read from RocksDB, that is ~24 keys through the
//! memtables, the filters and the index of every sorted run, and the low levels' chunks are
//! spread over ~600 MB, so most of them miss the block cache. Two facts make it cheap:
//!
//! - **Full chunks never change** (a stored hash is written once, [`HashReader`]'s
//!   contract). The chunks of the upper levels are few and are read by every proof, so
//!   [`HashChunkCache`] keeps them: the levels from [`HashChunkCache::lowest_level`] up
//!   (whatever fits in its byte budget for the current tree size), filled on first read,
//!   never evicted (entries cannot become stale; the budget bounds memory, whatever the
//!   log's length).
//! - **A low node is a few hashes of leaf hashes.** The node `(l, k)` for `1 <= l <=`
//!   [`DERIVED_LEVELS`] covers `2^l <= 16` leaves of one level-0 chunk, which the proof reads
//!   anyway (the leaf's sibling, and the leaf hash the API returns). Folding them costs at
//!   most 15 SHA-256 compressions-pairs per node, 26 per proof, a few microseconds; reading
//!   them would be four more random chunks.
//!
//! - **The right edge is read by every proof** (the subtrees right of the leaf's path end
//!   in each level's last, partial, chunk). A partial chunk only grows, so the cache keeps
//!   the latest one of each level (at most 64 × 8 KiB) and uses it for the hashes it has.
//!
//! What remains for RocksDB is one random level-0 chunk per proof, plus the middle levels
//! that the budget could not hold (none at 10^7 with the default budget), plus one read of
//! each edge chunk after the tree grew.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use super::layout::{chunk_key, CHUNK_WIDTH};
use crate::core::hash::{node_hash, Hash, HASH_SIZE};
use crate::core::merkle::{HashReadError, HashReader, NodeId};
use crate::storage::{Store, Table};

/// Levels `1..=DERIVED_LEVELS` are computed from level-0 hashes instead of read.
pub const DERIVED_LEVELS: u8 = 4;

/// Default byte budget of the chunk cache: at 10^7 leaves it holds every level from 5 up
/// (about 20 MiB).
pub const HASH_CACHE_BYTES: usize = 32 << 20;

/// Bytes of a full hash chunk.
const CHUNK_BYTES: usize = CHUNK_WIDTH as usize * HASH_SIZE;

/// A chunk's bytes, shared with readers.
type ChunkBytes = Arc<[u8]>;
/// Full chunks by (level, chunk number).
type FullChunks = HashMap<(u8, u64), ChunkBytes>;
/// Per level: the latest right-edge chunk read (chunk number, bytes).
type EdgeChunks = Vec<Option<(u64, ChunkBytes)>>;

/// A bounded cache of hash chunks: the full (immutable) chunks of the upper levels, and the
/// right-edge (partial) chunk of every level.
///
/// A partial chunk only ever grows (its first `m` hashes never change), so the copy held
/// here answers for every node it already has, and a longer read replaces it.
pub struct HashChunkCache {
    budget: usize,
    used: AtomicUsize,
    full: RwLock<FullChunks>,
    /// Per level: the chunk number and bytes of the latest right-edge chunk read.
    edge: RwLock<EdgeChunks>,
}

impl HashChunkCache {
    /// An empty cache that will hold at most `budget` bytes of full chunks (plus at most
    /// one partial chunk a level, 64 × 8 KiB).
    pub fn new(budget: usize) -> HashChunkCache {
        HashChunkCache {
            budget,
            used: AtomicUsize::new(0),
            full: RwLock::new(HashMap::new()),
            edge: RwLock::new(vec![None; 64]),
        }
    }

    /// Bytes of full chunks held.
    pub fn used_bytes(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The lowest level whose full chunks, with those of every level above it, fit in the
    /// budget for a tree of `size` leaves (`u8::MAX` when not even the top fits).
    pub fn lowest_level(&self, size: u64) -> u8 {
        let mut total = 0usize;
        let mut lowest = u8::MAX;
        for level in (0..64u8).rev() {
            let full = ((size >> level) / CHUNK_WIDTH) as usize;
            total = total.saturating_add(full.saturating_mul(CHUNK_BYTES));
            if total > self.budget {
                break;
            }
            lowest = level;
        }
        lowest
    }

    fn insert_full(&self, level: u8, chunk: u64, bytes: &[u8]) {
        if bytes.len() != CHUNK_BYTES {
            return;
        }
        if self.used.load(Ordering::Relaxed) + CHUNK_BYTES > self.budget {
            return;
        }
        let mut map = self.full.write().expect("hash cache lock");
        if map.contains_key(&(level, chunk)) {
            return;
        }
        map.insert((level, chunk), Arc::from(bytes));
        self.used.fetch_add(CHUNK_BYTES, Ordering::Relaxed);
    }

    /// Keeps `bytes` as the edge chunk of `level` unless a later chunk, or a longer copy of
    /// this one, is held already.
    fn insert_edge(&self, level: u8, chunk: u64, bytes: &[u8]) {
        let mut edge = self.edge.write().expect("hash cache lock");
        let slot = &mut edge[level as usize];
        let newer = match slot {
            Some((c, held)) => chunk > *c || (chunk == *c && bytes.len() > held.len()),
            None => true,
        };
        if newer {
            *slot = Some((chunk, Arc::from(bytes)));
        }
    }
}

/// Reads stored hashes of a tree of (at least) `size` durable leaves through a
/// [`HashChunkCache`], deriving levels `1..=DERIVED_LEVELS` from the leaf hashes, with one
/// `multi_get` per call for the rest.
pub struct CachedHashReader<'a> {
    /// The store.
    pub store: &'a dyn Store,
    /// The chunk cache.
    pub cache: &'a HashChunkCache,
    /// A tree size whose stored hashes are all durable: a chunk is full (immutable) when
    /// all its 256 nodes exist at this size.
    pub size: u64,
}

/// Where one requested node's hash comes from.
enum Source {
    /// Found in the cache (already in the output).
    Done,
    /// A chunk read from the store: (key number, byte offset).
    Read(usize, usize),
    /// Folded from `count` leaf hashes starting at byte offset `off` of a level-0 chunk
    /// read from the store (key number).
    Derived(usize, usize, usize),
}

impl CachedHashReader<'_> {
    fn is_full(&self, level: u8, chunk: u64) -> bool {
        (self.size >> level) >= (chunk + 1) * CHUNK_WIDTH
    }

    /// The cached chunk `chunk` of `level` if it holds at least `len` bytes, looked up in
    /// the cache's maps as held by the caller (one lock each a call, not a node).
    fn cached<'m>(
        &self,
        maps: &'m (
            std::sync::RwLockReadGuard<'_, FullChunks>,
            std::sync::RwLockReadGuard<'_, EdgeChunks>,
        ),
        lowest_cached: u8,
        level: u8,
        chunk: u64,
        len: usize,
    ) -> Option<&'m [u8]> {
        if level >= lowest_cached && self.is_full(level, chunk) {
            maps.0.get(&(level, chunk)).map(|c| &c[..])
        } else {
            match &maps.1[level as usize] {
                Some((c, bytes)) if *c == chunk && bytes.len() >= len => Some(&bytes[..]),
                _ => None,
            }
        }
    }
}

impl HashReader for CachedHashReader<'_> {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, HashReadError> {
        let lowest_cached = self.cache.lowest_level(self.size);
        // The chunks to read, each once: (level, chunk) -> key number.
        let mut keys: Vec<(u8, u64)> = Vec::with_capacity(nodes.len());
        let mut key_of = |level: u8, chunk: u64| -> usize {
            match keys.iter().position(|&k| k == (level, chunk)) {
                Some(i) => i,
                None => {
                    keys.push((level, chunk));
                    keys.len() - 1
                }
            }
        };
        let mut sources = Vec::with_capacity(nodes.len());
        let mut out: Vec<Option<Hash>> = vec![None; nodes.len()];
        // Both maps are read-locked once for the whole call, and released before the store
        // read (whose callback inserts).
        let maps = (
            self.cache.full.read().expect("hash cache lock"),
            self.cache.edge.read().expect("hash cache lock"),
        );
        for (pos, n) in nodes.iter().enumerate() {
            if n.level >= 64 {
                return Err(HashReadError(format!("no stored hash {n:?}")));
            }
            let chunk = n.index / CHUNK_WIDTH;
            let off = (n.index % CHUNK_WIDTH) as usize * HASH_SIZE;
            let source = if let Some(c) =
                self.cached(&maps, lowest_cached, n.level, chunk, off + HASH_SIZE)
            {
                out[pos] = c.get(off..off + HASH_SIZE).and_then(Hash::from_slice);
                Source::Done
            } else if n.level >= lowest_cached && self.is_full(n.level, chunk) {
                Source::Read(key_of(n.level, chunk), off)
            } else if (1..=DERIVED_LEVELS).contains(&n.level)
                && (n.index + 1) << n.level <= self.size
            {
                let first = n.index << n.level;
                let chunk0 = first / CHUNK_WIDTH;
                let off0 = (first % CHUNK_WIDTH) as usize * HASH_SIZE;
                let count = 1usize << n.level;
                match self.cached(&maps, lowest_cached, 0, chunk0, off0 + count * HASH_SIZE) {
                    Some(c) => {
                        out[pos] = c.get(off0..off0 + count * HASH_SIZE).map(fold_leaves);
                        Source::Done
                    }
                    None => Source::Derived(key_of(0, chunk0), off0, count),
                }
            } else {
                Source::Read(key_of(n.level, chunk), off)
            };
            sources.push(source);
        }
        drop(maps);

        let store_keys: Vec<Vec<u8>> = keys.iter().map(|&(l, c)| chunk_key(l, c)).collect();
        let mut fill = |key: usize, value: Option<&[u8]>| {
            let Some(chunk) = value else { return };
            let (level, index) = keys[key];
            if self.is_full(level, index) {
                if level >= lowest_cached {
                    self.cache.insert_full(level, index, chunk);
                }
            } else if index == (self.size >> level) / CHUNK_WIDTH {
                self.cache.insert_edge(level, index, chunk);
            }
            for (pos, s) in sources.iter().enumerate() {
                out[pos] = match *s {
                    Source::Read(k, off) if k == key => {
                        chunk.get(off..off + HASH_SIZE).and_then(Hash::from_slice)
                    }
                    Source::Derived(k, off, count) if k == key => {
                        chunk.get(off..off + count * HASH_SIZE).map(fold_leaves)
                    }
                    _ => continue,
                };
            }
        };
        if !store_keys.is_empty() {
            self.store
                .multi_get_with(Table::Hashes, &store_keys, &mut fill)
                .map_err(|e| HashReadError(e.to_string()))?;
        }
        out.into_iter()
            .zip(nodes)
            .map(|(h, n)| h.ok_or_else(|| HashReadError(format!("missing stored hash {n:?}"))))
            .collect()
    }
}

/// The Merkle Tree Hash of a power-of-two run of leaf hashes (concatenated, at most
/// `2^DERIVED_LEVELS`), folded in place on the stack.
fn fold_leaves(bytes: &[u8]) -> Hash {
    const MAX: usize = 1 << DERIVED_LEVELS;
    let mut buf = [Hash::default(); MAX];
    let mut len = 0usize;
    for (slot, h) in buf.iter_mut().zip(bytes.chunks_exact(HASH_SIZE)) {
        *slot = Hash::from_slice(h).expect("32 bytes");
        len += 1;
    }
    debug_assert!(len.is_power_of_two() && len * HASH_SIZE == bytes.len());
    while len > 1 {
        for i in 0..len / 2 {
            buf[i] = node_hash(&buf[2 * i], &buf[2 * i + 1]);
        }
        len /= 2;
    }
    buf[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::hash::leaf_hash;
    use crate::core::merkle::MemoryHashStore;
    use crate::core::proof::{prove_consistency, prove_inclusion};
    use crate::log::layout::StoreHashReader;
    use crate::storage::memory::MemoryStore;
    use crate::storage::Batch;

    /// A store holding the stored hashes of `n` leaves, chunked as the log keeps them.
    fn store_with(n: u64) -> (MemoryStore, MemoryHashStore) {
        let mut mem = MemoryHashStore::new();
        for i in 0..n {
            mem.push_leaf(leaf_hash(&i.to_be_bytes()));
        }
        let store = MemoryStore::new();
        let mut chunks: HashMap<(u8, u64), Vec<u8>> = HashMap::new();
        for level in 0..64u8 {
            let count = n >> level;
            if count == 0 {
                break;
            }
            for idx in 0..count {
                let h = mem.read_hashes(&[NodeId::new(level, idx)]).unwrap()[0];
                chunks
                    .entry((level, idx / CHUNK_WIDTH))
                    .or_default()
                    .extend_from_slice(h.as_bytes());
            }
        }
        let mut b = Batch::new();
        for ((l, c), v) in chunks {
            b.put(Table::Hashes, chunk_key(l, c), v);
        }
        store.write(b).unwrap();
        (store, mem)
    }

    #[test]
    fn proofs_through_the_cache_equal_proofs_from_the_store() {
        for (n, budget) in [
            (1u64, 1 << 20),
            (300, 0),
            (5000, 1 << 20),
            (70_000, 64 << 10),
        ] {
            let (store, mem) = store_with(n);
            let cache = HashChunkCache::new(budget);
            let plain = StoreHashReader { store: &store };
            let cached = CachedHashReader {
                store: &store,
                cache: &cache,
                size: n,
            };
            // Twice: the second pass is served from the filled cache.
            for _ in 0..2 {
                for i in (0..n).step_by((n / 97).max(1) as usize) {
                    let want = prove_inclusion(i, n, &mem).unwrap();
                    assert_eq!(prove_inclusion(i, n, &plain).unwrap(), want);
                    assert_eq!(prove_inclusion(i, n, &cached).unwrap(), want, "{i} of {n}");
                }
                for old in [1, n / 3 + 1, n / 2 + 1, n] {
                    let want = prove_consistency(old, n, &mem).unwrap();
                    assert_eq!(prove_consistency(old, n, &cached).unwrap(), want);
                }
            }
            assert!(
                cache.used_bytes() <= budget,
                "{} > {budget}",
                cache.used_bytes()
            );
            if n >= 5000 && budget > 0 {
                assert!(cache.used_bytes() > 0, "nothing cached at {n}");
            }
        }
    }

    #[test]
    fn every_stored_hash_reads_the_same_through_the_cache() {
        let n = 1000;
        let (store, mem) = store_with(n);
        let cache = HashChunkCache::new(1 << 20);
        let cached = CachedHashReader {
            store: &store,
            cache: &cache,
            size: n,
        };
        let all: Vec<NodeId> = (0..10u8)
            .flat_map(|l| (0..(n >> l)).map(move |i| NodeId::new(l, i)))
            .collect();
        assert_eq!(
            cached.read_hashes(&all).unwrap(),
            mem.read_hashes(&all).unwrap()
        );
        // A node beyond the stored tree is an error, never a made-up hash.
        assert!(cached.read_hashes(&[NodeId::new(0, n)]).is_err());
        assert!(cached.read_hashes(&[NodeId::new(3, n / 8)]).is_err());
    }

    #[test]
    fn the_lowest_cached_level_follows_the_budget() {
        let cache = HashChunkCache::new(HASH_CACHE_BYTES);
        assert_eq!(cache.lowest_level(10_000_000), 5);
        assert_eq!(cache.lowest_level(0), 0);
        assert_eq!(HashChunkCache::new(0).lowest_level(1 << 20), 13);
    }
}
