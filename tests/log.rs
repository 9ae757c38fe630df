//! The durable log: group commit, dense indexes, proofs against checkpoints, idempotent
//! retries, recovery after crashes and storage faults.

#![cfg(feature = "server")]

use std::sync::Arc;
use std::time::Duration;

use llm_audit_trail::core::checkpoint::open_checkpoint;
use llm_audit_trail::core::json::{JsonNumber, JsonValue};
use llm_audit_trail::core::note::Ed25519Signer;
use llm_audit_trail::core::proof::{verify_consistency, verify_inclusion};
use llm_audit_trail::log::event::NewEvent;
use llm_audit_trail::log::fsck::fsck;
use llm_audit_trail::log::{AppendError, ListFilter, Log, LogConfig, LogError};
use llm_audit_trail::storage::memory::{Fault, MemoryStore};
use llm_audit_trail::storage::rocks::RocksStore;
use llm_audit_trail::storage::{Store, Table};

const ORIGIN: &str = "test.example/log";

fn signer() -> Ed25519Signer {
    Ed25519Signer::from_seed(ORIGIN, &[7u8; 32]).unwrap()
}

fn config() -> LogConfig {
    LogConfig {
        checkpoint_interval: Duration::from_millis(5),
        max_batch_events: 500,
    }
}

fn open(store: Arc<dyn Store>) -> Log {
    Log::open(store, signer(), config()).unwrap()
}

fn event(i: usize) -> NewEvent {
    let mut e = NewEvent::new("Evaluation");
    e.model_id = Some(format!("model-{}", i % 3));
    e.details = JsonValue::Object(vec![(
        "step".into(),
        JsonValue::Number(JsonNumber::Int(i as i128)),
    )]);
    e
}

/// Every inclusion proof of every leaf verifies against the latest checkpoint, and every
/// stored checkpoint is consistent with it.
fn check_everything(log: &Log) {
    let cp = log.checkpoint_now_blocking().unwrap();
    let size = cp.checkpoint.tree_size;
    assert_eq!(size, log.tree_size());
    for i in 0..size {
        let ev = log.event(i).unwrap().unwrap();
        let proof = log.inclusion_proof(i, size).unwrap();
        verify_inclusion(i, size, &ev.leaf_hash(), &proof, &cp.checkpoint.root_hash).unwrap();
    }
    for old in 1..=size {
        if let Some(note) = log.checkpoint_at(old).unwrap() {
            let old_cp = open_checkpoint(&note, &signer().verifier())
                .unwrap()
                .checkpoint;
            let proof = log.consistency_proof(old, size).unwrap();
            verify_consistency(
                old,
                size,
                &old_cp.root_hash,
                &cp.checkpoint.root_hash,
                &proof,
            )
            .unwrap();
        }
    }
    fsck(log, &signer().verifier()).unwrap();
}

#[test]
fn concurrent_appends_get_dense_unique_indexes_and_verify() {
    let log = open(Arc::new(MemoryStore::new()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for k in 0..25 {
                    let evs: Vec<NewEvent> = (0..4).map(|j| event(t * 1000 + k * 4 + j)).collect();
                    for r in log.append_blocking(evs).unwrap() {
                        got.push(r.unwrap().index);
                    }
                }
                got
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort();
    assert_eq!(
        all,
        (0..800).collect::<Vec<u64>>(),
        "indexes are unique and dense"
    );
    check_everything(&log);
    let m0 = log
        .list(
            &ListFilter {
                model_id: Some("model-0".into()),
                ..Default::default()
            },
            None,
            1000,
        )
        .unwrap();
    assert!(!m0.is_empty());
    for i in &m0 {
        assert_eq!(
            log.event(*i).unwrap().unwrap().header.model_id.as_deref(),
            Some("model-0")
        );
    }
    log.close();
}

#[test]
fn retries_with_the_same_event_id_are_idempotent() {
    let log = open(Arc::new(MemoryStore::new()));
    let mut e = event(1);
    e.event_id = Some("job-42-step-1".into());
    let first = log
        .append_blocking(vec![e.clone()])
        .unwrap()
        .remove(0)
        .unwrap();
    assert!(!first.existing);
    // Same id and contents, in a later batch and twice in one batch.
    let again = log.append_blocking(vec![e.clone(), e.clone()]).unwrap();
    for r in again {
        let r = r.unwrap();
        assert_eq!(
            (r.index, r.leaf_hash, r.existing),
            (first.index, first.leaf_hash, true)
        );
    }
    assert_eq!(log.tree_size(), 1);
    // Same id, other contents: a conflict, nothing appended.
    let mut other = e.clone();
    other.event_type = "Approval".into();
    match log.append_blocking(vec![other]).unwrap().remove(0) {
        Err(AppendError::Conflict(id)) => assert_eq!(id, "job-42-step-1"),
        r => panic!("expected a conflict, got {r:?}"),
    }
    assert_eq!(log.tree_size(), 1);
    log.close();
}

#[test]
fn invalid_events_are_refused_without_touching_the_others() {
    let log = open(Arc::new(MemoryStore::new()));
    let mut bad = event(0);
    bad.event_type = "not a valid type!".into();
    let rs = log.append_blocking(vec![event(1), bad, event(2)]).unwrap();
    assert!(rs[0].is_ok() && rs[2].is_ok());
    assert!(matches!(rs[1], Err(AppendError::Invalid(_))));
    assert_eq!(log.tree_size(), 2);
    log.close();
}

#[test]
fn reopening_after_a_crash_keeps_every_acknowledged_event() {
    let store = MemoryStore::new();
    let log = open(Arc::new(store.clone()));
    let mut acked = Vec::new();
    for i in 0..300 {
        for r in log.append_blocking(vec![event(i)]).unwrap() {
            acked.push(r.unwrap());
        }
    }
    // "Crash": copy the disk image as it is, without closing the log.
    let image = store.snapshot();
    log.close();
    let log2 = open(Arc::new(image));
    assert_eq!(log2.tree_size(), 300);
    for a in &acked {
        let ev = log2.event(a.index).unwrap().unwrap();
        assert_eq!(ev.header.event_id, a.event_id);
        assert_eq!(ev.leaf_hash(), a.leaf_hash);
    }
    // It goes on appending from where it was.
    let r = log2
        .append_blocking(vec![event(999)])
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(r.index, 300);
    check_everything(&log2);
    log2.close();
}

#[test]
fn storage_faults_lose_nothing_acknowledged_and_never_fork() {
    let store = MemoryStore::new();
    let log = open(Arc::new(store.clone()));
    let mut acked = Vec::new();
    for round in 0..40 {
        match round % 4 {
            1 => store.inject(0, Fault::NoSpace),
            2 => store.inject(0, Fault::AppliedThenError),
            3 => store.inject(0, Fault::IoError),
            _ => {}
        }
        let mut e = event(round);
        e.event_id = Some(format!("ev-{round}"));
        match log.append_blocking(vec![e.clone()]) {
            Ok(rs) => acked.push(rs.into_iter().next().unwrap().unwrap()),
            Err(LogError::NoSpace(_)) | Err(LogError::Storage(_)) => {
                // Unknown outcome: the client retries with the same event id.
                store.clear_faults();
                let r = log.append_blocking(vec![e]).unwrap().remove(0).unwrap();
                acked.push(r);
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    let image = store.snapshot();
    log.close();
    let log2 = open(Arc::new(image));
    assert_eq!(log2.tree_size(), 40, "each event exactly once");
    for a in &acked {
        assert_eq!(
            log2.event(a.index).unwrap().unwrap().header.event_id,
            a.event_id
        );
    }
    check_everything(&log2);
    log2.close();
}

#[test]
fn a_layout_1_store_is_migrated_on_open_and_keeps_every_lookup() {
    use llm_audit_trail::storage::Batch;
    // Build a log, then put its unique keys back where layout 1 kept them.
    let dir = tempfile::tempdir().unwrap();
    let acked: Vec<_> = {
        let log = open(Arc::new(RocksStore::open(dir.path()).unwrap()));
        let mut evs: Vec<NewEvent> = (0..1500).map(event).collect();
        evs[3].event_id = Some("client-chosen-id".into());
        let rs = log.append_blocking(evs).unwrap();
        log.close();
        rs.into_iter().map(|r| r.unwrap()).collect()
    };
    {
        let store = RocksStore::open(dir.path()).unwrap();
        let mut b = Batch::new();
        for a in &acked {
            let mut old_e = vec![b'e'];
            old_e.extend_from_slice(a.event_id.as_bytes());
            b.put(Table::Index, old_e, a.index.to_be_bytes());
            let mut old_h = vec![b'h'];
            old_h.extend_from_slice(a.leaf_hash.as_bytes());
            b.put(Table::Index, old_h, a.index.to_be_bytes());
        }
        let all = store.scan(Table::Lookup, b"", &[0xff], 1 << 20).unwrap();
        assert_eq!(all.len(), 3000);
        for (k, _) in all {
            b.delete(Table::Lookup, k);
        }
        b.put(Table::Meta, b"layout", b"1".to_vec());
        store.write(b).unwrap();
    }
    let log = open(Arc::new(RocksStore::open(dir.path()).unwrap()));
    for a in &acked {
        assert_eq!(log.find_event_id(&a.event_id).unwrap(), Some(a.index));
        assert_eq!(log.find_leaf_hash(&a.leaf_hash).unwrap(), Some(a.index));
    }
    // A retry of the client-chosen id is still recognised.
    let mut again = event(3);
    again.event_id = Some("client-chosen-id".into());
    let r = log.append_blocking(vec![again]).unwrap().remove(0).unwrap();
    assert!(r.existing);
    assert_eq!(r.index, 3);
    log.close();
    drop(log);
    let store = RocksStore::open(dir.path()).unwrap();
    assert_eq!(
        store.get(Table::Meta, b"layout").unwrap().as_deref(),
        Some(&b"4"[..])
    );
    assert!(store.scan(Table::Index, b"e", b"f", 10).unwrap().is_empty());
    assert!(store.scan(Table::Index, b"h", b"i", 10).unwrap().is_empty());
}

#[test]
fn rocksdb_log_survives_reopen_and_checks_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let acked: Vec<_> = {
        let log = open(Arc::new(RocksStore::open(dir.path()).unwrap()));
        let rs = log.append_blocking((0..2000).map(event).collect()).unwrap();
        log.close();
        rs.into_iter().map(|r| r.unwrap()).collect()
    };
    let log = open(Arc::new(RocksStore::open(dir.path()).unwrap()));
    assert_eq!(log.tree_size(), 2000);
    assert_eq!(acked[1999].index, 1999);
    check_everything(&log);
    log.close();
    drop(log);
    // The wrong key for this folder is refused.
    let other = Ed25519Signer::from_seed("other.example/log", &[1u8; 32]).unwrap();
    let store = Arc::new(RocksStore::open(dir.path()).unwrap());
    assert!(matches!(
        Log::open(store, other, config()),
        Err(LogError::Invalid(_))
    ));
}

#[test]
fn proofs_for_sizes_beyond_the_tree_are_refused() {
    let log = open(Arc::new(MemoryStore::new()));
    log.append_blocking((0..10).map(event).collect()).unwrap();
    assert!(matches!(
        log.inclusion_proof(3, 11),
        Err(LogError::Invalid(_))
    ));
    assert!(matches!(
        log.consistency_proof(3, 11),
        Err(LogError::Invalid(_))
    ));
    assert!(log.inclusion_proof(10, 10).is_err());
    assert!(log.event(10).unwrap().is_none());
    log.close();
}

/// Small group commits grow the partial bundles and chunks by appends (layout 3); across
/// reopenings, bundle and chunk boundaries, and with a layout-2 folder (puts only) to start
/// from, every stored value is exactly what one big batch would have stored: every leaf, body
/// and stored hash checks (fsck), and so does every proof.
#[test]
fn appends_in_small_groups_store_exactly_the_tree() {
    use llm_audit_trail::storage::Batch;
    let dir = tempfile::tempdir().unwrap();
    let mut acked = Vec::new();
    let sizes = [1usize, 3, 250, 1, 1, 7, 300, 2, 255, 1, 64];
    for (round, chunk) in sizes.chunks(3).enumerate() {
        let store = Arc::new(RocksStore::open(dir.path()).unwrap());
        if round == 1 {
            // Pretend the folder was written by layout 2: opening only re-marks it.
            let mut b = Batch::new();
            b.put(Table::Meta, b"layout", b"2".to_vec());
            store.write(b).unwrap();
        }
        let log = open(store);
        for &n in chunk {
            let base = acked.len();
            let rs = log
                .append_blocking((base..base + n).map(event).collect())
                .unwrap();
            acked.extend(rs.into_iter().map(|r| r.unwrap()));
        }
        check_everything(&log);
        log.close();
    }
    let store = Arc::new(RocksStore::open(dir.path()).unwrap());
    assert_eq!(
        store.get(Table::Meta, b"layout").unwrap().as_deref(),
        Some(&b"4"[..])
    );
    let log = open(store.clone());
    assert_eq!(log.tree_size(), acked.len() as u64);
    for (i, a) in acked.iter().enumerate() {
        assert_eq!(a.index, i as u64);
        assert_eq!(log.leaf_hash(a.index).unwrap(), a.leaf_hash);
        let ev = log.event(a.index).unwrap().unwrap();
        assert_eq!(ev.leaf_hash(), a.leaf_hash);
    }
    // Every stored value has exactly the bytes of its leaves: no duplicated append.
    let n = acked.len() as u64;
    for bundle in 0..n.div_ceil(256) {
        let v = store
            .get(Table::Entries, &bundle.to_be_bytes())
            .unwrap()
            .unwrap();
        let leaves = llm_audit_trail::core::tiles::parse_entry_bundle(&v).unwrap();
        assert_eq!(leaves.len() as u64, (n - bundle * 256).min(256));
    }
    check_everything(&log);
    log.close();
}

/// The lookup keys of the newest events live in memory and reach the lookup table in
/// sorted slices (`log::lookups`). At every moment a crash image must still find every
/// acknowledged event by id and by leaf hash (the open derives the missing keys), the
/// in-memory part stays bounded, and a clean close leaves nothing to derive.
#[test]
fn lookup_keys_survive_a_crash_at_any_point_of_their_way_to_the_store() {
    use llm_audit_trail::log::lookups::CHUNK_EVENTS;
    let store = MemoryStore::new();
    let log = Log::open(
        Arc::new(store.clone()),
        signer(),
        LogConfig {
            checkpoint_interval: Duration::from_secs(3600),
            max_batch_events: 1000,
        },
    )
    .unwrap();
    let indexed = |s: &MemoryStore| {
        s.get(Table::Meta, b"lookup_indexed")
            .unwrap()
            .map(|v| u64::from_be_bytes(v.try_into().unwrap()))
    };
    assert_eq!(
        indexed(&store),
        Some(0),
        "a new log records its lookup mark"
    );
    let total = 2 * CHUNK_EVENTS as usize + 20_000;
    let mut acked = Vec::new();
    let mut marks = Vec::new();
    while acked.len() < total {
        let n = 1000.min(total - acked.len());
        let base = acked.len();
        let evs = (base..base + n).map(event).collect();
        acked.extend(
            log.append_blocking(evs)
                .unwrap()
                .into_iter()
                .map(|r| r.unwrap()),
        );
        let mark = indexed(&store).unwrap();
        assert!(mark <= acked.len() as u64);
        assert!(
            acked.len() as u64 - mark <= 4 * CHUNK_EVENTS,
            "at most about three chunks held in memory: {mark} of {}",
            acked.len()
        );
        if marks.last() != Some(&mark) || acked.len() % 9_000 == 0 {
            // A crash image now: opening it derives what was only in memory.
            let image = store.snapshot();
            let l = open(Arc::new(image.clone()));
            assert_eq!(l.tree_size(), acked.len() as u64);
            assert_eq!(
                indexed(&image),
                Some(acked.len() as u64),
                "derived keys stored"
            );
            for a in &acked {
                assert_eq!(l.find_event_id(&a.event_id).unwrap(), Some(a.index));
                assert_eq!(l.find_leaf_hash(&a.leaf_hash).unwrap(), Some(a.index));
            }
            l.close();
            marks.push(mark);
        }
    }
    assert!(marks.len() >= 6, "images at several marks: {marks:?}");
    // Full chunks go to the store while the log runs (on the spiller's thread).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while indexed(&store).unwrap() < 2 * CHUNK_EVENTS && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        indexed(&store).unwrap() >= 2 * CHUNK_EVENTS,
        "full chunks went to the store during appends"
    );
    // The live log finds every event, wherever its keys are.
    for a in acked.iter().step_by(97).chain(acked.last()) {
        assert_eq!(log.find_event_id(&a.event_id).unwrap(), Some(a.index));
        assert_eq!(log.find_leaf_hash(&a.leaf_hash).unwrap(), Some(a.index));
    }
    // A clean close stores every key.
    log.close();
    assert_eq!(indexed(&store), Some(total as u64));
    let l = open(Arc::new(store.clone()));
    for a in acked.iter().step_by(101) {
        assert_eq!(l.find_event_id(&a.event_id).unwrap(), Some(a.index));
    }
    // A retried client id whose keys were spilled is still recognised.
    let mut again = event(5);
    again.event_id = Some(acked[5].event_id.clone());
    let r = l.append_blocking(vec![again]).unwrap().remove(0).unwrap();
    assert!(r.existing);
    assert_eq!(r.index, 5);
    l.close();
}

/// In a tree of one leaf the inclusion proof is empty, so proving reads no hash; the leaf
/// hash served with it must still be read (it was a 500 from `/v1/proof/inclusion`, found
/// by `tools/crashloop`'s lookup probes).
#[test]
fn inclusion_proof_with_leaf_in_a_tree_of_one() {
    let log = open(Arc::new(MemoryStore::new()));
    let a = log
        .append_blocking(vec![event(0)])
        .unwrap()
        .remove(0)
        .unwrap();
    let (leaf, proof) = log.inclusion_proof_with_leaf(0, 1).unwrap();
    assert_eq!(leaf, a.leaf_hash);
    assert!(proof.is_empty());
    log.append_blocking(vec![event(1)]).unwrap();
    let (leaf, proof) = log.inclusion_proof_with_leaf(0, 2).unwrap();
    assert_eq!((leaf, proof.len()), (a.leaf_hash, 1));
    log.close();
}
