//! The RocksDB [`Store`]: one column family per [`Table`], synced WAL writes.
//!
//! Durability: every [`Store::write`] is one `WriteBatch` written with `sync = true`, so it
//! is in the fsync'd write-ahead log before `write` returns, and RocksDB applies a batch
//! atomically on recovery (a torn WAL record is dropped whole). That gives contract points 1
//! to 3 of [`crate::storage`]. Compression is off (the C++ libraries for it are not built,
//! which also keeps the cold build shorter; hashes and signatures do not compress anyway).

use std::path::Path;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, Direction, IteratorMode,
    Options, ReadOptions, WriteBatch, WriteOptions, DB,
};

use super::{Batch, KeyValue, Op, Store, StoreError, Table};

/// Size of the shared block cache for reads.
pub const BLOCK_CACHE_BYTES: usize = 128 << 20;
/// Size of each column family's memtable.
pub const WRITE_BUFFER_BYTES: usize = 64 << 20;

/// Name of the merge operator behind [`Op::Append`](super::Op::Append), recorded by RocksDB
/// in the folder's OPTIONS file.
const APPEND_OPERATOR: &str = "tlog.append";

/// [`Op::Append`](super::Op::Append) as a RocksDB merge: the existing value (if any), then
/// every operand, concatenated. Associative, so RocksDB may also combine operands early
/// (partial merges in flushes and compactions).
fn concat_merge(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &rocksdb::MergeOperands,
) -> Option<Vec<u8>> {
    let len = existing.map_or(0, <[u8]>::len) + operands.iter().map(<[u8]>::len).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    if let Some(e) = existing {
        out.extend_from_slice(e);
    }
    for op in operands.iter() {
        out.extend_from_slice(op);
    }
    Some(out)
}

/// A RocksDB database in a folder.
pub struct RocksStore {
    db: DB,
    path: String,
}

fn map_err(path: &str, e: rocksdb::Error) -> StoreError {
    let msg = e.to_string();
    let lower = msg.to_lowercase();
    if lower.contains("lock")
        && (lower.contains("hold") || lower.contains("temporarily unavailable"))
    {
        StoreError::Locked {
            path: path.to_string(),
        }
    } else if lower.contains("no space")
        || lower.contains("read-only")
        || lower.contains("permission denied")
    {
        StoreError::NoSpace(msg)
    } else if lower.contains("corrupt") {
        StoreError::Corrupt(msg)
    } else {
        StoreError::Io(msg)
    }
}

impl RocksStore {
    /// Opens (creating if needed) the database in `path`.
    pub fn open(path: &Path) -> Result<RocksStore, StoreError> {
        let path_s = path.display().to_string();
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let cf_opts = |table: Table| {
            let mut o = Options::default();
            o.set_compression_type(DBCompressionType::None);
            o.set_write_buffer_size(WRITE_BUFFER_BYTES);
            o.set_merge_operator_associative(APPEND_OPERATOR, concat_merge);
            let mut b = BlockBasedOptions::default();
            if table == Table::Hashes {
                // No block cache for hash chunks. A proof reads one random level-0 chunk
                // (the upper levels come from the log's own chunk cache, `log::hashcache`);
                // at 10^7 entries those chunks are 320 MB, so the LRU cache mostly missed,
                // and every miss allocated, inserted and evicted a 16 KiB block. Reading
                // straight from the OS page cache served 8-10% more proofs a second at 10^7
                // and cut peak RSS from 184 to 52 MiB (A/B runs of one binary, back to back).
                // The table readers then hold index and filter blocks themselves: about
                // 2 MiB at 10^7 entries (an index entry a 4 KiB block, below).
                b.disable_cache();
            } else {
                b.set_block_cache(&cache);
                // Index and filter blocks live in the (bounded) block cache too, so memory
                // does not grow with the number of entries; L0's and the high-priority pool
                // keep the hot ones resident.
                b.set_cache_index_and_filter_blocks(true);
                b.set_cache_index_and_filter_blocks_with_high_priority(true);
                b.set_pin_l0_filter_and_index_blocks_in_cache(true);
            }
            b.set_bloom_filter(10.0, false);
            if table == Table::Hashes {
                // A block per 8 KiB chunk (a block is cut once it holds 4 KiB): a proof's
                // read copies the one chunk it needs, not two.
                b.set_block_size(4 << 10);
            }
            if table == Table::Entries {
                // Values are up to ~100 KiB (bundles): larger blocks.
                b.set_block_size(16 << 10);
            }
            o.set_block_based_table_factory(&b);
            o
        };
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_compression_type(DBCompressionType::None);
        db_opts.set_max_background_jobs(2);
        // The log's writer and its lookup-key spiller (`log::lookups`) insert their batches
        // into the memtables in parallel when RocksDB groups their writes.
        db_opts.set_keep_log_file_num(4);
        db_opts.set_max_total_wal_size(256 << 20);
        // Reuse finished WAL files instead of creating new ones: a synced write into a file
        // that already has its blocks (and its size) needs no inode update in the
        // fdatasync. Under HTTP load that was 8-10% more POSTs a second once the first WAL
        // had been retired (A/B, one binary, 40 s warm-up, then 20 s: 22.0k and 21.6k vs
        // 20.3k and 20.0k). RocksDB 11 recovers recycled WALs in point-in-time mode (the
        // default, kept here): a record left from a file's earlier life carries an older
        // log number and ends the replay like a torn tail. Two files: the saving needs
        // one; each may be up to `max_total_wal_size` on disk.
        db_opts.set_recycle_log_file_num(2);
        let cfs = Table::ALL
            .iter()
            .map(|t| ColumnFamilyDescriptor::new(t.name(), cf_opts(*t)));
        let db = DB::open_cf_descriptors(&db_opts, path, cfs).map_err(|e| map_err(&path_s, e))?;
        Ok(RocksStore { db, path: path_s })
    }

    /// Rewrites every stored file of `table` (a full manual compaction): files written with
    /// older options (e.g. another block size) then take the current ones.
    pub fn compact(&self, table: Table) {
        let mut o = rocksdb::CompactOptions::default();
        o.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        self.db
            .compact_range_cf_opt(self.cf(table), None::<&[u8]>, None::<&[u8]>, &o);
    }

    fn cf(&self, table: Table) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(table.name())
            .expect("column families are created at open")
    }
}

impl Store for RocksStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db
            .get_cf(self.cf(table), key)
            .map_err(|e| map_err(&self.path, e))
    }

    fn multi_get(
        &self,
        table: Table,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let cf = self.cf(table);
        self.db
            .multi_get_cf(keys.iter().map(|k| (cf, k.as_slice())))
            .into_iter()
            .map(|r| r.map_err(|e| map_err(&self.path, e)))
            .collect()
    }

    fn multi_get_with(
        &self,
        table: Table,
        keys: &[Vec<u8>],
        f: &mut dyn FnMut(usize, Option<&[u8]>),
    ) -> Result<(), StoreError> {
        let cf = self.cf(table);
        let values = self.db.batched_multi_get_cf(cf, keys, false);
        for (i, v) in values.into_iter().enumerate() {
            match v {
                Ok(v) => f(i, v.as_deref()),
                Err(e) => return Err(map_err(&self.path, e)),
            }
        }
        Ok(())
    }

    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let mut out = Vec::new();
        if start >= end || limit == 0 {
            return Ok(out);
        }
        let mut ro = ReadOptions::default();
        // Key order even in a table with a prefix extractor (the lookup table).
        ro.set_total_order_seek(true);
        ro.set_iterate_upper_bound(end.to_vec());
        let iter = self.db.iterator_cf_opt(
            self.cf(table),
            ro,
            IteratorMode::From(start, Direction::Forward),
        );
        for item in iter {
            let (k, v) = item.map_err(|e| map_err(&self.path, e))?;
            out.push((k.to_vec(), v.to_vec()));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn last_in_range(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
    ) -> Result<Option<KeyValue>, StoreError> {
        if start >= end {
            return Ok(None);
        }
        let mut ro = ReadOptions::default();
        ro.set_total_order_seek(true);
        ro.set_iterate_lower_bound(start.to_vec());
        ro.set_iterate_upper_bound(end.to_vec());
        let mut iter = self
            .db
            .iterator_cf_opt(self.cf(table), ro, IteratorMode::End);
        match iter.next() {
            Some(Ok((k, v))) => Ok(Some((k.to_vec(), v.to_vec()))),
            Some(Err(e)) => Err(map_err(&self.path, e)),
            None => Ok(None),
        }
    }

    fn write(&self, batch: Batch) -> Result<(), StoreError> {
        self.write_with(batch, true)
    }

    fn write_unsynced(&self, batch: Batch) -> Result<(), StoreError> {
        self.write_with(batch, false)
    }
}

impl RocksStore {
    /// Writes `batch` as one `WriteBatch`; with `sync`, the WAL is fsync'd before this
    /// returns. (Without, the batch is in the WAL file, in order, and goes to disk with the
    /// next synced write: RocksDB syncs the WAL file as a whole.)
    fn write_with(&self, batch: Batch, sync: bool) -> Result<(), StoreError> {
        let mut wb = WriteBatch::default();
        for (table, op) in &batch.ops {
            let cf = self.cf(*table);
            match op {
                Op::Put(k, v) => wb.put_cf(cf, k, v),
                Op::Delete(k) => wb.delete_cf(cf, k),
                Op::Append(k, v) => wb.merge_cf(cf, k, v),
            }
        }
        let mut wo = WriteOptions::default();
        // Durable before acknowledged: the WAL is fsync'd before write returns.
        wo.set_sync(sync);
        self.db
            .write_opt(wb, &wo)
            .map_err(|e| map_err(&self.path, e))
    }
}
