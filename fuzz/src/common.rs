//! What every check shares: a reader that turns fuzz bytes into structured choices, the fixed
//! keys of the fuzz log and witnesses, and an honest log (a real tree of real entries) that
//! the fuzzer's inputs are measured against.
//!
//! Ed25519 signatures are deterministic (RFC 8032): the only valid signature the fuzz keys
//! ever make on a message is the one `sign` returns again. The fuzzer does not hold the keys,
//! so a signature that verifies but is not that one would be a forgery, and a checkpoint
//! that verifies was signed here, over an honest root.

use std::sync::{Mutex, OnceLock};

use llm_audit_trail::core::checkpoint::{sign_checkpoint, Checkpoint};
use llm_audit_trail::core::cosignature::CosignatureSigner;
use llm_audit_trail::core::entry::{
    body_digest, encode_body, encode_entry, format_timestamp, Body, EntryHeader,
};
use llm_audit_trail::core::hash::{leaf_hash, Hash};
use llm_audit_trail::core::json::{JsonNumber, JsonValue};
use llm_audit_trail::core::merkle::{tree_root, MemoryHashStore};
use llm_audit_trail::core::note::{sign_note, Ed25519Signer, NoteSignature, NoteSigner};
use llm_audit_trail::core::proof::{prove_consistency, prove_inclusion};

/// Reads structured choices from fuzz bytes; past the end every read yields zeros.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    /// Up to `n` bytes (fewer at the end).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.data.split_at(n.min(self.data.len()));
        self.data = tail;
        head
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }

    /// A big-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        let b = self.bytes(2);
        b.iter().fold(0u16, |acc, &x| (acc << 8) | u16::from(x))
    }

    /// A big-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        let b = self.bytes(8);
        b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
    }

    /// A number in `0..n` (0 when `n` is 0), from two bytes.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            u64::from(self.u16()) % n
        }
    }

    /// A 32-byte hash (zero-padded at the end of the input).
    pub fn hash(&mut self) -> Hash {
        let mut h = [0u8; 32];
        let b = self.bytes(32);
        h[..b.len()].copy_from_slice(b);
        Hash(h)
    }
}

/// Applies the fuzzer's edits (0 to 3) to an honest proof: a hash replaced, dropped,
/// duplicated, moved, bit-flipped, or an honest root inserted.
pub fn edit_proof(proof: &mut Vec<Hash>, input: &mut Input<'_>) {
    let edits = input.u8() % 4;
    for _ in 0..edits {
        let at = |input: &mut Input<'_>, len: usize| input.below(len.max(1) as u64) as usize;
        match input.u8() % 6 {
            0 if !proof.is_empty() => {
                let i = at(input, proof.len());
                proof[i] = input.hash();
            }
            1 if !proof.is_empty() => {
                let i = at(input, proof.len());
                proof.remove(i);
            }
            2 if !proof.is_empty() => {
                let i = at(input, proof.len());
                proof.insert(i, proof[i]);
            }
            3 if proof.len() >= 2 => {
                let i = at(input, proof.len());
                let j = at(input, proof.len());
                proof.swap(i, j);
            }
            4 => {
                // A hash from the honest tree: the root of some size.
                let n = input.below(TREE_LEAVES + 1);
                let i = at(input, proof.len() + 1);
                proof.insert(i, honest().root(n));
            }
            _ => {
                let i = at(input, proof.len());
                if let Some(h) = proof.get_mut(i) {
                    h.0[usize::from(input.u8() % 32)] ^= input.u8() | 1;
                }
            }
        }
    }
}

/// The origin of the fuzz log, and its key name.
pub const LOG_ORIGIN: &str = "fuzz.example/log";

/// The names of the fuzz witnesses.
pub const WITNESS_NAMES: [&str; 3] = ["witness-a.fuzz", "witness-b.fuzz", "witness-c.fuzz"];

/// The leaves of the honest tree.
pub const TREE_LEAVES: u64 = 1100;

/// The honest log's signing key.
pub fn log_signer() -> &'static Ed25519Signer {
    static S: OnceLock<Ed25519Signer> = OnceLock::new();
    S.get_or_init(|| Ed25519Signer::from_seed(LOG_ORIGIN, &[1; 32]).expect("valid name"))
}

/// The fuzz witnesses' cosigning keys.
pub fn witnesses() -> &'static [CosignatureSigner; 3] {
    static W: OnceLock<[CosignatureSigner; 3]> = OnceLock::new();
    W.get_or_init(|| {
        [0u8, 1, 2].map(|i| {
            CosignatureSigner::from_seed(WITNESS_NAMES[usize::from(i)], &[2 + i; 32])
                .expect("valid name")
        })
    })
}

/// Asserts that `sig`, which verified under the fuzz log key, is the signature that key
/// makes on `text`: anything else is a forgery.
pub fn assert_log_signature(text: &str, sig: &NoteSignature) {
    let want = log_signer()
        .sign(text.as_bytes())
        .expect("signing never fails");
    assert_eq!(sig.name.as_str(), LOG_ORIGIN);
    assert_eq!(sig.key_id, log_signer().key_id());
    assert_eq!(
        sig.signature, want,
        "a log signature verified that the key never made"
    );
}

/// Asserts that `sig`, which verified under one of the fuzz witness keys, is the cosignature
/// that witness makes on `text` at the timestamp it carries: anything else is a forgery.
pub fn assert_cosignature(text: &str, sig: &NoteSignature) {
    let w = witnesses()
        .iter()
        .find(|w| w.name() == &sig.name && w.key_id() == sig.key_id)
        .expect("a verified cosignature comes from a fuzz witness");
    assert_eq!(
        sig.signature.len(),
        72,
        "a cosignature is a timestamp and 64 bytes"
    );
    let ts = u64::from_be_bytes(sig.signature[..8].try_into().expect("8 bytes"));
    // The witness only ever signs well-formed checkpoints: an error here means a cosignature
    // verified on a text it never signs.
    let want = w
        .sign(text, ts)
        .expect("a verified cosignature is on a checkpoint text");
    assert_eq!(
        sig, &want,
        "a cosignature verified that the witness never made"
    );
}

/// The honest log: [`TREE_LEAVES`] real entries (`spec/entry.md`) with their bodies and
/// salts, the tree over them, and its root at every size.
pub struct HonestLog {
    /// The leaf bytes (canonical CBOR entries).
    pub entries: Vec<Vec<u8>>,
    /// The body bytes of each entry.
    pub bodies: Vec<Vec<u8>>,
    /// The salt of each body.
    pub salts: Vec<[u8; 32]>,
    /// The tree.
    pub store: MemoryHashStore,
    /// `roots[n]` is the root of the first `n` leaves (`roots[0]` the empty root).
    pub roots: Vec<Hash>,
    /// Signed checkpoints made so far, by size (signing is the slow part of some checks).
    signed: Mutex<Vec<Option<Vec<u8>>>>,
}

impl HonestLog {
    /// The leaf hash of leaf `i`.
    pub fn leaf(&self, i: u64) -> Hash {
        leaf_hash(&self.entries[i as usize])
    }

    /// The root of the tree of `n` leaves.
    pub fn root(&self, n: u64) -> Hash {
        self.roots[n as usize]
    }

    /// The inclusion proof of leaf `i` in the tree of `n` leaves.
    pub fn inclusion(&self, i: u64, n: u64) -> Vec<Hash> {
        prove_inclusion(i, n, &self.store).expect("proof of an honest leaf")
    }

    /// The consistency proof from `m` to `n` leaves (`1 <= m <= n`).
    pub fn consistency(&self, m: u64, n: u64) -> Vec<Hash> {
        prove_consistency(m, n, &self.store).expect("proof between honest sizes")
    }

    /// The honest checkpoint of `n` leaves.
    pub fn checkpoint(&self, n: u64) -> Checkpoint {
        Checkpoint {
            origin: LOG_ORIGIN.into(),
            tree_size: n,
            root_hash: self.root(n),
            extensions: Vec::new(),
        }
    }

    /// The honest checkpoint of `n` leaves, signed by the log.
    pub fn signed_checkpoint(&self, n: u64) -> Vec<u8> {
        let mut memo = self.signed.lock().unwrap_or_else(|e| e.into_inner());
        memo[n as usize]
            .get_or_insert_with(|| {
                sign_checkpoint(&self.checkpoint(n), log_signer()).expect("honest checkpoint signs")
            })
            .clone()
    }

    /// The honest checkpoint of `n` leaves, signed by the log and cosigned at `timestamp` by
    /// the witnesses whose bit is set in `mask`.
    pub fn cosigned_checkpoint(&self, n: u64, mask: u8, timestamp: u64) -> Vec<u8> {
        let text = self.checkpoint(n).to_text();
        let timed: Vec<_> = witnesses()
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, w)| w.at(timestamp))
            .collect();
        let mut signers: Vec<&dyn NoteSigner> = vec![log_signer()];
        signers.extend(timed.iter().map(|t| t as &dyn NoteSigner));
        sign_note(&text, &signers).expect("honest checkpoint signs")
    }
}

/// The honest log, built once per process.
pub fn honest() -> &'static HonestLog {
    static LOG: OnceLock<HonestLog> = OnceLock::new();
    LOG.get_or_init(|| {
        let mut log = HonestLog {
            entries: Vec::new(),
            bodies: Vec::new(),
            salts: Vec::new(),
            store: MemoryHashStore::new(),
            roots: Vec::new(),
            signed: Mutex::new(vec![None; TREE_LEAVES as usize + 1]),
        };
        for i in 0..TREE_LEAVES {
            let body = Body {
                actor: (i % 3 != 0).then(|| format!("actor-{}", i % 7)),
                details: JsonValue::Object(vec![
                    ("i".into(), JsonValue::Number(JsonNumber::Int(i.into()))),
                    ("accuracy".into(), JsonValue::Number(JsonNumber::Float(0.5))),
                ]),
            };
            let body_bytes = encode_body(&body).expect("honest body encodes");
            let salt = [(i % 251) as u8; 32];
            let header = EntryHeader {
                event_id: format!("00000000-0000-4000-8000-{i:012}"),
                timestamp: format_timestamp(1_767_225_600_000_000 + i as i64 * 1_000_000)
                    .expect("timestamp in range"),
                event_type: ["Evaluation", "TrainingRun", "Approval"][(i % 3) as usize].into(),
                system: Some("fuzz".into()),
                model_id: Some(format!("model-{}", i % 5)),
                dataset_id: (i % 4 == 0).then(|| "ds-1".to_string()),
                deployment_id: None,
                submitter: (i % 2 == 0).then(|| "ci".to_string()),
                body_digest: body_digest(&salt, &body_bytes),
            };
            let entry = encode_entry(&header).expect("honest entry encodes");
            log.store.push_leaf(leaf_hash(&entry));
            log.entries.push(entry);
            log.bodies.push(body_bytes);
            log.salts.push(salt);
        }
        log.roots = (0..=TREE_LEAVES)
            .map(|n| tree_root(n, &log.store).expect("root of a stored size"))
            .collect();
        log
    })
}
