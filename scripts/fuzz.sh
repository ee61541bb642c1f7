#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (libFuzzer, nightly Rust), each for a time budget, and
# prints one summary line per target. Exits non-zero if any target crashed, hung or ran out of
# memory; the input that did it is kept under fuzz/artifacts/<target>/ and its path printed.
#
#   scripts/fuzz.sh [--merge] [SECONDS_PER_TARGET] [TARGET...]
#
#   SECONDS_PER_TARGET  default 60
#   TARGET              default: every fuzz/fuzz_targets/*.rs
#   --merge             afterwards, merge the inputs that add coverage into fuzz/corpus/<target>/
#                       (libFuzzer -merge=1: only inputs with new coverage, smallest first)
#
# Environment: FUZZ_WORK (scratch corpora and logs, default /tmp/lpar-fuzz), FUZZ_SANITIZER
# (address, the default, or none: faster, but -malloc_limit_mb then only acts through RSS),
# FUZZ_RSS_MB (default 2048), FUZZ_MALLOC_MB (default 512), FUZZ_TIMEOUT (seconds per input,
# default 10), CARGO_BUILD_JOBS (default 1: the build shares the machine).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$root/fuzz"
work=${FUZZ_WORK:-/tmp/lpar-fuzz}
san=${FUZZ_SANITIZER:-address}
rss=${FUZZ_RSS_MB:-2048}
malloc=${FUZZ_MALLOC_MB:-512}
timeout=${FUZZ_TIMEOUT:-10}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

merge=0
secs=60
targets=()
for a in "$@"; do
    case $a in
        --merge) merge=1 ;;
        -h | --help)
            sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *[!0-9]*) targets+=("$a") ;;
        *) secs=$a ;;
    esac
done
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$fuzz"/fuzz_targets/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi
for t in "${targets[@]}"; do
    [ -f "$fuzz/fuzz_targets/$t.rs" ] || { echo "fuzz.sh: no target '$t'" >&2; exit 2; }
done

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh: needs a nightly toolchain (rustup toolchain install nightly)" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version > /dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz
fi

# -a: debug assertions and overflow checks, as in the test builds: an arithmetic overflow on a
# guest value is a bug even where a release build would wrap silently.
# Built once, then the binaries run directly: sources edited meanwhile must not trigger a rebuild
# in the middle of a campaign (nor a build failure be taken for a crash).
cd "$fuzz"
nice -n 10 cargo +nightly fuzz build -a --sanitizer "$san" >&2
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin="$fuzz/target/$triple/release"

mkdir -p "$work/logs"
failed=0
printf '%-18s %8s %14s %10s %8s  %s\n' target seconds executions exec/s crashes result
for t in "${targets[@]}"; do
    scratch="$work/corpus/$t"
    log="$work/logs/$t.log"
    mkdir -p "$scratch" "$fuzz/artifacts/$t"
    start=$(date +%s)
    set +e
    # New inputs go to the scratch corpus (the first directory); the committed seeds are read only.
    nice -n 10 "$bin/$t" "$scratch" "$fuzz/corpus/$t" \
        -max_total_time="$secs" -rss_limit_mb="$rss" -malloc_limit_mb="$malloc" \
        -timeout="$timeout" -print_final_stats=1 -artifact_prefix="$fuzz/artifacts/$t/" \
        > "$log" 2>&1
    rc=$?
    set -e
    elapsed=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    kind=$(sed -n 's/^SUMMARY: libFuzzer: \(.*\)$/\1/p' "$log" | tail -n 1)
    if [ $rc -eq 0 ] && [ -z "$artifact" ]; then
        crashes=0
        result=ok
    else
        crashes=1
        result="FAILED (${kind:-exit $rc}) ${artifact:-see $log}"
        failed=1
    fi
    printf '%-18s %8s %14s %10s %8s  %s\n' "$t" "$elapsed" "${execs:-?}" "${rate:-?}" "$crashes" "$result"
    if [ $merge -eq 1 ] && [ $crashes -eq 0 ]; then
        nice -n 10 "$bin/$t" "$fuzz/corpus/$t" "$scratch" \
            -merge=1 -rss_limit_mb="$rss" -malloc_limit_mb="$malloc" -timeout="$timeout" \
            > "$work/logs/$t.merge.log" 2>&1 ||
            echo "fuzz.sh: merge of $t failed, see $work/logs/$t.merge.log" >&2
    fi
done
echo "logs: $work/logs" >&2
exit $failed
