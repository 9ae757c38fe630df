//! A model's lineage and the policy gate (`spec/policy.md`).
//!
//! A [`Lineage`] is every event of one model and of the datasets its events name, each
//! taken from a proof bundle that was verified against one signed checkpoint (the caller
//! verifies; [`LineageEvent::from_verified`] keeps what the bundle proved), in time order.
//! It renders as text, JSON, Markdown, or one self-contained HTML page with an inline SVG
//! timeline.
//!
//! The requirement language of `tlog check` ([`parse_requirement`], [`evaluate`]) and the
//! waiver expiry check ([`expired_waivers`]) are pure: the current time is an argument.
//!
//! Out of scope: fetching and verifying the events (the CLI does that, locally or over
//! HTTP), and lineage across models (a fine-tune of another model is not followed).

use crate::core::bundle::{b64, Erasure, ProofBundle, VerifiedBundle};
use crate::core::checkpoint::Checkpoint;
use crate::core::entry::{self, EntryHeader};
use crate::core::hash::Hash;
use crate::core::json::{self, JsonNumber, JsonValue, ParseOptions};

/// Most events one lineage holds (bounds memory and the HTML page).
pub const MAX_LINEAGE_EVENTS: usize = 10_000;
/// Most datasets one lineage follows.
pub const MAX_LINEAGE_DATASETS: usize = 100;
/// Longest requirement accepted, in bytes.
pub const MAX_REQUIREMENT_LEN: usize = 512;
/// Most `.`-separated segments in a requirement's field path.
pub const MAX_PATH_SEGMENTS: usize = 16;
/// Most per-event reasons listed when no event satisfies an `any` requirement.
const MAX_REASONS: usize = 5;
/// Longest details summary shown in text, Markdown and HTML.
const SUMMARY_CHARS: usize = 100;

/// One event of a lineage, as its verified bundle proved it.
#[derive(Debug, Clone, PartialEq)]
pub struct LineageEvent {
    /// Leaf index.
    pub index: u64,
    /// The public header.
    pub header: EntryHeader,
    /// Who did it (from the verified body).
    pub actor: Option<String>,
    /// The details, unless the body was erased or withheld.
    pub details: Option<JsonValue>,
    /// Set when the body was erased.
    pub erased: Option<Erasure>,
    /// The leaf hash.
    pub leaf_hash: Hash,
    /// The verified inclusion proof.
    pub inclusion_proof: Vec<Hash>,
}

impl LineageEvent {
    /// The event proved by `bundle`, which `verified` is the result of verifying.
    pub fn from_verified(bundle: &ProofBundle, verified: VerifiedBundle) -> LineageEvent {
        let (actor, details) = match verified.body {
            Some(b) => (b.actor, Some(b.details)),
            None => (None, None),
        };
        LineageEvent {
            index: bundle.leaf_index,
            header: verified.header,
            actor,
            details,
            erased: verified.erased,
            leaf_hash: verified.leaf_hash,
            inclusion_proof: bundle.inclusion_proof.clone(),
        }
    }

    /// The lifecycle stage of this event.
    pub fn stage(&self) -> Stage {
        Stage::of(&self.header.event_type)
    }
}

/// Lifecycle stages, in the order a model normally goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Dataset registration and attestations.
    Data,
    /// Fine-tuning, epochs, checkpoints.
    Training,
    /// Evaluations.
    Evaluation,
    /// Approvals, waivers, attestations, erasures.
    Governance,
    /// Deployments.
    Deployment,
    /// Inference requests and responses.
    Inference,
    /// Anything else.
    Other,
}

impl Stage {
    /// The stage of an event type (by the seed's event names and common prefixes).
    pub fn of(event_type: &str) -> Stage {
        let t = event_type;
        if t.starts_with("Dataset") {
            Stage::Data
        } else if t.starts_with("FineTune")
            || t.starts_with("Training")
            || t == "EpochEnd"
            || t == "Checkpoint"
        {
            Stage::Training
        } else if t.starts_with("Evaluation") {
            Stage::Evaluation
        } else if matches!(t, "Approval" | "RiskWaiver" | "Attestation" | "Erasure") {
            Stage::Governance
        } else if t.starts_with("Deploy") {
            Stage::Deployment
        } else if t.starts_with("Inference") {
            Stage::Inference
        } else {
            Stage::Other
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Data => "data",
            Stage::Training => "training",
            Stage::Evaluation => "evaluation",
            Stage::Governance => "governance",
            Stage::Deployment => "deployment",
            Stage::Inference => "inference",
            Stage::Other => "other",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Stage::Data => "#2b7bb9",
            Stage::Training => "#8e44ad",
            Stage::Evaluation => "#d68910",
            Stage::Governance => "#1e8449",
            Stage::Deployment => "#c0392b",
            Stage::Inference => "#7f8c8d",
            Stage::Other => "#555555",
        }
    }
}

/// Every verified event of a model and its datasets, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Lineage {
    /// The model.
    pub model_id: String,
    /// The datasets its events name, sorted.
    pub datasets: Vec<String>,
    /// The checkpoint every inclusion proof was verified against.
    pub checkpoint: Checkpoint,
    /// The signed checkpoint note.
    pub checkpoint_note: Vec<u8>,
    /// The events, ordered by (timestamp, index).
    pub events: Vec<LineageEvent>,
}

/// The dataset ids named by the headers of `events` (sorted, unique).
pub fn dataset_ids<'a>(headers: impl IntoIterator<Item = &'a EntryHeader>) -> Vec<String> {
    let mut v: Vec<String> = headers
        .into_iter()
        .filter_map(|h| h.dataset_id.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

impl Lineage {
    /// A lineage of `events` (deduplicated by index and put in time order).
    pub fn new(
        model_id: String,
        datasets: Vec<String>,
        checkpoint: Checkpoint,
        checkpoint_note: Vec<u8>,
        mut events: Vec<LineageEvent>,
    ) -> Lineage {
        events.sort_by_key(|e| e.index);
        events.dedup_by_key(|e| e.index);
        events.sort_by(|a, b| {
            (a.header.timestamp.as_str(), a.index).cmp(&(b.header.timestamp.as_str(), b.index))
        });
        Lineage {
            model_id,
            datasets,
            checkpoint,
            checkpoint_note,
            events,
        }
    }

    /// The events a requirement on `event_type` looks at: for `Dataset*` types those of the
    /// model's datasets, for the others those of the model itself (`spec/policy.md` §2).
    pub fn scope_of<'a>(&'a self, event_type: &'a str) -> impl Iterator<Item = &'a LineageEvent> {
        let dataset_type = event_type.starts_with("Dataset");
        self.events.iter().filter(move |e| {
            e.header.event_type == event_type
                && if dataset_type {
                    e.header
                        .dataset_id
                        .as_ref()
                        .is_some_and(|d| self.datasets.contains(d))
                } else {
                    e.header.model_id.as_deref() == Some(self.model_id.as_str())
                }
        })
    }

    /// The lineage as JSON.
    pub fn to_json(&self) -> JsonValue {
        obj(vec![
            ("model_id", st(&self.model_id)),
            (
                "datasets",
                JsonValue::Array(self.datasets.iter().map(st).collect()),
            ),
            (
                "checkpoint",
                checkpoint_json(&self.checkpoint, &self.checkpoint_note),
            ),
            (
                "events",
                JsonValue::Array(self.events.iter().map(event_json).collect()),
            ),
        ])
    }

    /// Plain text, one line per event.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "lineage of model {} ({} events; datasets: {})\n",
            self.model_id,
            self.events.len(),
            if self.datasets.is_empty() {
                "none".to_string()
            } else {
                self.datasets.join(", ")
            }
        );
        for e in &self.events {
            out.push_str(&format!(
                "{:>6}  {}  {:<10}  {:<18}  {:<16}  {}  proof ok\n",
                e.index,
                e.header.timestamp,
                e.stage().name(),
                e.header.event_type,
                e.actor.as_deref().unwrap_or("-"),
                one_line(&summary(e)),
            ));
        }
        out.push_str(&format!(
            "every inclusion proof verified against the checkpoint of {} at size {} (root {})\n",
            self.checkpoint.origin, self.checkpoint.tree_size, self.checkpoint.root_hash
        ));
        out
    }

    /// A Markdown report.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# Lineage of model `{}`\n\n", md(&self.model_id));
        out.push_str(&format!(
            "Datasets: {}. Every event below was verified with its inclusion proof against \
             the checkpoint of `{}` at tree size {}, root `{}`.\n\n",
            if self.datasets.is_empty() {
                "none".to_string()
            } else {
                self.datasets
                    .iter()
                    .map(|d| format!("`{}`", md(d)))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            md(&self.checkpoint.origin),
            self.checkpoint.tree_size,
            self.checkpoint.root_hash
        ));
        out.push_str("| index | time | stage | event | actor | scope | details | leaf hash |\n");
        out.push_str("|---|---|---|---|---|---|---|---|\n");
        for e in &self.events {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | `{}` |\n",
                e.index,
                e.header.timestamp,
                e.stage().name(),
                md(&e.header.event_type),
                md(e.actor.as_deref().unwrap_or("")),
                md(&scope(&e.header)),
                md(&one_line(&summary(e))),
                &e.leaf_hash.to_hex()[..16],
            ));
        }
        out.push_str("\n```\n");
        out.push_str(&String::from_utf8_lossy(&self.checkpoint_note));
        out.push_str("```\n");
        out
    }

    /// One self-contained HTML page (inline CSS and SVG, no scripts, no external links).
    pub fn to_html(&self) -> String {
        let mut out = String::new();
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        out.push_str(&format!(
            "<title>Lineage of {}</title>",
            html(&self.model_id)
        ));
        out.push_str(
            "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
             table{border-collapse:collapse;width:100%;font-size:14px}\
             td,th{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}\
             th{background:#f3f3f3}code,pre{font-family:ui-monospace,monospace;font-size:12px}\
             pre{background:#f7f7f7;padding:8px;overflow:auto}.erased{color:#a00}\
             .ok{color:#1e8449;font-weight:bold}</style></head><body>\n",
        );
        out.push_str(&format!(
            "<h1>Lineage of model <code>{}</code></h1>\n",
            html(&self.model_id)
        ));
        out.push_str(&format!(
            "<p>{} events; datasets: {}. <span class=\"ok\">Every event's inclusion proof \
             was verified</span> against the checkpoint of <code>{}</code> at tree size {}, \
             root <code>{}</code>.</p>\n",
            self.events.len(),
            if self.datasets.is_empty() {
                "none".to_string()
            } else {
                self.datasets
                    .iter()
                    .map(|d| format!("<code>{}</code>", html(d)))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            html(&self.checkpoint.origin),
            self.checkpoint.tree_size,
            self.checkpoint.root_hash
        ));
        out.push_str(&self.timeline_svg());
        out.push_str(
            "\n<table><tr><th>index</th><th>time</th><th>stage</th><th>event</th>\
             <th>actor</th><th>scope</th><th>details</th><th>leaf hash</th></tr>\n",
        );
        for e in &self.events {
            let details = match (&e.details, &e.erased) {
                (Some(d), _) => format!("<code>{}</code>", html(&json::to_json_string(d))),
                (None, Some(x)) => format!(
                    "<span class=\"erased\">erased by event {} ({})</span>",
                    x.erased_by,
                    html(&x.reason)
                ),
                (None, None) => "(body not included)".into(),
            };
            out.push_str(&format!(
                "<tr id=\"e{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
                e.index,
                e.index,
                html(&e.header.timestamp),
                e.stage().name(),
                html(&e.header.event_type),
                html(e.actor.as_deref().unwrap_or("")),
                html(&scope(&e.header)),
                details,
                e.leaf_hash.to_hex()
            ));
        }
        out.push_str("</table>\n<h2>Checkpoint</h2>\n<pre>");
        out.push_str(&html(&String::from_utf8_lossy(&self.checkpoint_note)));
        out.push_str("</pre>\n<p>To check one event yourself: <code>tlog prove INDEX --key-file log.vkey</code> \
                      then <code>tlog verify bundle.json --key-file log.vkey</code>.</p>\n</body></html>\n");
        out
    }

    /// The timeline: one dot per event on a vertical line, coloured by stage.
    fn timeline_svg(&self) -> String {
        const ROW: usize = 24;
        const TOP: usize = 20;
        let height = TOP * 2 + ROW * self.events.len().max(1);
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"{height}\" \
             role=\"img\" aria-label=\"timeline\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <line x1=\"190\" y1=\"{TOP}\" x2=\"190\" y2=\"{}\" stroke=\"#999\" stroke-width=\"2\"/>\n",
            height - TOP
        );
        for (i, e) in self.events.iter().enumerate() {
            let y = TOP + ROW * i + ROW / 2;
            let stage = e.stage();
            s.push_str(&format!(
                "<text x=\"180\" y=\"{}\" text-anchor=\"end\" fill=\"#555\">{}</text>\
                 <circle cx=\"190\" cy=\"{y}\" r=\"7\" fill=\"{}\"><title>{}</title></circle>\
                 <text x=\"205\" y=\"{}\"><tspan font-weight=\"bold\">{}</tspan> \
                 <tspan fill=\"{}\">[{}]</tspan> #{} {}</text>\n",
                y + 4,
                html(&e.header.timestamp[..e.header.timestamp.len().min(19)].replace('T', " ")),
                stage.colour(),
                stage.name(),
                y + 4,
                html(&e.header.event_type),
                stage.colour(),
                stage.name(),
                e.index,
                html(&truncate(&one_line(&summary(e)), 80)),
            ));
        }
        s.push_str("</svg>\n");
        s
    }
}

fn checkpoint_json(cp: &Checkpoint, note: &[u8]) -> JsonValue {
    obj(vec![
        ("origin", st(&cp.origin)),
        ("tree_size", int(cp.tree_size)),
        ("root_hash", st(cp.root_hash.to_hex())),
        ("note", st(String::from_utf8_lossy(note))),
    ])
}

fn event_json(e: &LineageEvent) -> JsonValue {
    let h = &e.header;
    let o = |v: &Option<String>| v.as_ref().map(st).unwrap_or(JsonValue::Null);
    obj(vec![
        ("index", int(e.index)),
        ("stage", st(e.stage().name())),
        ("event_id", st(&h.event_id)),
        ("timestamp", st(&h.timestamp)),
        ("event_type", st(&h.event_type)),
        ("system", o(&h.system)),
        ("model_id", o(&h.model_id)),
        ("dataset_id", o(&h.dataset_id)),
        ("deployment_id", o(&h.deployment_id)),
        ("actor", o(&e.actor)),
        ("details", e.details.clone().unwrap_or(JsonValue::Null)),
        (
            "erased",
            match &e.erased {
                Some(x) => obj(vec![
                    ("erased_by", int(x.erased_by)),
                    ("reason", st(&x.reason)),
                ]),
                None => JsonValue::Null,
            },
        ),
        ("leaf_hash", st(e.leaf_hash.to_hex())),
        (
            "inclusion_proof",
            JsonValue::Array(
                e.inclusion_proof
                    .iter()
                    .map(|h| st(b64(h.as_bytes())))
                    .collect(),
            ),
        ),
        ("proof", st("verified")),
    ])
}

fn scope(h: &EntryHeader) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("model", &h.model_id),
        ("dataset", &h.dataset_id),
        ("deployment", &h.deployment_id),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k}={v}"));
        }
    }
    parts.join(" ")
}

/// A short description of an event's details.
fn summary(e: &LineageEvent) -> String {
    match (&e.details, &e.erased) {
        (Some(d), _) => truncate(&json::to_json_string(d), SUMMARY_CHARS),
        (None, Some(x)) => format!("[erased by event {}: {}]", x.erased_by, x.reason),
        (None, None) => "[body not included]".into(),
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a Markdown table cell.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '<' | '>' | '[' | ']' => {
                out.push('\\');
                out.push(c)
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn st(s: impl AsRef<str>) -> JsonValue {
    JsonValue::String(s.as_ref().to_string())
}

fn int(v: u64) -> JsonValue {
    JsonValue::Number(JsonNumber::Int(i128::from(v)))
}

fn obj(members: Vec<(&str, JsonValue)>) -> JsonValue {
    JsonValue::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------
// The requirement language (spec/policy.md)
// ---------------------------------------------------------------------------------------

/// Why a requirement does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("requirement {text:?}: {message}")]
pub struct PolicyError {
    /// The requirement as given.
    pub text: String,
    /// What is wrong.
    pub message: String,
}

/// Which events of the type must satisfy a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    /// At least one (the default).
    Any,
    /// The most recent one.
    Latest,
    /// Every one, and there is at least one.
    All,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// A parsed requirement (`spec/policy.md` §1).
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    /// The text it was parsed from.
    pub text: String,
    /// Which events must satisfy it.
    pub quantifier: Quantifier,
    /// The event type.
    pub event_type: String,
    /// The field path (empty: the event's existence is enough).
    pub path: Vec<String>,
    /// The comparison, if any.
    pub comparison: Option<(Op, JsonValue)>,
}

/// Header fields a path may start with (besides `details`).
pub const HEADER_FIELDS: [&str; 9] = [
    "actor",
    "event_id",
    "timestamp",
    "event_type",
    "system",
    "model_id",
    "dataset_id",
    "deployment_id",
    "submitter",
];

fn is_type_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':')
}

/// Parses one requirement.
pub fn parse_requirement(text: &str) -> Result<Requirement, PolicyError> {
    let err = |m: String| PolicyError {
        text: text.chars().take(80).collect(),
        message: m,
    };
    if text.len() > MAX_REQUIREMENT_LEN {
        return Err(err(format!("longer than {MAX_REQUIREMENT_LEN} bytes")));
    }
    let mut rest = text.trim();
    let mut quantifier = Quantifier::Any;
    for (word, q) in [
        ("any", Quantifier::Any),
        ("latest", Quantifier::Latest),
        ("all", Quantifier::All),
    ] {
        if let Some(r) = rest.strip_prefix(word) {
            if r.starts_with(char::is_whitespace) {
                quantifier = q;
                rest = r.trim_start();
                break;
            }
        }
    }
    let sel_end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '=' | '!'))
        .unwrap_or(rest.len());
    let (selector, after) = rest.split_at(sel_end);
    let mut parts = selector.split('.');
    let event_type = parts.next().unwrap_or_default().to_string();
    if event_type.is_empty() || !event_type.chars().all(is_type_char) {
        return Err(err(
            "must start with an event type, like Approval or Evaluation.details.accuracy >= 0.8"
                .into(),
        ));
    }
    let path: Vec<String> = parts.map(str::to_string).collect();
    if path.len() > MAX_PATH_SEGMENTS {
        return Err(err(format!("more than {MAX_PATH_SEGMENTS} path segments")));
    }
    for seg in &path {
        if seg.is_empty()
            || !seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        {
            return Err(err(format!(
                "bad field name {seg:?} (letters, digits, _ and - only)"
            )));
        }
    }
    if let Some(first) = path.first() {
        if first != "details" && !HEADER_FIELDS.contains(&first.as_str()) {
            return Err(err(format!(
                "unknown field {first:?}: use details.<name> or one of {}",
                HEADER_FIELDS.join(", ")
            )));
        }
    }
    let after = after.trim();
    if after.is_empty() {
        return Ok(Requirement {
            text: text.trim().to_string(),
            quantifier,
            event_type,
            path,
            comparison: None,
        });
    }
    if path.is_empty() {
        return Err(err(
            "a comparison needs a field, like Evaluation.details.accuracy >= 0.8".into(),
        ));
    }
    let (op, lit) = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        (">", Op::Gt),
        ("<", Op::Lt),
    ]
    .into_iter()
    .find_map(|(s, op)| after.strip_prefix(s).map(|r| (op, r.trim())))
    .ok_or_else(|| {
        err(format!(
            "expected one of >= <= == != > < after {selector:?}"
        ))
    })?;
    if lit.is_empty() {
        return Err(err(format!(
            "nothing to compare with after {}",
            op.symbol()
        )));
    }
    let value = parse_literal(lit).map_err(err)?;
    Ok(Requirement {
        text: text.trim().to_string(),
        quantifier,
        event_type,
        path,
        comparison: Some((op, value)),
    })
}

fn parse_literal(lit: &str) -> Result<JsonValue, String> {
    let first = lit.chars().next().unwrap_or(' ');
    if first == '"'
        || first == '-'
        || first.is_ascii_digit()
        || matches!(lit, "true" | "false" | "null")
    {
        return json::parse(lit.as_bytes(), ParseOptions::STRICT)
            .map_err(|e| format!("bad value {lit:?}: {e}"));
    }
    if lit
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'))
    {
        return Ok(JsonValue::String(lit.to_string()));
    }
    Err(format!(
        "bad value {lit:?}: quote strings with double quotes, like \"alice\""
    ))
}

/// The outcome of one requirement.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The requirement's text.
    pub requirement: String,
    /// Whether the log proves it.
    pub held: bool,
    /// The event that decided it (a satisfying one, or the one that failed it).
    pub event: Option<u64>,
    /// Why, in a few words.
    pub reason: String,
}

/// Looks a path up in an event.
fn lookup<'a>(
    e: &'a LineageEvent,
    path: &[String],
    scratch: &'a mut Option<JsonValue>,
) -> Result<Option<&'a JsonValue>, String> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(None);
    };
    let h = &e.header;
    let mut v: &JsonValue = if first == "details" {
        match &e.details {
            Some(d) => d,
            None => {
                return Err(match &e.erased {
                    Some(x) => format!("its body was erased by event {}", x.erased_by),
                    None => "its body is not available".into(),
                })
            }
        }
    } else {
        let field = match first.as_str() {
            "actor" => e.actor.clone(),
            "event_id" => Some(h.event_id.clone()),
            "timestamp" => Some(h.timestamp.clone()),
            "event_type" => Some(h.event_type.clone()),
            "system" => h.system.clone(),
            "model_id" => h.model_id.clone(),
            "dataset_id" => h.dataset_id.clone(),
            "deployment_id" => h.deployment_id.clone(),
            "submitter" => h.submitter.clone(),
            _ => None,
        };
        if first == "actor" && e.details.is_none() && e.erased.is_some() {
            return Err("its body was erased".into());
        }
        *scratch = field.map(JsonValue::String);
        match scratch {
            Some(v) => v,
            None => return Ok(None),
        }
    };
    for seg in rest {
        let next = match v {
            JsonValue::Object(m) => m.iter().find(|(k, _)| k == seg).map(|(_, v)| v),
            JsonValue::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(n) => v = n,
            None => return Ok(None),
        }
    }
    Ok(Some(v))
}

fn number(v: &JsonValue) -> Option<f64> {
    match v {
        JsonValue::Number(JsonNumber::Int(i)) => Some(*i as f64),
        JsonValue::Number(JsonNumber::Float(f)) => Some(*f),
        JsonValue::Number(JsonNumber::BigInt(s)) => s.parse().ok(),
        _ => None,
    }
}

fn compare(v: &JsonValue, op: Op, lit: &JsonValue) -> Result<bool, String> {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (v, lit) {
        (JsonValue::Number(JsonNumber::Int(a)), JsonValue::Number(JsonNumber::Int(b))) => {
            Some(a.cmp(b))
        }
        (JsonValue::Number(_), JsonValue::Number(_)) => match (number(v), number(lit)) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => None,
        },
        (JsonValue::String(a), JsonValue::String(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        _ => None,
    };
    match (op, ord) {
        (Op::Eq, Some(o)) => Ok(o == Ordering::Equal),
        (Op::Ne, Some(o)) => Ok(o != Ordering::Equal),
        (Op::Eq, None) => Ok(v == lit),
        (Op::Ne, None) => Ok(v != lit),
        (_, None) => Err(format!(
            "{} cannot be ordered against {}",
            json::to_json_string(v),
            json::to_json_string(lit)
        )),
        (Op::Lt, Some(o)) => Ok(o == Ordering::Less),
        (Op::Le, Some(o)) => Ok(o != Ordering::Greater),
        (Op::Gt, Some(o)) => Ok(o == Ordering::Greater),
        (Op::Ge, Some(o)) => Ok(o != Ordering::Less),
    }
}

/// Whether one event satisfies the requirement's condition, and why.
fn satisfies(req: &Requirement, e: &LineageEvent) -> (bool, String) {
    if req.path.is_empty() {
        return (true, format!("{} event {}", e.header.event_type, e.index));
    }
    let mut scratch = None;
    let field = req.path.join(".");
    match lookup(e, &req.path, &mut scratch) {
        Err(why) => (
            false,
            format!("event {}: {field} cannot be read: {why}", e.index),
        ),
        Ok(None) => (false, format!("event {} has no {field}", e.index)),
        Ok(Some(v)) => match &req.comparison {
            None if *v == JsonValue::Null => (false, format!("event {}: {field} is null", e.index)),
            None => (
                true,
                format!("event {}: {field} = {}", e.index, json::to_json_string(v)),
            ),
            Some((op, lit)) => match compare(v, *op, lit) {
                Ok(ok) => (
                    ok,
                    format!(
                        "event {}: {field} = {} ({}{} {})",
                        e.index,
                        json::to_json_string(v),
                        if ok { "" } else { "not " },
                        op.symbol(),
                        json::to_json_string(lit)
                    ),
                ),
                Err(why) => (false, format!("event {}: {why}", e.index)),
            },
        },
    }
}

/// Evaluates a requirement against a lineage (`spec/policy.md` §2).
pub fn evaluate(req: &Requirement, lineage: &Lineage) -> Outcome {
    let events: Vec<&LineageEvent> = lineage.scope_of(&req.event_type).collect();
    let out = |held, event, reason| Outcome {
        requirement: req.text.clone(),
        held,
        event,
        reason,
    };
    if events.is_empty() {
        return out(
            false,
            None,
            format!("no {} event in the lineage", req.event_type),
        );
    }
    match req.quantifier {
        Quantifier::Any => {
            let mut reasons = Vec::new();
            for e in events.iter().rev() {
                let (ok, why) = satisfies(req, e);
                if ok {
                    return out(true, Some(e.index), why);
                }
                reasons.push(why);
            }
            let n = reasons.len();
            reasons.truncate(MAX_REASONS);
            out(
                false,
                events.last().map(|e| e.index),
                format!(
                    "none of {n} {} events qualifies: {}{}",
                    req.event_type,
                    reasons.join("; "),
                    if n > MAX_REASONS { "; ..." } else { "" }
                ),
            )
        }
        Quantifier::Latest => {
            let e = events.last().expect("non-empty");
            let (ok, why) = satisfies(req, e);
            out(ok, Some(e.index), format!("latest: {why}"))
        }
        Quantifier::All => {
            for e in &events {
                let (ok, why) = satisfies(req, e);
                if !ok {
                    return out(false, Some(e.index), why);
                }
            }
            let e = events.last().expect("non-empty");
            out(
                true,
                Some(e.index),
                format!("all {} {} events qualify", events.len(), req.event_type),
            )
        }
    }
}

/// Checks that no `RiskWaiver` of the model has lapsed at `now_micros` (`spec/policy.md`
/// §3). One outcome per waiver; a waiver whose end cannot be read (erased body, bad date)
/// fails, since the log cannot prove it is still valid.
pub fn expired_waivers(lineage: &Lineage, now_micros: i64) -> Vec<Outcome> {
    lineage
        .scope_of("RiskWaiver")
        .map(|e| {
            let until = e.details.as_ref().map(|d| {
                d.get("time_bound_until")
                    .cloned()
                    .unwrap_or(JsonValue::Null)
            });
            let (held, reason) = match until {
                None => (
                    false,
                    "its body is not available; its end cannot be checked".to_string(),
                ),
                Some(JsonValue::Null) => (true, "no end date".to_string()),
                Some(JsonValue::String(s)) => match parse_until(&s) {
                    Ok(end) if end > now_micros => (true, format!("valid until {s}")),
                    Ok(_) => (false, format!("expired: time_bound_until {s} has passed")),
                    Err(e) => (false, format!("time_bound_until: {e}")),
                },
                Some(other) => (
                    false,
                    format!(
                        "time_bound_until is not a date: {}",
                        json::to_json_string(&other)
                    ),
                ),
            };
            Outcome {
                requirement: format!("RiskWaiver {} not expired", e.index),
                held,
                event: Some(e.index),
                reason,
            }
        })
        .collect()
}

/// The instant (Unix microseconds) at which a `time_bound_until` ends: a date
/// `YYYY-MM-DD` lasts through that whole day (UTC), an RFC 3339 time ends at that time.
pub fn parse_until(s: &str) -> Result<i64, String> {
    const DAY: i64 = 86_400_000_000;
    let bad = || format!("{s:?} is not a date (YYYY-MM-DD) or an RFC 3339 time");
    if s.len() == 10 {
        let t = entry::parse_timestamp(&format!("{s}T00:00:00.000000Z"))
            .map_err(|_| format!("{s:?} is not a real date (YYYY-MM-DD)"))?;
        return Ok(t + DAY);
    }
    if s.len() < 20 || !s.is_ascii() {
        return Err(bad());
    }
    let (date, rest) = s.split_at(10);
    let rest = rest.strip_prefix(['T', 't', ' ']).ok_or_else(bad)?;
    if rest.len() < 9 {
        return Err(bad());
    }
    let (hms, rest) = rest.split_at(8);
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(r) => {
            let n = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            if n == 0 {
                return Err(bad());
            }
            r.split_at(n)
        }
        None => ("", rest),
    };
    let mut f: String = frac.chars().take(6).collect();
    while f.len() < 6 {
        f.push('0');
    }
    let offset_micros: i64 = match zone {
        "Z" | "z" => 0,
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) && &z[3..4] == ":" => {
            let h: i64 = z[1..3].parse().map_err(|_| bad())?;
            let m: i64 = z[4..6].parse().map_err(|_| bad())?;
            if h > 23 || m > 59 {
                return Err(bad());
            }
            let v = (h * 60 + m) * 60_000_000;
            if z.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return Err(format!("{s:?} needs a time zone (Z or ±HH:MM)")),
    };
    let t = entry::parse_timestamp(&format!("{date}T{hms}.{f}Z")).map_err(|_| bad())?;
    Ok(t - offset_micros)
}

/// Checks a waiver end given by a person: a real date or RFC 3339 time, in the future.
/// A date must be after today (UTC); returns the value as given.
pub fn validate_future_until(s: &str, now_micros: i64) -> Result<String, String> {
    let s = s.trim();
    let end = parse_until(s)?;
    let in_future = if s.len() == 10 {
        let today = entry::format_timestamp(now_micros).map_err(|e| e.to_string())?;
        s > &today[..10]
    } else {
        end > now_micros
    };
    if !in_future {
        return Err(format!("{s} is not in the future"));
    }
    Ok(s.to_string())
}
