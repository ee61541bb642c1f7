#!/usr/bin/env bash
# Benchmark: virtio-blk throughput and IOPS inside a booted guest, lpar and QEMU
# (qemu-system-ppc64 -M pseries,x-vof=on; a benchmark peer only) on the same kernel, initramfs and
# raw image (host page cache, cache=writeback, as both default to), in one run. The guest times
# direct-I/O dd runs (1 MiB blocks, the 512 MiB disk 4 times over) and 4 KiB random reads (bench/src/randread.c)
# with its own clock, each ROUNDS times (default 5); the table gives the median round and the
# range. Prints a markdown table; not a test.
#
# Usage: bench/disk.sh
#   LPAR_ARGS   extra lpar options
#   ROUNDS      rounds of each workload (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
export LPAR_ASSETS=${LPAR_ASSETS:-$HOME/.cache/lpar-assets}
scripts/fetch-assets.sh >/dev/null
if ! command -v qemu-system-ppc64 >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-ppc >/dev/null
fi
cargo build --release -q -p lpar
rounds=${ROUNDS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
powerpc64le-linux-gnu-gcc -static -O2 -o "$work/randread" bench/src/randread.c
head -c 512M /dev/urandom >"$work/disk.img"
mods="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk"
cat >"$work/init" <<INIT
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
for m in $mods; do insmod /modules/\$m.ko; done
w() { # name command
    /bin/busybox time -p -o /tmp/t sh -c "\$2" >/tmp/out 2>&1
    echo "BENCH \$1 \$(grep real /tmp/t | cut -d' ' -f2)"
}
mkdir -p /tmp
for r in \$(seq $rounds); do
    w write "for i in 1 2 3 4; do dd if=/dev/zero of=/dev/vda bs=1M count=512 oflag=direct; done"
    w read "for i in 1 2 3 4; do dd if=/dev/vda of=/dev/null bs=1M count=512 iflag=direct; done"
    echo "BENCH rand \$(randread /dev/vda 20000 \$((12345 + r)))"
done
poweroff -f
INIT
LPAR_INITRAMFS_MODULES=$mods LPAR_INITRAMFS_FILES="$work/randread" \
    scripts/mkinitramfs.sh "$work/initrd.gz" "$work/init" >/dev/null
kernel=$LPAR_ASSETS/vmlinux
append="console=hvc0 quiet"

run() { # name command...
    local name=$1
    shift
    "$@" >"$work/$name.out" 2>&1 </dev/null || true
    grep -q "BENCH rand IOPS" "$work/$name.out" || { echo "$name did not finish:" >&2; tail -5 "$work/$name.out" >&2; }
}
# shellcheck disable=SC2086
run lpar target/release/lpar -M pseries -m 1G -kernel "$kernel" -initrd "$work/initrd.gz" \
    -append "$append" -nographic -no-reboot -drive "file=$work/disk.img,format=raw,if=virtio" ${LPAR_ARGS:-}
run qemu qemu-system-ppc64 -M pseries,x-vof=on -accel tcg -cpu power9 -m 1G -kernel "$kernel" \
    -initrd "$work/initrd.gz" -append "$append" -nographic -no-reboot -nodefaults -serial mon:stdio \
    -drive "file=$work/disk.img,format=raw,if=virtio"
# The rounds' values of a workload, one per line: seconds (write, read) or IOPS (rand).
vals() {
    case $2 in
    rand) grep "BENCH rand " "$work/$1.out" | tr -d '\r' | cut -d' ' -f4 ;;
    *) grep "BENCH $2 " "$work/$1.out" | tr -d '\r' | cut -d' ' -f3 | awk '$1 > 0 { printf "%.0f\n", 2048 / $1 }' ;;
    esac
}
# "median (min–max)" of the values on stdin; the median alone with -m.
stat() {
    sort -n | awk -v m="${1:-}" '{ v[NR] = $1 } END {
        if (NR == 0) { print "?"; exit }
        med = v[int((NR + 1) / 2)]
        if (m == "-m") print med; else printf "%s (%s–%s)\n", med, v[1], v[NR] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
echo "| virtio-blk (raw 512 MiB image, direct I/O), median of $rounds (range) | lpar | QEMU | lpar/QEMU (higher is better) |"
echo "|---|---|---|---|"
for w in write read rand; do
    case $w in
    rand) what="random 4 KiB reads, IOPS" ;;
    *) what="sequential $w, 1 MiB blocks, MB/s" ;;
    esac
    echo "| $what | $(vals lpar $w | stat) | $(vals qemu $w | stat) | $(ratio "$(vals lpar $w | stat -m)" "$(vals qemu $w | stat -m)") |"
done
