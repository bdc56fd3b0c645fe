#!/usr/bin/env bash
# In the guest, at the far end of the host's ssh session (started by host-sshfs-pipe.sh): mounts one folder
# of evidence with sshfs in passive mode. sshfs opens no connection: our stdin/stdout ARE the sftp
# stream, so nothing but sshfs may write to stdout. It runs in the foreground and the session (and the
# host's pipe) lasts exactly as long as the mount.
# The host's sftp-server runs with -R, so the mount stays read-only even if this side asked for rw.
# Values: MOUNT_POINT.
set -euo pipefail
exec 3>&1 1>&2

if findmnt --mountpoint "$MOUNT_POINT" >/dev/null; then
  # The host starts us only when it has no live pipe for this folder: whatever is mounted here lost its
  # server. Only ever replace our own kind of mount.
  fstype=$(findmnt --noheadings --output FSTYPE --mountpoint "$MOUNT_POINT")
  if [[ "$fstype" != fuse.sshfs ]]; then
    echo "image-transfer: '$MOUNT_POINT' holds a $fstype mount, not an sshfs one; refusing to replace it" >&2
    exit 1
  fi
  echo "image-transfer: replacing the sshfs mount at '$MOUNT_POINT' left by a dropped session" >&2
  fusermount3 -u -- "$MOUNT_POINT" 2>/dev/null || fusermount3 -u -z -- "$MOUNT_POINT"
fi
mkdir -p -- "$MOUNT_POINT"

# umask=0333: files appear as root-owned 0444; the sftp server, not the mode bits, decides access.
exec sshfs -f -o "ro,passive,allow_other,noexec,nosuid,nodev,uid=0,gid=0,umask=0333,kernel_cache" ":/evidence" "$MOUNT_POINT" >&3 3>&-
