//! The storage conformance suite: every `Store` implementation must pass it.

#![cfg(feature = "server")]

use llm_audit_trail::storage::memory::{Fault, MemoryStore};
use llm_audit_trail::storage::rocks::RocksStore;
use llm_audit_trail::storage::{Batch, Store, StoreError, Table};

fn conformance(store: &dyn Store) {
    // Empty reads.
    assert_eq!(store.get(Table::Meta, b"x").unwrap(), None);
    assert!(store
        .scan(Table::Index, b"", &[0xff], 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        store.last_in_range(Table::Index, b"", &[0xff]).unwrap(),
        None
    );

    // A batch across tables is applied whole.
    let mut b = Batch::new();
    for i in 0u64..100 {
        b.put(Table::Entries, i.to_be_bytes(), vec![i as u8; 3]);
        b.put(
            Table::Index,
            [b"k".as_slice(), &i.to_be_bytes()].concat(),
            [],
        );
    }
    b.put(Table::Meta, b"tree_size", 100u64.to_be_bytes());
    store.write(b).unwrap();
    assert_eq!(
        store.get(Table::Entries, &7u64.to_be_bytes()).unwrap(),
        Some(vec![7; 3])
    );
    assert_eq!(
        store.get(Table::Meta, b"tree_size").unwrap(),
        Some(100u64.to_be_bytes().to_vec())
    );
    // Tables are separate namespaces.
    assert_eq!(store.get(Table::Bodies, &7u64.to_be_bytes()).unwrap(), None);

    // multi_get keeps order and reports misses.
    let keys = vec![
        9u64.to_be_bytes().to_vec(),
        1000u64.to_be_bytes().to_vec(),
        2u64.to_be_bytes().to_vec(),
    ];
    assert_eq!(
        store.multi_get(Table::Entries, &keys).unwrap(),
        vec![Some(vec![9; 3]), None, Some(vec![2; 3])]
    );

    // scan: [start, end), in order, limited.
    let start = [b"k".as_slice(), &10u64.to_be_bytes()].concat();
    let end = [b"k".as_slice(), &20u64.to_be_bytes()].concat();
    let got = store.scan(Table::Index, &start, &end, 100).unwrap();
    assert_eq!(got.len(), 10);
    assert_eq!(got[0].0, start);
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(store.scan(Table::Index, &start, &end, 3).unwrap().len(), 3);
    assert!(store
        .scan(Table::Index, &end, &start, 100)
        .unwrap()
        .is_empty());
    let last = store
        .last_in_range(Table::Index, &start, &end)
        .unwrap()
        .unwrap();
    assert_eq!(last.0, [b"k".as_slice(), &19u64.to_be_bytes()].concat());

    // Overwrite and delete.
    let mut b = Batch::new();
    b.put(Table::Entries, 7u64.to_be_bytes(), b"new".to_vec());
    b.delete(Table::Entries, 8u64.to_be_bytes());
    store.write(b).unwrap();
    assert_eq!(
        store.get(Table::Entries, &7u64.to_be_bytes()).unwrap(),
        Some(b"new".to_vec())
    );
    assert_eq!(
        store.get(Table::Entries, &8u64.to_be_bytes()).unwrap(),
        None
    );

    // The lookup table: fixed 33-byte digest keys; point reads, and scans in key order.
    let mut b = Batch::new();
    let key = |i: u64| {
        let mut k = [0u8; 33];
        k[0] = b'h';
        k[1..].copy_from_slice(&llm_audit_trail::core::hash::sha256(&i.to_be_bytes()));
        k
    };
    for i in 0u64..500 {
        b.put(Table::Lookup, key(i), i.to_be_bytes());
    }
    store.write(b).unwrap();
    for i in [0u64, 17, 499] {
        assert_eq!(
            store.get(Table::Lookup, &key(i)).unwrap(),
            Some(i.to_be_bytes().to_vec())
        );
    }
    assert_eq!(store.get(Table::Lookup, &key(500)).unwrap(), None);
    let all = store.scan(Table::Lookup, b"h", b"i", 1000).unwrap();
    assert_eq!(all.len(), 500);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    let mut keys: Vec<[u8; 33]> = (0..500).map(key).collect();
    keys.sort();
    assert_eq!(
        store
            .last_in_range(Table::Lookup, b"h", b"i")
            .unwrap()
            .unwrap()
            .0,
        keys[499].to_vec()
    );
    let mut b = Batch::new();
    b.delete(Table::Lookup, key(17));
    store.write(b).unwrap();
    assert_eq!(store.get(Table::Lookup, &key(17)).unwrap(), None);

    // Appends: onto an absent key, onto a put, several in one batch, then a put over them;
    // reads, scans and multi-gets see the concatenation.
    let mut b = Batch::new();
    b.append(Table::Entries, b"app-new", b"ab".to_vec());
    b.put(Table::Bodies, b"app-put", b"base".to_vec());
    b.append(Table::Bodies, b"app-put", b"+1".to_vec());
    store.write(b).unwrap();
    let mut b = Batch::new();
    b.append(Table::Entries, b"app-new", b"cd".to_vec());
    b.append(Table::Entries, b"app-new", b"ef".to_vec());
    b.append(Table::Bodies, b"app-put", b"+2".to_vec());
    store.write(b).unwrap();
    assert_eq!(
        store.get(Table::Entries, b"app-new").unwrap(),
        Some(b"abcdef".to_vec())
    );
    assert_eq!(
        store.get(Table::Bodies, b"app-put").unwrap(),
        Some(b"base+1+2".to_vec())
    );
    assert_eq!(
        store.scan(Table::Bodies, b"app-", b"app.", 10).unwrap(),
        vec![(b"app-put".to_vec(), b"base+1+2".to_vec())]
    );
    let mut seen = Vec::new();
    store
        .multi_get_with(
            Table::Entries,
            &[b"app-new".to_vec(), b"app-none".to_vec()],
            &mut |i, v| seen.push((i, v.map(<[u8]>::to_vec))),
        )
        .unwrap();
    assert_eq!(seen, vec![(0, Some(b"abcdef".to_vec())), (1, None)]);
    let mut b = Batch::new();
    b.put(Table::Bodies, b"app-put", b"over".to_vec());
    b.append(Table::Bodies, b"app-put", b"!".to_vec());
    store.write(b).unwrap();
    assert_eq!(
        store.get(Table::Bodies, b"app-put").unwrap(),
        Some(b"over!".to_vec())
    );

    // Large values.
    let mut b = Batch::new();
    b.put(Table::Hashes, b"big", vec![0xab; 1 << 20]);
    store.write(b).unwrap();
    assert_eq!(
        store.get(Table::Hashes, b"big").unwrap().unwrap().len(),
        1 << 20
    );
}

#[test]
fn memory_store_conforms() {
    conformance(&MemoryStore::new());
}

#[test]
fn rocks_store_conforms_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = RocksStore::open(dir.path()).unwrap();
        conformance(&s);
    }
    let s = RocksStore::open(dir.path()).unwrap();
    // Appends survive reopening (replayed from the WAL through the merge operator), and a
    // full compaction (merging the appends into the stored files) keeps every value.
    let expected: [(Table, &[u8], &[u8]); 4] = [
        (Table::Entries, &7u64.to_be_bytes(), b"new"),
        (Table::Entries, b"app-new", b"abcdef"),
        (Table::Bodies, b"app-put", b"over!"),
        (Table::Meta, b"tree_size", &100u64.to_be_bytes()),
    ];
    for compacted in [false, true] {
        if compacted {
            for t in Table::ALL {
                s.compact(t);
            }
        }
        for (table, key, value) in expected {
            assert_eq!(
                s.get(table, key).unwrap().as_deref(),
                Some(value),
                "{table:?} {key:?}, compacted: {compacted}"
            );
        }
    }
}

#[test]
fn rocks_store_refuses_a_second_opener() {
    let dir = tempfile::tempdir().unwrap();
    let _a = RocksStore::open(dir.path()).unwrap();
    match RocksStore::open(dir.path()) {
        Err(StoreError::Locked { .. }) => {}
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("a second opener must be refused"),
    }
}

#[test]
fn memory_faults_behave_as_documented() {
    let s = MemoryStore::new();
    s.inject(0, Fault::NoSpace);
    let mut b = Batch::new();
    b.put(Table::Meta, b"a", b"1".to_vec());
    assert!(matches!(s.write(b.clone()), Err(StoreError::NoSpace(_))));
    assert_eq!(
        s.get(Table::Meta, b"a").unwrap(),
        None,
        "a refused write applies nothing"
    );
    s.inject(0, Fault::AppliedThenError);
    assert!(s.write(b.clone()).is_err());
    assert_eq!(
        s.get(Table::Meta, b"a").unwrap(),
        Some(b"1".to_vec()),
        "applied, then failed"
    );
    s.write(b).unwrap();
}

/// Folders written before layout 4 kept the lookup table in a hash-bucketed memtable with a
/// 9-byte prefix extractor (its files carry prefix filters). The current options (a plain
/// skiplist, no prefix extractor) must open them and read every key, from files and from
/// the WAL alike.
#[test]
fn rocks_store_reads_a_lookup_table_written_with_the_old_options() {
    use rocksdb::{ColumnFamilyDescriptor, MemtableFactory, Options, SliceTransform, DB};
    let dir = tempfile::tempdir().unwrap();
    let key = |i: u32| {
        let mut k = vec![b'h'];
        k.extend_from_slice(&llm_audit_trail::core::hash::sha256(&i.to_be_bytes()));
        k
    };
    {
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_allow_concurrent_memtable_write(false);
        let cfs = Table::ALL.iter().map(|t| {
            let mut o = Options::default();
            if *t == Table::Lookup {
                o.set_prefix_extractor(SliceTransform::create_fixed_prefix(9));
                o.set_memtable_factory(MemtableFactory::HashLinkList {
                    bucket_count: 1 << 10,
                });
            }
            ColumnFamilyDescriptor::new(t.name(), o)
        });
        let db = DB::open_cf_descriptors(&db_opts, dir.path(), cfs).unwrap();
        let cf = db.cf_handle(Table::Lookup.name()).unwrap();
        for i in 0..2000u32 {
            db.put_cf(cf, key(i), u64::from(i).to_be_bytes()).unwrap();
            if i == 999 {
                // Half in a table file (with prefix filters), half only in the WAL.
                db.flush_cf(cf).unwrap();
            }
        }
    }
    let store = RocksStore::open(dir.path()).unwrap();
    for i in 0..2000u32 {
        assert_eq!(
            store.get(Table::Lookup, &key(i)).unwrap(),
            Some(u64::from(i).to_be_bytes().to_vec()),
            "key {i}"
        );
    }
    assert_eq!(store.get(Table::Lookup, &key(2000)).unwrap(), None);
    assert_eq!(
        store.scan(Table::Lookup, b"", &[0xff], 5000).unwrap().len(),
        2000
    );
}

/// Environment variable that turns [`recycled_wal_writer_process`] into the writer process
/// of [`rocks_store_keeps_acknowledged_writes_in_a_recycled_wal_across_sigkill`].
const RECYCLE_CHILD_DIR: &str = "TLOG_TEST_RECYCLED_WAL_DIR";

/// Not a test by itself: the child process of
/// [`rocks_store_keeps_acknowledged_writes_in_a_recycled_wal_across_sigkill`] (the test
/// binary runs itself with [`RECYCLE_CHILD_DIR`] set). Without that variable it returns.
#[test]
fn recycled_wal_writer_process() {
    let Some(dir) = std::env::var_os(RECYCLE_CHILD_DIR) else {
        return;
    };
    use std::io::Write;
    let s = RocksStore::open(std::path::Path::new(&dir)).unwrap();
    let flush_all = || {
        for t in Table::ALL {
            s.compact(t);
        }
    };
    // Fill a first WAL with ~6 MB, retire it (flushing every table makes it obsolete: it
    // goes to the recycle list), then retire the next one, so the third WAL is the first
    // file again, with its old records still behind the new ones.
    for i in 0u64..200 {
        let mut b = Batch::new();
        b.put(Table::Bodies, i.to_be_bytes(), vec![0xa5; 32 << 10]);
        s.write(b).unwrap();
    }
    flush_all();
    let mut b = Batch::new();
    b.put(Table::Meta, b"between", b"x".to_vec());
    s.write(b).unwrap();
    flush_all();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    for i in 0u64.. {
        let mut b = Batch::new();
        b.put(
            Table::Entries,
            i.to_be_bytes(),
            vec![i as u8; 1000 + (i % 7) as usize * 300],
        );
        b.put(Table::Meta, b"last", i.to_be_bytes().to_vec());
        s.write(b).unwrap();
        writeln!(out, "acked {i}").unwrap();
        out.flush().unwrap();
    }
}

/// WAL recycling (`recycle_log_file_num`, `storage::rocks`) must keep the durability
/// contract: a process writing synced batches into a reused WAL file (whose earlier
/// records are still behind the new ones) is SIGKILLed; on reopen every acknowledged
/// batch is there, and what was recovered is a prefix of what was written (no hole).
#[test]
fn rocks_store_keeps_acknowledged_writes_in_a_recycled_wal_across_sigkill() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    for (round, kill_after) in [(0u32, 40u64), (1, 250)] {
        let sub = dir.path().join(format!("r{round}"));
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "recycled_wal_writer_process", "--nocapture"])
            .env(RECYCLE_CHILD_DIR, &sub)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut acked = None;
        let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        for line in lines.map_while(Result::ok) {
            if let Some(i) = line
                .strip_prefix("acked ")
                .and_then(|n| n.parse::<u64>().ok())
            {
                acked = Some(i);
                if i >= kill_after {
                    break;
                }
            }
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let acked = acked.expect("the writer acknowledged writes");
        let log = std::fs::read_dir(&sub)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("LOG"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>();
        assert!(
            log.contains("reusing log"),
            "round {round}: the writes went to a recycled WAL (RocksDB's LOG says so)"
        );
        let s = RocksStore::open(&sub).unwrap();
        let last = s
            .get(Table::Meta, b"last")
            .unwrap()
            .expect("last write recorded");
        let last = u64::from_be_bytes(last.try_into().unwrap());
        assert!(
            last >= acked,
            "round {round}: acknowledged {acked}, recovered {last}"
        );
        for i in 0..=last {
            assert_eq!(
                s.get(Table::Entries, &i.to_be_bytes()).unwrap(),
                Some(vec![i as u8; 1000 + (i % 7) as usize * 300]),
                "round {round}: write {i} of {last} recovered whole"
            );
        }
        assert_eq!(
            s.get(Table::Entries, &(last + 1).to_be_bytes()).unwrap(),
            None
        );
        assert!(s
            .get(Table::Bodies, &199u64.to_be_bytes())
            .unwrap()
            .is_some());
    }
}
