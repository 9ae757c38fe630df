#![no_main]
// The checks are in src/policy.rs (shared with tests/fuzz_seeds.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| llm_audit_trail_fuzz::policy::check(data));
