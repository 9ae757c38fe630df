//! The axum/tower `AuditLayer`: two events per request, the request id honoured and
//! returned, a failing handler recorded as 500, and the user's answer untouched.

#![cfg(feature = "server")]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use llm_audit_trail::core::note::Ed25519Signer;
use llm_audit_trail::log::view::event_json;
use llm_audit_trail::log::{ListFilter, Log, LogConfig};
use llm_audit_trail::middleware::{AuditLayer, LocalSink};
use llm_audit_trail::storage::memory::MemoryStore;
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_becomes_two_events() {
    let signer = Ed25519Signer::from_seed("mw.example/log", &[5u8; 32]).unwrap();
    let log = Log::open(Arc::new(MemoryStore::new()), signer, LogConfig::default()).unwrap();
    let layer = AuditLayer::new(LocalSink::new(log.clone()), Some("demo-imdb-v1".into()));
    let app = Router::new()
        .route(
            "/predict",
            post(|body: String| async move { format!("label for {} bytes", body.len()) }),
        )
        .route(
            "/boom",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .layer(layer.clone());

    let resp = app
        .clone()
        .oneshot(
            Request::post("/predict")
                .header("x-request-id", "req-42")
                .header("content-length", "5")
                .body(Body::from("hello"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-request-id"], "req-42");
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(&body[..], b"label for 5 bytes", "the answer is untouched");

    let resp = app
        .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 36, "a UUID when the client sent none");
    // The response event is written when the body ends (here: read to the end).
    let boom = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(&boom[..], b"boom");

    // The events arrive through the background queue.
    let filter = ListFilter {
        model_id: Some("demo-imdb-v1".into()),
        ..Default::default()
    };
    let mut events = Vec::new();
    for _ in 0..100 {
        let log2 = log.clone();
        let f = filter.clone();
        events = tokio::task::spawn_blocking(move || {
            let idx = log2.list(&f, None, 100).unwrap();
            idx.into_iter()
                .map(|i| event_json(&log2.event(i).unwrap().unwrap()))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        if events.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(events.len(), 4, "{events:?}");
    let text: Vec<String> = events
        .iter()
        .map(llm_audit_trail::core::json::to_json_string)
        .collect();
    assert!(
        text[0].contains("\"event_type\":\"InferenceRequest\"")
            && text[0].contains("\"request_id\":\"req-42\"")
    );
    assert!(text[0].contains("\"request_bytes\":5"), "{}", text[0]);
    assert!(
        text[0].contains("\"request_sha256\":\"sha256:"),
        "{}",
        text[0]
    );
    assert!(
        text[1].contains("\"response_bytes\":17") && text[1].contains("\"complete\":true"),
        "{}",
        text[1]
    );
    assert!(
        text[1].contains("\"response_sha256\":\"sha256:"),
        "{}",
        text[1]
    );
    // Salted: the digest is not the plain SHA-256 of the body.
    let plain =
        llm_audit_trail::core::hash::hex_encode(&llm_audit_trail::core::hash::sha256(b"hello"));
    assert!(!text[0].contains(&plain));
    assert!(
        text[1].contains("\"event_type\":\"InferenceResponse\"")
            && text[1].contains("\"status\":200")
    );
    assert!(text[3].contains("\"status\":500") && text[3].contains(&generated));
    assert!(
        !text.iter().any(|t| t.contains("hello")),
        "bodies are never recorded"
    );
    assert_eq!(layer.dropped(), 0);
    log.close();
}
