#![no_main]
// The checks are in src/chain_line.rs (shared with tests/fuzz_seeds.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| llm_audit_trail_fuzz::chain_line::check(data));
