#!/usr/bin/env bash
# mmdebstrap essential hook: runs before the kernel package is installed, so its initramfs is made with
# these settings. Argument: the rootfs directory.
set -euo pipefail

readonly ROOTFS=${1:?usage: essential.sh ROOTFS}
readonly CONF="$ROOTFS/etc/initramfs-tools"
mkdir -p "$CONF/conf.d"

# The root is ext4 (built into the kernel) on a virtio disk, nothing else: a small initramfs that
# unpacks fast under software emulation, and no resume device to wait for.
echo 'MODULES=list' >"$CONF/conf.d/forensic-lab"
echo 'RESUME=none' >"$CONF/conf.d/resume"
printf '%s\n' virtio_pci virtio_blk >"$CONF/modules"
