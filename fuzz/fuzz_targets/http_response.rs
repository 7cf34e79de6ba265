#![no_main]
// See qtls_fuzz::http_response (fuzz/src/lib.rs) for the input format and the invariants checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| qtls_fuzz::http_response(data));
