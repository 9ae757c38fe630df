//! Commands that work on a local data folder (and offline verification).

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::progress::Progress;
use super::remote::{print_post_result, urlencode, Remote};
use super::{CliError, CliResult, DirArg, ServerArg};
use crate::core::bundle::ProofBundle;
use crate::core::json::{self, JsonValue, ParseOptions};
use crate::core::note::{parse_verifier_key, Ed25519Verifier};
use crate::datadir::DataDir;
use crate::log::event::{new_event_from_json, new_event_to_json, NewEvent};
use crate::log::view::{event_json, int, obj, s};
use crate::log::{AppendError, Appended, ListFilter, Log, LogConfig};

/// Largest `--details` / `--details-file` / batch line accepted.
pub const MAX_DETAILS_BYTES: usize = 256 << 10;
/// Most events one `tlog append --batch` reads (they are all held in memory and checked
/// before any is written).
pub const MAX_BATCH_EVENTS: usize = 1_000_000;
/// Largest verifier key file read.
const MAX_KEY_FILE_BYTES: usize = 64 << 10;
/// Events sent to the log per group in `--batch` and `import`.
const BATCH_CHUNK: usize = 1000;

fn open(dir: &DirArg) -> Result<Log, CliError> {
    Ok(DataDir::new(&dir.dir).open_log(LogConfig::default())?)
}

fn print_json(v: &JsonValue) {
    println!("{}", json::to_json_string(v));
}

fn parse_details(text: &str, what: &str) -> Result<JsonValue, CliError> {
    if text.len() > MAX_DETAILS_BYTES {
        return Err(CliError::usage(format!(
            "{what} is {} bytes; the limit is {MAX_DETAILS_BYTES}",
            text.len()
        )));
    }
    json::parse(text.as_bytes(), ParseOptions::STRICT)
        .map_err(|e| CliError::usage(format!("{what} is not valid JSON: {e}")))
}

/// `tlog init`.
pub fn init(dir: &DirArg, origin: &str, json_out: bool) -> CliResult {
    let d = DataDir::new(&dir.dir);
    let vkey = d.init(origin)?;
    if json_out {
        print_json(&obj(vec![
            ("dir", s(d.path.display().to_string())),
            ("origin", s(origin)),
            ("vkey", s(vkey)),
        ]));
    } else {
        println!("initialised {} for origin {origin}", d.path.display());
        println!("verifier key: {vkey}");
    }
    Ok(())
}

/// Arguments of `tlog append`.
#[derive(Args, Debug)]
pub struct AppendArgs {
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    server: ServerArg,
    /// Event type, e.g. `Evaluation`.
    #[arg(long = "type", value_name = "TYPE", required_unless_present = "batch")]
    event_type: Option<String>,
    /// Model id.
    #[arg(long)]
    model_id: Option<String>,
    /// Dataset id.
    #[arg(long)]
    dataset_id: Option<String>,
    /// Deployment id.
    #[arg(long)]
    deployment_id: Option<String>,
    /// Emitting system.
    #[arg(long)]
    system: Option<String>,
    /// Who did it.
    #[arg(long)]
    actor: Option<String>,
    /// Event id (makes the append idempotent); a UUID v4 is generated otherwise.
    #[arg(long)]
    event_id: Option<String>,
    /// Details as a JSON value.
    #[arg(long, conflicts_with = "details_file")]
    details: Option<String>,
    /// Read details from a JSON file.
    #[arg(long)]
    details_file: Option<PathBuf>,
    /// Append many events from a JSONL file (`-` for stdin), one event object a line.
    #[arg(long, conflicts_with_all = ["event_type", "details", "details_file"])]
    batch: Option<String>,
}

fn print_appended(
    results: &[Result<Appended, AppendError>],
    first_line: usize,
    json_out: bool,
) -> Result<usize, CliError> {
    let mut failed = 0;
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(a) => {
                if json_out {
                    print_json(&obj(vec![
                        ("index", int(a.index)),
                        ("event_id", s(a.event_id.clone())),
                        ("leaf_hash", s(a.leaf_hash.to_hex())),
                        ("existing", JsonValue::Bool(a.existing)),
                    ]));
                } else {
                    println!(
                        "{}\t{}\t{}{}",
                        a.index,
                        a.event_id,
                        a.leaf_hash,
                        if a.existing {
                            "\t(already in the log)"
                        } else {
                            ""
                        }
                    );
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("tlog: event {}: {e}", first_line + i);
            }
        }
    }
    Ok(failed)
}

/// `tlog append`.
pub fn append(a: AppendArgs, json_out: bool) -> CliResult {
    if let Some(src) = &a.batch {
        return append_batch(&a.dir, &a.server, src, json_out);
    }
    let details = match (&a.details, &a.details_file) {
        (Some(t), _) => parse_details(t, "--details")?,
        (None, Some(p)) => {
            // Bounded while reading (a FIFO or /dev/zero has no meaningful size).
            let name = p.display().to_string();
            let bytes = read_limited(&name, MAX_DETAILS_BYTES)?;
            let t = String::from_utf8(bytes)
                .map_err(|_| CliError::usage(format!("{name} is not UTF-8")))?;
            parse_details(&t, &name)?
        }
        (None, None) => JsonValue::Object(Vec::new()),
    };
    let ev = NewEvent {
        event_id: a.event_id,
        timestamp: None,
        event_type: a.event_type.unwrap_or_default(),
        system: a.system,
        model_id: a.model_id,
        dataset_id: a.dataset_id,
        deployment_id: a.deployment_id,
        actor: a.actor,
        details,
        submitter: None,
    };
    // Validate before opening the log, so bad input never touches the folder.
    crate::log::event::prepare(ev.clone()).map_err(|e| CliError::usage(e.to_string()))?;
    if let Some(url) = &a.server.server {
        let remote = Remote::new(url, a.server.token.clone())?;
        let v = remote.post_events(&new_event_to_json(&ev))?;
        return print_post_result(&v, json_out);
    }
    let log = open(&a.dir)?;
    let results = log.append_blocking(vec![ev]);
    let mirror = crate::log::mirror::sync_after(&log, &DataDir::new(&a.dir.dir));
    log.close();
    let results = results?;
    mirror?;
    if print_appended(&results, 1, json_out)? > 0 {
        return Err(CliError::usage("the event was not appended"));
    }
    Ok(())
}

fn append_batch(dir: &DirArg, server: &ServerArg, src: &str, json_out: bool) -> CliResult {
    let reader: Box<dyn Read> = if src == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(fs::File::open(src).map_err(|e| CliError::usage(format!("{src}: {e}")))?)
    };
    // Parse everything first: a batch with a bad line is refused whole, nothing written.
    // Lines are read with a bound, so a huge line (or /dev/zero) never fills memory.
    let mut events = Vec::new();
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    for n in 0.. {
        if events.len() >= MAX_BATCH_EVENTS {
            return Err(CliError::usage(format!(
                "{src}: more than {MAX_BATCH_EVENTS} events; split the batch"
            )));
        }
        buf.clear();
        let read = (&mut reader)
            .take(MAX_DETAILS_BYTES as u64 + 2)
            .read_until(b'\n', &mut buf)
            .map_err(|e| CliError::usage(format!("{src}: line {}: {e}", n + 1)))?;
        if read == 0 {
            break;
        }
        let bytes = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.len() > MAX_DETAILS_BYTES {
            return Err(CliError::usage(format!(
                "{src}: line {} is over {MAX_DETAILS_BYTES} bytes",
                n + 1
            )));
        }
        let line = std::str::from_utf8(bytes)
            .map_err(|_| CliError::usage(format!("{src}: line {}: not UTF-8", n + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let v = json::parse(line.as_bytes(), ParseOptions::STRICT)
            .map_err(|e| CliError::usage(format!("{src}: line {}: {e}", n + 1)))?;
        let ev = new_event_from_json(&v)
            .map_err(|e| CliError::usage(format!("{src}: line {}: {e}", n + 1)))?;
        crate::log::event::prepare(ev.clone())
            .map_err(|e| CliError::usage(format!("{src}: line {}: {e}", n + 1)))?;
        events.push(ev);
    }
    if let Some(url) = &server.server {
        let remote = Remote::new(url, server.token.clone())?;
        for chunk in events.chunks(BATCH_CHUNK) {
            let body = JsonValue::Array(chunk.iter().map(new_event_to_json).collect());
            print_post_result(&remote.post_events(&body)?, json_out)?;
        }
        return Ok(());
    }
    let log = open(dir)?;
    let mut failed = 0;
    let mut progress = Progress::new("appending", Some(events.len() as u64));
    let mut line = 1;
    let mut outcome = Ok(());
    for chunk in events.chunks(BATCH_CHUNK) {
        match log.append_blocking(chunk.to_vec()) {
            Ok(results) => {
                failed += print_appended(&results, line, json_out)?;
                line += chunk.len();
                progress.add(chunk.len() as u64);
            }
            Err(e) => {
                outcome = Err(CliError::fail(e.to_string()));
                break;
            }
        }
    }
    progress.finish();
    let mirror = crate::log::mirror::sync_after(&log, &DataDir::new(&dir.dir));
    log.close();
    outcome?;
    mirror?;
    if failed > 0 {
        return Err(CliError::usage(format!(
            "{failed} events were not appended"
        )));
    }
    Ok(())
}

/// `tlog checkpoint`.
pub fn checkpoint(dir: &DirArg, json_out: bool) -> CliResult {
    let log = open(dir)?;
    let cp = log.checkpoint_now_blocking();
    log.close();
    let cp = cp?;
    if json_out {
        print_json(&obj(vec![
            ("origin", s(cp.checkpoint.origin.clone())),
            ("tree_size", int(cp.checkpoint.tree_size)),
            ("root_hash", s(cp.checkpoint.root_hash.to_hex())),
            ("note", s(String::from_utf8_lossy(&cp.note).into_owned())),
        ]));
    } else {
        print!("{}", String::from_utf8_lossy(&cp.note));
    }
    Ok(())
}

/// Resolves an index or event id to a leaf index.
pub(crate) fn resolve(log: &Log, event: &str) -> Result<u64, CliError> {
    if !event.is_empty() && event.bytes().all(|b| b.is_ascii_digit()) {
        let i: u64 = event
            .parse()
            .map_err(|_| CliError::usage(format!("{event} is not a valid index")))?;
        if i >= log.tree_size() {
            return Err(CliError::fail(format!(
                "no event at index {i} (the log has {} events)",
                log.tree_size()
            )));
        }
        return Ok(i);
    }
    if event.len() > crate::core::entry::MAX_EVENT_ID_LEN {
        return Err(CliError::usage(format!(
            "an event id is at most {} characters; this one has {}",
            crate::core::entry::MAX_EVENT_ID_LEN,
            event.len()
        )));
    }
    log.find_event_id(event)?
        .ok_or_else(|| CliError::fail(format!("no event with id {event:?}")))
}

/// `tlog show`.
pub fn show(dir: &DirArg, server: &ServerArg, event: &str, json_out: bool) -> CliResult {
    if let Some(url) = &server.server {
        let v = Remote::new(url, server.token.clone())?
            .get_json(&format!("/v1/events/{}", urlencode(event)))?;
        if json_out {
            print_json(&v);
        } else {
            print_event_text(&v);
        }
        return Ok(());
    }
    let log = open(dir)?;
    let r = (|| {
        let i = resolve(&log, event)?;
        let ev = log
            .event(i)?
            .ok_or_else(|| CliError::fail(format!("no event at index {i}")))?;
        Ok::<_, CliError>(event_json(&ev))
    })();
    log.close();
    let v = r?;
    if json_out {
        print_json(&v);
    } else {
        print_event_text(&v);
    }
    Ok(())
}

fn print_event_text(v: &JsonValue) {
    if let JsonValue::Object(members) = v {
        for (k, val) in members {
            if *val == JsonValue::Null {
                continue;
            }
            let text = match val {
                JsonValue::String(t) => t.clone(),
                other => json::to_json_string(other),
            };
            println!("{k:<14} {text}");
        }
    }
}

/// Arguments of `tlog list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    dir: DirArg,
    /// Only events of this model.
    #[arg(long)]
    model_id: Option<String>,
    /// Only events of this dataset.
    #[arg(long)]
    dataset_id: Option<String>,
    /// Only events of this deployment.
    #[arg(long)]
    deployment_id: Option<String>,
    /// Only events of this type.
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// Only events after this index.
    #[arg(long)]
    after: Option<u64>,
    /// At most this many events.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
    limit: u64,
}

/// `tlog list`.
pub fn list(a: ListArgs, json_out: bool) -> CliResult {
    let log = open(&a.dir)?;
    let filter = ListFilter {
        model_id: a.model_id,
        dataset_id: a.dataset_id,
        event_type: a.event_type,
        deployment_id: a.deployment_id,
    };
    let r = (|| {
        let idx = log.list(&filter, a.after, a.limit as usize)?;
        let mut out = Vec::new();
        for i in idx {
            if let Some(ev) = log.event(i)? {
                out.push(ev);
            }
        }
        Ok::<_, CliError>(out)
    })();
    log.close();
    for ev in r? {
        if json_out {
            print_json(&event_json(&ev));
        } else {
            let h = &ev.header;
            println!(
                "{}\t{}\t{}\t{}\t{}",
                ev.index,
                h.timestamp,
                h.event_type,
                h.model_id.as_deref().unwrap_or("-"),
                h.event_id
            );
        }
    }
    Ok(())
}

/// Output formats of `tlog prove`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProofFormat {
    /// Our JSON bundle (spec/bundle.md): event, body, proof and checkpoint.
    Json,
    /// A C2SP tlog-proof@v1 file (no body).
    TlogProof,
}

/// Arguments of `tlog prove`.
#[derive(Args, Debug)]
pub struct ProveArgs {
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    server: ServerArg,
    #[command(flatten)]
    key: KeyArgs,
    /// Leaf index or event id.
    #[arg(required_unless_present = "consistency")]
    event: Option<String>,
    /// Prove against the checkpoint signed at this tree size (default: the latest).
    #[arg(long)]
    size: Option<u64>,
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ProofFormat::Json)]
    format: ProofFormat,
    /// Prove that the tree at --size (default: latest checkpoint) extends the tree at OLD.
    #[arg(long, value_name = "OLD", conflicts_with = "event")]
    consistency: Option<u64>,
}

fn write_out(output: &Option<PathBuf>, bytes: &[u8]) -> CliResult {
    match output {
        Some(p) => fs::write(p, bytes).map_err(|e| CliError::fail(format!("{}: {e}", p.display()))),
        None => {
            let mut o = std::io::stdout();
            o.write_all(bytes)?;
            Ok(())
        }
    }
}

/// The signed checkpoint to prove against: at `size` exactly, or the latest.
fn checkpoint_for(log: &Log, size: Option<u64>) -> Result<(u64, Vec<u8>), CliError> {
    match size {
        Some(n) => {
            let note = log.checkpoint_at(n)?.ok_or_else(|| {
                CliError::fail(format!(
                    "no checkpoint was signed at size {n} (run `tlog checkpoint`, or omit --size)"
                ))
            })?;
            Ok((n, note))
        }
        None => {
            let cp = log.checkpoint_now_blocking()?;
            Ok((cp.checkpoint.tree_size, cp.note.clone()))
        }
    }
}

/// `tlog prove`.
pub fn prove(a: ProveArgs, json_out: bool) -> CliResult {
    if let Some(url) = &a.server.server {
        let remote = Remote::new(url, a.server.token.clone())?;
        let key = a.key.load()?;
        if let Some(old) = a.consistency {
            let q = a.size.map(|s| format!("&to={s}")).unwrap_or_default();
            let v = remote.get_json(&format!("/v1/proof/consistency?from={old}{q}"))?;
            let mut out = json::to_json_string(&v).into_bytes();
            out.push(b'\n');
            return write_out(&a.output, &out);
        }
        let event = a.event.as_deref().unwrap_or_default();
        let bundle = remote.verified_bundle(event, a.size, key)?;
        let bytes = match a.format {
            ProofFormat::Json => {
                let mut out = json::to_json_string(&bundle.to_json()).into_bytes();
                out.push(b'\n');
                out
            }
            ProofFormat::TlogProof => bundle.to_tlog_proof()?,
        };
        return write_out(&a.output, &bytes);
    }
    let log = open(&a.dir)?;
    let r = prove_inner(&log, &a, json_out);
    log.close();
    let bytes = r?;
    write_out(&a.output, &bytes)
}

fn prove_inner(log: &Log, a: &ProveArgs, _json_out: bool) -> Result<Vec<u8>, CliError> {
    let (size, note) = checkpoint_for(log, a.size)?;
    if let Some(old) = a.consistency {
        if old == 0 || old > size {
            return Err(CliError::usage(format!(
                "--consistency needs 1 <= OLD <= {size} (the checkpoint's size)"
            )));
        }
        let proof = log.consistency_proof(old, size)?;
        let v = obj(vec![
            ("old_size", int(old)),
            ("old_root", s(log.root_at(old)?.to_hex())),
            ("tree_size", int(size)),
            (
                "consistency_proof",
                JsonValue::Array(
                    proof
                        .iter()
                        .map(|h| s(crate::core::bundle::b64(h.as_bytes())))
                        .collect(),
                ),
            ),
            ("checkpoint", s(String::from_utf8_lossy(&note).into_owned())),
        ]);
        let mut out = json::to_json_string(&v).into_bytes();
        out.push(b'\n');
        return Ok(out);
    }
    let event = a.event.as_deref().unwrap_or_default();
    let index = resolve(log, event)?;
    if index >= size {
        return Err(CliError::fail(format!(
            "event {index} is not yet covered by the checkpoint at size {size}"
        )));
    }
    let ev = log
        .event(index)?
        .ok_or_else(|| CliError::fail(format!("no event at index {index}")))?;
    let proof = log.inclusion_proof(index, size)?;
    let bundle = crate::log::make_bundle(&ev, proof, note);
    match a.format {
        ProofFormat::Json => {
            let mut out = json::to_json_string(&bundle.to_json()).into_bytes();
            out.push(b'\n');
            Ok(out)
        }
        ProofFormat::TlogProof => Ok(bundle.to_tlog_proof()?),
    }
}

/// How a verifier key is given.
#[derive(Args, Debug)]
pub struct KeyArgs {
    /// The log's verifier key (`name+hex+base64`).
    #[arg(long, conflicts_with = "key_file")]
    key: Option<String>,
    /// A file holding the log's verifier key (e.g. `<dir>/log.vkey`).
    #[arg(long)]
    key_file: Option<PathBuf>,
}

impl KeyArgs {
    fn load(&self) -> Result<Option<Ed25519Verifier>, CliError> {
        let text = match (&self.key, &self.key_file) {
            (Some(k), _) => k.clone(),
            (None, Some(p)) => read_key_file(p)?,
            (None, None) => return Ok(None),
        };
        parse_verifier_key(text.trim())
            .map(Some)
            .map_err(|e| CliError::usage(format!("bad verifier key: {e}")))
    }
}

/// Arguments of `tlog verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The proof bundle (JSON, from `tlog prove` or `GET /v1/bundle/...`); `-` for stdin.
    bundle: String,
    #[command(flatten)]
    key: KeyArgs,
    /// A C2SP tlog-policy file: also require its witness quorum on the bundle's checkpoint.
    #[arg(long)]
    policy: Option<PathBuf>,
}

/// `tlog verify`.
pub fn verify(a: VerifyArgs, json_out: bool) -> CliResult {
    let key = a
        .key
        .load()?
        .ok_or_else(|| CliError::usage("give the log's verifier key with --key or --key-file"))?;
    let bytes = read_limited(&a.bundle, crate::core::bundle::MAX_BUNDLE_SIZE)?;
    let bundle =
        ProofBundle::parse(&bytes).map_err(|e| CliError::usage(format!("{}: {e}", a.bundle)))?;
    if let Some(path) = &a.policy {
        let policy = super::witness::load_policy(path)?;
        let v = policy
            .verify_checkpoint(&bundle.checkpoint, Some(&key))
            .map_err(|e| CliError::fail(format!("verification FAILED: {e}")))?;
        if !json_out {
            println!(
                "OK: checkpoint cosigned by {} of the policy's witnesses (quorum met)",
                v.cosigned_by.len()
            );
        }
    }
    match bundle.verify(&key) {
        Ok(v) => {
            if json_out {
                print_json(&obj(vec![
                    ("ok", JsonValue::Bool(true)),
                    ("index", int(bundle.leaf_index)),
                    ("tree_size", int(v.checkpoint.tree_size)),
                    ("event_id", s(v.header.event_id.clone())),
                    ("body", s(v.body_status())),
                ]));
            } else {
                println!(
                    "OK: event {} ({}) is leaf {} of {} (checkpoint signed by {}); body: {}",
                    v.header.event_id,
                    v.header.event_type,
                    bundle.leaf_index,
                    v.checkpoint.tree_size,
                    v.checkpoint.origin,
                    v.body_status()
                );
            }
            Ok(())
        }
        Err(e) => Err(CliError::fail(format!("verification FAILED: {e}"))),
    }
}

/// Reads a verifier key file (bounded; UTF-8).
pub(crate) fn read_key_file(p: &std::path::Path) -> Result<String, CliError> {
    let name = p.display().to_string();
    String::from_utf8(read_limited(&name, MAX_KEY_FILE_BYTES)?)
        .map_err(|_| CliError::usage(format!("{name} is not UTF-8")))
}

/// Reads `path` (`-`: stdin), refusing more than `limit` bytes without reading them all.
pub(crate) fn read_limited(path: &str, limit: usize) -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::new();
    let r: Box<dyn Read> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(fs::File::open(path).map_err(|e| CliError::usage(format!("{path}: {e}")))?)
    };
    r.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| CliError::usage(format!("{path}: {e}")))?;
    if buf.len() > limit {
        return Err(CliError::usage(format!(
            "{path} is larger than {limit} bytes"
        )));
    }
    Ok(buf)
}

/// The HMAC key held by the environment variable `var`, if one is named.
fn hmac_key_from_env(var: Option<&str>) -> Result<Option<Vec<u8>>, CliError> {
    var.map(|var| {
        std::env::var(var)
            .map(String::into_bytes)
            .map_err(|_| CliError::usage(format!("environment variable {var} is not set")))
    })
    .transpose()
}

/// Arguments of `tlog verify-chain`.
#[derive(Args, Debug)]
pub struct VerifyChainArgs {
    /// The JSONL chain.
    file: PathBuf,
    /// A signed checkpoint (note) the chain's tail must match.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    #[command(flatten)]
    key: KeyArgs,
    /// A seed-style anchor file (`{"seq":..,"hash":..}`) from llm-audit-trail's write_anchor.
    #[arg(long)]
    anchor: Option<PathBuf>,
    /// Also flag lines whose bytes are not the canonical form.
    #[arg(long)]
    strict: bool,
    /// Environment variable holding the HMAC key (for `hmac-sha256` chains).
    #[arg(long, value_name = "VAR")]
    hmac_key_env: Option<String>,
}

/// `tlog verify-chain`: see [`crate::log::mirror::verify_chain_file`].
pub fn verify_chain(a: VerifyChainArgs, json_out: bool) -> CliResult {
    let key = a.key.load()?;
    let hmac_key = hmac_key_from_env(a.hmac_key_env.as_deref())?;
    let checkpoint = match &a.checkpoint {
        Some(p) => {
            let key = key.ok_or_else(|| {
                CliError::usage("--checkpoint needs the log's --key or --key-file")
            })?;
            let note = read_limited(&p.display().to_string(), crate::core::note::MAX_NOTE_SIZE)?;
            Some((note, key))
        }
        None => None,
    };
    let anchor = match &a.anchor {
        Some(p) => Some(read_limited(&p.display().to_string(), 1 << 16)?),
        None => None,
    };
    let report = crate::log::mirror::verify_chain_file(
        &a.file,
        crate::log::mirror::ChainCheck {
            hmac_key,
            strict: a.strict,
            checkpoint,
            anchor,
        },
    )?;
    if json_out {
        print_json(&report.json);
    } else if report.ok {
        println!("OK: {}", report.summary);
    }
    if report.ok {
        Ok(())
    } else {
        Err(CliError::fail(format!(
            "chain verification FAILED: {}",
            report.summary
        )))
    }
}

/// Arguments of `tlog import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    dir: DirArg,
    /// The llm-audit-trail 0.1.0 JSONL chain to import.
    file: PathBuf,
    /// Environment variable holding the HMAC key (for `hmac-sha256` chains).
    #[arg(long, value_name = "VAR")]
    hmac_key_env: Option<String>,
}

/// `tlog import`.
pub fn import(a: ImportArgs, json_out: bool) -> CliResult {
    let hmac_key = hmac_key_from_env(a.hmac_key_env.as_deref())?;
    // Refuse a chain that does not verify before touching the log.
    let report = crate::log::mirror::verify_chain_file(
        &a.file,
        crate::log::mirror::ChainCheck {
            hmac_key: hmac_key.clone(),
            strict: false,
            checkpoint: None,
            anchor: None,
        },
    )?;
    if !report.ok {
        return Err(CliError::fail(format!(
            "refusing to import: the chain does not verify: {}",
            report.summary
        )));
    }
    let log = open(&a.dir)?;
    let mut progress = Progress::new("importing", None);
    let mut imported = 0u64;
    let mut existing = 0u64;
    let result = crate::log::mirror::for_each_chain_chunk(&a.file, BATCH_CHUNK, |events| {
        let rs = log.append_blocking(events).map_err(|e| e.to_string())?;
        for r in &rs {
            match r {
                Ok(a) if a.existing => existing += 1,
                Ok(_) => imported += 1,
                Err(e) => return Err(format!("record {}: {e}", imported + existing + 1)),
            }
        }
        progress.add(rs.len() as u64);
        Ok(())
    })
    .map_err(CliError::fail);
    progress.finish();
    let mirror = crate::log::mirror::sync_after(&log, &DataDir::new(&a.dir.dir));
    let size = log.tree_size();
    log.close();
    result?;
    mirror?;
    if json_out {
        print_json(&obj(vec![
            ("imported", int(imported)),
            ("already_present", int(existing)),
            ("tree_size", int(size)),
        ]));
    } else {
        println!("imported {imported} events ({existing} were already in the log); the log has {size} events");
    }
    Ok(())
}

/// `tlog mirror rebuild`.
pub fn mirror_rebuild(dir: &DirArg, json_out: bool) -> CliResult {
    let d = DataDir::new(&dir.dir);
    let log = open(dir)?;
    let r = crate::log::mirror::rebuild(&log, &d.mirror_path());
    log.close();
    let n = r?;
    if json_out {
        print_json(&obj(vec![
            ("path", s(d.mirror_path().display().to_string())),
            ("events", int(n)),
        ]));
    } else {
        println!("rebuilt {} with {n} events", d.mirror_path().display());
    }
    Ok(())
}

/// `tlog compact`: a full compaction of the folder's database.
pub fn compact(dir: &DirArg, json_out: bool) -> CliResult {
    let (before, after) = DataDir::new(&dir.dir).compact()?;
    if json_out {
        print_json(&obj(vec![
            ("ok", JsonValue::Bool(true)),
            ("bytes_before", int(before)),
            ("bytes_after", int(after)),
        ]));
    } else {
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        println!(
            "compacted {}: {:.1} MiB before, {:.1} MiB after",
            dir.dir.display(),
            mib(before),
            mib(after)
        );
    }
    Ok(())
}

/// `tlog fsck`: re-verifies the whole log (every leaf, body, stored hash and checkpoint),
/// reconciles the mirror and checks it against the latest checkpoint.
pub fn fsck(dir: &DirArg, json_out: bool) -> CliResult {
    let d = DataDir::new(&dir.dir);
    let log = open(dir)?;
    let result = (|| {
        let key = d.load_signer()?.verifier();
        let report = crate::log::fsck::fsck(&log, &key)
            .map_err(|e| CliError::fail(format!("log check FAILED: {e}")))?;
        let cp = log.checkpoint_now_blocking()?;
        crate::log::mirror::sync_after(&log, &d)?;
        let chain = crate::log::mirror::verify_chain_file(
            &d.mirror_path(),
            crate::log::mirror::ChainCheck {
                hmac_key: None,
                strict: true,
                checkpoint: Some((cp.note.clone(), key)),
                anchor: None,
            },
        )?;
        if !chain.ok {
            return Err(CliError::fail(format!(
                "mirror check FAILED: {}",
                chain.summary
            )));
        }
        Ok::<_, CliError>(report)
    })();
    log.close();
    let r = result?;
    if json_out {
        print_json(&obj(vec![
            ("ok", JsonValue::Bool(true)),
            ("tree_size", int(r.tree_size)),
            ("checkpoints", int(r.checkpoints)),
            ("bodies", int(r.bodies)),
            ("erased", int(r.erased)),
        ]));
    } else {
        println!(
            "OK: {} leaves, {} checkpoints, {} bodies ({} erased) and the mirror all check",
            r.tree_size, r.checkpoints, r.bodies, r.erased
        );
    }
    Ok(())
}
