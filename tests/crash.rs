//! Crash tests: a real `tlog` process is killed with SIGKILL at random moments while it
//! appends; after each kill, every event it acknowledged (printed) must be in the log with
//! the same index and id, every checkpoint must match the tree, and the mirror must verify.

#![cfg(feature = "server")]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn tlog(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tlog"));
    c.env("TLOG_DIR", dir).env_remove("AUDIT_LOG_PATH");
    c
}

/// A new data folder in `tmp`, initialised.
fn init(tmp: &Path) -> std::path::PathBuf {
    let dir = tmp.join("data");
    let o = tlog(&dir)
        .args(["init", "--origin", "crash.example/log"])
        .output()
        .unwrap();
    assert!(o.status.success());
    dir
}

/// A small deterministic generator (the test must not depend on an RNG crate's stream).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn sigkill_during_appends_loses_no_acknowledged_event() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init(tmp.path());
    let mut rng = Lcg(0x5eed);
    let mut acked: Vec<(u64, String)> = Vec::new();
    let rounds = 12;
    for round in 0..rounds {
        let mut child = tlog(&dir)
            .args(["append", "--batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        {
            let mut stdin = child.stdin.take().unwrap();
            for i in 0..3000 {
                writeln!(
                    stdin,
                    r#"{{"event_type":"EpochEnd","event_id":"r{round}-e{i}","model_id":"m","details":{{"i":{i}}}}}"#
                )
                .unwrap();
            }
        }
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    let mut p = l.split('\t');
                    Some((p.next()?.parse::<u64>().ok()?, p.next()?.to_string()))
                })
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(rng.next() % 400));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let got = reader.join().unwrap();
        acked.extend(got);

        // Re-open and check everything: leaves, bodies, checkpoints, mirror.
        let o = tlog(&dir).args(["fsck"]).output().unwrap();
        assert!(
            o.status.success(),
            "round {round}: fsck failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // fsck brought the mirror up to date with the log: read (seq, event_id) from it.
        let mirror = std::fs::read_to_string(dir.join("audit_trail.jsonl")).unwrap();
        let in_log: Vec<(u64, String)> = mirror
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["seq"].as_u64().unwrap(),
                    v["event_id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        for (k, (seq, _)) in in_log.iter().enumerate() {
            assert_eq!(*seq, k as u64, "mirror seq is the leaf index");
        }
        for (index, id) in &acked {
            assert_eq!(
                in_log.get(*index as usize).map(|(_, i)| i),
                Some(id),
                "round {round}: acknowledged event {index} ({id}) lost"
            );
        }
    }
    eprintln!(
        "crash test: {rounds} rounds, {} events acknowledged, 0 lost",
        acked.len()
    );
    // After all that the log still accepts appends.
    let o = tlog(&dir)
        .args(["append", "--type", "Done"])
        .output()
        .unwrap();
    assert!(o.status.success());
}

/// The same with batches long enough that the newest events' lookup keys are on their way
/// from memory to the store when the kill comes (a chunk is frozen every 32,768 events,
/// `log::lookups`): after each kill `tlog fsck` finds every leaf by its event id, and
/// sending the whole batch again appends nothing (each retry is found by its id).
#[test]
fn sigkill_while_lookup_keys_move_to_the_store_loses_no_lookup() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init(tmp.path());
    let mut rng = Lcg(0x100c);
    let batch = |round: u32| {
        let mut s = String::new();
        for i in 0..60_000 {
            s.push_str(&format!(
                "{{\"event_type\":\"EpochEnd\",\"event_id\":\"r{round}-e{i}\",\"details\":{{\"i\":{i}}}}}\n"
            ));
        }
        s
    };
    let append = |input: &str| {
        let mut child = tlog(&dir)
            .args(["append", "--batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_string();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        (child, writer)
    };
    let tree_size = |dir: &Path| {
        let o = tlog(dir).args(["fsck"]).output().unwrap();
        assert!(
            o.status.success(),
            "fsck failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        out.split_whitespace()
            .nth(1)
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("fsck output: {out}"))
    };
    let mut sizes = Vec::new();
    for round in 0..2u32 {
        let input = batch(round);
        let (mut child, writer) = append(&input);
        // Killed once it has acknowledged (printed) `kill_at` events: past the first chunk
        // of keys (32,768), whose way to the store is then under way or just done.
        let kill_at = 33_000 + rng.next() % 25_000;
        let mut printed = 0u64;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        while printed < kill_at && lines.next().is_some_and(|l| l.is_ok()) {
            printed += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let _ = writer.join();
        drop(lines);
        // fsck re-opens (deriving the keys a kill left in memory only) and checks that
        // every leaf is found by its event id.
        let before = tree_size(&dir);
        // Every event of the batch again: the ones that landed are found, not appended.
        let (child, writer) = append(&input);
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        assert!(out.status.success(), "round {round}: the retry failed");
        let after = tree_size(&dir);
        let landed = before - sizes.last().map_or(0, |(_, _, a)| *a);
        assert!(landed >= printed, "round {round}: acknowledged events lost");
        assert_eq!(
            after - before,
            60_000 - landed,
            "round {round}: each event once ({landed} had landed before the kill)"
        );
        sizes.push((printed, before, after));
    }
    eprintln!("lookup crash test: events acknowledged before each kill, tree sizes after it and after the retry: {sizes:?}");
}
