//! Witness policies (`core::policy`, C2SP tlog-policy).
//!
//! The input is a policy file, optionally followed by a NUL byte and a signed checkpoint note
//! (NUL is valid in neither, so the split is unambiguous).
//!
//! - The parser never panics; a parsed policy printed back in canonical form parses to the
//!   same policy.
//! - The quorum is evaluated as the spec defines it (a recursive reference evaluation agrees
//!   on every witness set) and is monotone: more cosignatures never lose the quorum.
//! - `verify_checkpoint` on the note after the NUL: whatever it accepts was signed by the fuzz
//!   log and cosigned by fuzz witnesses for real, and meets the quorum.
//! - Completeness: the honest checkpoint, signed by the log and cosigned by every fuzz
//!   witness, satisfies the policy exactly when the policy trusts the log and the fuzz
//!   witnesses it lists make its quorum.

use std::sync::OnceLock;

use llm_audit_trail::core::note::NoteSigner;
use llm_audit_trail::core::policy::{parse_policy, Member, Policy, Quorum};

use super::common::{
    assert_cosignature, assert_log_signature, honest, log_signer, witnesses, TREE_LEAVES,
};

/// The spec's definition, evaluated recursively.
fn witnessed(p: &Policy, m: Member, cosigned: &[bool]) -> bool {
    match m {
        Member::Witness(i) => cosigned[i],
        Member::Group(g) => {
            let group = &p.groups[g];
            let count = group
                .members
                .iter()
                .filter(|&&m| witnessed(p, m, cosigned))
                .count();
            count >= group.threshold
        }
    }
}

fn reference_quorum(p: &Policy, cosigned: &[bool]) -> bool {
    match p.quorum {
        Quorum::None => true,
        Quorum::Of(m) => witnessed(p, m, cosigned),
    }
}

/// The policy in canonical form: one line per item, single spaces.
fn print(p: &Policy) -> Vec<u8> {
    let name = |m: Member| -> &[u8] {
        match m {
            Member::Witness(i) => &p.witnesses[i].name,
            Member::Group(g) => &p.groups[g].name,
        }
    };
    let mut out = Vec::new();
    for l in &p.logs {
        out.extend_from_slice(format!("log {}", l.verifier.to_vkey()).as_bytes());
        if let Some(u) = &l.url {
            out.extend_from_slice(format!(" {u}").as_bytes());
        }
        out.push(b'\n');
    }
    for w in &p.witnesses {
        out.extend_from_slice(b"witness ");
        out.extend_from_slice(&w.name);
        out.extend_from_slice(format!(" {}", w.verifier.to_vkey()).as_bytes());
        if let Some(u) = &w.url {
            out.extend_from_slice(format!(" {u}").as_bytes());
        }
        out.push(b'\n');
    }
    for g in &p.groups {
        out.extend_from_slice(b"group ");
        out.extend_from_slice(&g.name);
        out.extend_from_slice(format!(" {}", g.threshold).as_bytes());
        for &m in &g.members {
            out.push(b' ');
            out.extend_from_slice(name(m));
        }
        out.push(b'\n');
    }
    match p.quorum {
        Quorum::None => out.extend_from_slice(b"quorum none\n"),
        Quorum::Of(m) => {
            out.extend_from_slice(b"quorum ");
            out.extend_from_slice(name(m));
            out.push(b'\n');
        }
    }
    out
}

/// The honest checkpoint of 5 leaves, signed by the log and cosigned by all fuzz witnesses.
fn fully_cosigned() -> &'static [u8] {
    static NOTE: OnceLock<Vec<u8>> = OnceLock::new();
    NOTE.get_or_init(|| honest().cosigned_checkpoint(5, 0b111, 1_767_225_600))
}

/// Runs the checks on one input.
pub fn check(data: &[u8]) {
    let (policy_bytes, note) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(p) = parse_policy(policy_bytes) else {
        return;
    };
    // Canonical form round-trips. Logs and witnesses are printed first, which the spec allows
    // (groups and the quorum only refer back).
    let printed = print(&p);
    assert_eq!(
        parse_policy(&printed).as_ref(),
        Ok(&p),
        "canonical form of the policy"
    );

    // The quorum against the reference over witness sets (all of them for up to 10
    // witnesses, a sample above), and monotone: adding a witness never loses it.
    let n = p.witnesses.len();
    let exhaustive = n <= 10;
    let sets: u64 = if exhaustive { 1 << n } else { 1024 };
    let mut met_by_mask = Vec::with_capacity(sets as usize);
    for s in 0..sets {
        let mask = if exhaustive {
            s
        } else {
            s.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        };
        let cosigned: Vec<bool> = (0..n).map(|i| mask >> (i % 64) & 1 == 1).collect();
        let met = p.quorum_met(&cosigned);
        assert_eq!(
            met,
            reference_quorum(&p, &cosigned),
            "quorum over {cosigned:?}"
        );
        let by: Vec<usize> = (0..n).filter(|&i| cosigned[i]).collect();
        assert_eq!(p.quorum_met_by(&by), met);
        met_by_mask.push(met);
    }
    if exhaustive {
        for (mask, &met) in met_by_mask.iter().enumerate() {
            for i in 0..n {
                assert!(!met || met_by_mask[mask | 1 << i], "the quorum is monotone");
            }
        }
    }
    assert_eq!(
        p.needs_cosignatures(),
        !reference_quorum(&p, &vec![false; n])
    );

    // Soundness on the fuzzed note.
    if let Some(note) = note {
        if let Ok(v) = p.verify_checkpoint(note, Some(&log_signer().verifier())) {
            let log_sig = v
                .note
                .signatures
                .iter()
                .find(|s| s.name == *log_signer().name() && s.key_id == log_signer().key_id());
            let sig = log_sig.expect("only the fuzz log key can have signed");
            assert_log_signature(&v.note.text, sig);
            assert!(v.checkpoint.tree_size <= TREE_LEAVES);
            assert_eq!(
                v.checkpoint.root_hash,
                honest().root(v.checkpoint.tree_size)
            );
            for sig in &v.cosignatures {
                assert_cosignature(&v.note.text, sig);
            }
            assert!(p.quorum_met_by(&v.cosigned_by));
        }
    }

    // Completeness on the fully cosigned honest checkpoint.
    let log_trusted = p.logs.iter().any(|l| l.verifier == log_signer().verifier());
    let ours: Vec<bool> = p
        .witnesses
        .iter()
        .map(|w| witnesses().iter().any(|f| f.verifier() == w.verifier))
        .collect();
    let expected = log_trusted && reference_quorum(&p, &ours);
    let got = p.verify_checkpoint(fully_cosigned(), None);
    assert_eq!(
        got.is_ok(),
        expected,
        "policy verdict on the honest checkpoint: {got:?}"
    );
}
