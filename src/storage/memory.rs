//! An in-memory [`Store`] with fault injection, for tests.
//!
//! Keeps one ordered map per table behind a lock. Faults can be armed to make the next
//! writes fail in the ways a disk fails: refused before anything is applied (disk full,
//! read-only folder), or applied but reported as failed (the process "crashed" after the
//! fsync but before it could acknowledge). Every [`crate::storage`] contract point holds.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::{Batch, KeyValue, Op, Store, StoreError, Table};

/// A fault to inject into the next writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The write is refused and nothing is applied, as with a full disk.
    NoSpace,
    /// The write is refused and nothing is applied (an I/O error).
    IoError,
    /// The batch is applied (durable) but the write reports an error, as when a process dies
    /// between the fsync and the acknowledgement.
    AppliedThenError,
}

type Tables = HashMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>;

/// An in-memory store. Cloning shares the same data (like reopening the same folder).
#[derive(Clone, Default)]
pub struct MemoryStore {
    tables: Arc<RwLock<Tables>>,
    faults: Arc<Mutex<Vec<(u64, Fault)>>>,
    writes: Arc<AtomicU64>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Arms `fault` for the write that comes `after` successful writes from now
    /// (`after = 0`: the very next write).
    pub fn inject(&self, after: u64, fault: Fault) {
        let at = self.writes.load(Ordering::SeqCst) + after;
        self.faults.lock().expect("fault lock").push((at, fault));
    }

    /// Removes every armed fault.
    pub fn clear_faults(&self) {
        self.faults.lock().expect("fault lock").clear();
    }

    /// Number of writes attempted so far.
    pub fn write_count(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// A deep copy of the current data, independent of this store (a disk image).
    pub fn snapshot(&self) -> MemoryStore {
        let tables = self.tables.read().expect("store lock").clone();
        MemoryStore {
            tables: Arc::new(RwLock::new(tables)),
            ..MemoryStore::default()
        }
    }

    fn take_fault(&self, n: u64) -> Option<Fault> {
        let mut faults = self.faults.lock().expect("fault lock");
        let pos = faults.iter().position(|(at, _)| *at == n)?;
        Some(faults.remove(pos).1)
    }
}

impl Store for MemoryStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let tables = self.tables.read().expect("store lock");
        Ok(tables.get(&table).and_then(|t| t.get(key).cloned()))
    }

    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let tables = self.tables.read().expect("store lock");
        let Some(t) = tables.get(&table) else {
            return Ok(Vec::new());
        };
        if start >= end {
            return Ok(Vec::new());
        }
        Ok(t.range(start.to_vec()..end.to_vec())
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn last_in_range(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
    ) -> Result<Option<KeyValue>, StoreError> {
        let tables = self.tables.read().expect("store lock");
        let Some(t) = tables.get(&table) else {
            return Ok(None);
        };
        if start >= end {
            return Ok(None);
        }
        Ok(t.range(start.to_vec()..end.to_vec())
            .next_back()
            .map(|(k, v)| (k.clone(), v.clone())))
    }

    fn write(&self, batch: Batch) -> Result<(), StoreError> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        let fault = self.take_fault(n);
        match fault {
            Some(Fault::NoSpace) => {
                return Err(StoreError::NoSpace(
                    "injected: no space left on device".into(),
                ))
            }
            Some(Fault::IoError) => return Err(StoreError::Io("injected I/O error".into())),
            _ => {}
        }
        {
            let mut tables = self.tables.write().expect("store lock");
            for (table, op) in batch.ops {
                let t = tables.entry(table).or_default();
                match op {
                    Op::Put(k, v) => {
                        t.insert(k, v);
                    }
                    Op::Delete(k) => {
                        t.remove(&k);
                    }
                    Op::Append(k, v) => {
                        t.entry(k).or_default().extend_from_slice(&v);
                    }
                }
            }
        }
        if fault == Some(Fault::AppliedThenError) {
            return Err(StoreError::Io("injected: applied, then failed".into()));
        }
        Ok(())
    }
}
