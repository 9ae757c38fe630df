//! Offline inclusion proofs: the `.tlog-proof` file.
//!
//! Implements C2SP `tlog-proof@v1` (<https://c2sp.org/tlog-proof>), §Format:
//!
//! ```text
//! c2sp.org/tlog-proof@v1          the fixed first line
//! extra <base64>                  optional opaque extra data (NOT authenticated)
//! index <N>                       leaf index, ASCII decimal, no leading zeroes
//! <base64 hash>                   zero or more: the RFC 6962 inclusion proof, from the
//! ...                             leaf's sibling up to the root's child
//! <empty line>
//! <signed checkpoint note, verbatim>
//! ```
//!
//! Verification opens the checkpoint with the log's key ([`crate::core::checkpoint`]) and
//! checks the inclusion proof per RFC 9162 §2.1.3.2 ([`crate::core::proof`]).
//!
//! Out of scope: witness policy (cosignatures stay in the checkpoint note for the caller
//! to check, e.g. with [`crate::core::cosignature::CosignatureVerifier`]), and what the
//! leaf bytes are (the caller passes the leaf hash).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::core::checkpoint::{
    open_checkpoint, parse_checkpoint, parse_decimal, parse_hash_b64, Checkpoint, CheckpointError,
};
use crate::core::hash::Hash;
use crate::core::note::{parse_note, NoteVerifier, MAX_NOTE_SIZE};
use crate::core::proof::{verify_inclusion, ProofError, MAX_PROOF_HASHES};

/// The first line of every proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// The most extra data accepted, in decoded bytes.
pub const MAX_EXTRA_DATA_LEN: usize = 64 * 1024;

/// The largest proof file accepted, in bytes: header, extra data, index, a full proof
/// and the largest signed note.
pub const MAX_TLOG_PROOF_SIZE: usize =
    MAX_NOTE_SIZE + MAX_EXTRA_DATA_LEN / 3 * 4 + 4 + MAX_PROOF_HASHES * 45 + 256;

/// Why a proof file was rejected or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogProofError {
    /// The file is larger than [`MAX_TLOG_PROOF_SIZE`].
    #[error("proof is {size} bytes, more than the limit of {max}")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The file is not valid UTF-8.
    #[error("proof is not valid UTF-8 (at byte {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The first line is not `c2sp.org/tlog-proof@v1`.
    #[error("first line is not {TLOG_PROOF_HEADER:?}")]
    BadHeader,
    /// The extra data is not canonical base64.
    #[error("extra data is not valid base64")]
    BadExtraData,
    /// The extra data is longer than [`MAX_EXTRA_DATA_LEN`].
    #[error("extra data is longer than {max} bytes")]
    ExtraDataTooLarge {
        /// The limit.
        max: usize,
    },
    /// The index line is missing or does not start with `index `.
    #[error("missing \"index\" line")]
    MissingIndex,
    /// The index is not a canonical decimal `u64`.
    #[error("bad index: {reason}")]
    BadIndex {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A proof line is not the base64 of a 32-byte hash.
    #[error("proof line {line} is not a base64 SHA-256 hash")]
    BadProofHash {
        /// 1-based line number in the file.
        line: usize,
    },
    /// More proof hashes than [`MAX_PROOF_HASHES`].
    #[error("proof has more than {max} hashes")]
    TooManyHashes {
        /// The limit.
        max: usize,
    },
    /// No empty line before the checkpoint.
    #[error("no empty line before the checkpoint")]
    MissingCheckpoint,
    /// The checkpoint is malformed, or its signature did not verify.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The inclusion proof does not lead to the checkpoint's root.
    #[error("inclusion proof: {0}")]
    Inclusion(#[from] ProofError),
}

/// A parsed `tlog-proof@v1` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque extra data; applications MUST NOT trust it (it is not authenticated).
    pub extra_data: Option<Vec<u8>>,
    /// Zero-based index of the entry in the log.
    pub leaf_index: u64,
    /// The inclusion proof, from the leaf's sibling up to the root's child.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim (with any cosignatures).
    pub checkpoint: Vec<u8>,
}

impl TlogProof {
    /// Parses a proof file. The checkpoint is checked to be a well-formed signed note
    /// holding a well-formed checkpoint, but no signature is verified: use
    /// [`TlogProof::verify`].
    pub fn parse(bytes: &[u8]) -> Result<TlogProof, TlogProofError> {
        // Bound before decoding.
        if bytes.len() > MAX_TLOG_PROOF_SIZE {
            return Err(TlogProofError::TooLarge {
                size: bytes.len(),
                max: MAX_TLOG_PROOF_SIZE,
            });
        }
        let text = core::str::from_utf8(bytes).map_err(|e| TlogProofError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        let mut lines = Lines {
            rest: text,
            line_no: 0,
        };
        // "The first line MUST be the string c2sp.org/tlog-proof@v1."
        if lines.next_line() != Some(TLOG_PROOF_HEADER) {
            return Err(TlogProofError::BadHeader);
        }
        // "The second line MAY start with the string extra followed by a space and
        // base64-encoded opaque extra data."
        let mut line = lines.next_line().ok_or(TlogProofError::MissingIndex)?;
        let mut extra_data = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            if b64.len() > MAX_EXTRA_DATA_LEN.div_ceil(3) * 4 {
                return Err(TlogProofError::ExtraDataTooLarge {
                    max: MAX_EXTRA_DATA_LEN,
                });
            }
            let data = BASE64
                .decode(b64)
                .map_err(|_| TlogProofError::BadExtraData)?;
            if data.len() > MAX_EXTRA_DATA_LEN {
                return Err(TlogProofError::ExtraDataTooLarge {
                    max: MAX_EXTRA_DATA_LEN,
                });
            }
            extra_data = Some(data);
            line = lines.next_line().ok_or(TlogProofError::MissingIndex)?;
        }
        // "The next line MUST start with the string index followed by a space and the
        // zero-based index ... ASCII decimal with no leading zeroes."
        let index = line
            .strip_prefix("index ")
            .ok_or(TlogProofError::MissingIndex)?;
        let leaf_index =
            parse_decimal(index).map_err(|reason| TlogProofError::BadIndex { reason })?;
        // "The next zero or more non-empty lines are the base64-encoded Merkle inclusion
        // proof ... one SHA-256 hash per line", then an empty line.
        let mut proof = Vec::new();
        loop {
            let line = lines.next_line().ok_or(TlogProofError::MissingCheckpoint)?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_HASHES {
                return Err(TlogProofError::TooManyHashes {
                    max: MAX_PROOF_HASHES,
                });
            }
            let h = parse_hash_b64(line).map_err(|_| TlogProofError::BadProofHash {
                line: lines.line_no,
            })?;
            proof.push(h);
        }
        // "the checkpoint issued by the log is included verbatim."
        let checkpoint = lines.rest.as_bytes().to_vec();
        let note = parse_note(&checkpoint).map_err(CheckpointError::from)?;
        parse_checkpoint(&note.text)?;
        Ok(TlogProof {
            extra_data,
            leaf_index,
            proof,
            checkpoint,
        })
    }

    /// The proof file bytes.
    pub fn serialize(&self) -> Vec<u8> {
        let mut s = String::with_capacity(64 + 45 * self.proof.len());
        s.push_str(TLOG_PROOF_HEADER);
        s.push('\n');
        if let Some(extra) = &self.extra_data {
            s.push_str("extra ");
            s.push_str(&BASE64.encode(extra));
            s.push('\n');
        }
        s.push_str(&format!("index {}\n", self.leaf_index));
        for h in &self.proof {
            s.push_str(&BASE64.encode(h.as_bytes()));
            s.push('\n');
        }
        s.push('\n');
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.checkpoint);
        out
    }

    /// Verifies that `leaf_hash` is the leaf at [`TlogProof::leaf_index`] of the tree
    /// the checkpoint signed by `log_verifier` (whose name must be the origin) commits
    /// to, and returns that checkpoint. Cosignatures are left to the caller.
    pub fn verify(
        &self,
        leaf_hash: &Hash,
        log_verifier: &dyn NoteVerifier,
    ) -> Result<Checkpoint, TlogProofError> {
        let signed = open_checkpoint(&self.checkpoint, log_verifier)?;
        let cp = signed.checkpoint;
        // RFC 9162 §2.1.3.2 against the checkpoint's root hash.
        verify_inclusion(
            self.leaf_index,
            cp.tree_size,
            leaf_hash,
            &self.proof,
            &cp.root_hash,
        )?;
        Ok(cp)
    }
}

/// A cursor over newline-terminated lines.
struct Lines<'a> {
    /// What follows the lines read so far.
    rest: &'a str,
    /// Number of lines read so far.
    line_no: usize,
}

impl<'a> Lines<'a> {
    /// The next line without its newline; `None` if no newline is left.
    fn next_line(&mut self) -> Option<&'a str> {
        let (line, after) = self.rest.split_once('\n')?;
        self.rest = after;
        self.line_no += 1;
        Some(line)
    }
}

/// Parses a proof file; see [`TlogProof::parse`].
pub fn parse_tlog_proof(bytes: &[u8]) -> Result<TlogProof, TlogProofError> {
    TlogProof::parse(bytes)
}
