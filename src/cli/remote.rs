//! `--server URL`: `append`, `show`, `prove`, `erase` and the other `--server` commands over
//! the HTTP API instead of a local folder.

use std::time::Duration;

use super::{CliError, CliResult};
use crate::core::bundle::ProofBundle;
use crate::core::json::{self, JsonValue, ParseOptions};
use crate::core::note::Ed25519Verifier;

/// Largest answer read from a server.
const MAX_RESPONSE: usize = 8 << 20;

/// A blocking client of one server.
pub struct Remote {
    base: String,
    token: Option<String>,
    http: reqwest::blocking::Client,
}

impl Remote {
    /// A client of `url` (e.g. `http://127.0.0.1:8080`), with an optional bearer token.
    pub fn new(url: &str, token: Option<String>) -> Result<Remote, CliError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(CliError::usage(format!(
                "--server {url:?} must start with http:// or https://"
            )));
        }
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::fail(format!("HTTP client: {e}")))?;
        Ok(Remote {
            base: url.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    fn read(&self, resp: reqwest::blocking::Response) -> Result<(u16, Vec<u8>), CliError> {
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        use std::io::Read;
        resp.take(MAX_RESPONSE as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| CliError::fail(format!("{}: {e}", self.base)))?;
        if body.len() > MAX_RESPONSE {
            return Err(CliError::fail(format!(
                "{}: answer larger than {MAX_RESPONSE} bytes",
                self.base
            )));
        }
        Ok((status, body))
    }

    /// The JSON answer of a 2xx, or the server's error as a [`CliError`] (4xx: usage, exit
    /// 2; otherwise exit 1).
    pub fn check(&self, status: u16, body: &[u8]) -> Result<JsonValue, CliError> {
        let v = json::parse(body, ParseOptions::STRICT).ok();
        if (200..300).contains(&status) {
            return v.ok_or_else(|| CliError::fail(format!("{}: answer is not JSON", self.base)));
        }
        let msg = v
            .as_ref()
            .and_then(|v| v.get("message"))
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
        let err = format!("server answered {status}: {msg}");
        Err(if (400..500).contains(&status) {
            CliError::usage(err)
        } else {
            CliError::fail(err)
        })
    }

    /// GET a JSON resource.
    pub fn get_json(&self, path: &str) -> Result<JsonValue, CliError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .map_err(|e| CliError::fail(format!("cannot reach {}: {e}", self.base)))?;
        let (s, b) = self.read(resp)?;
        self.check(s, &b)
    }

    /// GET raw bytes (2xx only).
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, CliError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .map_err(|e| CliError::fail(format!("cannot reach {}: {e}", self.base)))?;
        let (s, b) = self.read(resp)?;
        if (200..300).contains(&s) {
            Ok(b)
        } else {
            self.check(s, &b).map(|_| Vec::new())
        }
    }

    /// POST events (an object or an array) to `/v1/events`.
    pub fn post_events(&self, body: &JsonValue) -> Result<JsonValue, CliError> {
        let (s, b) = self.post_json("/v1/events", body)?;
        self.check(s, &b)
    }

    /// The server's URL, as given (without a trailing `/`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether a token was given.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// POSTs a JSON body with the bearer token to `path`; returns the status and the raw
    /// answer (see [`Remote::check`]).
    pub fn post_json(&self, path: &str, body: &JsonValue) -> Result<(u16, Vec<u8>), CliError> {
        let token = self.token.as_ref().ok_or_else(|| {
            CliError::usage(
                "writing to a server needs a token: set TLOG_TOKEN (see `tlog token create`)",
            )
        })?;
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(json::to_json_string(body))
            .send()
            .map_err(|e| CliError::fail(format!("cannot reach {}: {e}", self.base)))?;
        self.read(resp)
    }

    /// Fetches the bundle of `event` and verifies it before returning it: with `key` if
    /// given, else with the key the server advertises (which proves only consistency with
    /// what this server says; a warning is printed).
    pub fn verified_bundle(
        &self,
        event: &str,
        size: Option<u64>,
        key: Option<Ed25519Verifier>,
    ) -> Result<ProofBundle, CliError> {
        let q = size.map(|s| format!("?size={s}")).unwrap_or_default();
        let body = self.get_bytes(&format!("/v1/bundle/{}{q}", urlencode(event)))?;
        let bundle = ProofBundle::parse(&body)
            .map_err(|e| CliError::fail(format!("server sent a bad bundle: {e}")))?;
        let key = match key {
            Some(k) => k,
            None => {
                let cp = self.get_json("/v1/checkpoint")?;
                let vkey = cp
                    .get("vkey")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string();
                eprintln!("tlog: warning: no --key given; verifying with the key the server advertises ({vkey})");
                crate::core::note::parse_verifier_key(&vkey)
                    .map_err(|e| CliError::fail(format!("server advertises a bad key: {e}")))?
            }
        };
        bundle
            .verify(&key)
            .map_err(|e| CliError::fail(format!("the server's bundle does not verify: {e}")))?;
        Ok(bundle)
    }
}

/// Percent-encodes a path segment.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Prints the result of a POST.
pub fn print_post_result(v: &JsonValue, json_out: bool) -> CliResult {
    let items: Vec<JsonValue> = match v.get("results") {
        Some(JsonValue::Array(a)) => a.clone(),
        _ => vec![v.clone()],
    };
    let mut failed = 0;
    for (i, it) in items.iter().enumerate() {
        if json_out {
            println!("{}", json::to_json_string(it));
        }
        if let Some(m) = it.get("message").and_then(|m| m.as_str()) {
            failed += 1;
            eprintln!("tlog: event {}: {m}", i + 1);
            continue;
        }
        if !json_out {
            let g = |k: &str| {
                it.get(k)
                    .map(|v| match v {
                        JsonValue::String(s) => s.clone(),
                        other => json::to_json_string(other),
                    })
                    .unwrap_or_default()
            };
            let existing = it.get("existing") == Some(&JsonValue::Bool(true));
            println!(
                "{}\t{}\t{}{}",
                g("index"),
                g("event_id"),
                g("leaf_hash"),
                if existing {
                    "\t(already in the log)"
                } else {
                    ""
                }
            );
        }
    }
    if failed > 0 {
        return Err(CliError::usage(format!(
            "{failed} events were not appended"
        )));
    }
    Ok(())
}
