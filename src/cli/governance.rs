//! `tlog approve | waive | attest`: governance decisions, from flags or interactively.
//!
//! The recorded events match llm-audit-trail 0.1.0's `record_approval`, `record_waiver`
//! and `record_attestation` (event types `Approval`, `RiskWaiver`, `Attestation`; system
//! `governance`; actor = owner; the same `details` fields).
//!
//! Interaction rules (issue 7):
//! - `--interactive`, or a required field missing while stdin is a terminal, asks for each
//!   missing field; model, dataset and deployment ids recently seen in the log are offered
//!   as numbered choices; `AUDIT_OWNER` pre-fills the owner (Enter keeps it).
//! - Answers are checked as they are typed (JSON objects must parse, references must be
//!   URLs, a waiver's end must be a real date in the future); a bad answer is asked again.
//! - A required field never gets a default: without a terminal, a missing one exits 2 with
//!   one line naming it.
//! - A summary is confirmed before anything is written (`--yes` skips). Ctrl-C or end of
//!   input while asking exits 130 and writes nothing.
//!
//! This module also holds the prompt machinery ([`Prompter`], [`InterruptGuard`]) that
//! `tlog erase` reuses for its confirmation.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;

use super::lineage::Target;
use super::{CliError, CliResult, DirArg, ServerArg};
use crate::core::json::{self, JsonValue, ParseOptions};
use crate::log::event::NewEvent;

/// Exit code when the person interrupts (Ctrl-C) or input ends.
pub const EXIT_INTERRUPTED: i32 = 130;
/// Environment variable that pre-fills the owner (as in the seed).
pub const AUDIT_OWNER_ENV: &str = "AUDIT_OWNER";
/// Most recent ids offered as choices for each scope field.
pub const MAX_CHOICES: usize = 9;
/// Events scanned (newest first) for recent ids.
pub const RECENT_SCAN: u64 = 1000;
/// Longest answer or flag value accepted for a text field, in bytes.
pub const MAX_TEXT_BYTES: usize = 16 << 10;
/// Longest scope id (`spec/entry.md` `MAX_FIELD_LEN`).
pub const MAX_ID_BYTES: usize = 256;
/// Most references or waived controls in one decision.
pub const MAX_LIST_ITEMS: usize = 100;

// ---------------------------------------------------------------------------------------
// Ctrl-C and reading answers
// ---------------------------------------------------------------------------------------

/// While armed, Ctrl-C (SIGINT) ends the process with exit code 130 and a one-line
/// message; disarm it before writing, so that a confirmed write is never cut short.
pub struct InterruptGuard {
    armed: Arc<AtomicBool>,
}

impl InterruptGuard {
    /// Installs the SIGINT handler (on a small thread) and arms it.
    pub fn install() -> InterruptGuard {
        let armed = Arc::new(AtomicBool::new(true));
        let a = armed.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("tlog-interrupt".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(_) => {
                        let _ = ready_tx.send(());
                        return;
                    }
                };
                rt.block_on(async move {
                    use tokio::signal::unix::{signal, SignalKind};
                    let sig = signal(SignalKind::interrupt());
                    let _ = ready_tx.send(());
                    let Ok(mut sig) = sig else { return };
                    while sig.recv().await.is_some() {
                        if a.load(Ordering::SeqCst) {
                            eprintln!("\ntlog: interrupted; nothing was recorded");
                            std::process::exit(EXIT_INTERRUPTED);
                        }
                    }
                });
            });
        if spawned.is_ok() {
            // Wait until the handler is registered, so an early Ctrl-C is not lost.
            let _ = ready_rx.recv();
        }
        InterruptGuard { armed }
    }

    /// From now on Ctrl-C is ignored (the write in progress completes).
    pub fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }
}

/// Why asking stopped.
fn aborted() -> CliError {
    CliError {
        code: EXIT_INTERRUPTED,
        message: "input ended; nothing was recorded".into(),
    }
}

/// Reads answers from stdin, writing prompts to stdout.
pub struct Prompter {
    input: Box<dyn BufRead>,
}

impl Default for Prompter {
    fn default() -> Self {
        Prompter::new()
    }
}

impl Prompter {
    /// A prompter on the process's stdin.
    pub fn new() -> Prompter {
        Prompter {
            input: Box::new(std::io::BufReader::new(std::io::stdin())),
        }
    }

    /// Prints `prompt` and reads one line (without its end). End of input is an abort.
    pub fn line(&mut self, prompt: &str) -> Result<String, CliError> {
        let mut out = std::io::stdout();
        let _ = write!(out, "{prompt}");
        let _ = out.flush();
        let mut buf = Vec::new();
        let n = std::io::Read::take(&mut self.input, MAX_TEXT_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| CliError::fail(format!("reading the answer: {e}")))?;
        if n == 0 {
            let _ = writeln!(out);
            return Err(aborted());
        }
        if buf.len() > MAX_TEXT_BYTES {
            // Drain the rest of the overlong line; the field's check refuses its length.
            let mut rest = Vec::new();
            let _ = self.input.read_until(b'\n', &mut rest);
        }
        let s = String::from_utf8_lossy(&buf);
        Ok(s.trim_end_matches(['\n', '\r']).to_string())
    }

    /// Asks a yes/no question; only `y`/`yes` is yes.
    pub fn confirm(&mut self, question: &str) -> Result<bool, CliError> {
        let a = self.line(&format!("{question} [y/N]: "))?;
        Ok(matches!(
            a.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    }
}

/// True when stdin is a terminal (a person can be asked).
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

// ---------------------------------------------------------------------------------------
// Fields
// ---------------------------------------------------------------------------------------

/// How a field's value is read and checked (the same rules for flags and answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Text of at least this many characters.
    Text(usize),
    /// A model, dataset or deployment id.
    ScopeId,
    /// A JSON object.
    JsonObject,
    /// A list of URLs.
    Urls,
    /// A list of control names.
    Controls,
    /// A date or RFC 3339 time in the future.
    FutureDate,
}

/// One field of a decision.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    prompt: &'static str,
    flag: &'static str,
    required: bool,
    hint: &'static str,
    kind: Kind,
}

const OWNER: Field = Field {
    name: "owner",
    prompt: "Owner (person or committee)",
    flag: "--owner",
    required: true,
    hint: "",
    kind: Kind::Text(1),
};
const SCOPE: [Field; 3] = [
    Field {
        name: "model_id",
        prompt: "Model ID",
        flag: "--model-id",
        required: false,
        hint: "",
        kind: Kind::ScopeId,
    },
    Field {
        name: "dataset_id",
        prompt: "Dataset ID",
        flag: "--dataset-id",
        required: false,
        hint: "",
        kind: Kind::ScopeId,
    },
    Field {
        name: "deployment_id",
        prompt: "Deployment ID",
        flag: "--deployment-id",
        required: false,
        hint: "",
        kind: Kind::ScopeId,
    },
];
const REFERENCES: Field = Field {
    name: "references",
    prompt: "References",
    flag: "--reference",
    required: false,
    hint: "URLs, comma-separated",
    kind: Kind::Urls,
};
const RATIONALE: Field = Field {
    name: "rationale",
    prompt: "Rationale",
    flag: "--rationale",
    required: true,
    hint: "",
    kind: Kind::Text(3),
};

/// The decision kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// `Approval`.
    Approval,
    /// `RiskWaiver`.
    RiskWaiver,
    /// `Attestation`.
    Attestation,
}

impl Decision {
    /// The event type.
    pub fn event_type(self) -> &'static str {
        match self {
            Decision::Approval => "Approval",
            Decision::RiskWaiver => "RiskWaiver",
            Decision::Attestation => "Attestation",
        }
    }

    fn fields(self) -> Vec<Field> {
        let mut v = vec![OWNER];
        match self {
            Decision::Approval => {
                v.push(RATIONALE);
                v.extend(SCOPE);
                v.push(Field {
                    name: "constraints",
                    prompt: "Constraints",
                    flag: "--constraints",
                    required: false,
                    hint: "JSON object",
                    kind: Kind::JsonObject,
                });
            }
            Decision::RiskWaiver => {
                v.push(RATIONALE);
                v.extend(SCOPE);
                v.push(Field {
                    name: "waived_controls",
                    prompt: "Waived controls",
                    flag: "--waived-control",
                    required: true,
                    hint: "comma-separated, e.g. SLO:latency_p95",
                    kind: Kind::Controls,
                });
                v.push(Field {
                    name: "time_bound_until",
                    prompt: "Waiver ends on",
                    flag: "--until",
                    required: false,
                    hint: "YYYY-MM-DD, in the future",
                    kind: Kind::FutureDate,
                });
            }
            Decision::Attestation => {
                v.push(Field {
                    name: "statement",
                    prompt: "Statement",
                    flag: "--statement",
                    required: true,
                    hint: "",
                    kind: Kind::Text(3),
                });
                v.extend(SCOPE);
            }
        }
        v.push(REFERENCES);
        v
    }
}

fn text(raw: &str, min: usize) -> Result<String, String> {
    let v = raw.trim();
    if v.chars().count() < min {
        return Err(if min == 1 {
            "is empty".into()
        } else {
            format!("needs at least {min} characters")
        });
    }
    if v.len() > MAX_TEXT_BYTES {
        return Err(format!("is longer than {MAX_TEXT_BYTES} bytes"));
    }
    if v.chars().any(char::is_control) {
        return Err("contains a control character".into());
    }
    Ok(v.to_string())
}

/// Checks a URL: `scheme://host...`, no spaces.
pub fn check_url(raw: &str) -> Result<String, String> {
    let v = raw.trim();
    let bad = || format!("{v:?} is not a URL (like https://host/path)");
    let (scheme, rest) = v.split_once("://").ok_or_else(bad)?;
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if !scheme_ok || host.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    if v.len() > 2048 {
        return Err(format!("a URL longer than 2048 bytes: {}…", &v[..40]));
    }
    Ok(v.to_string())
}

fn list_items(raw: &str) -> Vec<&str> {
    raw.split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parses one flag value or typed answer for `kind`.
fn parse_value(kind: Kind, raw: &str) -> Result<JsonValue, String> {
    match kind {
        Kind::Text(min) => text(raw, min).map(JsonValue::String),
        Kind::ScopeId => {
            let v = text(raw, 1)?;
            if v.len() > MAX_ID_BYTES {
                return Err(format!("is longer than {MAX_ID_BYTES} bytes"));
            }
            Ok(JsonValue::String(v))
        }
        Kind::JsonObject => {
            if raw.len() > MAX_TEXT_BYTES {
                return Err(format!("is longer than {MAX_TEXT_BYTES} bytes"));
            }
            let v = json::parse(raw.trim().as_bytes(), ParseOptions::STRICT)
                .map_err(|e| format!("is not valid JSON ({e})"))?;
            match v {
                JsonValue::Object(_) => Ok(v),
                _ => Err("must be a JSON object, like {\"rollout\": \"10%\"}".into()),
            }
        }
        Kind::Urls => {
            let items = list_items(raw);
            if items.len() > MAX_LIST_ITEMS {
                return Err(format!("has more than {MAX_LIST_ITEMS} items"));
            }
            items
                .into_iter()
                .map(|u| check_url(u).map(JsonValue::String))
                .collect::<Result<Vec<_>, _>>()
                .map(JsonValue::Array)
        }
        Kind::Controls => {
            let items: Vec<&str> = raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            if items.is_empty() {
                return Err("needs at least one control".into());
            }
            if items.len() > MAX_LIST_ITEMS {
                return Err(format!("has more than {MAX_LIST_ITEMS} items"));
            }
            items
                .into_iter()
                .map(|c| text(c, 1).map(JsonValue::String))
                .collect::<Result<Vec<_>, _>>()
                .map(JsonValue::Array)
        }
        Kind::FutureDate => crate::lineage::validate_future_until(raw, crate::os::now_micros())
            .map(JsonValue::String),
    }
}

fn is_blank(v: &JsonValue) -> bool {
    match v {
        JsonValue::Null => true,
        JsonValue::String(s) => s.is_empty(),
        JsonValue::Array(a) => a.is_empty(),
        JsonValue::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn show(v: &JsonValue) -> String {
    match v {
        JsonValue::String(s) => s.clone(),
        other => json::to_json_string(other),
    }
}

// ---------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------

/// Options every decision command takes.
#[derive(Args, Debug, Clone)]
pub struct DecisionArgs {
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    server: ServerArg,
    /// Who decides (person or committee); default $AUDIT_OWNER.
    #[arg(long)]
    owner: Option<String>,
    /// Model the decision is about.
    #[arg(long)]
    model_id: Option<String>,
    /// Dataset the decision is about.
    #[arg(long)]
    dataset_id: Option<String>,
    /// Deployment the decision is about.
    #[arg(long)]
    deployment_id: Option<String>,
    /// Supporting URL (repeatable).
    #[arg(long = "reference", value_name = "URL")]
    references: Vec<String>,
    /// Ask for every field left blank.
    #[arg(short, long, conflicts_with = "no_interactive")]
    interactive: bool,
    /// Never ask; fail if a required field is missing.
    #[arg(long)]
    no_interactive: bool,
    /// Do not ask for confirmation before recording.
    #[arg(short, long)]
    yes: bool,
}

/// Arguments of `tlog approve`.
#[derive(Args, Debug)]
pub struct ApproveArgs {
    #[command(flatten)]
    common: DecisionArgs,
    /// Why it is approved (at least 3 characters).
    #[arg(long)]
    rationale: Option<String>,
    /// Conditions of the approval, as a JSON object.
    #[arg(long, value_name = "JSON")]
    constraints: Option<String>,
}

/// Arguments of `tlog waive`.
#[derive(Args, Debug)]
pub struct WaiveArgs {
    #[command(flatten)]
    common: DecisionArgs,
    /// Why the risk is accepted (at least 3 characters).
    #[arg(long)]
    rationale: Option<String>,
    /// A control not applied (repeatable), e.g. `SLO:latency_p95`.
    #[arg(long = "waived-control", value_name = "CONTROL")]
    waived_controls: Vec<String>,
    /// Date (YYYY-MM-DD, in the future) or RFC 3339 time after which the waiver lapses.
    #[arg(long = "until", alias = "time-bound-until", value_name = "DATE")]
    until: Option<String>,
}

/// Arguments of `tlog attest`.
#[derive(Args, Debug)]
pub struct AttestArgs {
    #[command(flatten)]
    common: DecisionArgs,
    /// The statement the owner stands behind (at least 3 characters).
    #[arg(long)]
    statement: Option<String>,
}

/// `tlog approve`.
pub fn approve(a: ApproveArgs, json_out: bool) -> CliResult {
    let given = vec![
        ("rationale", a.rationale.into_iter().collect()),
        ("constraints", a.constraints.into_iter().collect()),
    ];
    record(Decision::Approval, a.common, given, json_out)
}

/// `tlog waive`.
pub fn waive(a: WaiveArgs, json_out: bool) -> CliResult {
    let given = vec![
        ("rationale", a.rationale.into_iter().collect()),
        ("waived_controls", a.waived_controls),
        ("time_bound_until", a.until.into_iter().collect()),
    ];
    record(Decision::RiskWaiver, a.common, given, json_out)
}

/// `tlog attest`.
pub fn attest(a: AttestArgs, json_out: bool) -> CliResult {
    let given = vec![("statement", a.statement.into_iter().collect())];
    record(Decision::Attestation, a.common, given, json_out)
}

/// The owner default: `--owner`, else `$AUDIT_OWNER`.
pub fn owner_default(flag: &Option<String>) -> Option<String> {
    flag.clone().or_else(|| {
        std::env::var(AUDIT_OWNER_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty())
    })
}

/// Recent scope ids, newest first: (model ids, dataset ids, deployment ids).
type Recent = [Vec<String>; 3];

fn record(
    decision: Decision,
    common: DecisionArgs,
    given: Vec<(&'static str, Vec<String>)>,
    json_out: bool,
) -> CliResult {
    let fields = decision.fields();
    let mut raw: Vec<(&str, Vec<String>)> = given;
    raw.push(("model_id", common.model_id.clone().into_iter().collect()));
    raw.push((
        "dataset_id",
        common.dataset_id.clone().into_iter().collect(),
    ));
    raw.push((
        "deployment_id",
        common.deployment_id.clone().into_iter().collect(),
    ));
    raw.push(("references", common.references.clone()));
    raw.push(("owner", common.owner.clone().into_iter().collect()));
    // Flags are checked with the same rules as answers; a bad flag is a usage error.
    let mut values: Vec<(&'static str, JsonValue)> = Vec::new();
    for f in &fields {
        let given: &[String] = raw
            .iter()
            .find(|(n, _)| *n == f.name)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[]);
        let v = if given.is_empty() {
            JsonValue::Null
        } else if matches!(f.kind, Kind::Urls | Kind::Controls) {
            let mut items = Vec::new();
            for g in given {
                match parse_value(f.kind, g) {
                    Ok(JsonValue::Array(a)) => items.extend(a),
                    Ok(_) => {}
                    Err(e) => return Err(CliError::usage(format!("{}: {} {e}", f.flag, f.name))),
                }
            }
            JsonValue::Array(items)
        } else {
            parse_value(f.kind, &given[0])
                .map_err(|e| CliError::usage(format!("{}: {} {e}", f.flag, f.name)))?
        };
        values.push((f.name, v));
    }
    let owner_env = owner_default(&None);
    let tty = stdin_is_terminal();
    let missing: Vec<&Field> = fields
        .iter()
        .filter(|f| {
            f.required
                && values.iter().any(|(n, v)| n == &f.name && is_blank(v))
                && !(f.name == "owner" && owner_env.is_some())
        })
        .collect();
    let interactive = tty && !common.no_interactive && (common.interactive || !missing.is_empty());
    let guard = InterruptGuard::install();
    if !interactive {
        if let Some(m) = missing.first() {
            return Err(CliError::usage(format!(
                "{} needs {} ({}){}",
                decision.event_type(),
                m.name,
                m.flag,
                if tty {
                    ""
                } else {
                    "; there is no terminal to ask on, pass it as a flag"
                }
            )));
        }
        set_blank(&mut values, "owner", owner_env.clone(), Kind::Text(1))?;
    }
    let mut prompter = Prompter::new();
    if interactive {
        let recent = recent_ids(&common.dir, &common.server);
        for f in &fields {
            let slot = values
                .iter_mut()
                .find(|(n, _)| *n == f.name)
                .expect("field");
            if !is_blank(&slot.1) {
                continue;
            }
            let default = if f.name == "owner" {
                owner_env.clone()
            } else {
                None
            };
            let choices: &[String] = match f.name {
                "model_id" => &recent[0],
                "dataset_id" => &recent[1],
                "deployment_id" => &recent[2],
                _ => &[],
            };
            slot.1 = ask(&mut prompter, f, default.as_deref(), choices)?;
        }
    }
    // A person at a terminal confirms; scripts, --yes and --no-interactive do not.
    if tty && !common.yes && !common.no_interactive {
        println!("\nAbout to record {}:", decision.event_type());
        for (n, v) in &values {
            if !is_blank(v) {
                println!("  {n}: {}", show(v));
            }
        }
        if !prompter.confirm("Record this?")? {
            return Err(CliError::fail("not confirmed; nothing was recorded"));
        }
    }
    guard.disarm();
    let ev = build_event(decision, &values);
    crate::log::event::prepare(ev.clone()).map_err(|e| CliError::usage(e.to_string()))?;
    let target = Target::open(&common.dir, &common.server, None)?;
    let r = target.append(ev);
    target.close();
    print_recorded(decision.event_type(), &r?, json_out);
    Ok(())
}

fn set_blank(
    values: &mut [(&'static str, JsonValue)],
    name: &str,
    v: Option<String>,
    kind: Kind,
) -> Result<(), CliError> {
    if let (Some(slot), Some(v)) = (values.iter_mut().find(|(n, _)| *n == name), v) {
        if is_blank(&slot.1) {
            slot.1 = parse_value(kind, &v)
                .map_err(|e| CliError::usage(format!("${AUDIT_OWNER_ENV}: {name} {e}")))?;
        }
    }
    Ok(())
}

/// Asks for one field until the answer is valid.
fn ask(
    p: &mut Prompter,
    f: &Field,
    default: Option<&str>,
    choices: &[String],
) -> Result<JsonValue, CliError> {
    if !choices.is_empty() {
        println!("Recent {}s:", f.name);
        for (i, c) in choices.iter().enumerate() {
            println!("  {}. {c}", i + 1);
        }
    }
    let mut hint = f.hint.to_string();
    if !choices.is_empty() {
        hint = "a number above or a new value".into();
    }
    if !f.required {
        if !hint.is_empty() {
            hint.push_str(", ");
        }
        hint.push_str("Enter to skip");
    }
    let prompt = format!(
        "{}{}{}: ",
        f.prompt,
        if hint.is_empty() {
            String::new()
        } else {
            format!(" ({hint})")
        },
        default.map(|d| format!(" [{d}]")).unwrap_or_default()
    );
    loop {
        let mut answer = p.line(&prompt)?.trim().to_string();
        if answer.is_empty() {
            if let Some(d) = default {
                answer = d.to_string();
            }
        }
        if answer.is_empty() {
            if f.required {
                println!("  {} is required.", f.name);
                continue;
            }
            return Ok(JsonValue::Null);
        }
        if !choices.is_empty() && answer.chars().all(|c| c.is_ascii_digit()) {
            match answer.parse::<usize>() {
                Ok(i) if (1..=choices.len()).contains(&i) => {
                    return Ok(JsonValue::String(choices[i - 1].clone()))
                }
                _ => {
                    println!(
                        "  {answer} is not one of the numbers 1-{}; try again.",
                        choices.len()
                    );
                    continue;
                }
            }
        }
        match parse_value(f.kind, &answer) {
            Ok(v) => return Ok(v),
            Err(e) => println!("  {} {e}; try again.", f.name),
        }
    }
}

/// Model, dataset and deployment ids of the most recent events (best effort: an
/// unreachable log just offers no choices).
fn recent_ids(dir: &DirArg, server: &ServerArg) -> Recent {
    let mut out: Recent = Default::default();
    let Ok(target) = Target::open_quiet(dir, server) else {
        return out;
    };
    let scopes = target.recent_scopes(RECENT_SCAN).unwrap_or_default();
    target.close();
    for h in scopes.iter().rev() {
        for (i, v) in [&h.model_id, &h.dataset_id, &h.deployment_id]
            .into_iter()
            .enumerate()
        {
            if let Some(v) = v {
                if out[i].len() < MAX_CHOICES && !out[i].contains(v) {
                    out[i].push(v.clone());
                }
            }
        }
    }
    out
}

fn get<'a>(values: &'a [(&'static str, JsonValue)], name: &str) -> &'a JsonValue {
    values
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .unwrap_or(&JsonValue::Null)
}

fn opt_string(v: &JsonValue) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// The event the seed's `record_*` would emit for these values.
fn build_event(decision: Decision, values: &[(&'static str, JsonValue)]) -> NewEvent {
    let or_empty_list = |v: &JsonValue| {
        if is_blank(v) {
            JsonValue::Array(Vec::new())
        } else {
            v.clone()
        }
    };
    let owner = get(values, "owner").clone();
    let references = or_empty_list(get(values, "references"));
    let details: Vec<(String, JsonValue)> = match decision {
        Decision::Approval => vec![
            ("decision".into(), JsonValue::String("approved".into())),
            ("rationale".into(), get(values, "rationale").clone()),
            ("owner".into(), owner.clone()),
            (
                "constraints".into(),
                match get(values, "constraints") {
                    JsonValue::Null => JsonValue::Object(Vec::new()),
                    v => v.clone(),
                },
            ),
            ("references".into(), references),
        ],
        Decision::RiskWaiver => vec![
            ("decision".into(), JsonValue::String("waived".into())),
            ("rationale".into(), get(values, "rationale").clone()),
            ("owner".into(), owner.clone()),
            (
                "waived_controls".into(),
                get(values, "waived_controls").clone(),
            ),
            (
                "time_bound_until".into(),
                get(values, "time_bound_until").clone(),
            ),
            ("references".into(), references),
        ],
        Decision::Attestation => vec![
            ("statement".into(), get(values, "statement").clone()),
            ("owner".into(), owner.clone()),
            ("references".into(), references),
        ],
    };
    let mut ev = NewEvent::new(decision.event_type());
    ev.system = Some("governance".into());
    ev.actor = opt_string(&owner);
    ev.model_id = opt_string(get(values, "model_id"));
    ev.dataset_id = opt_string(get(values, "dataset_id"));
    ev.deployment_id = opt_string(get(values, "deployment_id"));
    ev.details = JsonValue::Object(details);
    ev
}

/// Prints where an event went (`{index, event_id, leaf_hash, existing}`).
pub fn print_recorded(event_type: &str, r: &JsonValue, json_out: bool) {
    if json_out {
        println!("{}", json::to_json_string(r));
        return;
    }
    let g = |k: &str| r.get(k).map(show).unwrap_or_default();
    println!(
        "recorded {event_type} as event {} (event_id {}, leaf hash {}){}",
        g("index"),
        g("event_id"),
        g("leaf_hash"),
        if r.get("existing") == Some(&JsonValue::Bool(true)) {
            " (it was already in the log)"
        } else {
            ""
        }
    );
}
