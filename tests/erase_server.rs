//! Erasure over HTTP (`POST /v1/events/{id}/erase`, `tlog erase --server`) against a real
//! `tlog serve` process with its mirror: token scopes, every refusal, and that afterwards
//! proofs, bundles, the mirror and the server itself are all still fine.

#![cfg(feature = "server")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use llm_audit_trail::core::checkpoint::{open_checkpoint, Checkpoint};
use llm_audit_trail::core::hash::{hex_encode, Hash};
use llm_audit_trail::core::note::{parse_verifier_key, Ed25519Verifier};
use llm_audit_trail::core::proof::{verify_consistency, verify_inclusion};
use llm_audit_trail::datadir::DataDir;
use llm_audit_trail::log::event::NewEvent;
use llm_audit_trail::log::mirror::{self, MirrorFollower};
use llm_audit_trail::log::LogConfig;
use llm_audit_trail::server::auth::token_hash;
use serde_json::{json, Value};

/// An admin token given to the server through its TOML config (not the tokens file).
const CONFIG_ADMIN: &str = "tlog_config-admin-token-for-the-erase-tests";
/// A write token given through the config.
const CONFIG_WRITER: &str = "tlog_config-writer-token-for-the-erase-tests";

fn tlog_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tlog"));
    c.args(args)
        .env_remove("TLOG_DIR")
        .env_remove("TLOG_URL")
        .env_remove("TLOG_TOKEN")
        .env_remove("AUDIT_LOG_PATH")
        .env_remove("AUDIT_OWNER")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run tlog")
}

fn ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let o = tlog_env(args, env);
    assert!(
        o.status.success(),
        "tlog {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// `tlog serve` on a free port of an initialised folder, with `config`.
    fn start(dir: &Path, config: &Path) -> Server {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_tlog"))
            .args([
                "serve",
                "--dir",
                dir.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--config",
                config.to_str().unwrap(),
                "--checkpoint-interval-ms",
                "20",
            ])
            .env_remove("AUDIT_LOG_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let url = loop {
            let l = lines.next().expect("server output").unwrap();
            if let Some(rest) = l.split_once(" on http://") {
                break format!("http://{}", rest.1.trim_end_matches('/'));
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }

    /// SIGTERM, then the exit code (graceful shutdown: final checkpoint, mirror caught up).
    fn stop(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let code = self.child.wait().ok().and_then(|s| s.code());
        std::mem::forget(self);
        code
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn answer(resp: reqwest::blocking::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn post(url: &str, path: &str, body: &str, token: Option<&str>) -> (u16, Value) {
    let mut r = client()
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    answer(r.send().unwrap())
}

fn get(url: &str, path: &str) -> (u16, Value) {
    answer(client().get(format!("{url}{path}")).send().unwrap())
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_slice(&STANDARD.decode(h.as_str().unwrap()).unwrap()).unwrap())
        .collect()
}

fn checkpoint_of(v: &Value, key: &Ed25519Verifier) -> Checkpoint {
    open_checkpoint(v["checkpoint"].as_str().unwrap().as_bytes(), key)
        .unwrap()
        .checkpoint
}

fn read_token(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap().trim().to_string()
}

/// A folder with a write token and an admin token in its tokens file, and a config file
/// adding one admin and one write token by hash.
fn setup(tmp: &Path) -> (PathBuf, PathBuf, String, String) {
    let dir = tmp.join("srv");
    let d = dir.to_str().unwrap();
    ok(&["init", "--dir", d, "--origin", "example.com/erase"], &[]);
    let wfile = tmp.join("writer.token");
    let afile = tmp.join("admin.token");
    let out = ok(
        &[
            "--json",
            "token",
            "create",
            "--dir",
            d,
            "--name",
            "trainer",
            "-o",
            wfile.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.contains("\"scope\":\"write\""), "{out}");
    let out = ok(
        &[
            "token",
            "create",
            "--dir",
            d,
            "--name",
            "dpo",
            "--admin",
            "-o",
            afile.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.starts_with("admin token \"dpo\""), "{out}");
    let tokens = std::fs::read_to_string(dir.join("tokens")).unwrap();
    let (writer, admin) = (read_token(&wfile), read_token(&afile));
    assert!(!tokens.contains(&writer) && !tokens.contains(&admin));
    let config = tmp.join("tlog.toml");
    std::fs::write(
        &config,
        format!(
            "[[tokens]]\nname = \"ops\"\nsha256 = \"{}\"\nadmin = true\n\n[[tokens]]\nname = \"ci\"\nsha256 = \"{}\"\n",
            hex_encode(&token_hash(CONFIG_ADMIN)),
            hex_encode(&token_hash(CONFIG_WRITER)),
        ),
    )
    .unwrap();
    (dir, config, writer, admin)
}

#[test]
fn admins_erase_over_http_and_everything_still_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, config, writer, admin) = setup(tmp.path());
    let server = Server::start(&dir, &config);
    let url = server.url.clone();
    let vkey_path = dir.join("log.vkey");
    let key = parse_verifier_key(std::fs::read_to_string(&vkey_path).unwrap().trim()).unwrap();

    // Three events from the writer; the last answer carries a checkpoint covering them.
    let events = json!([
        {"event_type": "Evaluation", "model_id": "m1", "actor": "alice",
         "details": {"accuracy": 0.91, "note": "PII-ALICE-1234"}},
        {"event_type": "FineTuneStart", "model_id": "m1", "details": {"api_key": "sk-LEAKED"}},
    ]);
    let (s, v) = post(&url, "/v1/events", &events.to_string(), Some(&writer));
    assert_eq!(s, 201, "{v}");
    let (s, v) = post(
        &url,
        "/v1/events?wait=checkpoint",
        r#"{"event_type":"Approval","model_id":"m1","actor":"MRC"}"#,
        Some(&writer),
    );
    assert_eq!(s, 201, "{v}");
    let old = checkpoint_of(&v, &key);
    assert_eq!(old.tree_size, 3);
    let (_, e0) = get(&url, "/v1/events/0");
    let id0 = e0["event_id"].as_str().unwrap().to_string();
    assert_eq!(e0["details"]["note"], json!("PII-ALICE-1234"));

    // Refusals: each leaves the log as it was.
    let reason = r#"{"reason":"GDPR art. 17 request #42","actor":"DPO"}"#;
    let long_reason = json!({ "reason": "x".repeat(1025) }).to_string();
    let huge = json!({ "reason": "x".repeat(17 << 10) }).to_string();
    let cases: Vec<(&str, &str, String, Option<&str>, u16)> = vec![
        ("no token", "0", reason.into(), None, 401),
        ("unknown token", "0", reason.into(), Some("tlog_nope"), 401),
        ("write token", "0", reason.into(), Some(&writer), 403),
        (
            "config write token",
            "0",
            reason.into(),
            Some(CONFIG_WRITER),
            403,
        ),
        ("unknown index", "99", reason.into(), Some(&admin), 404),
        (
            "unknown event id",
            "no-such-id",
            reason.into(),
            Some(&admin),
            404,
        ),
        (
            "index out of range",
            "99999999999999999999999",
            reason.into(),
            Some(&admin),
            400,
        ),
        (
            "empty reason",
            "0",
            r#"{"reason":"  "}"#.into(),
            Some(&admin),
            422,
        ),
        (
            "control char",
            "0",
            r#"{"reason":"a\u0007b"}"#.into(),
            Some(&admin),
            422,
        ),
        ("reason too long", "0", long_reason, Some(&admin), 422),
        (
            "reason not text",
            "0",
            r#"{"reason":42}"#.into(),
            Some(&admin),
            422,
        ),
        (
            "missing reason",
            "0",
            r#"{"actor":"DPO"}"#.into(),
            Some(&admin),
            422,
        ),
        (
            "unknown field",
            "0",
            r#"{"reason":"r","why":"x"}"#.into(),
            Some(&admin),
            422,
        ),
        (
            "bad actor",
            "0",
            r#"{"reason":"r","actor":7}"#.into(),
            Some(&admin),
            422,
        ),
        (
            "malformed JSON",
            "0",
            r#"{"reason":"#.into(),
            Some(&admin),
            400,
        ),
        (
            "duplicate keys",
            "0",
            r#"{"reason":"a","reason":"b"}"#.into(),
            Some(&admin),
            400,
        ),
        (
            "not an object",
            "0",
            r#"["reason"]"#.into(),
            Some(&admin),
            400,
        ),
        ("body over 16 KiB", "0", huge, Some(&admin), 413),
    ];
    for (what, id, body, token, want) in cases {
        let (s, v) = post(&url, &format!("/v1/events/{id}/erase"), &body, token);
        assert_eq!(s, want, "{what}: {v}");
        assert!(
            v["error"].is_string() && v["message"].is_string(),
            "{what}: {v}"
        );
    }
    let (_, v) = post(&url, "/v1/events/0/erase", reason, Some(&writer));
    assert!(
        v["message"].as_str().unwrap().contains("admin token"),
        "{v}"
    );
    let (_, h) = get(&url, "/healthz");
    assert_eq!(h["tree_size"], json!(3), "no refusal wrote anything");
    let (_, e) = get(&url, "/v1/events/0");
    assert_eq!(e, e0, "no refusal erased anything");

    // The admin (tokens file) erases event 0 by its event id.
    let (s, v) = post(
        &url,
        &format!("/v1/events/{id0}/erase"),
        reason,
        Some(&admin),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["index"], json!(3));
    assert_eq!(v["erased_index"], json!(0));
    assert_eq!(v["erased_event_id"], json!(id0));
    assert_eq!(v["erased_event_type"], json!("Evaluation"));
    assert_eq!(v["reason"], json!("GDPR art. 17 request #42"));
    assert_eq!(v["existing"], json!(false));
    assert_eq!(v["mirror"], json!("rebuilt"));
    let erasure_id = v["event_id"].as_str().unwrap().to_string();
    assert!(erasure_id.starts_with("erasure-"), "{v}");
    let erasure_leaf = v["leaf_hash"].as_str().unwrap().to_string();

    // Again: 409, naming the Erasure event; nothing appended.
    let (s, v) = post(
        &url,
        "/v1/events/0/erase",
        r#"{"reason":"again"}"#,
        Some(&admin),
    );
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["erased_by"], json!(3));
    assert_eq!(v["erased_index"], json!(0));
    assert_eq!(v["reason"], json!("GDPR art. 17 request #42"));
    assert!(v["message"].as_str().unwrap().contains("by event 3"), "{v}");
    // An Erasure record cannot be erased.
    let (s, v) = post(
        &url,
        "/v1/events/3/erase",
        r#"{"reason":"r"}"#,
        Some(&admin),
    );
    assert_eq!(s, 422, "{v}");
    let (_, h) = get(&url, "/healthz");
    assert_eq!(h["tree_size"], json!(4));

    // The event says erased; the Erasure event says what, why, who.
    let (s, e) = get(&url, "/v1/events/0");
    assert_eq!(s, 200);
    assert_eq!(e["details"], Value::Null);
    assert_eq!(e["actor"], Value::Null);
    assert_eq!(
        e["erased"],
        json!({"erased_by": 3, "reason": "GDPR art. 17 request #42"})
    );
    assert_eq!(e["leaf_hash"], e0["leaf_hash"], "the leaf is unchanged");
    let (_, er) = get(&url, &format!("/v1/events/{erasure_id}"));
    assert_eq!(er["index"], json!(3));
    assert_eq!(er["event_type"], json!("Erasure"));
    assert_eq!(er["system"], json!("governance"));
    assert_eq!(er["model_id"], json!("m1"));
    assert_eq!(er["actor"], json!("DPO"));
    assert_eq!(er["submitter"], json!("dpo"));
    assert_eq!(er["leaf_hash"], json!(erasure_leaf));
    assert_eq!(
        er["details"],
        json!({"erased_index": 0, "erased_event_id": id0, "erased_event_type": "Evaluation",
               "reason": "GDPR art. 17 request #42"})
    );

    // The bundle says erased and verifies offline with `tlog verify`.
    let resp = client().get(format!("{url}/v1/bundle/0")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let bundle_bytes = resp.bytes().unwrap();
    let bundle_text = String::from_utf8_lossy(&bundle_bytes);
    assert!(!bundle_text.contains("PII-ALICE"), "{bundle_text}");
    let bundle = tmp.path().join("b0.json");
    std::fs::write(&bundle, &bundle_bytes).unwrap();
    let out = ok(
        &[
            "verify",
            bundle.to_str().unwrap(),
            "--key-file",
            vkey_path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.contains("body: erased by event 3 (GDPR art. 17 request #42)"),
        "{out}"
    );

    // Inclusion of the erased leaf in the old and the new tree; consistency old -> new.
    let (s, p) = get(&url, "/v1/proof/inclusion?index=0&size=3");
    assert_eq!(s, 200, "{p}");
    let leaf = Hash::from_hex(e0["leaf_hash"].as_str().unwrap()).unwrap();
    verify_inclusion(0, 3, &leaf, &hashes(&p["inclusion_proof"]), &old.root_hash).unwrap();
    let (s, p) = get(&url, "/v1/proof/inclusion?index=0");
    assert_eq!(s, 200, "{p}");
    let new = checkpoint_of(&p, &key);
    assert!(new.tree_size >= 4, "the erasure's checkpoint was signed");
    verify_inclusion(
        0,
        new.tree_size,
        &leaf,
        &hashes(&p["inclusion_proof"]),
        &new.root_hash,
    )
    .unwrap();
    let (s, c) = get(
        &url,
        &format!("/v1/proof/consistency?from=3&to={}", new.tree_size),
    );
    assert_eq!(s, 200, "{c}");
    verify_consistency(
        3,
        new.tree_size,
        &old.root_hash,
        &new.root_hash,
        &hashes(&c["consistency_proof"]),
    )
    .unwrap();

    // The mirror was rebuilt before the answer: the body is gone, the erasure is said.
    let mirror_path = dir.join("audit_trail.jsonl");
    let m = std::fs::read_to_string(&mirror_path).unwrap();
    let line0 = m.lines().next().unwrap();
    assert!(
        !m.contains("PII-ALICE") && !line0.contains("\"salt\""),
        "{line0}"
    );
    assert!(line0.contains("\"erased\":{\"erased_by\":3"), "{line0}");
    assert!(m.contains("sk-LEAKED"), "event 1 is not erased yet");
    assert!(!mirror::stale_marker_path(&mirror_path).exists());

    // `tlog erase --server`: a write token is refused (403, exit 2), no token is a usage
    // error, the config's admin token erases, and a second run says it was already done.
    let erase1 = [
        "--json",
        "erase",
        "1",
        "--reason",
        "leaked secret",
        "--server",
        &url,
        "--yes",
    ];
    let o = tlog_env(&erase1, &[("TLOG_TOKEN", &writer)]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("403") && err.contains("admin token"), "{err}");
    let o = tlog_env(&erase1, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("TLOG_TOKEN"));
    let o = tlog_env(
        &["erase", "1", "--reason", "\u{7}", "--server", &url],
        &[("TLOG_TOKEN", CONFIG_ADMIN)],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "a bad reason is refused before sending"
    );
    let (_, h) = get(&url, "/healthz");
    assert_eq!(h["tree_size"], json!(4));
    let out = ok(
        &erase1,
        &[("TLOG_TOKEN", CONFIG_ADMIN), ("AUDIT_OWNER", "Security")],
    );
    let r: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(r["index"], json!(1));
    assert_eq!(r["erased_by"], json!(4));
    assert_eq!(r["already_erased"], json!(false));
    assert_eq!(r["mirror"], json!("rebuilt"));
    assert_eq!(r["reason"], json!("leaked secret"));
    let (_, er) = get(&url, "/v1/events/4");
    assert_eq!(er["submitter"], json!("ops"));
    assert_eq!(er["actor"], json!("Security"));
    let out = ok(
        &["erase", "1", "--reason", "leaked secret", "--server", &url],
        &[("TLOG_TOKEN", &admin)],
    );
    assert!(
        out.contains("already erased by event 4 (leaked secret)"),
        "{out}"
    );
    let m = std::fs::read_to_string(&mirror_path).unwrap();
    assert!(!m.contains("sk-LEAKED"), "{m}");

    // The endpoint is described in the served OpenAPI document.
    let (s, o) = get(&url, "/v1/openapi.json");
    assert_eq!(s, 200);
    let op = &o["paths"]["/v1/events/{id}/erase"]["post"];
    assert!(op["responses"]["403"].is_object() && op["responses"]["409"].is_object());

    // The server keeps accepting events, and proving them.
    let (s, v) = post(
        &url,
        "/v1/events?wait=checkpoint",
        r#"{"event_type":"Deployment","model_id":"m1","deployment_id":"prod"}"#,
        Some(&writer),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["index"], json!(5));
    let cp = checkpoint_of(&v, &key);
    verify_inclusion(
        5,
        cp.tree_size,
        &Hash::from_hex(v["leaf_hash"].as_str().unwrap()).unwrap(),
        &hashes(&v["inclusion_proof"]),
        &cp.root_hash,
    )
    .unwrap();

    // A clean stop; then the folder, its checkpoints and its mirror all check.
    assert_eq!(server.stop(), Some(0));
    let out = ok(&["fsck", "--dir", dir.to_str().unwrap()], &[]);
    assert!(
        out.contains("6 leaves") && out.contains("2 erased"),
        "{out}"
    );
    let m = std::fs::read_to_string(&mirror_path).unwrap();
    assert_eq!(m.lines().count(), 6);
}

/// A crash after a body was erased but before the mirror's rebuild: the stale marker makes
/// the next start rebuild it, so the erased body does not survive in the mirror.
#[test]
fn a_mirror_marked_stale_is_rebuilt_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let d = DataDir::new(tmp.path().join("log"));
    d.init("example.com/stale").unwrap();
    let mirror_path = d.mirror_path();
    let log = d.open_log(LogConfig::default()).unwrap();
    let mut ev = NewEvent::new("Evaluation");
    ev.details =
        llm_audit_trail::log::view::obj(vec![("secret", llm_audit_trail::log::view::s("PII-BOB"))]);
    let events = vec![ev, NewEvent::new("Marker")];
    log.append_blocking(events).unwrap();
    mirror::sync_after(&log, &d).unwrap();
    assert!(std::fs::read_to_string(&mirror_path)
        .unwrap()
        .contains("PII-BOB"));
    // Steps 1-3 of an erasure, then "crash" before the rebuild.
    let target = log.event(0).unwrap().unwrap();
    let done = llm_audit_trail::erasure::erase_blocking(
        &log,
        &target,
        "test",
        None,
        Some("dpo".into()),
        Some(&mirror_path),
    )
    .unwrap();
    assert_eq!(done.erasure.index, 2);
    assert!(mirror::stale_marker_path(&mirror_path).exists());
    assert!(std::fs::read_to_string(&mirror_path)
        .unwrap()
        .contains("PII-BOB"));
    // The server's start-up.
    let follower = MirrorFollower::start(log.clone(), mirror_path.clone()).unwrap();
    let m = std::fs::read_to_string(&mirror_path).unwrap();
    assert!(!m.contains("PII-BOB"), "{m}");
    assert_eq!(m.lines().count(), 3);
    assert!(!mirror::stale_marker_path(&mirror_path).exists());
    // A rebuild requested from the running follower also clears a newer marker.
    mirror::mark_stale(&mirror_path, "later").unwrap();
    follower.rebuilder().request().blocking_recv().unwrap();
    assert!(!mirror::stale_marker_path(&mirror_path).exists());
    log.close();
    follower.stop().unwrap();
    drop(log);
    // The CLI path: a marked mirror is rebuilt by the next write's sync.
    let log = d.open_log(LogConfig::default()).unwrap();
    mirror::mark_stale(&mirror_path, "cli").unwrap();
    mirror::sync_after(&log, &d).unwrap();
    assert!(!mirror::stale_marker_path(&mirror_path).exists());
    log.close();
}
