//! A full disk and a read-only data folder, for real: `tlog serve` and the CLI on a small
//! tmpfs mount (we run as root in a container). Each test skips with a printed reason when
//! mounting is not permitted; the fault-injecting store covers the same paths then
//! (`tests/log.rs`, `tests/storage.rs`).
//!
//! What we expect, and what these tests found (also in `spec/storage.md`):
//! - full: every append gets 503 `{"error":"unavailable",...}`, reads keep working, nothing
//!   acknowledged is lost, the process stays up and still exits on SIGTERM;
//! - once space returns the server keeps refusing writes until it is restarted (RocksDB keeps
//!   its background error); after a restart appends work and everything checks;
//! - read-only: the CLI and `tlog serve` stop with one line on stderr and a non-zero exit,
//!   and the folder is intact once it is writable again.

#![cfg(feature = "server")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A tmpfs mounted for one test; unmounted when dropped.
struct Mount {
    path: PathBuf,
}

impl Mount {
    /// Mounts a tmpfs of `mib` MiB on a new folder in `parent`, or says why it cannot.
    fn tmpfs(parent: &Path, mib: u32) -> Result<Mount, String> {
        let path = parent.join("mnt");
        std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !o.status.success() {
            return Err(String::from_utf8_lossy(&o.stderr).trim().to_string());
        }
        Ok(Mount { path })
    }

    /// `mount -o remount,OPTS`.
    fn remount(&self, opts: &str) {
        let o = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.path)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "remount {opts}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

fn mount_or_skip(parent: &Path, mib: u32, test: &str) -> Option<Mount> {
    match Mount::tmpfs(parent, mib) {
        Ok(m) => Some(m),
        Err(e) => {
            eprintln!(
                "skipping {test}: cannot mount a tmpfs here ({e}); the fault-injecting store covers these paths (tests/log.rs)"
            );
            None
        }
    }
}

fn tlog() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tlog"));
    c.env_remove("AUDIT_LOG_PATH")
        .env_remove("TLOG_DIR")
        .env_remove("TLOG_CONFIG");
    c
}

/// A `tlog serve` child; SIGKILLed when dropped (before the mount is).
struct Server {
    child: Child,
    url: String,
    stderr: PathBuf,
}

impl Server {
    /// Starts `tlog serve` on `data` (stderr to `log`, outside the mount) and waits until it
    /// listens; `Err` with its stderr if it exits first.
    fn start(data: &Path, log: &Path) -> Result<Server, (Option<i32>, String)> {
        let mut child = tlog()
            .arg("serve")
            .arg("--dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0", "--origin", "full.test/log"])
            .args(["--checkpoint-interval-ms", "20"])
            .env("TLOG_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
            .spawn()
            .unwrap();
        // Read stdout to its end in a thread: the server must never see a closed pipe.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(u) = line.split_whitespace().find(|w| w.starts_with("http://")) {
                    let _ = tx.send(u.trim_end_matches('/').to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)).ok() {
            Some(url) => Ok(Server {
                child,
                url,
                stderr: log.to_path_buf(),
            }),
            None => {
                let status = child.wait().unwrap();
                Err((status.code(), std::fs::read_to_string(log).unwrap()))
            }
        }
    }

    /// SIGTERM, then wait (bounded) for the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "tlog serve did not exit within 60 s of SIGTERM; stderr: {}",
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let status = self.child.try_wait().ok().flatten();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "tlog serve ({}; exit before the kill: {status:?}) stderr:\n{}",
                self.url,
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            );
        }
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn post(url: &str, token: &str, body: &Value) -> (u16, Value) {
    let r = http()
        .post(format!("{url}/v1/events"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let text = r.text().unwrap();
    assert_eq!(
        ct.as_deref(),
        Some("application/json"),
        "{status} {text}: JSON answers only"
    );
    (status, serde_json::from_str(&text).unwrap())
}

fn get(url: &str) -> (u16, Value) {
    let r = http().get(url).send().unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A request of 50 events of ~3 KB each.
fn fat_batch(tag: &str, n: usize) -> Value {
    Value::Array(
        (0..50)
            .map(|k| {
                json!({"event_type": "Fill", "event_id": format!("{tag}-{n}-{k}"),
                       "details": {"pad": "x".repeat(3000), "n": n}})
            })
            .collect(),
    )
}

/// Appends fat batches until the server answers 503; returns (index, event_id, leaf_hash)
/// of every acknowledged event, and the 503 body.
fn fill(url: &str, token: &str, tag: &str) -> (Vec<(u64, String, String)>, Value) {
    let mut acked = Vec::new();
    for n in 0..2000 {
        let (status, v) = post(url, token, &fat_batch(tag, n));
        match status {
            201 => {
                for r in v["results"].as_array().unwrap() {
                    acked.push((
                        r["index"].as_u64().unwrap(),
                        r["event_id"].as_str().unwrap().to_string(),
                        r["leaf_hash"].as_str().unwrap().to_string(),
                    ));
                }
            }
            503 => return (acked, v),
            other => panic!("filling: unexpected {other} {v}"),
        }
    }
    panic!("the disk never filled up");
}

/// Every acknowledged event is at its index with its id and leaf hash; the checkpoint
/// covers the tree.
fn check_acked(url: &str, acked: &[(u64, String, String)]) {
    for (i, id, leaf) in acked {
        let (s, v) = get(&format!("{url}/v1/events/{i}"));
        assert_eq!(s, 200, "acknowledged event {i} is readable");
        assert_eq!(v["event_id"].as_str(), Some(id.as_str()), "event {i}");
        assert_eq!(v["leaf_hash"].as_str(), Some(leaf.as_str()), "event {i}");
    }
}

fn wait_checkpoint_covers_tree(url: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, h) = get(&format!("{url}/healthz"));
        if h["tree_size"] == h["checkpoint_size"] {
            return h["tree_size"].as_u64().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint covers the tree: {h}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes zeros to `path` until the disk is full.
fn fill_file(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    for chunk in [1 << 20, 4096, 1] {
        let zeros = vec![0u8; chunk];
        while f.write_all(&zeros).and_then(|_| f.flush()).is_ok() {}
    }
    let _ = f.sync_all();
}

fn fsck(data: &Path) -> Output {
    tlog().arg("fsck").arg("--dir").arg(data).output().unwrap()
}

fn one_line(o: &Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(e.trim_end().lines().count(), 1, "one line on stderr: {e:?}");
    e.trim().to_string()
}

#[test]
fn full_disk_refuses_with_503_loses_nothing_and_recovers_after_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mnt) = mount_or_skip(tmp.path(), 16, "full_disk_...recovers_after_restart") else {
        return;
    };
    let data = mnt.path.join("data");
    let server = Server::start(&data, &tmp.path().join("serve1.log")).unwrap();
    let token = std::fs::read_to_string(data.join("default.token")).unwrap();
    let token = token.trim();
    let url = server.url.clone();

    let (acked, err) = fill(&url, token, "a");
    assert!(acked.len() >= 50, "something fit before the disk filled");
    assert_eq!(err["error"], "unavailable", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("storage full"),
        "{err}"
    );
    // Still full: still refused, whole; reads and the public API keep working.
    let (s, _) = post(&url, token, &fat_batch("b", 0));
    assert_eq!(s, 503);
    // The health check reports the failing store (503), with the sizes still readable.
    let (s, h) = get(&format!("{url}/healthz"));
    assert_eq!(s, 503, "{h}");
    assert_eq!(h["status"], "storage_failing", "{h}");
    assert_eq!(h["tree_size"].as_u64(), Some(acked.len() as u64), "{h}");
    check_acked(&url, &acked);
    let cp = http()
        .get(format!("{url}/checkpoint"))
        .send()
        .unwrap()
        .status();
    assert_eq!(cp.as_u16(), 200);

    // Space comes back while the server runs.
    mnt.remount("size=64m");
    let (s, v) = post(&url, token, &fat_batch("c", 0));
    let recovered_live = s == 201;
    eprintln!(
        "after space returned, without a restart: {s} {}",
        if recovered_live {
            "(appends work again)".to_string()
        } else {
            v.to_string()
        }
    );
    assert!(s == 201 || s == 503, "{s} {v}");
    let status = server.terminate();
    assert!(status.success(), "graceful stop with space back: {status}");

    // Restarted: every acknowledged event is there, appends work, the folder checks.
    let server = Server::start(&data, &tmp.path().join("serve2.log")).unwrap();
    check_acked(&server.url, &acked);
    let (s, v) = post(&server.url, token, &fat_batch("d", 0));
    assert_eq!(s, 201, "appends work after a restart: {v}");
    let size = wait_checkpoint_covers_tree(&server.url);
    assert!(size >= acked.len() as u64 + 50);
    assert!(server.terminate().success());
    let o = fsck(&data);
    assert!(
        o.status.success(),
        "fsck: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn sigterm_on_a_full_disk_exits_and_a_restart_needs_space() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mnt) = mount_or_skip(tmp.path(), 16, "sigterm_on_a_full_disk...") else {
        return;
    };
    let data = mnt.path.join("data");
    // What the operator will free later: a restart replays the write-ahead log and flushes
    // it to a table file, which needs about as much space again as the data acknowledged
    // since the last flush.
    let ballast = mnt.path.join("ballast");
    std::fs::write(&ballast, vec![0u8; 8 << 20]).unwrap();
    let server = Server::start(&data, &tmp.path().join("serve1.log")).unwrap();
    let token = std::fs::read_to_string(data.join("default.token")).unwrap();
    let token = token.trim().to_string();
    let (acked, _) = fill(&server.url, &token, "a");

    // The mirror cannot be written either: shutting down must still end, not retry for
    // ever; whatever is missing from the mirror is rebuilt at the next start.
    let status = server.terminate();
    let log = std::fs::read_to_string(tmp.path().join("serve1.log")).unwrap();
    eprintln!(
        "SIGTERM on a full disk: {status}; last stderr line: {}",
        log.lines().last().unwrap_or_default()
    );
    assert!(
        status.success() || status.code() == Some(1),
        "{status}: {log}"
    );

    // Closing RocksDB gives back the space it had preallocated for its write-ahead log:
    // take it, so that the disk is really full again.
    let filler = mnt.path.join("filler");
    fill_file(&filler);
    // Full: the CLI and the server refuse to start, with one line each.
    let o = tlog()
        .arg("append")
        .arg("--dir")
        .arg(&data)
        .args(["--type", "X"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let line = one_line(&o);
    assert!(line.contains("No space left"), "{line}");
    match Server::start(&data, &tmp.path().join("serve2.log")) {
        Err((code, err)) => {
            assert_eq!(code, Some(1), "{err}");
            assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
            assert!(err.contains("No space left"), "{err}");
        }
        Ok(_) => panic!("tlog serve started on a full disk"),
    }

    // Space back: everything acknowledged is there and the mirror is complete again.
    std::fs::remove_file(&filler).unwrap();
    std::fs::remove_file(&ballast).unwrap();
    let server = Server::start(&data, &tmp.path().join("serve3.log")).unwrap();
    check_acked(&server.url, &acked);
    let (s, v) = post(&server.url, &token, &fat_batch("b", 0));
    assert_eq!(s, 201, "{v}");
    let size = wait_checkpoint_covers_tree(&server.url);
    assert!(server.terminate().success());
    let mirror = std::fs::read_to_string(data.join("audit_trail.jsonl")).unwrap();
    assert_eq!(mirror.lines().count() as u64, size, "the mirror caught up");
    let o = fsck(&data);
    assert!(
        o.status.success(),
        "fsck: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn read_only_data_folder_gets_one_line_errors_and_stays_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mnt) = mount_or_skip(tmp.path(), 32, "read_only_data_folder...") else {
        return;
    };
    let data = mnt.path.join("data");
    let run = |args: &[&str]| tlog().args(args).arg("--dir").arg(&data).output().unwrap();
    assert!(run(&["init", "--origin", "ro.test/log"]).status.success());
    for i in 0..3 {
        let o = run(&[
            "append",
            "--type",
            "Evaluation",
            "--details",
            &format!("{{\"i\":{i}}}"),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let before = run(&["show", "2", "--json"]);
    assert!(before.status.success());

    mnt.remount("ro");
    let o = run(&["append", "--type", "Evaluation"]);
    assert_eq!(o.status.code(), Some(1));
    let line = one_line(&o);
    assert!(line.to_lowercase().contains("read-only"), "{line}");
    match Server::start(&data, &tmp.path().join("serve.log")) {
        Err((code, err)) => {
            assert_eq!(code, Some(1), "{err}");
            assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
            assert!(err.to_lowercase().contains("read-only"), "{err}");
        }
        Ok(_) => panic!("tlog serve started on a read-only folder"),
    }
    // Reading needs RocksDB to open its folder for writing too: say what happens.
    let o = run(&["show", "2", "--json"]);
    eprintln!(
        "tlog show on a read-only folder: exit {:?} {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).trim()
    );
    if !o.status.success() {
        one_line(&o);
    }

    mnt.remount("rw");
    let after = run(&["show", "2", "--json"]);
    assert_eq!(after.stdout, before.stdout, "nothing changed");
    let o = run(&["append", "--type", "Evaluation"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = fsck(&data);
    assert!(
        o.status.success(),
        "fsck: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}
