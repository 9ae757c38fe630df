//! Transparency-log checkpoints: the signed tree head.
//!
//! Implements C2SP `tlog-checkpoint` v1.0.0 (<https://c2sp.org/tlog-checkpoint@v1.0.0>),
//! §Note text:
//!
//! ```text
//! <origin>            1. non-empty
//! <tree size>         2. ASCII decimal, no leading zeroes (unless the tree is empty: "0")
//! <root hash>         3. base64 of the 32-byte RFC 6962 root
//! [<extension line>]  4. optional, opaque, non-empty
//! ```
//!
//! every line ending in a newline, inside a C2SP signed note ([`crate::core::note`]). Our
//! logs sign with an Ed25519 key whose name equals the origin (§Signatures: "The log's key
//! name in its signature line SHOULD match the origin line"; we make it a MUST).
//!
//! Out of scope: consistency between checkpoints (see [`crate::core::proof`]) and witness
//! cosignatures (see [`crate::core::cosignature`]).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::core::hash::Hash;
use crate::core::note::{self, Note, NoteError, NoteSigner, NoteVerifier};

/// The largest checkpoint text accepted, in bytes.
pub const MAX_CHECKPOINT_TEXT_SIZE: usize = 16 * 1024;

/// The longest origin line accepted, in bytes.
pub const MAX_ORIGIN_LEN: usize = note::MAX_KEY_NAME_LEN;

/// The most extension lines accepted.
pub const MAX_EXTENSION_LINES: usize = 16;

/// The longest decimal tree size: `u64::MAX` has 20 digits.
const MAX_TREE_SIZE_DIGITS: usize = 20;

/// Length of the base64 of a 32-byte hash (with padding).
const ROOT_HASH_B64_LEN: usize = 44;

/// Why a checkpoint was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The text is larger than [`MAX_CHECKPOINT_TEXT_SIZE`].
    #[error("checkpoint is {size} bytes, more than the limit of {max}")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The text does not end with a newline.
    #[error("checkpoint does not end with a newline")]
    MissingFinalNewline,
    /// The text has fewer than three lines.
    #[error("checkpoint has {lines} lines, fewer than 3")]
    TooFewLines {
        /// Lines found.
        lines: usize,
    },
    /// The text holds a control character other than newline.
    #[error("checkpoint holds control character 0x{byte:02x} at byte {offset}")]
    ControlCharacter {
        /// Offset of the character.
        offset: usize,
        /// The character.
        byte: u8,
    },
    /// The origin line is empty.
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    /// The origin line is longer than [`MAX_ORIGIN_LEN`].
    #[error("checkpoint origin is {len} bytes, more than the limit of {max}")]
    OriginTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The tree size line is not a canonical decimal `u64`.
    #[error("bad tree size {line:?}: {reason}")]
    BadTreeSize {
        /// The line (at most 32 bytes of it).
        line: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The root hash line is not canonical base64.
    #[error("root hash is not valid base64")]
    BadRootHash,
    /// The root hash does not decode to 32 bytes.
    #[error("root hash is {len} bytes, not 32")]
    RootHashWrongLength {
        /// Decoded (or, when longer than any 32-byte encoding, encoded) length.
        len: usize,
    },
    /// An extension line is empty.
    #[error("extension line {line} is empty")]
    EmptyExtensionLine {
        /// 1-based line number in the checkpoint.
        line: usize,
    },
    /// More than [`MAX_EXTENSION_LINES`] extension lines.
    #[error("checkpoint has more than {max} extension lines")]
    TooManyExtensions {
        /// The limit.
        max: usize,
    },
    /// The signing key's name is not the checkpoint's origin.
    #[error("key name {key_name:?} is not the checkpoint origin {origin:?}")]
    OriginMismatch {
        /// The checkpoint origin.
        origin: String,
        /// The key name.
        key_name: String,
    },
    /// A checkpoint field to be signed holds a newline.
    #[error("checkpoint origin or extension line holds a newline")]
    NewlineInField,
    /// The signed note around the checkpoint was rejected.
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// A checkpoint: the log's tree head at one size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log identity (first line).
    pub origin: String,
    /// The number of leaves in the tree.
    pub tree_size: u64,
    /// The RFC 6962 root of the tree of `tree_size` leaves.
    pub root_hash: Hash,
    /// Opaque extension lines, without newlines (each non-empty).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint's note text, every line ending in a newline.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.tree_size,
            BASE64.encode(self.root_hash.as_bytes())
        );
        for ext in &self.extensions {
            s.push_str(ext);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint note text; see [`parse_checkpoint`].
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        parse_checkpoint(text)
    }
}

/// Parses a checkpoint note text (tlog-checkpoint §Note text).
pub fn parse_checkpoint(text: &str) -> Result<Checkpoint, CheckpointError> {
    // Bound before decoding.
    if text.len() > MAX_CHECKPOINT_TEXT_SIZE {
        return Err(CheckpointError::TooLarge {
            size: text.len(),
            max: MAX_CHECKPOINT_TEXT_SIZE,
        });
    }
    // The text of a signed note: no control characters but newline.
    if let Some(offset) = text.bytes().position(|b| b < 0x20 && b != b'\n') {
        return Err(CheckpointError::ControlCharacter {
            offset,
            byte: text.as_bytes()[offset],
        });
    }
    let body = text
        .strip_suffix('\n')
        .ok_or(CheckpointError::MissingFinalNewline)?;
    let lines: Vec<&str> = body.split('\n').collect();
    if lines.len() < 3 {
        return Err(CheckpointError::TooFewLines { lines: lines.len() });
    }
    // 1. origin: non-empty.
    let origin = lines[0];
    if origin.is_empty() {
        return Err(CheckpointError::EmptyOrigin);
    }
    if origin.len() > MAX_ORIGIN_LEN {
        return Err(CheckpointError::OriginTooLong {
            len: origin.len(),
            max: MAX_ORIGIN_LEN,
        });
    }
    // 2. tree size: ASCII decimal, no leading zeroes unless "0".
    let tree_size = parse_decimal(lines[1]).map_err(|reason| CheckpointError::BadTreeSize {
        line: lines[1].chars().take(32).collect(),
        reason,
    })?;
    // 3. root hash: base64 of the 32-byte RFC 6962 root.
    let root_hash = parse_hash_b64(lines[2]).map_err(|e| match e {
        HashB64Error::Base64 => CheckpointError::BadRootHash,
        HashB64Error::Length(len) => CheckpointError::RootHashWrongLength { len },
    })?;
    // 4. extension lines: opaque, non-empty.
    let extensions = &lines[3..];
    if extensions.len() > MAX_EXTENSION_LINES {
        return Err(CheckpointError::TooManyExtensions {
            max: MAX_EXTENSION_LINES,
        });
    }
    if let Some(i) = extensions.iter().position(|l| l.is_empty()) {
        return Err(CheckpointError::EmptyExtensionLine { line: 4 + i });
    }
    Ok(Checkpoint {
        origin: origin.to_owned(),
        tree_size,
        root_hash,
        extensions: extensions.iter().map(|s| (*s).to_owned()).collect(),
    })
}

/// Parses a canonical ASCII decimal `u64`: digits only, no sign, no leading zero unless
/// the number is `0`, no overflow. Shared with the tlog-proof `index` line.
pub(crate) fn parse_decimal(s: &str) -> Result<u64, &'static str> {
    if s.is_empty() {
        return Err("empty");
    }
    if s.len() > MAX_TREE_SIZE_DIGITS {
        return Err("too many digits");
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not an ASCII decimal");
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err("leading zero");
    }
    s.parse::<u64>().map_err(|_| "overflows 64 bits")
}

/// Why a base64 hash line was rejected.
pub(crate) enum HashB64Error {
    /// Not canonical standard base64.
    Base64,
    /// Decodes to this many bytes, not 32.
    Length(usize),
}

/// Decodes the base64 of a 32-byte hash, checking the length before decoding.
pub(crate) fn parse_hash_b64(s: &str) -> Result<Hash, HashB64Error> {
    if s.len() > ROOT_HASH_B64_LEN {
        // Longer than any encoding of 32 bytes: report the encoded length, don't decode.
        return Err(HashB64Error::Length(s.len() / 4 * 3));
    }
    let bytes = BASE64.decode(s).map_err(|_| HashB64Error::Base64)?;
    Hash::from_slice(&bytes).ok_or(HashB64Error::Length(bytes.len()))
}

/// A checkpoint whose log signature has been verified, with the note it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The verified checkpoint.
    pub checkpoint: Checkpoint,
    /// The whole note, with every signature (the log's and any cosignatures, unverified).
    pub note: Note,
}

/// Signs `checkpoint` with the log key `log_signer`, whose name must be the origin, and
/// returns the signed note bytes.
pub fn sign_checkpoint(
    checkpoint: &Checkpoint,
    log_signer: &dyn NoteSigner,
) -> Result<Vec<u8>, CheckpointError> {
    let text = checkpoint.to_text();
    // The fields must round-trip: with no newline inside a field, the lines of the text
    // are the fields one for one, so parsing checks every field rule.
    if checkpoint.origin.contains('\n') || checkpoint.extensions.iter().any(|e| e.contains('\n')) {
        return Err(CheckpointError::NewlineInField);
    }
    parse_checkpoint(&text)?;
    if log_signer.name().as_str() != checkpoint.origin {
        return Err(CheckpointError::OriginMismatch {
            origin: checkpoint.origin.clone(),
            key_name: log_signer.name().to_string(),
        });
    }
    Ok(note::sign_note(&text, &[log_signer])?)
}

/// Opens a signed checkpoint: verifies the note against the log key `log_verifier`, whose
/// name must be the origin, then parses the checkpoint text. Other signatures (witness
/// cosignatures) are kept in the returned note, unverified.
pub fn open_checkpoint(
    signed: &[u8],
    log_verifier: &dyn NoteVerifier,
) -> Result<SignedCheckpoint, CheckpointError> {
    let (note, _) = note::open_note(signed, &[log_verifier])?;
    let checkpoint = parse_checkpoint(&note.text)?;
    if log_verifier.name().as_str() != checkpoint.origin {
        return Err(CheckpointError::OriginMismatch {
            origin: checkpoint.origin,
            key_name: log_verifier.name().to_string(),
        });
    }
    Ok(SignedCheckpoint { checkpoint, note })
}
