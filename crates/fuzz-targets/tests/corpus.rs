//! Replays every committed seed in `fuzz/corpus/<target>/`, every reproducer in
//! `fuzz/regressions/<target>/` and a few hundred deterministic pseudo-random inputs through each
//! target, so the harnesses and the invariants they check run in `cargo test` on stable Rust,
//! without cargo-fuzz.

use std::path::{Path, PathBuf};

/// Pseudo-random inputs per target.
const RANDOM_INPUTS: usize = 300;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn regressions_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target)
}

/// xorshift64: fixed seed, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn committed_corpora() {
    for &(name, target) in fuzz_targets::TARGETS {
        let dir = corpus_dir(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: no seeds", dir.display());
        // Reproducers of fixed (or known) bugs, where a target has any.
        if let Ok(rd) = std::fs::read_dir(regressions_dir(name)) {
            let mut more: Vec<PathBuf> = rd.map(|e| e.expect("directory entry").path()).collect();
            more.sort();
            files.extend(more);
        }
        for f in files {
            let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            println!("{name}: {}", f.display());
            target(&data);
        }
    }
}

#[test]
fn random_inputs() {
    for (i, &(name, target)) in fuzz_targets::TARGETS.iter().enumerate() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1));
        for n in 0..RANDOM_INPUTS {
            // Lengths from empty to a few hundred bytes; bytes either random or mostly small, as
            // argument decoders treat small selectors specially.
            let len = (rng.next() % 512) as usize * (n % 4 + 1) / 4;
            let small = rng.next().is_multiple_of(2);
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    let r = rng.next() as u8;
                    if small {
                        r % 16
                    } else {
                        r
                    }
                })
                .collect();
            target(&data);
        }
        println!("{name}: {RANDOM_INPUTS} random inputs");
    }
}

/// Random code through the translator: every block translated at its first arrival, half of the
/// inputs checked instruction by instruction against the interpreter (a divergence fails), half
/// run with chaining and regions. Any model, byte order, privilege and MMU.
#[test]
fn random_code_through_the_translator() {
    let mut rng = Rng(0x005e_ed0f_7a45_1a7e);
    // LPAR_FUZZ_JIT_INPUTS runs more (a longer hunt by hand).
    let inputs = std::env::var("LPAR_FUZZ_JIT_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    for n in 0..inputs {
        let len = 12 + (rng.next() % 1024) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Byte 2, bits 5-6: the engine (1: lockstep check, 2: translated and chained).
        data[2] = (data[2] & !0x60) | if n % 2 == 0 { 0x20 } else { 0x40 };
        // Mostly plausible code: primary opcodes the translator handles inline, with random
        // operands, so blocks run for a while before they fault.
        for w in data[12..].chunks_mut(4) {
            if w.len() == 4 && !rng.next().is_multiple_of(4) {
                let ops = [
                    14u32, 15, 24, 21, 30, 31, 31, 31, 32, 36, 58, 62, 11, 10, 16, 18,
                ];
                let op = ops[(rng.next() % ops.len() as u64) as usize];
                let word = op << 26 | (rng.next() as u32 & 0x03ff_ffff);
                w.copy_from_slice(&word.to_le_bytes());
            }
        }
        fuzz_targets::insn_exec(&data);
    }
}
