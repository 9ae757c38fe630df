//! `tlog serve` on a real socket: concurrent writers, proofs against the served checkpoint,
//! tiles that rebuild the root, and a table of bad requests that never take it down.

#![cfg(feature = "server")]

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use llm_audit_trail::core::bundle::ProofBundle;
use llm_audit_trail::core::checkpoint::open_checkpoint;
use llm_audit_trail::core::hash::Hash;
use llm_audit_trail::core::note::Ed25519Signer;
use llm_audit_trail::core::proof::verify_inclusion;
use llm_audit_trail::log::{Log, LogConfig};
use llm_audit_trail::server::auth::{RateLimiter, Tokens};
use llm_audit_trail::server::{metrics::HttpMetrics, AppState};
use llm_audit_trail::storage::rocks::RocksStore;
use serde_json::{json, Value};

const TOKEN: &str = "tlog_test-token-for-the-server-tests";

struct TestServer {
    url: String,
    signer: Ed25519Signer,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    log: Log,
    _dir: tempfile::TempDir,
}

impl TestServer {
    fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let signer = Ed25519Signer::from_seed("127.0.0.1/test", &[9u8; 32]).unwrap();
        let store = Arc::new(RocksStore::open(dir.path()).unwrap());
        let log = Log::open(
            store,
            signer.clone(),
            LogConfig {
                checkpoint_interval: Duration::from_millis(20),
                max_batch_events: 4096,
            },
        )
        .unwrap();
        let mut tokens = Tokens::default();
        tokens.insert(
            "trainer".into(),
            llm_audit_trail::server::auth::token_hash(TOKEN),
        );
        let state = Arc::new(AppState {
            log: log.clone(),
            tokens,
            rate: RateLimiter::new(1e9, 1e9),
            http: HttpMetrics::default(),
            vkey: signer.to_vkey(),
            erasures: Default::default(),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                llm_audit_trail::server::run(listener, state, async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        TestServer {
            url: format!("http://{addr}"),
            signer,
            shutdown: Some(tx),
            thread: Some(thread),
            log,
            _dir: dir,
        }
    }

    fn client() -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    fn post(&self, body: &str, token: Option<&str>) -> (u16, Value) {
        let mut r = Self::client()
            .post(format!("{}/v1/events", self.url))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let resp = Self::client()
            .get(format!("{}{path}", self.url))
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.bytes().unwrap().to_vec())
    }

    /// The status of a GET sent byte for byte, with no client-side path normalisation.
    fn raw_status(&self, path: &str) -> u16 {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn get_json(&self, path: &str) -> (u16, Value) {
        let (s, b) = self.get(path);
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.log.close();
    }
}

fn b64_hashes(v: &Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_slice(&STANDARD.decode(h.as_str().unwrap()).unwrap()).unwrap())
        .collect()
}

#[test]
fn concurrent_clients_get_dense_indexes_and_every_proof_verifies() {
    let srv = Arc::new(TestServer::start());
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let srv = srv.clone();
            std::thread::spawn(move || {
                let mut idx = Vec::new();
                for r in 0..20 {
                    let events: Vec<Value> = (0..5)
                        .map(|k| json!({"event_type": "EpochEnd", "model_id": format!("m{w}"), "details": {"w": w, "r": r, "k": k}}))
                        .collect();
                    let (s, v) = srv.post(&Value::Array(events).to_string(), Some(TOKEN));
                    assert_eq!(s, 201, "{v}");
                    for res in v["results"].as_array().unwrap() {
                        idx.push(res["index"].as_u64().unwrap());
                    }
                }
                idx
            })
        })
        .collect();
    let mut all: Vec<u64> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    all.sort();
    assert_eq!(all, (0..800).collect::<Vec<_>>());

    // Wait for a checkpoint covering everything, then check every proof against /checkpoint.
    let (s, v) = srv.post(r#"{"event_type":"Marker"}"#, Some(TOKEN));
    assert_eq!(s, 201);
    let (s, v2) = srv.post(
        &format!(
            r#"{{"event_type":"Marker","event_id":"{}"}}"#,
            v["event_id"].as_str().unwrap()
        ),
        Some(TOKEN),
    );
    assert_eq!(s, 201, "idempotent retry: {v2}");
    assert_eq!(v2["index"], v["index"]);
    assert_eq!(v2["existing"], json!(true));
    let mut note = Vec::new();
    for _ in 0..100 {
        let (s, n) = srv.get("/checkpoint");
        assert_eq!(s, 200);
        note = n;
        let cp = open_checkpoint(&note, &srv.signer.verifier())
            .unwrap()
            .checkpoint;
        if cp.tree_size == 801 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let cp = open_checkpoint(&note, &srv.signer.verifier())
        .unwrap()
        .checkpoint;
    assert_eq!(cp.tree_size, 801);
    for i in (0..801).step_by(37) {
        let (s, p) = srv.get_json(&format!("/v1/proof/inclusion?index={i}"));
        assert_eq!(s, 200, "{p}");
        let leaf = Hash::from_hex(p["leaf_hash"].as_str().unwrap()).unwrap();
        verify_inclusion(
            i,
            801,
            &leaf,
            &b64_hashes(&p["inclusion_proof"]),
            &cp.root_hash,
        )
        .unwrap();
        let (s, b) = srv.get(&format!("/v1/bundle/{i}"));
        assert_eq!(s, 200);
        let bundle = ProofBundle::parse(&b).unwrap();
        bundle.verify(&srv.signer.verifier()).unwrap();
    }
    // By event id and by leaf hash too.
    let (_, e) = srv.get_json("/v1/events/5");
    let id = e["event_id"].as_str().unwrap();
    let (s, p) = srv.get_json(&format!("/v1/proof/inclusion?event_id={id}"));
    assert_eq!((s, p["leaf_index"].as_u64()), (200, Some(5)));
    let (s, p) = srv.get_json(&format!(
        "/v1/proof/inclusion?leaf_hash={}",
        e["leaf_hash"].as_str().unwrap()
    ));
    assert_eq!((s, p["leaf_index"].as_u64()), (200, Some(5)));
    // Consistency between two sizes.
    let (s, c) = srv.get_json("/v1/proof/consistency?from=100");
    assert_eq!(s, 200, "{c}");
    // Listing by model, paged.
    let (s, l) = srv.get_json("/v1/events?model_id=m3&limit=50");
    assert_eq!(s, 200);
    assert_eq!(l["events"].as_array().unwrap().len(), 50);
    let (_, l2) = srv.get_json(&format!(
        "/v1/events?model_id=m3&limit=100&after={}",
        l["next_after"]
    ));
    assert_eq!(l2["events"].as_array().unwrap().len(), 50);
    // Metrics and health.
    let (s, m) = srv.get("/metrics");
    assert_eq!(s, 200);
    let m = String::from_utf8(m).unwrap();
    assert!(m.contains("tlog_tree_size 801"), "{m}");
    assert!(m.contains("tlog_http_responses_total{code=\"201\"}"));
}

#[test]
fn wait_for_checkpoint_returns_a_verifiable_proof() {
    let srv = TestServer::start();
    let (s, v) = srv.post(
        r#"{"event_type":"Deployment","deployment_id":"prod-1"}"#,
        Some(TOKEN),
    );
    assert_eq!(s, 201);
    let resp = TestServer::client()
        .post(format!("{}/v1/events?wait=checkpoint", srv.url))
        .bearer_auth(TOKEN)
        .body(r#"{"event_type":"Evaluation","details":{"acc":0.9}}"#)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let v2: Value = serde_json::from_str(&resp.text().unwrap()).unwrap();
    let cp = open_checkpoint(
        v2["checkpoint"].as_str().unwrap().as_bytes(),
        &srv.signer.verifier(),
    )
    .unwrap()
    .checkpoint;
    assert!(cp.tree_size >= 2);
    let leaf = Hash::from_hex(v2["leaf_hash"].as_str().unwrap()).unwrap();
    verify_inclusion(
        v2["index"].as_u64().unwrap(),
        cp.tree_size,
        &leaf,
        &b64_hashes(&v2["inclusion_proof"]),
        &cp.root_hash,
    )
    .unwrap();
    assert_eq!(v["index"], json!(0));
}

#[test]
fn bad_requests_get_their_status_and_change_nothing() {
    let srv = TestServer::start();
    let (s, _) = srv.post(r#"{"event_type":"Seed"}"#, Some(TOKEN));
    assert_eq!(s, 201);
    let huge = format!(
        r#"{{"event_type":"A","details":"{}"}}"#,
        "x".repeat(5 << 20)
    );
    let many = Value::Array((0..1001).map(|_| json!({"event_type": "A"})).collect()).to_string();
    let deep = format!(
        r#"{{"event_type":"A","details":{}{}}}"#,
        "[".repeat(500),
        "]".repeat(500)
    );
    let posts: Vec<(&str, String, Option<&str>, u16)> = vec![
        ("no token", r#"{"event_type":"A"}"#.into(), None, 401),
        (
            "unknown token",
            r#"{"event_type":"A"}"#.into(),
            Some("tlog_nope"),
            401,
        ),
        (
            "malformed JSON",
            r#"{"event_type":"A""#.into(),
            Some(TOKEN),
            400,
        ),
        (
            "truncated JSON",
            r#"{"event_type":"#.into(),
            Some(TOKEN),
            400,
        ),
        ("not an object", "42".into(), Some(TOKEN), 400),
        ("empty array", "[]".into(), Some(TOKEN), 400),
        ("wrong type", r#"{"event_type":7}"#.into(), Some(TOKEN), 422),
        (
            "missing type",
            r#"{"model_id":"m"}"#.into(),
            Some(TOKEN),
            422,
        ),
        (
            "unknown field",
            r#"{"event_type":"A","modelid":"m"}"#.into(),
            Some(TOKEN),
            422,
        ),
        (
            "bad event type",
            r#"{"event_type":"a b"}"#.into(),
            Some(TOKEN),
            422,
        ),
        (
            "bad timestamp",
            r#"{"event_type":"A","timestamp":"yesterday"}"#.into(),
            Some(TOKEN),
            422,
        ),
        (
            "NaN",
            r#"{"event_type":"A","details":NaN}"#.into(),
            Some(TOKEN),
            400,
        ),
        (
            "duplicate keys",
            r#"{"event_type":"A","event_type":"B"}"#.into(),
            Some(TOKEN),
            400,
        ),
        (
            "huge integer",
            r#"{"event_type":"A","details":123456789012345678901234567890}"#.into(),
            Some(TOKEN),
            422,
        ),
        ("deeply nested", deep, Some(TOKEN), 400),
        ("body over 4 MiB", huge, Some(TOKEN), 413),
        ("too many events", many, Some(TOKEN), 413),
        (
            "one bad event in an array",
            r#"[{"event_type":"A"},{"event_type":""}]"#.into(),
            Some(TOKEN),
            422,
        ),
    ];
    for (what, body, token, want) in posts {
        if want == 413 && body.len() > 4 << 20 {
            // The server answers 413 from Content-Length alone and closes the connection,
            // so a client still writing the body may see a broken pipe before it reads
            // the answer (tests/hostile.rs reads that 413 over a raw socket).
            let r = TestServer::client()
                .post(format!("{}/v1/events", srv.url))
                .bearer_auth(TOKEN)
                .body(body.clone())
                .send();
            match r {
                Ok(resp) => assert_eq!(resp.status().as_u16(), 413, "{what}"),
                Err(e) => assert!(e.is_request(), "{what}: {e}"),
            }
            continue;
        }
        let (s, v) = srv.post(&body, token);
        assert_eq!(s, want, "{what}: {v}");
        assert!(
            v["error"].is_string() && v["message"].is_string(),
            "{what}: {v}"
        );
    }
    let gets = [
        ("/v1/events/99", 404),
        ("/v1/events/99999999999999999999999", 400),
        ("/v1/events/-1", 404),
        ("/v1/proof/inclusion?index=0&size=99", 400),
        ("/v1/proof/inclusion?index=abc", 400),
        ("/v1/proof/inclusion", 400),
        ("/v1/proof/inclusion?leaf_hash=zz", 400),
        ("/v1/proof/consistency?from=0", 400),
        ("/v1/proof/consistency", 400),
        ("/v1/events?limit=0", 400),
        ("/v1/events?bogus=1", 400),
        // A client that normalises the path asks for /etc/passwd: no such route.
        ("/tile/0/../../etc/passwd", 404),
        ("/tile/0/000.p/0", 400),
        ("/tile/64/000", 400),
        ("/tile/0/x001/000", 404),
        ("/tile/entries/001", 404),
        ("/nope", 404),
    ];
    for (path, want) in gets {
        let (s, body) = srv.get(path);
        assert_eq!(s, want, "{path}: {}", String::from_utf8_lossy(&body));
    }
    // Sent as-is on a raw socket: refused by the strict tile path parser.
    for path in [
        "/tile/0/../../etc/passwd",
        "/tile/entries/../../x",
        "/tile/0/%2e%2e/x",
    ] {
        assert_eq!(srv.raw_status(path), 400, "{path}");
    }
    let (s, v) = srv.get_json("/healthz");
    assert_eq!(s, 200);
    assert_eq!(v["tree_size"], json!(1), "nothing bad was stored");
}

#[test]
fn openapi_and_cors() {
    let srv = TestServer::start();
    let (s, b) = srv.get("/v1/openapi.json");
    assert_eq!(s, 200);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["openapi"], json!("3.1.0"));
    let resp = TestServer::client()
        .get(format!("{}/healthz", srv.url))
        .send()
        .unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
}

#[test]
fn event_pages_stop_at_their_byte_budget_and_the_cursor_reaches_every_event() {
    let srv = TestServer::start();
    // 24 events of ~200 KB each: about 4.8 MB, over one page's 4 MiB budget.
    let big = "x".repeat(200_000);
    for i in 0..24 {
        let (s, _) = srv.post(
            &format!(
                r#"{{"event_type":"Blob","model_id":"m","details":{{"i":{i},"pad":"{big}"}}}}"#
            ),
            Some(TOKEN),
        );
        assert_eq!(s, 201);
    }
    let (s, first) = srv.get_json("/v1/events?model_id=m&limit=100");
    assert_eq!(s, 200);
    let n1 = first["events"].as_array().unwrap().len();
    assert!(
        n1 < 24,
        "a page over the byte budget must stop early ({n1} events)"
    );
    let next = first["next_after"]
        .as_u64()
        .expect("a cursor after a short page");
    let (s, rest) = srv.get_json(&format!("/v1/events?model_id=m&limit=100&after={next}"));
    assert_eq!(s, 200);
    let n2 = rest["events"].as_array().unwrap().len();
    assert_eq!(n1 + n2, 24);
    assert_eq!(rest["next_after"], Value::Null);
    assert_eq!(rest["events"][0]["index"].as_u64().unwrap(), next + 1);
}
