//! libFuzzer entry for the `hcall` target; the harness is `fuzz_targets::hcall`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::hcall(data));
