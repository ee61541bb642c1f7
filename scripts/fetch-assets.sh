#!/usr/bin/env bash
# Installs the host tools the tests need (cross compilers, qemu-user as an oracle) and fetches the Debian
# ppc64el guest software into a cache outside git. Idempotent: a second run only checks what is there.
#
# Usage: scripts/fetch-assets.sh [--no-tools]
# Cache: $LPAR_ASSETS (default ~/.cache/lpar-assets). Prints the cache path on its last line.
set -euo pipefail

ASSETS=${LPAR_ASSETS:-$HOME/.cache/lpar-assets}
mkdir -p "$ASSETS"
want_tools=1
[ "${1:-}" = "--no-tools" ] && want_tools=0

SUDO=
[ "$(id -u)" -ne 0 ] && SUDO=sudo

apt_updated=0
apt_update() {
    if [ $apt_updated -eq 0 ]; then
        # The ppc64el security index may fail to download: tolerate it, the main archive is what we use.
        $SUDO apt-get update -qq >/dev/null 2>&1 || true
        apt_updated=1
    fi
}

# Installs packages. A machine image newer than its mirror (a library at a point-release version
# the mirror's index no longer lists) makes apt refuse a -dev package pinned to the mirror's
# version ("Depends: libpcre2-8-0 (= 10.42-1) but 10.42-1+deb12u1 is to be installed"): then the
# libraries apt names are moved to the versions the -dev packages want and the install retried.
apt_install() {
    local out pins
    if out=$(DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" 2>&1); then
        return 0
    fi
    mapfile -t pins < <(sed -n 's/.*Depends: \([^ ]*\) (= \([^)]*\)) but .* is to be installed.*/\1=\2/p' <<<"$out" | sort -u)
    if [ ${#pins[@]} -eq 0 ]; then
        printf '%s\n' "$out" >&2
        return 1
    fi
    echo "fetch-assets: apt wants ${pins[*]} (the mirror is older than this machine): installing those" >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends --allow-downgrades \
        "${pins[@]}" "$@" >/dev/null
}

if ! dpkg --print-foreign-architectures | grep -qx ppc64el; then
    $SUDO dpkg --add-architecture ppc64el
fi

# cpio and gzip build initramfs images (always needed); the cross compilers, qemu-user (a test oracle
# only) and the host busybox (a reference for output comparisons) are for the tests; e2fsprogs
# makes and checks the ext4 disk images of the disk tests, qemu-utils' qemu-img checks qcow2 images,
# xorriso makes the ISO of the CD-ROM test.
# Building lpar needs libslirp (user networking: QEMU's own TCP/IP stack) through pkg-config,
# whose slirp.pc requires glib's. The network tests need iproute2 (tap devices in a namespace),
# the TPM test swtpm, the slow tier (Debian over ssh through hostfwd) ssh.
pkgs=(cpio gzip pkg-config libslirp-dev libglib2.0-dev)
[ $want_tools -eq 1 ] && pkgs+=(gcc-powerpc64le-linux-gnu gcc-powerpc64-linux-gnu libc6-dev-ppc64el-cross qemu-user busybox-static e2fsprogs qemu-utils xorriso iproute2 swtpm swtpm-tools openssh-client)
need=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    apt_update
    apt_install "${need[@]}" >/dev/null
fi

# Guest software: busybox-static for ppc64el, and the kernel linux-image-powerpc64le depends on.
fetch_deb() { # name dir
    local name=$1 dir=$2
    if [ ! -e "$dir/.done" ]; then
        apt_update
        local tmp
        tmp=$(mktemp -d)
        chmod 777 "$tmp" # apt-get download drops privileges to _apt
        (cd "$tmp" && apt-get download -qq "$name" >/dev/null)
        rm -rf "$dir"
        mkdir -p "$dir"
        dpkg-deb -x "$tmp"/*.deb "$dir"
        basename "$tmp"/*.deb >"$dir/.done"
        rm -rf "$tmp"
    fi
}

fetch_deb busybox-static:ppc64el "$ASSETS/busybox"
ln -sf "$ASSETS/busybox/bin/busybox" "$ASSETS/busybox-ppc64el"

if [ ! -e "$ASSETS/kernel/.done" ]; then
    apt_update
    kpkg=$(apt-cache depends linux-image-powerpc64le:ppc64el 2>/dev/null |
        awk '/Depends:/ {print $2; exit}')
    kpkg=${kpkg%%:*}
    [ -n "$kpkg" ] || { echo "fetch-assets: cannot resolve the kernel package" >&2; exit 1; }
    fetch_deb "$kpkg:ppc64el" "$ASSETS/kernel"
fi
vmlinux=$(ls "$ASSETS"/kernel/boot/vmlinux-* 2>/dev/null | head -n1 || true)
[ -n "$vmlinux" ] && ln -sf "$vmlinux" "$ASSETS/vmlinux"

echo "$ASSETS"
