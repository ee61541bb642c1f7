#!/usr/bin/env bash
# Benchmark: CPU work inside a booted guest, lpar and QEMU (qemu-system-ppc64 -M pseries,x-vof=on;
# a benchmark peer only) on the same kernel and busybox initramfs, in one run. The guest's /init
# times three workloads with busybox `time -p` (the guest clock is the host's in both emulators)
# and powers off; this script also times the whole run from the host.
# Prints a markdown table; not a test.
#
# Usage: bench/guest.sh [extra -append words, e.g. disable_radix]
#   LPAR_ARGS   extra lpar options (e.g. "-accel tcg,jit=off")
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
/bin/busybox mkdir -p /dev
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
w() { # name command
    /bin/busybox time -p -o /tmp/t sh -c "$2" >/tmp/out
    echo "BENCH $1 $(grep real /tmp/t | cut -d' ' -f2) $(cat /tmp/out)"
}
mkdir -p /tmp
w sort "seq 1 200000 | sort -r | md5sum"
w md5 "dd if=/dev/zero bs=1M count=32 2>/dev/null | md5sum"
w gzip "dd if=/dev/zero bs=1M count=16 2>/dev/null | gzip -c | wc -c"
poweroff -f
INIT
scripts/mkinitramfs.sh "$work/initrd.gz" "$work/init" >/dev/null
append="console=hvc0 quiet ${*:-}"
kernel=$LPAR_ASSETS/vmlinux

run() { # name command...
    local name=$1
    shift
    LPAR_JIT_STATS=1 /usr/bin/time -f "%e %M" -o "$work/$name.time" "$@" >"$work/$name.out" 2>&1 </dev/null || true
    grep -q "BENCH gzip" "$work/$name.out" || { echo "$name did not finish:" >&2; tail -5 "$work/$name.out" >&2; }
}
# shellcheck disable=SC2086
run lpar target/release/lpar -M pseries -m 1G -kernel "$kernel" -initrd "$work/initrd.gz" \
    -append "$append" -nographic -no-reboot ${LPAR_ARGS:-}
run qemu qemu-system-ppc64 -M pseries,x-vof=on -accel tcg -cpu power9 -m 1G -kernel "$kernel" \
    -initrd "$work/initrd.gz" -append "$append" -nographic -no-reboot -nodefaults -serial mon:stdio
val() { grep "BENCH $2 " "$work/$1.out" | tr -d '\r' | cut -d' ' -f3; }
res() { grep "BENCH $2 " "$work/$1.out" | tr -d '\r' | cut -d' ' -f4-; }
echo "| workload (${*:-radix}) | lpar s | QEMU s | lpar/QEMU |"
echo "|---|---|---|---|"
for w in sort md5 gzip; do
    l=$(val lpar $w) q=$(val qemu $w)
    [ "$(res lpar $w)" = "$(res qemu $w)" ] || echo "warning: $w output differs: $(res lpar $w) vs $(res qemu $w)" >&2
    case $w in
        sort) d='`seq 1 200000 \| sort -r \| md5sum`' ;;
        md5) d='md5sum of 32 MiB from /dev/zero' ;;
        gzip) d='`gzip -c` of 16 MiB from /dev/zero' ;;
    esac
    printf '| %s | %.2f | %.2f | %.2f |\n' "$d" "$l" "$q" "$(echo "$l / $q" | bc -l)"
done
read -r lt lm <"$work/lpar.time"
read -r qt qm <"$work/qemu.time"
printf '| whole run (boot, workloads, power-off) | %.2f | %.2f | %.2f |\n' "$lt" "$qt" "$(echo "$lt / $qt" | bc -l)"
printf '| peak RSS MB | %d | %d | %.2f |\n' $((lm / 1024)) $((qm / 1024)) "$(echo "$lm / $qm" | bc -l)"
# The translator's line (LPAR_JIT_STATS=1), summed over vCPUs.
jit() { sed -n "s/.*jit: .*$1=\([0-9.]*\).*/\1/p" "$work/lpar.out" | awk '{ s += $1 } END { printf "%.1f\n", s }'; }
printf '\nlpar over the whole run: %.0f guest MIPS, translation %.0f%% of the wall time (background thread), %.0f KiB of code.\n' \
    "$(echo "$(jit insns) / $lt / 1000000" | bc -l)" "$(echo "$(jit compile_ms) / 10 / $lt" | bc -l)" "$(jit code_kib)"
