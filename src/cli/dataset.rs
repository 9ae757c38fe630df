//! `tlog dataset register | verify`: dataset provenance with a content hash computed from
//! the files themselves (`spec/dataset.md`), never typed in.
//!
//! `register` records llm-audit-trail 0.1.0's `DatasetRegistered` event (system
//! `data_engineering`, actor = owner, the seed's `details` fields) plus `files`, `bytes` and
//! the `manifest`. `verify` reads the latest registration as a verified proof bundle,
//! re-hashes the data on disk, and names each file that changed, appeared or vanished.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::governance::{check_url, owner_default, print_recorded};
use super::lineage::{KeyOpt, Target};
use super::progress::Progress;
use super::{CliError, CliResult, DirArg, ServerArg};
use crate::core::json::{self, JsonValue, ParseOptions};
use crate::dataset::{self, DatasetDigest};
use crate::log::event::NewEvent;
use crate::log::view::{int, obj, opt, s};
use crate::log::ListFilter;

/// Longest `--preprocessing` JSON accepted.
pub const MAX_PREPROCESSING_BYTES: usize = 64 << 10;
/// Most registrations of one dataset scanned to find the latest.
const MAX_REGISTRATIONS: usize = 100_000;

/// `tlog dataset` subcommands.
#[derive(Subcommand, Debug)]
pub enum DatasetCommand {
    /// Hash a file or folder and record a DatasetRegistered event.
    Register(RegisterArgs),
    /// Re-hash the data and compare it with its latest registration.
    Verify(VerifyArgs),
}

/// Arguments of `tlog dataset register`.
#[derive(Args, Debug)]
pub struct RegisterArgs {
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    server: ServerArg,
    /// The dataset id, e.g. `hf:stanfordnlp/imdb`.
    #[arg(long)]
    dataset_id: String,
    /// The file or folder holding the data.
    #[arg(long)]
    path: PathBuf,
    /// Dataset version.
    #[arg(long)]
    version: String,
    /// Where the data came from.
    #[arg(long)]
    source: String,
    /// Licence.
    #[arg(long)]
    license: Option<String>,
    /// URL of the datasheet.
    #[arg(long)]
    datasheet_url: Option<String>,
    /// Preprocessing applied, as a JSON object.
    #[arg(long, value_name = "JSON")]
    preprocessing: Option<String>,
    /// Who is responsible; default $AUDIT_OWNER.
    #[arg(long)]
    owner: Option<String>,
    /// Residual risk of personal data, e.g. `low`.
    #[arg(long)]
    pii_residual_risk: Option<String>,
}

/// Arguments of `tlog dataset verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    server: ServerArg,
    #[command(flatten)]
    key: KeyOpt,
    /// The dataset id.
    #[arg(long)]
    dataset_id: String,
    /// The file or folder holding the data.
    #[arg(long)]
    path: PathBuf,
}

/// Runs a `tlog dataset` subcommand.
pub fn run(c: DatasetCommand, json_out: bool) -> CliResult {
    match c {
        DatasetCommand::Register(a) => register(a, json_out),
        DatasetCommand::Verify(a) => verify(a, json_out),
    }
}

fn hash_with_progress(path: &std::path::Path) -> Result<DatasetDigest, CliError> {
    let mut progress: Option<Progress> = None;
    let mut last = 0u64;
    let r = dataset::hash_dataset(path, &mut |done, total| {
        let p = progress.get_or_insert_with(|| Progress::new("hashing (bytes)", Some(total)));
        p.add(done.saturating_sub(last));
        last = done;
    });
    if let Some(p) = &progress {
        p.finish();
    }
    r.map_err(|e| CliError::usage(e.to_string()))
}

fn text_flag(flag: &str, v: &str) -> Result<String, CliError> {
    let t = v.trim();
    if t.is_empty() || t.chars().any(char::is_control) {
        return Err(CliError::usage(format!(
            "{flag} must be non-empty text without control characters"
        )));
    }
    Ok(t.to_string())
}

/// `tlog dataset register`.
pub fn register(a: RegisterArgs, json_out: bool) -> CliResult {
    let version = text_flag("--version", &a.version)?;
    let source = text_flag("--source", &a.source)?;
    let datasheet_url = a
        .datasheet_url
        .as_deref()
        .map(|u| check_url(u).map_err(|e| CliError::usage(format!("--datasheet-url: {e}"))))
        .transpose()?;
    let preprocessing = match &a.preprocessing {
        None => JsonValue::Object(Vec::new()),
        Some(t) => {
            if t.len() > MAX_PREPROCESSING_BYTES {
                return Err(CliError::usage(format!(
                    "--preprocessing is over {MAX_PREPROCESSING_BYTES} bytes"
                )));
            }
            match json::parse(t.as_bytes(), ParseOptions::STRICT) {
                Ok(v @ JsonValue::Object(_)) => v,
                Ok(_) => return Err(CliError::usage("--preprocessing must be a JSON object")),
                Err(e) => {
                    return Err(CliError::usage(format!(
                        "--preprocessing is not valid JSON: {e}"
                    )))
                }
            }
        }
    };
    let owner = owner_default(&a.owner)
        .map(|o| text_flag("--owner", &o))
        .transpose()?;
    let license = a
        .license
        .as_deref()
        .map(|l| text_flag("--license", l))
        .transpose()?;
    let pii = a
        .pii_residual_risk
        .as_deref()
        .map(|p| text_flag("--pii-residual-risk", p))
        .transpose()?;
    let digest = hash_with_progress(&a.path)?;
    let build = |with_manifest: bool| {
        let mut details = vec![
            ("version", s(version.clone())),
            ("source", s(source.clone())),
            ("rows", int(digest.rows)),
            ("license", opt(&license)),
            ("datasheet_url", opt(&datasheet_url)),
            ("content_hash", s(digest.content_hash.clone())),
            ("preprocessing", preprocessing.clone()),
            ("pii_residual_risk", opt(&pii)),
            ("owner", opt(&owner)),
            ("files", int(digest.files.len() as u64)),
            ("bytes", int(digest.bytes)),
        ];
        if with_manifest {
            if let Some(m) = digest.manifest() {
                details.push(("manifest", m));
            }
        }
        let mut ev = NewEvent::new("DatasetRegistered");
        ev.dataset_id = Some(a.dataset_id.clone());
        ev.system = Some("data_engineering".into());
        ev.actor = owner.clone();
        ev.details = obj(details);
        ev
    };
    let mut ev = build(true);
    if let Err(e) = crate::log::event::prepare(ev.clone()) {
        // The manifest may not fit in one event body (`spec/entry.md` MAX_BODY_SIZE);
        // the content hash alone still pins the data.
        let without = build(false);
        if crate::log::event::prepare(without.clone()).is_ok() && digest.manifest().is_some() {
            eprintln!(
                "tlog: warning: the manifest of {} files does not fit in an event ({e}); \
                 recording the content hash without it",
                digest.files.len()
            );
            ev = without;
        } else {
            return Err(CliError::usage(e.to_string()));
        }
    }
    let target = Target::open(&a.dir, &a.server, None)?;
    let r = target.append(ev);
    target.close();
    let r = r?;
    if json_out {
        let mut v = r;
        if let JsonValue::Object(m) = &mut v {
            m.push(("content_hash".into(), s(digest.content_hash.clone())));
            m.push(("files".into(), int(digest.files.len() as u64)));
            m.push(("bytes".into(), int(digest.bytes)));
            m.push(("rows".into(), int(digest.rows)));
        }
        print_recorded("DatasetRegistered", &v, true);
    } else {
        println!(
            "{}: {} files, {} bytes, {} rows, content hash {}",
            a.dataset_id,
            digest.files.len(),
            digest.bytes,
            digest.rows,
            digest.content_hash
        );
        print_recorded("DatasetRegistered", &r, false);
    }
    Ok(())
}

/// `tlog dataset verify`: exit 0 when the data on disk is what was registered.
pub fn verify(a: VerifyArgs, json_out: bool) -> CliResult {
    let target = Target::open(&a.dir, &a.server, Some(&a.key))?;
    let found = (|| {
        let filter = ListFilter {
            dataset_id: Some(a.dataset_id.clone()),
            event_type: Some("DatasetRegistered".into()),
            ..Default::default()
        };
        let all = target.list_all(&filter, MAX_REGISTRATIONS)?;
        let (cp, _) = target.checkpoint()?;
        let Some(&last) = all.iter().rev().find(|&&i| i < cp.tree_size) else {
            return Err(CliError::fail(format!(
                "dataset {:?} has no DatasetRegistered event in the log",
                a.dataset_id
            )));
        };
        target.verified_event(last, cp.tree_size)
    })();
    target.close();
    let reg = found?;
    let details = match (&reg.details, &reg.erased) {
        (Some(d), _) => d.clone(),
        (None, Some(x)) => {
            return Err(CliError::fail(format!(
                "the registration (event {}) was erased by event {} ({}); nothing to compare with",
                reg.index, x.erased_by, x.reason
            )))
        }
        (None, None) => {
            return Err(CliError::fail(format!(
                "the registration (event {}) has no body",
                reg.index
            )))
        }
    };
    let recorded_hash = details
        .get("content_hash")
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            CliError::fail(format!(
                "the registration (event {}) has no content_hash",
                reg.index
            ))
        })?
        .to_string();
    if !recorded_hash.starts_with(dataset::CONTENT_HASH_PREFIX) {
        return Err(CliError::fail(format!(
            "the registration (event {}) has content_hash {recorded_hash:?}, not one computed \
             from files ({}...)",
            reg.index,
            dataset::CONTENT_HASH_PREFIX
        )));
    }
    let manifest = match details.get("manifest") {
        Some(m) => Some(dataset::parse_manifest(m).map_err(|e| CliError::fail(e.to_string()))?),
        None => None,
    };
    let digest = hash_with_progress(&a.path)?;
    let same = digest.content_hash == recorded_hash;
    let diff = match &manifest {
        Some(m) if !same => Some(dataset::diff(m, &digest.files)),
        _ => None,
    };
    let names = |v: &[String]| JsonValue::Array(v.iter().map(|p| s(p.clone())).collect());
    if json_out {
        println!(
            "{}",
            json::to_json_string(&obj(vec![
                ("ok", JsonValue::Bool(same)),
                ("dataset_id", s(a.dataset_id.clone())),
                ("registered_index", int(reg.index)),
                ("registered_event_id", s(reg.header.event_id.clone())),
                ("registered_content_hash", s(recorded_hash.clone())),
                ("content_hash", s(digest.content_hash.clone())),
                (
                    "changed",
                    diff.as_ref()
                        .map(|d| names(&d.changed))
                        .unwrap_or(JsonValue::Null)
                ),
                (
                    "added",
                    diff.as_ref()
                        .map(|d| names(&d.added))
                        .unwrap_or(JsonValue::Null)
                ),
                (
                    "removed",
                    diff.as_ref()
                        .map(|d| names(&d.removed))
                        .unwrap_or(JsonValue::Null)
                ),
            ]))
        );
    } else if same {
        println!(
            "OK: {} matches its registration (event {}, verified against the log): {}",
            a.path.display(),
            reg.index,
            recorded_hash
        );
    } else {
        println!(
            "CHANGED: {} is not what was registered as {} (event {})",
            a.path.display(),
            a.dataset_id,
            reg.index
        );
        println!("  registered: {recorded_hash}");
        println!("  on disk:    {}", digest.content_hash);
        match &diff {
            Some(d) => {
                for p in &d.changed {
                    println!("  changed: {p}");
                }
                for p in &d.added {
                    println!("  added:   {p}");
                }
                for p in &d.removed {
                    println!("  removed: {p}");
                }
            }
            None => println!("  (the registration has no manifest, so the files cannot be named)"),
        }
    }
    if same {
        Ok(())
    } else {
        Err(CliError::fail(format!(
            "dataset {} differs from its registration (event {})",
            a.dataset_id, reg.index
        )))
    }
}
