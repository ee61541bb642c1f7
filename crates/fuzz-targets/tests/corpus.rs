//! Replays every committed seed in `fuzz/corpus/<target>/` and a few hundred deterministic
//! pseudo-random inputs through each target, so the harnesses and the invariants they check run in
//! `cargo test` on stable Rust, without cargo-fuzz.

use std::path::{Path, PathBuf};

/// Pseudo-random inputs per target.
const RANDOM_INPUTS: usize = 300;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
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
        for f in files {
            let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            println!("{name}: {}", f.display());
            target(&data);
        }
        println!("{name}: {RANDOM_INPUTS} random inputs");
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
