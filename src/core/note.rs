//! Signed notes: text signed by one or more keys.
//!
//! Implements C2SP `signed-note` v1.0.0 (<https://c2sp.org/signed-note@v1.0.0>), as also
//! implemented by Go's `golang.org/x/mod/sumdb/note`:
//!
//! ```text
//! <text, ending in a newline>
//! <blank line>
//! — <key name> base64(32-bit key ID || signature)
//! ...
//! ```
//!
//! - §Format: a note is valid UTF-8 without ASCII control characters other than newline;
//!   the text is separated from the signatures by the *last* blank line; key names are
//!   non-empty and contain no Unicode space and no `+`.
//! - §Signatures: `key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]`;
//!   verifiers ignore signatures from unknown keys, MUST verify signatures from known keys
//!   (a bad one rejects the whole note) and reject a note no known key signed.
//! - §Ed25519 signatures: type `0x01`, RFC 8032 signatures over the note text.
//! - Key encodings (Go `sumdb/note`): the verifier key `name+hex8(keyID)+base64(type||pubkey)`
//!   and the signer key `PRIVATE+KEY+name+hex8(keyID)+base64(type||seed)`.
//!
//! Out of scope: ECDSA (`0x02`), RFC 6962 tree-head (`0x05`) and ML-DSA signatures; the
//! timestamped witness cosignatures (`0x04`) live in [`crate::core::cosignature`]. Key
//! generation takes the 32-byte seed as an argument (no OS randomness here).

use core::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::core::hash::hex_encode;

/// The largest signed note accepted, in bytes (1 MiB, checked before anything is decoded).
/// Go's `sumdb/note` and Cloudflare's `signed_note` use about the same bound.
pub const MAX_NOTE_SIZE: usize = 1 << 20;

/// The most signature lines a note may carry (the bound Go's `sumdb/note` applies; the
/// spec requires accepting at least 16).
pub const MAX_NOTE_SIGNATURES: usize = 100;

/// The longest key name accepted, in bytes.
pub const MAX_KEY_NAME_LEN: usize = 512;

/// The longest signature line accepted, in bytes, without its final newline: room for a
/// [`MAX_KEY_NAME_LEN`] name and the base64 of a 5 kB post-quantum signature.
pub const MAX_SIGNATURE_LINE_LEN: usize = 8192;

/// The longest encoded verifier or signer key accepted, in bytes.
pub const MAX_KEY_STRING_LEN: usize = MAX_KEY_NAME_LEN + 256;

/// Signature type byte of Ed25519 note signatures (signed-note §Signature types).
pub const SIG_TYPE_ED25519: u8 = 0x01;

/// Signature type byte of timestamped Ed25519 witness cosignatures (tlog-cosignature).
pub const SIG_TYPE_COSIGNATURE_V1: u8 = 0x04;

/// The prefix of every signature line: em dash (U+2014) and a space.
pub const SIGNATURE_LINE_PREFIX: &str = "\u{2014} ";

/// The prefix of a Go-style signer key string.
const SIGNER_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a note, a key or a signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is larger than [`MAX_NOTE_SIZE`].
    #[error("note is {size} bytes, more than the limit of {max}")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The note is not valid UTF-8.
    #[error("note is not valid UTF-8 (at byte {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The note holds an ASCII control character other than newline (CR, tab, NUL...).
    #[error("note holds control character 0x{byte:02x} at byte {offset}")]
    ControlCharacter {
        /// Offset of the character.
        offset: usize,
        /// The character.
        byte: u8,
    },
    /// No blank line separates the text from the signatures.
    #[error("note has no blank line before its signatures")]
    MissingBlankLine,
    /// The note (or a text to sign) does not end with a newline.
    #[error("note does not end with a newline")]
    MissingFinalNewline,
    /// A signature line does not start with an em dash and a space.
    #[error("signature line {line} does not start with \"— \"")]
    BadSignaturePrefix {
        /// 1-based number of the signature line.
        line: usize,
    },
    /// A signature line is longer than [`MAX_SIGNATURE_LINE_LEN`].
    #[error("signature line {line} is {len} bytes, more than the limit of {max}")]
    SignatureLineTooLong {
        /// 1-based number of the signature line.
        line: usize,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A signature line has no space between key name and signature.
    #[error("signature line {line} has no signature after the key name")]
    MissingSignature {
        /// 1-based number of the signature line.
        line: usize,
    },
    /// The base64 of a signature line is not canonical standard base64 (RFC 4648 §4).
    #[error("signature line {line} is not valid base64")]
    BadBase64 {
        /// 1-based number of the signature line.
        line: usize,
    },
    /// A signature decodes to fewer than 5 bytes (a 4-byte key ID and at least one byte).
    #[error("signature line {line} decodes to {len} bytes, fewer than 5")]
    SignatureTooShort {
        /// 1-based number of the signature line.
        line: usize,
        /// Decoded length.
        len: usize,
    },
    /// The note has more than [`MAX_NOTE_SIGNATURES`] signature lines.
    #[error("note has more than {max} signatures")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
    /// A key name is empty, too long, or holds a Unicode space or a `+`.
    #[error("invalid key name {name:?}: {reason}")]
    InvalidKeyName {
        /// The name (truncated to [`MAX_KEY_NAME_LEN`] bytes at most).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An encoded verifier key is malformed.
    #[error("malformed verifier key: {reason}")]
    BadVerifierKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An encoded signer key is malformed (the key itself is never echoed).
    #[error("malformed signer key: {reason}")]
    BadSignerKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key's type byte is not the one expected.
    #[error("key has signature type 0x{got:02x}, expected 0x{want:02x}")]
    WrongKeyType {
        /// Type byte found.
        got: u8,
        /// Type byte expected.
        want: u8,
    },
    /// The key ID written in an encoded key does not match the key.
    #[error(
        "key ID {} of key {name} does not match its key ({})",
        hex_encode(got),
        hex_encode(want)
    )]
    KeyIdMismatch {
        /// Key name.
        name: String,
        /// Key ID written.
        got: [u8; 4],
        /// Key ID computed.
        want: [u8; 4],
    },
    /// A signature from a known key did not verify: the whole note is rejected.
    #[error("invalid signature for key {name}+{}", hex_encode(key_id))]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: [u8; 4],
    },
    /// Several configured verifiers share one key name and key ID.
    #[error("ambiguous key {name}+{}: several verifiers match", hex_encode(key_id))]
    AmbiguousKey {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: [u8; 4],
    },
    /// The note is well formed but no known key signed it.
    #[error("note has no signature from a known key")]
    NoVerifiedSignature,
    /// `sign_note` was called with no signer.
    #[error("no signer given")]
    NoSigners,
    /// A signer failed to produce a signature.
    #[error("signer {name} failed: {reason}")]
    SigningFailed {
        /// Key name of the signer.
        name: String,
        /// Why.
        reason: String,
    },
}

/// A validated key name: non-empty, at most [`MAX_KEY_NAME_LEN`] bytes, no Unicode space
/// (Unicode `White_Space`, as Go's `unicode.IsSpace`) and no `+` (signed-note §Format).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyName(String);

impl KeyName {
    /// Validates `name` as a key name.
    pub fn new(name: &str) -> Result<KeyName, NoteError> {
        let bad = |reason| NoteError::InvalidKeyName {
            name: truncate(name, MAX_KEY_NAME_LEN).to_owned(),
            reason,
        };
        if name.is_empty() {
            return Err(bad("empty"));
        }
        if name.len() > MAX_KEY_NAME_LEN {
            return Err(bad("too long"));
        }
        if name.chars().any(char::is_whitespace) {
            return Err(bad("contains a space"));
        }
        if name.contains('+') {
            return Err(bad("contains '+'"));
        }
        if name.chars().any(|c| c < ' ') {
            return Err(bad("contains a control character"));
        }
        Ok(KeyName(name.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::str::FromStr for KeyName {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<KeyName, NoteError> {
        KeyName::new(s)
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The key ID of a key (signed-note §Signatures):
/// `SHA-256(key name || 0x0A || signature type || public key)[:4]`.
pub fn key_id(name: &KeyName, sig_type: u8, public_key: &[u8]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_str().as_bytes());
    h.update([0x0A]);
    h.update([sig_type]);
    h.update(public_key);
    let sum = h.finalize();
    [sum[0], sum[1], sum[2], sum[3]]
}

/// One signature line of a note: `— <name> base64(key_id || signature)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Name of the key that signed.
    pub name: KeyName,
    /// Key ID (big-endian uint32 in the spec's terms).
    pub key_id: [u8; 4],
    /// Signature bytes after the key ID (for Ed25519, 64 bytes; for a cosignature, the
    /// 8-byte timestamp and 64 bytes).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, with its final newline.
    pub fn to_line(&self) -> String {
        let mut blob = Vec::with_capacity(4 + self.signature.len());
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(&self.signature);
        format!(
            "{SIGNATURE_LINE_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(blob)
        )
    }

    /// Parses one signature line without its final newline; `line_no` (1-based) is only
    /// used in errors.
    pub fn parse_line(line: &str, line_no: usize) -> Result<NoteSignature, NoteError> {
        // Bound before decoding.
        if line.len() > MAX_SIGNATURE_LINE_LEN {
            return Err(NoteError::SignatureLineTooLong {
                line: line_no,
                len: line.len(),
                max: MAX_SIGNATURE_LINE_LEN,
            });
        }
        if let Some((offset, c)) = line.char_indices().find(|&(_, c)| c < ' ') {
            return Err(NoteError::ControlCharacter {
                offset,
                byte: c as u8,
            });
        }
        // "— " (U+2014, U+0020), key name, space, base64.
        let rest = line
            .strip_prefix(SIGNATURE_LINE_PREFIX)
            .ok_or(NoteError::BadSignaturePrefix { line: line_no })?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(NoteError::MissingSignature { line: line_no })?;
        let name = KeyName::new(name)?;
        if b64.is_empty() {
            return Err(NoteError::MissingSignature { line: line_no });
        }
        let blob = BASE64
            .decode(b64)
            .map_err(|_| NoteError::BadBase64 { line: line_no })?;
        // "Signatures are the base64 encoding of 4+n bytes"; Go requires n >= 1.
        if blob.len() < 5 {
            return Err(NoteError::SignatureTooShort {
                line: line_no,
                len: blob.len(),
            });
        }
        Ok(NoteSignature {
            name,
            key_id: [blob[0], blob[1], blob[2], blob[3]],
            signature: blob[4..].to_vec(),
        })
    }
}

/// A parsed (not yet verified) signed note.
///
/// The text MUST be ignored until a trusted signature on it has been verified: use
/// [`open_note`], not [`parse_note`], to act on a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The note text, including its final newline but not the separating blank line.
    pub text: String,
    /// Every signature line, in order, known keys or not.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// The signed note bytes: text, blank line, one line per signature.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + 1 + 128 * self.signatures.len());
        out.extend_from_slice(self.text.as_bytes());
        out.push(b'\n');
        for sig in &self.signatures {
            out.extend_from_slice(sig.to_line().as_bytes());
        }
        out
    }
}

/// Checks a note text: at most [`MAX_NOTE_SIZE`] bytes, no control character other than
/// newline, ends with a newline (signed-note §Format).
pub fn check_note_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge {
            size: text.len(),
            max: MAX_NOTE_SIZE,
        });
    }
    check_no_control(text.as_bytes())?;
    if !text.ends_with('\n') {
        return Err(NoteError::MissingFinalNewline);
    }
    Ok(())
}

/// Rejects ASCII control characters other than newline (signed-note §Format).
fn check_no_control(bytes: &[u8]) -> Result<(), NoteError> {
    // UTF-8 continuation and lead bytes are >= 0x80, so a byte scan finds exactly the
    // control characters.
    match bytes.iter().position(|&b| b < 0x20 && b != b'\n') {
        Some(offset) => Err(NoteError::ControlCharacter {
            offset,
            byte: bytes[offset],
        }),
        None => Ok(()),
    }
}

/// Parses a signed note without verifying any signature.
pub fn parse_note(msg: &[u8]) -> Result<Note, NoteError> {
    // Bound before decoding.
    if msg.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge {
            size: msg.len(),
            max: MAX_NOTE_SIZE,
        });
    }
    // "Signed notes MUST be valid UTF-8 and MUST NOT contain any ASCII control characters
    // (those below U+0020) other than newline."
    let msg = core::str::from_utf8(msg).map_err(|e| NoteError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    check_no_control(msg.as_bytes())?;
    // "the text is separated from the signatures by the last empty line in the note."
    let split = msg.rfind("\n\n").ok_or(NoteError::MissingBlankLine)?;
    let text = &msg[..split + 1];
    let sigs = &msg[split + 2..];
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(NoteError::MissingFinalNewline);
    }
    let sigs = &sigs[..sigs.len() - 1];
    let mut signatures = Vec::new();
    for (i, line) in sigs.split('\n').enumerate() {
        if i >= MAX_NOTE_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                max: MAX_NOTE_SIGNATURES,
            });
        }
        signatures.push(NoteSignature::parse_line(line, i + 1)?);
    }
    Ok(Note {
        text: text.to_owned(),
        signatures,
    })
}

/// A key that verifies note signatures of one name and key ID.
pub trait NoteVerifier {
    /// The key name.
    fn name(&self) -> &KeyName;
    /// The key ID.
    fn key_id(&self) -> [u8; 4];
    /// Whether `sig` (the signature bytes after the key ID) is a valid signature of `msg`
    /// (the note text).
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool;
}

/// A key that signs notes.
pub trait NoteSigner {
    /// The key name.
    fn name(&self) -> &KeyName;
    /// The key ID.
    fn key_id(&self) -> [u8; 4];
    /// Signs `msg` (the note text), returning the signature bytes after the key ID.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, NoteError>;
}

/// Signs `text` with every signer and returns the signed note bytes.
pub fn sign_note(text: &str, signers: &[&dyn NoteSigner]) -> Result<Vec<u8>, NoteError> {
    if signers.is_empty() {
        return Err(NoteError::NoSigners);
    }
    if signers.len() > MAX_NOTE_SIGNATURES {
        return Err(NoteError::TooManySignatures {
            max: MAX_NOTE_SIGNATURES,
        });
    }
    check_note_text(text)?;
    let mut note = Note {
        text: text.to_owned(),
        signatures: Vec::with_capacity(signers.len()),
    };
    for s in signers {
        note.signatures.push(NoteSignature {
            name: s.name().clone(),
            key_id: s.key_id(),
            signature: s.sign(text.as_bytes())?,
        });
    }
    let out = note.serialize();
    if out.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge {
            size: out.len(),
            max: MAX_NOTE_SIZE,
        });
    }
    Ok(out)
}

/// Parses `msg` and verifies its signatures against `verifiers` (signed-note §Signatures).
///
/// Signatures whose (name, key ID) match no verifier are ignored (kept in the returned
/// note). Every signature that matches a verifier is checked, and one that fails rejects
/// the note with [`NoteError::InvalidSignature`]. Returns the note and the verified
/// signatures (one per key, in note order); [`NoteError::NoVerifiedSignature`] if none.
pub fn open_note(
    msg: &[u8],
    verifiers: &[&dyn NoteVerifier],
) -> Result<(Note, Vec<NoteSignature>), NoteError> {
    let note = parse_note(msg)?;
    let mut verified: Vec<NoteSignature> = Vec::new();
    for sig in &note.signatures {
        let mut matching = verifiers
            .iter()
            .filter(|v| v.name() == &sig.name && v.key_id() == sig.key_id);
        let Some(v) = matching.next() else {
            // "Verifiers MUST ignore signatures from unknown keys."
            continue;
        };
        if matching.next().is_some() {
            return Err(NoteError::AmbiguousKey {
                name: sig.name.to_string(),
                key_id: sig.key_id,
            });
        }
        // "If the key name and ID match a known key, verifiers MUST verify the signature."
        if !v.verify(note.text.as_bytes(), &sig.signature) {
            return Err(NoteError::InvalidSignature {
                name: sig.name.to_string(),
                key_id: sig.key_id,
            });
        }
        if !verified
            .iter()
            .any(|s| s.name == sig.name && s.key_id == sig.key_id)
        {
            verified.push(sig.clone());
        }
    }
    // "If no signature from a known key verifies successfully, clients MUST reject the note."
    if verified.is_empty() {
        return Err(NoteError::NoVerifiedSignature);
    }
    Ok((note, verified))
}

/// A parsed verifier key `name+hex8(keyID)+base64(type || public key)`, of any type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    /// Key name.
    pub name: KeyName,
    /// Key ID, checked against the key.
    pub key_id: [u8; 4],
    /// Signature type byte.
    pub sig_type: u8,
    /// Public key bytes after the type byte.
    pub public_key: Vec<u8>,
}

impl VerifierKey {
    /// Parses a verifier key string and checks its key ID.
    pub fn parse(vkey: &str) -> Result<VerifierKey, NoteError> {
        let bad = |reason| NoteError::BadVerifierKey { reason };
        if vkey.len() > MAX_KEY_STRING_LEN {
            return Err(bad("too long"));
        }
        let (name, rest) = vkey.split_once('+').ok_or(bad("missing key ID"))?;
        let (id_hex, key_b64) = rest.split_once('+').ok_or(bad("missing key"))?;
        let name = KeyName::new(name)?;
        let got = parse_key_id_hex(id_hex).ok_or(bad("key ID is not 8 hex digits"))?;
        let key = BASE64
            .decode(key_b64)
            .map_err(|_| bad("key is not valid base64"))?;
        let (&sig_type, public_key) = key.split_first().ok_or(bad("empty key"))?;
        let want = key_id(&name, sig_type, public_key);
        if got != want {
            return Err(NoteError::KeyIdMismatch {
                name: name.to_string(),
                got,
                want,
            });
        }
        Ok(VerifierKey {
            name,
            key_id: got,
            sig_type,
            public_key: public_key.to_vec(),
        })
    }

    /// The encoded verifier key.
    pub fn to_vkey(&self) -> String {
        encode_vkey(&self.name, self.sig_type, &self.public_key)
    }
}

/// Encodes `name+hex8(keyID)+base64(type || public key)`.
pub(crate) fn encode_vkey(name: &KeyName, sig_type: u8, public_key: &[u8]) -> String {
    let mut blob = Vec::with_capacity(1 + public_key.len());
    blob.push(sig_type);
    blob.extend_from_slice(public_key);
    format!(
        "{}+{}+{}",
        name,
        hex_encode(&key_id(name, sig_type, public_key)),
        BASE64.encode(blob)
    )
}

/// Parses exactly 8 hex digits (either case) into a key ID.
fn parse_key_id_hex(s: &str) -> Option<[u8; 4]> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let v = u32::from_str_radix(s, 16).ok()?;
    Some(v.to_be_bytes())
}

/// Decodes a 32-byte Ed25519 public key, refusing encodings that are not points and the
/// small-order ("weak") keys that `verify_strict` would reject anyway.
pub(crate) fn ed25519_public_key(bytes: &[u8]) -> Option<VerifyingKey> {
    let arr: [u8; 32] = bytes.try_into().ok()?;
    let key = VerifyingKey::from_bytes(&arr).ok()?;
    if key.is_weak() {
        return None;
    }
    Some(key)
}

/// Verifies a 64-byte Ed25519 signature strictly (RFC 8032, no malleable encodings).
pub(crate) fn ed25519_verify(key: &VerifyingKey, msg: &[u8], sig: &[u8]) -> bool {
    let Ok(arr) = <[u8; 64]>::try_from(sig) else {
        return false;
    };
    key.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&arr))
        .is_ok()
}

/// An Ed25519 (`0x01`) note verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ed25519Verifier {
    name: KeyName,
    key_id: [u8; 4],
    key: VerifyingKey,
}

impl Ed25519Verifier {
    /// A verifier for the 32-byte public key `public_key` named `name`.
    pub fn new(name: KeyName, public_key: &[u8; 32]) -> Result<Ed25519Verifier, NoteError> {
        let key = ed25519_public_key(public_key).ok_or(NoteError::BadVerifierKey {
            reason: "not a valid Ed25519 public key",
        })?;
        Ok(Ed25519Verifier {
            key_id: key_id(&name, SIG_TYPE_ED25519, key.as_bytes()),
            name,
            key,
        })
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The encoded verifier key `name+hex8(keyID)+base64(0x01 || public key)`.
    pub fn to_vkey(&self) -> String {
        encode_vkey(&self.name, SIG_TYPE_ED25519, self.key.as_bytes())
    }
}

/// Parses an Ed25519 verifier key `name+hex8(keyID)+base64(0x01 || public key)`.
pub fn parse_verifier_key(vkey: &str) -> Result<Ed25519Verifier, NoteError> {
    let k = VerifierKey::parse(vkey)?;
    if k.sig_type != SIG_TYPE_ED25519 {
        return Err(NoteError::WrongKeyType {
            got: k.sig_type,
            want: SIG_TYPE_ED25519,
        });
    }
    let key = ed25519_public_key(&k.public_key).ok_or(NoteError::BadVerifierKey {
        reason: "not a valid Ed25519 public key",
    })?;
    Ok(Ed25519Verifier {
        name: k.name,
        key_id: k.key_id,
        key,
    })
}

impl NoteVerifier for Ed25519Verifier {
    fn name(&self) -> &KeyName {
        &self.name
    }
    fn key_id(&self) -> [u8; 4] {
        self.key_id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        ed25519_verify(&self.key, msg, sig)
    }
}

/// An Ed25519 (`0x01`) note signer. The secret key is zeroized on drop and never printed.
#[derive(Clone)]
pub struct Ed25519Signer {
    name: KeyName,
    key_id: [u8; 4],
    key: SigningKey,
}

impl fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519Signer")
            .field("name", &self.name)
            .field("key_id", &hex_encode(&self.key_id))
            .finish_non_exhaustive()
    }
}

impl Ed25519Signer {
    /// A signer named `name` for the Ed25519 key with the 32-byte RFC 8032 seed `seed`
    /// (random bytes the caller drew).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Ed25519Signer, NoteError> {
        let name = KeyName::new(name)?;
        let key = SigningKey::from_bytes(seed);
        Ok(Ed25519Signer {
            key_id: key_id(&name, SIG_TYPE_ED25519, key.verifying_key().as_bytes()),
            name,
            key,
        })
    }

    /// The verifier for this signer's key.
    pub fn verifier(&self) -> Ed25519Verifier {
        Ed25519Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The encoded verifier key `name+hex8(keyID)+base64(0x01 || public key)`.
    pub fn to_vkey(&self) -> String {
        self.verifier().to_vkey()
    }

    /// The secret signer key `PRIVATE+KEY+name+hex8(keyID)+base64(0x01 || seed)`, as Go's
    /// `note.GenerateKey` writes it. The result is secret: store it with care, never log it.
    pub fn to_signer_string(&self) -> String {
        let mut blob = [0u8; 33];
        blob[0] = SIG_TYPE_ED25519;
        blob[1..].copy_from_slice(self.key.as_bytes());
        let s = format!(
            "{SIGNER_KEY_PREFIX}{}+{}+{}",
            self.name,
            hex_encode(&self.key_id),
            BASE64.encode(blob)
        );
        blob.zeroize();
        s
    }
}

/// Parses a secret signer key `PRIVATE+KEY+name+hex8(keyID)+base64(0x01 || seed)` and
/// checks its key ID against the derived public key. Errors never echo the key.
pub fn parse_signer_key(skey: &str) -> Result<Ed25519Signer, NoteError> {
    let bad = |reason| NoteError::BadSignerKey { reason };
    if skey.len() > MAX_KEY_STRING_LEN {
        return Err(bad("too long"));
    }
    let rest = skey
        .strip_prefix(SIGNER_KEY_PREFIX)
        .ok_or(bad("missing PRIVATE+KEY+ prefix"))?;
    let (name, rest) = rest.split_once('+').ok_or(bad("missing key ID"))?;
    let (id_hex, key_b64) = rest.split_once('+').ok_or(bad("missing key"))?;
    let name = KeyName::new(name).map_err(|_| bad("invalid key name"))?;
    let got = parse_key_id_hex(id_hex).ok_or(bad("key ID is not 8 hex digits"))?;
    let mut blob = BASE64
        .decode(key_b64)
        .map_err(|_| bad("key is not valid base64"))?;
    let result = (|| {
        let (&sig_type, seed) = blob.split_first().ok_or(bad("empty key"))?;
        if sig_type != SIG_TYPE_ED25519 {
            return Err(NoteError::WrongKeyType {
                got: sig_type,
                want: SIG_TYPE_ED25519,
            });
        }
        let seed: &[u8; 32] = seed.try_into().map_err(|_| bad("seed is not 32 bytes"))?;
        let key = SigningKey::from_bytes(seed);
        let want = key_id(&name, SIG_TYPE_ED25519, key.verifying_key().as_bytes());
        if got != want {
            return Err(NoteError::KeyIdMismatch {
                name: name.to_string(),
                got,
                want,
            });
        }
        Ok(Ed25519Signer {
            name: name.clone(),
            key_id: got,
            key,
        })
    })();
    blob.zeroize();
    result
}

impl NoteSigner for Ed25519Signer {
    fn name(&self) -> &KeyName {
        &self.name
    }
    fn key_id(&self) -> [u8; 4] {
        self.key_id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, NoteError> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}
