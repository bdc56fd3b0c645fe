#!/usr/bin/env bash
# PartitionMount delete, in the guest: unmounts what the create hook mounted and removes the empty
# mount points. A busy mount is an error that names the processes holding it, unless LAZY_UNMOUNT is
# "true" (the explicit last resort, reported loudly: the filesystem stays alive until they let go).
# Values: NBD_DEVICE, PARTITION ("all" or a number), MOUNT_POINT or MOUNT_ROOT, LAZY_UNMOUNT.
# "Already gone" is success: never mounted, unmounted before, guest rebooted.
set -euo pipefail

fail() {
  echo "partition-mount: $*" >&2
  exit 1
}

[[ "$NBD_DEVICE" =~ ^/dev/nbd[0-9]+$ ]] || fail "nbdDevice '$NBD_DEVICE' is not an nbd device (/dev/nbdN)"

# Our mount points: the one we were given, or every <root>/p<N> that is mounted or still exists.
targets=()
if [[ "$PARTITION" == all ]]; then
  while IFS= read -r target; do
    [[ "$target" == "$MOUNT_ROOT"/p* && "${target#"$MOUNT_ROOT"/p}" =~ ^[1-9][0-9]*$ ]] && targets+=("$target")
  done < <(
    {
      findmnt --list -J -o TARGET 2>/dev/null | jq -r '.filesystems[].target' || true
      find "$MOUNT_ROOT" -mindepth 1 -maxdepth 1 -type d -name 'p*' 2>/dev/null || true
    } | sort -u
  )
else
  targets=("$MOUNT_POINT")
fi

source_at() { findmnt -J --mountpoint "$1" -o SOURCE 2>/dev/null | jq -r '.filesystems[0].source // empty' || true; }

# Processes using anything under a mount point: cwd, root, executable, open files, mapped files.
processes_using() { # <mount point>
  local dir=$1 link proc what pid
  for proc in /proc/[0-9]*; do
    pid=${proc#/proc/}
    for what in cwd root exe fd/*; do
      link=$(readlink "$proc/$what" 2>/dev/null) || continue
      if [[ "$link" == "$dir" || "$link" == "$dir"/* ]]; then
        echo "  pid $pid ($(cat "$proc/comm" 2>/dev/null || echo gone)) ${what/fd\//fd }: $link"
      fi
    done
    if grep -qF -- " $dir/" "$proc/maps" 2>/dev/null; then
      echo "  pid $pid ($(cat "$proc/comm" 2>/dev/null || echo gone)) maps a file under $dir"
    fi
  done
}

device_open_by_a_process() { # <device node>
  local fd
  for fd in /proc/[0-9]*/fd/*; do
    [[ "$(readlink "$fd" 2>/dev/null)" == "$1" ]] && return 0
  done
  return 1
}

for target in "${targets[@]}"; do
  source=$(source_at "$target")
  # Stacked mounts come off one at a time, ours only.
  while [[ -n "$source" && "$source" == "$NBD_DEVICE"p* ]]; do
    if ! umount "$target" 2>/dev/null; then
      users=$(processes_using "$target")
      if [[ "$LAZY_UNMOUNT" != true ]]; then
        fail "'$target' is busy, so it stays mounted; stop these processes and delete again:
${users:-  (no process found; a kernel user such as a loop device or an nfs export may hold it)}"
      fi
      umount -l "$target"
      cat >&2 <<LAZY
partition-mount: !!! LAZY UNMOUNT of '$target' ($source): it was busy, and lazyUnmount is set.
partition-mount: !!! It is gone from the tree, but the filesystem stays alive until these let go:
${users:-  (no process found)}
LAZY
    else
      echo "partition-mount: unmounted '$target' ($source)" >&2
    fi
    # A FUSE daemon (ntfs-3g) lets go of the device a moment after umount: wait, so that the nbd
    # device can be disconnected right after us.
    for ((tries = 0; tries < 100; tries++)); do
      device_open_by_a_process "$source" || break
      sleep 0.1
    done
    source=$(source_at "$target")
  done
  if [[ -n "$source" ]]; then
    echo "partition-mount: '$target' has $source mounted, which is not a partition of $NBD_DEVICE; leaving it" >&2
    continue
  fi
  if [[ -d "$target" ]]; then
    rmdir "$target" 2>/dev/null || echo "partition-mount: '$target' is not empty; left in place" >&2
  fi
done
if [[ "$PARTITION" == all && -d "$MOUNT_ROOT" ]]; then
  rmdir "$MOUNT_ROOT" 2>/dev/null || true
fi
