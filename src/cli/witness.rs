//! `tlog witness init|add-log|serve` and `tlog monitor`: thin over [`crate::witness`] and
//! [`crate::monitor`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::{CliError, CliResult};
use crate::core::note::parse_verifier_key;
use crate::core::policy::{parse_policy, Policy, MAX_POLICY_SIZE};
use crate::monitor::{Monitor, MonitorConfig, MonitorError};
use crate::witness::{Witness, WitnessDir};

/// Default witness folder.
pub const DEFAULT_WITNESS_DIR: &str = "./tlog-witness";
/// Default listen address of `tlog witness serve`.
pub const DEFAULT_WITNESS_LISTEN: &str = "127.0.0.1:8081";
/// Default state file of `tlog monitor`.
pub const DEFAULT_MONITOR_STATE: &str = "./tlog-monitor.json";

/// The witness folder option.
#[derive(Args, Debug, Clone)]
pub struct WitnessDirArg {
    /// Witness folder.
    #[arg(long, env = "TLOG_WITNESS_DIR", default_value = DEFAULT_WITNESS_DIR)]
    pub dir: PathBuf,
}

/// `tlog witness ...`.
#[derive(Subcommand, Debug)]
pub enum WitnessCommand {
    /// Create a witness key (mode 0600) and print its cosignature verifier key.
    Init {
        #[command(flatten)]
        dir: WitnessDirArg,
        /// The witness's key name, e.g. `witness.example/w1`.
        #[arg(long)]
        name: String,
    },
    /// Trust the log ORIGIN signed by VKEY (stop the witness first).
    AddLog {
        #[command(flatten)]
        dir: WitnessDirArg,
        /// The log's origin line.
        origin: String,
        /// The log's Ed25519 verifier key.
        vkey: String,
    },
    /// Serve the tlog-witness API (`POST /add-checkpoint`).
    Serve {
        #[command(flatten)]
        dir: WitnessDirArg,
        /// Address to listen on (port 0: any free port).
        #[arg(long, env = "TLOG_WITNESS_LISTEN", default_value = DEFAULT_WITNESS_LISTEN)]
        listen: String,
        /// Milliseconds a client has to send a request head (also the longest idle
        /// keep-alive); slower clients are disconnected.
        #[arg(long, default_value_t = 30_000)]
        header_timeout_ms: u64,
        /// Milliseconds a client has to send a request body after its head; slower clients
        /// get 408. At most 10000.
        #[arg(long, default_value_t = 10_000)]
        body_timeout_ms: u64,
    },
}

/// Reads and parses a tlog-policy file.
pub fn load_policy(path: &std::path::Path) -> Result<Policy, CliError> {
    let bytes = super::local::read_limited(&path.display().to_string(), MAX_POLICY_SIZE)?;
    parse_policy(&bytes).map_err(|e| CliError::usage(format!("policy {}: {e}", path.display())))
}

/// Runs `tlog witness ...`.
pub fn witness(cmd: WitnessCommand, json_out: bool) -> CliResult {
    match cmd {
        WitnessCommand::Init { dir, name } => {
            let mut seed = [0u8; 32];
            crate::os::fill_random(&mut seed);
            let r = WitnessDir::new(&dir.dir).init(&name, &seed);
            seed.fill(0);
            let vkey = r.map_err(|e| CliError::usage(e.to_string()))?;
            if json_out {
                println!("{{\"vkey\":{vkey:?}}}");
            } else {
                println!("{vkey}");
                eprintln!(
                    "witness key written to {} (mode 0600)",
                    dir.dir.join(crate::witness::KEY_FILE).display()
                );
            }
            Ok(())
        }
        WitnessCommand::AddLog { dir, origin, vkey } => {
            WitnessDir::new(&dir.dir)
                .add_log(&origin, vkey.trim())
                .map_err(|e| CliError::usage(e.to_string()))?;
            if json_out {
                println!("{{\"origin\":{origin:?},\"added\":true}}");
            } else {
                println!("now witnessing {origin}");
            }
            Ok(())
        }
        WitnessCommand::Serve {
            dir,
            listen,
            header_timeout_ms,
            body_timeout_ms,
        } => {
            let limits = crate::server::limits::Limits {
                header_timeout: Duration::from_millis(header_timeout_ms),
                body_timeout: Duration::from_millis(body_timeout_ms),
            };
            limits
                .validate(crate::witness::REQUEST_BODY_TIMEOUT)
                .map_err(CliError::usage)?;
            serve(&dir.dir, &listen, limits)
        }
    }
}

fn serve(dir: &PathBuf, listen: &str, limits: crate::server::limits::Limits) -> CliResult {
    let addr: SocketAddr = listen.parse().map_err(|_| {
        CliError::usage(format!(
            "--listen {listen:?} is not an address like 127.0.0.1:8081"
        ))
    })?;
    let wdir = WitnessDir::new(dir);
    let _lock = wdir.lock().map_err(|e| CliError::fail(e.to_string()))?;
    let w = Arc::new(Witness::open(wdir).map_err(|e| CliError::fail(e.to_string()))?);
    super::serve::init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tlog-witness")
        .build()
        .map_err(|e| CliError::fail(format!("starting the runtime: {e}")))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| CliError::fail(format!("cannot listen on {addr}: {e}")))?;
        let local = listener.local_addr().map_err(CliError::from)?;
        println!("tlog witness serving on http://{local}/");
        println!("verifier key: {}", w.vkey());
        crate::witness::run_with(listener, w, limits, super::serve::shutdown_signal())
            .await
            .map_err(|e| CliError::fail(format!("server: {e}")))
    })
}

/// Arguments of `tlog monitor`.
#[derive(Args, Debug)]
pub struct MonitorArgs {
    /// Base URL of the log's read API (serves /checkpoint and /tile/...).
    #[arg(long)]
    log: String,
    /// The log's verifier key.
    #[arg(long, conflicts_with = "key_file")]
    key: Option<String>,
    /// A file holding the log's verifier key.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// A C2SP tlog-policy file: require its witness quorum on every checkpoint.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Where the last verified checkpoint is kept between runs.
    #[arg(long, default_value = DEFAULT_MONITOR_STATE)]
    state: PathBuf,
    /// Keep running, checking every --interval-ms, and report each incident.
    #[arg(long)]
    follow: bool,
    /// Milliseconds between checks with --follow.
    #[arg(long, default_value_t = 5000)]
    interval_ms: u64,
    /// POST each incident as JSON to this URL.
    #[arg(long)]
    webhook: Option<String>,
    /// Milliseconds one HTTP request may take.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
}

fn incident_json(log: &str, e: &MonitorError) -> serde_json::Value {
    let (kind, message) = match e {
        MonitorError::Incident(i) => (i.kind(), i.to_string()),
        MonitorError::Unavailable(m) => ("unavailable", m.clone()),
        MonitorError::State { .. } => ("state", e.to_string()),
    };
    serde_json::json!({
        "incident": kind,
        "log": log,
        "message": message,
        "time": crate::os::now_secs(),
    })
}

/// `tlog monitor`.
pub fn monitor(a: MonitorArgs, json_out: bool) -> CliResult {
    let key_text = match (&a.key, &a.key_file) {
        (Some(k), _) => k.clone(),
        (None, Some(p)) => super::local::read_key_file(p)?,
        (None, None) => {
            return Err(CliError::usage(
                "give the log's verifier key with --key or --key-file",
            ))
        }
    };
    let log_key = parse_verifier_key(key_text.trim())
        .map_err(|e| CliError::usage(format!("bad verifier key: {e}")))?;
    let policy = a.policy.as_deref().map(load_policy).transpose()?;
    if !(1..=86_400_000).contains(&a.interval_ms) || !(1..=600_000).contains(&a.timeout_ms) {
        return Err(CliError::usage(
            "--interval-ms must be 1..=86400000 and --timeout-ms 1..=600000",
        ));
    }
    let mut m = Monitor::new(MonitorConfig {
        log_url: a.log.clone(),
        log_key,
        policy,
        state_path: a.state.clone(),
        timeout: Duration::from_millis(a.timeout_ms),
    })
    .map_err(|e| CliError::fail(e.to_string()))?;
    let webhook = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(a.timeout_ms))
        .build()
        .map_err(|e| CliError::fail(e.to_string()))?;
    let mut last_reported: Option<String> = None;
    loop {
        match m.step() {
            Ok(step) => {
                last_reported = None;
                if json_out {
                    println!(
                        "{}",
                        serde_json::json!({"ok": true, "tree_size": step.tree_size,
                            "previous_size": step.previous_size, "new_entries": step.new_entries})
                    );
                } else if step.new_entries > 0 || !a.follow {
                    println!(
                        "OK: {} at size {} ({} new entries verified)",
                        a.log, step.tree_size, step.new_entries
                    );
                }
            }
            Err(e) => {
                let report = incident_json(&a.log, &e);
                let text = format!("{}: {}", report["incident"].as_str().unwrap_or(""), e);
                if last_reported.as_deref() != Some(&text) {
                    eprintln!("tlog monitor: INCIDENT {text}");
                    if json_out {
                        println!("{report}");
                    }
                    if let Some(url) = &a.webhook {
                        if let Err(err) = webhook
                            .post(url)
                            .header("content-type", "application/json")
                            .body(report.to_string())
                            .send()
                        {
                            eprintln!("tlog monitor: webhook {url}: {err}");
                        }
                    }
                    last_reported = Some(text.clone());
                }
                if !a.follow {
                    return Err(CliError::fail(text));
                }
            }
        }
        if !a.follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(a.interval_ms));
    }
}
