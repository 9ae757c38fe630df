//! Key and value layouts of the log's tables (see [`crate::storage`] for the table list).
//!
//! - Hash chunks: the stored hashes of one level are cut into chunks of
//!   [`CHUNK_WIDTH`] = 256 consecutive nodes; key `level (u8) || chunk (u64 BE)`, value the
//!   concatenated 32-byte hashes present so far. Level `8K` chunks are exactly the C2SP
//!   tlog-tiles hash tiles of level `K`. A partial chunk (and a partial bundle below) grows
//!   by appends ([`crate::storage::Op::Append`]), never by rewrites: layout 3.
//! - Entry bundles: leaves `256N .. 256N+255` under key `N (u64 BE)`, as a C2SP tlog-tiles
//!   entry bundle (each leaf: u16 BE length || bytes).
//! - Bodies: key `N (u64 BE)`, the body records of leaves `256N .. 256N+255`, each as u32 BE
//!   length || record; a record is `0x01 || salt (32) || body bytes`, or after erasure
//!   `0x00 || erasure event index (u64 BE) || reason (UTF-8)`.
//! - Lookup (unique, 33-byte keys): `b'e' || SHA-256(event_id)` → leaf index (u64 BE);
//!   `b'h' || leaf hash` → leaf index. Written in sorted slices by [`super::lookups`], up to
//!   `meta/lookup_indexed`; the newest events' keys are held in memory.
//! - Index: posting blocks `kind || value || 0x00 || first index (u64 BE)` → the ascending
//!   leaf indexes (u64 BE each) of one group commit that have that value, for kinds `b'm'`
//!   model_id, `b'd'` dataset_id, `b't'` event_type, `b'p'` deployment_id. One block a value
//!   a group commit keeps puts per event near two. Ids never contain 0x00 (entry validation
//!   forbids control characters).
//! - Meta: `tree_size`, `checkpoint_size`, `lookup_indexed` → u64 BE; `origin` → UTF-8;
//!   `layout` → [`LAYOUT_VERSION`].
//!
//! Layout 1 (before the lookup table) kept `b'e' || event_id` and `b'h' || leaf hash` in the
//! index table; [`migrate_v1`] moves them on open.

use std::collections::BTreeMap;

use crate::core::hash::{Hash, HASH_SIZE};
use crate::core::merkle::{HashReadError, HashReader, NodeId};
use crate::storage::{be, Batch, Store, StoreError, Table};

/// Encodes body records as a body bundle (u32 BE length || record, each).
pub fn push_body_record(bundle: &mut Vec<u8>, record: &[u8]) {
    bundle.extend_from_slice(&(record.len() as u32).to_be_bytes());
    bundle.extend_from_slice(record);
}

/// Appends the record of a present body (`0x01 || salt || body`) to a body bundle without
/// building it first: the same bytes as `push_body_record(bundle, &BodyRecord::Present {..}
/// .encode())`.
pub fn push_present_body(bundle: &mut Vec<u8>, salt: &[u8; 32], body: &[u8]) {
    bundle.extend_from_slice(&((1 + salt.len() + body.len()) as u32).to_be_bytes());
    bundle.push(1);
    bundle.extend_from_slice(salt);
    bundle.extend_from_slice(body);
}

/// Splits a body bundle into its records.
pub fn parse_body_bundle(mut b: &[u8]) -> Result<Vec<&[u8]>, StoreError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 4 {
            return Err(StoreError::Corrupt("truncated body bundle".into()));
        }
        let n = u32::from_be_bytes(b[..4].try_into().expect("4 bytes")) as usize;
        let rest = &b[4..];
        if rest.len() < n || out.len() >= BUNDLE_WIDTH as usize {
            return Err(StoreError::Corrupt("malformed body bundle".into()));
        }
        out.push(&rest[..n]);
        b = &rest[n..];
    }
    Ok(out)
}

/// Reads the body record of leaf `index` (`None` if there is none).
pub fn read_body(store: &dyn Store, index: u64) -> Result<Option<BodyRecord>, StoreError> {
    let Some(bundle) = store.get(Table::Bodies, &be(index / BUNDLE_WIDTH))? else {
        return Ok(None);
    };
    let records = parse_body_bundle(&bundle)?;
    records
        .get((index % BUNDLE_WIDTH) as usize)
        .map(|r| BodyRecord::decode(r))
        .transpose()
}

/// Nodes a hash chunk holds.
pub const CHUNK_WIDTH: u64 = 256;
/// Leaves an entry bundle holds.
pub const BUNDLE_WIDTH: u64 = 256;
/// Version of this layout, stored in `meta/layout`. Layout 3 grows partial bundles and
/// chunks by appends ([`crate::storage::Op::Append`], a RocksDB merge operator), which a
/// binary of layout 2 could not read.
pub const LAYOUT_VERSION: &[u8] = b"4";
/// Layout 3: appends, and every event's lookup keys written with the event. Opening it
/// records that all of them are stored (`meta/lookup_indexed` = the tree size) and layout 4.
pub const LAYOUT_V3: &[u8] = b"3";
/// Layout 2: the keys and values of layout 3, written by puts only; opened as layout 3.
pub const LAYOUT_V2: &[u8] = b"2";
/// Layout 1, migrated on open by [`migrate_v1`].
pub const LAYOUT_V1: &[u8] = b"1";

/// Meta key of the committed tree size.
pub const META_TREE_SIZE: &[u8] = b"tree_size";
/// Meta key of the log's origin.
pub const META_ORIGIN: &[u8] = b"origin";
/// Meta key of the layout version.
pub const META_LAYOUT: &[u8] = b"layout";
/// Meta key of the size of the latest signed checkpoint.
pub const META_CHECKPOINT_SIZE: &[u8] = b"checkpoint_size";
/// Meta key (layout 4) of the index below which every event's lookup keys are in the
/// lookup table; the keys of later events are derived from their entries on open
/// ([`super::lookups`]).
pub const META_LOOKUP_INDEXED: &[u8] = b"lookup_indexed";

/// Index kinds (first byte of an index key).
pub mod kind {
    /// event_id → index (unique).
    pub const EVENT_ID: u8 = b'e';
    /// model_id postings.
    pub const MODEL: u8 = b'm';
    /// dataset_id postings.
    pub const DATASET: u8 = b'd';
    /// event_type postings.
    pub const TYPE: u8 = b't';
    /// deployment_id postings.
    pub const DEPLOYMENT: u8 = b'p';
    /// leaf hash → index (unique).
    pub const LEAF_HASH: u8 = b'h';
}

/// Length of every lookup-table key.
pub const LOOKUP_KEY_LEN: usize = 1 + HASH_SIZE;

/// Lookup key of a leaf hash: `b'h' || hash`.
pub fn leaf_key(hash: &Hash) -> [u8; LOOKUP_KEY_LEN] {
    let mut k = [0u8; LOOKUP_KEY_LEN];
    k[0] = kind::LEAF_HASH;
    k[1..].copy_from_slice(hash.as_bytes());
    k
}

/// Lookup key of an event id: `b'e' || SHA-256(event_id)`.
pub fn event_id_key(event_id: &str) -> [u8; LOOKUP_KEY_LEN] {
    let mut k = [0u8; LOOKUP_KEY_LEN];
    k[0] = kind::EVENT_ID;
    k[1..].copy_from_slice(&crate::core::hash::sha256(event_id.as_bytes()));
    k
}

/// Moves the unique keys of layout 1 (`b'e' || event_id` and `b'h' || hash` in the index
/// table) to the lookup table, then records the current layout (layout 3; 2 needs no data
/// change).
///
/// Crash safety: each step is one atomic batch that puts a slice of keys into the lookup
/// table and deletes them from the index table, so a crash leaves every key in exactly one
/// of the two places; the layout stays 1 until the last batch, and the next open carries on
/// with whatever is left. Lookups are only served after the migration finished.
pub fn migrate_v1(store: &dyn Store) -> Result<u64, StoreError> {
    const STEP: usize = 10_000;
    let mut moved = 0u64;
    for (kind_byte, end) in [
        (kind::EVENT_ID, kind::EVENT_ID + 1),
        (kind::LEAF_HASH, kind::LEAF_HASH + 1),
    ] {
        loop {
            let page = store.scan(Table::Index, &[kind_byte], &[end], STEP)?;
            if page.is_empty() {
                break;
            }
            let mut batch = Batch::new();
            for (k, v) in page {
                let new_key = if kind_byte == kind::EVENT_ID {
                    let id = std::str::from_utf8(&k[1..]).map_err(|_| {
                        StoreError::Corrupt("layout 1 event-id key is not UTF-8".into())
                    })?;
                    event_id_key(id)
                } else {
                    let hash = Hash::from_slice(&k[1..]).ok_or_else(|| {
                        StoreError::Corrupt("layout 1 leaf-hash key is not 33 bytes".into())
                    })?;
                    leaf_key(&hash)
                };
                batch.put(Table::Lookup, new_key, v);
                batch.delete(Table::Index, k);
                moved += 1;
            }
            store.write(batch)?;
        }
    }
    mark_all_indexed(store)?;
    Ok(moved)
}

/// Records layout 4 for a folder of an older layout, whose events all have their lookup
/// keys stored: `meta/lookup_indexed` = the tree size, in the same batch.
pub fn mark_all_indexed(store: &dyn Store) -> Result<(), StoreError> {
    let size = store
        .get(Table::Meta, META_TREE_SIZE)?
        .unwrap_or_else(|| be(0).to_vec());
    let mut batch = Batch::new();
    batch.put(Table::Meta, META_LOOKUP_INDEXED, size);
    batch.put(Table::Meta, META_LAYOUT, LAYOUT_VERSION.to_vec());
    store.write(batch)
}

/// Key of the hash chunk of `level` holding node `index`.
pub fn chunk_key(level: u8, chunk: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(level);
    k.extend_from_slice(&be(chunk));
    k
}

/// Key of a posting-list index entry.
pub fn posting_key(kind: u8, value: &str, index: u64) -> Vec<u8> {
    let mut k = posting_prefix(kind, value);
    k.extend_from_slice(&be(index));
    k
}

/// The prefix shared by every posting of `(kind, value)`.
pub fn posting_prefix(kind: u8, value: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + value.len() + 8);
    k.push(kind);
    k.extend_from_slice(value.as_bytes());
    k.push(0);
    k
}

/// A private body as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRecord {
    /// The body and the salt of its commitment.
    Present {
        /// The 32-byte salt.
        salt: [u8; 32],
        /// The canonical CBOR body bytes.
        body: Vec<u8>,
    },
    /// The body was erased by the erasure event at `erased_by`.
    Erased {
        /// Leaf index of the `Erasure` event.
        erased_by: u64,
        /// Why it was erased.
        reason: String,
    },
}

impl BodyRecord {
    /// Stored bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            BodyRecord::Present { salt, body } => {
                let mut v = Vec::with_capacity(33 + body.len());
                v.push(1);
                v.extend_from_slice(salt);
                v.extend_from_slice(body);
                v
            }
            BodyRecord::Erased { erased_by, reason } => {
                let mut v = Vec::with_capacity(9 + reason.len());
                v.push(0);
                v.extend_from_slice(&be(*erased_by));
                v.extend_from_slice(reason.as_bytes());
                v
            }
        }
    }

    /// Parses stored bytes.
    pub fn decode(v: &[u8]) -> Result<BodyRecord, StoreError> {
        match v.first() {
            Some(1) if v.len() >= 33 => Ok(BodyRecord::Present {
                salt: v[1..33].try_into().expect("32 bytes"),
                body: v[33..].to_vec(),
            }),
            Some(0) if v.len() >= 9 => Ok(BodyRecord::Erased {
                erased_by: u64::from_be_bytes(v[1..9].try_into().expect("8 bytes")),
                reason: String::from_utf8_lossy(&v[9..]).into_owned(),
            }),
            _ => Err(StoreError::Corrupt("body record".into())),
        }
    }
}

/// Reads stored hashes out of hash chunks, with one `multi_get` per call.
pub struct StoreHashReader<'a, S: Store + ?Sized> {
    /// The store.
    pub store: &'a S,
}

impl<S: Store + ?Sized> HashReader for StoreHashReader<'_, S> {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, HashReadError> {
        // Group the requested nodes by chunk so that each chunk is read once, and copy
        // only the 32 bytes wanted out of each (pinned) chunk.
        let mut chunk_of: BTreeMap<(u8, u64), usize> = BTreeMap::new();
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut wanted: Vec<Vec<(usize, usize)>> = Vec::new(); // per chunk: (node, offset)
        for (pos, n) in nodes.iter().enumerate() {
            let c = *chunk_of
                .entry((n.level, n.index / CHUNK_WIDTH))
                .or_insert_with(|| {
                    keys.push(chunk_key(n.level, n.index / CHUNK_WIDTH));
                    wanted.push(Vec::new());
                    keys.len() - 1
                });
            wanted[c].push((pos, (n.index % CHUNK_WIDTH) as usize * HASH_SIZE));
        }
        let mut out: Vec<Option<Hash>> = vec![None; nodes.len()];
        self.store
            .multi_get_with(Table::Hashes, &keys, &mut |c, value| {
                if let Some(chunk) = value {
                    for &(pos, off) in &wanted[c] {
                        out[pos] = chunk.get(off..off + HASH_SIZE).and_then(Hash::from_slice);
                    }
                }
            })
            .map_err(|e| HashReadError(e.to_string()))?;
        out.into_iter()
            .zip(nodes)
            .map(|(h, n)| h.ok_or_else(|| HashReadError(format!("missing stored hash {n:?}"))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_body_pushed_directly_is_the_encoded_record() {
        for body in [&b""[..], b"x", &[7u8; 300]] {
            let salt = [9u8; 32];
            let mut direct = Vec::new();
            push_present_body(&mut direct, &salt, body);
            let mut reference = Vec::new();
            let rec = BodyRecord::Present {
                salt,
                body: body.to_vec(),
            };
            push_body_record(&mut reference, &rec.encode());
            assert_eq!(direct, reference);
            let parsed = parse_body_bundle(&direct).unwrap();
            assert_eq!(BodyRecord::decode(parsed[0]).unwrap(), rec);
        }
    }
}
