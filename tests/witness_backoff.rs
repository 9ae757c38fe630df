//! The witness coordinator keeps a backoff per witness across checkpoints: a witness that is
//! down is not asked at every new checkpoint, and is asked again after its backoff.

#![cfg(feature = "server")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use llm_audit_trail::core::cosignature::CosignatureSigner;
use llm_audit_trail::core::note::Ed25519Signer;
use llm_audit_trail::core::policy::parse_policy;
use llm_audit_trail::log::event::NewEvent;
use llm_audit_trail::log::{Log, LogConfig};
use llm_audit_trail::storage::memory::MemoryStore;
use llm_audit_trail::witness::client::{self, CoordinatorConfig, RETRY_MIN};

/// A witness that answers every `add-checkpoint` with 503 and counts them.
async fn unavailable_witness() -> (String, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    let app = Router::new().route(
        "/add-checkpoint",
        post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "down for maintenance",
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_that_is_down_is_asked_with_backoff_not_at_every_checkpoint() {
    let (url, hits) = unavailable_witness().await;
    let signer = Ed25519Signer::from_seed("example.com/backoff", &[5; 32]).unwrap();
    let witness = CosignatureSigner::from_seed("w1", &[6; 32]).unwrap();
    let policy = parse_policy(
        format!(
            "log {}\nwitness w1 {} {url}\nquorum w1\n",
            signer.verifier().to_vkey(),
            witness.to_vkey()
        )
        .as_bytes(),
    )
    .unwrap();
    let log = Log::open(
        Arc::new(MemoryStore::new()),
        signer,
        LogConfig {
            checkpoint_interval: Duration::from_millis(20),
            ..LogConfig::default()
        },
    )
    .unwrap();
    let (_view, coordinator) = client::start(log.clone(), CoordinatorConfig::new(policy)).unwrap();

    // Grow the tree for a while: a new checkpoint every ~20 ms.
    let started = tokio::time::Instant::now();
    let mut checkpoints = std::collections::BTreeSet::new();
    let mut i = 0u64;
    while started.elapsed() < Duration::from_millis(1700) {
        let mut e = NewEvent::new("Evaluation");
        e.event_id = Some(format!("ev-{i}"));
        i += 1;
        log.append(vec![e]).await.unwrap();
        if let Some(cp) = log.latest_checkpoint() {
            checkpoints.insert(cp.checkpoint.tree_size);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let asked = hits.load(Ordering::SeqCst);
    // Backoff from 0.2 s, doubling: asked at about 0, 0.2, 0.6 and 1.4 s in 1.7 s. Without a
    // backoff kept across checkpoints, it was asked at each of the many checkpoints.
    assert!(
        checkpoints.len() >= 10,
        "the log signed only {} checkpoints",
        checkpoints.len()
    );
    assert!(
        (2..=6).contains(&asked),
        "a witness that is down was asked {asked} times over {} checkpoints in 1.7 s",
        checkpoints.len()
    );
    assert!(
        RETRY_MIN <= Duration::from_millis(200),
        "the bounds above assume it"
    );
    log.close();
    tokio::time::timeout(Duration::from_secs(5), coordinator)
        .await
        .expect("the coordinator stops when the log closes")
        .unwrap();
}
