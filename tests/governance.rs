//! `tlog approve | waive | attest`: flags, environment, and interactive sessions driven
//! through a real pseudo-terminal (answers, bad answers asked again, Ctrl-C, end of input).

#![cfg(feature = "server")]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llm_audit_trail::core::json::{self, JsonValue, ParseOptions};

fn tlog_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tlog"));
    c.args(args)
        .env("TLOG_DIR", dir)
        .env_remove("AUDIT_LOG_PATH")
        .env_remove("AUDIT_OWNER")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run tlog")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = tlog_env(dir, args, &[]);
    assert!(
        o.status.success(),
        "tlog {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn parse(s: &str) -> JsonValue {
    json::parse(s.trim().as_bytes(), ParseOptions::STRICT).unwrap()
}

fn init(tmp: &Path) -> std::path::PathBuf {
    let dir = tmp.join("log");
    ok(&dir, &["init", "--origin", "example.com/gov"]);
    dir
}

fn count(dir: &Path) -> usize {
    ok(dir, &["list"]).lines().count()
}

fn last_event(dir: &Path) -> JsonValue {
    let n = count(dir);
    parse(&ok(dir, &["--json", "show", &(n - 1).to_string()]))
}

fn field<'a>(v: &'a JsonValue, path: &str) -> &'a JsonValue {
    path.split('.').fold(v, |v, k| {
        v.get(k).unwrap_or_else(|| panic!("no {k} in {path}"))
    })
}

#[test]
fn flags_record_the_seed_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init(tmp.path());
    ok(
        &dir,
        &[
            "approve",
            "--owner",
            "MRC",
            "--rationale",
            "passed review",
            "--model-id",
            "m1",
            "--deployment-id",
            "prod",
            "--constraints",
            r#"{"rollout":"10%"}"#,
            "--reference",
            "https://tickets.example.com/1",
            "--reference",
            "https://docs.example.com/a",
        ],
    );
    let e = last_event(&dir);
    assert_eq!(field(&e, "event_type").as_str(), Some("Approval"));
    assert_eq!(field(&e, "system").as_str(), Some("governance"));
    assert_eq!(field(&e, "actor").as_str(), Some("MRC"));
    assert_eq!(field(&e, "model_id").as_str(), Some("m1"));
    assert_eq!(field(&e, "deployment_id").as_str(), Some("prod"));
    assert_eq!(field(&e, "dataset_id"), &JsonValue::Null);
    assert_eq!(field(&e, "details.decision").as_str(), Some("approved"));
    assert_eq!(
        field(&e, "details.rationale").as_str(),
        Some("passed review")
    );
    assert_eq!(field(&e, "details.owner").as_str(), Some("MRC"));
    assert_eq!(
        json::to_json_string(field(&e, "details.constraints")),
        r#"{"rollout":"10%"}"#
    );
    assert_eq!(
        json::to_json_string(field(&e, "details.references")),
        r#"["https://tickets.example.com/1","https://docs.example.com/a"]"#
    );

    ok(
        &dir,
        &[
            "waive",
            "--owner",
            "CISO",
            "--rationale",
            "latency SLO waived for beta",
            "--model-id",
            "m1",
            "--waived-control",
            "SLO:latency_p95",
            "--waived-control",
            "pen-test",
            "--until",
            "2999-12-31",
        ],
    );
    let e = last_event(&dir);
    assert_eq!(field(&e, "event_type").as_str(), Some("RiskWaiver"));
    assert_eq!(field(&e, "details.decision").as_str(), Some("waived"));
    assert_eq!(
        json::to_json_string(field(&e, "details.waived_controls")),
        r#"["SLO:latency_p95","pen-test"]"#
    );
    assert_eq!(
        field(&e, "details.time_bound_until").as_str(),
        Some("2999-12-31")
    );
    assert_eq!(json::to_json_string(field(&e, "details.references")), "[]");

    // AUDIT_OWNER fills the owner when --owner is absent.
    let o = tlog_env(
        &dir,
        &[
            "attest",
            "--statement",
            "no PII in training data",
            "--dataset-id",
            "d1",
        ],
        &[("AUDIT_OWNER", "Compliance")],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e = last_event(&dir);
    assert_eq!(field(&e, "event_type").as_str(), Some("Attestation"));
    assert_eq!(field(&e, "actor").as_str(), Some("Compliance"));
    assert_eq!(field(&e, "details.owner").as_str(), Some("Compliance"));
    assert_eq!(
        field(&e, "details.statement").as_str(),
        Some("no PII in training data")
    );
    assert_eq!(field(&e, "dataset_id").as_str(), Some("d1"));
    // The mirror (AUDIT_LOG_PATH honoured) gets the decision too.
    let mirror = tmp.path().join("elsewhere.jsonl");
    let o = tlog_env(
        &dir,
        &["attest", "--owner", "A", "--statement", "statement two"],
        &[("AUDIT_LOG_PATH", mirror.to_str().unwrap())],
    );
    assert!(o.status.success());
    let m = std::fs::read_to_string(&mirror).unwrap();
    assert_eq!(m.lines().count(), 4);
    assert!(m.lines().last().unwrap().contains("\"statement two\""));
}

#[test]
fn missing_or_bad_fields_without_a_terminal_exit_2_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init(tmp.path());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["approve", "--owner", "A"], "rationale"),
        (vec!["approve", "--rationale", "fine by me"], "owner"),
        (
            vec!["waive", "--owner", "A", "--rationale", "why not"],
            "waived_control",
        ),
        (vec!["attest", "--owner", "A"], "statement"),
        (
            vec!["approve", "--owner", "A", "--rationale", "ok"],
            "at least 3",
        ),
        (
            vec![
                "approve",
                "--owner",
                "A",
                "--rationale",
                "fine",
                "--constraints",
                "{bad",
            ],
            "not valid JSON",
        ),
        (
            vec![
                "approve",
                "--owner",
                "A",
                "--rationale",
                "fine",
                "--constraints",
                "[1]",
            ],
            "JSON object",
        ),
        (
            vec![
                "approve",
                "--owner",
                "A",
                "--rationale",
                "fine",
                "--reference",
                "example.com",
            ],
            "not a URL",
        ),
        (
            vec![
                "waive",
                "--owner",
                "A",
                "--rationale",
                "why",
                "--waived-control",
                "c",
                "--until",
                "2020-01-01",
            ],
            "not in the future",
        ),
        (
            vec![
                "waive",
                "--owner",
                "A",
                "--rationale",
                "why",
                "--waived-control",
                "c",
                "--until",
                "2999-02-30",
            ],
            "not a real date",
        ),
        (
            vec![
                "waive",
                "--owner",
                "A",
                "--rationale",
                "why",
                "--waived-control",
                "c",
                "--until",
                "soon",
            ],
            "not a date",
        ),
    ];
    for (args, needle) in cases {
        let o = tlog_env(&dir, &args, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // A required field left out is never given a default, even with --yes.
    let o = tlog_env(&dir, &["approve", "--owner", "A", "--yes"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(count(&dir), 0, "nothing was written");
}

// ---- pseudo-terminal sessions ----

/// A child process whose stdin, stdout and stderr are a pseudo-terminal it controls.
struct Pty {
    master: File,
    out: Arc<Mutex<Vec<u8>>>,
    seen: usize,
    child: Child,
}

impl Pty {
    fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Pty {
        let (mut m, mut s) = (0, 0);
        // SAFETY: openpty writes two fds into the given locations.
        let rc = unsafe {
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty");
        // SAFETY: both fds were just opened and are owned here.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
        let mut c = Command::new(env!("CARGO_BIN_EXE_tlog"));
        c.args(args)
            .env("TLOG_DIR", dir)
            .env("TERM", "dumb")
            .env_remove("AUDIT_LOG_PATH")
            .env_remove("AUDIT_OWNER")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        for (k, v) in env {
            c.env(k, v);
        }
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            c.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = c.spawn().expect("spawn tlog on a pty");
        let master = File::from(master);
        let mut reader = master.try_clone().unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let o = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                o.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let _ = master.as_raw_fd();
        Pty {
            master,
            out,
            seen: 0,
            child,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Waits until `needle` appears after what earlier calls consumed.
    fn expect(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let all = self.text();
            if let Some(p) = all[self.seen.min(all.len())..].find(needle) {
                self.seen += p + needle.len();
                return;
            }
            assert!(
                Instant::now() < deadline,
                "did not see {needle:?}; output so far:\n{all}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn send(&mut self, s: &str) {
        self.master.write_all(s.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    fn answer(&mut self, prompt: &str, answer: &str) {
        self.expect(prompt);
        self.send(answer);
        self.send("\r");
    }

    fn wait(mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                return (st.code().unwrap_or(-1), self.text());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tlog did not exit; output:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn interactive_approval_offers_recent_models_and_re_asks_bad_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init(tmp.path());
    ok(
        &dir,
        &[
            "append",
            "--type",
            "Evaluation",
            "--model-id",
            "older-model",
        ],
    );
    ok(
        &dir,
        &[
            "append",
            "--type",
            "Evaluation",
            "--model-id",
            "demo-imdb-v1",
            "--dataset-id",
            "imdb",
        ],
    );
    let mut p = Pty::spawn(
        &dir,
        &["approve", "--interactive"],
        &[("AUDIT_OWNER", "Model Risk Committee")],
    );
    p.answer("Owner (person or committee) [Model Risk Committee]: ", ""); // Enter keeps it
    p.answer("Rationale: ", "ok"); // too short
    p.expect("rationale needs at least 3 characters; try again.");
    p.answer("Rationale: ", "");
    p.expect("rationale is required.");
    p.answer("Rationale: ", "Passed fairness and robustness review");
    p.expect("Recent model_ids:");
    p.expect("1. demo-imdb-v1");
    p.expect("2. older-model");
    p.answer(
        "Model ID (a number above or a new value, Enter to skip): ",
        "7",
    );
    p.expect("7 is not one of the numbers 1-2; try again.");
    p.answer(
        "Model ID (a number above or a new value, Enter to skip): ",
        "1",
    );
    p.expect("1. imdb");
    p.answer(
        "Dataset ID (a number above or a new value, Enter to skip): ",
        "",
    );
    p.answer("Deployment ID (Enter to skip): ", "");
    p.answer(
        "Constraints (JSON object, Enter to skip): ",
        "{\"rollout\": ",
    );
    p.expect("constraints is not valid JSON");
    p.answer(
        "Constraints (JSON object, Enter to skip): ",
        "{\"rollout\": \"10%\"}",
    );
    p.answer(
        "References (URLs, comma-separated, Enter to skip): ",
        "jira/123",
    );
    p.expect("is not a URL");
    p.answer(
        "References (URLs, comma-separated, Enter to skip): ",
        "https://jira.example.com/R-1, https://wiki.example.com/x",
    );
    p.expect("About to record Approval:");
    p.expect("model_id: demo-imdb-v1");
    p.answer("Record this? [y/N]: ", "y");
    let (code, out) = p.wait();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("recorded Approval as event 2"), "{out}");
    let e = last_event(&dir);
    assert_eq!(field(&e, "actor").as_str(), Some("Model Risk Committee"));
    assert_eq!(field(&e, "model_id").as_str(), Some("demo-imdb-v1"));
    assert_eq!(field(&e, "dataset_id"), &JsonValue::Null);
    assert_eq!(
        field(&e, "details.rationale").as_str(),
        Some("Passed fairness and robustness review")
    );
    assert_eq!(
        json::to_json_string(field(&e, "details.constraints")),
        r#"{"rollout":"10%"}"#
    );
    assert_eq!(
        json::to_json_string(field(&e, "details.references")),
        r#"["https://jira.example.com/R-1","https://wiki.example.com/x"]"#
    );
}

#[test]
fn interactive_waiver_checks_the_date_as_typed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init(tmp.path());
    // A required field missing on a terminal starts the questions without --interactive.
    let mut p = Pty::spawn(&dir, &["waive", "--owner", "CISO", "--model-id", "m"], &[]);
    p.answer("Rationale: ", "beta launch");
    p.answer("Dataset ID (Enter to skip): ", "");
    p.answer("Deployment ID (Enter to skip): ", "");
    p.answer(
        "Waived controls (comma-separated, e.g. SLO:latency_p95): ",
        "  ",
    );
    p.expect("waived_controls is required.");
    p.answer(
        "Waived controls (comma-separated, e.g. SLO:latency_p95): ",
        "SLO:latency_p95, pen-test",
    );
    let prompt = "Waiver ends on (YYYY-MM-DD, in the future, Enter to skip): ";
    p.answer(prompt, "2020-01-01");
    p.expect("is not in the future; try again.");
    p.answer(prompt, "2999-13-01");
    p.expect("is not a real date");
    p.answer(prompt, "2999-06-30");
    p.answer("References (URLs, comma-separated, Enter to skip): ", "");
    p.answer("Record this? [y/N]: ", "yes");
    let (code, out) = p.wait();
    assert_eq!(code, 0, "{out}");
    let e = last_event(&dir);
    assert_eq!(
        field(&e, "details.time_bound_until").as_str(),
        Some("2999-06-30")
    );
    assert_eq!(
        json::to_json_string(field(&e, "details.waived_controls")),
        r#"["SLO:latency_p95","pen-test"]"#
    );
}

#[test]
fn ctrl_c_eof_and_no_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init(tmp.path());
    // Ctrl-C at the first question.
    let mut p = Pty::spawn(&dir, &["approve"], &[]);
    p.expect("Owner (person or committee): ");
    p.send("\x03");
    let (code, out) = p.wait();
    assert_eq!(code, 130, "{out}");
    assert!(out.contains("interrupted; nothing was recorded"), "{out}");
    // Ctrl-C at the confirmation, after every answer was given.
    let mut p = Pty::spawn(
        &dir,
        &["attest", "--owner", "A", "--statement", "all good"],
        &[],
    );
    p.expect("Record this? [y/N]: ");
    p.send("\x03");
    let (code, out) = p.wait();
    assert_eq!(code, 130, "{out}");
    // End of input (Ctrl-D on an empty line).
    let mut p = Pty::spawn(&dir, &["attest", "--owner", "A"], &[]);
    p.expect("Statement: ");
    p.send("\x04");
    let (code, out) = p.wait();
    assert_eq!(code, 130, "{out}");
    // Declining the summary.
    let mut p = Pty::spawn(
        &dir,
        &["attest", "--owner", "A", "--statement", "all good"],
        &[],
    );
    p.answer("Record this? [y/N]: ", "n");
    let (code, out) = p.wait();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not confirmed; nothing was recorded"), "{out}");
    assert_eq!(count(&dir), 0, "nothing was written");
    // --yes on a terminal records without asking.
    let p = Pty::spawn(
        &dir,
        &["attest", "--owner", "A", "--statement", "all good", "--yes"],
        &[],
    );
    let (code, out) = p.wait();
    assert_eq!(code, 0, "{out}");
    assert_eq!(count(&dir), 1);
}

#[test]
fn decisions_over_a_server() {
    let tmp = tempfile::tempdir().unwrap();
    let sdir = tmp.path().join("srv");
    let (mut server, url) = start_server(&sdir);
    let token = std::fs::read_to_string(sdir.join("default.token")).unwrap();
    let token = token.trim();
    let cdir = tmp.path().join("unused");
    let r = std::panic::catch_unwind(|| {
        let o = tlog_env(
            &cdir,
            &[
                "--json",
                "approve",
                "--server",
                &url,
                "--owner",
                "MRC",
                "--rationale",
                "remote approval",
                "--model-id",
                "m-remote",
            ],
            &[("TLOG_TOKEN", token)],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r = parse(&String::from_utf8_lossy(&o.stdout));
        assert_eq!(json::to_json_string(r.get("index").unwrap()), "0");
        // Without a token: a usage error.
        let o = tlog_env(
            &cdir,
            &[
                "approve",
                "--server",
                &url,
                "--owner",
                "MRC",
                "--rationale",
                "remote approval",
            ],
            &[],
        );
        assert_eq!(o.status.code(), Some(2));
        // The lineage over the server sees it, verified with the server's key file.
        let vkey = sdir.join("log.vkey");
        let out = ok(
            &cdir,
            &[
                "lineage",
                "--server",
                &url,
                "--key-file",
                vkey.to_str().unwrap(),
                "--model-id",
                "m-remote",
            ],
        );
        assert!(out.contains("Approval"), "{out}");
        let o = tlog_env(
            &cdir,
            &[
                "check",
                "--server",
                &url,
                "--key-file",
                vkey.to_str().unwrap(),
                "--model-id",
                "m-remote",
                "--require",
                "Approval.actor == MRC",
            ],
            &[],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    });
    let _ = server.kill();
    let _ = server.wait();
    r.unwrap();
    let _ = url;
}

/// Starts `tlog serve` on a free port; returns the child and its URL.
fn start_server(dir: &Path) -> (Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tlog"))
        .args([
            "serve",
            "--dir",
            dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--origin",
            "example.com/srv",
            "--checkpoint-interval-ms",
            "20",
        ])
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
    (child, url)
}
