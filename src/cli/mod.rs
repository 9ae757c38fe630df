//! `tlog`: the command line. Parses arguments and calls the library; nothing else.
//!
//! Human output by default, `--json` for scripts. Every failure is one line on stderr and a
//! non-zero exit: 1 for a failed check or operation, 2 for bad usage or input, 130 when
//! interrupted.

mod dataset;
mod governance;
mod lineage;
mod local;
mod progress;
mod remote;
mod serve;
mod witness;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: the operation or check failed.
pub const EXIT_FAIL: i32 = 1;
/// Exit code: bad usage or bad input.
pub const EXIT_USAGE: i32 = 2;

/// A CLI failure: what to print, and the exit code.
#[derive(Debug)]
pub struct CliError {
    /// Exit code.
    pub code: i32,
    /// One line for stderr.
    pub message: String,
}

impl CliError {
    /// A failed operation (exit 1).
    pub fn fail(message: impl Into<String>) -> CliError {
        CliError {
            code: EXIT_FAIL,
            message: message.into(),
        }
    }

    /// Bad input (exit 2).
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }
}

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(e: E) -> CliError {
        CliError::fail(e.to_string())
    }
}

/// Result of a command.
pub type CliResult = Result<(), CliError>;

#[derive(Parser, Debug)]
#[command(
    name = "tlog",
    version,
    about = "llm-audit-trail: a verifiable transparency log for ML model lifecycles",
    long_about = None
)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// Talk to a `tlog serve` instead of a local data folder.
#[derive(Args, Debug, Clone)]
pub struct ServerArg {
    /// Server URL, e.g. http://127.0.0.1:8080 (then the data folder is not used).
    #[arg(long, env = "TLOG_URL")]
    pub server: Option<String>,
    /// Writer token for --server.
    #[arg(long, env = "TLOG_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// The data folder option every local command takes.
#[derive(Args, Debug, Clone)]
pub struct DirArg {
    /// Data folder.
    #[arg(long, env = "TLOG_DIR", default_value = crate::datadir::DEFAULT_DIR)]
    pub dir: PathBuf,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a data folder with a new signing key and print its verifier key.
    Init {
        #[command(flatten)]
        dir: DirArg,
        /// The log's origin (checkpoint first line and key name), e.g. `example.com/mlog`.
        #[arg(long)]
        origin: String,
    },
    /// Append one event (or many with --batch) and print where each went.
    Append(local::AppendArgs),
    /// Sign a checkpoint now (if the log grew) and print it.
    Checkpoint {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Show one event by index or event id.
    Show {
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        server: ServerArg,
        /// Leaf index or event id.
        event: String,
    },
    /// List events, optionally filtered.
    List(local::ListArgs),
    /// Write a proof bundle for an event, or a consistency proof.
    Prove(local::ProveArgs),
    /// Verify a proof bundle offline.
    Verify(local::VerifyArgs),
    /// Verify a JSONL hash chain (ours or one written by llm-audit-trail 0.1.0).
    VerifyChain(local::VerifyChainArgs),
    /// Import a llm-audit-trail 0.1.0 JSONL chain into the log.
    Import(local::ImportArgs),
    /// Re-verify the whole log and its mirror.
    Fsck {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Rewrite the stored tables with the current storage options (a full compaction; not
    /// while `tlog serve` runs on the folder).
    Compact {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Run the HTTP log server (creates ./tlog-data with a fresh key if needed).
    Serve(serve::ServeArgs),
    /// Run a C2SP tlog-witness: create its key, trust logs, serve add-checkpoint.
    Witness {
        #[command(subcommand)]
        command: witness::WitnessCommand,
    },
    /// Follow a log through its public read API and report forks, rollbacks, bad tiles.
    Monitor(witness::MonitorArgs),
    /// Manage writer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Record an approval (Approval).
    Approve(governance::ApproveArgs),
    /// Record a risk waiver (RiskWaiver).
    Waive(governance::WaiveArgs),
    /// Record an attestation (Attestation).
    Attest(governance::AttestArgs),
    /// Register a dataset with a content hash of its files, or check it.
    Dataset {
        #[command(subcommand)]
        command: dataset::DatasetCommand,
    },
    /// Show every verified event of a model and its datasets, in time order.
    Lineage(lineage::LineageArgs),
    /// Exit 0 only if the log proves every requirement (a deployment gate).
    Check(lineage::CheckArgs),
    /// Erase an event's private body, recording an Erasure event.
    Erase(lineage::EraseArgs),
    /// Work with the JSONL mirror.
    Mirror {
        #[command(subcommand)]
        command: MirrorCommand,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a writer token (shown once; only its hash is stored).
    Create(serve::TokenCreateArgs),
}

#[derive(Subcommand, Debug)]
enum MirrorCommand {
    /// Regenerate the mirror from the log.
    Rebuild {
        #[command(flatten)]
        dir: DirArg,
    },
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            if !e.use_stderr() {
                // --help and --version.
                let _ = e.print();
                return EXIT_OK;
            }
            // Usage errors as one line, like every other error.
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("bad usage");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("tlog: {first} (see tlog --help)");
            return EXIT_USAGE;
        }
    };
    let json = cli.json;
    let result = match cli.command {
        Command::Init { dir, origin } => local::init(&dir, &origin, json),
        Command::Append(a) => local::append(a, json),
        Command::Checkpoint { dir } => local::checkpoint(&dir, json),
        Command::Show { dir, server, event } => local::show(&dir, &server, &event, json),
        Command::List(a) => local::list(a, json),
        Command::Prove(a) => local::prove(a, json),
        Command::Verify(a) => local::verify(a, json),
        Command::VerifyChain(a) => local::verify_chain(a, json),
        Command::Import(a) => local::import(a, json),
        Command::Fsck { dir } => local::fsck(&dir, json),
        Command::Compact { dir } => local::compact(&dir, json),
        Command::Serve(a) => serve::serve(a),
        Command::Witness { command } => witness::witness(command, json),
        Command::Monitor(a) => witness::monitor(a, json),
        Command::Token {
            command: TokenCommand::Create(a),
        } => serve::token_create(a, json),
        Command::Approve(a) => governance::approve(a, json),
        Command::Waive(a) => governance::waive(a, json),
        Command::Attest(a) => governance::attest(a, json),
        Command::Dataset { command } => dataset::run(command, json),
        Command::Lineage(a) => lineage::lineage(a, json),
        Command::Check(a) => lineage::check(a, json),
        Command::Erase(a) => lineage::erase(a, json),
        Command::Mirror {
            command: MirrorCommand::Rebuild { dir },
        } => local::mirror_rebuild(&dir, json),
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("tlog: {}", e.message.replace('\n', " "));
            e.code
        }
    }
}
