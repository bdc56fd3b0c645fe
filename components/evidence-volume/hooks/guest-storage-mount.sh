#!/usr/bin/env bash
# Inside the guest: puts a filesystem on the decrypted case storage once (never over an existing one) and
# mounts it read-write at MOUNT_POINT. This is the lab's one read-write mount; it holds working copies
# and exports, not evidence originals, and nothing on it may be a device, setuid or executable.
# Values: DEVICE (decrypted block device) MOUNT_POINT OWNER (guest user that owns a new filesystem's root).
set -euo pipefail

# shellcheck disable=SC2034 # read by fail() (lib/hooks/common.sh)
readonly FAILS_AS="forensic-lab: case storage"
# forensic-lab:include lib/hooks/common.sh

for _ in $(seq 60); do
  [[ -b $DEVICE ]] && break
  udevadm settle --timeout=1 2>/dev/null || sleep 1
done
[[ -b $DEVICE ]] || fail "$DEVICE did not appear within 60 s"
resolved=$(readlink -f -- "$DEVICE")

result() {
  echo "FORENSIC_LAB_RESULT $(jq -cn --arg mountPoint "$MOUNT_POINT" --arg device "$resolved" \
    --arg filesystem "$1" --argjson formatted "$2" --argjson mounted "$3" \
    '{mountPoint: $mountPoint, device: $device, filesystem: $filesystem, formatted: $formatted, mounted: $mounted}')"
}

rc=0
found_type=$(blkid -p -o value -s TYPE -- "$resolved") || rc=$?
case $rc in
  0) [[ $found_type != crypto_LUKS ]] || fail "$DEVICE is a LUKS volume: open it before mounting" ;;
  2) found_type="" ;;
  *) fail "blkid could not probe $DEVICE (exit $rc)" ;;
esac

mounted_source=$(findmnt -n -o SOURCE --mountpoint "$MOUNT_POINT" || true)
if [[ -n $mounted_source ]]; then
  [[ $(readlink -f -- "$mounted_source") == "$resolved" ]] ||
    fail "$MOUNT_POINT already has $mounted_source mounted"
  result "$found_type" false false
  exit 0
fi

formatted=false
if [[ -z $found_type ]]; then
  # ext4: journalled, in every guest kernel, repairable with tools the guest has. -m 0: no root reserve
  # on a data volume; the label names it for a human reading lsblk.
  mkfs.ext4 -q -L case-storage -m 0 -- "$resolved"
  found_type=ext4
  formatted=true
fi
mkdir -p -- "$MOUNT_POINT"
mount -t "$found_type" -o nodev,nosuid,noexec -- "$resolved" "$MOUNT_POINT"
if [[ $formatted == true ]] && id -u -- "$OWNER" >/dev/null 2>&1; then
  chown -- "$OWNER:" "$MOUNT_POINT"
  chmod 0750 -- "$MOUNT_POINT"
fi
result "$found_type" "$formatted" true
