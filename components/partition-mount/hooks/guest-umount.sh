#!/usr/bin/env bash
# PartitionMount delete, in the guest: unmounts what the create hook mounted and removes the empty
# mount points. A busy mount is an error that names the processes holding it, unless LAZY_UNMOUNT is
# "true" (the explicit last resort, reported loudly: the filesystem stays alive until they let go).
# Values: NBD_DEVICE or ARRAY_DEVICE (a RaidArray's mapping; NBD_DEVICE then empty), PARTITION ("all", a
# number or vg/lv), MOUNT_POINT or MOUNT_ROOT, LAZY_UNMOUNT.
# "Already gone" is success: never mounted, unmounted before, guest rebooted.
set -euo pipefail

# shellcheck disable=SC2034 # read by fail() (lib/hooks/common.sh)
readonly FAILS_AS="partition-mount"
# forensic-lab:include lib/hooks/common.sh
# forensic-lab:include lib/hooks/evidence-device.sh

evidence_device
readonly DEVICE VOLUME_PREFIX

# Whether a mount's source is ours: the device itself (partition 0: a RaidArray's mapping, or a disk
# without partitions), partition N of the nbd device (<device>pN), or what VolumeSystems opened on it.
our_source() { # <source>
  [[ "$1" == "$DEVICE" || "$1" == "/dev/mapper/$VOLUME_PREFIX"* ]] || [[ -z "$ARRAY_DEVICE" && "$1" == "$NBD_DEVICE"p* ]]
}

# Our mount points: the one we were given, or every <root>/p<N> and <root>/lvm/<vg>/<lv> that is mounted
# or still exists.
readonly LVM_NAME='[A-Za-z0-9+_.][A-Za-z0-9+_.-]*'
ours() { # <path>
  local rest
  if [[ "$1" == "$MOUNT_ROOT"/p* ]]; then
    rest=${1#"$MOUNT_ROOT"/p}
    [[ "$rest" =~ ^(0|[1-9][0-9]*)$ ]]
  elif [[ "$1" == "$MOUNT_ROOT"/lvm/* ]]; then
    rest=${1#"$MOUNT_ROOT"/lvm/}
    [[ "$rest" =~ ^$LVM_NAME/$LVM_NAME$ ]]
  else
    return 1
  fi
}
targets=()
if [[ "$PARTITION" == all ]]; then
  # findmnt -r writes odd characters as \xNN; printf %b turns them back.
  while IFS= read -r line; do
    printf -v target '%b' "$line"
    if ours "$target"; then
      has_word "$target" "${targets[@]}" || targets+=("$target")
    fi
  done < <(findmnt -rn -o TARGET 2>/dev/null || true)
  for target in "$MOUNT_ROOT"/p* "$MOUNT_ROOT"/lvm/*/*; do
    if [[ -d "$target" ]] && ours "$target"; then
      has_word "$target" "${targets[@]}" || targets+=("$target")
    fi
  done
else
  targets=("$MOUNT_POINT")
fi

# The source device mounted at a path (the topmost mount), or "".
source_at() { findmnt -rn -o SOURCE --mountpoint "$1" 2>/dev/null | tail -n 1 || true; }

# Processes using anything under a mount point (cwd, root, executable, open or mapped files), one line
# each. One find and one grep over /proc: under software emulation each process started costs.
processes_using() { # <mount point>
  local dir=$1 pattern entry pid what
  pattern=${dir//\\/\\\\}
  pattern=${pattern//\*/\\*}
  pattern=${pattern//\?/\\?}
  pattern=${pattern//\[/\\[}
  while IFS= read -r entry; do
    pid=${entry#/proc/}
    what=${pid#*/}
    pid=${pid%%/*}
    if [[ "$entry" == */maps ]]; then
      echo "  pid $pid ($(<"/proc/$pid/comm")) maps a file under $dir"
    else
      echo "  pid $pid ($(<"/proc/$pid/comm")) ${what/\//\ }: $(readlink "$entry" 2>/dev/null)"
    fi
  done < <(
    find /proc/[0-9]*/cwd /proc/[0-9]*/root /proc/[0-9]*/exe /proc/[0-9]*/fd -maxdepth 1 \
      \( -lname "$pattern" -o -lname "$pattern/*" \) 2>/dev/null || true
    grep -lF -- " $dir/" /proc/[0-9]*/maps 2>/dev/null || true
  ) 2>/dev/null
}

# Whether a process still has the device open once its filesystem is unmounted. qemu-nbd does not
# count: it holds /dev/nbdN itself for as long as it serves the image, so a filesystem on the whole disk
# (partition 0) would otherwise look held until the wait below gave up (about 25 s under emulation).
device_held_after_unmount() { # <device node>
  local entry pid
  while IFS= read -r entry; do
    pid=${entry#/proc/}
    pid=${pid%%/*}
    [[ "$(cat -- "/proc/$pid/comm" 2>/dev/null)" == qemu-nbd ]] || return 0
  done < <(find /proc/[0-9]*/fd -maxdepth 1 -lname "$1" -print 2>/dev/null)
  return 1
}

for target in "${targets[@]}"; do
  source=$(source_at "$target")
  # Stacked mounts come off one at a time, ours only.
  while [[ -n "$source" ]] && our_source "$source"; do
    if ! refusal=$(umount "$target" 2>&1); then
      [[ "$refusal" == *busy* ]] || fail "cannot unmount '$target': $refusal"
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
      device_held_after_unmount "$(readlink -f -- "$source")" || break
      sleep 0.1
    done
    source=$(source_at "$target")
  done
  if [[ -n "$source" ]]; then
    echo "partition-mount: '$target' has $source mounted, which is not a partition of $DEVICE; leaving it" >&2
    continue
  fi
  if [[ -d "$target" ]]; then
    rmdir "$target" 2>/dev/null || echo "partition-mount: '$target' is not empty; left in place" >&2
  fi
done
# The folder the create hook handed to the examiner goes too, when nothing else is in it (never a
# top-level folder such as /media).
if [[ "$PARTITION" == all ]]; then
  for folder in "$MOUNT_ROOT"/lvm/* "$MOUNT_ROOT"/lvm; do
    if [[ -d "$folder" ]]; then rmdir "$folder" 2>/dev/null || true; fi
  done
  owned=$MOUNT_ROOT
else
  owned=${MOUNT_POINT%/*}
fi
if [[ "$owned" == /*/* && -d "$owned" ]]; then rmdir "$owned" 2>/dev/null || true; fi
