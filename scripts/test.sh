#!/usr/bin/env bash
# The project's whole test suite, from a fresh Debian machine: installs the tools and guest software the tests
# need (scripts/fetch-assets.sh), checks formatting and lints, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
export LPAR_ASSETS=${LPAR_ASSETS:-$HOME/.cache/lpar-assets}
scripts/fetch-assets.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace 2>&1
# Again with the translator off (`-accel tcg,jit=off`): the interpreter is the reference engine and
# must pass every test on its own too. Tests that name an engine explicitly keep it.
LPAR_JIT=off cargo test --workspace 2>&1
