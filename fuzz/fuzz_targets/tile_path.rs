#![no_main]
// Tile paths and entry bundles from untrusted bytes: parsing never panics, and whatever parses
// prints back to exactly the same bytes (the parser is strict) and round-trips.
use llm_audit_trail::core::tiles::{encode_entry_bundle, parse_entry_bundle, TilePath};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = TilePath::parse(s) {
            assert_eq!(t.to_path(), s);
            assert_eq!(TilePath::parse(&t.to_path()), Ok(t));
        }
    }
    if let Ok(entries) = parse_entry_bundle(data) {
        assert_eq!(encode_entry_bundle(&entries).as_deref(), Ok(data));
    }
});
