#![no_main]
// The JSON parser must return Ok or Err on any bytes, never panic; whatever it accepts,
// python_dumps_sorted must print as JSON that parses back to the same text.
use llm_audit_trail::core::json::{parse, python_dumps_sorted, to_json_string, ParseOptions};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for options in [ParseOptions::PYTHON, ParseOptions::STRICT] {
        if let Ok(v) = parse(data, options) {
            let text = python_dumps_sorted(&v);
            let back = parse(text.as_bytes(), ParseOptions::PYTHON).expect("dumps output parses");
            assert_eq!(python_dumps_sorted(&back), text);
            let _ = to_json_string(&v);
        }
    }
});
