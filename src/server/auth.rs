//! Bearer tokens for writers, stored hashed, and a per-token rate limit.
//!
//! A token is `tlog_` followed by 43 base64url characters (32 random bytes). Only its
//! SHA-256 is stored (`<dir>/tokens`, one `name sha256hex` a line, mode 0600, or `[[tokens]]`
//! in the config file), so a leaked tokens file does not let anyone write. A presented token
//! is hashed and looked up; the final comparison is constant-time. The token's name is
//! recorded as the `submitter` of every event it writes.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::core::hash::{hex_decode, hex_encode, sha256};

/// Prefix of every token.
pub const TOKEN_PREFIX: &str = "tlog_";
/// Longest token name.
pub const MAX_TOKEN_NAME: usize = 64;
/// Longest presented token considered.
pub const MAX_TOKEN_LEN: usize = 256;
/// Default events per second per token (sustained).
pub const DEFAULT_RATE_PER_SEC: f64 = 200_000.0;
/// Default burst (events) per token.
pub const DEFAULT_BURST: f64 = 400_000.0;

/// Errors with tokens.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A bad token name.
    #[error("token name {0:?} must be 1-64 characters of A-Z a-z 0-9 . _ -")]
    BadName(String),
    /// The name is taken.
    #[error("a token named {0:?} already exists")]
    Exists(String),
    /// The tokens file is unusable.
    #[error("tokens file {path}: {message}")]
    File {
        /// The path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Checks a token name.
pub fn check_name(name: &str) -> Result<(), TokenError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_TOKEN_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(TokenError::BadName(name.to_string()))
    }
}

/// The stored form of a token: SHA-256 of its text.
pub fn token_hash(token: &str) -> [u8; 32] {
    sha256(token.as_bytes())
}

/// A new random token (the caller shows it once; only its hash is stored).
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    crate::os::fill_random(&mut b);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(b))
}

fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The set of accepted tokens.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    by_hash: HashMap<[u8; 32], String>,
}

impl Tokens {
    /// Adds a (name, hash) pair.
    pub fn insert(&mut self, name: String, hash: [u8; 32]) {
        self.by_hash.insert(hash, name);
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether there is no token.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Whether a token of that name exists.
    pub fn has_name(&self, name: &str) -> bool {
        self.by_hash.values().any(|n| n == name)
    }

    /// The name of the token `presented`, if it is one of ours.
    pub fn check(&self, presented: &str) -> Option<&str> {
        if presented.len() > MAX_TOKEN_LEN {
            return None;
        }
        let h = token_hash(presented);
        let (stored, name) = self.by_hash.get_key_value(&h)?;
        ct_eq(stored, &h).then_some(name.as_str())
    }

    /// Loads `<dir>/tokens` (absent: no tokens).
    pub fn load_file(path: &Path) -> Result<Tokens, TokenError> {
        let mut t = Tokens::default();
        let text = match fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(t),
            Err(e) => {
                return Err(TokenError::File {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })
            }
        };
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |m: &str| TokenError::File {
                path: path.display().to_string(),
                message: format!("line {}: {m}", i + 1),
            };
            let mut parts = line.split_whitespace();
            let (Some(name), Some(hash), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad("expected `name sha256hex`"));
            };
            check_name(name).map_err(|_| bad("bad token name"))?;
            let h: [u8; 32] = hex_decode(hash)
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| bad("hash is not 64 hex digits"))?;
            t.insert(name.to_string(), h);
        }
        Ok(t)
    }

    /// Creates a token named `name`, appends its hash to `path` (created 0600), and
    /// returns the token text.
    pub fn create_in_file(path: &Path, name: &str) -> Result<String, TokenError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        check_name(name)?;
        let existing = Tokens::load_file(path)?;
        if existing.has_name(name) {
            return Err(TokenError::Exists(name.to_string()));
        }
        let token = new_token();
        let line = format!("{name} {}\n", hex_encode(&token_hash(&token)));
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut f| {
                f.write_all(line.as_bytes())
                    .and_then(|_| f.sync_all())
                    .map(|_| f)
            })
            .map_err(|e| TokenError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        let _ = f.flush();
        Ok(token)
    }
}

/// A token-bucket rate limiter per token name.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter allowing `rate` events a second with bursts of `burst`.
    pub fn new(rate: f64, burst: f64) -> RateLimiter {
        RateLimiter {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `n` events from `name`'s bucket; false when the bucket is empty.
    pub fn take(&self, name: &str, n: usize) -> bool {
        let now = Instant::now();
        let mut b = self.buckets.lock().expect("rate lock");
        let (tokens, last) = b.entry(name.to_string()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= n as f64 {
            *tokens -= n as f64;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_the_file_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let t = Tokens::create_in_file(&path, "trainer").unwrap();
        assert!(t.starts_with(TOKEN_PREFIX));
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&t), "the token itself must not be stored");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let tokens = Tokens::load_file(&path).unwrap();
        assert_eq!(tokens.check(&t), Some("trainer"));
        assert_eq!(tokens.check("tlog_wrong"), None);
        assert!(matches!(
            Tokens::create_in_file(&path, "trainer"),
            Err(TokenError::Exists(_))
        ));
        assert!(matches!(check_name("a b"), Err(TokenError::BadName(_))));
    }

    #[test]
    fn rate_limiter_refuses_beyond_the_burst() {
        let r = RateLimiter::new(1.0, 5.0);
        assert!(r.take("a", 5));
        assert!(!r.take("a", 1));
        assert!(r.take("b", 1), "buckets are per token");
    }
}
