//! libFuzzer entry for the `vscsi` target; the harness is `fuzz_targets::vscsi`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::vscsi(data));
