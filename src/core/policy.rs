//! Witness policies: which logs and witnesses are trusted, and which cosignatures make a
//! checkpoint valid.
//!
//! Implements C2SP `tlog-policy` (<https://c2sp.org/tlog-policy>):
//!
//! ```text
//! log <vkey> [<url>]                  a log whose signature is accepted
//! witness <name> <vkey> [<url>]       a witness (Ed25519 cosignature/v1 key, type 0x04)
//! group <name> all|any|<k> <name>...  witnessed when k of its n members are (1 <= k <= n)
//! quorum <name>|none                  exactly one, naming a witness or group defined earlier
//! ```
//!
//! - §Structure: lines end in newline; items are separated by runs of space and tab;
//!   leading and trailing whitespace, empty lines and `#` comment lines are ignored; a
//!   group or the quorum may only name witnesses and groups defined on earlier lines.
//! - §Character set: only tab, newline, 0x20–0x7E and 0x80–0xFF; names are opaque octets.
//! - Duplicate logs or witnesses (the same public key, whatever the key name) are errors; a
//!   name is defined at most once and listed at most once per group; `none` is reserved.
//! - §Implementation limits: we accept up to [`MAX_POLICY_LOGS`] logs,
//!   [`MAX_POLICY_WITNESSES`] witnesses and [`MAX_POLICY_GROUPS`] groups (the spec asks
//!   for at least 32 of each).
//!
//! A checkpoint satisfies a policy ([`Policy::verify_checkpoint`]) when one of the
//! policy's logs signed it and the witnesses whose cosignatures verify (tlog-cosignature
//! v1.0.1, [`crate::core::cosignature`]) make the quorum true.
//!
//! Out of scope: ML-DSA-44 cosigner keys (type `0x06`) are refused with a clear error, and
//! no clock is read: whether cosignature timestamps are fresh is the caller's concern.

use crate::core::checkpoint::{parse_checkpoint, Checkpoint, CheckpointError};
use crate::core::cosignature::{CosignatureError, CosignatureVerifier};
use crate::core::note::{
    self, open_note, Ed25519Verifier, NoteError, NoteSignature, NoteVerifier, VerifierKey,
    SIG_TYPE_COSIGNATURE_V1, SIG_TYPE_ED25519,
};

/// The largest policy file accepted, in bytes (checked before anything is parsed).
pub const MAX_POLICY_SIZE: usize = 64 * 1024;
/// The longest policy line accepted, in bytes.
pub const MAX_POLICY_LINE_LEN: usize = 4096;
/// The most `log` lines accepted.
pub const MAX_POLICY_LOGS: usize = 64;
/// The most `witness` lines accepted.
pub const MAX_POLICY_WITNESSES: usize = 64;
/// The most `group` lines accepted.
pub const MAX_POLICY_GROUPS: usize = 64;
/// The predefined name that needs no cosignature (valid only in the quorum line).
pub const NONE_NAME: &[u8] = b"none";

/// Why a policy file was rejected or a checkpoint does not satisfy a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The file is larger than [`MAX_POLICY_SIZE`].
    #[error("policy is {size} bytes, more than the limit of {max}")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A byte outside tab, newline, 0x20–0x7E and 0x80–0xFF.
    #[error("line {line}: control character 0x{byte:02x} is not allowed")]
    BadCharacter {
        /// 1-based line number.
        line: usize,
        /// The byte.
        byte: u8,
    },
    /// A line is malformed.
    #[error("line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A verifier key is malformed or of the wrong type.
    #[error("line {line}: bad verifier key: {reason}")]
    BadKey {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// More logs, witnesses or groups than the implementation limits.
    #[error("line {line}: more than {max} {what}")]
    TooMany {
        /// 1-based line number.
        line: usize,
        /// "logs", "witnesses" or "groups".
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// The file has no `quorum` line.
    #[error("policy has no quorum line")]
    MissingQuorum,
    /// The checkpoint note is not signed by any log of the policy (or by the given key).
    #[error("checkpoint is not signed by a trusted log key: {0}")]
    LogSignature(String),
    /// The signed text is not a checkpoint.
    #[error("signed text is not a checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// A cosignature line from a known witness key does not verify.
    #[error("cosignature from witness {witness} does not verify: {reason}")]
    InvalidCosignature {
        /// The witness's policy name.
        witness: String,
        /// Why.
        reason: String,
    },
    /// The verified cosignatures do not satisfy the quorum.
    #[error("witness quorum not met: {got} of the policy's witnesses cosigned ({names})")]
    QuorumNotMet {
        /// How many witnesses cosigned validly.
        got: usize,
        /// Their policy names, comma separated.
        names: String,
    },
}

/// A log the policy accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLog {
    /// The log's key (its key name is the log's origin).
    pub verifier: Ed25519Verifier,
    /// The optional URL (application specific).
    pub url: Option<String>,
}

/// A witness the policy knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWitness {
    /// The policy-local name (opaque octets), used by groups and the quorum.
    pub name: Vec<u8>,
    /// The witness's cosignature/v1 key.
    pub verifier: CosignatureVerifier,
    /// The optional URL: the witness's tlog-witness submission prefix.
    pub url: Option<String>,
}

impl PolicyWitness {
    /// The policy name, for messages (invalid UTF-8 replaced).
    pub fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// A node of the quorum tree: a witness or a group, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// `Policy::witnesses[i]`.
    Witness(usize),
    /// `Policy::groups[i]`.
    Group(usize),
}

/// A witness group: witnessed when at least `threshold` of its `members` are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyGroup {
    /// The policy-local name.
    pub name: Vec<u8>,
    /// k, with 1 <= k <= members.len().
    pub threshold: usize,
    /// The members, each defined on an earlier line and listed once.
    pub members: Vec<Member>,
}

/// The quorum rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quorum {
    /// `quorum none`: no cosignature needed.
    None,
    /// A witness or group that must have witnessed the checkpoint.
    Of(Member),
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Logs whose signature is accepted (may be empty when the log is known otherwise).
    pub logs: Vec<PolicyLog>,
    /// Witnesses, in file order.
    pub witnesses: Vec<PolicyWitness>,
    /// Groups, in file order (each refers only to earlier witnesses and groups).
    pub groups: Vec<PolicyGroup>,
    /// The quorum.
    pub quorum: Quorum,
}

/// A checkpoint that satisfies a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVerified {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The whole note (the log signature and every signature line, verified or not).
    pub note: note::Note,
    /// Indexes into [`Policy::witnesses`] of the witnesses whose cosignature verified.
    pub cosigned_by: Vec<usize>,
    /// Their verified cosignature lines, in the same order.
    pub cosignatures: Vec<NoteSignature>,
}

/// Splits a line into items separated by runs of space and tab.
fn items(line: &[u8]) -> Vec<&[u8]> {
    line.split(|&b| b == b' ' || b == b'\t')
        .filter(|s| !s.is_empty())
        .collect()
}

fn utf8(line: usize, what: &str, b: &[u8]) -> Result<String, PolicyError> {
    String::from_utf8(b.to_vec()).map_err(|_| PolicyError::Syntax {
        line,
        reason: format!("{what} is not UTF-8"),
    })
}

/// Parses a canonical decimal `1..` threshold.
fn parse_threshold(b: &[u8]) -> Option<usize> {
    if b.is_empty() || b.len() > 9 || !b.iter().all(u8::is_ascii_digit) || b[0] == b'0' {
        return None;
    }
    core::str::from_utf8(b).ok()?.parse().ok()
}

/// Parses a policy file (see the module documentation for the grammar and limits).
pub fn parse_policy(bytes: &[u8]) -> Result<Policy, PolicyError> {
    // Bound before parsing.
    if bytes.len() > MAX_POLICY_SIZE {
        return Err(PolicyError::TooLarge {
            size: bytes.len(),
            max: MAX_POLICY_SIZE,
        });
    }
    let mut logs: Vec<PolicyLog> = Vec::new();
    let mut witnesses: Vec<PolicyWitness> = Vec::new();
    let mut groups: Vec<PolicyGroup> = Vec::new();
    // The raw public keys of the witnesses, for the duplicate check.
    let mut witness_keys: Vec<Vec<u8>> = Vec::new();
    let mut quorum: Option<Quorum> = None;
    // Every line is newline-terminated; a last line without one is accepted as well.
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let syntax = |reason: String| PolicyError::Syntax { line, reason };
        if raw.len() > MAX_POLICY_LINE_LEN {
            return Err(syntax(format!("longer than {MAX_POLICY_LINE_LEN} bytes")));
        }
        // §Character set: tab, newline, 0x20-0x7E, 0x80-0xFF.
        if let Some(&byte) = raw.iter().find(|&&b| (b < 0x20 && b != b'\t') || b == 0x7F) {
            return Err(PolicyError::BadCharacter { line, byte });
        }
        let it = items(raw);
        // Empty lines and comment lines are ignored.
        let Some((&keyword, args)) = it.split_first() else {
            continue;
        };
        if keyword.starts_with(b"#") {
            continue;
        }
        let lookup = |name: &[u8]| -> Option<Member> {
            if let Some(w) = witnesses.iter().position(|w| w.name == name) {
                return Some(Member::Witness(w));
            }
            groups
                .iter()
                .position(|g| g.name == name)
                .map(Member::Group)
        };
        let check_new_name = |name: &[u8]| -> Result<(), PolicyError> {
            if name == NONE_NAME {
                return Err(syntax("the name \"none\" is reserved".into()));
            }
            if lookup(name).is_some() {
                return Err(syntax(format!(
                    "name {:?} is already defined",
                    String::from_utf8_lossy(name)
                )));
            }
            Ok(())
        };
        match keyword {
            b"log" => {
                let (vkey, url) = match args {
                    [vkey] => (vkey, None),
                    [vkey, url] => (vkey, Some(utf8(line, "URL", url)?)),
                    _ => return Err(syntax("expected: log <vkey> [<url>]".into())),
                };
                if logs.len() == MAX_POLICY_LOGS {
                    return Err(PolicyError::TooMany {
                        line,
                        what: "logs",
                        max: MAX_POLICY_LOGS,
                    });
                }
                let vkey = utf8(line, "verifier key", vkey)?;
                let k = VerifierKey::parse(&vkey).map_err(|e| PolicyError::BadKey {
                    line,
                    reason: e.to_string(),
                })?;
                if k.sig_type != SIG_TYPE_ED25519 {
                    return Err(PolicyError::BadKey {
                        line,
                        reason: format!(
                            "log keys must be Ed25519 (type 0x01), not type 0x{:02x}",
                            k.sig_type
                        ),
                    });
                }
                let verifier =
                    note::parse_verifier_key(&vkey).map_err(|e| PolicyError::BadKey {
                        line,
                        reason: e.to_string(),
                    })?;
                // Duplicate logs: the same public key, whatever the name.
                if logs
                    .iter()
                    .any(|l| l.verifier.public_key().as_slice() == k.public_key.as_slice())
                {
                    return Err(syntax("duplicate log (same public key)".into()));
                }
                logs.push(PolicyLog { verifier, url });
            }
            b"witness" => {
                let (name, vkey, url) = match args {
                    [name, vkey] => (name, vkey, None),
                    [name, vkey, url] => (name, vkey, Some(utf8(line, "URL", url)?)),
                    _ => return Err(syntax("expected: witness <name> <vkey> [<url>]".into())),
                };
                check_new_name(name)?;
                if witnesses.len() == MAX_POLICY_WITNESSES {
                    return Err(PolicyError::TooMany {
                        line,
                        what: "witnesses",
                        max: MAX_POLICY_WITNESSES,
                    });
                }
                let vkey = utf8(line, "verifier key", vkey)?;
                let k = VerifierKey::parse(&vkey).map_err(|e| PolicyError::BadKey {
                    line,
                    reason: e.to_string(),
                })?;
                if k.sig_type != SIG_TYPE_COSIGNATURE_V1 {
                    return Err(PolicyError::BadKey {
                        line,
                        reason: format!(
                            "witness keys must be Ed25519 cosignature/v1 (type 0x04), not type 0x{:02x}",
                            k.sig_type
                        ),
                    });
                }
                let verifier =
                    CosignatureVerifier::from_vkey(&vkey).map_err(|e| PolicyError::BadKey {
                        line,
                        reason: e.to_string(),
                    })?;
                if witness_keys.contains(&k.public_key) {
                    return Err(syntax("duplicate witness (same public key)".into()));
                }
                witness_keys.push(k.public_key);
                witnesses.push(PolicyWitness {
                    name: name.to_vec(),
                    verifier,
                    url,
                });
            }
            b"group" => {
                let [name, k, members @ ..] = args else {
                    return Err(syntax(
                        "expected: group <name> all|any|<k> <name>...".into(),
                    ));
                };
                check_new_name(name)?;
                if members.is_empty() {
                    return Err(syntax("a group needs at least one member".into()));
                }
                if groups.len() == MAX_POLICY_GROUPS {
                    return Err(PolicyError::TooMany {
                        line,
                        what: "groups",
                        max: MAX_POLICY_GROUPS,
                    });
                }
                let n = members.len();
                let threshold = match *k {
                    b"all" => n,
                    b"any" => 1,
                    k => match parse_threshold(k) {
                        Some(k) if k <= n => k,
                        _ => {
                            return Err(syntax(format!(
                                "threshold must be all, any or a decimal 1..={n}"
                            )))
                        }
                    },
                };
                let mut resolved = Vec::with_capacity(n);
                for m in members {
                    if *m == NONE_NAME {
                        return Err(syntax("\"none\" cannot be a group member".into()));
                    }
                    let member = lookup(m).ok_or_else(|| {
                        syntax(format!(
                            "member {:?} is not defined on an earlier line",
                            String::from_utf8_lossy(m)
                        ))
                    })?;
                    if resolved.contains(&member) {
                        return Err(syntax(format!(
                            "member {:?} is listed twice",
                            String::from_utf8_lossy(m)
                        )));
                    }
                    resolved.push(member);
                }
                groups.push(PolicyGroup {
                    name: name.to_vec(),
                    threshold,
                    members: resolved,
                });
            }
            b"quorum" => {
                let [name] = args else {
                    return Err(syntax("expected: quorum <name>".into()));
                };
                if quorum.is_some() {
                    return Err(syntax("a second quorum line".into()));
                }
                quorum = Some(if *name == NONE_NAME {
                    Quorum::None
                } else {
                    Quorum::Of(lookup(name).ok_or_else(|| {
                        syntax(format!(
                            "quorum {:?} is not defined on an earlier line",
                            String::from_utf8_lossy(name)
                        ))
                    })?)
                });
            }
            other => {
                return Err(syntax(format!(
                    "unknown keyword {:?}",
                    String::from_utf8_lossy(other)
                )))
            }
        }
    }
    Ok(Policy {
        logs,
        witnesses,
        groups,
        quorum: quorum.ok_or(PolicyError::MissingQuorum)?,
    })
}

impl Policy {
    /// Whether the quorum holds when exactly the witnesses `cosigned[i] == true` (indexes
    /// into [`Policy::witnesses`]) have witnessed a checkpoint. Groups are evaluated in
    /// file order: each refers only to earlier names, so one pass suffices.
    pub fn quorum_met(&self, cosigned: &[bool]) -> bool {
        let witnessed = |m: Member, groups: &[bool]| match m {
            Member::Witness(i) => cosigned.get(i).copied().unwrap_or(false),
            Member::Group(g) => groups[g],
        };
        let mut group_ok = Vec::with_capacity(self.groups.len());
        for g in &self.groups {
            // A group witnesses when at least k of its n members have.
            let count = g
                .members
                .iter()
                .filter(|&&m| witnessed(m, &group_ok))
                .count();
            group_ok.push(count >= g.threshold);
        }
        match self.quorum {
            Quorum::None => true,
            Quorum::Of(m) => witnessed(m, &group_ok),
        }
    }

    /// Whether the quorum holds for the witnesses at `indexes`.
    pub fn quorum_met_by(&self, indexes: &[usize]) -> bool {
        let mut cosigned = vec![false; self.witnesses.len()];
        for &i in indexes {
            if let Some(c) = cosigned.get_mut(i) {
                *c = true;
            }
        }
        self.quorum_met(&cosigned)
    }

    /// Whether the policy needs any cosignature at all.
    pub fn needs_cosignatures(&self) -> bool {
        !matches!(self.quorum, Quorum::None) && !self.quorum_met(&[])
    }

    /// Verifies the cosignatures on `note`'s text that come from this policy's witnesses
    /// and returns the indexes of the witnesses that cosigned with their lines. Signature
    /// lines from unknown keys are ignored; a line from a known witness key that does not
    /// verify is an error (as signed-note asks of known keys).
    pub fn verify_cosignatures(
        &self,
        note: &note::Note,
    ) -> Result<(Vec<usize>, Vec<NoteSignature>), PolicyError> {
        let mut idx = Vec::new();
        let mut sigs = Vec::new();
        for sig in &note.signatures {
            let Some(w) = self
                .witnesses
                .iter()
                .position(|w| w.verifier.name() == &sig.name && w.verifier.key_id() == sig.key_id)
            else {
                continue;
            };
            self.witnesses[w]
                .verifier
                .verify_cosignature(&note.text, sig)
                .map_err(|e: CosignatureError| PolicyError::InvalidCosignature {
                    witness: self.witnesses[w].display_name(),
                    reason: e.to_string(),
                })?;
            if !idx.contains(&w) {
                idx.push(w);
                sigs.push(sig.clone());
            }
        }
        Ok((idx, sigs))
    }

    /// Checks a signed checkpoint against the policy: it must be signed by one of the
    /// policy's logs or by `extra_log` (the log key given on the command line, for policies
    /// without `log` lines), and cosigned by witnesses that satisfy the quorum.
    pub fn verify_checkpoint(
        &self,
        signed: &[u8],
        extra_log: Option<&Ed25519Verifier>,
    ) -> Result<PolicyVerified, PolicyError> {
        let mut verifiers: Vec<&dyn NoteVerifier> = self
            .logs
            .iter()
            .map(|l| &l.verifier as &dyn NoteVerifier)
            .collect();
        if let Some(k) = extra_log {
            if !self.logs.iter().any(|l| &l.verifier == k) {
                verifiers.push(k);
            }
        }
        if verifiers.is_empty() {
            return Err(PolicyError::LogSignature(
                "the policy lists no log and no log key was given".into(),
            ));
        }
        let (note, verified): (note::Note, Vec<NoteSignature>) = open_note(signed, &verifiers)
            .map_err(|e: NoteError| PolicyError::LogSignature(e.to_string()))?;
        let checkpoint = parse_checkpoint(&note.text)?;
        // tlog-policy §Defining a log: the log's key name is its origin.
        if !verified
            .iter()
            .any(|s| s.name.as_str() == checkpoint.origin)
        {
            return Err(PolicyError::LogSignature(format!(
                "no trusted log key is named after the origin {:?}",
                checkpoint.origin
            )));
        }
        let (cosigned_by, cosignatures) = self.verify_cosignatures(&note)?;
        if !self.quorum_met_by(&cosigned_by) {
            return Err(PolicyError::QuorumNotMet {
                got: cosigned_by.len(),
                names: cosigned_by
                    .iter()
                    .map(|&i| self.witnesses[i].display_name())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(PolicyVerified {
            checkpoint,
            note,
            cosigned_by,
            cosignatures,
        })
    }
}
