#!/usr/bin/env bash
# The main job: boots the Debian ppc64el kernel on lpar to an interactive busybox shell.
# Fetches the guest software (scripts/fetch-assets.sh), builds lpar (release), makes a busybox
# initramfs (scripts/mkinitramfs.sh), then runs
#   lpar -M pseries -m 1G -kernel vmlinux -initrd initrd.gz -append "console=hvc0" -nographic
# Extra arguments are passed to lpar. In the guest, 'poweroff -f' ends the session; Ctrl-A x quits
# lpar at any time, Ctrl-A h lists the console escapes.
set -euo pipefail
cd "$(dirname "$0")/.."

ASSETS=$(scripts/fetch-assets.sh --no-tools | tail -n1)
export LPAR_ASSETS=$ASSETS
cargo build --release -p lpar
initrd=$(scripts/mkinitramfs.sh "$ASSETS/initrd-demo.gz")
exec target/release/lpar -M pseries -m 1G -kernel "$ASSETS/vmlinux" -initrd "$initrd" \
    -append "console=hvc0" -nographic "$@"
