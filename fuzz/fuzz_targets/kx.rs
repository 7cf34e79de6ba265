#![no_main]
// See qtls_fuzz::kx (fuzz/src/lib.rs) for the input format and the invariants checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| qtls_fuzz::kx(data));
