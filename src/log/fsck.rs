//! A full re-verification of a log, used after crash tests and by `tlog fsck`.
//!
//! Streams every leaf (O(log n) memory) and checks: each leaf decodes; each present body
//! matches its leaf's salted digest; the level-0 stored hashes are the leaf hashes; the root
//! recomputed from the leaves equals the root computed from stored hashes; every stored
//! checkpoint is signed by the log key, is for a size within the tree, and has the root the
//! leaves give at that size; and the indexes find every event id.

use crate::core::checkpoint::{open_checkpoint, Checkpoint};
use crate::core::entry;
use crate::core::hash::{leaf_hash, Hash};
use crate::core::merkle::Frontier;
use crate::core::note::Ed25519Verifier;
use crate::storage::{parse_be, Table};

use super::layout::{BodyRecord, BUNDLE_WIDTH};
use super::Log;

/// What a successful check saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckReport {
    /// Leaves checked.
    pub tree_size: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Bodies checked against their digest.
    pub bodies: u64,
    /// Bodies found erased.
    pub erased: u64,
}

/// Checks everything; the error says exactly what is wrong and where.
pub fn fsck(log: &Log, key: &Ed25519Verifier) -> Result<FsckReport, String> {
    let store = log.store();
    let size = log.tree_size();
    // Checkpoints, in size order.
    let mut checkpoints: Vec<(u64, Checkpoint)> = Vec::new();
    let mut cursor = Vec::new();
    loop {
        let page = store
            .scan(Table::Checkpoints, &cursor, &[0xff; 9], 1024)
            .map_err(|e| e.to_string())?;
        if page.is_empty() {
            break;
        }
        for (k, note) in &page {
            let n = parse_be(k).map_err(|e| e.to_string())?;
            let cp = open_checkpoint(note, key)
                .map(|s| s.checkpoint)
                .map_err(|e| format!("checkpoint at size {n}: {e}"))?;
            if cp.tree_size != n {
                return Err(format!(
                    "checkpoint stored under size {n} says size {}",
                    cp.tree_size
                ));
            }
            if n > size {
                return Err(format!(
                    "checkpoint at size {n} but the tree has {size} leaves"
                ));
            }
            checkpoints.push((n, cp));
        }
        let mut next = page.last().expect("non-empty").0.clone();
        next.push(0);
        cursor = next;
    }
    let mut report = FsckReport {
        tree_size: size,
        checkpoints: checkpoints.len() as u64,
        bodies: 0,
        erased: 0,
    };
    let mut frontier = Frontier::new();
    let mut scratch = Vec::new();
    let mut next_cp = checkpoints.iter().peekable();
    while let Some((n, cp)) = next_cp.peek() {
        if *n == 0 {
            if cp.root_hash != crate::core::hash::empty_root() {
                return Err("checkpoint at size 0 has a non-empty root".into());
            }
            next_cp.next();
        } else {
            break;
        }
    }
    let mut i = 0u64;
    while i < size {
        let leaves = log
            .entries(i, BUNDLE_WIDTH - i % BUNDLE_WIDTH)
            .map_err(|e| e.to_string())?;
        let chunk = log
            .hash_chunk(0, i / BUNDLE_WIDTH)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("level-0 hashes of bundle {} missing", i / BUNDLE_WIDTH))?;
        for leaf in leaves {
            let header = entry::decode_entry(&leaf).map_err(|e| format!("leaf {i}: {e}"))?;
            let h = leaf_hash(&leaf);
            let off = (i % BUNDLE_WIDTH) as usize * 32;
            if chunk.get(off..off + 32).and_then(Hash::from_slice) != Some(h) {
                return Err(format!("stored leaf hash {i} is not the hash of leaf {i}"));
            }
            if log
                .find_event_id(&header.event_id)
                .map_err(|e| e.to_string())?
                != Some(i)
            {
                return Err(format!("event id of leaf {i} is not indexed to it"));
            }
            match super::layout::read_body(&**store, i).map_err(|e| e.to_string())? {
                None => return Err(format!("body of leaf {i} missing")),
                Some(BodyRecord::Present { salt, body }) => {
                    entry::verify_body(&header, &salt, &body)
                        .map_err(|e| format!("body of leaf {i}: {e}"))?;
                    report.bodies += 1;
                }
                Some(BodyRecord::Erased { .. }) => report.erased += 1,
            }
            scratch.clear();
            frontier.append(h, &mut scratch);
            i += 1;
            while let Some((n, cp)) = next_cp.peek() {
                if *n == i {
                    if frontier.root() != cp.root_hash {
                        return Err(format!(
                            "checkpoint at size {n} has a root the leaves do not give"
                        ));
                    }
                    next_cp.next();
                } else {
                    break;
                }
            }
        }
    }
    let stored_root = log.root_at(size).map_err(|e| e.to_string())?;
    if stored_root != frontier.root() && size > 0 {
        return Err("the stored hashes give another root than the leaves".into());
    }
    Ok(report)
}
