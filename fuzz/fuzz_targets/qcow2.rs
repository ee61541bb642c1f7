//! libFuzzer entry for the `qcow2` target; the harness is `fuzz_targets::qcow2`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::qcow2(data));
