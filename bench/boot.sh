#!/usr/bin/env bash
# Benchmark: wall time from start to guest power-off, booting Debian's ppc64le kernel with a busybox initramfs
# whose /init prints a few lines and powers off. lpar and QEMU (qemu-system-ppc64 -M pseries,x-vof=on, the
# built-in client interface like lpar's; a benchmark peer only) on the same kernel and initramfs, one run.
# Prints a markdown table; not a test.
#
# Usage: bench/boot.sh [extra lpar/qemu -append words, e.g. disable_radix]
set -euo pipefail
cd "$(dirname "$0")/.."
export LPAR_ASSETS=${LPAR_ASSETS:-$HOME/.cache/lpar-assets}
scripts/fetch-assets.sh >/dev/null
if ! command -v qemu-system-ppc64 >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-ppc >/dev/null
fi
cargo build --release -q -p lpar
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox echo BENCH-INIT
/bin/busybox uname -r
/bin/busybox grep -m1 cpu /proc/cpuinfo
/bin/busybox poweroff -f
INIT
scripts/mkinitramfs.sh "$work/initrd.gz" "$work/init" >/dev/null
append="console=hvc0 quiet ${*:-}"
kernel=$LPAR_ASSETS/vmlinux

run() { # name command... : wall seconds and peak RSS KiB in $work/NAME.time
    local name=$1
    shift
    LPAR_JIT_STATS=1 /usr/bin/time -f "%e %M" -o "$work/$name.time" "$@" >"$work/$name.out" 2>&1 </dev/null || true
    grep -q BENCH-INIT "$work/$name.out" || { echo "$name did not reach init:" >&2; tail -5 "$work/$name.out" >&2; }
}

run lpar target/release/lpar -M pseries -m 1G -kernel "$kernel" -initrd "$work/initrd.gz" \
    -append "$append" -nographic -no-reboot
run qemu qemu-system-ppc64 -M pseries,x-vof=on -accel tcg -cpu power9 -m 1G -kernel "$kernel" \
    -initrd "$work/initrd.gz" -append "$append" -nographic -no-reboot -nodefaults -serial mon:stdio
read -r lp lm <"$work/lpar.time"
read -r qe qm <"$work/qemu.time"
# The translator's line (LPAR_JIT_STATS=1), summed over vCPUs: guest instructions, compile time
# (on the background thread), code size.
jit() { sed -n "s/.*jit: .*$1=\([0-9.]*\).*/\1/p" "$work/lpar.out" | awk '{ s += $1 } END { printf "%.1f\n", s }'; }
insns=$(jit insns) cms=$(jit compile_ms) kib=$(jit code_kib)
echo "| workload | lpar s | QEMU s | lpar/QEMU | lpar MIPS | compile / wall | code KiB | peak RSS MB lpar / QEMU |"
echo "|---|---|---|---|---|---|---|---|"
printf '| boot to init + power-off (%s) | %.2f | %.2f | %.2f | %.0f | %.0f%% | %.0f | %d / %d |\n' "${*:-radix}" \
    "$lp" "$qe" "$(echo "$lp / $qe" | bc -l)" "$(echo "$insns / $lp / 1000000" | bc -l)" \
    "$(echo "$cms / 10 / $lp" | bc -l)" "$kib" $((lm / 1024)) $((qm / 1024))
