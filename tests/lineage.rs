//! `tlog lineage`, the requirement language and `tlog check`, and `tlog erase`, against
//! logs built by the tests.

#![cfg(feature = "server")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine;
use llm_audit_trail::core::checkpoint::Checkpoint;
use llm_audit_trail::core::entry::EntryHeader;
use llm_audit_trail::core::hash::Hash;
use llm_audit_trail::core::json::{self, JsonValue, ParseOptions};
use llm_audit_trail::core::proof::verify_inclusion;
use llm_audit_trail::datadir::DataDir;
use llm_audit_trail::lineage::{
    evaluate, expired_waivers, parse_requirement, parse_until, Lineage, LineageEvent, Quantifier,
};
use llm_audit_trail::log::LogConfig;

fn tlog(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tlog"))
        .args(args)
        .env("TLOG_DIR", dir)
        .env_remove("AUDIT_LOG_PATH")
        .env_remove("AUDIT_OWNER")
        .stdin(Stdio::null())
        .output()
        .expect("run tlog")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = tlog(dir, args);
    assert!(
        o.status.success(),
        "tlog {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn code(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = tlog(dir, args);
    (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn parse(s: &str) -> JsonValue {
    json::parse(s.trim().as_bytes(), ParseOptions::STRICT).unwrap()
}

/// A log with a dataset, two models, training, evaluations, decisions and a deployment:
///
/// 0 DatasetRegistered d1 · 1 FineTuneStart m1/d1 · 2 Evaluation m1 acc 0.91 ·
/// 3 Evaluation m2 · 4 Evaluation m1 acc 0.75 · 5 Approval m1 · 6 RiskWaiver m1 (2999) ·
/// 7 Deployment m1 · 8 Approval d1 only · 9 DatasetAttestation d1
fn build(tmp: &Path) -> PathBuf {
    let dir = tmp.join("log");
    ok(&dir, &["init", "--origin", "example.com/lineage"]);
    let data = tmp.join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("a.csv"), "h\n1\n2\n").unwrap();
    std::fs::write(data.join("sub/b.txt"), "b").unwrap();
    ok(
        &dir,
        &[
            "dataset",
            "register",
            "--dataset-id",
            "d1",
            "--path",
            data.to_str().unwrap(),
            "--version",
            "1",
            "--source",
            "unit test",
            "--owner",
            "data",
        ],
    );
    let ev = |args: &[&str]| {
        ok(&dir, &[&["append"], args].concat());
    };
    ev(&[
        "--type",
        "FineTuneStart",
        "--model-id",
        "m1",
        "--dataset-id",
        "d1",
        "--details",
        r#"{"lr":1e-05}"#,
    ]);
    ev(&[
        "--type",
        "Evaluation",
        "--model-id",
        "m1",
        "--details",
        r#"{"accuracy":0.91,"split":"test"}"#,
    ]);
    ev(&[
        "--type",
        "Evaluation",
        "--model-id",
        "m2",
        "--details",
        r#"{"accuracy":0.99}"#,
    ]);
    ev(&[
        "--type",
        "Evaluation",
        "--model-id",
        "m1",
        "--details",
        r#"{"accuracy":0.75,"split":"robust"}"#,
    ]);
    ok(
        &dir,
        &[
            "approve",
            "--model-id",
            "m1",
            "--owner",
            "MRC",
            "--rationale",
            "meets the bar",
            "--constraints",
            r#"{"region":"eu"}"#,
        ],
    );
    ok(
        &dir,
        &[
            "waive",
            "--model-id",
            "m1",
            "--owner",
            "CISO",
            "--rationale",
            "beta only",
            "--waived-control",
            "pen-test",
            "--until",
            "2999-01-01",
        ],
    );
    ev(&[
        "--type",
        "Deployment",
        "--model-id",
        "m1",
        "--deployment-id",
        "prod",
    ]);
    ok(
        &dir,
        &[
            "approve",
            "--dataset-id",
            "d1",
            "--owner",
            "DPO",
            "--rationale",
            "dataset approved",
        ],
    );
    ev(&[
        "--type",
        "DatasetAttestation",
        "--dataset-id",
        "d1",
        "--actor",
        "DPO",
        "--details",
        r#"{"statement":"consent ok"}"#,
    ]);
    dir
}

fn b64hash(v: &JsonValue) -> Hash {
    let b = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap();
    Hash::from_slice(&b).unwrap()
}

fn int(v: &JsonValue) -> u64 {
    json::to_json_string(v).parse().unwrap()
}

#[test]
fn lineage_is_complete_ordered_and_every_proof_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path());
    let l = parse(&ok(
        &dir,
        &["lineage", "--model-id", "m1", "--format", "json"],
    ));
    let cp = l.get("checkpoint").unwrap();
    let size = int(cp.get("tree_size").unwrap());
    assert_eq!(size, 10);
    let root = Hash::from_hex(cp.get("root_hash").unwrap().as_str().unwrap()).unwrap();
    // The checkpoint is signed by the log key.
    let key = DataDir::new(&dir).load_signer().unwrap().verifier();
    let opened = llm_audit_trail::core::checkpoint::open_checkpoint(
        cp.get("note").unwrap().as_str().unwrap().as_bytes(),
        &key,
    )
    .unwrap();
    assert_eq!(opened.checkpoint.root_hash, root);
    let JsonValue::Array(events) = l.get("events").unwrap() else {
        panic!()
    };
    let indexes: Vec<u64> = events
        .iter()
        .map(|e| int(e.get("index").unwrap()))
        .collect();
    // m2's evaluation (3) is not in it; d1's events (0, 8, 9) are.
    assert_eq!(indexes, [0, 1, 2, 4, 5, 6, 7, 8, 9]);
    let stages: Vec<&str> = events
        .iter()
        .map(|e| e.get("stage").unwrap().as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "data",
            "training",
            "evaluation",
            "evaluation",
            "governance",
            "governance",
            "deployment",
            "governance",
            "data"
        ]
    );
    assert_eq!(
        json::to_json_string(l.get("datasets").unwrap()),
        r#"["d1"]"#
    );
    for e in events {
        let i = int(e.get("index").unwrap());
        let leaf = Hash::from_hex(e.get("leaf_hash").unwrap().as_str().unwrap()).unwrap();
        let JsonValue::Array(p) = e.get("inclusion_proof").unwrap() else {
            panic!()
        };
        let proof: Vec<Hash> = p.iter().map(b64hash).collect();
        verify_inclusion(i, size, &leaf, &proof, &root).unwrap();
        // A flipped proof hash does not verify.
        if let Some(first) = proof.first() {
            let mut bad = proof.clone();
            let mut b = first.0;
            b[0] ^= 1;
            bad[0] = Hash(b);
            assert!(verify_inclusion(i, size, &leaf, &bad, &root).is_err());
        }
    }
    // Text, Markdown and HTML.
    let text = ok(&dir, &["lineage", "--model-id", "m1"]);
    assert!(
        text.contains("lineage of model m1 (9 events; datasets: d1)"),
        "{text}"
    );
    assert!(text.contains("every inclusion proof verified"), "{text}");
    let md = ok(&dir, &["lineage", "--model-id", "m1", "--format", "md"]);
    assert!(md.starts_with("# Lineage of model `m1`"));
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| ")).count(),
        10,
        "{md}"
    );
    let out = tmp.path().join("lineage.html");
    ok(
        &dir,
        &[
            "lineage",
            "--model-id",
            "m1",
            "--format",
            "html",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg") && html.contains("</svg>"));
    assert_eq!(html.matches("<circle").count(), 9);
    // Self-contained: no scripts, no external resources.
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("<link"));
    assert!(html.trim_end().ends_with("</html>"));
    // --json is the same as --format json.
    assert_eq!(
        parse(&ok(&dir, &["--json", "lineage", "--model-id", "m1"])),
        l
    );
    // An unknown model: exit 1.
    assert_eq!(code(&dir, &["lineage", "--model-id", "nope"]).0, 1);
}

#[test]
fn check_is_a_deployment_gate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path());
    let check = |reqs: &[&str]| {
        let mut args = vec!["check", "--model-id", "m1"];
        for r in reqs {
            args.push("--require");
            args.push(r);
        }
        code(&dir, &args)
    };
    let holds = [
        "Approval",
        "Evaluation.details.accuracy >= 0.8",
        "any Evaluation.details.accuracy>0.9",
        "latest Evaluation.details.split == robust",
        "all Evaluation.details.accuracy >= 0.7",
        "Approval.actor == \"MRC\"",
        "Approval.details.constraints.region == eu",
        "RiskWaiver.details.waived_controls.0 == pen-test",
        "DatasetRegistered.details.rows == 2",
        "DatasetAttestation",
        "Deployment.deployment_id",
        "Evaluation.details.accuracy != 0.5",
    ];
    for r in holds {
        let (c, out, err) = check(&[r]);
        assert_eq!(c, 0, "{r}: {out}{err}");
        assert!(out.starts_with("HELD"), "{out}");
    }
    let fails = [
        "latest Evaluation.details.accuracy >= 0.8", // the latest is 0.75
        "all Evaluation.details.accuracy >= 0.8",
        "Evaluation.details.accuracy > 0.95", // m2's 0.99 is not m1's
        "Attestation",                        // none for the model
        "Approval.actor == DPO",              // the dataset's approval is not the model's
        "Evaluation.details.f1",              // no such field
        "Evaluation.details.split > 3",       // a string is not ordered against a number
    ];
    for r in fails {
        let (c, out, err) = check(&[r]);
        assert_eq!(c, 1, "{r}: {out}");
        assert!(out.starts_with("FAILED"), "{out}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    // Mixed: each is reported, the exit code is 1.
    let (c, out, _) = check(&["Approval", "Attestation"]);
    assert_eq!(c, 1);
    assert!(
        out.contains("HELD    Approval") && out.contains("FAILED  Attestation"),
        "{out}"
    );
    // JSON: the deciding event with its leaf hash and proof.
    let o = tlog(
        &dir,
        &[
            "--json",
            "check",
            "--model-id",
            "m1",
            "--require",
            "Approval",
            "--no-expired-waivers",
        ],
    );
    assert!(o.status.success());
    let j = parse(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(j.get("ok"), Some(&JsonValue::Bool(true)));
    let JsonValue::Array(results) = j.get("results").unwrap() else {
        panic!()
    };
    assert_eq!(results.len(), 2);
    let ev = results[0].get("event").unwrap();
    assert_eq!(int(ev.get("index").unwrap()), 5);
    assert!(matches!(ev.get("inclusion_proof"), Some(JsonValue::Array(p)) if !p.is_empty()));
    // Bad requirements are usage errors, before the log is read.
    for bad in [
        "",
        "Evaluation.",
        "Evaluation >= 1",
        "Evaluation.details.x >=",
        "Evaluation.foo == 1",
        "Evaluation.details.x ~ 1",
        "Evaluation.details.x == 'a b'",
    ] {
        let (c, _, err) = check(&[bad]);
        assert_eq!(c, 2, "{bad:?}: {err}");
    }
    assert_eq!(code(&dir, &["check", "--model-id", "m1"]).0, 2);
    // An expired waiver fails --no-expired-waivers.
    ok(
        &dir,
        &[
            "append",
            "--type",
            "RiskWaiver",
            "--model-id",
            "m1",
            "--details",
            r#"{"decision":"waived","time_bound_until":"2020-01-01"}"#,
        ],
    );
    let (c, out, _) = code(&dir, &["check", "--model-id", "m1", "--no-expired-waivers"]);
    assert_eq!(c, 1, "{out}");
    assert!(
        out.contains("expired: time_bound_until 2020-01-01 has passed"),
        "{out}"
    );
}

#[test]
fn erase_keeps_every_proof_and_checkpoint_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path());
    let before = std::fs::read_to_string(dir.join("audit_trail.jsonl")).unwrap();
    assert!(before.lines().nth(2).unwrap().contains("\"accuracy\":0.91"));
    let event_id = parse(&ok(&dir, &["--json", "show", "2"]))
        .get("event_id")
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    // By event id. Over --server without a token: a usage error before any request.
    assert_eq!(
        code(
            &dir,
            &[
                "erase",
                &event_id,
                "--reason",
                "x",
                "--server",
                "http://127.0.0.1:9"
            ]
        )
        .0,
        2
    );
    assert_eq!(code(&dir, &["erase", "2", "--reason", "  "]).0, 2);
    let out = ok(
        &dir,
        &[
            "erase",
            &event_id,
            "--reason",
            "GDPR art. 17 request #42",
            "--owner",
            "DPO",
        ],
    );
    assert!(out.contains("erased the body of event 2"), "{out}");
    assert!(out.contains("Erasure event 10"), "{out}");
    // show: erased, no details, no error.
    let shown = parse(&ok(&dir, &["--json", "show", "2"]));
    assert_eq!(shown.get("details"), Some(&JsonValue::Null));
    assert_eq!(shown.get("actor"), Some(&JsonValue::Null));
    assert_eq!(
        json::to_json_string(shown.get("erased").unwrap()),
        r#"{"erased_by":10,"reason":"GDPR art. 17 request #42"}"#
    );
    // The Erasure event names what and why.
    let er = parse(&ok(&dir, &["--json", "show", "10"]));
    assert_eq!(er.get("event_type").unwrap().as_str(), Some("Erasure"));
    assert_eq!(er.get("actor").unwrap().as_str(), Some("DPO"));
    assert_eq!(er.get("model_id").unwrap().as_str(), Some("m1"));
    assert_eq!(
        json::to_json_string(er.get("details").unwrap()),
        format!(
            r#"{{"reason":"GDPR art. 17 request #42","erased_index":2,"erased_event_id":"{event_id}","erased_event_type":"Evaluation"}}"#
        )
    );
    // The mirror was rebuilt: the body is gone, the erasure is said, the chain checks.
    let mirror = std::fs::read_to_string(dir.join("audit_trail.jsonl")).unwrap();
    assert_eq!(mirror.lines().count(), 11);
    let line2 = mirror.lines().nth(2).unwrap();
    assert!(
        !line2.contains("0.91") && !line2.contains("\"salt\""),
        "{line2}"
    );
    assert!(line2.contains("\"erased\":{\"erased_by\":10"), "{line2}");
    ok(&dir, &["fsck"]);
    // The bundle of the erased event verifies and says it was erased.
    let bundle = tmp.path().join("b.json");
    ok(&dir, &["prove", "2", "-o", bundle.to_str().unwrap()]);
    let v = ok(
        &dir,
        &[
            "verify",
            bundle.to_str().unwrap(),
            "--key-file",
            dir.join("log.vkey").to_str().unwrap(),
        ],
    );
    assert!(
        v.contains("body: erased by event 10 (GDPR art. 17 request #42)"),
        "{v}"
    );
    // Lineage still builds; the erased evaluation can no longer prove a metric.
    let text = ok(&dir, &["lineage", "--model-id", "m1"]);
    assert!(
        text.contains("[erased by event 10: GDPR art. 17 request #42]"),
        "{text}"
    );
    let (c, out, _) = code(
        &dir,
        &[
            "check",
            "--model-id",
            "m1",
            "--require",
            "Evaluation.details.accuracy >= 0.9",
        ],
    );
    assert_eq!(c, 1);
    assert!(out.contains("its body was erased by event 10"), "{out}");
    // Erasing again is a no-op; an Erasure cannot be erased.
    let again = ok(&dir, &["erase", "2", "--reason", "other"]);
    assert!(again.contains("already erased by event 10"), "{again}");
    assert_eq!(code(&dir, &["erase", "10", "--reason", "x"]).0, 2);
    assert_eq!(code(&dir, &["erase", "99", "--reason", "x"]).0, 1);

    // Full verification in-process: fsck and the erased event's proof against a checkpoint.
    let d = DataDir::new(&dir);
    let key = d.load_signer().unwrap().verifier();
    let log = d.open_log(LogConfig::default()).unwrap();
    let report = llm_audit_trail::log::fsck::fsck(&log, &key).unwrap();
    assert_eq!((report.tree_size, report.erased), (11, 1));
    let cp = log.checkpoint_now_blocking().unwrap();
    let ev = log.event(2).unwrap().unwrap();
    let proof = log.inclusion_proof(2, cp.checkpoint.tree_size).unwrap();
    verify_inclusion(
        2,
        cp.checkpoint.tree_size,
        &ev.leaf_hash(),
        &proof,
        &cp.checkpoint.root_hash,
    )
    .unwrap();
    let b = llm_audit_trail::log::make_bundle(&ev, proof, cp.note.clone());
    let vb = b.verify(&key).unwrap();
    assert!(vb.body.is_none() && vb.erased.is_some());
    log.close();
}

// ---- the requirement language, pure ----

fn header(index: u64, event_type: &str, model: Option<&str>, dataset: Option<&str>) -> EntryHeader {
    EntryHeader {
        event_id: format!("e{index}"),
        timestamp: format!("2026-01-02T09:15:{:02}.000000Z", index),
        event_type: event_type.into(),
        system: None,
        model_id: model.map(Into::into),
        dataset_id: dataset.map(Into::into),
        deployment_id: None,
        submitter: None,
        body_digest: [0; 32],
    }
}

fn lineage_of(events: Vec<(EntryHeader, Option<&str>)>) -> Lineage {
    let events = events
        .into_iter()
        .enumerate()
        .map(|(i, (h, details))| LineageEvent {
            index: i as u64,
            header: h,
            actor: Some("alice".into()),
            details: details.map(|d| json::parse(d.as_bytes(), ParseOptions::STRICT).unwrap()),
            erased: None,
            leaf_hash: Hash([0; 32]),
            inclusion_proof: Vec::new(),
        })
        .collect();
    Lineage::new(
        "m".into(),
        vec!["d".into()],
        Checkpoint {
            origin: "o".into(),
            tree_size: 10,
            root_hash: Hash([0; 32]),
            extensions: Vec::new(),
        },
        Vec::new(),
        events,
    )
}

#[test]
fn requirement_parsing_and_evaluation() {
    let r = parse_requirement("  latest Evaluation.details.metrics.0 <= -1.5e-3 ").unwrap();
    assert_eq!(r.quantifier, Quantifier::Latest);
    assert_eq!(r.event_type, "Evaluation");
    assert_eq!(r.path, ["details", "metrics", "0"]);
    let long = format!("Approval.details.{}", "x".repeat(600));
    for bad in [
        "",
        ".details",
        "A.details..x",
        "A.details.x <> 1",
        "A == 1",
        "A.details.x == \"open",
        long.as_str(),
    ] {
        assert!(parse_requirement(bad).is_err(), "{bad:?}");
    }
    let l = lineage_of(vec![
        (
            header(0, "Evaluation", Some("m"), None),
            Some(r#"{"acc":0.9,"n":10,"when":"2026-01-01","ok":true}"#),
        ),
        (
            header(1, "Evaluation", Some("m"), None),
            Some(r#"{"acc":0.7,"n":12}"#),
        ),
        (
            header(2, "Evaluation", Some("other"), None),
            Some(r#"{"acc":1.0}"#),
        ),
        (
            header(3, "DatasetRegistered", None, Some("d")),
            Some(r#"{"rows":5}"#),
        ),
        (
            header(4, "RiskWaiver", Some("m"), None),
            Some(r#"{"time_bound_until":"2026-03-01"}"#),
        ),
        (
            header(5, "RiskWaiver", Some("m"), None),
            Some(r#"{"time_bound_until":null}"#),
        ),
    ]);
    let eval = |s: &str| evaluate(&parse_requirement(s).unwrap(), &l);
    let cases = [
        ("Evaluation.details.acc >= 0.9", true, Some(0)),
        ("latest Evaluation.details.acc >= 0.9", false, Some(1)),
        ("all Evaluation.details.n >= 10", true, Some(1)),
        ("all Evaluation.details.n > 10", false, Some(0)),
        ("Evaluation.details.n == 12", true, Some(1)),
        ("Evaluation.details.n == 12.0", true, Some(1)),
        ("Evaluation.details.when >= \"2025-12-31\"", true, Some(0)),
        ("Evaluation.details.ok == true", true, Some(0)),
        ("Evaluation.details.ok > true", false, Some(1)),
        ("Evaluation.details.acc >= 1.0", false, Some(1)),
        ("DatasetRegistered.details.rows == 5", true, Some(3)),
        ("Evaluation.actor == alice", true, Some(1)),
        ("Deployment", false, None),
    ];
    for (s, held, event) in cases {
        let o = eval(s);
        assert_eq!((o.held, o.event), (held, event), "{s}: {}", o.reason);
    }
    // Waivers: "2026-03-01" lasts through that day (UTC).
    let day_end = parse_until("2026-03-01").unwrap();
    assert_eq!(parse_until("2026-03-02T00:00:00Z").unwrap(), day_end);
    assert_eq!(parse_until("2026-03-02T01:30:00+01:30").unwrap(), day_end);
    assert_eq!(
        parse_until("2026-03-01T23:59:59.999999Z").unwrap(),
        day_end - 1
    );
    for bad in [
        "2026-02-30",
        "2026-03-01T10:00:00",
        "tomorrow",
        "2026-03-01T25:00:00Z",
    ] {
        assert!(parse_until(bad).is_err(), "{bad}");
    }
    let w = expired_waivers(&l, day_end - 1);
    assert_eq!(w.iter().map(|o| o.held).collect::<Vec<_>>(), [true, true]);
    let w = expired_waivers(&l, day_end);
    assert_eq!(w.iter().map(|o| o.held).collect::<Vec<_>>(), [false, true]);
}
