#!/usr/bin/env bash
# PartitionMount create, in the guest: mounts one partition (or all) of an attached nbd device read-only,
# with options that keep each filesystem from replaying its journal/log (a replay writes), and no device
# files, setuid or execution.
# Values: NBD_DEVICE, PARTITION ("all" or a number), MOUNT_POINT (one partition) or MOUNT_ROOT (all:
# <root>/p<N>), EXTRA_OPTIONS (array, validated by the component), EXAMINER_UID, EXAMINER_GID.
# Idempotent: a partition already mounted at its mount point is reported, never mounted a second time
# (a second ext4 mount to ANOTHER target would succeed, so `findmnt --source` is checked first).
set -euo pipefail

fail() {
  echo "partition-mount: $*" >&2
  exit 1
}

[[ "$NBD_DEVICE" =~ ^/dev/nbd[0-9]+$ ]] || fail "nbdDevice '$NBD_DEVICE' is not an nbd device (/dev/nbdN)"
readonly NAME=${NBD_DEVICE#/dev/}
[[ -e "/sys/block/$NAME" && "$(cat "/sys/block/$NAME/size")" != 0 ]] || fail "$NBD_DEVICE is not attached (no such device, or size 0)"
[[ "$EXAMINER_UID" =~ ^[0-9]+$ && "$EXAMINER_GID" =~ ^[0-9]+$ ]] || fail "examinerUid/examinerGid must be numbers"

partitions=()
if [[ "$PARTITION" == all ]]; then
  [[ "$MOUNT_ROOT" == /* ]] || fail "mountRoot '$MOUNT_ROOT' must be an absolute path"
  for sys in /sys/block/"$NAME"/"$NAME"p*; do
    [[ -e "$sys" ]] && partitions+=("${sys##*p}")
  done
  mapfile -t partitions < <(printf '%s\n' "${partitions[@]}" | sort -n | grep .)
  ((${#partitions[@]} > 0)) || fail "$NBD_DEVICE has no partitions to mount"
else
  [[ "$PARTITION" =~ ^[1-9][0-9]*$ ]] || fail "partition '$PARTITION' must be a number from 1 or \"all\""
  [[ "$MOUNT_POINT" == /* ]] || fail "mountPoint '$MOUNT_POINT' must be an absolute path"
  partitions=("$PARTITION")
fi

mount_point_of() { if [[ "$PARTITION" == all ]]; then echo "$MOUNT_ROOT/p$1"; else echo "$MOUNT_POINT"; fi; }

extra=""
for option in "${EXTRA_OPTIONS[@]}"; do extra+=",$option"; done
readonly HARDENING=nodev,nosuid,noexec

# What is mounted at a path, as JSON (empty when nothing is). findmnt -J keeps odd characters exact.
mounted_at() { findmnt -J --mountpoint "$1" -o TARGET,SOURCE,FSTYPE,OPTIONS 2>/dev/null | jq -c '.filesystems[0]' || true; }

mounts=()
skipped=()
for number in "${partitions[@]}"; do
  node=${NBD_DEVICE}p$number
  target=$(mount_point_of "$number")
  [[ -b "$node" ]] || fail "partition $number: $node does not exist ($NBD_DEVICE has no partition $number)"
  blockdev --setro "$node"
  [[ "$(blockdev --getro "$node")" == 1 ]] || fail "partition $number: $node does not stay read-only"

  # -p probes the device itself (no cache); exit status 2 means no signature at all.
  probe_status=0
  probe=$(blkid -p -o export "$node" 2>&1) || probe_status=$?
  if ((probe_status != 0 && probe_status != 2)); then
    fail "partition $number ($node): blkid cannot tell what it holds (status $probe_status): $(tr '\n' ' ' <<<"$probe")"
  fi
  fstype=$(sed -n 's/^TYPE=//p' <<<"$probe")
  usage=$(sed -n 's/^USAGE=//p' <<<"$probe")
  said=$(grep -E '^(TYPE|SEC_TYPE|USAGE|VERSION|PTTYPE)=' <<<"$probe" | tr '\n' ' ' || true)

  existing=$(findmnt -rn -o TARGET --source "$node" 2>/dev/null | head -n 1 || true)
  if [[ -n "$existing" ]]; then
    current=$(findmnt -J --source "$node" -o TARGET | jq -r '.filesystems[0].target')
    [[ "$current" == "$target" ]] ||
      fail "partition $number ($node) is already mounted at '$current', not at '$target'; unmount it there first"
  fi

  case "$fstype" in
    ext2 | ext3 | ext4) tool=mount options="noload,$HARDENING" ;;
    xfs) tool=mount options="norecovery,$HARDENING" ;;
    btrfs) tool=mount options="rescue=nologreplay,$HARDENING" ;;
    ntfs) tool=ntfs-3g options="norecover,uid=$EXAMINER_UID,gid=$EXAMINER_GID,umask=0277,$HARDENING" ;;
    vfat | exfat) tool=mount options="uid=$EXAMINER_UID,gid=$EXAMINER_GID,umask=0277,$HARDENING" ;;
    *)
      if [[ "$PARTITION" == all && "$usage" != filesystem ]]; then
        # Swap, LUKS, LVM, RAID members, extended-partition containers: nothing to mount as a filesystem.
        skipped+=("$(jq -cn --argjson p "$number" --arg d "$node" --arg r "blkid: ${said:-no signature}" '{partition: $p, device: $d, reason: $r}')")
        echo "partition-mount: partition $number ($node) holds no mountable filesystem (blkid: ${said:-no signature}); skipped" >&2
        continue
      fi
      fail "partition $number ($node): no read-only mount is known for what blkid found: ${said:-no filesystem signature}"
      ;;
  esac

  if [[ -z "$existing" ]]; then
    occupant=$(mounted_at "$target")
    [[ -z "$occupant" || "$occupant" == null ]] ||
      fail "'$target' already has $(jq -r '.source' <<<"$occupant") mounted on it; choose another mount point"
    # The examiner reaches the files through this folder; nobody else does. Filesystems without uid
    # options (ext4, xfs, btrfs) keep their on-disk owners, so this folder is what keeps others out.
    parent=$(dirname "$target")
    mkdir -p "$target"
    chown "$EXAMINER_UID:$EXAMINER_GID" "$parent" "$target"
    chmod 0500 "$parent" "$target"
    if [[ "$tool" == ntfs-3g ]]; then
      ntfs-3g -o "ro,${options}${extra}" "$node" "$target" ||
        fail "partition $number ($node): ntfs-3g -o ro,${options}${extra} failed"
    else
      mount -t "$fstype" -o "ro,${options}${extra}" -- "$node" "$target" ||
        fail "partition $number ($node): mount -t $fstype -o ro,${options}${extra} failed (dmesg: $(dmesg | tail -n 2 | tr '\n' ' '))"
    fi
    echo "partition-mount: mounted $node ($fstype) read-only at $target" >&2
  else
    echo "partition-mount: $node is already mounted at $target; nothing changed" >&2
  fi

  in_effect=$(mounted_at "$target")
  effective_options=$(jq -r '.options' <<<"$in_effect")
  if [[ ",$effective_options," != *,ro,* ]]; then
    umount "$target" || true
    fail "partition $number ($node) came up with options '$effective_options', not read-only; unmounted it again"
  fi
  mounts+=("$(jq -c --argjson p "$number" --arg d "$node" --arg fs "$fstype" \
    '{partition: $p, device: $d, mountPoint: .target, filesystem: $fs, vfsType: .fstype, options: (.options | split(","))}' <<<"$in_effect")")
done

jq -cn --argjson mounts "[$(IFS=,; echo "${mounts[*]}")]" --argjson skipped "[$(IFS=,; echo "${skipped[*]}")]" \
  '{mounts: $mounts, skipped: $skipped}' | sed 's/^/FORENSIC_LAB_RESULT /'
