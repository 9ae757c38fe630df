//! The `tlog` binary, run for real on temporary data folders.

#![cfg(feature = "server")]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn tlog(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tlog"))
        .args(args)
        .env("TLOG_DIR", dir)
        .env_remove("AUDIT_LOG_PATH")
        .stdin(Stdio::null())
        .output()
        .expect("run tlog")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = tlog(dir, args);
    assert!(
        o.status.success(),
        "tlog {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Runs a failing command and returns (exit code, the one stderr line).
fn fails(dir: &Path, args: &[&str]) -> (i32, String) {
    let o = tlog(dir, args);
    assert!(!o.status.success(), "tlog {args:?} should fail");
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one error line, got {err:?}"
    );
    assert!(
        err.starts_with("tlog: ") || err.starts_with("error:"),
        "{err}"
    );
    (o.status.code().unwrap(), err)
}

fn init(dir: &Path) -> String {
    let out = ok(dir, &["init", "--origin", "example.com/mlog"]);
    let vkey = out
        .lines()
        .find_map(|l| l.strip_prefix("verifier key: "))
        .unwrap()
        .to_string();
    assert!(vkey.starts_with("example.com/mlog+"));
    vkey
}

#[test]
fn init_makes_a_private_key_never_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let key = std::fs::read_to_string(dir.join("log.key")).unwrap();
    assert!(key.starts_with("PRIVATE+KEY+example.com/mlog+"));
    let mode = std::fs::metadata(dir.join("log.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // A second init refuses and does not overwrite.
    let (code, err) = fails(&dir, &["init", "--origin", "other"]);
    assert_eq!(code, 1);
    assert!(err.contains("already initialised"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("log.key")).unwrap(), key);
    // A world-readable key is refused.
    std::fs::set_permissions(dir.join("log.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, err) = fails(&dir, &["show", "0"]);
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn append_show_list_prove_verify_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let vkey = init(&dir);
    let out = ok(
        &dir,
        &[
            "append",
            "--type",
            "Evaluation",
            "--model-id",
            "demo-imdb-v1",
            "--actor",
            "alice",
            "--details",
            r#"{"accuracy": 0.88, "lr": 1e-05}"#,
            "--json",
        ],
    );
    assert!(out.contains("\"index\":0"), "{out}");
    ok(
        &dir,
        &[
            "append",
            "--type",
            "Approval",
            "--model-id",
            "demo-imdb-v1",
            "--event-id",
            "appr-1",
        ],
    );
    ok(
        &dir,
        &["append", "--type", "Approval", "--model-id", "other-model"],
    );
    // Idempotent by event id.
    let again = ok(
        &dir,
        &[
            "append",
            "--type",
            "Approval",
            "--model-id",
            "demo-imdb-v1",
            "--event-id",
            "appr-1",
        ],
    );
    assert!(again.starts_with("1\tappr-1\t"), "{again}");
    assert!(again.contains("already in the log"));

    let show = ok(&dir, &["show", "appr-1", "--json"]);
    assert!(show.contains("\"event_type\":\"Approval\""), "{show}");
    let show0 = ok(&dir, &["show", "0"]);
    assert!(show0.contains("accuracy"), "{show0}");

    let list = ok(&dir, &["list", "--model-id", "demo-imdb-v1"]);
    assert_eq!(list.lines().count(), 2, "{list}");

    let bundle = dir.join("ev0.json");
    ok(&dir, &["prove", "0", "-o", bundle.to_str().unwrap()]);
    let v = ok(&dir, &["verify", bundle.to_str().unwrap(), "--key", &vkey]);
    assert!(v.starts_with("OK:"), "{v}");
    // With the key file too.
    ok(
        &dir,
        &[
            "verify",
            bundle.to_str().unwrap(),
            "--key-file",
            dir.join("log.vkey").to_str().unwrap(),
        ],
    );

    // A tampered bundle names what failed.
    let text = std::fs::read_to_string(&bundle).unwrap();
    let tampered = text.replace("0.88", "0.99");
    let tb = dir.join("tampered.json");
    std::fs::write(&tb, tampered).unwrap();
    let (code, err) = fails(&dir, &["verify", tb.to_str().unwrap(), "--key", &vkey]);
    assert!(code == 1 || code == 2, "{err}");
    // A wrong key fails.
    let other = tempfile::tempdir().unwrap();
    let other_key = init(&other.path().join("d"));
    let (code, err) = fails(
        &dir,
        &["verify", bundle.to_str().unwrap(), "--key", &other_key],
    );
    assert_eq!(code, 1);
    assert!(err.contains("checkpoint"), "{err}");

    // The mirror verifies, and against the signed checkpoint.
    let mirror = dir.join("audit_trail.jsonl");
    assert_eq!(std::fs::read_to_string(&mirror).unwrap().lines().count(), 3);
    let cp = dir.join("cp.txt");
    std::fs::write(&cp, ok(&dir, &["checkpoint"])).unwrap();
    let vc = ok(
        &dir,
        &[
            "verify-chain",
            mirror.to_str().unwrap(),
            "--checkpoint",
            cp.to_str().unwrap(),
            "--key",
            &vkey,
        ],
    );
    assert!(vc.starts_with("OK:"), "{vc}");
    // Truncating the mirror's tail is caught with the checkpoint.
    let full = std::fs::read_to_string(&mirror).unwrap();
    let cut: String = full.lines().take(2).map(|l| format!("{l}\n")).collect();
    let cut_path = dir.join("cut.jsonl");
    std::fs::write(&cut_path, cut).unwrap();
    ok(&dir, &["verify-chain", cut_path.to_str().unwrap()]);
    let (_, err) = fails(
        &dir,
        &[
            "verify-chain",
            cut_path.to_str().unwrap(),
            "--checkpoint",
            cp.to_str().unwrap(),
            "--key",
            &vkey,
        ],
    );
    assert!(err.contains("truncated"), "{err}");

    // Consistency proof.
    let c = ok(&dir, &["prove", "--consistency", "1"]);
    assert!(c.contains("consistency_proof"), "{c}");
}

#[test]
fn bad_input_gets_one_clear_line_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let (code, err) = fails(
        &dir,
        &["append", "--type", "Evaluation", "--details", "{not json"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("not valid JSON"), "{err}");
    let (code, _) = fails(&dir, &["append", "--type", "bad type!"]);
    assert_eq!(code, 2);
    let big = tmp.path().join("big.json");
    std::fs::write(&big, format!("{{\"x\":\"{}\"}}", "a".repeat(300_000))).unwrap();
    let (code, err) = fails(
        &dir,
        &[
            "append",
            "--type",
            "Evaluation",
            "--details-file",
            big.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "{err}");
    let (code, err) = fails(
        &dir,
        &[
            "append",
            "--type",
            "Evaluation",
            "--details",
            &"[".repeat(100_000),
        ],
    );
    assert_eq!(code, 2, "{err}");
    let (code, err) = fails(&dir, &["show", "5"]);
    assert_eq!(code, 1);
    assert!(err.contains("no event at index 5"), "{err}");
    let (code, _) = fails(&dir, &["show", "no-such-id"]);
    assert_eq!(code, 1);
    let (code, _) = fails(
        &dir,
        &["verify", "/nonexistent.json", "--key", "x+00000000+AA=="],
    );
    assert_eq!(code, 2);
    let (code, _) = fails(&dir, &["frobnicate"]);
    assert_eq!(code, 2);
    // Nothing was appended by any of that.
    let list = ok(&dir, &["list"]);
    assert_eq!(list, "");
    // An uninitialised folder is explained.
    let (_, err) = fails(&tmp.path().join("nowhere"), &["show", "0"]);
    assert!(err.contains("tlog init"), "{err}");
}

#[test]
fn batch_append_and_import_of_a_seed_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tlog"))
        .args(["append", "--batch", "-", "--json"])
        .env("TLOG_DIR", &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let stdin = child.stdin.as_mut().unwrap();
        for i in 0..50 {
            writeln!(
                stdin,
                r#"{{"event_type":"EpochEnd","model_id":"m","details":{{"epoch":{i}}}}}"#
            )
            .unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 50);

    // A batch with one bad line is refused whole.
    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"event_type\":\"A\"}\n{\"event_type\":\"A\",\"nope\":1}\n",
    )
    .unwrap();
    let (code, err) = fails(&dir, &["append", "--batch", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("line 2") && err.contains("nope"), "{err}");

    // Import the mirror of this log into a fresh log: same events, same ids.
    let mirror = dir.join("audit_trail.jsonl");
    let dir2 = tmp.path().join("data2");
    init(&dir2);
    let out = ok(&dir2, &["import", mirror.to_str().unwrap()]);
    assert!(out.contains("imported 50"), "{out}");
    let out = ok(&dir2, &["import", mirror.to_str().unwrap()]);
    assert!(
        out.contains("imported 0") && out.contains("50 were already"),
        "{out}"
    );
    // A chain that does not verify is refused.
    let text = std::fs::read_to_string(&mirror)
        .unwrap()
        .replace("\"epoch\":7", "\"epoch\":8");
    let forged = tmp.path().join("forged.jsonl");
    std::fs::write(&forged, text).unwrap();
    let (_, err) = fails(&dir2, &["import", forged.to_str().unwrap()]);
    assert!(err.contains("hash_mismatch"), "{err}");
}

#[test]
fn mirror_is_reconciled_after_a_torn_write_and_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    for _ in 0..3 {
        ok(&dir, &["append", "--type", "Checkpoint"]);
    }
    let mirror = dir.join("audit_trail.jsonl");
    let full = std::fs::read_to_string(&mirror).unwrap();
    // Simulate a crash mid-line and lost lines: keep one line and half of the next.
    let lines: Vec<&str> = full.lines().collect();
    std::fs::write(&mirror, format!("{}\n{}", lines[0], &lines[1][..20])).unwrap();
    ok(&dir, &["append", "--type", "Checkpoint"]);
    let fixed = std::fs::read_to_string(&mirror).unwrap();
    assert_eq!(fixed.lines().count(), 4);
    assert!(
        fixed.starts_with(&full),
        "the re-written lines are the same bytes"
    );
    ok(&dir, &["verify-chain", mirror.to_str().unwrap()]);
    std::fs::remove_file(&mirror).unwrap();
    let out = ok(&dir, &["mirror", "rebuild"]);
    assert!(out.contains("4 events"), "{out}");
    assert_eq!(std::fs::read_to_string(&mirror).unwrap(), fixed);
    // AUDIT_LOG_PATH moves the mirror, as in the seed.
    let elsewhere = tmp.path().join("elsewhere.jsonl");
    let o = Command::new(env!("CARGO_BIN_EXE_tlog"))
        .args(["mirror", "rebuild"])
        .env("TLOG_DIR", &dir)
        .env("AUDIT_LOG_PATH", &elsewhere)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), fixed);
}

#[test]
fn serve_on_sigterm_answers_in_flight_signs_a_final_checkpoint_and_exits_0() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tlog"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--checkpoint-interval-ms",
            "3600000",
        ])
        .env("TLOG_DIR", &dir)
        .env_remove("AUDIT_LOG_PATH")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split(" on ")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let token = std::fs::read_to_string(dir.join("default.token")).unwrap();
    let http = reqwest::blocking::Client::new();
    for i in 0..3 {
        let r = http
            .post(format!("{url}/v1/events"))
            .bearer_auth(token.trim())
            .body(format!(
                r#"{{"event_type":"Evaluation","details":{{"i":{i}}}}}"#
            ))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
    // The hour-long cadence means no checkpoint covers the events yet; SIGTERM must sign one.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "exit 0 after SIGTERM");
    // A checkpoint at exactly size 3 was stored by the server (prove --size refuses otherwise).
    let bundle = ok(&dir, &["prove", "2", "--size", "3"]);
    assert!(bundle.contains("\"leaf_index\":2"), "{bundle}");
    let mirror = std::fs::read_to_string(dir.join("audit_trail.jsonl")).unwrap();
    assert_eq!(
        mirror.lines().count(),
        3,
        "the mirror caught up before exit"
    );
}

#[test]
fn compact_rewrites_the_tables_and_keeps_every_event() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let batch = dir.join("batch.jsonl");
    let lines: String = (0..600)
        .map(|i| format!("{{\"event_type\":\"EpochEnd\",\"model_id\":\"m\",\"details\":{{\"epoch\":{i}}}}}\n"))
        .collect();
    std::fs::write(&batch, lines).unwrap();
    ok(&dir, &["append", "--batch", batch.to_str().unwrap()]);
    let before = ok(&dir, &["show", "599", "--json"]);

    let out = ok(&dir, &["compact", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true, "{out}");
    assert!(v["bytes_before"].as_u64().unwrap() > 0, "{out}");
    assert!(v["bytes_after"].as_u64().unwrap() > 0, "{out}");
    let text = ok(&dir, &["compact"]);
    assert!(
        text.starts_with("compacted ") && text.contains("MiB after"),
        "{text}"
    );
    // Every event and proof is still there, and the whole log checks.
    assert_eq!(ok(&dir, &["show", "599", "--json"]), before);
    assert!(ok(&dir, &["fsck"]).starts_with("OK: 600 leaves"));

    // Not while another process holds the folder (as `tlog serve` does).
    let held = llm_audit_trail::storage::rocks::RocksStore::open(&dir.join("db")).unwrap();
    let (code, err) = fails(&dir, &["compact"]);
    assert_ne!(code, 0);
    assert!(err.contains("in use by another process"), "{err}");
    drop(held);
    // Nor on a folder that is not a log.
    let (_, err) = fails(&tmp.path().join("nothing"), &["compact"]);
    assert!(err.contains("not an initialised data folder"), "{err}");
}
