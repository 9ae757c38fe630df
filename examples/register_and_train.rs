//! The seed's walkthrough in Rust, against a running `tlog serve` (the README's first
//! command): register a dataset with its real content hash, record a short training run
//! and an approval, then fetch the approval's proof bundle and verify it offline.
//!
//! `cargo run --example register_and_train` (server at `AUDIT_LOG_URL`, default
//! `http://127.0.0.1:8080`; token from `AUDIT_LOG_TOKEN`, `TLOG_TOKEN` or
//! `./tlog-data/default.token`).

use std::time::Duration;

use llm_audit_trail::core::bundle::ProofBundle;
use llm_audit_trail::core::note::parse_verifier_key;
use serde_json::{json, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AUDIT_LOG_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let token = std::env::var("AUDIT_LOG_TOKEN")
        .or_else(|_| std::env::var("TLOG_TOKEN"))
        .or_else(|_| std::fs::read_to_string("tlog-data/default.token"))
        .map_err(|_| "no token: set AUDIT_LOG_TOKEN or run next to ./tlog-data")?;
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let post = |event: Value, wait: bool| -> Result<Value, Box<dyn std::error::Error>> {
        let q = if wait { "?wait=checkpoint" } else { "" };
        let resp = http
            .post(format!("{url}/v1/events{q}"))
            .bearer_auth(token.trim())
            .header("content-type", "application/json")
            .body(event.to_string())
            .send()?;
        let status = resp.status();
        let v: Value = serde_json::from_str(&resp.text()?)?;
        if !status.is_success() {
            return Err(format!("{status}: {v}").into());
        }
        Ok(v)
    };

    // A tiny dataset snapshot on disk, hashed as spec/dataset.md defines.
    let dir = std::env::temp_dir().join(format!("imdb-sample-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("train.csv"),
        "text,label\ngreat movie,1\nawful plot,0\n",
    )?;
    let digest = llm_audit_trail::dataset::hash_dataset(&dir, &mut |_, _| {})?;
    let model = "demo-imdb-v1";
    let dataset = "hf:stanfordnlp/imdb";
    post(
        json!({"event_type": "DatasetRegistered", "dataset_id": dataset, "system": "example",
        "details": {"version": "sample", "source": "huggingface://datasets/stanfordnlp/imdb",
                    "rows": digest.rows, "license": "other", "content_hash": digest.content_hash,
                    "preprocessing": {"splits": ["train"]}, "owner": "stanfordnlp"}}),
        false,
    )?;
    post(
        json!({"event_type": "FineTuneStart", "model_id": model, "dataset_id": dataset,
        "system": "example", "details": {"lr": 1e-5, "epochs": 2, "seed": 42}}),
        false,
    )?;
    for epoch in 1..=2 {
        post(
            json!({"event_type": "EpochEnd", "model_id": model, "system": "example",
            "details": {"epoch": epoch, "loss": 0.7 / f64::from(epoch)}}),
            false,
        )?;
    }
    post(
        json!({"event_type": "Evaluation", "model_id": model, "dataset_id": dataset,
        "system": "example", "details": {"accuracy": 0.88}}),
        false,
    )?;
    let approval = post(
        json!({"event_type": "Approval", "model_id": model, "system": "governance",
        "actor": "Model Risk Committee",
        "details": {"decision": "approved", "rationale": "clears thresholds",
                    "owner": "Model Risk Committee", "constraints": {"rollout": "10% for 48h"},
                    "references": []}}),
        true,
    )?;
    let index = approval["index"].as_u64().ok_or("no index")?;

    // Verify offline: the bundle against the log's verifier key.
    let bundle = http
        .get(format!("{url}/v1/bundle/{index}"))
        .send()?
        .bytes()?;
    let checkpoint: Value =
        serde_json::from_str(&http.get(format!("{url}/v1/checkpoint")).send()?.text()?)?;
    let key = parse_verifier_key(checkpoint["vkey"].as_str().ok_or("no vkey")?)?;
    let verified = ProofBundle::parse(&bundle)?.verify(&key)?;
    println!(
        "verified: Approval {} is leaf {index} of the {}-leaf tree signed by {} (root {})",
        verified.header.event_id,
        verified.checkpoint.tree_size,
        verified.checkpoint.origin,
        verified.checkpoint.root_hash
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
