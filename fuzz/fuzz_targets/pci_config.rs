//! libFuzzer entry for the `pci_config` target; the harness is `fuzz_targets::pci_config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::pci_config(data));
