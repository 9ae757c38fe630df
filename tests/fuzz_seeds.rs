//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the checks the fuzz
//! targets run (`fuzz/src/`, included below), on stable Rust and without libFuzzer, so that
//! every `cargo test` exercises what the fuzzer found interesting.
//!
//! `cargo test --test fuzz_seeds -- --ignored write_seeds` rewrites the hand-made seeds
//! (`seed-*` files: valid examples of every format, made with the fuzz keys and the honest
//! log of `fuzz/src/common.rs`). Fuzzing itself: `tools/fuzz [SECONDS]`.

#[path = "../fuzz/src/lib.rs"]
mod fuzz_checks;

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use fuzz_checks::common::{honest, log_signer, witnesses};
use llm_audit_trail::core::bundle::{Erasure, ProofBundle};
use llm_audit_trail::core::json::to_json_string;
use llm_audit_trail::core::note::{sign_note, NoteSignature};
use llm_audit_trail::core::tiles::encode_entry_bundle;
use llm_audit_trail::core::tlog_proof::TlogProof;
use llm_audit_trail::core::witness::{
    serialize_add_checkpoint, serialize_cosignatures, serialize_size_body, AddCheckpointRequest,
};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.expect("readable directory entry").path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

#[test]
fn every_committed_corpus_file_passes_its_target_checks() {
    let mut failures = Vec::new();
    for (name, check) in fuzz_checks::TARGETS {
        let files = files_in(&corpus_dir().join(name));
        assert!(!files.is_empty(), "fuzz/corpus/{name}/ has no seeds");
        for file in files {
            let data = fs::read(&file).expect("readable corpus file");
            if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "corpus files that fail their checks: {failures:#?}"
    );
}

#[test]
fn every_target_is_built_by_the_fuzz_crate() {
    let manifest =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml"))
            .expect("fuzz/Cargo.toml");
    for (name, _) in fuzz_checks::TARGETS {
        assert!(
            manifest.contains(&format!(
                "name = \"{name}\"\npath = \"fuzz_targets/{name}.rs\""
            )),
            "fuzz/Cargo.toml has no [[bin]] for {name}"
        );
        let target =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fuzz/fuzz_targets/{name}.rs"));
        let source = fs::read_to_string(&target).expect("the target's source");
        assert!(source.contains(&format!("llm_audit_trail_fuzz::{name}::check(data)")));
    }
}

/// The hand-made seeds: `(target, file name, bytes)`.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let log = honest();
    let mut out: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut add = |t: &'static str, name: &str, bytes: Vec<u8>| {
        out.push((t, format!("seed-{name}"), bytes));
    };

    // Signed notes, checkpoints, cosignatures.
    let cosigned = log.cosigned_checkpoint(7, 0b111, 1_767_225_600);
    let signed = log.signed_checkpoint(300);
    add("note", "checkpoint-signed", signed.clone());
    add("note", "checkpoint-cosigned", cosigned.clone());
    add(
        "note",
        "text",
        sign_note("hello\n\nworld\n", &[log_signer()]).expect("signs"),
    );
    add("note", "vkey", log_signer().to_vkey().into_bytes());
    add(
        "checkpoint",
        "text",
        log.checkpoint(1100).to_text().into_bytes(),
    );
    add(
        "checkpoint",
        "text-extensions",
        format!("{}ext one\next two\n", log.checkpoint(0).to_text()).into_bytes(),
    );
    add("checkpoint", "signed", signed.clone());
    add("checkpoint", "cosigned", cosigned.clone());
    add("cosignature", "cosigned", cosigned.clone());
    add(
        "cosignature",
        "cosigned-one",
        log.cosigned_checkpoint(1, 0b010, 0),
    );
    add("cosignature", "vkey", witnesses()[0].to_vkey().into_bytes());

    // Tiles.
    add("tile_path", "hash-full", b"tile/0/x001/234".to_vec());
    add("tile_path", "hash-partial", b"tile/2/005.p/17".to_vec());
    add(
        "tile_path",
        "entries-partial",
        b"tile/entries/x123/456.p/255".to_vec(),
    );
    add(
        "tile_path",
        "bundle",
        encode_entry_bundle(&log.entries[..3]).expect("bundle encodes"),
    );

    // tlog-proof files.
    for (name, i, n, extra) in [
        ("plain", 5u64, 300u64, None),
        ("extra-leaf", 1099, 1100, Some(log.leaf(1099).0.to_vec())),
        ("extra-text", 0, 1, Some(b"an opaque note".to_vec())),
    ] {
        let p = TlogProof {
            extra_data: extra,
            leaf_index: i,
            proof: log.inclusion(i, n),
            checkpoint: log.signed_checkpoint(n),
        };
        add("tlog_proof", name, p.serialize());
    }

    // Structured inputs for proof_verify: (a, b, root, raw hashes) then the honest-tree
    // choices.
    let mut pv = Vec::new();
    pv.extend_from_slice(&5u64.to_be_bytes());
    pv.extend_from_slice(&8u64.to_be_bytes());
    pv.extend_from_slice(&log.root(8).0);
    pv.push(1);
    pv.extend_from_slice(&log.leaf(5).0);
    pv.extend_from_slice(&[0x01, 0x2b, 0x00, 0x05, 0x00, 0x00, 0x01, 0x02, 0x00, 0x01]);
    add("proof_verify", "small", pv);
    add("proof_verify", "edits", (0u8..=200).collect());

    // Entries and bodies.
    add("entry", "entry", log.entries[0].clone());
    add("entry", "entry-dataset", log.entries[4].clone());
    add("entry", "body", log.bodies[1].clone());
    add("entry", "body-no-actor", log.bodies[3].clone());

    // The seed's ledgers.
    let chains = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/seed/chains");
    for name in [
        "sha256.jsonl",
        "hmac.jsonl",
        "hmac.jsonl.anchor",
        "extra_fields.jsonl",
        "blank_lines_crlf.jsonl",
    ] {
        add(
            "chain_line",
            &name.replace('.', "-"),
            fs::read(chains.join(name)).expect("testdata/seed/chains"),
        );
    }

    // JSON: the DESIGN.md test vector and the awkward corners.
    add(
        "json",
        "record",
        br#"{"schema_version":"0.2.0","seq":0,"event_id":"00000000-0000-4000-8000-000000000000","timestamp":"2026-01-02T09:15:04.123456Z","event_type":"Evaluation","actor":null,"system":"demo","model_id":"demo-imdb-v1","dataset_id":null,"deployment_id":null,"details":{"accuracy":0.88,"lr":1e-05},"hash_alg":"sha256","prev_hash":"GENESIS"}"#.to_vec(),
    );
    add(
        "json",
        "corners",
        "[1e16, 1E400, -0.0, 123456789012345678901234567890, \"\\ud83d\\ude00\\u00e9\\n\", NaN, -Infinity, {\"b\":1,\"a\":[true,false,null]}, \"é\"]"
            .as_bytes()
            .to_vec(),
    );
    add("json", "duplicate", br#"{"a": 1, "a": 2.5e-7}"#.to_vec());
    // An integer past f64's range: exact for Python and us, "out of range" for serde_json.
    add(
        "json",
        "bigint-past-f64",
        format!("[-{}]", "9".repeat(400)).into_bytes(),
    );

    // A policy naming the fuzz log and witnesses, then the fully cosigned checkpoint.
    let w = witnesses();
    let mut policy = format!(
        "# fuzz policy\nlog {}\nwitness a {} http://a.example\nwitness b {}\nwitness\tc  {}\ngroup two 2 a b c\ngroup any any two\nquorum any\n",
        log_signer().to_vkey(),
        w[0].to_vkey(),
        w[1].to_vkey(),
        w[2].to_vkey()
    )
    .into_bytes();
    add("policy", "text", policy.clone());
    policy.push(0);
    policy.extend_from_slice(&log.cosigned_checkpoint(5, 0b011, 1_767_225_600));
    add("policy", "with-note", policy);
    add(
        "policy",
        "none",
        format!("log {}\nquorum none", log_signer().to_vkey()).into_bytes(),
    );

    // tlog-witness bodies.
    let req = AddCheckpointRequest {
        old_size: 300,
        proof: log.consistency(300, 1000),
        checkpoint: log.signed_checkpoint(1000),
    };
    add(
        "witness_request",
        "add-checkpoint",
        serialize_add_checkpoint(&req),
    );
    let req0 = AddCheckpointRequest {
        old_size: 0,
        proof: Vec::new(),
        checkpoint: log.signed_checkpoint(12),
    };
    add(
        "witness_request",
        "add-checkpoint-0",
        serialize_add_checkpoint(&req0),
    );
    add("witness_request", "size", serialize_size_body(1000));
    let text = log.checkpoint(1000).to_text();
    let sig: NoteSignature = w[0].sign(&text, 1_767_225_600).expect("cosigns");
    add(
        "witness_request",
        "cosignatures",
        serialize_cosignatures(&[sig]),
    );

    // Proof bundles.
    for (name, i, n, body, erased) in [
        ("with-body", 10u64, 1100u64, true, false),
        ("no-body", 0, 1, false, false),
        ("erased", 77, 300, false, true),
    ] {
        let b = ProofBundle {
            leaf_index: i,
            entry: log.entries[i as usize].clone(),
            body: body.then(|| log.bodies[i as usize].clone()),
            salt: body.then_some(log.salts[i as usize]),
            erased: erased.then(|| Erasure {
                erased_by: 1000,
                reason: "GDPR request".into(),
            }),
            inclusion_proof: log.inclusion(i, n),
            checkpoint: log.signed_checkpoint(n),
        };
        add("bundle", name, to_json_string(&b.to_json()).into_bytes());
    }
    // A body that is not a body (the bundle target's round-trip check caught `to_json`
    // adding an event view that `parse` then refused).
    let b = ProofBundle {
        leaf_index: 0,
        entry: log.entries[0].clone(),
        body: Some(b"x".to_vec()),
        salt: None,
        erased: None,
        inclusion_proof: Vec::new(),
        checkpoint: log.signed_checkpoint(1),
    };
    add(
        "bundle",
        "garbage-body",
        to_json_string(&b.to_json()).into_bytes(),
    );
    out
}

#[test]
#[ignore = "rewrites fuzz/corpus/*/seed-*; run on purpose"]
fn write_seeds() {
    for (target, name, bytes) in seeds() {
        let dir = corpus_dir().join(target);
        fs::create_dir_all(&dir).expect("corpus directory");
        fs::write(dir.join(name), bytes).expect("seed written");
    }
}

#[test]
fn the_hand_made_seeds_pass_their_checks() {
    for (target, name, bytes) in seeds() {
        let (_, check) = fuzz_checks::TARGETS
            .iter()
            .find(|(t, _)| *t == target)
            .expect("a known target");
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&bytes)));
        assert!(outcome.is_ok(), "seed {target}/{name} fails its checks");
    }
}
