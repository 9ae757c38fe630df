//! The witness protocol's wire format and the witness's decision, with no I/O.
//!
//! Implements C2SP `tlog-witness` v1.0.0 (<https://c2sp.org/tlog-witness@v1.0.0>),
//! §add-checkpoint:
//!
//! ```text
//! old <size>          canonical ASCII decimal ("0" when the client knows no earlier size)
//! <base64 hash>       0..=63 consistency proof lines (RFC 6962 §2.1.2), none when old is 0
//! <empty line>
//! <signed checkpoint> a C2SP signed note, possibly with several signatures
//! ```
//!
//! Answers: 200 with one or more cosignature lines (`— <name> <base64>\n`), 409 with a
//! `text/x.tlog.size` body (`<size>\n`), or 400/403/404/422 ([`Refusal`]).
//!
//! [`decide`] is the witness's check, in the spec's order, over its record of the log
//! (trusted keys, last cosigned size and root): the caller holds the lock, calls it, cosigns
//! the re-encoded checkpoint it returns (never the raw input), persists, then answers.
//!
//! Out of scope: HTTP, storage and clocks (see `crate::witness`), and the monitoring
//! retrieval mechanism, which the spec leaves "TBD" (we serve the latest cosigned checkpoint
//! under `GET <prefix>/<hex SHA-256(origin)>/checkpoint`, see `spec/witness.md`).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::core::checkpoint::{parse_checkpoint, parse_decimal, parse_hash_b64, Checkpoint};
use crate::core::hash::{empty_root, Hash};
use crate::core::note::{
    open_note, parse_note, Note, NoteError, NoteSignature, NoteVerifier, MAX_NOTE_SIGNATURES,
    SIGNATURE_LINE_PREFIX,
};
use crate::core::proof::verify_consistency;

/// The most consistency proof lines a request may carry (tlog-witness: "MUST NOT send more
/// than 63").
pub const MAX_PROOF_LINES: usize = 63;
/// The largest add-checkpoint request body accepted, in bytes (checked before parsing): a
/// 16 KiB checkpoint with 100 signature lines and a full proof fit easily.
pub const MAX_REQUEST_SIZE: usize = 64 * 1024;
/// The largest add-checkpoint 200 response accepted by a client, in bytes.
pub const MAX_RESPONSE_SIZE: usize = 64 * 1024;
/// The largest `text/x.tlog.size` body accepted, in bytes (20 digits and a newline).
pub const MAX_SIZE_BODY: usize = 21;
/// The media type of a 409 answer's body.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Why a request or a response could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// The body is larger than its limit.
    #[error("body is {size} bytes, more than the limit of {max}")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The body is not UTF-8.
    #[error("body is not UTF-8")]
    NotUtf8,
    /// The first line is not `old <size>`.
    #[error("bad old size line: {0}")]
    BadOldLine(String),
    /// A proof line is not the base64 of a 32-byte hash.
    #[error("proof line {line} is not the base64 of a 32-byte hash")]
    BadProofLine {
        /// 1-based proof line number.
        line: usize,
    },
    /// More than [`MAX_PROOF_LINES`] proof lines.
    #[error("more than {MAX_PROOF_LINES} consistency proof lines")]
    TooManyProofLines,
    /// No empty line separates the proof from the checkpoint.
    #[error("no empty line before the checkpoint")]
    MissingSeparator,
    /// The checkpoint note is malformed.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The `text/x.tlog.size` body is malformed.
    #[error("bad tree size body: {0}")]
    BadSizeBody(&'static str),
    /// The 200 body holds no signature line, or a malformed one.
    #[error("bad cosignature response: {0}")]
    BadResponse(String),
}

/// A parsed `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    /// The size of the checkpoint the client believes the witness last cosigned.
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, byte for byte as received.
    pub checkpoint: Vec<u8>,
}

/// Parses an `add-checkpoint` request body (bounded by [`MAX_REQUEST_SIZE`]). Only the
/// framing is checked here; the note itself is parsed by [`decide`].
pub fn parse_add_checkpoint(body: &[u8]) -> Result<AddCheckpointRequest, WitnessError> {
    if body.len() > MAX_REQUEST_SIZE {
        return Err(WitnessError::TooLarge {
            size: body.len(),
            max: MAX_REQUEST_SIZE,
        });
    }
    // Each line ends in a newline; the old size line comes first.
    let nl = body
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| WitnessError::BadOldLine("no newline".into()))?;
    let first = core::str::from_utf8(&body[..nl]).map_err(|_| WitnessError::NotUtf8)?;
    // "old", a single space, and the size as canonical ASCII decimal.
    let size = first
        .strip_prefix("old ")
        .ok_or_else(|| WitnessError::BadOldLine("does not start with \"old \"".into()))?;
    let old_size = parse_decimal(size).map_err(|r| WitnessError::BadOldLine(r.into()))?;
    let mut rest = &body[nl + 1..];
    let mut proof = Vec::new();
    loop {
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(WitnessError::MissingSeparator)?;
        let line = &rest[..nl];
        rest = &rest[nl + 1..];
        // The empty line ends the proof; the checkpoint follows.
        if line.is_empty() {
            break;
        }
        if proof.len() == MAX_PROOF_LINES {
            return Err(WitnessError::TooManyProofLines);
        }
        let line_no = proof.len() + 1;
        let s =
            core::str::from_utf8(line).map_err(|_| WitnessError::BadProofLine { line: line_no })?;
        let h = parse_hash_b64(s).map_err(|_| WitnessError::BadProofLine { line: line_no })?;
        proof.push(h);
    }
    Ok(AddCheckpointRequest {
        old_size,
        proof,
        checkpoint: rest.to_vec(),
    })
}

/// Serializes an `add-checkpoint` request body.
pub fn serialize_add_checkpoint(req: &AddCheckpointRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + 45 * req.proof.len() + req.checkpoint.len());
    out.extend_from_slice(format!("old {}\n", req.old_size).as_bytes());
    for h in &req.proof {
        out.extend_from_slice(BASE64.encode(h.as_bytes()).as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(&req.checkpoint);
    out
}

/// Serializes a 409 body: the size in decimal and a newline.
pub fn serialize_size_body(size: u64) -> Vec<u8> {
    format!("{size}\n").into_bytes()
}

/// Parses a 409 `text/x.tlog.size` body.
pub fn parse_size_body(body: &[u8]) -> Result<u64, WitnessError> {
    if body.len() > MAX_SIZE_BODY {
        return Err(WitnessError::BadSizeBody("too long"));
    }
    let s = core::str::from_utf8(body).map_err(|_| WitnessError::BadSizeBody("not UTF-8"))?;
    let s = s
        .strip_suffix('\n')
        .ok_or(WitnessError::BadSizeBody("no final newline"))?;
    parse_decimal(s).map_err(WitnessError::BadSizeBody)
}

/// Serializes a 200 body: one note signature line per cosignature.
pub fn serialize_cosignatures(sigs: &[NoteSignature]) -> Vec<u8> {
    sigs.iter().flat_map(|s| s.to_line().into_bytes()).collect()
}

/// Parses a 200 body: one or more note signature lines, each ending in a newline (bounded by
/// [`MAX_RESPONSE_SIZE`] and [`MAX_NOTE_SIGNATURES`]). The signatures are not verified here.
pub fn parse_cosignatures(body: &[u8]) -> Result<Vec<NoteSignature>, WitnessError> {
    if body.len() > MAX_RESPONSE_SIZE {
        return Err(WitnessError::TooLarge {
            size: body.len(),
            max: MAX_RESPONSE_SIZE,
        });
    }
    let s = core::str::from_utf8(body).map_err(|_| WitnessError::NotUtf8)?;
    let s = s
        .strip_suffix('\n')
        .ok_or_else(|| WitnessError::BadResponse("empty, or no final newline".into()))?;
    let mut out = Vec::new();
    for (i, line) in s.split('\n').enumerate() {
        if i == MAX_NOTE_SIGNATURES {
            return Err(WitnessError::BadResponse(format!(
                "more than {MAX_NOTE_SIGNATURES} lines"
            )));
        }
        if !line.starts_with(SIGNATURE_LINE_PREFIX) {
            return Err(WitnessError::BadResponse(format!(
                "line {} does not start with U+2014",
                i + 1
            )));
        }
        out.push(
            NoteSignature::parse_line(line, i + 1)
                .map_err(|e| WitnessError::BadResponse(e.to_string()))?,
        );
    }
    Ok(out)
}

/// What a witness holds about one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The size of the latest checkpoint cosigned for this origin (0 if none).
    pub size: u64,
    /// Its root hash (the empty tree's root when nothing was cosigned).
    pub root: Hash,
}

impl LogRecord {
    /// The record of a log nothing was cosigned for yet.
    pub fn empty() -> LogRecord {
        LogRecord {
            size: 0,
            root: empty_root(),
        }
    }
}

/// Why a witness refuses a request, with the HTTP status the spec assigns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 400: malformed request, or old size greater than the checkpoint size.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 404: the checkpoint origin is not a known log.
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// 403: no signature verifies against a trusted key for the origin.
    #[error("no valid signature from a trusted key of {origin:?}: {reason}")]
    Forbidden {
        /// The origin.
        origin: String,
        /// Why.
        reason: String,
    },
    /// 409: the old size is not the size last cosigned (the body carries `size`).
    #[error("old size {old_size} is not the latest cosigned size {size}")]
    SizeConflict {
        /// The old size in the request.
        old_size: u64,
        /// The size the witness last cosigned.
        size: u64,
    },
    /// 409: same size as last cosigned, different root hash: a fork.
    #[error("checkpoint at size {size} has a different root than the one cosigned")]
    RootConflict {
        /// The size.
        size: u64,
    },
    /// 422: the consistency proof does not verify.
    #[error("consistency proof from {old_size} to {size} does not verify: {reason}")]
    BadProof {
        /// Old size.
        old_size: u64,
        /// Checkpoint size.
        size: u64,
        /// Why.
        reason: String,
    },
}

impl Refusal {
    /// The HTTP status code tlog-witness assigns to this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::Forbidden { .. } => 403,
            Refusal::UnknownOrigin(_) => 404,
            Refusal::SizeConflict { .. } | Refusal::RootConflict { .. } => 409,
            Refusal::BadProof { .. } => 422,
        }
    }

    /// For a 409, the size to put in the `text/x.tlog.size` body.
    pub fn conflict_size(&self) -> Option<u64> {
        match self {
            Refusal::SizeConflict { size, .. } => Some(*size),
            Refusal::RootConflict { size } => Some(*size),
            _ => None,
        }
    }
}

/// An accepted checkpoint: what to cosign and the record to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The checkpoint as parsed; cosign `checkpoint.to_text()`, the re-encoding.
    pub checkpoint: Checkpoint,
    /// The checked note (its text is the re-encoding, byte for byte).
    pub note: Note,
    /// The new record for the origin.
    pub record: LogRecord,
}

/// The outcome of step 1 (framing and note) before the origin is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSubmission {
    /// The request.
    pub request: AddCheckpointRequest,
    /// The note, parsed but not verified.
    pub note: Note,
    /// The checkpoint in it.
    pub checkpoint: Checkpoint,
}

/// Parses a request body and the checkpoint it carries; any error is a 400.
pub fn parse_submission(body: &[u8]) -> Result<ParsedSubmission, Refusal> {
    let request = parse_add_checkpoint(body).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    let note = parse_note(&request.checkpoint).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    let checkpoint =
        parse_checkpoint(&note.text).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    // We cosign our re-encoding of what we parsed; it must be the text the log signed.
    if checkpoint.to_text() != note.text {
        return Err(Refusal::BadRequest(
            "checkpoint text is not in canonical form".into(),
        ));
    }
    Ok(ParsedSubmission {
        request,
        note,
        checkpoint,
    })
}

/// The witness's checks on a parsed submission, in the order of tlog-witness
/// §add-checkpoint, given the trusted keys of the checkpoint's origin (`None`: unknown
/// origin) and the record of the latest checkpoint cosigned for it.
pub fn decide(
    sub: &ParsedSubmission,
    trusted: Option<&[&dyn NoteVerifier]>,
    record: &LogRecord,
) -> Result<Accepted, Refusal> {
    let cp = &sub.checkpoint;
    // "If the checkpoint origin is unknown, the witness MUST respond with 404."
    let trusted = trusted.ok_or_else(|| Refusal::UnknownOrigin(cp.origin.clone()))?;
    // "verify the checkpoint signature against the public key(s) it trusts for the
    // checkpoint origin, and ... ignore signatures from unknown keys. If none of the
    // signatures verify against a trusted public key, ... 403."
    let (note, _verified) =
        open_note(&sub.request.checkpoint, trusted).map_err(|e| Refusal::Forbidden {
            origin: cp.origin.clone(),
            reason: e.to_string(),
        })?;
    let old_size = sub.request.old_size;
    // "The old size MUST be equal to or lower than the checkpoint size. Otherwise ... 400."
    if old_size > cp.tree_size {
        return Err(Refusal::BadRequest(format!(
            "old size {old_size} is greater than the checkpoint size {}",
            cp.tree_size
        )));
    }
    // "check that the old size matches the size of the latest checkpoint it cosigned ...
    // If it doesn't match, ... 409" with the latest cosigned size.
    if old_size != record.size {
        return Err(Refusal::SizeConflict {
            old_size,
            size: record.size,
        });
    }
    let bad_proof = |reason: String| Refusal::BadProof {
        old_size,
        size: cp.tree_size,
        reason,
    };
    if old_size == cp.tree_size {
        // "If the old size matches the checkpoint size, the witness MUST check that the root
        // hashes are also identical. If they don't match, ... 409."
        if !sub.request.proof.is_empty() {
            return Err(bad_proof(
                "the proof between equal sizes must be empty".into(),
            ));
        }
        if cp.root_hash != record.root {
            return Err(Refusal::RootConflict { size: old_size });
        }
    } else if old_size == 0 {
        // "The proof MUST be empty if the old size is zero."
        if !sub.request.proof.is_empty() {
            return Err(bad_proof("the proof from size 0 must be empty".into()));
        }
    } else {
        // RFC 6962 §2.1.2 consistency from (old_size, stored root) to the checkpoint; 422.
        verify_consistency(
            old_size,
            cp.tree_size,
            &record.root,
            &cp.root_hash,
            &sub.request.proof,
        )
        .map_err(|e| bad_proof(e.to_string()))?;
    }
    Ok(Accepted {
        checkpoint: cp.clone(),
        note,
        record: LogRecord {
            size: cp.tree_size,
            root: cp.root_hash,
        },
    })
}
