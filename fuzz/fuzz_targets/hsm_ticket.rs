#![no_main]
// See qtls_fuzz::hsm_ticket (fuzz/src/lib.rs) for the input format and the invariants checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| qtls_fuzz::hsm_ticket(data));
