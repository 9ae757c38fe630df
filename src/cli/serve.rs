//! `tlog serve` and `tlog token create`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{CliError, CliResult, DirArg};
use crate::datadir::DataDir;
use crate::log::mirror::MirrorFollower;
use crate::log::LogConfig;
use crate::server::auth::{RateLimiter, Scope, Tokens, DEFAULT_BURST, DEFAULT_RATE_PER_SEC};
use crate::server::limits::Limits;
use crate::server::{metrics::HttpMetrics, AppState, Erasures};

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Name of the token `serve` creates when none exists.
pub const DEFAULT_TOKEN_NAME: &str = "default";

/// Arguments of `tlog serve`. Flags beat `TLOG_*` environment variables, which beat the
/// TOML config file, which beats the defaults.
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    dir: DirArg,
    /// Address to listen on.
    #[arg(long, env = "TLOG_LISTEN")]
    listen: Option<String>,
    /// TOML config file (keys: listen, origin, checkpoint_interval_ms, max_batch_events,
    /// rate_limit_per_sec, rate_limit_burst, header_timeout_ms, body_timeout_ms,
    /// [[tokens]] name + sha256 [+ admin = true]).
    #[arg(long, env = "TLOG_CONFIG")]
    config: Option<PathBuf>,
    /// Origin for a new log (default: the listen address).
    #[arg(long, env = "TLOG_ORIGIN")]
    origin: Option<String>,
    /// Milliseconds between checkpoints while the log grows.
    #[arg(long, env = "TLOG_CHECKPOINT_INTERVAL_MS")]
    checkpoint_interval_ms: Option<u64>,
    /// Most events in one group commit.
    #[arg(long, env = "TLOG_MAX_BATCH_EVENTS")]
    max_batch_events: Option<usize>,
    /// Events per second each token may write (sustained).
    #[arg(long, env = "TLOG_RATE_LIMIT")]
    rate_limit_per_sec: Option<f64>,
    /// Milliseconds a client has to send a request head (also the longest idle keep-alive);
    /// slower clients are disconnected. Default 30000.
    #[arg(long, env = "TLOG_HEADER_TIMEOUT_MS")]
    header_timeout_ms: Option<u64>,
    /// Milliseconds a client has to send a request body after its head; slower clients get
    /// 408. Default and maximum 30000.
    #[arg(long, env = "TLOG_BODY_TIMEOUT_MS")]
    body_timeout_ms: Option<u64>,
    /// A C2SP tlog-policy file: get every checkpoint cosigned by its witnesses (lines
    /// `witness NAME VKEY URL`, URL = submission prefix) and publish it with their quorum.
    #[arg(long, env = "TLOG_WITNESS_POLICY")]
    witness_policy: Option<PathBuf>,
    /// With --witness-policy: publish checkpoints before the quorum has cosigned them.
    #[arg(long)]
    publish_without_quorum: bool,
    /// With --witness-policy: milliseconds a witness has to answer.
    #[arg(long, default_value_t = 10_000)]
    witness_timeout_ms: u64,
}

/// The TOML config file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    listen: Option<String>,
    origin: Option<String>,
    checkpoint_interval_ms: Option<u64>,
    max_batch_events: Option<usize>,
    rate_limit_per_sec: Option<f64>,
    rate_limit_burst: Option<f64>,
    header_timeout_ms: Option<u64>,
    body_timeout_ms: Option<u64>,
    #[serde(default)]
    tokens: Vec<ConfigToken>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigToken {
    name: String,
    sha256: String,
    /// May also erase event bodies.
    #[serde(default)]
    admin: bool,
}

/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

fn load_config(path: &PathBuf) -> Result<ConfigFile, CliError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::usage(format!("config {}: {e}", path.display())))?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(CliError::usage(format!(
            "config {} is larger than 1 MiB",
            path.display()
        )));
    }
    // Bounded again while reading: the size above means nothing for a FIFO or /dev/zero.
    let bytes = super::local::read_limited(&path.display().to_string(), MAX_CONFIG_BYTES as usize)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::usage(format!("config {} is not UTF-8", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        CliError::usage(format!(
            "config {}: {}",
            path.display(),
            e.to_string().lines().collect::<Vec<_>>().join(" ")
        ))
    })
}

/// `tlog serve`.
pub fn serve(a: ServeArgs) -> CliResult {
    let cfg = match &a.config {
        Some(p) => load_config(p)?,
        None => ConfigFile::default(),
    };
    let listen = a
        .listen
        .or(cfg.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let addr: SocketAddr = listen.parse().map_err(|_| {
        CliError::usage(format!(
            "--listen {listen:?} is not an address like 127.0.0.1:8080"
        ))
    })?;
    let interval = a
        .checkpoint_interval_ms
        .or(cfg.checkpoint_interval_ms)
        .unwrap_or(crate::log::DEFAULT_CHECKPOINT_INTERVAL.as_millis() as u64);
    if !(1..=3_600_000).contains(&interval) {
        return Err(CliError::usage(
            "checkpoint interval must be 1..=3600000 ms",
        ));
    }
    let max_batch = a
        .max_batch_events
        .or(cfg.max_batch_events)
        .unwrap_or(crate::log::DEFAULT_MAX_BATCH_EVENTS);
    if !(1..=1_000_000).contains(&max_batch) {
        return Err(CliError::usage("max batch events must be 1..=1000000"));
    }
    let rate = a
        .rate_limit_per_sec
        .or(cfg.rate_limit_per_sec)
        .unwrap_or(DEFAULT_RATE_PER_SEC);
    let burst = cfg.rate_limit_burst.unwrap_or(DEFAULT_BURST.max(rate));
    if !(rate > 0.0 && burst >= 1.0) {
        return Err(CliError::usage("rate limits must be positive"));
    }
    let defaults = Limits::log_defaults();
    let limits = Limits {
        header_timeout: a
            .header_timeout_ms
            .or(cfg.header_timeout_ms)
            .map_or(defaults.header_timeout, Duration::from_millis),
        body_timeout: a
            .body_timeout_ms
            .or(cfg.body_timeout_ms)
            .map_or(defaults.body_timeout, Duration::from_millis),
    };
    limits
        .validate(crate::server::BODY_TIMEOUT)
        .map_err(CliError::usage)?;

    let dir = DataDir::new(&a.dir.dir);
    if !dir.is_initialised() {
        let origin = a.origin.or(cfg.origin).unwrap_or_else(|| addr.to_string());
        dir.init(&origin)?;
        eprintln!(
            "initialised a new log in {} (origin {origin})",
            dir.path.display()
        );
    }
    // Tokens: the data folder's tokens file plus the config file's.
    let tokens_path = dir.path.join("tokens");
    let mut tokens = Tokens::load_file(&tokens_path)?;
    for t in cfg.tokens {
        crate::server::auth::check_name(&t.name)?;
        let h: [u8; 32] = crate::core::hash::hex_decode(&t.sha256)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| {
                CliError::usage(format!(
                    "config token {:?}: sha256 is not 64 hex digits",
                    t.name
                ))
            })?;
        let scope = if t.admin { Scope::Admin } else { Scope::Write };
        tokens.insert_scoped(t.name, h, scope);
    }
    if tokens.is_empty() {
        let token = Tokens::create_in_file(&tokens_path, DEFAULT_TOKEN_NAME)?;
        let token_file = dir.path.join("default.token");
        let _ = std::fs::remove_file(&token_file);
        crate::datadir::write_secret(&token_file, &token)?;
        tokens = Tokens::load_file(&tokens_path)?;
        eprintln!(
            "created a writer token named {DEFAULT_TOKEN_NAME:?}; it is in {} (mode 0600)",
            token_file.display()
        );
    }

    let witness_config = match &a.witness_policy {
        Some(path) => {
            if !(1..=600_000).contains(&a.witness_timeout_ms) {
                return Err(CliError::usage("--witness-timeout-ms must be 1..=600000"));
            }
            let mut c =
                crate::witness::client::CoordinatorConfig::new(super::witness::load_policy(path)?);
            c.publish_without_quorum = a.publish_without_quorum;
            c.timeout = Duration::from_millis(a.witness_timeout_ms);
            Some(c)
        }
        None => None,
    };
    init_tracing();
    let log = dir.open_log(LogConfig {
        checkpoint_interval: Duration::from_millis(interval),
        max_batch_events: max_batch,
    })?;
    let vkey = std::fs::read_to_string(dir.vkey_path())
        .unwrap_or_default()
        .trim()
        .to_string();
    let mirror = MirrorFollower::start(log.clone(), dir.mirror_path())?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tlog-http")
        .build()
        .map_err(|e| CliError::fail(format!("starting the runtime: {e}")))?;
    let state = Arc::new(AppState {
        log: log.clone(),
        tokens,
        rate: RateLimiter::new(rate, burst),
        http: HttpMetrics::default(),
        vkey: vkey.clone(),
        erasures: Erasures {
            mirror: Some((dir.mirror_path(), mirror.rebuilder())),
            ..Erasures::default()
        },
    });
    let result = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| CliError::fail(format!("cannot listen on {addr}: {e}")))?;
        let local = listener.local_addr().map_err(CliError::from)?;
        // A closed stdout (`tlog serve | head -1`) must not stop the server: ignore errors.
        {
            use std::io::Write;
            let mut out = std::io::stdout();
            let _ = writeln!(out, "tlog serving {} on http://{local}/", log.origin());
            let _ = writeln!(out, "verifier key: {vkey}");
            let _ = out.flush();
        }
        tracing::info!(%local, origin = log.origin(), tree_size = log.tree_size(), "listening");
        let cosigned = match witness_config {
            Some(c) => Some(
                crate::witness::client::start(log.clone(), c)
                    .map_err(|e| CliError::usage(format!("--witness-policy: {e}")))?
                    .0,
            ),
            None => None,
        };
        crate::server::run_with(listener, state, cosigned, limits, shutdown_signal())
            .await
            .map_err(|e| CliError::fail(format!("server: {e}")))
    });
    // Every in-flight request has been answered; stop the writer (final checkpoint) and
    // bring the mirror up to date.
    let log = mirror.log().clone();
    log.close();
    let mirror_result = mirror.stop();
    tracing::info!(tree_size = log.tree_size(), "stopped");
    result?;
    mirror_result.map_err(CliError::from)?;
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TLOG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Arguments of `tlog token create`.
#[derive(Args, Debug)]
pub struct TokenCreateArgs {
    #[command(flatten)]
    dir: DirArg,
    /// The token's name (recorded as the submitter of its events).
    #[arg(long)]
    name: String,
    /// Write the token to this new file (mode 0600) instead of printing it.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// An admin token: it may also erase event bodies (`tlog erase --server`). Without
    /// it the token may only post events.
    #[arg(long)]
    admin: bool,
}

/// `tlog token create [--admin]`: the token is shown once (or written to a 0600 file); only
/// its SHA-256 (and its scope) is kept.
pub fn token_create(a: TokenCreateArgs, json_out: bool) -> CliResult {
    let dir = DataDir::new(&a.dir.dir);
    if !dir.is_initialised() {
        return Err(
            crate::datadir::DataDirError::NotInitialised(dir.path.display().to_string()).into(),
        );
    }
    let scope = if a.admin { Scope::Admin } else { Scope::Write };
    let token = Tokens::create_scoped_in_file(&dir.path.join("tokens"), &a.name, scope)?;
    let scope = scope.as_str();
    match &a.output {
        Some(p) => {
            crate::datadir::write_secret(p, &token)?;
            if json_out {
                println!(
                    "{{\"name\":{:?},\"scope\":{scope:?},\"file\":{:?}}}",
                    a.name,
                    p.display().to_string()
                );
            } else {
                println!(
                    "{scope} token {:?} written to {} (mode 0600)",
                    a.name,
                    p.display()
                );
            }
        }
        None => {
            if json_out {
                println!(
                    "{{\"name\":{:?},\"scope\":{scope:?},\"token\":{:?}}}",
                    a.name, token
                );
            } else {
                println!("{token}");
                eprintln!("{scope} token {:?} created: store it now, it cannot be shown again (restart `tlog serve` to load it)", a.name);
            }
        }
    }
    Ok(())
}
