//! Witnesses, policies and monitors with real processes on loopback: the `tlog` binary as
//! log, witnesses and monitor; every status of C2SP tlog-witness driven by crafted requests;
//! cosignatures checked byte for byte against C2SP tlog-cosignature's message format.

#![cfg(feature = "server")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::Verifier as _;
use llm_audit_trail::core::checkpoint::{sign_checkpoint, Checkpoint};
use llm_audit_trail::core::cosignature::CosignatureVerifier;
use llm_audit_trail::core::hash::{leaf_hash, sha256, Hash};
use llm_audit_trail::core::merkle::MemoryHashStore;
use llm_audit_trail::core::note::{parse_note, parse_signer_key, Ed25519Signer, VerifierKey};
use llm_audit_trail::core::policy::parse_policy;
use llm_audit_trail::core::proof::prove_consistency;
use llm_audit_trail::core::witness::{
    parse_add_checkpoint, parse_cosignatures, serialize_add_checkpoint, AddCheckpointRequest,
};
use llm_audit_trail::witness::{Witness, WitnessDir};

const BIN: &str = env!("CARGO_BIN_EXE_tlog");

fn tlog() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("AUDIT_LOG_PATH")
        .env_remove("TLOG_DIR")
        .env_remove("TLOG_URL");
    c
}

fn run_ok(args: &[&str]) -> String {
    let o = tlog().args(args).output().unwrap();
    assert!(
        o.status.success(),
        "tlog {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A free loopback port: bind 127.0.0.1:0, read the port, release it.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed on drop.
struct Proc {
    child: Child,
    url: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tlog args...` and waits for its "... on http://ADDR/" line.
fn spawn(args: &[&str]) -> Proc {
    let mut child = tlog()
        .args(args)
        .env("TLOG_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a first line").unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .trim_end_matches('/')
        .to_string();
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Proc { child, url }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A witness folder with a key and trusted logs; `serve` starts it on `port`.
struct TestWitness {
    dir: PathBuf,
    name: String,
    vkey: String,
}

impl TestWitness {
    fn init(root: &Path, name: &str, logs: &[(&str, &str)]) -> TestWitness {
        let dir = root.join(name.replace('/', "_"));
        let out = run_ok(&[
            "witness",
            "init",
            "--dir",
            dir.to_str().unwrap(),
            "--name",
            name,
        ]);
        let vkey = out.trim().to_string();
        for (origin, key) in logs {
            run_ok(&[
                "witness",
                "add-log",
                "--dir",
                dir.to_str().unwrap(),
                origin,
                key,
            ]);
        }
        TestWitness {
            dir,
            name: name.to_string(),
            vkey,
        }
    }

    fn serve(&self, port: u16) -> Proc {
        spawn(&[
            "witness",
            "serve",
            "--dir",
            self.dir.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
    }
}

/// A tree of `n` leaves with a signed checkpoint.
fn tree(n: u64) -> MemoryHashStore {
    let mut t = MemoryHashStore::new();
    for i in 0..n {
        t.push_leaf(leaf_hash(format!("leaf {i}").as_bytes()));
    }
    t
}

fn signed(signer: &Ed25519Signer, origin: &str, size: u64, root: Hash) -> Vec<u8> {
    sign_checkpoint(
        &Checkpoint {
            origin: origin.into(),
            tree_size: size,
            root_hash: root,
            extensions: vec![],
        },
        signer,
    )
    .unwrap()
}

fn add(url: &str, old: u64, proof: Vec<Hash>, note: Vec<u8>) -> (u16, String, Vec<u8>) {
    let body = serialize_add_checkpoint(&AddCheckpointRequest {
        old_size: old,
        proof,
        checkpoint: note,
    });
    post_raw(url, body)
}

fn post_raw(url: &str, body: Vec<u8>) -> (u16, String, Vec<u8>) {
    let r = http()
        .post(format!("{url}/add-checkpoint"))
        .body(body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.bytes().unwrap().to_vec())
}

/// The cosignature on `text` by `vkey`, checked byte for byte against tlog-cosignature
/// v1.0.1: key ID = SHA-256(name || "\n" || 0x04 || pubkey)[:4], signature = u64 BE
/// timestamp || Ed25519 over "cosignature/v1\ntime <t>\n" || checkpoint text.
fn check_cosignature_bytes(vkey: &str, text: &str, line: &str) -> u64 {
    let k = VerifierKey::parse(vkey).unwrap();
    assert_eq!(k.sig_type, 0x04);
    let mut id_input = k.name.as_str().as_bytes().to_vec();
    id_input.push(b'\n');
    id_input.push(0x04);
    id_input.extend_from_slice(&k.public_key);
    let want_id = &sha256(&id_input)[..4];
    let prefix = format!("\u{2014} {} ", k.name);
    let b64 = line.strip_prefix(&prefix).expect("line from this witness");
    let blob = B64.decode(b64.trim_end_matches('\n')).unwrap();
    assert_eq!(
        blob.len(),
        4 + 8 + 64,
        "key ID, timestamp, Ed25519 signature"
    );
    assert_eq!(&blob[..4], want_id, "key ID of a cosignature/v1 key");
    let ts = u64::from_be_bytes(blob[4..12].try_into().unwrap());
    let msg = format!("cosignature/v1\ntime {ts}\n{text}");
    let pk =
        ed25519_dalek::VerifyingKey::from_bytes(&k.public_key.clone().try_into().unwrap()).unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(&blob[12..].try_into().unwrap());
    pk.verify(msg.as_bytes(), &sig)
        .expect("Ed25519 over the exact cosignature/v1 message");
    ts
}

#[test]
fn cosignature_is_over_the_spec_message_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let log = Ed25519Signer::from_seed("example.com/log", &[1; 32]).unwrap();
    let dir = WitnessDir::new(tmp.path().join("w"));
    let vkey = dir.init("witness.example/w1", &[7; 32]).unwrap();
    dir.add_log("example.com/log", &log.to_vkey()).unwrap();
    let w = Witness::open(dir).unwrap();
    let t = tree(5);
    let note = signed(&log, "example.com/log", 5, t.root());
    let body = serialize_add_checkpoint(&AddCheckpointRequest {
        old_size: 0,
        proof: vec![],
        checkpoint: note.clone(),
    });
    let sigs = w.add_checkpoint(&body, 1_679_315_147).unwrap();
    assert_eq!(sigs.len(), 1);
    let text = parse_note(&note).unwrap().text;
    // The exact message of the spec's example layout.
    assert_eq!(
        text,
        format!("example.com/log\n5\n{}\n", B64.encode(t.root().as_bytes()))
    );
    let ts = check_cosignature_bytes(&vkey, &text, &sigs[0].to_line());
    assert_eq!(ts, 1_679_315_147);
    // And our verifier agrees; a changed timestamp or text does not verify.
    let v = CosignatureVerifier::from_vkey(&vkey).unwrap();
    assert_eq!(v.verify_cosignature(&text, &sigs[0]).unwrap(), ts);
    let mut bad = sigs[0].clone();
    bad.signature[7] ^= 1;
    assert!(v.verify_cosignature(&text, &bad).is_err());
    assert!(v
        .verify_cosignature(&text.replace("\n5\n", "\n6\n"), &sigs[0])
        .is_err());
    // The request parser round-trips what we sent.
    let req = parse_add_checkpoint(&body).unwrap();
    assert_eq!(req.checkpoint, note);
}

#[test]
fn every_status_of_the_witness_protocol() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = "example.com/log";
    let log = Ed25519Signer::from_seed(origin, &[1; 32]).unwrap();
    let impostor = Ed25519Signer::from_seed(origin, &[2; 32]).unwrap();
    let other = Ed25519Signer::from_seed("other.example/log", &[3; 32]).unwrap();
    let w = TestWitness::init(
        tmp.path(),
        "witness.example/w1",
        &[(origin, &log.to_vkey())],
    );
    let port = free_port();
    let p = w.serve(port);
    let t8 = tree(8);
    let t5 = tree(5);
    let root5 = {
        let mut t = MemoryHashStore::new();
        for i in 0..5 {
            t.push_leaf(leaf_hash(format!("leaf {i}").as_bytes()));
        }
        t.root()
    };
    assert_eq!(root5, t5.root());

    // 404: unknown origin.
    let (s, _, _) = add(
        &p.url,
        0,
        vec![],
        signed(&other, "other.example/log", 5, root5),
    );
    assert_eq!(s, 404);
    // 403: known origin, but no signature from a trusted key.
    let (s, _, _) = add(&p.url, 0, vec![], signed(&impostor, origin, 5, root5));
    assert_eq!(s, 403);
    // 400: malformed bodies.
    for body in [
        b"garbage".to_vec(),
        b"old 01\n\n".to_vec(),
        b"old 1\nnot base64\n\n".to_vec(),
        b"old 0\n".to_vec(),
        [
            b"old 0\n\n".to_vec(),
            b"example.com/log\n5\nxx\n\n".to_vec(),
        ]
        .concat(),
    ] {
        let (s, _, _) = post_raw(&p.url, body.clone());
        assert_eq!(s, 400, "{:?}", String::from_utf8_lossy(&body));
    }
    // 400: more than 63 proof lines.
    let mut body = b"old 1\n".to_vec();
    for _ in 0..64 {
        body.extend_from_slice(format!("{}\n", B64.encode([0u8; 32])).as_bytes());
    }
    body.extend_from_slice(b"\n");
    body.extend_from_slice(&signed(&log, origin, 5, root5));
    assert_eq!(post_raw(&p.url, body).0, 400);
    // 400: old size above the checkpoint size.
    let (s, _, _) = add(&p.url, 6, vec![], signed(&log, origin, 5, root5));
    assert_eq!(s, 400);
    // 200: first cosignature, from 0.
    let note5 = signed(&log, origin, 5, root5);
    let (s, ct, body) = add(&p.url, 0, vec![], note5.clone());
    assert_eq!(s, 200);
    assert!(ct.starts_with("text/plain"));
    let text5 = parse_note(&note5).unwrap().text;
    let lines = String::from_utf8(body.clone()).unwrap();
    assert!(lines.ends_with('\n'));
    check_cosignature_bytes(&w.vkey, &text5, lines.lines().next().unwrap());
    assert_eq!(parse_cosignatures(&body).unwrap().len(), 1);
    // 409: old 0 again; the body is the cosigned size, text/x.tlog.size.
    let (s, ct, body) = add(&p.url, 0, vec![], note5.clone());
    assert_eq!(
        (s, ct.as_str(), body.as_slice()),
        (409, "text/x.tlog.size", &b"5\n"[..])
    );
    // 422: a bad consistency proof 5 -> 8.
    let note8 = signed(&log, origin, 8, t8.root());
    let good = prove_consistency(5, 8, &t8).unwrap();
    let mut bad = good.clone();
    bad[0].0[0] ^= 1;
    assert_eq!(add(&p.url, 5, bad, note8.clone()).0, 422);
    // 422: an empty proof between different sizes.
    let other_witness_note = signed(&log, origin, 8, t8.root());
    assert_eq!(
        add(&p.url, 5, vec![], other_witness_note.clone()).0,
        422,
        "an empty proof between different sizes"
    );
    // 200: the good proof.
    let (s, _, body) = add(&p.url, 5, good, note8.clone());
    assert_eq!(s, 200);
    let text8 = parse_note(&note8).unwrap().text;
    check_cosignature_bytes(&w.vkey, &text8, std::str::from_utf8(&body).unwrap());
    // 409: same size, different root (a fork); the body is the size.
    let forged = signed(&log, origin, 8, root5);
    let (s, ct, body) = add(&p.url, 8, vec![], forged);
    assert_eq!(
        (s, ct.as_str(), body.as_slice()),
        (409, "text/x.tlog.size", &b"8\n"[..])
    );
    // 200: same size, same root.
    assert_eq!(add(&p.url, 8, vec![], note8.clone()).0, 200);
    // The monitoring endpoint serves the latest cosigned checkpoint.
    let h = llm_audit_trail::core::hash::hex_encode(&sha256(origin.as_bytes()));
    let r = http()
        .get(format!("{}/{h}/checkpoint", p.url))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let served = parse_note(&r.bytes().unwrap()).unwrap();
    assert_eq!(served.text, text8);
    let v = CosignatureVerifier::from_vkey(&w.vkey).unwrap();
    let cosig = served
        .signatures
        .iter()
        .find(|s| s.name.as_str() == w.name)
        .unwrap();
    v.verify_cosignature(&served.text, cosig).unwrap();
    let r = http()
        .get(format!("{}/{}/checkpoint", p.url, "0".repeat(64)))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // Restart: the state was persisted before answering.
    drop(p);
    let p = w.serve(port);
    let (s, _, body) = add(&p.url, 0, vec![], note5);
    assert_eq!((s, body.as_slice()), (409, &b"8\n"[..]));
    // add-log refuses while the witness runs (it holds the lock).
    let o = tlog()
        .args([
            "witness",
            "add-log",
            "--dir",
            w.dir.to_str().unwrap(),
            "x.example/l",
            &log.to_vkey(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    // The key file is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(w.dir.join("witness.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// A fake log front: serves `checkpoint` at /checkpoint and everything else from `upstream`,
/// passing each tile through `mangle`.
fn fake_log(
    checkpoint: Vec<u8>,
    upstream: String,
    mangle: fn(&str, Vec<u8>) -> Vec<u8>,
) -> (String, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            let mut buf = Vec::new();
            let mut b = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&b[..n]),
                }
            }
            let req = String::from_utf8_lossy(&buf).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
            if path == "/quit" {
                return;
            }
            let (status, body) = if path == "/checkpoint" {
                (200, checkpoint.clone())
            } else {
                let r = http().get(format!("{upstream}{path}")).send().unwrap();
                let s = r.status().as_u16();
                (s, mangle(&path, r.bytes().unwrap().to_vec()))
            };
            let _ = write!(
                c,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = c.write_all(&body);
        }
    });
    (url, h)
}

fn stop_fake(url: &str, h: std::thread::JoinHandle<()>) {
    let _ = http().get(format!("{url}/quit")).send();
    let _ = h.join();
}

fn monitor(log_url: &str, vkey: &str, state: &Path, policy: Option<&Path>) -> (bool, String) {
    let mut args = vec![
        "monitor".to_string(),
        "--log".into(),
        log_url.into(),
        "--key".into(),
        vkey.into(),
        "--state".into(),
        state.display().to_string(),
    ];
    if let Some(p) = policy {
        args.push("--policy".into());
        args.push(p.display().to_string());
    }
    let o = tlog().args(&args).output().unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn post_events(log_url: &str, token: &str, n: usize, tag: &str) -> serde_json::Value {
    let events: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({"event_type": "Evaluation", "model_id": "m", "event_id": format!("{tag}-{i}"), "details": {"i": i}}))
        .collect();
    let r = http()
        .post(format!("{log_url}/v1/events?wait=checkpoint"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(serde_json::Value::Array(events).to_string())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().unwrap()).unwrap();
    assert_eq!(status, 201, "{v}");
    v
}

/// Waits until `f` holds, or panics after 30 s.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn log_with_three_witnesses_two_of_three_restart_down_fork_and_monitor() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = "witnessed.example/log";
    let data = tmp.path().join("log");
    run_ok(&["init", "--dir", data.to_str().unwrap(), "--origin", origin]);
    let vkey = std::fs::read_to_string(data.join("log.vkey"))
        .unwrap()
        .trim()
        .to_string();
    let ws: Vec<TestWitness> = (1..=3)
        .map(|i| {
            TestWitness::init(
                tmp.path(),
                &format!("witness.example/w{i}"),
                &[(origin, &vkey)],
            )
        })
        .collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    // w1 and w2 run; w3 is down (nothing listens on its port).
    let mut w1 = Some(ws[0].serve(ports[0]));
    let _w2 = ws[1].serve(ports[1]);
    let policy_path = tmp.path().join("policy");
    let policy_text = format!(
        "# three witnesses, any two\nlog {vkey}\n{}group g 2 w1 w2 w3\nquorum g\n",
        (0..3)
            .map(|i| format!(
                "witness w{} {} http://127.0.0.1:{}\n",
                i + 1,
                ws[i].vkey,
                ports[i]
            ))
            .collect::<String>()
    );
    std::fs::write(&policy_path, &policy_text).unwrap();
    let policy = parse_policy(policy_text.as_bytes()).unwrap();
    let log_port = free_port();
    let start_log = || {
        spawn(&[
            "serve",
            "--dir",
            data.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{log_port}"),
            "--checkpoint-interval-ms",
            "50",
            "--witness-policy",
            policy_path.to_str().unwrap(),
            "--witness-timeout-ms",
            "2000",
        ])
    };
    let mut log = Some(start_log());
    let token = std::fs::read_to_string(data.join("default.token"))
        .unwrap()
        .trim()
        .to_string();
    let url = log.as_ref().unwrap().url.clone();

    // wait=checkpoint answers carry the cosigned checkpoint: 2 of 3 cosigned.
    let v = post_events(&url, &token, 10, "a");
    let note = v["checkpoint"].as_str().unwrap().as_bytes().to_vec();
    let ok = policy.verify_checkpoint(&note, None).unwrap();
    assert!(ok.cosigned_by.len() >= 2, "{ok:?}");
    assert!(!ok.cosigned_by.contains(&2), "w3 is down");
    // /checkpoint and /v1/checkpoint serve it.
    let served = http()
        .get(format!("{url}/checkpoint"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    policy.verify_checkpoint(&served, None).unwrap();
    let j: serde_json::Value = http()
        .get(format!("{url}/v1/checkpoint"))
        .send()
        .unwrap()
        .json_or_panic();
    policy
        .verify_checkpoint(j["note"].as_str().unwrap().as_bytes(), None)
        .unwrap();
    // A bundle carries it; `tlog verify --policy` checks quorum and proof offline.
    let bundle = http()
        .get(format!("{url}/v1/bundle/3"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let bpath = tmp.path().join("b.json");
    std::fs::write(&bpath, &bundle).unwrap();
    let out = run_ok(&[
        "verify",
        bpath.to_str().unwrap(),
        "--key",
        &vkey,
        "--policy",
        policy_path.to_str().unwrap(),
    ]);
    assert!(out.contains("quorum met"), "{out}");
    // A policy that needs all three fails offline.
    let strict = tmp.path().join("strict");
    std::fs::write(&strict, policy_text.replace("group g 2", "group g all")).unwrap();
    let o = tlog()
        .args([
            "verify",
            bpath.to_str().unwrap(),
            "--key",
            &vkey,
            "--policy",
            strict.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("quorum not met"));

    // The monitor follows the log: signature, quorum, tiles, entries.
    let mstate = tmp.path().join("monitor.json");
    let (ok, out) = monitor(&url, &vkey, &mstate, Some(&policy_path));
    assert!(ok, "{out}");

    // Restart w1 mid-stream; with w3 down, the quorum needs it back.
    drop(w1.take());
    w1 = Some(ws[0].serve(ports[0]));
    let v = post_events(&url, &token, 7, "b");
    let note = v["checkpoint"].as_str().unwrap().as_bytes().to_vec();
    let ok = policy.verify_checkpoint(&note, None).unwrap();
    assert_eq!(ok.checkpoint.tree_size, 17);
    assert!(ok.cosigned_by.contains(&0) && ok.cosigned_by.contains(&1));

    // Restart the log: it learns the witnesses' sizes from 409s and gets cosigned again.
    drop(log.take());
    log = Some(start_log());
    let v = post_events(&url, &token, 3, "c");
    let note = v["checkpoint"].as_str().unwrap().as_bytes().to_vec();
    let ok = policy.verify_checkpoint(&note, None).unwrap();
    assert_eq!(ok.checkpoint.tree_size, 20);
    let (good, out) = monitor(&url, &vkey, &mstate, Some(&policy_path));
    assert!(good && out.contains("10 new entries verified"), "{out}");

    // Stop the log: it signs a final checkpoint; the witnesses are at some size N.
    drop(log.take());
    let signer = parse_signer_key(
        std::fs::read_to_string(data.join("log.key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&mstate).unwrap()).unwrap();
    let seen = state["tree_size"].as_u64().unwrap();
    assert_eq!(seen, 20);
    // A forged fork: the log's key signs a second root for size 20.
    let forged_root = Hash(sha256(b"another tree"));
    let forged = signed(&signer, origin, seen, forged_root);
    // Every running witness refuses it: 409 at its size, or 422 from an older one.
    for p in [w1.as_ref().unwrap(), &_w2] {
        let (s, _, body) = add(&p.url, 0, vec![], forged.clone());
        assert_eq!(s, 409);
        let theirs: u64 = String::from_utf8(body).unwrap().trim().parse().unwrap();
        let (s, _, _) = add(&p.url, theirs, vec![], forged.clone());
        if theirs == seen {
            assert_eq!(s, 409, "same size, different root");
        } else {
            assert!(s == 422 || s == 400, "got {s}");
        }
        let (s, _, _) = add(
            &p.url,
            theirs,
            vec![],
            signed(&signer, origin, seen + 5, forged_root),
        );
        assert_eq!(s, 422, "no consistency proof to a forged bigger tree");
    }
    // The monitor reports the fork, a rollback, and bad tiles, and exits non-zero.
    let real_log = start_log();
    let real_url = real_log.url.clone();
    let (fake, h) = fake_log(forged.clone(), real_url.clone(), |_, b| b);
    let (ok, out) = monitor(&fake, &vkey, &mstate, None);
    assert!(!ok && out.contains("fork"), "{out}");
    stop_fake(&fake, h);
    let (fake, h) = fake_log(
        signed(&signer, origin, 4, forged_root),
        real_url.clone(),
        |_, b| b,
    );
    let (ok, out) = monitor(&fake, &vkey, &mstate, None);
    assert!(!ok && out.contains("rollback"), "{out}");
    stop_fake(&fake, h);
    // With the policy, the forged checkpoint has no quorum.
    let (fake, h) = fake_log(forged, real_url.clone(), |_, b| b);
    let (ok, out) = monitor(&fake, &vkey, &mstate, Some(&policy_path));
    assert!(!ok && out.contains("quorum"), "{out}");
    stop_fake(&fake, h);
    // A fresh monitor through a front that corrupts a hash tile.
    eventually("the restarted log publishes a cosigned checkpoint", || {
        http()
            .get(format!("{real_url}/checkpoint"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    });
    let real_cp = http()
        .get(format!("{real_url}/checkpoint"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let (fake, h) = fake_log(real_cp.to_vec(), real_url.clone(), |path, mut b| {
        if path.starts_with("/tile/0/") && !b.is_empty() {
            b[0] ^= 1;
        }
        b
    });
    let (ok, out) = monitor(&fake, &vkey, &tmp.path().join("fresh.json"), None);
    assert!(!ok && out.contains("bad-tile"), "{out}");
    stop_fake(&fake, h);
    // And one that corrupts an entry bundle.
    let (fake, h) = fake_log(real_cp.to_vec(), real_url.clone(), |path, mut b| {
        if path.starts_with("/tile/entries/") && b.len() > 5 {
            b[4] ^= 0x20;
        }
        b
    });
    let (ok, out) = monitor(&fake, &vkey, &tmp.path().join("fresh2.json"), None);
    assert!(!ok && out.contains("bad-entry"), "{out}");
    stop_fake(&fake, h);
    // The real log still passes.
    let (ok, out) = monitor(&real_url, &vkey, &mstate, Some(&policy_path));
    assert!(ok, "{out}");
}

/// `.json()` without reqwest's json feature.
trait JsonOrPanic {
    fn json_or_panic(self) -> serde_json::Value;
}

impl JsonOrPanic for reqwest::blocking::Response {
    fn json_or_panic(self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes().unwrap()).unwrap()
    }
}

#[test]
fn policy_files_good_and_bad() {
    let log = Ed25519Signer::from_seed("example.com/log", &[1; 32]).unwrap();
    let w = |i: u8| {
        llm_audit_trail::core::cosignature::CosignatureSigner::from_seed(
            &format!("w{i}.example"),
            &[10 + i; 32],
        )
        .unwrap()
        .to_vkey()
    };
    let (l, w1, w2, w3) = (log.to_vkey(), w(1), w(2), w(3));
    let good = format!(
        "  # comment\nlog {l} https://log.example\n\nwitness X1 {w1}\nwitness\tX2 {w2} http://w2\nwitness X3 {w3}\ngroup G 2 X1 X2 X3\ngroup H any G\nquorum H\n"
    );
    let p = parse_policy(good.as_bytes()).unwrap();
    assert_eq!((p.logs.len(), p.witnesses.len(), p.groups.len()), (1, 3, 2));
    assert_eq!(p.witnesses[1].url.as_deref(), Some("http://w2"));
    // Quorum: at least two of three.
    for (set, want) in [
        (vec![], false),
        (vec![0], false),
        (vec![0, 2], true),
        (vec![1, 2], true),
        (vec![0, 1, 2], true),
    ] {
        assert_eq!(p.quorum_met_by(&set), want, "{set:?}");
    }
    assert!(parse_policy(b"quorum none\n").unwrap().quorum_met_by(&[]));
    // Bad policies, each with the reason it is bad.
    let bad: Vec<(String, &str)> = vec![
        (String::new(), "no quorum line"),
        (
            format!("witness A {w1}\nquorum A\nquorum A\n"),
            "two quorum lines",
        ),
        ("quorum B\n".into(), "quorum names an undefined witness"),
        (
            format!("group G any A\nwitness A {w1}\nquorum G\n"),
            "member defined later",
        ),
        (
            format!("witness A {w1}\nwitness B {w1}\nquorum A\n"),
            "duplicate witness key",
        ),
        (
            format!("witness A {w1}\nwitness A {w2}\nquorum A\n"),
            "name defined twice",
        ),
        (format!("witness none {w1}\nquorum none\n"), "reserved name"),
        (
            format!("witness A {w1}\ngroup G 2 A\nquorum G\n"),
            "threshold above n",
        ),
        (
            format!("witness A {w1}\ngroup G 0 A\nquorum G\n"),
            "threshold zero",
        ),
        (
            format!("witness A {w1}\ngroup G 01 A\nquorum G\n"),
            "leading zero",
        ),
        (
            format!("witness A {w1}\ngroup G any A A\nquorum G\n"),
            "member listed twice",
        ),
        (
            format!("witness A {w1}\ngroup G any none\nquorum G\n"),
            "none as a member",
        ),
        (
            format!("witness A {w1}\ngroup G any\nquorum G\n"),
            "group without members",
        ),
        (
            format!("witness A {l}\nquorum A\n"),
            "log key (0x01) as a witness key",
        ),
        (
            format!("log {w1}\nquorum none\n"),
            "witness key (0x04) as a log key",
        ),
        (format!("log {l}\nlog {l}\nquorum none\n"), "duplicate log"),
        ("quorum none\x0b\n".into(), "control character"),
        ("frobnicate x\nquorum none\n".into(), "unknown keyword"),
    ];
    for (text, why) in bad {
        assert!(parse_policy(text.as_bytes()).is_err(), "accepted: {why}");
    }
    let huge = vec![b'#'; llm_audit_trail::core::policy::MAX_POLICY_SIZE + 1];
    assert!(parse_policy(&huge).is_err(), "over the size bound");
}
