#!/usr/bin/env bash
# NbdAttachment create, in the guest: serves one image chain read-only on a free /dev/nbdN and prints its
# partition table.
# Values: IMAGE_SPEC (the `json:` pseudo-filename naming every layer's driver and pinning each backing
# file, so no format is probed and no parent hint from the evidence's own machine is followed),
# STATE_KEY (sha256 of IMAGE_SPEC), IMAGE_FORMAT, QEMU_FORMAT (the driver qemu-nbd is told),
# LAYER_PATHS/LAYER_FORMATS/LAYER_ALONE_SPECS (top first, the same layers; each layer opened alone,
# without its backing file), MAX_PARTITIONS; for ewf EWF_SEGMENTS (every segment, first first) and
# EWF_MOUNT (where `ewfmount -X ro` exposes the set as the raw file `ewf1` that IMAGE_SPEC names).
# Under software emulation every process costs a few hundred ms: state is read with bash builtins.
# Idempotent: an nbd device already serving exactly IMAGE_SPEC read-only is reported, not attached again.
set -euo pipefail

readonly STATE_DIR=/run/forensic-lab/nbd
readonly LOCK_FILE=/run/forensic-lab/nbd.lock

# shellcheck disable=SC2034 # read by fail() (lib/hooks/common.sh)
readonly FAILS_AS="nbd-attachment"
# forensic-lab:include lib/hooks/common.sh
# forensic-lab:include lib/hooks/partition-table.sh

case "$IMAGE_FORMAT:$QEMU_FORMAT" in
  vmdk:vmdk | qcow2:qcow2 | raw:raw | vdi:vdi | vhdx:vhdx | vpc:vpc | ewf:raw) ;;
  *) fail "format '$IMAGE_FORMAT' (qemu driver '$QEMU_FORMAT') is not one of vmdk, qcow2, raw, vdi, vhdx, vpc, ewf" ;;
esac
if [[ "$IMAGE_FORMAT" == ewf ]]; then
  [[ "$EWF_MOUNT" =~ ^/run/forensic-lab/ewf/[0-9a-f]{64}$ ]] || fail "EWF_MOUNT must be /run/forensic-lab/ewf/<sha256>"
  [[ "$IMAGE_SPEC" == *"\"filename\":\"$EWF_MOUNT/ewf1\""* ]] || fail "IMAGE_SPEC must name $EWF_MOUNT/ewf1"
  { ((${#EWF_SEGMENTS[@]} >= 1)) && [[ "${EWF_SEGMENTS[0]}" == "${LAYER_PATHS[0]}" ]]; } ||
    fail "EWF_SEGMENTS must list every segment, the first ('${LAYER_PATHS[0]}') first"
  for segment in "${EWF_SEGMENTS[@]}"; do
    [[ -f "$segment" && -r "$segment" ]] || fail "EWF segment '$segment' is not a readable file in the guest (was it transferred?)"
  done
else
  { ((${#EWF_SEGMENTS[@]} == 0)) && [[ -z "$EWF_MOUNT" ]]; } || fail "EWF_SEGMENTS and EWF_MOUNT only apply to format ewf"
fi
[[ "$IMAGE_SPEC" == json:* ]] || fail "IMAGE_SPEC must be a json: pseudo-filename"
[[ "$STATE_KEY" =~ ^[0-9a-f]{64}$ ]] || fail "STATE_KEY must be a sha256 in hex"
[[ "$MAX_PARTITIONS" =~ ^[1-9][0-9]*$ ]] || fail "maxPartitions '$MAX_PARTITIONS' is not a positive whole number"
((${#LAYER_PATHS[@]} >= 1 && ${#LAYER_PATHS[@]} == ${#LAYER_FORMATS[@]} && ${#LAYER_PATHS[@]} == ${#LAYER_ALONE_SPECS[@]})) ||
  fail "LAYER_PATHS, LAYER_FORMATS and LAYER_ALONE_SPECS must name the same layers"
for layer in "${LAYER_PATHS[@]}"; do
  [[ -f "$layer" && -r "$layer" ]] || fail "image layer '$layer' is not a readable file in the guest (was it transferred?)"
done

# Sets `serving` to the device whose live qemu-nbd serves exactly IMAGE_SPEC read-only, or to "".
find_serving_device() {
  local pid_file pid device argv
  serving=""
  for pid_file in /sys/block/nbd*/pid; do
    [[ -r "$pid_file" ]] || continue
    # The thread running the nbd client loop; its cmdline is its process's.
    pid=$(<"$pid_file") || continue
    device=${pid_file%/pid}
    device=/dev/${device##*/}
    mapfile -d '' -t argv <"/proc/$pid/cmdline" 2>/dev/null || continue
    ((${#argv[@]} > 0)) || continue
    if has_word --read-only "${argv[@]}" && has_word "--connect=$device" "${argv[@]}" && [[ "${argv[-1]}" == "$IMAGE_SPEC" ]]; then
      serving=$device
      return 0
    fi
  done
}

# Free: nobody serves it (no pid, or its process is gone) and the kernel reports size 0.
device_is_free() { # <nbdN>
  local sys=/sys/block/$1 pid
  [[ "$(<"$sys/size")" == 0 ]] || return 1
  if [[ -r "$sys/pid" ]]; then
    pid=$(<"$sys/pid") || return 0
    [[ ! -d "/proc/$pid" ]] || return 1
  fi
  return 0
}

# Reads the partition table once (sfdisk), waits until udev made every node it names, sets them all
# read-only and prints the result line.
report() { # <device>
  local device=$1 name=${1#/dev/} sector_size table="" sfdisk_error nodes=() line node tries
  sector_size=$(<"/sys/block/$name/queue/logical_block_size")
  if ! table=$(sfdisk --json "$device" 2>/dev/null); then
    sfdisk_error=$(sfdisk --json "$device" 2>&1 >/dev/null || true)
    if [[ "$sfdisk_error" != *"does not contain a recognized partition table"* ]]; then
      [[ "$IMAGE_FORMAT" != ewf ]] ||
        fail "sfdisk cannot read the partition table of $device (the EWF set ${EWF_SEGMENTS[0]} under it cannot be read: a segment damaged or cut short?) $sfdisk_error"
      fail "sfdisk cannot read the partition table of $device: $sfdisk_error"
    fi
    table=""
  fi
  # libfdisk takes any first sector ending in 55AA for a DOS partition table; the kernel refuses one whose
  # boot indicators are not 0 or 0x80, which is what a volume's own boot sector looks like (BitLocker's
  # "-FVE-FS-" on a disk imaged without a partition table). Only the kernel's partitions can be mounted,
  # and its scan ran when sfdisk opened the device: a DOS "table" it found no partition in is a volume.
  if [[ "$table" =~ \"label\":\ *\"dos\" && "$table" == *'"node"'* ]] && ! compgen -G "/sys/block/$name/${name}p*" >/dev/null; then
    udevadm settle --timeout=30 || true
    if ! compgen -G "/sys/block/$name/${name}p*" >/dev/null; then
      echo "nbd-attachment: sfdisk reads a DOS partition table on $device, but the kernel finds no partition in it (the first sector is a volume's boot sector); treated as a disk without partition table" >&2
      table=""
    fi
  fi
  while IFS= read -r line; do
    if [[ "$line" =~ \"node\":\ *\"(/dev/[^\"]+)\" ]]; then nodes+=("${BASH_REMATCH[1]}"); fi
  done <<<"$table"
  ((${#nodes[@]} <= max_part)) ||
    fail "the image has ${#nodes[@]} partitions but nbd was loaded with max_part=$max_part; only the first $max_part would appear"
  if ((${#nodes[@]} > 0)); then
    udevadm settle --timeout=30 || true
    for node in "${nodes[@]}"; do
      for ((tries = 0; tries < 100; tries++)); do
        [[ -b "$node" ]] && break
        sleep 0.1
      done
      [[ -b "$node" ]] || fail "$device is attached but its partition $node did not appear within 10 s"
    done
  fi
  blockdev --setro "$device" "${nodes[@]}"
  partition_table_result "$device" "$sector_size" "$table" || fail "jq cannot read sfdisk's partition table of $device"
  printf 'FORENSIC_LAB_RESULT %s\n' "$REPLY"
}

if [[ -d /sys/module/nbd ]]; then
  max_part=$(</sys/module/nbd/parameters/max_part)
  [[ "$max_part" != 0 ]] ||
    fail "the nbd module is loaded with max_part=0, so partitions would never appear; when no nbd device is in use, run 'rmmod nbd' (the lab then loads it with max_part=$MAX_PARTITIONS)"
else
  modprobe nbd max_part="$MAX_PARTITIONS"
  max_part=$(</sys/module/nbd/parameters/max_part)
fi
for ((tries = 0; tries < 50; tries++)); do
  [[ -e /sys/block/nbd0 ]] && break
  sleep 0.1
done
[[ -e /sys/block/nbd0 ]] || fail "the nbd module is loaded but /sys/block/nbd0 did not appear"

mkdir -p "$STATE_DIR"
exec 9>"$LOCK_FILE"
flock -w 120 9 || fail "another nbd attach or detach held $LOCK_FILE for more than 120 s"
readonly STATE_FILE=$STATE_DIR/$STATE_KEY

find_serving_device
if [[ -n "$serving" ]]; then
  echo "nbd-attachment: the image is already served read-only on $serving; nothing changed" >&2
  echo "$serving" >"$STATE_FILE"
  report "$serving"
  exit 0
fi

# Each layer must declare a parent exactly when the pinned chain gives it one: a snapshot whose
# backingChain was left out would otherwise show only its own changes, silently.
last=$((${#LAYER_PATHS[@]} - 1))
for i in "${!LAYER_PATHS[@]}"; do
  [[ -n "${LAYER_ALONE_SPECS[i]}" ]] || continue # a format that cannot have a parent
  info=$(qemu-img info --force-share --output=json "${LAYER_ALONE_SPECS[i]}") ||
    fail "qemu-img cannot open '${LAYER_PATHS[i]}' as ${LAYER_FORMATS[i]}"
  declared=""
  if [[ "$info" =~ \"backing-filename\":\ *\"(([^\"\\]|\\.)*)\" ]]; then declared=${BASH_REMATCH[1]}; fi
  if ((i < last)) && [[ -z "$declared" ]]; then
    fail "layer '${LAYER_PATHS[i]}' declares no parent, but backingChain lists '${LAYER_PATHS[i + 1]}' below it"
  fi
  if ((i == last)) && [[ -n "$declared" ]]; then
    fail "layer '${LAYER_PATHS[i]}' declares a parent ('$declared') that backingChain does not list; pass the whole chain"
  fi
done

# An EWF set: exposed once as the read-only raw file EWF_MOUNT/ewf1. A mount left by an earlier run
# (same segments, so the same folder) is used again; one whose ewfmount died is cleared first. Nothing
# serves IMAGE_SPEC (checked above, under the lock), so a failure below may always unmount it again.
if [[ "$IMAGE_FORMAT" == ewf ]]; then
  if findmnt --mountpoint "$EWF_MOUNT" >/dev/null && ! [[ -r "$EWF_MOUNT/ewf1" ]]; then
    echo "nbd-attachment: the EWF mount $EWF_MOUNT answers no more; clearing it" >&2
    umount -l "$EWF_MOUNT" || fail "cannot clear the dead EWF mount $EWF_MOUNT"
  fi
  if ! findmnt --mountpoint "$EWF_MOUNT" >/dev/null; then
    mkdir -p "$EWF_MOUNT"
    # -X ro: the FUSE mount itself is read-only (ewfmount has no write path either). 9>&-: the daemon
    # outlives this hook and must not hold the lock. Its errors name the segment at fault.
    if ! ewfmount -X ro "${EWF_SEGMENTS[@]}" "$EWF_MOUNT" 9>&- >&2; then
      rmdir "$EWF_MOUNT" 2>/dev/null || true
      fail "ewfmount could not open the EWF set ${EWF_SEGMENTS[0]} (a segment missing or damaged? see above)"
    fi
  fi
  [[ -r "$EWF_MOUNT/ewf1" ]] || fail "ewfmount mounted $EWF_MOUNT but exposes no ewf1"
fi

device=""
for sys in /sys/block/nbd*; do
  if device_is_free "${sys##*/}"; then
    device=/dev/${sys##*/}
    break
  fi
done
if [[ -z "$device" ]]; then
  if [[ "$IMAGE_FORMAT" == ewf ]]; then
    umount "$EWF_MOUNT" || true
    rmdir "$EWF_MOUNT" 2>/dev/null || true
  fi
  fail "no free nbd device: every /dev/nbdN is in use"
fi

# A create that fails after connecting leaves nothing behind: Pulumi records no resource to delete.
undo_on_failure() {
  local status=$?
  if ((status != 0)); then
    qemu-nbd -d "$device" >/dev/null 2>&1 || true
    rm -f "$STATE_FILE"
    if [[ "$IMAGE_FORMAT" == ewf ]]; then
      umount "$EWF_MOUNT" >/dev/null 2>&1 || umount -l "$EWF_MOUNT" || true
      rmdir "$EWF_MOUNT" 2>/dev/null || true
    fi
  fi
}
trap undo_on_failure EXIT

# --fork: qemu-nbd returns once the device is connected; --read-only: the kernel device is read-only too.
# 9>&-: the server outlives this hook and must not keep holding the lock.
qemu-nbd --read-only --format="$QEMU_FORMAT" --connect="$device" --fork "$IMAGE_SPEC" 9>&- ||
  fail "qemu-nbd could not serve the image on $device"
echo "$device" >"$STATE_FILE"
for ((tries = 0; tries < 100; tries++)); do
  [[ "$(<"/sys/block/${device#/dev/}/size")" != 0 ]] && break
  sleep 0.1
done
[[ "$(<"/sys/block/${device#/dev/}/size")" != 0 ]] || fail "qemu-nbd started but $device still has size 0 after 10 s"
echo "nbd-attachment: attached read-only on $device" >&2
report "$device"
