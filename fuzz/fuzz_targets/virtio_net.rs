//! libFuzzer entry for the `virtio_net` target; the harness is `fuzz_targets::virtio_net`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::virtio_net(data));
