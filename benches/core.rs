//! Benchmarks of the pure core's Merkle operations: hashing, proof verification, and proof
//! generation from a `MemoryHashStore` of 10^6 leaves; and the timestamp of every new event
//! against `format!` of the same fields (the way it was written before).
//!
//! Run: `cargo bench --no-default-features --bench core`.

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use llm_audit_trail::core::entry::format_timestamp;
use llm_audit_trail::core::hash::{leaf_hash, node_hash, Hash};
use llm_audit_trail::core::merkle::{tree_root, MemoryHashStore};
use llm_audit_trail::core::proof::{
    prove_consistency, prove_inclusion, verify_consistency, verify_inclusion,
};

const TREE_SIZE: u64 = 1_000_000;

fn store() -> MemoryHashStore {
    let mut s = MemoryHashStore::new();
    for i in 0..TREE_SIZE {
        s.push_leaf(leaf_hash(&i.to_be_bytes()));
    }
    s
}

fn hashing(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Elements(1));
    let entry = [0x5au8; 256];
    g.bench_function("leaf_hash_256B", |b| {
        b.iter(|| leaf_hash(black_box(&entry)))
    });
    let (l, r) = (Hash([1; 32]), Hash([2; 32]));
    g.bench_function("node_hash", |b| {
        b.iter(|| node_hash(black_box(&l), black_box(&r)))
    });
    g.finish();
}

fn proofs(c: &mut Criterion) {
    let s = store();
    let root = tree_root(TREE_SIZE, &s).unwrap();
    let i = 123_457u64;
    let m = 654_321u64;
    let leaf = leaf_hash(&i.to_be_bytes());
    let inc = prove_inclusion(i, TREE_SIZE, &s).unwrap();
    let old_root = tree_root(m, &s).unwrap();
    let con = prove_consistency(m, TREE_SIZE, &s).unwrap();

    let mut g = c.benchmark_group("proof_1e6");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_inclusion", |b| {
        b.iter(|| verify_inclusion(i, TREE_SIZE, &leaf, black_box(&inc), &root).unwrap())
    });
    g.bench_function("verify_consistency", |b| {
        b.iter(|| verify_consistency(m, TREE_SIZE, &old_root, &root, black_box(&con)).unwrap())
    });
    g.bench_function("prove_inclusion", |b| {
        b.iter(|| prove_inclusion(black_box(i), TREE_SIZE, &s).unwrap())
    });
    g.bench_function("prove_consistency", |b| {
        b.iter(|| prove_consistency(black_box(m), TREE_SIZE, &s).unwrap())
    });
    g.bench_function("tree_root", |b| {
        b.iter(|| tree_root(black_box(TREE_SIZE - 1), &s).unwrap())
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

fn timestamps(c: &mut Criterion) {
    let mut g = c.benchmark_group("timestamp");
    g.throughput(Throughput::Elements(1));
    let micros = 1_795_000_000_123_456i64;
    g.bench_function("format_timestamp", |b| {
        b.iter(|| format_timestamp(black_box(micros)))
    });
    // The reference: only the `format!` the function used before, of fixed fields.
    let (y, mo, d, h, mi, sec, us) = (2026i64, 11i64, 17i64, 8i64, 53i64, 20i64, 123_456i64);
    g.bench_function("format_macro_reference", |b| {
        b.iter(|| {
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                black_box(y),
                mo,
                d,
                h,
                mi,
                sec,
                us
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = hashing, proofs, timestamps
}
criterion_main!(benches);
