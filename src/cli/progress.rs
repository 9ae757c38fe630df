//! A one-line progress display on stderr, shown only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Prints `label: done/total (pct%)` at most ten times a second.
pub struct Progress {
    label: String,
    total: Option<u64>,
    done: u64,
    last: Instant,
    enabled: bool,
}

impl Progress {
    /// A progress line for `total` units (unknown when `None`).
    pub fn new(label: &str, total: Option<u64>) -> Progress {
        Progress {
            label: label.to_string(),
            total,
            done: 0,
            last: Instant::now(),
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// Adds `n` units.
    pub fn add(&mut self, n: u64) {
        self.done += n;
        if self.enabled && self.last.elapsed() >= Duration::from_millis(100) {
            self.last = Instant::now();
            self.draw();
        }
    }

    fn draw(&self) {
        let mut err = std::io::stderr();
        match self.total {
            Some(t) if t > 0 => {
                let _ = write!(
                    err,
                    "\r{}: {}/{} ({}%)",
                    self.label,
                    self.done,
                    t,
                    self.done * 100 / t
                );
            }
            _ => {
                let _ = write!(err, "\r{}: {}", self.label, self.done);
            }
        }
        let _ = err.flush();
    }

    /// Clears the line.
    pub fn finish(&self) {
        if self.enabled {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}
