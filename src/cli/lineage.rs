//! `tlog lineage`, `tlog check` and `tlog erase`, and [`Target`]: the log a command works
//! on, a local data folder or a `tlog serve` (`--server`).
//!
//! Every event `lineage` and `check` show is read as a proof bundle and verified against
//! one signed checkpoint (signature by the log key, inclusion proof to its root, body
//! against its digest) before it is used: an auditor sees only what the log proves.
//!
//! `erase` works on a data folder, or on a server with an admin token
//! (`POST /v1/events/{id}/erase`); both follow [`crate::erasure`].

use std::cell::OnceCell;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::governance::{owner_default, stdin_is_terminal, InterruptGuard, Prompter};
use super::remote::{urlencode, Remote};
use super::{CliError, CliResult, DirArg, ServerArg};
use crate::core::bundle::ProofBundle;
use crate::core::checkpoint::{open_checkpoint, Checkpoint};
use crate::core::json::{self, JsonValue};
use crate::core::note::{parse_verifier_key, Ed25519Verifier};
use crate::datadir::DataDir;
use crate::erasure::{check_actor, check_erasable, check_reason, EraseError};
use crate::lineage::{
    dataset_ids, evaluate, expired_waivers, parse_requirement, Lineage, LineageEvent, Outcome,
    MAX_LINEAGE_DATASETS, MAX_LINEAGE_EVENTS,
};
use crate::log::event::NewEvent;
use crate::log::view::{int, obj, s};
use crate::log::{ListFilter, Log, LogConfig, MAX_LIST_LIMIT};

/// How a verifier key is given for `--server` (locally the data folder's key is used).
#[derive(Args, Debug, Clone)]
pub struct KeyOpt {
    /// The log's verifier key (`name+hex+base64`), to verify what a --server sends.
    #[arg(long, conflicts_with = "key_file")]
    key: Option<String>,
    /// A file holding the log's verifier key.
    #[arg(long)]
    key_file: Option<PathBuf>,
}

impl KeyOpt {
    fn load(&self) -> Result<Option<Ed25519Verifier>, CliError> {
        let text = match (&self.key, &self.key_file) {
            (Some(k), _) => k.clone(),
            (None, Some(p)) => {
                let b = super::local::read_limited(&p.display().to_string(), 4096)?;
                String::from_utf8_lossy(&b).into_owned()
            }
            (None, None) => return Ok(None),
        };
        parse_verifier_key(text.trim())
            .map(Some)
            .map_err(|e| CliError::usage(format!("bad verifier key: {e}")))
    }
}

/// The model, dataset and deployment ids of one event.
#[derive(Debug, Clone, Default)]
pub struct ScopeIds {
    /// Model id.
    pub model_id: Option<String>,
    /// Dataset id.
    pub dataset_id: Option<String>,
    /// Deployment id.
    pub deployment_id: Option<String>,
}

enum Inner {
    Local {
        log: Log,
        data: DataDir,
    },
    Remote {
        remote: Box<Remote>,
        key: OnceCell<Ed25519Verifier>,
    },
}

/// The log a command works on: a local data folder, or a server.
pub struct Target {
    inner: Inner,
    given_key: Option<Ed25519Verifier>,
}

impl Target {
    /// Opens the data folder, or connects to `--server` (then `key`, if given, is the
    /// log key everything the server sends is verified with).
    pub fn open(
        dir: &DirArg,
        server: &ServerArg,
        key: Option<&KeyOpt>,
    ) -> Result<Target, CliError> {
        let given_key = match key {
            Some(k) => k.load()?,
            None => None,
        };
        let inner = match &server.server {
            Some(url) => Inner::Remote {
                remote: Box::new(Remote::new(url, server.token.clone())?),
                key: OnceCell::new(),
            },
            None => {
                let data = DataDir::new(&dir.dir);
                let log = data.open_log(LogConfig::default())?;
                Inner::Local { log, data }
            }
        };
        Ok(Target { inner, given_key })
    }

    /// [`Target::open`] without a key, for best-effort reads.
    pub fn open_quiet(dir: &DirArg, server: &ServerArg) -> Result<Target, CliError> {
        Target::open(dir, server, None)
    }

    /// The local log, or a usage error naming `what` for a server.
    pub fn local(&self, what: &str) -> Result<(&Log, &DataDir), CliError> {
        match &self.inner {
            Inner::Local { log, data } => Ok((log, data)),
            Inner::Remote { .. } => Err(CliError::usage(format!(
                "{what} works on a local data folder only (the server has no endpoint for it)"
            ))),
        }
    }

    /// The log key: the data folder's, `--key`, or (with a warning) the server's.
    fn key(&self) -> Result<Ed25519Verifier, CliError> {
        if let Some(k) = &self.given_key {
            return Ok(k.clone());
        }
        match &self.inner {
            Inner::Local { data, .. } => Ok(data.load_signer()?.verifier()),
            Inner::Remote { remote, key } => {
                if let Some(k) = key.get() {
                    return Ok(k.clone());
                }
                let cp = remote.get_json("/v1/checkpoint")?;
                let vkey = cp.get("vkey").and_then(|v| v.as_str()).unwrap_or_default();
                eprintln!(
                    "tlog: warning: no --key given; verifying with the key the server advertises ({vkey})"
                );
                let k = parse_verifier_key(vkey)
                    .map_err(|e| CliError::fail(format!("server advertises a bad key: {e}")))?;
                let _ = key.set(k.clone());
                Ok(k)
            }
        }
    }

    /// Appends one event (durably; locally the mirror follows) and returns
    /// `{index, event_id, leaf_hash, existing}`.
    pub fn append(&self, ev: NewEvent) -> Result<JsonValue, CliError> {
        match &self.inner {
            Inner::Remote { remote, .. } => {
                let v = remote.post_events(&crate::log::event::new_event_to_json(&ev))?;
                if let Some(m) = v.get("message").and_then(|m| m.as_str()) {
                    return Err(CliError::usage(m.to_string()));
                }
                Ok(v)
            }
            Inner::Local { log, data } => {
                let r = log.append_blocking(vec![ev])?;
                crate::log::mirror::sync_after(log, data)?;
                let a = r
                    .into_iter()
                    .next()
                    .ok_or_else(|| CliError::fail("the log gave no result"))?
                    .map_err(|e| CliError::usage(e.to_string()))?;
                Ok(obj(vec![
                    ("index", int(a.index)),
                    ("event_id", s(a.event_id)),
                    ("leaf_hash", s(a.leaf_hash.to_hex())),
                    ("existing", JsonValue::Bool(a.existing)),
                ]))
            }
        }
    }

    /// The scope ids of the last `n` events, oldest first.
    pub fn recent_scopes(&self, n: u64) -> Result<Vec<ScopeIds>, CliError> {
        let n = n.min(MAX_LIST_LIMIT as u64);
        match &self.inner {
            Inner::Local { log, .. } => {
                let size = log.tree_size();
                let mut out = Vec::new();
                for i in size.saturating_sub(n)..size {
                    if let Some(ev) = log.event(i)? {
                        out.push(ScopeIds {
                            model_id: ev.header.model_id,
                            dataset_id: ev.header.dataset_id,
                            deployment_id: ev.header.deployment_id,
                        });
                    }
                }
                Ok(out)
            }
            Inner::Remote { remote, .. } => {
                let cp = remote.get_json("/v1/checkpoint")?;
                let size = match cp.get("log_size") {
                    Some(JsonValue::Number(json::JsonNumber::Int(i))) => *i as u64,
                    _ => 0,
                };
                if size == 0 {
                    return Ok(Vec::new());
                }
                let after = size
                    .checked_sub(n + 1)
                    .map(|a| format!("&after={a}"))
                    .unwrap_or_default();
                let v = remote.get_json(&format!("/v1/events?limit={n}{after}"))?;
                let text =
                    |e: &JsonValue, k: &str| e.get(k).and_then(|v| v.as_str()).map(str::to_string);
                Ok(match v.get("events") {
                    Some(JsonValue::Array(a)) => a
                        .iter()
                        .map(|e| ScopeIds {
                            model_id: text(e, "model_id"),
                            dataset_id: text(e, "dataset_id"),
                            deployment_id: text(e, "deployment_id"),
                        })
                        .collect(),
                    _ => Vec::new(),
                })
            }
        }
    }

    /// Every leaf index matching `filter` (at most `max`; more is an error).
    pub fn list_all(&self, filter: &ListFilter, max: usize) -> Result<Vec<u64>, CliError> {
        let mut out: Vec<u64> = Vec::new();
        let mut after: Option<u64> = None;
        loop {
            let page: Vec<u64> = match &self.inner {
                Inner::Local { log, .. } => log.list(filter, after, MAX_LIST_LIMIT)?,
                Inner::Remote { remote, .. } => {
                    let mut q = format!("/v1/events?limit={MAX_LIST_LIMIT}");
                    for (k, v) in [
                        ("model_id", &filter.model_id),
                        ("dataset_id", &filter.dataset_id),
                        ("deployment_id", &filter.deployment_id),
                        ("type", &filter.event_type),
                    ] {
                        if let Some(v) = v {
                            q.push_str(&format!("&{k}={}", urlencode(v)));
                        }
                    }
                    if let Some(a) = after {
                        q.push_str(&format!("&after={a}"));
                    }
                    let v = remote.get_json(&q)?;
                    match v.get("events") {
                        Some(JsonValue::Array(a)) => a
                            .iter()
                            .map(|e| match e.get("index") {
                                Some(JsonValue::Number(json::JsonNumber::Int(i)))
                                    if *i >= 0 && *i <= u64::MAX as i128 =>
                                {
                                    Ok(*i as u64)
                                }
                                _ => Err(CliError::fail("server sent an event without an index")),
                            })
                            .collect::<Result<_, _>>()?,
                        _ => return Err(CliError::fail("server sent no events list")),
                    }
                }
            };
            let Some(&last) = page.last() else { break };
            if after.is_some_and(|a| last <= a) {
                return Err(CliError::fail("the event list went backwards"));
            }
            out.extend(page);
            if out.len() > max {
                return Err(CliError::fail(format!(
                    "more than {max} events match; refusing to load them all"
                )));
            }
            after = Some(last);
        }
        Ok(out)
    }

    /// The latest checkpoint (signing one now, locally, if the log grew), verified.
    pub fn checkpoint(&self) -> Result<(Checkpoint, Vec<u8>), CliError> {
        let note = match &self.inner {
            Inner::Local { log, .. } => log.checkpoint_now_blocking()?.note.clone(),
            Inner::Remote { remote, .. } => {
                let cp = remote.get_json("/v1/checkpoint")?;
                cp.get("note")
                    .and_then(|n| n.as_str())
                    .ok_or_else(|| CliError::fail("the server has no checkpoint yet"))?
                    .as_bytes()
                    .to_vec()
            }
        };
        let key = self.key()?;
        let cp = open_checkpoint(&note, &key)
            .map_err(|e| CliError::fail(format!("checkpoint does not verify: {e}")))?;
        Ok((cp.checkpoint, note))
    }

    /// The event at `index`, read as a bundle at `size` and verified with the log key.
    pub fn verified_event(&self, index: u64, size: u64) -> Result<LineageEvent, CliError> {
        let bundle = match &self.inner {
            Inner::Local { log, .. } => {
                let note = log.checkpoint_at(size)?.ok_or_else(|| {
                    CliError::fail(format!("no checkpoint was signed at size {size}"))
                })?;
                let ev = log
                    .event(index)?
                    .ok_or_else(|| CliError::fail(format!("no event at index {index}")))?;
                let proof = log.inclusion_proof(index, size)?;
                crate::log::make_bundle(&ev, proof, note)
            }
            Inner::Remote { remote, .. } => {
                let b = remote.get_bytes(&format!("/v1/bundle/{index}?size={size}"))?;
                ProofBundle::parse(&b)
                    .map_err(|e| CliError::fail(format!("server sent a bad bundle: {e}")))?
            }
        };
        if bundle.leaf_index != index {
            return Err(CliError::fail(format!(
                "asked for event {index}, got a bundle for {}",
                bundle.leaf_index
            )));
        }
        let v = bundle
            .verify(&self.key()?)
            .map_err(|e| CliError::fail(format!("event {index} does not verify: {e}")))?;
        if v.checkpoint.tree_size != size {
            return Err(CliError::fail(format!(
                "event {index} was proved at size {}, not {size}",
                v.checkpoint.tree_size
            )));
        }
        Ok(LineageEvent::from_verified(&bundle, v))
    }

    /// Closes a local log (stops its writer).
    pub fn close(self) {
        if let Inner::Local { log, .. } = &self.inner {
            log.close();
        }
    }
}

/// Builds the verified lineage of `model_id`: its events, then the events of every dataset
/// they name, each verified against the latest checkpoint.
pub fn build_lineage(target: &Target, model_id: &str) -> Result<Lineage, CliError> {
    let (cp, note) = target.checkpoint()?;
    let size = cp.tree_size;
    let model_filter = ListFilter {
        model_id: Some(model_id.to_string()),
        ..Default::default()
    };
    let mut events = Vec::new();
    for i in target.list_all(&model_filter, MAX_LINEAGE_EVENTS)? {
        if i < size {
            events.push(target.verified_event(i, size)?);
        }
    }
    if events.is_empty() {
        return Err(CliError::fail(format!(
            "no event of model {model_id:?} is covered by the checkpoint at size {size}"
        )));
    }
    let datasets = dataset_ids(events.iter().map(|e| &e.header));
    if datasets.len() > MAX_LINEAGE_DATASETS {
        return Err(CliError::fail(format!(
            "model {model_id} names more than {MAX_LINEAGE_DATASETS} datasets"
        )));
    }
    let mut have: std::collections::BTreeSet<u64> = events.iter().map(|e| e.index).collect();
    for d in &datasets {
        let f = ListFilter {
            dataset_id: Some(d.clone()),
            ..Default::default()
        };
        for i in target.list_all(&f, MAX_LINEAGE_EVENTS)? {
            if i < size && have.insert(i) {
                events.push(target.verified_event(i, size)?);
                if events.len() > MAX_LINEAGE_EVENTS {
                    return Err(CliError::fail(format!(
                        "the lineage has more than {MAX_LINEAGE_EVENTS} events"
                    )));
                }
            }
        }
    }
    Ok(Lineage::new(
        model_id.to_string(),
        datasets,
        cp,
        note,
        events,
    ))
}

/// Output formats of `tlog lineage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LineageFormat {
    /// One line per event.
    Text,
    /// A JSON document.
    Json,
    /// A Markdown report.
    Md,
    /// One self-contained HTML page with a timeline.
    Html,
}

/// Arguments of `tlog lineage`.
#[derive(Args, Debug)]
pub struct LineageArgs {
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    server: ServerArg,
    #[command(flatten)]
    key: KeyOpt,
    /// The model.
    #[arg(long)]
    model_id: String,
    /// Output format (--json means json).
    #[arg(long, value_enum, default_value_t = LineageFormat::Text)]
    format: LineageFormat,
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// `tlog lineage`.
pub fn lineage(a: LineageArgs, json_out: bool) -> CliResult {
    let target = Target::open(&a.dir, &a.server, Some(&a.key))?;
    let r = build_lineage(&target, &a.model_id);
    target.close();
    let l = r?;
    let format = if json_out {
        LineageFormat::Json
    } else {
        a.format
    };
    let text = match format {
        LineageFormat::Text => l.to_text(),
        LineageFormat::Json => {
            let mut t = json::to_json_string(&l.to_json());
            t.push('\n');
            t
        }
        LineageFormat::Md => l.to_markdown(),
        LineageFormat::Html => l.to_html(),
    };
    match &a.output {
        Some(p) => {
            std::fs::write(p, text).map_err(|e| CliError::fail(format!("{}: {e}", p.display())))?
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// Arguments of `tlog check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    server: ServerArg,
    #[command(flatten)]
    key: KeyOpt,
    /// The model.
    #[arg(long)]
    model_id: String,
    /// A requirement (repeatable), e.g. `Approval` or `Evaluation.details.accuracy >= 0.8`;
    /// see spec/policy.md.
    #[arg(long = "require", value_name = "REQUIREMENT")]
    requires: Vec<String>,
    /// Fail if a risk waiver of the model has lapsed.
    #[arg(long)]
    no_expired_waivers: bool,
}

fn outcome_json(o: &Outcome, l: &Lineage) -> JsonValue {
    let ev = o
        .event
        .and_then(|i| l.events.iter().find(|e| e.index == i))
        .map(|e| {
            obj(vec![
                ("index", int(e.index)),
                ("event_id", s(e.header.event_id.clone())),
                ("event_type", s(e.header.event_type.clone())),
                ("timestamp", s(e.header.timestamp.clone())),
                ("leaf_hash", s(e.leaf_hash.to_hex())),
                (
                    "inclusion_proof",
                    JsonValue::Array(
                        e.inclusion_proof
                            .iter()
                            .map(|h| s(crate::core::bundle::b64(h.as_bytes())))
                            .collect(),
                    ),
                ),
            ])
        })
        .unwrap_or(JsonValue::Null);
    obj(vec![
        ("requirement", s(o.requirement.clone())),
        ("held", JsonValue::Bool(o.held)),
        ("reason", s(o.reason.clone())),
        ("event", ev),
    ])
}

/// `tlog check`: exit 0 only if the log proves every requirement.
pub fn check(a: CheckArgs, json_out: bool) -> CliResult {
    if a.requires.is_empty() && !a.no_expired_waivers {
        return Err(CliError::usage(
            "nothing to check: give --require REQUIREMENT and/or --no-expired-waivers",
        ));
    }
    // Parse every requirement before touching the log.
    let reqs = a
        .requires
        .iter()
        .map(|r| parse_requirement(r).map_err(|e| CliError::usage(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let target = Target::open(&a.dir, &a.server, Some(&a.key))?;
    let r = build_lineage(&target, &a.model_id);
    target.close();
    let l = r?;
    let mut outcomes: Vec<Outcome> = reqs.iter().map(|r| evaluate(r, &l)).collect();
    if a.no_expired_waivers {
        let w = expired_waivers(&l, crate::os::now_micros());
        if w.is_empty() {
            outcomes.push(Outcome {
                requirement: "no expired waivers".into(),
                held: true,
                event: None,
                reason: "the model has no risk waiver".into(),
            });
        }
        outcomes.extend(w);
    }
    let failed = outcomes.iter().filter(|o| !o.held).count();
    if json_out {
        println!(
            "{}",
            json::to_json_string(&obj(vec![
                ("ok", JsonValue::Bool(failed == 0)),
                ("model_id", s(a.model_id.clone())),
                ("tree_size", int(l.checkpoint.tree_size)),
                ("root_hash", s(l.checkpoint.root_hash.to_hex())),
                (
                    "checkpoint",
                    s(String::from_utf8_lossy(&l.checkpoint_note).into_owned())
                ),
                (
                    "results",
                    JsonValue::Array(outcomes.iter().map(|o| outcome_json(o, &l)).collect()),
                ),
            ]))
        );
    } else {
        for o in &outcomes {
            let ev = o
                .event
                .and_then(|i| l.events.iter().find(|e| e.index == i))
                .map(|e| {
                    format!(
                        " [event {} {} leaf {}, inclusion proof of {} hashes verified]",
                        e.index,
                        e.header.event_id,
                        e.leaf_hash,
                        e.inclusion_proof.len()
                    )
                })
                .unwrap_or_default();
            println!(
                "{}  {}: {}{ev}",
                if o.held { "HELD  " } else { "FAILED" },
                o.requirement,
                o.reason
            );
        }
        println!(
            "checked against the checkpoint of {} at size {} (root {})",
            l.checkpoint.origin, l.checkpoint.tree_size, l.checkpoint.root_hash
        );
    }
    if failed > 0 {
        return Err(CliError::fail(format!(
            "{failed} of {} requirements not proved for model {}",
            outcomes.len(),
            a.model_id
        )));
    }
    Ok(())
}

/// Arguments of `tlog erase`.
#[derive(Args, Debug)]
pub struct EraseArgs {
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    server: ServerArg,
    /// Leaf index or event id of the event whose body to erase.
    event: String,
    /// Why (recorded in the Erasure event and beside the erased body).
    #[arg(long)]
    reason: String,
    /// Who erases; default $AUDIT_OWNER.
    #[arg(long)]
    owner: Option<String>,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    yes: bool,
}

/// What `tlog erase` reports.
struct EraseReport {
    index: u64,
    event_id: String,
    erased_by: u64,
    reason: String,
    already: bool,
    /// The Erasure event's id and leaf hash (when this run recorded or found it).
    erasure: Option<(String, String)>,
    /// What happened to the mirror (a local rebuild, or the server's answer).
    mirror: String,
}

fn erase_failed(e: EraseError) -> CliError {
    match e {
        EraseError::Invalid(_) | EraseError::IsErasure(_) | EraseError::OtherErasure { .. } => {
            CliError::usage(e.to_string())
        }
        EraseError::Log(l) => l.into(),
        other => CliError::fail(other.to_string()),
    }
}

/// `tlog erase`: deletes an event's private body and salt, records an `Erasure` event, and
/// rebuilds the mirror; on a data folder, or with `--server` through
/// `POST /v1/events/{id}/erase` (an admin token). Proofs and checkpoints stay valid (leaves
/// commit to bodies only by salted digest). Steps and crash safety: [`crate::erasure`].
pub fn erase(a: EraseArgs, json_out: bool) -> CliResult {
    let reason = check_reason(&a.reason).map_err(|m| CliError::usage(format!("--{m}")))?;
    let owner = owner_default(&a.owner)
        .map(|o| check_actor(&o).map_err(|m| CliError::usage(format!("--owner: {m}"))))
        .transpose()?;
    let guard = InterruptGuard::install();
    let r = match &a.server.server {
        Some(url) => erase_remote(&a, url, &reason, owner, &guard),
        None => erase_local(&a, &reason, owner, &guard),
    };
    let r = r?;
    if json_out {
        let mut m = vec![
            ("index", int(r.index)),
            ("event_id", s(r.event_id)),
            ("erased_by", int(r.erased_by)),
            ("reason", s(r.reason)),
            ("already_erased", JsonValue::Bool(r.already)),
        ];
        if let Some((id, leaf)) = r.erasure {
            m.push(("erasure_event_id", s(id)));
            m.push(("erasure_leaf_hash", s(leaf)));
        }
        m.push(("mirror", s(r.mirror)));
        println!("{}", json::to_json_string(&obj(m)));
    } else if r.already {
        println!(
            "event {} ({}) was already erased by event {} ({})",
            r.index, r.event_id, r.erased_by, r.reason
        );
    } else {
        let mirror = match r.mirror.as_str() {
            "rebuilt" => "; the mirror was rebuilt",
            "pending" => "; the server is still rebuilding its mirror",
            _ => "",
        };
        println!(
            "erased the body of event {} ({}); recorded as Erasure event {}{mirror}",
            r.index, r.event_id, r.erased_by
        );
    }
    Ok(())
}

fn confirm_erasure(
    a: &EraseArgs,
    index: impl std::fmt::Display,
    event_type: &str,
    event_id: &str,
    reason: &str,
) -> Result<(), CliError> {
    if stdin_is_terminal() && !a.yes {
        println!(
            "About to erase the body (actor, details) of event {index} ({event_type} {event_id}), for: {reason}"
        );
        if !Prompter::new().confirm("Erase it? This cannot be undone.")? {
            return Err(CliError::fail("not confirmed; nothing was erased"));
        }
    }
    Ok(())
}

fn erase_local(
    a: &EraseArgs,
    reason: &str,
    owner: Option<String>,
    guard: &InterruptGuard,
) -> Result<EraseReport, CliError> {
    let target = Target::open(&a.dir, &a.server, None)?;
    let r = (|| {
        let (log, data) = target.local("erase")?;
        let index = super::local::resolve(log, &a.event)?;
        let ev = log
            .event(index)?
            .ok_or_else(|| CliError::fail(format!("no event at index {index}")))?;
        match check_erasable(&ev) {
            Err(EraseError::AlreadyErased {
                erased_by, reason, ..
            }) => {
                // A crash after the erasure but before the mirror's rebuild: finish it.
                crate::log::mirror::sync_after(log, data)?;
                return Ok(EraseReport {
                    index,
                    event_id: ev.header.event_id,
                    erased_by,
                    reason,
                    already: true,
                    erasure: None,
                    mirror: "unchanged".into(),
                });
            }
            Err(e) => return Err(erase_failed(e)),
            Ok(()) => {}
        }
        confirm_erasure(a, index, &ev.header.event_type, &ev.header.event_id, reason)?;
        guard.disarm();
        let mirror = data.mirror_path();
        let done = crate::erasure::erase_blocking(log, &ev, reason, owner, None, Some(&mirror))
            .map_err(erase_failed)?;
        // The mirror rebuilt without the body (every later line's chain hash changes).
        crate::log::mirror::rebuild(log, &mirror)?;
        Ok(EraseReport {
            index,
            event_id: done.event_id,
            erased_by: done.erasure.index,
            reason: done.reason,
            already: false,
            erasure: Some((done.erasure.event_id, done.erasure.leaf_hash.to_hex())),
            mirror: "rebuilt".into(),
        })
    })();
    target.close();
    r
}

fn erase_remote(
    a: &EraseArgs,
    url: &str,
    reason: &str,
    owner: Option<String>,
    guard: &InterruptGuard,
) -> Result<EraseReport, CliError> {
    let remote = Remote::new(url, a.server.token.clone())?;
    if !remote.has_token() {
        return Err(CliError::usage(
            "erasing on a server needs an admin token: set TLOG_TOKEN (see `tlog token create --admin`)",
        ));
    }
    let path = format!("/v1/events/{}", urlencode(&a.event));
    if stdin_is_terminal() && !a.yes {
        // Show what is about to be erased (public read); the server decides the rest.
        let ev = remote.get_json(&path)?;
        let text = |k: &str| {
            ev.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        if ev.get("erased").is_none_or(|e| *e == JsonValue::Null) {
            let index = ev
                .get("index")
                .map(json::to_json_string)
                .unwrap_or_default();
            confirm_erasure(a, index, &text("event_type"), &text("event_id"), reason)?;
        }
    }
    guard.disarm();
    let mut body = vec![("reason", s(reason.to_string()))];
    if let Some(o) = owner {
        body.push(("actor", s(o)));
    }
    let (status, answer) = remote.post_json(&format!("{path}/erase"), &obj(body))?;
    let v = json::parse(&answer, json::ParseOptions::STRICT).ok();
    let num = |v: &JsonValue, k: &str| -> Result<u64, CliError> {
        match v.get(k) {
            Some(JsonValue::Number(json::JsonNumber::Int(i))) if *i >= 0 => Ok(*i as u64),
            _ => Err(CliError::fail(format!(
                "{}: answer has no {k}",
                remote.base()
            ))),
        }
    };
    let text = |v: &JsonValue, k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string()
    };
    if status == 409 {
        if let Some(v) = v.as_ref().filter(|v| v.get("erased_by").is_some()) {
            return Ok(EraseReport {
                index: num(v, "erased_index")?,
                event_id: text(v, "erased_event_id"),
                erased_by: num(v, "erased_by")?,
                reason: text(v, "reason"),
                already: true,
                erasure: None,
                mirror: "unchanged".into(),
            });
        }
    }
    let v = remote.check(status, &answer)?;
    Ok(EraseReport {
        index: num(&v, "erased_index")?,
        event_id: text(&v, "erased_event_id"),
        erased_by: num(&v, "index")?,
        reason: text(&v, "reason"),
        already: false,
        erasure: Some((text(&v, "event_id"), text(&v, "leaf_hash"))),
        mirror: text(&v, "mirror"),
    })
}
