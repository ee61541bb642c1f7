//! libFuzzer entry for the `client_interface` target; the harness is `fuzz_targets::client_interface`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::client_interface(data));
