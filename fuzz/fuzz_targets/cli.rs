//! libFuzzer entry for the `cli` target; the harness is `fuzz_targets::cli`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::cli(data));
