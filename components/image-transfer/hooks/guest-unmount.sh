#!/usr/bin/env bash
# In the guest: unmounts the image's sshfs mounts and removes their empty mount points. sshfs then
# exits, which ends the host's ssh session and its sftp-server. A mount that is already gone is fine; a
# mount still in use (qemu-nbd has the image open) is an error: detach the NbdAttachment first.
# Values: MOUNT_POINTS LAYER_DIR GUEST_ROOT.
set -euo pipefail

unmounted=()
for mount_point in "${MOUNT_POINTS[@]}"; do
  if findmnt --mountpoint "$mount_point" >/dev/null; then
    fstype=$(findmnt --noheadings --output FSTYPE --mountpoint "$mount_point")
    if [[ "$fstype" != fuse.sshfs ]]; then
      echo "image-transfer: '$mount_point' holds a $fstype mount, not sshfs; leaving it alone" >&2
      exit 1
    fi
    if ! fusermount3 -u -- "$mount_point"; then
      # A mount whose server is gone can only be detached lazily; a live, busy one must stay.
      if stat -- "$mount_point/." >/dev/null 2>&1; then
        echo "image-transfer: '$mount_point' is in use; detach whatever reads the image (NbdAttachment) first" >&2
        exit 1
      fi
      fusermount3 -u -z -- "$mount_point"
    fi
    unmounted+=("$mount_point")
  fi
  if [[ -d "$mount_point" ]]; then rmdir -- "$mount_point"; fi
done
for dir in "$LAYER_DIR" "$GUEST_ROOT"; do
  if [[ -d "$dir" ]]; then
    rmdir -- "$dir" 2>/dev/null || echo "image-transfer: '$dir' is not empty; leaving it" >&2
  fi
done

printf 'FORENSIC_LAB_RESULT %s\n' "$(jq -cn '{unmounted: $ARGS.positional}' --args "${unmounted[@]}")"
