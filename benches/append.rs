//! Durable append throughput, measured against RocksDB's own synced-batch put rate on the
//! same disk in the same run (so the ratio means something on a noisy machine).
//!
//! Run: `cargo bench --profile dev --bench append` (add `-- --events N` to change the size).
//! Prints one table: raw RocksDB synced WriteBatch puts/s (batches of 1000), then
//! `Log::append` durable events/s with one writer thread and with 8 concurrent writers.

use std::sync::Arc;
use std::time::Instant;

use llm_audit_trail::core::json::{JsonNumber, JsonValue};
use llm_audit_trail::core::note::Ed25519Signer;
use llm_audit_trail::log::event::NewEvent;
use llm_audit_trail::log::{Log, LogConfig};
use llm_audit_trail::storage::rocks::RocksStore;
use llm_audit_trail::storage::{Batch, Store, Table};

const BATCH: usize = 1000;

fn event(i: usize) -> NewEvent {
    let mut e = NewEvent::new("EpochEnd");
    e.model_id = Some("bench-model-v1".into());
    e.system = Some("hf_trainer".into());
    e.details = JsonValue::Object(vec![
        (
            "epoch".into(),
            JsonValue::Number(JsonNumber::Int((i / 100) as i128)),
        ),
        ("step".into(), JsonValue::Number(JsonNumber::Int(i as i128))),
        (
            "loss".into(),
            JsonValue::Number(JsonNumber::Float(0.25 + i as f64 * 1e-6)),
        ),
        (
            "learning_rate".into(),
            JsonValue::Number(JsonNumber::Float(1e-5)),
        ),
    ]);
    e
}

fn raw_rocksdb(n: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksStore::open(dir.path()).unwrap();
    let value = vec![0x5au8; 350];
    let start = Instant::now();
    let mut i = 0u64;
    while (i as usize) < n {
        let mut b = Batch::new();
        for _ in 0..BATCH {
            b.put(Table::Bodies, i.to_be_bytes(), value.clone());
            i += 1;
        }
        store.write(b).unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn log_append(n: usize, threads: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RocksStore::open(dir.path()).unwrap());
    let signer = Ed25519Signer::from_seed("bench.example/log", &[1u8; 32]).unwrap();
    let log = Log::open(store, signer, LogConfig::default()).unwrap();
    let per_thread = n / threads;
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut done = 0;
                while done < per_thread {
                    let k = BATCH.min(per_thread - done);
                    let evs: Vec<NewEvent> =
                        (0..k).map(|j| event(t * per_thread + done + j)).collect();
                    for r in log.append_blocking(evs).unwrap() {
                        r.unwrap();
                    }
                    done += k;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = (per_thread * threads) as f64 / secs;
    let m = log.metrics();
    use std::sync::atomic::Ordering::Relaxed;
    eprintln!(
        "  [{threads} threads] {:.2}s total, {} group commits, {:.2}s in synced writes, {} MB written",
        secs,
        m.batches.load(Relaxed),
        m.fsync_micros_sum.load(Relaxed) as f64 / 1e6,
        m.batch_bytes.load(Relaxed) >> 20
    );
    log.close();
    rate
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000usize);
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --benches` runs this without `--bench`: a quick smoke run only.
        println!(
            "append bench smoke: {:.0} events/s",
            log_append(2 * BATCH, 1)
        );
        return;
    }
    let raw = raw_rocksdb(n);
    let one = log_append(n, 1);
    let many = log_append(n, 8);
    println!("| measurement ({n} events, batches of {BATCH}, fsync per batch) | per second | vs RocksDB |");
    println!("|---|---:|---:|");
    println!("| RocksDB synced WriteBatch puts (350-byte values) | {raw:.0} | 1.00 |");
    println!(
        "| Log::append durable events, 1 writer thread | {one:.0} | {:.2} |",
        one / raw
    );
    println!(
        "| Log::append durable events, 8 writer threads | {many:.0} | {:.2} |",
        many / raw
    );
}
