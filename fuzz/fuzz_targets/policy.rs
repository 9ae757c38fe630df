#![no_main]
// The tlog-policy parser never panics, and quorum evaluation of any parsed policy over any
// set of witnesses terminates without panicking.
use llm_audit_trail::core::policy::parse_policy;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(p) = parse_policy(data) {
        let n = p.witnesses.len();
        for mask in 0..(1u32 << n.min(8)) {
            let set: Vec<usize> = (0..n.min(8)).filter(|i| mask & (1 << i) != 0).collect();
            let _ = p.quorum_met_by(&set);
        }
        let _ = p.verify_checkpoint(data, None);
    }
});
