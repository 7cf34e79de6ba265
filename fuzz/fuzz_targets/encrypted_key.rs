#![no_main]
// See qtls_fuzz::encrypted_key (fuzz/src/lib.rs) for the input format and the invariants checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| qtls_fuzz::encrypted_key(data));
