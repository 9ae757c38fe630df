//! Witness cosignatures of checkpoints, Ed25519 `cosignature/v1`.
//!
//! Implements the Ed25519 type of C2SP `tlog-cosignature` v1.0.1
//! (<https://c2sp.org/tlog-cosignature@v1.0.1>):
//!
//! - §Format: a cosignature is a note signature on a checkpoint whose key ID is
//!   `SHA-256(<name> || "\n" || 0x04 || 32-byte Ed25519 public key)[:4]` and whose
//!   signature bytes are a `timestamped_signature`:
//!   `u64 timestamp (big-endian) || opaque ed25519_signature[64]`; the timestamp is POSIX
//!   seconds and MUST NOT exceed 2^63 - 1.
//! - §Ed25519 signed message:
//!
//! ```text
//! cosignature/v1
//! time <timestamp, ASCII decimal, no leading zeroes>
//! <the whole checkpoint note text, including its final newline>
//! ```
//!
//! Out of scope: the ML-DSA-44 `subtree/v1` type (`0x06`), and any clock: timestamps are
//! passed in, and deciding whether one is too far in the future is the caller's policy.

use core::fmt;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use crate::core::checkpoint::{parse_checkpoint, CheckpointError};
use crate::core::hash::hex_encode;
use crate::core::note::{
    ed25519_public_key, ed25519_verify, encode_vkey, key_id, KeyName, NoteError, NoteSignature,
    NoteSigner, NoteVerifier, VerifierKey, SIG_TYPE_COSIGNATURE_V1,
};

/// The header line of the signed message, for domain separation.
pub const COSIGNATURE_V1_HEADER: &str = "cosignature/v1";

/// The largest timestamp allowed: 2^63 - 1.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Length of the signature bytes after the key ID: 8-byte timestamp, 64-byte signature.
pub const TIMESTAMPED_SIGNATURE_LEN: usize = 8 + 64;

/// Why a cosignature could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    /// The timestamp exceeds 2^63 - 1.
    #[error("timestamp {timestamp} exceeds 2^63 - 1")]
    TimestampTooLarge {
        /// The timestamp.
        timestamp: u64,
    },
    /// The signature bytes are not 8 + 64 bytes long.
    #[error("timestamped signature is {len} bytes, not 72")]
    WrongLength {
        /// Their length.
        len: usize,
    },
    /// The signature line is not from this cosigner's key (name or key ID differ).
    #[error(
        "signature from {name}+{} is not from this cosigner",
        hex_encode(key_id)
    )]
    WrongKey {
        /// Name on the signature.
        name: String,
        /// Key ID on the signature.
        key_id: [u8; 4],
    },
    /// The Ed25519 signature over the cosigned message did not verify.
    #[error("invalid cosignature for key {name}+{}", hex_encode(key_id))]
    InvalidSignature {
        /// Cosigner name.
        name: String,
        /// Cosigner key ID.
        key_id: [u8; 4],
    },
    /// The cosigned text is not a valid checkpoint.
    #[error("cosigned text is not a checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// A key or name was rejected.
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// The message a `cosignature/v1` signs:
/// `"cosignature/v1\ntime " || decimal(timestamp) || "\n" || checkpoint text`.
pub fn cosignature_message(checkpoint_text: &str, timestamp: u64) -> Vec<u8> {
    let mut msg = Vec::with_capacity(40 + checkpoint_text.len());
    // Header line: the fixed string "cosignature/v1".
    msg.extend_from_slice(COSIGNATURE_V1_HEADER.as_bytes());
    msg.push(b'\n');
    // Timestamp line: "time", one space, ASCII decimal with no leading zeroes.
    msg.extend_from_slice(format!("time {timestamp}\n").as_bytes());
    // The whole note body of the checkpoint, including its final newline.
    msg.extend_from_slice(checkpoint_text.as_bytes());
    msg
}

/// Splits `timestamp (8 bytes, big-endian) || signature (64 bytes)`.
fn split_timestamped(sig: &[u8]) -> Result<(u64, &[u8]), CosignatureError> {
    if sig.len() != TIMESTAMPED_SIGNATURE_LEN {
        return Err(CosignatureError::WrongLength { len: sig.len() });
    }
    let (ts, ed) = sig.split_at(8);
    let mut b = [0u8; 8];
    b.copy_from_slice(ts);
    let timestamp = u64::from_be_bytes(b);
    if timestamp > MAX_TIMESTAMP {
        return Err(CosignatureError::TimestampTooLarge { timestamp });
    }
    Ok((timestamp, ed))
}

/// A witness's Ed25519 cosigning key (type `0x04`). Zeroized on drop, never printed.
#[derive(Clone)]
pub struct CosignatureSigner {
    name: KeyName,
    key_id: [u8; 4],
    key: SigningKey,
}

impl fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosignatureSigner")
            .field("name", &self.name)
            .field("key_id", &hex_encode(&self.key_id))
            .finish_non_exhaustive()
    }
}

impl CosignatureSigner {
    /// A cosigner named `name` with the Ed25519 key of the 32-byte seed `seed`.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<CosignatureSigner, CosignatureError> {
        let name = KeyName::new(name)?;
        let key = SigningKey::from_bytes(seed);
        Ok(CosignatureSigner {
            key_id: key_id(
                &name,
                SIG_TYPE_COSIGNATURE_V1,
                key.verifying_key().as_bytes(),
            ),
            name,
            key,
        })
    }

    /// The cosigner name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key ID (type byte 0x04).
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The verifier for this cosigner.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The encoded verifier key `name+hex8(keyID)+base64(0x04 || public key)`.
    pub fn to_vkey(&self) -> String {
        self.verifier().to_vkey()
    }

    /// Cosigns the checkpoint text `checkpoint_text` at POSIX time `timestamp`.
    pub fn sign(
        &self,
        checkpoint_text: &str,
        timestamp: u64,
    ) -> Result<NoteSignature, CosignatureError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampTooLarge { timestamp });
        }
        // A witness only ever signs a well-formed checkpoint.
        parse_checkpoint(checkpoint_text)?;
        let msg = cosignature_message(checkpoint_text, timestamp);
        let sig = self.key.sign(&msg);
        // timestamped_signature: u64 timestamp (big-endian) || ed25519_signature[64].
        let mut bytes = Vec::with_capacity(TIMESTAMPED_SIGNATURE_LEN);
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&sig.to_bytes());
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: bytes,
        })
    }

    /// A [`NoteSigner`] that cosigns at the fixed time `timestamp`, for
    /// [`crate::core::note::sign_note`].
    pub fn at(&self, timestamp: u64) -> TimedCosigner<'_> {
        TimedCosigner {
            signer: self,
            timestamp,
        }
    }
}

/// A [`CosignatureSigner`] bound to one timestamp, usable as a [`NoteSigner`].
#[derive(Debug)]
pub struct TimedCosigner<'a> {
    signer: &'a CosignatureSigner,
    timestamp: u64,
}

impl NoteSigner for TimedCosigner<'_> {
    fn name(&self) -> &KeyName {
        &self.signer.name
    }
    fn key_id(&self) -> [u8; 4] {
        self.signer.key_id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, NoteError> {
        let fail = |reason: String| NoteError::SigningFailed {
            name: self.signer.name.to_string(),
            reason,
        };
        let text = core::str::from_utf8(msg).map_err(|e| fail(e.to_string()))?;
        self.signer
            .sign(text, self.timestamp)
            .map(|s| s.signature)
            .map_err(|e| fail(e.to_string()))
    }
}

/// A witness's Ed25519 cosignature verifier (type `0x04`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: KeyName,
    key_id: [u8; 4],
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// A verifier for cosigner `name` with the 32-byte Ed25519 public key `public_key`.
    pub fn new(name: KeyName, public_key: &[u8; 32]) -> Result<Self, CosignatureError> {
        let key = ed25519_public_key(public_key).ok_or(NoteError::BadVerifierKey {
            reason: "not a valid Ed25519 public key",
        })?;
        Ok(CosignatureVerifier {
            key_id: key_id(&name, SIG_TYPE_COSIGNATURE_V1, key.as_bytes()),
            name,
            key,
        })
    }

    /// Parses a verifier key `name+hex8(keyID)+base64(0x04 || public key)`; a key of any
    /// other type (such as a `0x01` log key) is refused.
    pub fn from_vkey(vkey: &str) -> Result<Self, CosignatureError> {
        let k = VerifierKey::parse(vkey)?;
        if k.sig_type != SIG_TYPE_COSIGNATURE_V1 {
            return Err(NoteError::WrongKeyType {
                got: k.sig_type,
                want: SIG_TYPE_COSIGNATURE_V1,
            }
            .into());
        }
        let key = ed25519_public_key(&k.public_key).ok_or(NoteError::BadVerifierKey {
            reason: "not a valid Ed25519 public key",
        })?;
        Ok(CosignatureVerifier {
            name: k.name,
            key_id: k.key_id,
            key,
        })
    }

    /// The encoded verifier key `name+hex8(keyID)+base64(0x04 || public key)`.
    pub fn to_vkey(&self) -> String {
        encode_vkey(&self.name, SIG_TYPE_COSIGNATURE_V1, self.key.as_bytes())
    }

    /// Verifies the cosignature `sig` on `checkpoint_text` and returns its timestamp.
    pub fn verify_cosignature(
        &self,
        checkpoint_text: &str,
        sig: &NoteSignature,
    ) -> Result<u64, CosignatureError> {
        if sig.name != self.name || sig.key_id != self.key_id {
            return Err(CosignatureError::WrongKey {
                name: sig.name.to_string(),
                key_id: sig.key_id,
            });
        }
        parse_checkpoint(checkpoint_text)?;
        let (timestamp, ed) = split_timestamped(&sig.signature)?;
        let msg = cosignature_message(checkpoint_text, timestamp);
        if !ed25519_verify(&self.key, &msg, ed) {
            return Err(CosignatureError::InvalidSignature {
                name: self.name.to_string(),
                key_id: self.key_id,
            });
        }
        Ok(timestamp)
    }
}

impl NoteVerifier for CosignatureVerifier {
    fn name(&self) -> &KeyName {
        &self.name
    }
    fn key_id(&self) -> [u8; 4] {
        self.key_id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(text) = core::str::from_utf8(msg) else {
            return false;
        };
        let Ok((timestamp, ed)) = split_timestamped(sig) else {
            return false;
        };
        ed25519_verify(&self.key, &cosignature_message(text, timestamp), ed)
    }
}
