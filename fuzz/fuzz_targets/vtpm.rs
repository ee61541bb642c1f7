//! libFuzzer entry for the `vtpm` target; the harness is `fuzz_targets::vtpm`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::vtpm(data));
