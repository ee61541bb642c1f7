#!/usr/bin/env bash
# Benchmark: user-mode workloads of Debian's ppc64el busybox (md5sum, sha256sum, sort -r, gzip -c,
# gunzip, bzip2 -c, awk, sed, wc) on deterministic 16 MiB inputs, under lpar-user (release build)
# and qemu-ppc64le in the same run. Each workload's output under lpar must equal QEMU's (checked).
# Prints a markdown table (wall seconds, best of BENCH_RUNS; lpar/QEMU ratio; lpar guest MIPS from
# LPAR_USER_STATS=1) and writes it into its section of BENCHMARKS.md. Not a test: CI never runs it.
#
# Usage: bench/run.sh [--no-write]
#   BENCH_RUNS=N    runs per workload and emulator, best time kept (default 1)
#   BENCH_MIB=N     input size in MiB (default 16)
#   LPAR_ASSETS     asset cache (default ~/.cache/lpar-assets; see scripts/fetch-assets.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
write=1
[ "${1:-}" = "--no-write" ] && write=0
runs=${BENCH_RUNS:-1}
mib=${BENCH_MIB:-16}
assets=${LPAR_ASSETS:-$HOME/.cache/lpar-assets}
bb=$assets/busybox-ppc64el
qemu=$(command -v qemu-ppc64le || true)
if [ ! -x "$bb" ] || [ -z "$qemu" ]; then
    echo "bench: busybox-ppc64el or qemu-ppc64le missing: run scripts/fetch-assets.sh" >&2
    exit 1
fi

cargo build --release -q -p lpar-user
lpar=$root/target/release/lpar-user
work=$root/target/bench
mkdir -p "$work"

# Deterministic text input: lines of words from a fixed vocabulary and numbers, from a 64-bit LCG,
# so every machine benchmarks the same bytes. Regenerated only when the size changes.
input=$work/text-$mib.txt
if [ ! -s "$input" ]; then
    perl -e '
        use strict; use integer;
        my $want = $ARGV[0] * 1024 * 1024;
        my @w = qw(alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike
                   november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee
                   zulu power vector scalar branch cache page table kernel user guest host);
        my $x = 2685821657736338717;
        my ($out, $n) = ("", 0);
        while ($n < $want) {
            my $line = "";
            my $k = 3 + (($x >> 33) & 7);
            for my $i (1 .. $k) {
                $x = $x * 6364136223846793005 + 1442695040888963407;
                $line .= $w[(($x >> 33) & 0x7fffffff) % @w] . " ";
            }
            $x = $x * 6364136223846793005 + 1442695040888963407;
            $line .= ((($x >> 20) & 0xfffff) - 0x7ffff) . "\n";
            $line = substr($line, 0, $want - $n) if $n + length $line > $want;
            $out .= $line;
            $n += length $line;
            if (length $out > 65536) { print $out; $out = ""; }
        }
        print $out;
    ' "$mib" >"$input.tmp"
    mv "$input.tmp" "$input"
fi

now() { date +%s.%N; }

# run_one TAG OUTFILE CMD... : runs CMD with stdout to OUTFILE, stderr to OUTFILE.err; echoes seconds.
run_one() {
    local out=$1
    shift
    local t0 t1
    t0=$(now)
    if ! /usr/bin/time -f "%M" -o "$out.rss" "$@" >"$out" 2>"$out.err"; then
        echo "bench: failed: $* (see $out.err)" >&2
        return 1
    fi
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

best() { # min of arguments
    printf '%s\n' "$@" | sort -g | head -n1
}

gz=$work/text-$mib.gz
declare -a rows
status=0
bench() { # NAME ARGS... (busybox applet and arguments)
    local name=$1
    shift
    local lt=() qt=() i t icount=""
    for ((i = 0; i < runs; i++)); do
        t=$(LPAR_USER_STATS=1 LPAR_JIT_STATS=1 run_one "$work/lpar.out" "$lpar" "$bb" "$@") || { status=1; return; }
        lt+=("$t")
        t=$(run_one "$work/qemu.out" "$qemu" -cpu power9 "$bb" "$@") || { status=1; return; }
        qt+=("$t")
    done
    local l q
    l=$(best "${lt[@]}")
    q=$(best "${qt[@]}")
    icount=$(sed -n 's/^lpar-user: \([0-9]*\) instructions$/\1/p' "$work/lpar.out.err" | tail -n1)
    local same="yes"
    cmp -s "$work/lpar.out" "$work/qemu.out" || { same="NO"; status=1; }
    local mips="n/a"
    [ -n "$icount" ] && mips=$(awk -v n="$icount" -v t="$l" 'BEGIN { printf "%.0f", n / t / 1e6 }')
    local ratio
    ratio=$(awk -v a="$l" -v b="$q" 'BEGIN { printf "%.2f", a / b }')
    # The translator's line (LPAR_JIT_STATS=1) of the last run: compile time (background thread)
    # and code size; peak RSS of both emulators.
    local cms kib
    cms=$(sed -n 's/.*jit: .*compile_ms=\([0-9.]*\).*/\1/p' "$work/lpar.out.err" | tail -n1)
    kib=$(sed -n 's/.*jit: .*code_kib=\([0-9]*\).*/\1/p' "$work/lpar.out.err" | tail -n1)
    local rss="$(($(cat "$work/lpar.out.rss") / 1024)) / $(($(cat "$work/qemu.out.rss") / 1024))"
    rows+=("| $name | $(printf '%.2f' "$l") | $(printf '%.2f' "$q") | $ratio | $mips | ${cms:-n/a} | ${kib:-n/a} | $rss | $same |")
    echo "bench: $name: lpar $(printf '%.2f' "$l") s, qemu $(printf '%.2f' "$q") s, outputs equal: $same" >&2
    if [ "$name" = "gzip -c" ]; then
        cp "$work/qemu.out" "$gz"
    fi
}

bench "md5sum" md5sum "$input"
bench "sha256sum" sha256sum "$input"
bench "sort -r" sort -r "$input"
bench "gzip -c" gzip -c "$input"
[ -s "$gz" ] && bench "gunzip" gunzip -c "$gz"
bench "bzip2 -c" bzip2 -c "$input"
bench "awk" awk '{ s += $NF; n[$1]++ } END { for (k in n) c++; print s, c, NR }' "$input"
bench "sed" sed -e 's/a\([a-z]*\)o/O\1A/g' -e '/^zulu/d' "$input"
bench "wc" wc -l -w -c "$input"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
load=$(cut -d' ' -f1 /proc/loadavg)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
qver=$("$qemu" --version | head -n1 | sed 's/.*version \([^ ]*\).*/\1/')
table=$(
    echo "| workload | lpar s | QEMU s | lpar/QEMU | lpar MIPS | compile ms | code KiB | peak RSS MB lpar / QEMU | same output |"
    echo "|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
)
section=$(
    cat <<EOF
<!-- bench/run.sh begin: generated, do not edit by hand -->
## User-mode busybox workloads (bench/run.sh)

Debian's static ppc64el busybox run by \`lpar-user\` (release build) and by \`qemu-ppc64le -cpu power9\`
(QEMU $qver, user mode: a benchmark peer only) on the same deterministic ${mib} MiB text file; wall
seconds, best of $runs run(s) each. "lpar MIPS" is guest instructions retired per second under lpar
(LPAR_USER_STATS=1); "compile ms" is the translator's compile time (on its background thread) and
"code KiB" the host code it made (LPAR_JIT_STATS=1). The script checks that both outputs are identical.

Machine: $(nproc) cores, ${cpu:-unknown CPU}, $(date -u +%Y-%m-%d), commit $rev; load average at the
end of the run $load (other jobs slow both emulators alike).

$table

Reproduce: \`bench/run.sh\` (BENCH_RUNS=3 for best of three; \`--no-write\` to only print).
<!-- bench/run.sh end -->
EOF
)
echo
echo "$table"

if [ $write -eq 1 ]; then
    f=$root/BENCHMARKS.md
    [ -f "$f" ] || printf '# Benchmarks\n\n' >"$f"
    # Replace our section (between the markers) or append it; other sections stay as they are.
    SECTION="$section" perl -0 -i -pe '
        my $s = $ENV{SECTION};
        if (!s/<!-- bench\/run\.sh begin.*?<!-- bench\/run\.sh end -->/$s/s) { $_ .= "\n" . $s . "\n"; }
    ' "$f"
    echo "bench: wrote the table into BENCHMARKS.md" >&2
fi
if [ $status -ne 0 ]; then
    echo "bench: some workload failed or lpar's output differed from QEMU's" >&2
fi
exit $status
