#!/usr/bin/env bash
# Builds a gzip'd initramfs (newc cpio) for lpar guests from the Debian busybox-static ppc64el binary.
#
# Usage: scripts/mkinitramfs.sh OUTPUT.gz [INIT-SCRIPT]
#   INIT-SCRIPT becomes /init; without it, /init mounts proc, sys and devtmpfs, prints a banner and
#   runs an interactive shell on the hypervisor console /dev/hvc0.
# LPAR_INITRAMFS_FILES="path1 path2 ...": more programs, copied into /bin.
# LPAR_INITRAMFS_MODULES="name1 name2 ...": kernel modules (from the fetched kernel package) put in
#   /modules/NAME.ko, for the init script to insmod in the order it needs.
# Needs: $LPAR_ASSETS/busybox-ppc64el (scripts/fetch-assets.sh), gzip, and cpio (GNU cpio, or the
# host's busybox cpio).
set -euo pipefail

die() { echo "mkinitramfs: $*" >&2; exit 1; }

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: $0 OUTPUT.gz [INIT-SCRIPT]"
out=$1
init=${2:-}
ASSETS=${LPAR_ASSETS:-$HOME/.cache/lpar-assets}
busybox=$ASSETS/busybox-ppc64el
[ -e "$busybox" ] || die "missing $busybox: run scripts/fetch-assets.sh"
[ -z "$init" ] || [ -r "$init" ] || die "cannot read the init script '$init'"
command -v gzip >/dev/null || die "gzip not found (apt-get install gzip)"
if command -v cpio >/dev/null; then
    cpio=(cpio --quiet -o -H newc -R 0:0)
elif command -v busybox >/dev/null && busybox cpio --help 2>&1 | grep -q -- '-o'; then
    cpio=(busybox cpio -o -H newc)
else
    die "cpio not found (apt-get install cpio)"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,etc}
cp -L "$busybox" "$root/bin/busybox"
chmod 755 "$root/bin/busybox"
ln -s busybox "$root/bin/sh"

if [ -n "${LPAR_INITRAMFS_MODULES:-}" ]; then
    mods=$(ls -d "$ASSETS"/kernel/lib/modules/*/kernel 2>/dev/null | head -n1)
    [ -n "$mods" ] || die "no kernel modules under $ASSETS/kernel: run scripts/fetch-assets.sh"
    mkdir -p "$root/modules"
    for m in $LPAR_INITRAMFS_MODULES; do
        ko=$(find "$mods" -name "$m.ko" | head -n1)
        [ -n "$ko" ] || die "kernel module $m not found under $mods"
        cp "$ko" "$root/modules/"
    done
fi

for f in ${LPAR_INITRAMFS_FILES:-}; do
    [ -r "$f" ] || die "cannot read '$f' (LPAR_INITRAMFS_FILES)"
    cp -L "$f" "$root/bin/"
done

if [ -n "$init" ]; then
    cp "$init" "$root/init"
else
    cat >"$root/init" <<'EOF'
#!/bin/sh
# lpar's default initramfs: busybox applets, the usual pseudo file systems, a shell on hvc0.
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
echo
echo "lpar initramfs: Linux $(uname -r) on $(uname -m), $(grep -m1 '^cpu' /proc/cpuinfo | sed 's/^[^:]*: *//')"
echo "Type 'poweroff -f' to power off."
cd /root
# A new session whose controlling terminal is the console, so the shell has job control.
exec setsid sh -c 'exec sh -i </dev/hvc0 >/dev/hvc0 2>&1'
EOF
fi
chmod 755 "$root/init"

# The kernel opens /dev/console before running /init, so the archive must hold that device node.
# Creating it on the host needs root, so it is written as a second newc archive by hand (the kernel
# unpacks concatenated archives): "070701", then 13 eight-digit hex fields (ino, mode, uid, gid,
# nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check), the name and
# NUL padded to 4 bytes.
newc_entry() { # name mode rdevmajor rdevminor
    local name=$1 namesize=$((${#1} + 1))
    printf '070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x' \
        1 "$2" 0 0 1 0 0 0 0 "$3" "$4" "$namesize" 0
    printf '%s\0' "$name"
    local pad=$(((4 - (110 + namesize) % 4) % 4))
    [ $pad -eq 0 ] || head -c $pad /dev/zero
}

mkdir -p "$(dirname "$out")"
{
    (cd "$root" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort | "${cpio[@]}")
    newc_entry dev/console $((0020600)) 5 1
    newc_entry TRAILER!!! 0 0 0
} | gzip -9 >"$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
