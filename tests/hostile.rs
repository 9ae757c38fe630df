//! The hostile-input corpus (issue #8): a table of malicious or broken inputs sent to the
//! real `tlog serve` and `tlog witness serve` processes on 127.0.0.1 (byte for byte, on raw
//! sockets) and to the `tlog` CLI on a real data folder.
//!
//! For every case: a clear 4xx (a JSON `{"error","message"}` body from the log's API) or a
//! one-line `tlog: ...` error with a non-zero exit, never a panic or a backtrace; the server
//! answers a good request right after; and nothing already stored changes (the checkpoint,
//! the tree size, stored events and tiles, the witness's state file, the data folder's
//! events and mirror are compared before and after).
//!
//! Slow clients: the servers run with short header and body timeouts
//! (`--header-timeout-ms`, `--body-timeout-ms`) so that slowloris-style clients are cut off
//! quickly; while they trickle, good requests are answered.

#![cfg(feature = "server")]

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use llm_audit_trail::core::checkpoint::{sign_checkpoint, Checkpoint};
use llm_audit_trail::core::hash::{leaf_hash, sha256, Hash};
use llm_audit_trail::core::merkle::MemoryHashStore;
use llm_audit_trail::core::note::Ed25519Signer;
use llm_audit_trail::core::proof::prove_consistency;
use llm_audit_trail::core::witness::{serialize_add_checkpoint, AddCheckpointRequest};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_tlog");
/// Header and body timeouts given to the servers under test (milliseconds).
const SHORT_TIMEOUT_MS: &str = "1000";

fn tlog() -> Command {
    env(Command::new(BIN))
}

/// `tlog` run with its address space capped at 8 GiB (`ulimit -v`): an input read without a
/// bound makes it fail instead of exhausting the machine's memory.
fn tlog_capped() -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", "ulimit -v 8388608 && exec \"$0\" \"$@\"", BIN]);
    env(c)
}

fn env(mut c: Command) -> Command {
    for var in [
        "AUDIT_LOG_PATH",
        "TLOG_DIR",
        "TLOG_URL",
        "TLOG_TOKEN",
        "TLOG_CONFIG",
    ] {
        c.env_remove(var);
    }
    c.env_remove("RUST_BACKTRACE").env("TLOG_LOG", "warn");
    c
}

fn run_ok(args: &[&str]) -> String {
    let o = tlog().args(args).stdin(Stdio::null()).output().unwrap();
    assert!(
        o.status.success(),
        "tlog {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A deterministic pseudo-random byte stream (xorshift64*), for garbage inputs.
fn garbage(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// Returns `Err(message)` from the enclosing function unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Runs `check` on every case and, at the end, fails with every failure (each message cut
/// to 400 characters), so that one run shows all of them.
fn run_all<T>(
    cases: &[T],
    name: impl Fn(&T) -> &str,
    mut check: impl FnMut(&T) -> Result<(), String>,
) {
    println!("{} cases", cases.len());
    let mut failed = Vec::new();
    for c in cases {
        if let Err(e) = check(c) {
            let e: String = e.chars().take(400).collect();
            failed.push(format!("- {}: {e}", name(c)));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

/// Every `step`-th proper prefix of `bytes` (always including the empty one and the last).
fn prefixes(bytes: &[u8], step: usize) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = (0..bytes.len()).step_by(step.max(1)).collect();
    cuts.push(bytes.len() - 1);
    cuts.dedup();
    cuts.into_iter().map(|n| bytes[..n].to_vec()).collect()
}

/// A signed note made of `note` plus `n` extra (well-formed, unverifiable) signature lines.
fn with_extra_signatures(note: &[u8], n: usize) -> Vec<u8> {
    let mut out = note.to_vec();
    for i in 0..n {
        let sig = B64.encode(garbage(i as u64 + 7, 68));
        out.extend_from_slice(format!("\u{2014} fake.example/k{i} {sig}\n").as_bytes());
    }
    out
}

/// `note` (a signed checkpoint) with its tree size line replaced by `size`.
fn with_size_line(note: &[u8], size: &str) -> Vec<u8> {
    let text = String::from_utf8(note.to_vec()).unwrap();
    let mut lines: Vec<&str> = text.split('\n').collect();
    lines[1] = size;
    lines.join("\n").into_bytes()
}

/// `note` with the base64 of its first signature line replaced by `bad`.
fn with_bad_signature(note: &[u8], bad: &str) -> Vec<u8> {
    let text = String::from_utf8(note.to_vec()).unwrap();
    let (body, sigs) = text.split_once("\n\n").unwrap();
    let first = sigs.lines().next().unwrap();
    let (head, _) = first.rsplit_once(' ').unwrap();
    format!("{body}\n\n{head} {bad}\n").into_bytes()
}

// ---------------------------------------------------------------------------------------
// Servers as child processes, and a raw HTTP/1.1 client.

/// A `tlog` server process, killed on drop; its stderr goes to a file checked for panics.
struct Served {
    child: Child,
    addr: String,
    stderr: PathBuf,
}

impl Served {
    fn start(args: &[&str], stderr: PathBuf) -> Served {
        let mut child = tlog()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("a first line").unwrap();
        let addr = first
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .trim_end_matches('/')
            .to_string();
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Served {
            child,
            addr,
            stderr,
        }
    }

    /// Panics if the process died or printed a panic or backtrace.
    fn assert_alive_and_clean(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the server exited: {}",
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        );
        let err = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "the server panicked: {err}"
        );
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response; `status` 0 means the server closed without answering.
#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn parse_reply(raw: &[u8]) -> Reply {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Reply {
            status: 0,
            head: String::from_utf8_lossy(raw).into_owned(),
            body: Vec::new(),
        };
    };
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut reply = Reply {
        status,
        head,
        body: raw[end + 4..].to_vec(),
    };
    if reply
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        let mut out = Vec::new();
        let mut rest = &reply.body[..];
        while let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap().trim(), 16)
                .unwrap();
            if size == 0 || rest.len() < nl + 2 + size {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + size]);
            rest = &rest[nl + 4 + size..];
        }
        reply.body = out;
    }
    reply
}

/// Reads until EOF (a reset counts as EOF); a read timeout fails the test.
fn read_all(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return buf,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading the response: {e} (after {} bytes)", buf.len()),
        }
    }
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    // Only a guard against a hung test; every exchange here finishes far sooner.
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}

/// Sends `request` (from another thread, as the server may answer before reading it all)
/// and reads the whole response of a `Connection: close` exchange.
fn exchange(addr: &str, request: Vec<u8>) -> Reply {
    let mut s = connect(addr);
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&request);
    });
    let raw = read_all(&mut s);
    let _ = writer.join();
    parse_reply(&raw)
}

/// An HTTP/1.1 request with `Connection: close`; the path is raw bytes.
fn request(method: &str, path: &[u8], headers: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(method.as_bytes());
    r.push(b' ');
    r.extend_from_slice(path);
    r.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.extend_from_slice(k.as_bytes());
        r.extend_from_slice(b": ");
        r.extend_from_slice(v);
        r.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || method == "POST" {
        r.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    r
}

fn get(addr: &str, path: &str) -> Reply {
    exchange(addr, request("GET", path.as_bytes(), &[], b""))
}

// ---------------------------------------------------------------------------------------
// The log server.

struct LogServer {
    served: Served,
    token: String,
    admin: String,
    _tmp: tempfile::TempDir,
}

/// What must not change: tree size, checkpoint, two events, two tiles, an inclusion proof.
#[derive(Debug, PartialEq)]
struct LogSnapshot {
    healthz: Vec<u8>,
    checkpoint: Vec<u8>,
    first: Vec<u8>,
    last: Vec<u8>,
    entries: Vec<u8>,
    hashes: Vec<u8>,
    proof: Vec<u8>,
}

const SEEDED: u64 = 3;

impl LogServer {
    fn start() -> LogServer {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let d = dir.to_str().unwrap();
        run_ok(&["init", "--dir", d, "--origin", "hostile.example/log"]);
        let token = run_ok(&["token", "create", "--dir", d, "--name", "hostile"])
            .trim()
            .to_string();
        let admin = run_ok(&["token", "create", "--dir", d, "--name", "boss", "--admin"])
            .trim()
            .to_string();
        let served = Served::start(
            &[
                "serve",
                "--dir",
                d,
                "--listen",
                "127.0.0.1:0",
                "--checkpoint-interval-ms",
                "20",
                "--header-timeout-ms",
                SHORT_TIMEOUT_MS,
                "--body-timeout-ms",
                SHORT_TIMEOUT_MS,
            ],
            tmp.path().join("serve.stderr"),
        );
        let srv = LogServer {
            served,
            token,
            admin,
            _tmp: tmp,
        };
        // One request, so that the only checkpoints are at sizes 0 and SEEDED.
        let seed: Vec<String> = (0..SEEDED)
            .map(|i| {
                format!(
                    r#"{{"event_type":"Seed","model_id":"m","details":{{"i":{i},"s":"é\u00e9"}}}}"#
                )
            })
            .collect();
        let r = srv.post(format!("[{}]", seed.join(",")).as_bytes());
        assert_eq!(r.status, 201, "{}", r.text());
        srv.wait_for_checkpoint(SEEDED);
        srv
    }

    fn addr(&self) -> &str {
        &self.served.addr
    }

    fn post_request(&self, body: &[u8]) -> Vec<u8> {
        let auth = format!("Bearer {}", self.token);
        request(
            "POST",
            b"/v1/events",
            &[
                ("Authorization", auth.as_bytes()),
                ("Content-Type", b"application/json"),
            ],
            body,
        )
    }

    fn post(&self, body: &[u8]) -> Reply {
        exchange(self.addr(), self.post_request(body))
    }

    fn healthz(&self) -> Value {
        let r = get(self.addr(), "/healthz");
        assert_eq!(r.status, 200, "{}", r.text());
        serde_json::from_slice(&r.body).unwrap()
    }

    /// Polls /healthz until a checkpoint covers `size` leaves (a bounded number of polls).
    fn wait_for_checkpoint(&self, size: u64) {
        for _ in 0..1000 {
            if self.healthz()["checkpoint_size"] == json!(size) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no checkpoint at size {size}: {}", self.healthz());
    }

    fn snapshot(&self) -> LogSnapshot {
        let ok = |path: &str| {
            let r = get(self.addr(), path);
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            r.body
        };
        LogSnapshot {
            healthz: ok("/healthz"),
            checkpoint: ok("/checkpoint"),
            first: ok("/v1/events/0"),
            last: ok(&format!("/v1/events/{}", SEEDED - 1)),
            entries: ok(&format!("/tile/entries/000.p/{SEEDED}")),
            hashes: ok(&format!("/tile/0/000.p/{SEEDED}")),
            proof: ok("/v1/proof/inclusion?index=1"),
        }
    }
}

/// How a case's answer must look besides its status.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Shape {
    /// Our API's JSON error body `{"error": code, "message": text}`.
    Json,
    /// Refused by the HTTP layer before any handler: any body (often none).
    Protocol,
}

struct HttpCase {
    name: String,
    request: Vec<u8>,
    status: u16,
    shape: Shape,
}

fn case(name: impl Into<String>, request: Vec<u8>, status: u16, shape: Shape) -> HttpCase {
    HttpCase {
        name: name.into(),
        request,
        status,
        shape,
    }
}

fn log_server_cases(srv: &LogServer) -> Vec<HttpCase> {
    use Shape::{Json, Protocol};
    let mut cases = Vec::new();
    let post =
        |name: &str, body: &[u8], status: u16| case(name, srv.post_request(body), status, Json);

    // Malformed and truncated JSON: every prefix of a valid event.
    let good = br#"{"event_type":"Evaluation","model_id":"m","details":{"acc":0.91,"tags":["a","b"],"n":null,"ok":true}}"#;
    for (i, p) in prefixes(good, 3).into_iter().enumerate() {
        cases.push(post(&format!("truncated JSON #{i}"), &p, 400));
    }
    for (name, body) in [
        ("trailing garbage", &br#"{"event_type":"A"} x"#[..]),
        ("two documents", br#"{"event_type":"A"}{"event_type":"B"}"#),
        ("single quotes", br#"{'event_type':'A'}"#),
        ("trailing comma", br#"{"event_type":"A",}"#),
        ("comment", br#"{"event_type":"A"/* hi */}"#),
        ("unquoted key", br#"{event_type:"A"}"#),
        ("bare word", b"event"),
        (
            "lone surrogate escape",
            br#"{"event_type":"A","details":"\ud800"}"#,
        ),
        ("bad escape", br#"{"event_type":"A","details":"\x41"}"#),
        (
            "raw control character",
            b"{\"event_type\":\"A\",\"details\":\"a\x01b\"}",
        ),
        ("NUL byte", b"{\"event_type\":\"A\"}\x00"),
        (
            "UTF-8 byte order mark",
            b"\xef\xbb\xbf{\"event_type\":\"A\"}",
        ),
        ("leading zero", br#"{"event_type":"A","details":{"n":01}}"#),
        ("plus sign", br#"{"event_type":"A","details":{"n":+1}}"#),
        ("hex number", br#"{"event_type":"A","details":{"n":0x10}}"#),
        (
            "4301-digit integer",
            format!(r#"{{"event_type":"A","details":{}}}"#, "9".repeat(4301)).as_bytes(),
        ),
        // Invalid UTF-8: a stray continuation byte, an overlong '/', a UTF-16 surrogate,
        // a truncated sequence, and a code point beyond U+10FFFF.
        (
            "invalid UTF-8: stray byte",
            b"{\"event_type\":\"A\",\"details\":\"\x80\"}",
        ),
        (
            "invalid UTF-8: overlong",
            b"{\"event_type\":\"A\",\"details\":\"\xc0\xaf\"}",
        ),
        (
            "invalid UTF-8: surrogate",
            b"{\"event_type\":\"A\",\"details\":\"\xed\xa0\x80\"}",
        ),
        (
            "invalid UTF-8: truncated",
            b"{\"event_type\":\"A\",\"details\":\"\xe2\x82\"}",
        ),
        (
            "invalid UTF-8: beyond U+10FFFF",
            b"{\"event_type\":\"A\",\"details\":\"\xf4\x90\x80\x80\"}",
        ),
        (
            "invalid UTF-8 in a key",
            b"{\"event_type\":\"A\",\"details\":{\"\xff\":1}}",
        ),
        // NaN and the infinities, bare and as Python writes them.
        ("NaN", br#"{"event_type":"A","details":NaN}"#),
        (
            "Infinity",
            br#"{"event_type":"A","details":{"x":Infinity}}"#,
        ),
        ("-Infinity", br#"{"event_type":"A","details":[-Infinity]}"#),
        ("nan", br#"{"event_type":"A","details":nan}"#),
        ("inf", br#"{"event_type":"A","details":inf}"#),
        // Floats that overflow to infinity are non-finite too.
        (
            "float overflow 1e400",
            br#"{"event_type":"A","details":1e400}"#,
        ),
        (
            "float overflow -1e400",
            br#"{"event_type":"A","details":{"x":-1e400}}"#,
        ),
        // Duplicate keys, at the top and nested.
        (
            "duplicate top-level key",
            br#"{"event_type":"A","model_id":"m","model_id":"n"}"#,
        ),
        (
            "duplicate nested key",
            br#"{"event_type":"A","details":{"a":1,"b":2,"a":3}}"#,
        ),
        (
            "duplicate key in an array item",
            br#"[{"event_type":"A"},{"event_type":"B","event_type":"C"}]"#,
        ),
        ("not an event: string", br#""event""#),
        ("not an event: null", b"null"),
        ("not an event: empty array", b"[]"),
        ("empty body", b""),
        ("whitespace body", b" \r\n\t "),
    ] {
        cases.push(post(name, body, 400));
    }
    // Deeply nested details: just past the parser's limit (128), and far past it.
    for (name, depth) in [
        ("nesting 128", 127),
        ("nesting 129", 128),
        ("nesting 100000", 100_000),
    ] {
        let body = format!(
            r#"{{"event_type":"A","details":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        cases.push(post(
            name,
            body.as_bytes(),
            if depth <= 127 { 422 } else { 400 },
        ));
    }
    let objs = format!(
        r#"{{"event_type":"A","details":{}1{}}}"#,
        r#"{"a":"#.repeat(50_000),
        "}".repeat(50_000)
    );
    cases.push(post("50000 nested objects", objs.as_bytes(), 400));
    let unclosed = format!(r#"{{"event_type":"A","details":{}"#, "[".repeat(1_000_000));
    cases.push(post(
        "a million unclosed brackets",
        unclosed.as_bytes(),
        400,
    ));
    // Wrong types, missing and unknown fields.
    for (name, body) in [
        ("event_type number", &br#"{"event_type":7}"#[..]),
        ("event_type null", br#"{"event_type":null}"#),
        ("event_type array", br#"{"event_type":["A"]}"#),
        ("event_type object", br#"{"event_type":{"a":"A"}}"#),
        ("event_type empty", br#"{"event_type":""}"#),
        ("event_type with a space", br#"{"event_type":"a b"}"#),
        ("event_type with a newline", br#"{"event_type":"a\nb"}"#),
        ("model_id number", br#"{"event_type":"A","model_id":1}"#),
        ("model_id bool", br#"{"event_type":"A","model_id":true}"#),
        (
            "actor control character",
            br#"{"event_type":"A","actor":"a\u0007"}"#,
        ),
        ("event_id object", br#"{"event_type":"A","event_id":{}}"#),
        ("event_id slash", br#"{"event_type":"A","event_id":"../x"}"#),
        (
            "event_id of digits only (reads as an index)",
            br#"{"event_type":"A","event_id":"12345"}"#,
        ),
        (
            "timestamp number",
            br#"{"event_type":"A","timestamp":1700000000}"#,
        ),
        (
            "timestamp garbage",
            br#"{"event_type":"A","timestamp":"2024-13-45T99:99:99Z"}"#,
        ),
        (
            "timestamp year 0",
            br#"{"event_type":"A","timestamp":"0000-01-01T00:00:00Z"}"#,
        ),
        (
            "timestamp year 99999",
            br#"{"event_type":"A","timestamp":"99999-01-01T00:00:00Z"}"#,
        ),
        (
            "submitter is set by the server",
            br#"{"event_type":"A","submitter":"root"}"#,
        ),
        ("missing event_type", br#"{"model_id":"m"}"#),
        ("unknown field", br#"{"event_type":"A","evil":1}"#),
        (
            "integer beyond 64 bits",
            br#"{"event_type":"A","details":123456789012345678901234567890}"#,
        ),
        (
            "negative integer beyond 64 bits",
            br#"{"event_type":"A","details":-18446744073709551617}"#,
        ),
        (
            "array with one bad event",
            br#"[{"event_type":"A"},{"event_type":7}]"#,
        ),
        ("not an event: nested array", br#"[[{"event_type":"A"}]]"#),
    ] {
        cases.push(post(name, body, 422));
    }
    // Huge strings and many members.
    let big = |field: &str, n: usize| {
        let value = "x".repeat(n);
        if field == "event_type" {
            format!(r#"{{"event_type":"{value}"}}"#).into_bytes()
        } else {
            format!(r#"{{"event_type":"A","{field}":"{value}"}}"#).into_bytes()
        }
    };
    cases.push(post(
        "event_type of 1 MiB",
        &big("event_type", 1 << 20),
        422,
    ));
    cases.push(post("model_id of 1 MiB", &big("model_id", 1 << 20), 422));
    cases.push(post("event_id of 129 bytes", &big("event_id", 129), 422));
    cases.push(post("actor of 257 bytes", &big("actor", 257), 422));
    let huge_details = format!(
        r#"{{"event_type":"A","details":"{}"}}"#,
        "x".repeat(3 << 20)
    );
    // Within the 4 MiB body limit but over the event body limit (256 KiB): 422.
    cases.push(post(
        "details string of 3 MiB",
        huge_details.as_bytes(),
        422,
    ));
    let huge_key = format!(
        r#"{{"event_type":"A","details":{{"{}":1}}}}"#,
        "k".repeat(3 << 20)
    );
    cases.push(post("details key of 3 MiB", huge_key.as_bytes(), 422));
    let many: String = (0..100_000).map(|i| format!(r#""k{i}":{i},"#)).collect();
    let many = format!(r#"{{"event_type":"A","details":{{{}"end":0}}}}"#, many);
    cases.push(post("details with 100001 members", many.as_bytes(), 422));
    let escapes = format!(
        r#"{{"event_type":"A","details":"{}"}}"#,
        r"\u0041".repeat(600_000)
    );
    cases.push(post("3.6 MB of escapes", escapes.as_bytes(), 422));
    let mut many_events: Vec<u8> = b"[".to_vec();
    for i in 0..1000 {
        many_events.extend_from_slice(
            format!(
                r#"{{"event_type":"A","details":"{}"}},"#,
                "y".repeat(4000 + i)
            )
            .as_bytes(),
        );
    }
    many_events.pop();
    many_events.push(b']');
    cases.push(post("1000 events, 4.5 MB", &many_events, 413));

    // The body's framing.
    let auth = format!("Bearer {}", srv.token);
    let auth = auth.as_bytes();
    let mut declared_huge = request(
        "POST",
        b"/v1/events",
        &[("Authorization", auth), ("Content-Length", b"5242880")],
        b"",
    );
    // request() added "Content-Length: 0" for POST; keep only the declared one.
    declared_huge = String::from_utf8(declared_huge)
        .unwrap()
        .replace("Content-Length: 0\r\n", "")
        .into_bytes();
    declared_huge.extend_from_slice(&[b'['; 1024]);
    cases.push(case("declared body of 5 MiB", declared_huge, 413, Json));
    let chunked = |chunks: &[u8]| {
        let mut r = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nAuthorization: "
            .to_vec();
        r.extend_from_slice(auth);
        r.extend_from_slice(b"\r\n\r\n");
        r.extend_from_slice(chunks);
        r
    };
    cases.push(case(
        "bad chunk size",
        chunked(b"zz\r\n{}\r\n0\r\n\r\n"),
        400,
        Json,
    ));
    // A body that stops coming: the body deadline answers 408.
    cases.push(case(
        "chunked body cut short",
        chunked(b"100\r\n{\"event_type\":"),
        408,
        Json,
    ));
    let short = String::from_utf8(srv.post_request(br#"{"event_type":"A"}"#))
        .unwrap()
        .replace("Content-Length: 18", "Content-Length: 1000")
        .into_bytes();
    cases.push(case("Content-Length 1000, 18 bytes sent", short, 408, Json));
    let mut big_chunks = Vec::new();
    for _ in 0..5 {
        big_chunks.extend_from_slice(format!("{:x}\r\n", 1 << 20).as_bytes());
        big_chunks.extend_from_slice(&vec![b' '; 1 << 20]);
        big_chunks.extend_from_slice(b"\r\n");
    }
    big_chunks.extend_from_slice(b"0\r\n\r\n");
    cases.push(case("5 MiB of chunks", chunked(&big_chunks), 413, Json));
    cases.push(case(
        "Content-Length and chunked",
        {
            let mut r = chunked(b"0\r\n\r\n");
            let at = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            r.splice(at..at, b"\r\nContent-Length: 5".iter().copied());
            r
        },
        400,
        Protocol,
    ));
    cases.push(case(
        "two Content-Lengths",
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".to_vec(),
        400,
        Protocol,
    ));
    cases.push(case(
        "negative Content-Length",
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: -1\r\n\r\n"
            .to_vec(),
        400,
        Protocol,
    ));
    cases.push(case(
        "Content-Length beyond u64",
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 99999999999999999999999\r\n\r\n".to_vec(),
        400,
        Protocol,
    ));

    // Authorization.
    let unauth = |name: &str, value: &[u8]| {
        case(
            name,
            request(
                "POST",
                b"/v1/events",
                &[("Authorization", value)],
                br#"{"event_type":"A"}"#,
            ),
            401,
            Json,
        )
    };
    cases.push(case(
        "no token",
        request("POST", b"/v1/events", &[], br#"{"event_type":"A"}"#),
        401,
        Json,
    ));
    cases.push(unauth("unknown token", b"Bearer tlog_nope"));
    cases.push(unauth("empty token", b"Bearer "));
    cases.push(unauth("Basic scheme", b"Basic dXNlcjpwYXNz"));
    cases.push(unauth("token with invalid UTF-8", b"Bearer \xff\xfe"));
    cases.push(unauth(
        "token of 8 KiB",
        format!("Bearer {}", "t".repeat(8192)).as_bytes(),
    ));
    let truncated_token = format!("Bearer {}", &srv.token[..srv.token.len() - 1]);
    cases.push(unauth(
        "token minus its last character",
        truncated_token.as_bytes(),
    ));
    let mut bad_query = srv.post_request(br#"{"event_type":"A"}"#);
    let at = bad_query.iter().position(|&b| b == b' ').unwrap() + "/v1/events".len() + 1;
    bad_query.splice(at..at, b"?wait=forever".iter().copied());
    cases.push(case("wait=forever", bad_query, 400, Json));

    // Erasure (admin tokens only): bad requests erase nothing.
    let admin = format!("Bearer {}", srv.admin);
    let erase = |name: &str, path: &str, token: Option<&str>, body: &[u8], status: u16| {
        let headers: Vec<(&str, &[u8])> = token
            .map(|t| vec![("Authorization", t.as_bytes())])
            .unwrap_or_default();
        case(
            format!("erase: {name}"),
            request("POST", path.as_bytes(), &headers, body),
            status,
            Json,
        )
    };
    let writer = format!("Bearer {}", srv.token);
    let reason = br#"{"reason":"hostile test"}"#;
    for (name, path, token, body, status) in [
        ("no token", "/v1/events/0/erase", None, &reason[..], 401),
        (
            "a write token",
            "/v1/events/0/erase",
            Some(writer.as_str()),
            reason,
            403,
        ),
        (
            "malformed JSON",
            "/v1/events/0/erase",
            Some(&admin),
            br#"{"reason":"#,
            400,
        ),
        (
            "NaN",
            "/v1/events/0/erase",
            Some(&admin),
            br#"{"reason":NaN}"#,
            400,
        ),
        (
            "duplicate key",
            "/v1/events/0/erase",
            Some(&admin),
            br#"{"reason":"a","reason":"b"}"#,
            400,
        ),
        (
            "invalid UTF-8",
            "/v1/events/0/erase",
            Some(&admin),
            b"{\"reason\":\"\xff\"}",
            400,
        ),
        ("no reason", "/v1/events/0/erase", Some(&admin), b"{}", 422),
        (
            "reason a number",
            "/v1/events/0/erase",
            Some(&admin),
            br#"{"reason":7}"#,
            422,
        ),
        (
            "unknown field",
            "/v1/events/0/erase",
            Some(&admin),
            br#"{"reason":"a","evil":1}"#,
            422,
        ),
        (
            "beyond the tree",
            "/v1/events/3/erase",
            Some(&admin),
            reason,
            404,
        ),
        (
            "index 2^64",
            "/v1/events/18446744073709551616/erase",
            Some(&admin),
            reason,
            400,
        ),
        ("index -1", "/v1/events/-1/erase", Some(&admin), reason, 404),
    ] {
        cases.push(erase(name, path, token, body, status));
    }
    let long_reason = format!(r#"{{"reason":"{}"}}"#, "r".repeat(20_000));
    cases.push(erase(
        "a body over 16 KiB",
        "/v1/events/0/erase",
        Some(&admin),
        long_reason.as_bytes(),
        413,
    ));
    cases.push(case(
        "erase: GET",
        request("GET", b"/v1/events/0/erase", &[], b""),
        405,
        Json,
    ));

    // Reads: negative, huge, malformed indexes; sizes beyond the tree.
    for (path, status) in [
        ("/v1/events/-1", 404),
        ("/v1/events/18446744073709551615", 404),
        ("/v1/events/18446744073709551616", 400),
        ("/v1/events/99999999999999999999999999999999", 400),
        ("/v1/events/00000000000000000000000000000000000000003", 404),
        ("/v1/events/3", 404),
        ("/v1/events/%2e%2e", 404),
        ("/v1/events/..%2f..%2fetc%2fpasswd", 404),
        ("/v1/events/%ff", 400),
        ("/v1/events/%", 404),
        ("/v1/proof/inclusion?index=-1", 400),
        ("/v1/proof/inclusion?index=18446744073709551616", 400),
        ("/v1/proof/inclusion?index=18446744073709551615", 404),
        ("/v1/proof/inclusion?index=3", 404),
        ("/v1/proof/inclusion?index=0&size=4", 400),
        ("/v1/proof/inclusion?index=0&size=18446744073709551615", 400),
        ("/v1/proof/inclusion?index=0&size=-3", 400),
        ("/v1/proof/inclusion?index=1e2", 400),
        ("/v1/proof/inclusion?index=0x1", 400),
        ("/v1/proof/inclusion?index=", 400),
        ("/v1/proof/inclusion?index=0&event_id=x", 400),
        ("/v1/proof/inclusion?leaf_hash=%ff", 400),
        ("/v1/proof/inclusion?leaf_hash=00", 400),
        ("/v1/proof/inclusion?event_id=..%2F..%2Fx", 404),
        ("/v1/proof/consistency?from=0", 400),
        ("/v1/proof/consistency?from=-1", 400),
        ("/v1/proof/consistency?from=4", 400),
        ("/v1/proof/consistency?from=1&to=4", 400),
        ("/v1/proof/consistency?from=2&to=1", 404),
        ("/v1/proof/consistency?from=3&to=2", 404),
        ("/v1/proof/consistency?from=4&to=3", 400),
        ("/v1/proof/consistency?from=1&to=18446744073709551616", 400),
        ("/v1/proof/consistency?from=18446744073709551615", 400),
        ("/v1/bundle/3", 404),
        ("/v1/bundle/0?size=4", 400),
        ("/v1/bundle/0?size=18446744073709551616", 400),
        ("/v1/bundle/-1", 404),
        ("/v1/events?limit=0", 400),
        ("/v1/events?limit=1001", 400),
        ("/v1/events?limit=18446744073709551616", 400),
        ("/v1/events?after=-1", 400),
        ("/v1/events?after=abc", 400),
        ("/v1/events?model_id=m&evil=1", 400),
        // Tiles: widths 0 and 256, overlong or non-canonical numbers, traversal.
        ("/tile/0/000.p/0", 400),
        ("/tile/0/000.p/256", 400),
        ("/tile/0/000.p/4", 404),
        ("/tile/0/000.p/0004", 400),
        ("/tile/0/000.p/-1", 400),
        ("/tile/0/000.p/18446744073709551616", 400),
        ("/tile/entries/000.p/0", 400),
        ("/tile/entries/000.p/256", 400),
        ("/tile/entries/000.p/4", 404),
        ("/tile/0/001", 404),
        ("/tile/0/0000", 400),
        ("/tile/0/00", 400),
        ("/tile/0/000000000000000000000000000000001", 400),
        ("/tile/00/000", 400),
        ("/tile/-1/000", 400),
        ("/tile/64/000", 400),
        ("/tile/18446744073709551616/000", 400),
        ("/tile/0/x000/000", 400),
        ("/tile/0/x001/x002/x003/x004/x005/x006/x007/x008/000", 400),
        ("/tile/0/x999/x999/x999/x999/x999/x999/999", 400),
        ("/tile/0/x018/x446/x744/x073/x709/x551/615", 400),
        ("/tile/0/x072/x057/x594/x037/x927/934", 404),
        ("/tile/0/x1/000", 400),
        ("/tile/0/000.p", 400),
        ("/tile/0/000.p/", 400),
        ("/tile/0/000/", 400),
        ("/tile/0/", 400),
        ("/tile/entries/", 400),
        ("/tile/entries/abc", 400),
        ("/tile/0/000%00", 400),
        // Percent-encoded digits decode to a well-formed path (RFC 3986: the same URL).
        ("/tile/0/%30%30%30", 404),
        ("/tile/0/%2e%2e/%2e%2e/checkpoint", 400),
        ("/tile/0/..%2f..%2fcheckpoint", 400),
        ("/tile/%2e%2e/checkpoint", 400),
        ("/tile/entries/..%2F..%2F..%2Fetc%2Fpasswd", 400),
        ("/nope", 404),
        ("/v1/nope", 404),
        ("/v2/events", 404),
    ] {
        cases.push(case(
            path,
            request("GET", path.as_bytes(), &[], b""),
            status,
            Json,
        ));
    }
    // Paths a client would normalise, sent byte for byte.
    for path in [
        &b"/tile/../checkpoint"[..],
        b"/tile/0/../../../etc/passwd",
        b"/tile/entries/../../x",
        b"/tile/0/./000",
        b"/tile//0/000",
        b"/tile/0/000/..",
        b"/tile/0/x001/../000",
    ] {
        let name = format!("raw {}", String::from_utf8_lossy(path));
        cases.push(case(name, request("GET", path, &[], b""), 400, Json));
    }
    // Broken request lines and headers: refused by the HTTP parser.
    for (name, raw, status) in [
        (
            "invalid UTF-8 in the path",
            b"GET /tile/0/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            400,
        ),
        (
            "NUL in the path",
            b"GET /tile/0/000\x00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            400,
        ),
        (
            "space in the path",
            b"GET /tile/0 /000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            400,
        ),
        (
            "garbage request line",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(),
            400,
        ),
        (
            "HTTP/9.9",
            b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
            400,
        ),
        (
            "header without a colon",
            b"GET /healthz HTTP/1.1\r\nHost x\r\nConnection: close\r\n\r\n".to_vec(),
            400,
        ),
        (
            "header with NUL",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\nConnection: close\r\n\r\n"
                .to_vec(),
            400,
        ),
        (
            "obsolete line folding",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n"
                .to_vec(),
            400,
        ),
        (
            "URL of 70 KB",
            request(
                "GET",
                format!("/tile/0/{}", "x".repeat(70_000)).as_bytes(),
                &[],
                b"",
            ),
            414,
        ),
        (
            "URL of 1 MiB",
            request(
                "GET",
                format!("/tile/0/{}", "x".repeat(1 << 20)).as_bytes(),
                &[],
                b"",
            ),
            431,
        ),
        (
            "header of 1 MiB",
            request(
                "GET",
                b"/healthz",
                &[("X-Big", "a".repeat(1 << 20).as_bytes())],
                b"",
            ),
            431,
        ),
        (
            "1000 headers",
            {
                let mut r = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".to_vec();
                for i in 0..1000 {
                    r.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
                }
                r.extend_from_slice(b"\r\n");
                r
            },
            431,
        ),
    ] {
        cases.push(case(name, raw, status, Protocol));
    }
    cases.push(case(
        "DELETE an event",
        request("DELETE", b"/v1/events/0", &[("Authorization", auth)], b""),
        405,
        Json,
    ));
    cases.push(case(
        "PUT a tile",
        request("PUT", b"/tile/0/000", &[("Authorization", auth)], b"xx"),
        405,
        Json,
    ));
    cases
}

fn check_http_case(c: &HttpCase, r: &Reply) -> Result<(), String> {
    ensure!(
        r.status == c.status,
        "want {}, got {} {}",
        c.status,
        r.head.lines().next().unwrap_or(""),
        r.text()
    );
    if c.shape == Shape::Json {
        let ct = r.header("content-type").unwrap_or_default();
        ensure!(
            ct == "application/json",
            "content-type {ct:?}: {}",
            r.text()
        );
        let v: Value = serde_json::from_slice(&r.body)
            .map_err(|e| format!("body is not JSON ({e}): {}", r.text()))?;
        ensure!(
            v["error"].is_string() && v["message"].is_string(),
            "not an error body: {v}"
        );
        let message = v["message"].as_str().unwrap_or_default();
        ensure!(
            message.len() < 1024 && !message.contains('\n'),
            "a short one-line message, got {} bytes",
            message.len()
        );
    }
    Ok(())
}

#[test]
fn hostile_http_requests_get_a_clear_4xx_and_change_nothing() {
    let mut srv = LogServer::start();
    let before = srv.snapshot();
    let cases = log_server_cases(&srv);
    assert!(cases.len() > 200, "{} cases", cases.len());
    run_all(
        &cases,
        |c| c.name.as_str(),
        |c| {
            let r = exchange(srv.addr(), c.request.clone());
            check_http_case(c, &r)?;
            // The server is up and the log did not grow.
            let h = srv.healthz();
            ensure!(h["tree_size"] == json!(SEEDED), "the log grew: {h}");
            Ok(())
        },
    );
    srv.served.assert_alive_and_clean();
    assert_eq!(srv.snapshot(), before, "something stored changed");
    // A good request right after all of that.
    let r = srv.post(br#"{"event_type":"After","details":{"ok":true}}"#);
    assert_eq!(r.status, 201, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["index"], json!(SEEDED));
    srv.served.assert_alive_and_clean();
}

/// Writes `parts` to `s` one by one with `pause` between them, stopping at the first
/// error (the server cut the connection).
fn trickle(
    mut s: TcpStream,
    parts: Vec<Vec<u8>>,
    pause: Duration,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut sent = 0;
        for p in parts {
            if s.write_all(&p).is_err() {
                break;
            }
            sent += 1;
            std::thread::sleep(pause);
        }
        sent
    })
}

#[test]
fn slow_clients_are_cut_off_and_do_not_block_others() {
    let mut srv = LogServer::start();
    let before = srv.snapshot();
    let pause = Duration::from_millis(100);
    // 100 trickled parts at 100 ms would take 10 s; the servers' limits are 1 s.
    let n = 100;

    // Slow headers: a request head sent one header line at a time, never finished.
    let mut head_clients = Vec::new();
    for _ in 0..20 {
        let s = connect(srv.addr());
        let mut parts = vec![b"POST /v1/events HTTP/1.1\r\nHost: x\r\n".to_vec()];
        parts.extend((0..n).map(|i| format!("X-Slow-{i}: 1\r\n").into_bytes()));
        let t = trickle(s.try_clone().unwrap(), parts, pause);
        head_clients.push((s, t));
    }
    // Idle connections that never send a byte.
    let idle: Vec<TcpStream> = (0..20).map(|_| connect(srv.addr())).collect();
    // A slow body: a complete head, then the body one byte at a time.
    let body_client = {
        let s = connect(srv.addr());
        let auth = format!("Bearer {}", srv.token);
        let mut head = request(
            "POST",
            b"/v1/events",
            &[("Authorization", auth.as_bytes())],
            b"",
        );
        head = String::from_utf8(head)
            .unwrap()
            .replace("Content-Length: 0", "Content-Length: 200")
            .into_bytes();
        let mut parts = vec![head];
        parts.extend(br#"{"event_type":"Slow","details":"#.iter().map(|b| vec![*b]));
        parts.extend((0..n).map(|_| b" ".to_vec()));
        let t = trickle(s.try_clone().unwrap(), parts, pause);
        (s, t)
    };

    // Meanwhile, good clients are served.
    for i in 0..5 {
        let r = srv.post(format!(r#"{{"event_type":"Fast","details":{{"i":{i}}}}}"#).as_bytes());
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(get(srv.addr(), "/checkpoint").status, 200);
    }

    // The slow body gets 408; slow heads and idle connections are closed unanswered.
    let (mut s, t) = body_client;
    let r = parse_reply(&read_all(&mut s));
    assert_eq!(r.status, 408, "{r:?}");
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["error"], json!("timeout"), "{v}");
    assert!(
        t.join().unwrap() < n,
        "cut off before the body was complete"
    );
    for (mut s, t) in head_clients {
        let raw = read_all(&mut s);
        assert!(
            raw.is_empty() || parse_reply(&raw).status == 408,
            "a slow head is never served: {}",
            String::from_utf8_lossy(&raw)
        );
        assert!(
            t.join().unwrap() < n,
            "cut off before the head was complete"
        );
    }
    for mut s in idle {
        let raw = read_all(&mut s);
        assert!(
            raw.is_empty() || parse_reply(&raw).status == 408,
            "{}",
            String::from_utf8_lossy(&raw)
        );
    }
    srv.served.assert_alive_and_clean();
    // Only the five good events were added.
    srv.wait_for_checkpoint(SEEDED + 5);
    let after = srv.snapshot();
    assert_eq!(after.first, before.first);
    assert_eq!(after.last, before.last);
    let r = srv.post(br#"{"event_type":"After"}"#);
    assert_eq!(r.status, 201, "{}", r.text());
}

// ---------------------------------------------------------------------------------------
// The witness server.

struct WitnessServer {
    served: Served,
    dir: PathBuf,
    log: Ed25519Signer,
    origin: String,
    _tmp: tempfile::TempDir,
}

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

fn add_body(old: u64, proof: Vec<Hash>, note: Vec<u8>) -> Vec<u8> {
    serialize_add_checkpoint(&AddCheckpointRequest {
        old_size: old,
        proof,
        checkpoint: note,
    })
}

fn add_request(body: &[u8]) -> Vec<u8> {
    request("POST", b"/add-checkpoint", &[], body)
}

impl WitnessServer {
    fn start() -> WitnessServer {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("witness");
        let d = dir.to_str().unwrap();
        let origin = "hostile.example/witnessed".to_string();
        let log = Ed25519Signer::from_seed(&origin, &[5u8; 32]).unwrap();
        run_ok(&["witness", "init", "--dir", d, "--name", "hostile.example/w"]);
        run_ok(&["witness", "add-log", "--dir", d, &origin, &log.to_vkey()]);
        let served = Served::start(
            &[
                "witness",
                "serve",
                "--dir",
                d,
                "--listen",
                "127.0.0.1:0",
                "--header-timeout-ms",
                SHORT_TIMEOUT_MS,
                "--body-timeout-ms",
                SHORT_TIMEOUT_MS,
            ],
            tmp.path().join("witness.stderr"),
        );
        let w = WitnessServer {
            served,
            dir,
            log,
            origin,
            _tmp: tmp,
        };
        // A first cosignature at size 5: the state the hostile requests must not change.
        let r = exchange(
            w.addr(),
            add_request(&add_body(0, vec![], w.note(5, tree(5).root()))),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        w
    }

    fn addr(&self) -> &str {
        &self.served.addr
    }

    fn note(&self, size: u64, root: Hash) -> Vec<u8> {
        signed(&self.log, &self.origin, size, root)
    }

    fn checkpoint_path(&self) -> String {
        let hash = sha256(self.origin.as_bytes());
        format!(
            "/{}/checkpoint",
            llm_audit_trail::core::hash::hex_encode(&hash)
        )
    }

    /// The state file's bytes and the served cosigned checkpoint.
    fn snapshot(&self) -> (Vec<u8>, Vec<u8>) {
        let r = get(self.addr(), &self.checkpoint_path());
        assert_eq!(r.status, 200, "{}", r.text());
        (
            std::fs::read(self.dir.join(llm_audit_trail::witness::STATE_FILE)).unwrap(),
            r.body,
        )
    }
}

#[test]
fn hostile_witness_requests_get_a_clear_4xx_and_change_nothing() {
    let mut w = WitnessServer::start();
    let before = w.snapshot();
    let t5 = tree(5);
    let t8 = tree(8);
    let note8 = w.note(8, t8.root());
    let proof = prove_consistency(5, 8, &t8).unwrap();
    let good = add_body(5, proof.clone(), note8.clone());
    let impostor = Ed25519Signer::from_seed(&w.origin, &[6u8; 32]).unwrap();
    let stranger = Ed25519Signer::from_seed("stranger.example/log", &[7u8; 32]).unwrap();

    let mut bodies: Vec<(String, Vec<u8>, u16)> = Vec::new();
    for (i, p) in prefixes(&good, 7).into_iter().enumerate() {
        // A prefix that ends inside the note is a malformed note (400) or, cut right after
        // the blank line, an empty one (400 too).
        bodies.push((format!("truncated request #{i}"), p, 400));
    }
    for seed in 0..20 {
        bodies.push((
            format!("garbage #{seed}"),
            garbage(seed, 64 + 97 * seed as usize),
            400,
        ));
    }
    let b64_line = |s: &str| {
        let mut b = b"old 5\n".to_vec();
        b.extend_from_slice(s.as_bytes());
        b.extend_from_slice(b"\n\n");
        b.extend_from_slice(&note8);
        b
    };
    let hash_b64 = B64.encode(proof[0].as_bytes());
    for (name, line) in [
        ("proof line: not base64", "!!!!".to_string()),
        ("proof line: 31 bytes", B64.encode([1u8; 31])),
        ("proof line: 33 bytes", B64.encode([1u8; 33])),
        (
            "proof line: no padding",
            hash_b64.trim_end_matches('=').to_string(),
        ),
        (
            "proof line: URL-safe alphabet",
            hash_b64.replace('+', "-").replace('/', "_"),
        ),
        ("proof line: trailing space", format!("{hash_b64} ")),
        ("proof line: 1 MiB", "A".repeat(1 << 20)),
    ] {
        bodies.push((
            name.to_string(),
            b64_line(&line),
            if line.len() > 65536 { 413 } else { 400 },
        ));
    }
    let old_line = |old: &str| {
        let mut b = format!("old {old}\n\n").into_bytes();
        b.extend_from_slice(&note8);
        b
    };
    for (name, old) in [
        ("old size -1", "-1"),
        ("old size 18446744073709551616", "18446744073709551616"),
        ("old size with a leading zero", "05"),
        ("old size +5", "+5"),
        ("old size empty", ""),
        ("old size 9 (beyond the checkpoint)", "9"),
    ] {
        bodies.push((name.to_string(), old_line(old), 400));
    }
    let with_note = |note: Vec<u8>| add_body(5, proof.clone(), note);
    bodies.push((
        "101 signatures".into(),
        with_note(with_extra_signatures(&note8, 100)),
        400,
    ));
    bodies.push((
        "5000 signatures (over 64 KiB)".into(),
        with_note(with_extra_signatures(&note8, 5000)),
        413,
    ));
    bodies.push((
        "signature not base64".into(),
        with_note(with_bad_signature(&note8, "%%%%")),
        400,
    ));
    bodies.push((
        "signature of 3 bytes".into(),
        with_note(with_bad_signature(&note8, &B64.encode([1u8; 3]))),
        400,
    ));
    bodies.push((
        "signature flipped".into(),
        with_note({
            let text = String::from_utf8(note8.clone()).unwrap();
            let sig = text.trim_end().rsplit(' ').next().unwrap().to_string();
            let mut raw = B64.decode(&sig).unwrap();
            raw[10] ^= 1;
            with_bad_signature(&note8, &B64.encode(raw))
        }),
        403,
    ));
    bodies.push((
        "no signature".into(),
        with_note(note8.split(|&b| b == 0xe2).next().unwrap().to_vec()),
        400,
    ));
    bodies.push((
        "signed by an impostor".into(),
        with_note(signed(&impostor, &w.origin, 8, t8.root())),
        403,
    ));
    bodies.push((
        "unknown origin".into(),
        add_body(
            0,
            vec![],
            signed(&stranger, "stranger.example/log", 8, t8.root()),
        ),
        404,
    ));
    bodies.push((
        "size beyond u64".into(),
        with_note(with_size_line(&note8, "18446744073709551616")),
        400,
    ));
    bodies.push((
        "invalid UTF-8 in the note".into(),
        with_note({
            let mut n = note8.clone();
            n[3] = 0xff;
            n
        }),
        400,
    ));
    bodies.push((
        "CRLF note".into(),
        with_note(
            String::from_utf8(note8.clone())
                .unwrap()
                .replace('\n', "\r\n")
                .into_bytes(),
        ),
        400,
    ));
    bodies.push((
        "a fork at size 5".into(),
        add_body(5, vec![], w.note(5, tree(6).root())),
        409,
    ));
    bodies.push((
        "a rollback to size 3".into(),
        add_body(5, vec![], w.note(3, tree(3).root())),
        400,
    ));
    bodies.push((
        "a bad proof".into(),
        add_body(
            5,
            {
                let mut p = proof.clone();
                p[0].0[31] ^= 0x80;
                p
            },
            note8.clone(),
        ),
        422,
    ));
    bodies.push((
        "64 proof lines".into(),
        add_body(5, vec![proof[0]; 64], note8.clone()),
        400,
    ));
    bodies.push((
        "huge tree size".into(),
        add_body(5, proof.clone(), w.note(u64::MAX, t5.root())),
        422,
    ));
    bodies.push(("body of 65 KiB".into(), vec![b'o'; 65 << 10], 413));
    let mut cases: Vec<HttpCase> = bodies
        .into_iter()
        .map(|(name, body, status)| case(name, add_request(&body), status, Shape::Protocol))
        .collect();
    let mut declared = b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10485760\r\n\r\n".to_vec();
    declared.extend_from_slice(b"old 5\n");
    cases.push(case(
        "declared body of 10 MiB",
        declared,
        413,
        Shape::Protocol,
    ));
    for (path, status) in [
        ("/ABCDEF/checkpoint", 400),
        ("/../checkpoint", 400),
        (
            "/0000000000000000000000000000000000000000000000000000000000000000/checkpoint",
            404,
        ),
        ("/%2e%2e/checkpoint", 400),
        ("/add-checkpoint", 405),
    ] {
        cases.push(case(
            path,
            request("GET", path.as_bytes(), &[], b""),
            status,
            Shape::Protocol,
        ));
    }
    let upper = w
        .checkpoint_path()
        .to_uppercase()
        .replace("/CHECKPOINT", "/checkpoint");
    cases.push(case(
        "uppercase origin hash",
        request("GET", upper.as_bytes(), &[], b""),
        400,
        Shape::Protocol,
    ));

    run_all(
        &cases,
        |c| c.name.as_str(),
        |c| {
            let r = exchange(w.addr(), c.request.clone());
            check_http_case(c, &r)?;
            if c.request.starts_with(b"POST") && r.status != 409 {
                let ct = r.header("content-type").unwrap_or_default();
                ensure!(ct.starts_with("text/plain"), "content-type {ct:?}");
                ensure!(
                    r.body.len() < 1024 && r.text().trim_end().lines().count() == 1,
                    "want one short line, got {:?}",
                    r.text()
                );
            }
            ensure!(w.snapshot() == before, "the witness state changed");
            Ok(())
        },
    );
    w.served.assert_alive_and_clean();

    // Slow clients: a trickled body and a trickled head are cut off; others are served.
    let pause = Duration::from_millis(100);
    let slow_body = {
        let s = connect(w.addr());
        let mut parts = vec![format!(
            "POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            good.len()
        )
        .into_bytes()];
        parts.extend(good.iter().map(|b| vec![*b]));
        let t = trickle(s.try_clone().unwrap(), parts, pause);
        (s, t)
    };
    let slow_head = {
        let s = connect(w.addr());
        let mut parts = vec![b"POST /add-checkpoint HTTP/1.1\r\n".to_vec()];
        parts.extend((0..100).map(|i| format!("X-{i}: y\r\n").into_bytes()));
        let t = trickle(s.try_clone().unwrap(), parts, pause);
        (s, t)
    };
    assert_eq!(get(w.addr(), &w.checkpoint_path()).status, 200);
    let (mut s, t) = slow_body;
    let r = parse_reply(&read_all(&mut s));
    assert_eq!(r.status, 408, "{r:?}");
    assert!(
        t.join().unwrap() < good.len(),
        "cut off before the body was complete"
    );
    let (mut s, t) = slow_head;
    let raw = read_all(&mut s);
    assert!(raw.is_empty(), "{}", String::from_utf8_lossy(&raw));
    assert!(t.join().unwrap() < 100);
    assert_eq!(
        w.snapshot(),
        before,
        "slow clients changed the witness state"
    );

    // A good request right after: 5 -> 8 is cosigned.
    let r = exchange(w.addr(), add_request(&good));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_ne!(w.snapshot(), before);
    w.served.assert_alive_and_clean();
}

// ---------------------------------------------------------------------------------------
// The CLI on a real data folder.

struct Folder {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    vkey: String,
}

impl Folder {
    fn new() -> Folder {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let d = dir.to_str().unwrap();
        let out = run_ok(&["init", "--dir", d, "--origin", "hostile.example/cli"]);
        let vkey = out
            .lines()
            .find_map(|l| l.strip_prefix("verifier key: "))
            .unwrap()
            .to_string();
        for i in 0..4 {
            run_ok(&[
                "append",
                "--dir",
                d,
                "--type",
                "Evaluation",
                "--model-id",
                "m",
                "--details",
                &format!(r#"{{"i":{i},"acc":0.5}}"#),
            ]);
        }
        Folder { tmp, dir, vkey }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    }

    fn d(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    /// The mirror's bytes and every event as `tlog list --json` prints it.
    fn snapshot(&self) -> (Vec<u8>, String) {
        (
            std::fs::read(self.dir.join("audit_trail.jsonl")).unwrap(),
            run_ok(&["list", "--dir", self.d(), "--json", "--limit", "1000"]),
        )
    }
}

struct CliCase {
    name: String,
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    code: i32,
}

fn cli(name: impl Into<String>, args: &[&str], code: i32) -> CliCase {
    CliCase {
        name: name.into(),
        args: args.iter().map(OsString::from).collect(),
        stdin: None,
        code,
    }
}

fn run_cli_case(c: &CliCase) -> Result<(), String> {
    let mut child = tlog_capped()
        .args(&c.args)
        .stdin(if c.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let writer = c.stdin.clone().map(|input| {
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        })
    });
    let o = child.wait_with_output().unwrap();
    if let Some(w) = writer {
        w.join().unwrap();
    }
    let err = String::from_utf8_lossy(&o.stderr);
    ensure!(
        o.status.code() == Some(c.code),
        "want exit {}, got {:?}; stderr {err:?}",
        c.code,
        o.status
    );
    ensure!(
        !err.contains("panicked") && !err.contains("backtrace") && !err.contains("RUST_BACKTRACE"),
        "a panic: {err}"
    );
    ensure!(
        err.trim_end().lines().count() == 1,
        "want one error line, got {err:?}"
    );
    ensure!(err.starts_with("tlog: "), "{err:?}");
    ensure!(
        err.len() < 2048,
        "want a short line, got {} bytes",
        err.len()
    );
    Ok(())
}

#[test]
fn hostile_files_and_arguments_get_one_error_line_and_change_nothing() {
    let f = Folder::new();
    let d = f.d().to_string();
    let vkey = f.vkey.clone();
    let bundle = run_ok(&["prove", "--dir", &d, "2"]).into_bytes();
    let cp = run_ok(&["checkpoint", "--dir", &d]).into_bytes();
    let mirror = std::fs::read(f.dir.join("audit_trail.jsonl")).unwrap();
    let before = f.snapshot();
    // Sanity: the good inputs pass.
    let good_bundle = f.write("good.json", &bundle);
    let good_cp = f.write("good.cp", &cp);
    let good_chain = f.write("good.jsonl", &mirror);
    run_ok(&["verify", &good_bundle, "--key", &vkey]);
    run_ok(&[
        "verify-chain",
        &good_chain,
        "--checkpoint",
        &good_cp,
        "--key",
        &vkey,
    ]);

    let mut cases: Vec<CliCase> = Vec::new();
    let verify = |f: &Folder, name: &str, bytes: &[u8], code: i32| {
        let p = f.write(&format!("bundle-{}.json", cases_id(name)), bytes);
        cli(
            format!("verify: {name}"),
            &["verify", &p, "--key", &vkey],
            code,
        )
    };

    // Bundles: truncated, garbage, invalid UTF-8, NaN, duplicate keys, wrong types, huge
    // and negative indexes, bad checkpoints inside.
    // Proper prefixes of the bundle without its final newline (with it, the JSON is whole).
    let trimmed = bundle.strip_suffix(b"\n").unwrap_or(&bundle);
    for (i, p) in prefixes(trimmed, bundle.len() / 25).into_iter().enumerate() {
        cases.push(verify(&f, &format!("truncated #{i}"), &p, 2));
    }
    for seed in 0..10 {
        cases.push(verify(
            &f,
            &format!("garbage #{seed}"),
            &garbage(seed, 3000),
            2,
        ));
    }
    let text = String::from_utf8(bundle.clone()).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let edit = |field: &str, value: Value| {
        let mut v = v.clone();
        v[field] = value;
        serde_json::to_vec(&v).unwrap()
    };
    let surgery = |from: &str, to: &str| {
        assert!(text.contains(from), "{from}");
        text.replacen(from, to, 1).into_bytes()
    };
    let index_field = format!("\"leaf_index\":{}", v["leaf_index"]);
    let note = v["checkpoint"].as_str().unwrap().as_bytes().to_vec();
    for (name, bytes, code) in [
        ("empty", Vec::new(), 2),
        ("null", b"null".to_vec(), 2),
        ("array", b"[]".to_vec(), 2),
        (
            "invalid UTF-8",
            {
                let mut b = bundle.clone();
                let at = text.find("\"format\"").unwrap() + 2;
                b[at] = 0xff;
                b
            },
            2,
        ),
        ("NaN index", surgery(&index_field, "\"leaf_index\":NaN"), 2),
        (
            "Infinity index",
            surgery(&index_field, "\"leaf_index\":Infinity"),
            2,
        ),
        (
            "duplicate key",
            surgery(&index_field, &format!("{index_field},{index_field}")),
            2,
        ),
        ("negative index", edit("leaf_index", json!(-1)), 2),
        (
            "index 2^64",
            surgery(&index_field, "\"leaf_index\":18446744073709551616"),
            2,
        ),
        ("index 2^64-1", edit("leaf_index", json!(u64::MAX)), 1),
        ("index 1.5", edit("leaf_index", json!(1.5)), 2),
        ("index as a string", edit("leaf_index", json!("2")), 2),
        ("another index", edit("leaf_index", json!(1)), 1),
        (
            "proof not an array",
            edit("inclusion_proof", json!("AAAA")),
            2,
        ),
        (
            "proof of 65 hashes",
            edit("inclusion_proof", json!(vec![B64.encode([0u8; 32]); 65])),
            2,
        ),
        (
            "proof hash not base64",
            edit("inclusion_proof", json!(["%%%%"])),
            2,
        ),
        (
            "proof hash of 31 bytes",
            edit("inclusion_proof", json!([B64.encode([0u8; 31])])),
            2,
        ),
        (
            "proof with an extra hash",
            {
                let mut p = v["inclusion_proof"].as_array().unwrap().clone();
                p.push(json!(B64.encode([0u8; 32])));
                edit("inclusion_proof", Value::Array(p))
            },
            1,
        ),
        ("entry not base64", edit("entry", json!("!!!")), 2),
        (
            "entry garbage",
            edit("entry", json!(B64.encode(garbage(3, 200)))),
            2,
        ),
        (
            "entry of 2 MB",
            edit("entry", json!(B64.encode(vec![0u8; 2 << 20]))),
            2,
        ),
        ("salt without body", edit("body", Value::Null), 2),
        (
            "body garbage",
            edit("body", json!(B64.encode(garbage(4, 100)))),
            2,
        ),
        (
            "event edited",
            {
                let mut v = v.clone();
                v["event"]["details"]["acc"] = json!(0.99);
                serde_json::to_vec(&v).unwrap()
            },
            2,
        ),
        (
            "deeply nested event",
            {
                let mut v = v.clone();
                v["event"]["details"] = json!("X");
                serde_json::to_string(&v)
                    .unwrap()
                    .replacen(
                        "\"X\"",
                        &format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
                        1,
                    )
                    .into_bytes()
            },
            2,
        ),
        (
            "checkpoint garbage",
            edit("checkpoint", json!("garbage")),
            1,
        ),
        ("checkpoint empty", edit("checkpoint", json!("")), 1),
        (
            "checkpoint with 101 signatures",
            edit(
                "checkpoint",
                json!(String::from_utf8(with_extra_signatures(&note, 100)).unwrap()),
            ),
            1,
        ),
        (
            "checkpoint signature not base64",
            edit(
                "checkpoint",
                json!(String::from_utf8(with_bad_signature(&note, "%%%")).unwrap()),
            ),
            1,
        ),
        (
            "checkpoint signature flipped",
            edit(
                "checkpoint",
                json!(
                    String::from_utf8(with_bad_signature(&note, &B64.encode([9u8; 68]))).unwrap()
                ),
            ),
            1,
        ),
        (
            "checkpoint size beyond u64",
            edit(
                "checkpoint",
                json!(String::from_utf8(with_size_line(&note, "18446744073709551616")).unwrap()),
            ),
            1,
        ),
        (
            "over 1 MiB",
            {
                let mut b = bundle.clone();
                b.extend(std::iter::repeat_n(b' ', 1 << 20));
                b
            },
            2,
        ),
    ] {
        cases.push(verify(&f, name, &bytes, code));
    }
    cases.push(cli(
        "verify: garbage key",
        &["verify", &good_bundle, "--key", "garbage"],
        2,
    ));
    cases.push(cli(
        "verify: key of another log",
        &[
            "verify",
            &good_bundle,
            "--key",
            &Ed25519Signer::from_seed("hostile.example/cli", &[1; 32])
                .unwrap()
                .to_vkey(),
        ],
        1,
    ));
    let big_key = f.write("big.vkey", &vec![b'k'; 10 << 20]);
    cases.push(cli(
        "verify: key file of 10 MiB",
        &["verify", &good_bundle, "--key-file", &big_key],
        2,
    ));
    cases.push(cli(
        "verify: key file is a directory",
        &["verify", &good_bundle, "--key-file", &d],
        2,
    ));
    cases.push(cli(
        "verify: bundle is a directory",
        &["verify", &d, "--key", &vkey],
        2,
    ));
    cases.push(cli(
        "verify: bundle missing",
        &["verify", "/nonexistent/b.json", "--key", &vkey],
        2,
    ));

    // verify-chain --checkpoint: bad checkpoints.
    let other = Ed25519Signer::from_seed("other.example/log", &[3; 32]).unwrap();
    let other_cp = |size: u64, root: Hash| signed(&other, "other.example/log", size, root);
    let root4 = {
        let text = String::from_utf8(cp.clone()).unwrap();
        assert_eq!(text.lines().nth(1), Some("4"), "{text}");
        Hash::from_slice(&B64.decode(text.lines().nth(2).unwrap()).unwrap()).unwrap()
    };
    let verify_cp = |f: &Folder, name: &str, bytes: &[u8], key: &str, code: i32| {
        let p = f.write(&format!("cp-{}.txt", cases_id(name)), bytes);
        cli(
            format!("verify-chain --checkpoint: {name}"),
            &[
                "verify-chain",
                &good_chain,
                "--checkpoint",
                &p,
                "--key",
                key,
            ],
            code,
        )
    };
    for (i, p) in prefixes(&cp, 11).into_iter().enumerate() {
        cases.push(verify_cp(&f, &format!("truncated #{i}"), &p, &vkey, 1));
    }
    let other_vkey = other.to_vkey();
    for (name, bytes, key, code) in [
        ("garbage", garbage(9, 500), vkey.as_str(), 1),
        ("empty", Vec::new(), &vkey, 1),
        ("101 signatures", with_extra_signatures(&cp, 100), &vkey, 1),
        (
            "signature not base64",
            with_bad_signature(&cp, "%%%"),
            &vkey,
            1,
        ),
        (
            "signature flipped",
            with_bad_signature(&cp, &B64.encode([9u8; 68])),
            &vkey,
            1,
        ),
        ("signed by another log", other_cp(4, root4), &vkey, 1),
        ("beyond the chain", other_cp(5, root4), &other_vkey, 1),
        ("size 2^64-1", other_cp(u64::MAX, root4), &other_vkey, 1),
        (
            "size 0",
            other_cp(0, Hash::from_slice(&sha256(b"")).unwrap()),
            &other_vkey,
            1,
        ),
        (
            "another root",
            other_cp(4, Hash::from_slice(&[7u8; 32]).unwrap()),
            &other_vkey,
            1,
        ),
        (
            "size beyond u64",
            with_size_line(&cp, "18446744073709551616"),
            &vkey,
            1,
        ),
        (
            "over 1 MiB",
            [cp.clone(), vec![b'x'; 1 << 20]].concat(),
            &vkey,
            2,
        ),
        (
            "invalid UTF-8",
            {
                let mut c = cp.clone();
                c[2] = 0xfe;
                c
            },
            &vkey,
            1,
        ),
    ] {
        cases.push(verify_cp(&f, name, &bytes, key, code));
    }
    cases.push(cli(
        "verify-chain: --checkpoint without a key",
        &["verify-chain", &good_chain, "--checkpoint", &good_cp],
        2,
    ));

    // Bad JSONL for verify-chain and import.
    let lines: Vec<&[u8]> = mirror.split_inclusive(|&b| b == b'\n').collect();
    let line1 = String::from_utf8(lines[1].to_vec()).unwrap();
    let mut chains: Vec<(String, Vec<u8>)> = Vec::new();
    let trimmed = mirror.strip_suffix(b"\n").unwrap_or(&mirror);
    for (i, p) in prefixes(trimmed, mirror.len() / 15)
        .into_iter()
        .enumerate()
        .skip(1)
    {
        // Cuts on a line boundary are a valid shorter chain: leave those out.
        if p.ends_with(b"\n") {
            continue;
        }
        chains.push((format!("truncated #{i}"), p));
    }
    let replace_line1 =
        |new: &str| [lines[0], new.as_bytes(), b"\n", &lines[2..].concat()].concat();
    for seed in 0..5 {
        chains.push((format!("garbage #{seed}"), garbage(seed + 100, 5000)));
    }
    chains.push(("a garbage line".into(), replace_line1("}{")));
    chains.push(("invalid UTF-8".into(), {
        let mut m = mirror.clone();
        m[lines[0].len() + 5] = 0xff;
        m
    }));
    chains.push((
        "NaN".into(),
        replace_line1(&line1.trim_end().replacen("\"i\":1", "\"i\":NaN", 1)),
    ));
    // Python's json.loads keeps the last of duplicate keys, and so does the verifier.
    chains.push((
        "duplicate key, the last one edited".into(),
        replace_line1(
            &line1
                .trim_end()
                .replacen("\"details\":", "\"details\":{\"i\":1},\"details\":", 1)
                .replacen("\"i\":1", "\"i\":2", 2),
        ),
    ));
    chains.push((
        "seq beyond u64".into(),
        replace_line1(
            &line1
                .trim_end()
                .replacen("\"seq\":1", "\"seq\":18446744073709551616", 1),
        ),
    ));
    chains.push((
        "negative seq".into(),
        replace_line1(&line1.trim_end().replacen("\"seq\":1", "\"seq\":-1", 1)),
    ));
    chains.push((
        "deeply nested".into(),
        replace_line1(&line1.trim_end().replacen(
            "\"i\":1",
            &format!("\"i\":{}{}", "[".repeat(100_000), "]".repeat(100_000)),
            1,
        )),
    ));
    chains.push((
        "a line of 20 MiB without a newline".into(),
        [mirror.clone(), vec![b'{'; 20 << 20]].concat(),
    ));
    chains.push((
        "a line of 20 MiB".into(),
        [lines[0].to_vec(), vec![b' '; 20 << 20], b"\n".to_vec()].concat(),
    ));
    chains.push((
        "lines swapped".into(),
        [lines[0], lines[2], lines[1], &lines[3..].concat()].concat(),
    ));
    chains.push((
        "a line dropped".into(),
        [lines[0], &lines[2..].concat()].concat(),
    ));
    chains.push((
        "a line repeated".into(),
        [lines[0], lines[1], lines[1], &lines[2..].concat()].concat(),
    ));
    chains.push(("NUL bytes".into(), vec![0u8; 4096]));
    for (name, bytes) in &chains {
        let p = f.write(&format!("chain-{}.jsonl", cases_id(name)), bytes);
        cases.push(cli(
            format!("verify-chain: {name}"),
            &["verify-chain", &p],
            1,
        ));
        cases.push(cli(
            format!("import: {name}"),
            &["import", "--dir", &d, &p],
            1,
        ));
    }

    // A duplicate key with the same value changes nothing in Python's eyes; --strict flags it.
    let dup = f.write(
        "chain-dup.jsonl",
        &replace_line1(&line1.trim_end().replacen('{', "{\"seq\":1,", 1)),
    );
    cases.push(cli(
        "verify-chain --strict: duplicate key",
        &["verify-chain", "--strict", &dup],
        1,
    ));

    // append --batch: bad lines, from a file and from stdin; nothing is written.
    let mut batches: Vec<(String, Vec<u8>)> = Vec::new();
    let good_line = br#"{"event_type":"Batch","details":{"k":[1,2,3]}}"#;
    for (i, p) in prefixes(good_line, 5).into_iter().enumerate().skip(1) {
        batches.push((
            format!("truncated line #{i}"),
            [good_line.as_slice(), b"\n", &p, b"\n"].concat(),
        ));
    }
    for (name, line) in [
        (
            "invalid UTF-8",
            &b"{\"event_type\":\"A\",\"details\":\"\xff\"}"[..],
        ),
        ("NaN", br#"{"event_type":"A","details":NaN}"#),
        ("-Infinity", br#"{"event_type":"A","details":-Infinity}"#),
        ("duplicate key", br#"{"event_type":"A","event_type":"B"}"#),
        ("wrong type", br#"{"event_type":["A"]}"#),
        ("unknown field", br#"{"event_type":"A","x":1}"#),
        ("an array of events", br#"[{"event_type":"A"}]"#),
        ("null", b"null"),
        (
            "integer beyond 64 bits",
            br#"{"event_type":"A","details":99999999999999999999}"#,
        ),
        (
            "timestamp garbage",
            br#"{"event_type":"A","timestamp":"now"}"#,
        ),
        (
            "event_id of 200 bytes",
            format!(r#"{{"event_type":"A","event_id":"{}"}}"#, "e".repeat(200)).as_bytes(),
        ),
    ] {
        batches.push((
            name.to_string(),
            [good_line.as_slice(), b"\n", line, b"\n"].concat(),
        ));
    }
    batches.push((
        "deeply nested".into(),
        format!(
            r#"{{"event_type":"A","details":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        )
        .into_bytes(),
    ));
    batches.push((
        "a line of 300 KB".into(),
        format!(
            r#"{{"event_type":"A","details":"{}"}}"#,
            "x".repeat(300_000)
        )
        .into_bytes(),
    ));
    batches.push((
        "a line of 50 MiB without a newline".into(),
        [good_line.as_slice(), b"\n", &vec![b'{'; 50 << 20]].concat(),
    ));
    batches.push(("binary garbage".into(), garbage(42, 10_000)));
    for (name, bytes) in &batches {
        let p = f.write(&format!("batch-{}.jsonl", cases_id(name)), bytes);
        cases.push(cli(
            format!("append --batch FILE: {name}"),
            &["append", "--dir", &d, "--batch", &p],
            2,
        ));
        let mut c = cli(
            format!("append --batch -: {name}"),
            &["append", "--dir", &d, "--batch", "-"],
            2,
        );
        c.stdin = Some(bytes.clone());
        cases.push(c);
    }

    // Single appends and reads with hostile arguments.
    let big_details = f.write(
        "big-details.json",
        &[b"\"".as_slice(), &vec![b'x'; 1 << 20], b"\""].concat(),
    );
    for (name, args, code) in [
        (
            "details NaN",
            vec!["append", "--dir", &d, "--type", "A", "--details", "NaN"],
            2,
        ),
        (
            "details Infinity",
            vec![
                "append",
                "--dir",
                &d,
                "--type",
                "A",
                "--details",
                "{\"x\":Infinity}",
            ],
            2,
        ),
        (
            "details duplicate key",
            vec![
                "append",
                "--dir",
                &d,
                "--type",
                "A",
                "--details",
                "{\"a\":1,\"a\":2}",
            ],
            2,
        ),
        (
            "details truncated",
            vec![
                "append",
                "--dir",
                &d,
                "--type",
                "A",
                "--details",
                "{\"a\":[1,",
            ],
            2,
        ),
        (
            "details file of 1 MiB",
            vec![
                "append",
                "--dir",
                &d,
                "--type",
                "A",
                "--details-file",
                &big_details,
            ],
            2,
        ),
        (
            "details file is a directory",
            vec!["append", "--dir", &d, "--type", "A", "--details-file", &d],
            2,
        ),
        (
            "event type with a newline",
            vec!["append", "--dir", &d, "--type", "A\nB"],
            2,
        ),
        (
            "event id of 129 bytes",
            vec![
                "append",
                "--dir",
                &d,
                "--type",
                "A",
                "--event-id",
                &"e".repeat(129),
            ],
            2,
        ),
        (
            "actor with a control character",
            vec!["append", "--dir", &d, "--type", "A", "--actor", "a\u{7}b"],
            2,
        ),
        (
            "show 2^64",
            vec!["show", "--dir", &d, "18446744073709551616"],
            2,
        ),
        (
            "show 2^64-1",
            vec!["show", "--dir", &d, "18446744073709551615"],
            1,
        ),
        ("show -1", vec!["show", "--dir", &d, "-1"], 2),
        (
            "show an event id of 10 KiB",
            vec!["show", "--dir", &d, &"e".repeat(10_000)],
            2,
        ),
        (
            "prove an event id of 10 KiB",
            vec!["prove", "--dir", &d, &"e".repeat(10_000)],
            2,
        ),
        ("prove beyond the tree", vec!["prove", "--dir", &d, "4"], 1),
        (
            "prove at a size beyond the tree",
            vec!["prove", "--dir", &d, "0", "--size", "99"],
            1,
        ),
        (
            "prove at size 2^64",
            vec!["prove", "--dir", &d, "0", "--size", "18446744073709551616"],
            2,
        ),
        (
            "prove at a negative size",
            vec!["prove", "--dir", &d, "0", "--size", "-1"],
            2,
        ),
        (
            "prove --consistency 0",
            vec!["prove", "--dir", &d, "--consistency", "0"],
            2,
        ),
        (
            "prove --consistency beyond the tree",
            vec!["prove", "--dir", &d, "--consistency", "99"],
            2,
        ),
        (
            "list --limit 0",
            vec!["list", "--dir", &d, "--limit", "0"],
            2,
        ),
        (
            "list --limit 2^64",
            vec!["list", "--dir", &d, "--limit", "18446744073709551616"],
            2,
        ),
        (
            "list --after -1",
            vec!["list", "--dir", &d, "--after", "-1"],
            2,
        ),
    ] {
        cases.push(cli(name, &args, code));
    }
    // Endless inputs: every read is bounded (the cases run with their memory capped).
    for (name, args, code) in [
        (
            "verify /dev/zero",
            vec!["verify", "/dev/zero", "--key", &vkey],
            2,
        ),
        (
            "verify --key-file /dev/zero",
            vec!["verify", &good_bundle, "--key-file", "/dev/zero"],
            2,
        ),
        (
            "verify-chain /dev/zero",
            vec!["verify-chain", "/dev/zero"],
            1,
        ),
        (
            "verify-chain --checkpoint /dev/zero",
            vec![
                "verify-chain",
                &good_chain,
                "--checkpoint",
                "/dev/zero",
                "--key",
                &vkey,
            ],
            2,
        ),
        (
            "import /dev/zero",
            vec!["import", "--dir", &d, "/dev/zero"],
            1,
        ),
        (
            "append --details-file /dev/zero",
            vec![
                "append",
                "--dir",
                &d,
                "--type",
                "A",
                "--details-file",
                "/dev/zero",
            ],
            2,
        ),
        (
            "append --batch /dev/zero",
            vec!["append", "--dir", &d, "--batch", "/dev/zero"],
            2,
        ),
        (
            "serve --config /dev/zero",
            vec!["serve", "--dir", &d, "--config", "/dev/zero"],
            2,
        ),
        (
            "monitor --key-file /dev/zero",
            vec![
                "monitor",
                "--log",
                "http://127.0.0.1:9",
                "--key-file",
                "/dev/zero",
            ],
            2,
        ),
        // Timeouts out of range.
        (
            "serve --header-timeout-ms 0",
            vec!["serve", "--dir", &d, "--header-timeout-ms", "0"],
            2,
        ),
        (
            "serve --body-timeout-ms 30001",
            vec!["serve", "--dir", &d, "--body-timeout-ms", "30001"],
            2,
        ),
        (
            "witness serve --body-timeout-ms 0",
            vec!["witness", "serve", "--dir", &d, "--body-timeout-ms", "0"],
            2,
        ),
    ] {
        cases.push(cli(name, &args, code));
    }
    let mut batch_from_zero = cli(
        "append --batch - < /dev/zero (64 MiB)",
        &["append", "--dir", &d, "--batch", "-"],
        2,
    );
    batch_from_zero.stdin = Some(vec![0u8; 64 << 20]);
    cases.push(batch_from_zero);
    // Arguments that are not UTF-8.
    cases.push(CliCase {
        name: "event type not UTF-8".into(),
        args: vec![
            "append".into(),
            "--dir".into(),
            d.clone().into(),
            "--type".into(),
            OsString::from_vec(b"A\xffB".to_vec()),
        ],
        stdin: None,
        code: 2,
    });
    cases.push(CliCase {
        name: "details not UTF-8".into(),
        args: vec![
            "append".into(),
            "--dir".into(),
            d.clone().into(),
            "--type".into(),
            "A".into(),
            "--details".into(),
            OsString::from_vec(b"\"\xff\"".to_vec()),
        ],
        stdin: None,
        code: 2,
    });

    assert!(cases.len() > 200, "{} cases", cases.len());
    run_all(&cases, |c| c.name.as_str(), run_cli_case);
    assert_eq!(f.snapshot(), before, "the data folder changed");
    // The folder still checks, and a good append works right after.
    run_ok(&["fsck", "--dir", &d]);
    run_ok(&["append", "--dir", &d, "--type", "After"]);
}

/// A file-name-safe id for a case name.
fn cases_id(name: &str) -> String {
    let mut id: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    id.push_str(&format!("_{:08x}", fxhash(name)));
    id
}

fn fxhash(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}
