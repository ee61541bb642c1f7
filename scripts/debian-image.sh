#!/usr/bin/env bash
# Builds a Debian bookworm ppc64el disk image that boots on lpar to a login prompt on the console.
#
# Usage: scripts/debian-image.sh [--force]
#
# Output, cached outside git in $LPAR_ASSETS/debian (default ~/.cache/lpar-assets/debian):
#   debian.qcow2   the root file system (ext4 on the whole disk, /dev/vda), 4 GiB virtual
#   vmlinux        the image's own kernel (Debian ships an ELF vmlinux on ppc64el: what -kernel wants)
#   initrd.img     the image's initramfs-tools initrd (virtio_pci, virtio_blk and ext4 in it)
#   build.log      the console of the second stage
#   ssh/id_ed25519 the key root accepts over ssh (from the network stage, whose console is net.log)
# Idempotent: with those files present it only prints their paths; --force rebuilds them.
#
# How: debootstrap --foreign unpacks the packages on the host (no ppc64el code runs on the host, no
# qemu-user), mkfs.ext4 -d puts the tree on a raw image, and lpar itself then runs the second stage:
# it boots the Debian kernel of scripts/fetch-assets.sh with a busybox initramfs
# (scripts/mkinitramfs.sh) whose init mounts /dev/vda, chroots into it, runs
# `debootstrap --second-stage`, configures the system (hostname, fstab, a getty on hvc0, root without
# a password, initrd) and powers off. The host then checks the file system, copies out the kernel and
# initrd with debugfs and converts the image to qcow2. A last stage boots the image's disk in lpar
# again with -nic user and installs openssh-server over lpar's own user networking, enables DHCP
# (systemd-networkd) and authorizes a key made for the tests.
#
# Environment: LPAR_ASSETS (cache), LPAR (the lpar binary; default: target/release/lpar, built if
# missing), LPAR_DEBIAN_MIRROR (default http://deb.debian.org/debian), LPAR_DEBIAN_SUITE (bookworm),
# LPAR_DEBIAN_TIMEOUT (seconds the second stage may take, default 10800), LPAR_DEBIAN_STAGE2=qemu (a
# stopgap: run the second stage on qemu-system-ppc64 instead of lpar; see docs/debian.md).
set -euo pipefail
# Everything is in main, which bash reads whole before running: editing the script while it runs is safe.
main() {
cd "$(dirname "$0")/.."
repo=$PWD

die() { echo "debian-image: $*" >&2; exit 1; }
say() { echo "debian-image: $*"; }

force=0
for a in "$@"; do
    case $a in
    --force) force=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$a' (usage: $0 [--force])" ;;
    esac
done

ASSETS=${LPAR_ASSETS:-$HOME/.cache/lpar-assets}
OUT=$ASSETS/debian
image=$OUT/debian.qcow2
MIRROR=${LPAR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=${LPAR_DEBIAN_SUITE:-bookworm}
TIMEOUT=${LPAR_DEBIAN_TIMEOUT:-10800}
RUNNER=${LPAR_DEBIAN_STAGE2:-lpar}
case $RUNNER in lpar | qemu) ;; *) die "LPAR_DEBIAN_STAGE2 must be lpar or qemu, not '$RUNNER'" ;; esac
HOSTNAME_=debian-lpar
SIZE=4G
# Beyond debootstrap's minbase (dpkg, apt, login, passwd, ...): an init, udev, a kernel and an initrd
# generator. Recommends are not installed.
INCLUDE=systemd-sysv,udev,linux-image-powerpc64le,initramfs-tools,kmod,e2fsprogs

done_already() {
    [ -s "$image" ] && [ -s "$OUT/vmlinux" ] && [ -s "$OUT/initrd.img" ]
}
print_paths() {
    echo "image:  $image"
    echo "kernel: $OUT/vmlinux ($(cat "$OUT/kernel-version" 2>/dev/null || echo '?'))"
    echo "initrd: $OUT/initrd.img"
}
# ---- The network stage, on a built image: openssh-server, DHCP by systemd-networkd, a test key. ---
# Also run on an image built before this stage existed (no stamp): a few minutes, not a rebuild.
NET_STAMP=$OUT/net-stage
NET_VERSION=1
net_done() { [ "$(cat "$NET_STAMP" 2>/dev/null)" = "$NET_VERSION" ] && [ -s "$OUT/ssh/id_ed25519" ]; }
net_stage() {
    command -v ssh-keygen >/dev/null || die "ssh-keygen not found (apt-get install openssh-client)"
    if [ -z "${LPAR:-}" ]; then
        LPAR=$repo/target/release/lpar
        [ -x "$LPAR" ] || cargo build --release -p lpar >/dev/null 2>&1 || die "cargo build --release -p lpar failed"
    fi
    local nwork=$OUT/net-work
    rm -rf "$nwork" "$OUT/ssh"
    mkdir -p "$nwork" "$OUT/ssh"
    # The key the slow tier logs in with (root, through hostfwd).
    ssh-keygen -q -t ed25519 -N '' -C lpar-test -f "$OUT/ssh/id_ed25519" || die "ssh-keygen failed"
    local pub
    pub=$(cat "$OUT/ssh/id_ed25519.pub")
    local mods="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk failover net_failover virtio_net crc16 mbcache jbd2 crc32c_generic ext4"
    # The guest's busybox brings eth0 up at slirp's fixed address; apt-get then runs in the image
    # (a chroot) over lpar's own user networking.
    cat >"$nwork/init" <<EOF
#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
for m in $mods; do insmod /modules/\$m.ko || echo "lpar-net: insmod \$m failed"; done
i=0
while [ ! -b /dev/vda ] && [ \$i -lt 300 ]; do sleep 0.1; i=\$((i + 1)); done
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
mkdir -p /mnt
ok=0
if mount -t ext4 /dev/vda /mnt; then
    mount -t devtmpfs devtmpfs /mnt/dev
    mount -t proc proc /mnt/proc
    mount -t sysfs sysfs /mnt/sys
    cat >/mnt/lpar-net.sh <<'INNER'
#!/bin/sh
set -e
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive
# slirp's DNS; systemd-networkd (no resolved here) leaves the file alone.
rm -f /etc/resolv.conf
echo "nameserver 10.0.2.3" >/etc/resolv.conf
apt-get update -q
apt-get install -y -q --no-install-recommends openssh-server
apt-get clean
mkdir -p /etc/systemd/network /root/.ssh
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' >/etc/systemd/network/50-lpar-dhcp.network
systemctl enable systemd-networkd ssh
echo "$pub" >/root/.ssh/authorized_keys
chmod 700 /root/.ssh
chmod 600 /root/.ssh/authorized_keys
INNER
    if chroot /mnt /bin/sh /lpar-net.sh; then ok=1; fi
    rm -f /mnt/lpar-net.sh
    for d in sys proc dev; do umount /mnt/\$d 2>/dev/null; done
    sync
    umount /mnt || mount -o remount,ro /mnt
    sync
fi
[ \$ok -eq 1 ] && echo "lpar-net: SUCCESS" || echo "lpar-net: FAILED"
poweroff -f
EOF
    LPAR_ASSETS=$ASSETS LPAR_INITRAMFS_MODULES="$mods" scripts/mkinitramfs.sh "$nwork/initrd.gz" "$nwork/init" >/dev/null ||
        die "scripts/mkinitramfs.sh failed"
    cp "$image" "$nwork/debian.qcow2"
    say "network stage: openssh-server and DHCP, installed in lpar over -netdev user (console: $OUT/net.log)"
    local t rc
    t=$(date +%s)
    set +e
    timeout 3600 "$LPAR" -M pseries -m 2G -kernel "$ASSETS/vmlinux" -initrd "$nwork/initrd.gz" \
        -append "console=hvc0 panic=5" -no-reboot -drive "file=$nwork/debian.qcow2,if=virtio" \
        -nic user,model=virtio-net-pci -nographic </dev/null >"$OUT/net.log" 2>&1
    rc=$?
    set -e
    grep -q "lpar-net: SUCCESS" "$OUT/net.log" ||
        die "the network stage failed (lpar exit $rc after $(($(date +%s) - t)) s; console: $OUT/net.log)"
    [ $rc -eq 0 ] || die "lpar exited with status $rc after the network stage (console: $OUT/net.log)"
    qemu-img check -q "$nwork/debian.qcow2" || die "qemu-img check finds errors in the image"
    mv "$nwork/debian.qcow2" "$image"
    rm -rf "$nwork"
    echo "$NET_VERSION" >"$NET_STAMP"
    say "network stage done in $(($(date +%s) - t)) s"
}

if [ $force -eq 0 ] && done_already; then
    net_done || net_stage
    say "already built (--force rebuilds)"
    print_paths
    exit 0
fi

# Host tools. Like scripts/fetch-assets.sh: install what is missing with apt.
SUDO=
[ "$(id -u)" -ne 0 ] && SUDO=sudo
need=()
for p in debootstrap e2fsprogs qemu-utils cpio gzip debian-archive-keyring openssh-client; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    # The ppc64el security index may fail to download: tolerate it.
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
        die "cannot install ${need[*]} (apt-get install ${need[*]})"
fi
for t in debootstrap mkfs.ext4 debugfs e2fsck e2image qemu-img; do
    command -v $t >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v $t >/dev/null || die "$t not found"
done
export PATH=$PATH:/usr/sbin:/sbin
# debootstrap needs root to create device nodes and keep file ownership.
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap unpacks files owned by root and makes device nodes)"

# The guest software of the second stage: the Debian kernel and busybox.
scripts/fetch-assets.sh --no-tools >/dev/null || die "scripts/fetch-assets.sh failed"
[ -e "$ASSETS/vmlinux" ] || die "missing $ASSETS/vmlinux (scripts/fetch-assets.sh)"

LPAR=${LPAR:-}
if [ -z "$LPAR" ]; then
    LPAR=$repo/target/release/lpar
    if [ ! -x "$LPAR" ]; then
        say "building lpar (cargo build --release -p lpar)"
        cargo build --release -p lpar >/dev/null 2>&1 || die "cargo build --release -p lpar failed"
    fi
fi
[ -x "$LPAR" ] || die "lpar binary '$LPAR' not found"

mkdir -p "$OUT"
work=$OUT/work
rm -rf "$work"
mkdir -p "$work"
rm -f "$image" "$OUT/vmlinux" "$OUT/initrd.img" "$OUT/kernel-version"
t_all=$(date +%s)

# ---- 1. First stage on the host: download and unpack, nothing runs. --------------------------------
root=$work/root
mkdir -p "$OUT/debs"
say "first stage: debootstrap --foreign --arch=ppc64el --variant=minbase $SUITE ($MIRROR)"
t=$(date +%s)
if ! debootstrap --foreign --arch=ppc64el --variant=minbase --include="$INCLUDE" \
    --cache-dir="$OUT/debs" "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
    tail -n 5 "$work/debootstrap.log" >&2
    die "debootstrap --foreign failed (log: $work/debootstrap.log)"
fi
# In a Docker container debootstrap makes /proc a symbolic link to the host's /proc: in the guest it
# must be a directory to mount on.
for d in proc sys dev; do
    if [ -L "$root/$d" ]; then rm -f "$root/$d" && mkdir -m 755 "$root/$d"; fi
done
say "first stage done in $(($(date +%s) - t)) s ($(du -sm "$root" | cut -f1) MiB unpacked)"

# initramfs-tools settings, in place before the kernel's postinst makes the initrd: every storage
# and file system driver (so virtio_pci, virtio_blk and ext4), gzip (zstd is only a Recommends).
mkdir -p "$root/etc/initramfs-tools/conf.d"
printf 'MODULES=most\nCOMPRESS=gzip\n' >"$root/etc/initramfs-tools/conf.d/lpar.conf"
echo "RESUME=none" >"$root/etc/initramfs-tools/conf.d/resume"

# The script the guest runs in the chroot after debootstrap's second stage.
cat >"$root/lpar-stage2.sh" <<EOF
#!/bin/sh
set -e
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive
t0=\$(date +%s)
# (debootstrap unmounts /proc on its way out: time from the clock, not /proc/uptime.)
stamp() { echo "lpar-stage2: \$* (\$((\$(date +%s) - t0)) s)"; }
stamp "debootstrap --second-stage"
rc=0
/debootstrap/debootstrap --second-stage --keep-debootstrap-dir || rc=\$?
# What went wrong on the way, even when a retry then succeeded, is worth seeing on the console.
if grep -q "^dpkg: error\|killed by signal\|^E: " /debootstrap/debootstrap.log; then
    echo "lpar-stage2: problems in debootstrap.log:"
    grep -B3 -A3 "^dpkg: error\|killed by signal\|^E: " /debootstrap/debootstrap.log | head -n 60
fi
rm -rf /debootstrap
[ \$rc -eq 0 ] || exit \$rc
stamp "second stage done; configuring"
echo $HOSTNAME_ >/etc/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\t$HOSTNAME_\n::1\tlocalhost ip6-localhost ip6-loopback\n' >/etc/hosts
printf '# <file system> <mount point> <type> <options> <dump> <pass>\n/dev/vda\t/\text4\terrors=remount-ro\t0\t1\n' >/etc/fstab
# root logs in on the console without a password.
passwd -d root
# A login prompt on the hypervisor console (systemd's getty generator adds it for console=hvc0 too).
mkdir -p /etc/systemd/system/getty.target.wants
ln -sf /lib/systemd/system/serial-getty@.service /etc/systemd/system/getty.target.wants/serial-getty@hvc0.service
printf 'deb $MIRROR $SUITE main\n' >/etc/apt/sources.list
# The initrd must load the disk: check, and add the modules explicitly if 'most' missed one.
for v in \$(ls /lib/modules); do
    ls -l /boot/initrd.img-\$v
    missing=
    for m in virtio_pci virtio_blk ext4; do
        lsinitramfs /boot/initrd.img-\$v | grep -q "/\$m\.ko" || missing="\$missing \$m"
    done
    if [ -n "\$missing" ]; then
        stamp "initrd lacks\$missing: adding them"
        for m in \$missing; do echo \$m >>/etc/initramfs-tools/modules; done
        update-initramfs -u -k \$v
    fi
done
apt-get clean
rm -f /lpar-stage2.sh
stamp "configured"
EOF
chmod 755 "$root/lpar-stage2.sh"

# ---- 2. The raw ext4 image. ----------------------------------------------------------------------
raw=$work/debian.raw
say "mkfs.ext4 -d: $SIZE raw image"
mkfs.ext4 -q -F -L debian-root -d "$root" "$raw" "$SIZE" >/dev/null || die "mkfs.ext4 -d failed"
rm -rf "$root"

# ---- 3. Second stage inside lpar. ----------------------------------------------------------------
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk crc16 mbcache jbd2 crc32c_generic ext4"
cat >"$work/init" <<EOF
#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
for m in $modules; do insmod /modules/\$m.ko || echo "lpar-stage2: insmod \$m failed"; done
i=0
while [ ! -b /dev/vda ] && [ \$i -lt 300 ]; do sleep 0.1; i=\$((i + 1)); done
mkdir -p /mnt
if mount -t ext4 /dev/vda /mnt; then
    mount -t devtmpfs devtmpfs /mnt/dev
    mount -t proc proc /mnt/proc
    mount -t sysfs sysfs /mnt/sys
    if chroot /mnt /bin/sh /lpar-stage2.sh; then ok=1; else ok=0; fi
    for d in sys proc dev; do umount /mnt/\$d 2>/dev/null; done
    sync
    umount /mnt || mount -o remount,ro /mnt
    sync
    [ \$ok -eq 1 ] && echo "lpar-stage2: SUCCESS" || echo "lpar-stage2: FAILED"
else
    echo "lpar-stage2: FAILED to mount /dev/vda"
fi
poweroff -f
EOF
initrd=$work/stage2-initrd.gz
LPAR_ASSETS=$ASSETS LPAR_INITRAMFS_MODULES="$modules" scripts/mkinitramfs.sh "$initrd" "$work/init" >/dev/null ||
    die "scripts/mkinitramfs.sh failed"

log=$OUT/build.log
append="console=hvc0 panic=5"
drive="file=$raw,format=raw,if=virtio,cache=unsafe"
case $RUNNER in
lpar)
    cmd=("$LPAR" -M pseries -m 2G -kernel "$ASSETS/vmlinux" -initrd "$initrd" -append "$append"
        -no-reboot -drive "$drive" -nographic)
    ;;
qemu)
    # A stopgap, see docs/debian.md: the same second stage on QEMU, for when lpar cannot run it.
    command -v qemu-system-ppc64 >/dev/null || die "LPAR_DEBIAN_STAGE2=qemu: qemu-system-ppc64 not found"
    say "WARNING: LPAR_DEBIAN_STAGE2=qemu: the second stage runs on qemu-system-ppc64, not lpar"
    cmd=(qemu-system-ppc64 -M pseries,x-vof=on -m 2G -kernel "$ASSETS/vmlinux" -initrd "$initrd"
        -append "$append" -no-reboot -drive "$drive" -nographic -nodefaults -serial mon:stdio)
    ;;
esac
say "second stage in $RUNNER (console: $log; takes a while under emulation)"
t=$(date +%s)
set +e
timeout "$TIMEOUT" "${cmd[@]}" </dev/null >"$log" 2>&1
rc=$?
set -e
t_stage2=$(($(date +%s) - t))
[ $rc -eq 124 ] && die "the second stage did not finish within $TIMEOUT s (LPAR_DEBIAN_TIMEOUT; console: $log)"
if ! grep -q "lpar-stage2: SUCCESS" "$log"; then
    grep -a "lpar-stage2:\|^E:\|^W: Failure" "$log" | tail -n 5 >&2
    if grep -aq "segfault" "$log"; then
        echo "debian-image: guest programs crashed (segfault in the console log): see 'Known problems' in docs/debian.md" >&2
    fi
    die "the second stage failed ($RUNNER exit $rc, after $t_stage2 s; console: $log)"
fi
[ $rc -eq 0 ] || die "$RUNNER exited with status $rc after the second stage (console: $log)"
say "second stage done in $t_stage2 s"
echo "$RUNNER $t_stage2" >"$OUT/stage2-time"

# ---- 4. Check, extract the kernel and initrd, convert. -------------------------------------------
e2fsck -fn "$raw" >"$work/e2fsck.log" 2>&1 || die "e2fsck finds errors in the image (log: $work/e2fsck.log)"
kver=$(debugfs -R "ls -p /lib/modules" "$raw" 2>/dev/null | awk -F/ '$6 ~ /^[0-9]/ {print $6}' | sort -V | tail -n1)
[ -n "$kver" ] || die "no kernel under /lib/modules in the image"
debugfs -R "dump /boot/vmlinux-$kver $OUT/vmlinux" "$raw" >/dev/null 2>&1
debugfs -R "dump /boot/initrd.img-$kver $OUT/initrd.img" "$raw" >/dev/null 2>&1
[ -s "$OUT/vmlinux" ] || die "no /boot/vmlinux-$kver in the image"
[ -s "$OUT/initrd.img" ] || die "no /boot/initrd.img-$kver in the image"
head -c 4 "$OUT/vmlinux" | grep -q ELF || die "/boot/vmlinux-$kver is not an ELF file"
echo "$kver" >"$OUT/kernel-version"
# A copy holding only the blocks in use (the deleted .debs of the first stage stay out of the qcow2).
e2image -ra "$raw" "$work/compact.raw" || die "e2image failed"
rm -f "$raw"
qemu-img convert -O qcow2 "$work/compact.raw" "$image.tmp" || die "qemu-img convert failed"
mv "$image.tmp" "$image"
rm -rf "$work"
rm -f "$NET_STAMP"
net_stage
say "built in $(($(date +%s) - t_all)) s (second stage $t_stage2 s); $(du -m "$image" | cut -f1) MiB qcow2"
print_paths
}

main "$@"
exit
