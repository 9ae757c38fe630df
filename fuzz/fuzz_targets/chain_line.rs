#![no_main]
// The streaming chain verifier must return a report on any input, never panic, in both the
// seed-compatible and the pinned strict mode, whatever the line splitting.
use llm_audit_trail::core::chain::{verify_ledger, Anchor, ChainAlg, VerifyOptions};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let anchor = Anchor::new(1, "00");
    let _ = verify_ledger(data, VerifyOptions::seed_compatible(Some(b"k".to_vec()), Some(anchor.clone())));
    let _ = verify_ledger(data, VerifyOptions::seed_compatible(None, None));
    let _ = verify_ledger(
        data,
        VerifyOptions::pinned_strict(ChainAlg::HmacSha256 { key: b"k".to_vec() }, Some(anchor)),
    );
    let _ = verify_ledger(data, VerifyOptions::pinned_strict(ChainAlg::Sha256, None));
    let _ = Anchor::parse(data);
});
