//! libFuzzer entry for the `devtree` target; the harness is `fuzz_targets::devtree`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::devtree(data));
