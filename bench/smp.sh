#!/usr/bin/env bash
# Benchmark: SMP. Debian's ppc64le kernel and a busybox initramfs, under lpar and QEMU
# (qemu-system-ppc64 -M pseries,x-vof=on -accel tcg, a benchmark peer only), same kernel, same
# initramfs, one run each:
#   - boot to power-off wall time with -smp 1 and -smp 4;
#   - a CPU-bound single-process job (gzip -c of 4 MiB) alone, then two at once, under
#     -smp 2, timed inside the guest from /proc/uptime: the ratio "two / one" (1.0 = perfect scaling
#     on a 2-core host);
#   - atomic-increment throughput: a static C program (bench/atomic.c, built with
#     powerpc64le-linux-gnu-gcc) whose 2 threads each add 1 to one shared counter 2,000,000 times
#     with __atomic_fetch_add (lwarx/stwcx.), under -smp 2; million increments per second.
# Prints a markdown table; not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
export LPAR_ASSETS=${LPAR_ASSETS:-$HOME/.cache/lpar-assets}
scripts/fetch-assets.sh >/dev/null
if ! command -v qemu-system-ppc64 >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-ppc >/dev/null
fi
# The C library for the static atomic-increment program.
if ! dpkg-query -W -f='${Status}' libc6-dev-ppc64el-cross 2>/dev/null | grep -q "ok installed"; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libc6-dev-ppc64el-cross >/dev/null
fi
cargo build --release -q -p lpar
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kernel=$LPAR_ASSETS/vmlinux

powerpc64le-linux-gnu-gcc -O2 -static -pthread bench/atomic.c -o "$work/atomic"

cat >"$work/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox mkdir -p /tmp
/bin/busybox --install -s
up() { cut -d' ' -f1 /proc/uptime; }
case "$(cat /proc/cmdline)" in
*bench=jobs*)
    dd if=/dev/urandom of=/tmp/data bs=64k count=64 2>/dev/null
    job() { gzip -c < /tmp/data > /dev/null; }
    t0=$(up); job; t1=$(up)
    job & job & wait; t2=$(up)
    echo "BENCH one=$(awk "BEGIN{print $t1-$t0}") two=$(awk "BEGIN{print $t2-$t1}")"
    ;;
*bench=atomic*)
    /atomic
    ;;
*)
    echo BENCH-INIT
    ;;
esac
poweroff -f
INIT
scripts/mkinitramfs.sh "$work/initrd.gz" "$work/init" >/dev/null
# Add the atomic program to the initramfs (a second gzip'd cpio member is concatenated).
(cd "$work" && mkdir -p extra && cp atomic extra/atomic && cd extra && echo atomic | cpio --quiet -o -H newc -R 0:0 | gzip >>"$work/initrd.gz")

lpar() { target/release/lpar -M pseries -m 1G -kernel "$kernel" -initrd "$work/initrd.gz" -nographic -no-reboot "$@"; }
qemu() {
    qemu-system-ppc64 -M pseries,x-vof=on -accel tcg -cpu power9 -m 1G -kernel "$kernel" \
        -initrd "$work/initrd.gz" -nographic -no-reboot -nodefaults -serial mon:stdio "$@"
}
wall() { # command... -> seconds
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >"$work/out" 2>&1 </dev/null || true
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}
field() { grep -a -o "$1=[0-9.]*" "$work/out" | head -n1 | cut -d= -f2; }

row() { printf '| %s | %s | %s |\n' "$1" "$2" "$3"; }
echo "| measure | lpar | QEMU |"
echo "|---|---|---|"
for emu in lpar qemu; do
    b1=$(wall $emu -smp 1 -append "console=hvc0 quiet")
    b4=$(wall $emu -smp 4 -append "console=hvc0 quiet")
    eval "${emu}_b1=$b1 ${emu}_b4=$b4"
    wall $emu -smp 2 -append "console=hvc0 quiet bench=jobs" >/dev/null
    eval "${emu}_one=$(field one) ${emu}_two=$(field two)"
    wall $emu -smp 2 -append "console=hvc0 quiet bench=atomic" >/dev/null
    eval "${emu}_mops=$(field mops) ${emu}_total=$(field total)"
done
r() { awk "BEGIN{printf \"%.2f\", $1}"; }
row "boot to power-off, -smp 1 (s)" "$(r "$lpar_b1")" "$(r "$qemu_b1")"
row "boot to power-off, -smp 4 (s)" "$(r "$lpar_b4")" "$(r "$qemu_b4")"
row "-smp 4 boot / -smp 1 boot" "$(r "$lpar_b4/$lpar_b1")" "$(r "$qemu_b4/$qemu_b1")"
row "one job alone, -smp 2 (s)" "$lpar_one" "$qemu_one"
row "two jobs at once, -smp 2 (s)" "$lpar_two" "$qemu_two"
row "two jobs / one job" "$(r "$lpar_two/$lpar_one")" "$(r "$qemu_two/$qemu_one")"
row "atomic increments, 2 threads on -smp 2 (M/s; total exact)" "$lpar_mops ($lpar_total)" "$qemu_mops ($qemu_total)"
