//! `crashloop`: kill -9 `tlog serve` under concurrent HTTP load, restart it, and check that
//! nothing acknowledged was lost, that no checkpoint forked, and that the mirror matches.
//! Run it with `tools/crashloop` (which builds `tlog` and this example); see
//! `tools/harness/crashloop.rs` for what each round checks.
//!
//! Exit status: 0 when every check passed, 1 when one failed (loss, fork, mismatch),
//! 2 when the harness could not run (bad arguments, the server would not start).

#[path = "crashloop.rs"]
mod crashloop;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "crashloop",
    about = "kill -9 tlog serve under load and check everything"
)]
struct Args {
    /// The tlog binary to test (default: the one built beside this example,
    /// `<target>/debug/tlog`).
    #[arg(long)]
    tlog: Option<PathBuf>,
    /// Kills under load (1..=100000).
    #[arg(long, default_value_t = 100)]
    rounds: u32,
    /// No round starts after this many seconds (1..=86400).
    #[arg(long, default_value_t = 1800)]
    time_limit_secs: u64,
    /// Concurrent writer threads (1..=64).
    #[arg(long, default_value_t = 4)]
    writers: usize,
    /// Seed of the request shapes and kill moments (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Each kill comes 0..=N ms after the load starts (1..=60000).
    #[arg(long, default_value_t = 1000)]
    max_kill_ms: u64,
    /// The server's checkpoint interval in ms (1..=10000).
    #[arg(long, default_value_t = 50)]
    checkpoint_interval_ms: u64,
    /// Work folder (must not exist or be empty); default: a new temporary folder, removed
    /// after a clean run and kept after a failed one.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the work folder even after a clean run.
    #[arg(long)]
    keep: bool,
    /// Print only the summary.
    #[arg(long)]
    quiet: bool,
}

fn usage(m: &str) -> ExitCode {
    eprintln!("crashloop: {m}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let a = Args::parse();
    if !(1..=100_000).contains(&a.rounds) {
        return usage("--rounds must be 1..=100000");
    }
    if !(1..=86_400).contains(&a.time_limit_secs) {
        return usage("--time-limit-secs must be 1..=86400");
    }
    if !(1..=64).contains(&a.writers) {
        return usage("--writers must be 1..=64");
    }
    if !(1..=60_000).contains(&a.max_kill_ms) {
        return usage("--max-kill-ms must be 1..=60000");
    }
    if !(1..=10_000).contains(&a.checkpoint_interval_ms) {
        return usage("--checkpoint-interval-ms must be 1..=10000");
    }
    let tlog = match a.tlog.clone().or_else(|| {
        let exe = std::env::current_exe().ok()?;
        Some(exe.parent()?.parent()?.join("tlog"))
    }) {
        Some(t) if t.is_file() => t,
        Some(t) => return usage(&format!("--tlog {}: no such file", t.display())),
        None => return usage("--tlog is needed"),
    };
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let (work_dir, temp) = match &a.work_dir {
        Some(d) => {
            if d.exists()
                && std::fs::read_dir(d)
                    .map(|mut r| r.next().is_some())
                    .unwrap_or(true)
            {
                return usage(&format!("--work-dir {} is not empty", d.display()));
            }
            if let Err(e) = std::fs::create_dir_all(d) {
                return usage(&format!("--work-dir {}: {e}", d.display()));
            }
            (d.clone(), None)
        }
        None => match tempfile::Builder::new().prefix("crashloop-").tempdir() {
            Ok(t) => (t.path().to_path_buf(), Some(t)),
            Err(e) => return usage(&format!("temporary folder: {e}")),
        },
    };
    let opts = crashloop::Options {
        tlog,
        rounds: a.rounds,
        time_limit: Duration::from_secs(a.time_limit_secs),
        writers: a.writers,
        seed,
        max_kill_ms: a.max_kill_ms,
        work_dir: work_dir.clone(),
        checkpoint_interval_ms: a.checkpoint_interval_ms,
    };
    let quiet = a.quiet;
    let result = crashloop::run(opts, &mut |m| {
        if !quiet {
            eprintln!("{m}");
        }
    });
    let (code, clean) = match result {
        Ok(s) => {
            for p in &s.problems {
                eprintln!("FAILED: {p}");
            }
            println!("crashloop: {}", s.line());
            if s.ok() {
                (ExitCode::SUCCESS, true)
            } else {
                (ExitCode::from(1), false)
            }
        }
        Err(e) => {
            eprintln!("crashloop: could not run: {e}");
            (ExitCode::from(2), false)
        }
    };
    match temp {
        Some(t) if clean && !a.keep => drop(t),
        Some(t) => eprintln!("crashloop: work folder kept: {}", t.keep().display()),
        None => {}
    }
    code
}
