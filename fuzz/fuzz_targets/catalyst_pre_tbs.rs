#![no_main]
// See qtls_fuzz::catalyst_pre_tbs (fuzz/src/lib.rs) for the input format and the invariants checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| qtls_fuzz::catalyst_pre_tbs(data));
