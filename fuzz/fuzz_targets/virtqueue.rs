//! libFuzzer entry for the `virtqueue` target; the harness is `fuzz_targets::virtqueue`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::virtqueue(data));
