//! The offline proof bundle (`spec/bundle.md`): one event with everything needed to check
//! it without the log — the leaf bytes, the private body and its salt (unless erased), the
//! inclusion proof, and the signed checkpoint it leads to.
//!
//! Verification ([`ProofBundle::verify`]) is pure: the checkpoint's signature by the log
//! key, the inclusion proof from the leaf hash of the *given* entry bytes to the
//! checkpoint's root, and the body commitment `SHA-256(salt || body) == body_digest`.
//! The informational `event` view in the JSON is never trusted: it is rebuilt from the
//! verified bytes and must match.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::core::checkpoint::{open_checkpoint, Checkpoint};
use crate::core::entry::{self, Body, EntryHeader};
use crate::core::hash::{hex_decode, hex_encode, leaf_hash, Hash};
use crate::core::json::{self, JsonNumber, JsonValue, ParseOptions};
use crate::core::note::Ed25519Verifier;
use crate::core::proof::{verify_inclusion, MAX_PROOF_HASHES};

/// The `format` value of version 1 bundles.
pub const BUNDLE_FORMAT: &str = "llm-audit-trail/bundle/v1";
/// Largest bundle accepted (a body is at most 256 KiB, base64 adds a third).
pub const MAX_BUNDLE_SIZE: usize = 1 << 20;

/// Standard base64 (with padding), as C2SP formats use.
pub fn b64(bytes: &[u8]) -> String {
    // Into a String of the right size (`encode` builds a zeroed buffer first: a calloc that
    // showed in the proof endpoint's profile).
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    b64_append(bytes, &mut out);
    out
}

/// [`b64`] appended to `out`.
pub fn b64_append(bytes: &[u8], out: &mut String) {
    STANDARD.encode_string(bytes, out);
}

/// Why a bundle is malformed or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The file is not a bundle.
    #[error("malformed bundle: {0}")]
    Malformed(String),
    /// The checkpoint is not signed by the given log key.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// The entry bytes do not decode.
    #[error("entry: {0}")]
    Entry(String),
    /// The inclusion proof does not lead to the checkpoint's root.
    #[error("inclusion proof: {0}")]
    Inclusion(String),
    /// The body or salt does not match the entry's body digest.
    #[error("body: {0}")]
    Body(String),
    /// The informational event view contradicts the verified bytes.
    #[error("event view: {0}")]
    View(String),
}

/// An erasure marker carried by a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// Leaf index of the `Erasure` event.
    pub erased_by: u64,
    /// Why the body was erased.
    pub reason: String,
}

/// A proof bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofBundle {
    /// The event's leaf index.
    pub leaf_index: u64,
    /// The leaf bytes (canonical CBOR entry).
    pub entry: Vec<u8>,
    /// The private body bytes, unless erased or withheld.
    pub body: Option<Vec<u8>>,
    /// The body's salt, with the body.
    pub salt: Option<[u8; 32]>,
    /// Set when the body was erased.
    pub erased: Option<Erasure>,
    /// Inclusion proof of the leaf in the checkpoint's tree.
    pub inclusion_proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub checkpoint: Vec<u8>,
}

/// What a verified bundle proves.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedBundle {
    /// The checkpoint, signature checked.
    pub checkpoint: Checkpoint,
    /// The entry header, decoded from verified bytes.
    pub header: EntryHeader,
    /// The body, when present and matching the commitment.
    pub body: Option<Body>,
    /// The erasure, when the body was erased.
    pub erased: Option<Erasure>,
    /// The leaf hash.
    pub leaf_hash: Hash,
}

impl VerifiedBundle {
    /// `verified`, `erased (reason)` or `not included`.
    pub fn body_status(&self) -> String {
        match (&self.body, &self.erased) {
            (Some(_), _) => "verified".into(),
            (None, Some(e)) => format!("erased by event {} ({})", e.erased_by, e.reason),
            (None, None) => "not included".into(),
        }
    }
}

fn int(v: u64) -> JsonValue {
    JsonValue::Number(JsonNumber::Int(i128::from(v)))
}

fn st(v: impl Into<String>) -> JsonValue {
    JsonValue::String(v.into())
}

fn opt(v: &Option<String>) -> JsonValue {
    v.as_ref().map(|s| st(s.clone())).unwrap_or(JsonValue::Null)
}

/// The informational event view (header + body) as bundles and the API show it.
fn event_view(header: &EntryHeader, body: Option<&Body>) -> JsonValue {
    JsonValue::Object(
        [
            ("event_id", st(header.event_id.clone())),
            ("timestamp", st(header.timestamp.clone())),
            ("event_type", st(header.event_type.clone())),
            ("system", opt(&header.system)),
            ("model_id", opt(&header.model_id)),
            ("dataset_id", opt(&header.dataset_id)),
            ("deployment_id", opt(&header.deployment_id)),
            ("submitter", opt(&header.submitter)),
            (
                "actor",
                body.map(|b| opt(&b.actor)).unwrap_or(JsonValue::Null),
            ),
            (
                "details",
                body.map(|b| b.details.clone()).unwrap_or(JsonValue::Null),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    )
}

impl ProofBundle {
    /// Serializes the bundle as its JSON object (see `spec/bundle.md`). The informational
    /// `event` view is included only when the entry and the body (if any) decode, so that
    /// [`ProofBundle::parse`] reads the output back to the same bundle.
    pub fn to_json(&self) -> JsonValue {
        let header = entry::decode_entry(&self.entry).ok();
        // None: a body that does not decode (no view then); Some(None): no body.
        let body = match &self.body {
            Some(b) => entry::decode_body(b).ok().map(Some),
            None => Some(None),
        };
        let mut m: Vec<(String, JsonValue)> = vec![
            ("format".into(), st(BUNDLE_FORMAT)),
            ("leaf_index".into(), int(self.leaf_index)),
            ("leaf_hash".into(), st(leaf_hash(&self.entry).to_hex())),
            ("entry".into(), st(b64(&self.entry))),
            (
                "body".into(),
                self.body
                    .as_ref()
                    .map(|b| st(b64(b)))
                    .unwrap_or(JsonValue::Null),
            ),
            (
                "salt".into(),
                self.salt
                    .map(|s| st(hex_encode(&s)))
                    .unwrap_or(JsonValue::Null),
            ),
            (
                "erased".into(),
                match &self.erased {
                    Some(e) => JsonValue::Object(vec![
                        ("erased_by".into(), int(e.erased_by)),
                        ("reason".into(), st(e.reason.clone())),
                    ]),
                    None => JsonValue::Null,
                },
            ),
            (
                "inclusion_proof".into(),
                JsonValue::Array(
                    self.inclusion_proof
                        .iter()
                        .map(|h| st(b64(h.as_bytes())))
                        .collect(),
                ),
            ),
            (
                "checkpoint".into(),
                st(String::from_utf8_lossy(&self.checkpoint).into_owned()),
            ),
        ];
        if let (Some(h), Some(body)) = (header, body) {
            m.push(("event".into(), event_view(&h, body.as_ref())));
        }
        JsonValue::Object(m)
    }

    /// Parses a bundle (bounded by [`MAX_BUNDLE_SIZE`]).
    pub fn parse(bytes: &[u8]) -> Result<ProofBundle, BundleError> {
        let bad = |m: &str| BundleError::Malformed(m.to_string());
        if bytes.len() > MAX_BUNDLE_SIZE {
            return Err(bad("larger than the 1 MiB limit"));
        }
        let v = json::parse(bytes, ParseOptions::STRICT)
            .map_err(|e| BundleError::Malformed(e.to_string()))?;
        if v.get("format").and_then(|f| f.as_str()) != Some(BUNDLE_FORMAT) {
            return Err(bad("format is not llm-audit-trail/bundle/v1"));
        }
        let text = |k: &str| v.get(k).and_then(|x| x.as_str());
        let bytes_field = |k: &str| -> Result<Option<Vec<u8>>, BundleError> {
            match v.get(k) {
                None | Some(JsonValue::Null) => Ok(None),
                Some(JsonValue::String(s)) => STANDARD
                    .decode(s)
                    .map(Some)
                    .map_err(|_| BundleError::Malformed(format!("{k} is not base64"))),
                Some(_) => Err(BundleError::Malformed(format!("{k} is not a string"))),
            }
        };
        let leaf_index = match v.get("leaf_index") {
            Some(JsonValue::Number(JsonNumber::Int(i)))
                if *i >= 0 && *i <= i128::from(u64::MAX) =>
            {
                *i as u64
            }
            _ => return Err(bad("leaf_index is not a non-negative integer")),
        };
        let entry = bytes_field("entry")?.ok_or_else(|| bad("entry is missing"))?;
        let body = bytes_field("body")?;
        let salt = match v.get("salt") {
            None | Some(JsonValue::Null) => None,
            Some(JsonValue::String(s)) => Some(
                hex_decode(s)
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| bad("salt is not 64 hex digits"))?,
            ),
            Some(_) => return Err(bad("salt is not a string")),
        };
        let erased = match v.get("erased") {
            None | Some(JsonValue::Null) => None,
            Some(e) => {
                let by = match e.get("erased_by") {
                    Some(JsonValue::Number(JsonNumber::Int(i)))
                        if *i >= 0 && *i <= i128::from(u64::MAX) =>
                    {
                        *i as u64
                    }
                    _ => return Err(bad("erased.erased_by is not an index")),
                };
                let reason = e
                    .get("reason")
                    .and_then(|r| r.as_str())
                    .unwrap_or_default()
                    .to_string();
                Some(Erasure {
                    erased_by: by,
                    reason,
                })
            }
        };
        let proof = match v.get("inclusion_proof") {
            Some(JsonValue::Array(a)) if a.len() <= MAX_PROOF_HASHES => a
                .iter()
                .map(|h| {
                    h.as_str()
                        .and_then(|s| STANDARD.decode(s).ok())
                        .and_then(|b| Hash::from_slice(&b))
                        .ok_or_else(|| {
                            bad("inclusion_proof holds a value that is not a base64 32-byte hash")
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(JsonValue::Array(_)) => return Err(bad("inclusion_proof is too long")),
            _ => return Err(bad("inclusion_proof is missing")),
        };
        let checkpoint = text("checkpoint").ok_or_else(|| bad("checkpoint is missing"))?;
        let bundle = ProofBundle {
            leaf_index,
            entry,
            body,
            salt,
            erased,
            inclusion_proof: proof,
            checkpoint: checkpoint.as_bytes().to_vec(),
        };
        // The informational fields must agree with the bytes they describe.
        if let Some(h) = text("leaf_hash") {
            if Hash::from_hex(h) != Some(leaf_hash(&bundle.entry)) {
                return Err(BundleError::View(
                    "leaf_hash is not the hash of entry".into(),
                ));
            }
        }
        if let Some(view) = v.get("event") {
            let header = entry::decode_entry(&bundle.entry)
                .map_err(|e| BundleError::Entry(e.to_string()))?;
            let body = match &bundle.body {
                Some(b) => {
                    Some(entry::decode_body(b).map_err(|e| BundleError::Body(e.to_string()))?)
                }
                None => None,
            };
            if *view != event_view(&header, body.as_ref()) {
                return Err(BundleError::View(
                    "the event object does not match the entry and body bytes".into(),
                ));
            }
        }
        Ok(bundle)
    }

    /// Checks the bundle against the log's verifier key (see the module documentation).
    pub fn verify(&self, log_key: &Ed25519Verifier) -> Result<VerifiedBundle, BundleError> {
        let checkpoint = open_checkpoint(&self.checkpoint, log_key)
            .map(|s| s.checkpoint)
            .map_err(|e| BundleError::Checkpoint(e.to_string()))?;
        let header =
            entry::decode_entry(&self.entry).map_err(|e| BundleError::Entry(e.to_string()))?;
        let leaf = leaf_hash(&self.entry);
        verify_inclusion(
            self.leaf_index,
            checkpoint.tree_size,
            &leaf,
            &self.inclusion_proof,
            &checkpoint.root_hash,
        )
        .map_err(|e| BundleError::Inclusion(e.to_string()))?;
        let body = match (&self.body, &self.salt) {
            (Some(body), Some(salt)) => {
                entry::verify_body(&header, salt, body)
                    .map_err(|e| BundleError::Body(e.to_string()))?;
                Some(entry::decode_body(body).map_err(|e| BundleError::Body(e.to_string()))?)
            }
            (Some(_), None) => return Err(BundleError::Body("a body without its salt".into())),
            (None, Some(_)) => return Err(BundleError::Body("a salt without its body".into())),
            (None, None) => None,
        };
        Ok(VerifiedBundle {
            checkpoint,
            header,
            body,
            erased: self.erased.clone(),
            leaf_hash: leaf,
        })
    }
}

impl ProofBundle {
    /// The C2SP `tlog-proof@v1` file of this bundle's leaf: index, inclusion proof and
    /// signed checkpoint. The leaf bytes are not in it (the reader holds and hashes them;
    /// `extra_data` is unauthenticated and left empty), nor is the private body.
    pub fn to_tlog_proof(&self) -> Result<Vec<u8>, BundleError> {
        let p = crate::core::tlog_proof::TlogProof {
            extra_data: None,
            leaf_index: self.leaf_index,
            proof: self.inclusion_proof.clone(),
            checkpoint: self.checkpoint.clone(),
        };
        Ok(p.serialize())
    }
}
