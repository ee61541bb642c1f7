//! libFuzzer entry for the `vlan` target; the harness is `fuzz_targets::vlan`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::vlan(data));
