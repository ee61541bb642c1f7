#!/usr/bin/env bash
# Benchmark: networking inside a booted guest, lpar and QEMU (qemu-system-ppc64 -M pseries,x-vof=on;
# a benchmark peer only) on the same kernel and busybox initramfs, in one run: TCP throughput
# guest->host (busybox nc of MIB MiB into a host sink) and host->guest (busybox wget of MIB MiB
# from a host HTTP server), timed by the guest, ROUNDS times each (median and range); then small
# HTTP GETs per second from the host to the guest's busybox httpd for 10 s (through hostfwd on
# user networking). For each NIC model (spapr-vlan, virtio-net-pci) and backend (-netdev user,
# and tap, which needs root: the tap is made in the root namespace for the run). Prints a
# markdown table; not a test.
#
# Usage: bench/net.sh
#   NICS     NIC models (default "spapr-vlan virtio-net-pci")
#   MODES    backends (default "user tap")
#   ROUNDS   rounds of each throughput workload (default 3)
#   MIB      MiB per transfer (default 256)
#   LPAR_ARGS extra lpar options
set -euo pipefail
cd "$(dirname "$0")/.."
export LPAR_ASSETS=${LPAR_ASSETS:-$HOME/.cache/lpar-assets}
scripts/fetch-assets.sh >/dev/null
if ! command -v qemu-system-ppc64 >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-ppc >/dev/null
fi
cargo build --release -q -p lpar
rounds=${ROUNDS:-3}
mib=${MIB:-256}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kernel=$LPAR_ASSETS/vmlinux

stat() { # "median (min–max)" of the numbers on stdin; the median alone with -m
    sort -n | awk -v m="${1:-}" '{ v[NR] = $1 } END {
        if (NR == 0) { print "?"; exit }
        med = v[int((NR + 1) / 2)]
        if (m == "-m") print med; else if (NR == 1) print med; else printf "%s (%s–%s)\n", med, v[1], v[NR] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
vals() { grep "^RESULT $2 " "$work/$1" | cut -d' ' -f3; }

echo "| workload (median of $rounds, range) | lpar | QEMU | lpar/QEMU (higher is better) |"
echo "|---|---|---|---|"
for nic in ${NICS:-spapr-vlan virtio-net-pci}; do
    for mode in ${MODES:-user tap}; do
        # shellcheck disable=SC2086
        python3 bench/src/netbench.py target/release/lpar "$nic" "$mode" "$rounds" "$mib" "$kernel" "$work" \
            -M pseries ${LPAR_ARGS:-} >"$work/lpar-$nic-$mode" || echo "lpar $nic $mode failed" >&2
        python3 bench/src/netbench.py qemu-system-ppc64 "$nic" "$mode" "$rounds" "$mib" "$kernel" "$work" \
            -M pseries,x-vof=on -accel tcg -cpu power9 -nodefaults -serial mon:stdio \
            >"$work/qemu-$nic-$mode" || echo "qemu $nic $mode failed" >&2
        for w in up down rr; do
            case $w in
            up) what="guest→host TCP, MB/s" ;;
            down) what="host→guest TCP, MB/s" ;;
            rr) what="HTTP GETs host→guest, per second" ;;
            esac
            l=$(vals "lpar-$nic-$mode" $w | stat)
            q=$(vals "qemu-$nic-$mode" $w | stat)
            echo "| $nic, -netdev $mode: $what | $l | $q | $(ratio "$(vals "lpar-$nic-$mode" $w | stat -m)" "$(vals "qemu-$nic-$mode" $w | stat -m)") |"
        done
    done
done
