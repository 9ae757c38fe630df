//! Storage: the small key-value interface the log is written through.
//!
//! The log keeps its data in seven tables (RocksDB column families in production, see
//! [`rocks`]; ordered maps in [`memory`] for tests):
//!
//! | table | key | value |
//! |---|---|---|
//! | `entries` | bundle number `N` (u64 BE) | C2SP tlog-tiles entry bundle of leaves `256N..` |
//! | `bodies` | bundle number `N` (u64 BE) | the private body records of leaves `256N..` (salt + body bytes, or an erasure marker) |
//! | `hashes` | level (u8) + chunk number (u64 BE) | up to 256 stored hashes of that level, concatenated |
//! | `checkpoints` | tree size (u64 BE) | the signed checkpoint note for that size |
//! | `index` | kind byte + id + 0x00 + first leaf index (u64 BE) | posting block: ascending leaf indexes |
//! | `lookup` | kind byte + 32-byte digest (33 bytes, fixed) | the leaf index (u64 BE): event id, leaf hash |
//! | `meta` | name | value (tree size, origin, ...) |
//!
//! Grouping leaves and hashes 256 to a key keeps the number of puts per event near one,
//! which is what makes durable group commit fast (see `spec/storage.md`).
//!
//! # The contract every [`Store`] keeps
//!
//! 1. [`Store::write`] is atomic: after it returns, and after any crash, either every
//!    operation of the batch is visible or none is.
//! 2. [`Store::write`] is durable: when it returns `Ok`, the batch survives a process crash
//!    or power loss (RocksDB: WAL with `sync = true`).
//! 3. Batches are applied in the order `write` is called, and after a crash the store holds
//!    every batch whose `write` returned `Ok`, plus possibly later batches whose `write` did
//!    not return (never a partial batch, never a gap).
//! 4. Reads see only whole batches, and see every batch whose `write` has returned.
//! 5. An `Err` from `write` means the batch may or may not have been applied; the caller
//!    must treat the store as needing recovery (the log re-opens and re-reads its state).

pub mod memory;
pub mod rocks;

/// The tables (column families) of the log. See the module documentation for layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Entry bundles: 256 leaves a key.
    Entries,
    /// Private bodies with their salts, one key a leaf, erasable.
    Bodies,
    /// Stored Merkle hashes, 256 a key per level.
    Hashes,
    /// Every signed checkpoint, by tree size.
    Checkpoints,
    /// Posting lists: model id, dataset id, deployment id, event type.
    Index,
    /// Unique point lookups (event id, leaf hash → leaf index). Keys are always 33 bytes
    /// (a kind byte and a 32-byte digest), uniformly spread, so a store may hash them
    /// (RocksDB: a hash-bucketed memtable). Scans still work, in key order, but are slow.
    Lookup,
    /// Metadata: tree size, origin, format version.
    Meta,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 7] = [
        Table::Entries,
        Table::Bodies,
        Table::Hashes,
        Table::Checkpoints,
        Table::Index,
        Table::Lookup,
        Table::Meta,
    ];

    /// The column family name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Entries => "entries",
            Table::Bodies => "bodies",
            Table::Hashes => "hashes",
            Table::Checkpoints => "checkpoints",
            Table::Index => "index",
            Table::Lookup => "lookup",
            Table::Meta => "meta",
        }
    }
}

/// One operation of a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Sets `key` to `value`.
    Put(Vec<u8>, Vec<u8>),
    /// Removes `key`.
    Delete(Vec<u8>),
    /// Appends bytes to the value of `key` (an absent key counts as empty): the value
    /// becomes `old || bytes`. Lets the log extend its partial entry bundles and hash chunks
    /// without rewriting them (RocksDB: a concatenating merge operator).
    Append(Vec<u8>, Vec<u8>),
}

/// A set of writes applied atomically and durably by [`Store::write`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// The operations, applied in order.
    pub ops: Vec<(Table, Op)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a put.
    pub fn put(&mut self, table: Table, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push((table, Op::Put(key.into(), value.into())));
    }

    /// Adds an append (see [`Op::Append`]).
    pub fn append(&mut self, table: Table, key: impl Into<Vec<u8>>, bytes: impl Into<Vec<u8>>) {
        self.ops.push((table, Op::Append(key.into(), bytes.into())));
    }

    /// Adds a delete.
    pub fn delete(&mut self, table: Table, key: impl Into<Vec<u8>>) {
        self.ops.push((table, Op::Delete(key.into())));
    }

    /// Whether the batch has no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Total bytes of keys and values (for metrics and limits).
    pub fn byte_size(&self) -> usize {
        self.ops
            .iter()
            .map(|(_, op)| match op {
                Op::Put(k, v) | Op::Append(k, v) => k.len() + v.len(),
                Op::Delete(k) => k.len(),
            })
            .sum()
    }
}

/// A storage failure. The message is for operators' logs, never for HTTP clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data folder is locked by another process.
    #[error("the data folder {path} is in use by another process (is `tlog serve` running? use --server URL)")]
    Locked {
        /// The folder.
        path: String,
    },
    /// The disk is full or the folder is read-only: nothing was written.
    #[error("cannot write to the data folder: {0}")]
    NoSpace(String),
    /// Any other I/O or database error.
    #[error("storage error: {0}")]
    Io(String),
    /// Stored bytes are not what the log wrote (corruption or a foreign folder).
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

/// A key and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// The key-value store under the log. See the module documentation for the contract.
pub trait Store: Send + Sync + 'static {
    /// Reads one key.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Reads many keys of one table at once, in order.
    fn multi_get(
        &self,
        table: Table,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get(table, k)).collect()
    }

    /// Reads many keys of one table and hands each value (or `None`) to `f` with its
    /// position in `keys`, without copying it out of the store where the store can avoid
    /// that (RocksDB: pinned block-cache slices). Proofs read 32 bytes out of each 8 KiB
    /// hash chunk, so this is what keeps proof serving cheap.
    fn multi_get_with(
        &self,
        table: Table,
        keys: &[Vec<u8>],
        f: &mut dyn FnMut(usize, Option<&[u8]>),
    ) -> Result<(), StoreError> {
        for (i, v) in self.multi_get(table, keys)?.into_iter().enumerate() {
            f(i, v.as_deref());
        }
        Ok(())
    }

    /// Returns up to `limit` (key, value) pairs with `start <= key < end`, in key order.
    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError>;

    /// Returns the (key, value) pair with the greatest key in `start <= key < end`.
    fn last_in_range(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
    ) -> Result<Option<KeyValue>, StoreError>;

    /// Applies `batch` atomically and durably (see the contract).
    fn write(&self, batch: Batch) -> Result<(), StoreError>;

    /// Applies `batch` atomically, in order with every other write, without waiting for it
    /// to be durable: it is durable once a later [`Store::write`] returns (that covers every
    /// earlier write); a crash before that may lose it whole (and every later unsynced
    /// write), never part of it. For data that can be derived again (the log's lookup
    /// keys). The default is [`Store::write`].
    fn write_unsynced(&self, batch: Batch) -> Result<(), StoreError> {
        self.write(batch)
    }
}

/// Big-endian bytes of a u64, the key encoding of every numbered table.
pub fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Parses a big-endian u64 key.
pub fn parse_be(key: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = key
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("key of {} bytes, expected 8", key.len())))?;
    Ok(u64::from_be_bytes(arr))
}
