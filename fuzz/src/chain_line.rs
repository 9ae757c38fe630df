//! The seed-compatible JSONL hash chain (`core::chain`).
//!
//! - Any bytes, as a ledger or an anchor, in the seed-compatible and the pinned strict
//!   modes: a report, never a panic.
//! - Model check: a ledger written by `build_record_line` from fuzzed fields (details parsed
//!   from the input, SHA-256 or HMAC) verifies in both modes, with its head.
//! - Tamper evidence: the same ledger with any edit (a byte changed, inserted or deleted, a
//!   line dropped, duplicated or swapped, the tail cut) fails the pinned strict verifier
//!   anchored at its last record.

use llm_audit_trail::core::chain::{
    build_record_line, verify_ledger, Anchor, ChainAlg, RecordFields, VerifyOptions, VerifyReport,
    GENESIS, SCHEMA_VERSION,
};
use llm_audit_trail::core::json::{parse, JsonValue, ParseOptions};

use super::common::Input;

/// A short string from the input, or `None`.
fn opt_string(input: &mut Input<'_>) -> Option<String> {
    let len = input.u8();
    (len % 4 != 0).then(|| String::from_utf8_lossy(input.bytes(usize::from(len % 24))).into_owned())
}

/// Runs the checks on one input.
pub fn check(data: &[u8]) {
    // Raw bytes: never a panic.
    let anchor = Anchor::new(1, "00");
    let key = b"k".to_vec();
    let _ = verify_ledger(
        data,
        VerifyOptions::seed_compatible(Some(key.clone()), Some(anchor.clone())),
    );
    let _ = verify_ledger(data, VerifyOptions::seed_compatible(None, None));
    let _ = verify_ledger(
        data,
        VerifyOptions::pinned_strict(ChainAlg::HmacSha256 { key: key.clone() }, Some(anchor)),
    );
    let _ = verify_ledger(data, VerifyOptions::pinned_strict(ChainAlg::Sha256, None));
    if let Ok(a) = Anchor::parse(data) {
        let _ = verify_ledger(data, VerifyOptions::seed_compatible(None, Some(a)));
    }

    // A ledger written from the input.
    let mut input = Input::new(data);
    let alg = if input.u8() % 2 == 0 {
        ChainAlg::Sha256
    } else {
        ChainAlg::HmacSha256 { key: key.clone() }
    };
    let records = 1 + u64::from(input.u8() % 4);
    let mut ledger = Vec::new();
    let mut prev = GENESIS.to_string();
    let mut line_starts = Vec::new();
    for seq in 0..records {
        let details_len = usize::from(input.u8() % 64);
        let details = parse(input.bytes(details_len), ParseOptions::PYTHON)
            .ok()
            .filter(|v| !v.contains_non_finite())
            .unwrap_or(JsonValue::Object(Vec::new()));
        let fields = RecordFields {
            schema_version: SCHEMA_VERSION.into(),
            seq,
            event_id: format!("00000000-0000-4000-8000-{seq:012}"),
            timestamp: "2026-01-02T09:15:04.123456Z".into(),
            event_type: opt_string(&mut input).unwrap_or_else(|| "Evaluation".into()),
            actor: opt_string(&mut input),
            system: opt_string(&mut input),
            model_id: opt_string(&mut input),
            dataset_id: None,
            deployment_id: None,
            details,
            extra: Vec::new(),
        };
        let line = build_record_line(&fields, &prev, &alg).expect("a record builds");
        prev = line.curr_hash.clone();
        line_starts.push(ledger.len());
        ledger.extend_from_slice(line.line.as_bytes());
    }
    let last_seq = records - 1;
    let strict = |bytes: &[u8]| {
        verify_ledger(
            bytes,
            VerifyOptions::pinned_strict(alg.clone(), Some(Anchor::new(last_seq, &prev))),
        )
        .expect("valid options")
    };
    match strict(&ledger) {
        VerifyReport::Ok { events, head } => {
            assert_eq!(events, records);
            assert_eq!(
                head.get("hash").and_then(JsonValue::as_str),
                Some(prev.as_str())
            );
        }
        VerifyReport::Failed(f) => panic!("an honest ledger failed: {f}"),
    }
    let seed_key = match &alg {
        ChainAlg::Sha256 => None,
        ChainAlg::HmacSha256 { key } => Some(key.clone()),
    };
    let report = verify_ledger(&ledger, VerifyOptions::seed_compatible(seed_key, None));
    assert!(
        report.expect("valid options").is_ok(),
        "the seed's verifier accepts it"
    );

    // One edit, chosen by the input.
    let mut tampered = ledger.clone();
    let pos = input.below(ledger.len() as u64) as usize;
    let line_of = |pos: usize| line_starts.iter().rposition(|&s| s <= pos).unwrap_or(0);
    let line_range = |k: usize| {
        let end = line_starts.get(k + 1).copied().unwrap_or(ledger.len());
        line_starts[k]..end
    };
    match input.u8() % 7 {
        0 => tampered[pos] ^= input.u8() | 1,
        1 => tampered.insert(pos, input.u8()),
        2 => {
            let len = 1 + input.below(8) as usize;
            tampered.drain(pos..(pos + len).min(ledger.len()));
        }
        3 => {
            tampered.drain(line_range(line_of(pos)));
        }
        4 => {
            let r = line_range(line_of(pos));
            let copy = ledger[r.clone()].to_vec();
            tampered.splice(r.start..r.start, copy);
        }
        5 if records >= 2 => {
            let k = line_of(pos).min(records as usize - 2);
            let (a, b) = (line_range(k), line_range(k + 1));
            tampered = [
                &ledger[..a.start],
                &ledger[b.clone()],
                &ledger[a],
                &ledger[b.end..],
            ]
            .concat();
        }
        _ => tampered.truncate(pos),
    }
    if tampered != ledger {
        assert!(
            !strict(&tampered).is_ok(),
            "an edited ledger passed the pinned strict verifier"
        );
    }
}
