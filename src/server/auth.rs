//! Bearer tokens, stored hashed, with a scope, and a per-token rate limit.
//!
//! A token is `tlog_` followed by 43 base64url characters (32 random bytes). Only its
//! SHA-256 is stored (`<dir>/tokens`, one `name sha256hex [admin]` a line, mode 0600, or
//! `[[tokens]]` in the config file), so a leaked tokens file does not let anyone write. A
//! presented token is hashed and looked up; the final comparison is constant-time. The
//! token's name is recorded as the `submitter` of every event it writes.
//!
//! Every token has a [`Scope`]: `write` (post events; the default, and what a line without a
//! scope means, so tokens files written before scopes existed load unchanged) or `admin`
//! (also erase event bodies).

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

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Post events (`POST /v1/events`).
    Write,
    /// Everything `Write` may, and erase event bodies (`POST /v1/events/{id}/erase`).
    Admin,
}

impl Scope {
    /// The word used in tokens files and output (`write`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// Reads `write` or `admin`.
    pub fn parse(word: &str) -> Option<Scope> {
        match word {
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    /// Whether a token of this scope may erase bodies.
    pub fn may_erase(self) -> bool {
        self == Scope::Admin
    }
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
    by_hash: HashMap<[u8; 32], (String, Scope)>,
}

impl Tokens {
    /// Adds a (name, hash) pair with the `write` scope.
    pub fn insert(&mut self, name: String, hash: [u8; 32]) {
        self.insert_scoped(name, hash, Scope::Write);
    }

    /// Adds a (name, hash) pair with `scope`.
    pub fn insert_scoped(&mut self, name: String, hash: [u8; 32], scope: Scope) {
        self.by_hash.insert(hash, (name, scope));
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
        self.by_hash.values().any(|(n, _)| n == name)
    }

    /// The name of the token `presented`, if it is one of ours.
    pub fn check(&self, presented: &str) -> Option<&str> {
        self.authenticate(presented).map(|(name, _)| name)
    }

    /// The name and scope of the token `presented`, if it is one of ours.
    pub fn authenticate(&self, presented: &str) -> Option<(&str, Scope)> {
        if presented.len() > MAX_TOKEN_LEN {
            return None;
        }
        let h = token_hash(presented);
        let (stored, (name, scope)) = self.by_hash.get_key_value(&h)?;
        ct_eq(stored, &h).then_some((name.as_str(), *scope))
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
            let (Some(name), Some(hash), scope, None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad("expected `name sha256hex [write|admin]`"));
            };
            check_name(name).map_err(|_| bad("bad token name"))?;
            let h: [u8; 32] = hex_decode(hash)
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| bad("hash is not 64 hex digits"))?;
            // No scope: a line written before scopes existed, which could only write.
            let scope = match scope {
                None => Scope::Write,
                Some(w) => {
                    Scope::parse(w).ok_or_else(|| bad("scope must be `write` or `admin`"))?
                }
            };
            t.insert_scoped(name.to_string(), h, scope);
        }
        Ok(t)
    }

    /// Creates a `write` token named `name`, appends its hash to `path` (created 0600), and
    /// returns the token text.
    pub fn create_in_file(path: &Path, name: &str) -> Result<String, TokenError> {
        Tokens::create_scoped_in_file(path, name, Scope::Write)
    }

    /// Creates a token named `name` with `scope`, appends its hash to `path` (created 0600),
    /// and returns the token text. A `write` token's line has no scope word, so that older
    /// versions still read the file; an `admin` line ends in `admin` (older versions refuse
    /// the file rather than take it for a writer).
    pub fn create_scoped_in_file(
        path: &Path,
        name: &str,
        scope: Scope,
    ) -> Result<String, TokenError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        check_name(name)?;
        let existing = Tokens::load_file(path)?;
        if existing.has_name(name) {
            return Err(TokenError::Exists(name.to_string()));
        }
        let token = new_token();
        let line = match scope {
            Scope::Write => format!("{name} {}\n", hex_encode(&token_hash(&token))),
            Scope::Admin => format!("{name} {} admin\n", hex_encode(&token_hash(&token))),
        };
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
        // The key is copied only the first time a token writes (not a request).
        if !b.contains_key(name) {
            b.insert(name.to_string(), (self.burst, now));
        }
        let (tokens, last) = b.get_mut(name).expect("inserted above");
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
        assert_eq!(tokens.authenticate(&t), Some(("trainer", Scope::Write)));
    }

    #[test]
    fn scopes_load_old_lines_as_write_and_refuse_unknown_words() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let w = Tokens::create_in_file(&path, "writer").unwrap();
        let a = Tokens::create_scoped_in_file(&path, "root", Scope::Admin).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&a));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().count(),
            2,
            "old format for writers"
        );
        assert!(lines[1].ends_with(" admin"));
        let t = Tokens::load_file(&path).unwrap();
        assert_eq!(t.authenticate(&w), Some(("writer", Scope::Write)));
        assert_eq!(t.authenticate(&a), Some(("root", Scope::Admin)));
        assert!(!Scope::Write.may_erase() && Scope::Admin.may_erase());
        // An explicit `write` word, and an unknown word.
        let h = hex_encode(&token_hash("tlog_x"));
        fs::write(&path, format!("x {h} write\n")).unwrap();
        let t = Tokens::load_file(&path).unwrap();
        assert_eq!(t.authenticate("tlog_x"), Some(("x", Scope::Write)));
        fs::write(&path, format!("x {h} root\n")).unwrap();
        let e = Tokens::load_file(&path).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("scope"), "{e}");
        fs::write(&path, format!("x {h} admin extra\n")).unwrap();
        assert!(Tokens::load_file(&path).is_err());
    }

    #[test]
    fn rate_limiter_refuses_beyond_the_burst() {
        let r = RateLimiter::new(1.0, 5.0);
        assert!(r.take("a", 5));
        assert!(!r.take("a", 1));
        assert!(r.take("b", 1), "buckets are per token");
    }
}
