//! libFuzzer entry for the `insn_exec` target; the harness is `fuzz_targets::insn_exec`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::insn_exec(data));
