//! libFuzzer entry for the `rtas` target; the harness is `fuzz_targets::rtas`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::rtas(data));
