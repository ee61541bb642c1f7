//! libFuzzer entry for the `tce` target; the harness is `fuzz_targets::tce`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::tce(data));
