//! Differential testing of lpar against qemu-user (the oracle).
//!
//! - `harness`: builds guest programs with the Debian cross compilers (powerpc64le-linux-gnu-gcc,
//!   powerpc64-linux-gnu-gcc) and runs them under lpar-user and qemu-ppc64le / qemu-ppc64;
//! - `rng`, `gen`, `templates`: the seeded random single-instruction test generator.
//!
//! Tests: `tests/hand.rs` runs the hand-written programs of `progs/` (libc-free C with inline asm,
//! printing hex) in both byte orders; `tests/random.rs` runs the random generator per instruction
//! group. A missing cross compiler or qemu fails the tests ("run scripts/fetch-assets.sh").
//!
//! Environment:
//! - `LPAR_DIFF_SEED=N` (decimal or 0x-hex): seed for all random tests instead of the fixed ones;
//! - `LPAR_DIFF_CASES=N`: number of cases per random test;
//! - `LPAR_DIFF_NO_BUILD=1`: use target/<profile>/lpar-user as it is (by default the tests run
//!   `cargo build -p lpar-user` once, a no-op when it is up to date);
//! - `LPAR_DIFF_LPAR=prog`: run `prog` instead of lpar-user (self-check: a wrapper that runs qemu
//!   makes every test pass).
//!
//! Build outputs, both emulators' outputs and, for each failing random template, a one-case
//! reproduction program (`case-N.s`) go to `target/difftest/<test>/`.

pub mod gen;
pub mod harness;
pub mod rng;
pub mod templates;
