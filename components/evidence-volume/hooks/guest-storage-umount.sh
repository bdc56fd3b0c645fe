#!/usr/bin/env bash
# Inside the guest: unmounts the case storage. Not mounted is fine; busy is an error that names who
# holds it, since unmounting lazily would leave the LUKS mapping impossible to close.
# Values: MOUNT_POINT.
set -euo pipefail

if ! findmnt -n --mountpoint "$MOUNT_POINT" >/dev/null; then
  echo "forensic-lab: $MOUNT_POINT is not mounted" >&2
  echo 'FORENSIC_LAB_RESULT {"unmounted":false}'
  exit 0
fi
sync -f -- "$MOUNT_POINT"
if ! umount -- "$MOUNT_POINT"; then
  holders=()
  for link in /proc/[0-9]*/cwd /proc/[0-9]*/root /proc/[0-9]*/fd/*; do
    target=$(readlink -- "$link" 2>/dev/null) || continue
    if [[ $target == "$MOUNT_POINT" || $target == "$MOUNT_POINT"/* ]]; then
      pid=${link#/proc/}
      holders+=("${pid%%/*}")
    fi
  done
  echo "forensic-lab: case storage: $MOUNT_POINT is busy (processes: $(printf '%s\n' "${holders[@]}" | sort -un | tr '\n' ' ')); end them and retry" >&2
  exit 1
fi
echo 'FORENSIC_LAB_RESULT {"unmounted":true}'
