#!/usr/bin/env bash
# NbdAttachment create, in the guest: serves one image chain read-only on a free /dev/nbdN and prints its
# partition table.
# Values: IMAGE_SPEC (the `json:` pseudo-filename naming every layer's driver and pinning each backing
# file, so no format is probed and no parent hint from the evidence's own machine is followed),
# IMAGE_FORMAT, LAYER_PATHS/LAYER_FORMATS (top first, the same layers), MAX_PARTITIONS.
# Idempotent: an nbd device already serving exactly IMAGE_SPEC read-only is reported, not attached again.
set -euo pipefail

readonly STATE_DIR=/run/forensic-lab/nbd
readonly LOCK_FILE=/run/forensic-lab/nbd.lock

fail() {
  echo "nbd-attachment: $*" >&2
  exit 1
}

case "$IMAGE_FORMAT" in
  vmdk | qcow2 | raw | vdi | vhdx | vpc) ;;
  *) fail "format '$IMAGE_FORMAT' is not one of vmdk, qcow2, raw, vdi, vhdx, vpc" ;;
esac
[[ "$IMAGE_SPEC" == json:* ]] || fail "IMAGE_SPEC must be a json: pseudo-filename"
[[ "$MAX_PARTITIONS" =~ ^[1-9][0-9]*$ ]] || fail "maxPartitions '$MAX_PARTITIONS' is not a positive whole number"
((${#LAYER_PATHS[@]} >= 1 && ${#LAYER_PATHS[@]} == ${#LAYER_FORMATS[@]})) || fail "LAYER_PATHS and LAYER_FORMATS must name the same layers"
for layer in "${LAYER_PATHS[@]}"; do
  [[ -f "$layer" && -r "$layer" ]] || fail "image layer '$layer' is not a readable file in the guest (was it transferred?)"
done

# The device whose qemu-nbd serves exactly our spec, read-only; empty when there is none.
serving_device() {
  local pid_file pid device argv
  for pid_file in /sys/block/nbd*/pid; do
    [[ -r "$pid_file" ]] || continue
    pid=$(<"$pid_file") || continue
    device=/dev/$(basename "$(dirname "$pid_file")")
    mapfile -d '' -t argv <"/proc/$pid/cmdline" 2>/dev/null || continue
    ((${#argv[@]} > 0)) || continue
    if has_word --read-only "${argv[@]}" && has_word "--connect=$device" "${argv[@]}" && [[ "${argv[-1]}" == "$IMAGE_SPEC" ]]; then
      echo "$device"
      return 0
    fi
  done
}

has_word() { # <word> <list...>
  local word=$1 item
  shift
  for item; do [[ "$item" == "$word" ]] && return 0; done
  return 1
}

# Free: nobody serves it (no pid, or its process is gone) and the kernel reports size 0.
device_is_free() {
  local sys=/sys/block/$1 pid
  [[ "$(<"$sys/size")" == 0 ]] || return 1
  if [[ -r "$sys/pid" ]]; then
    pid=$(<"$sys/pid") || return 0
    [[ ! -d "/proc/$pid" ]] || return 1
  fi
  return 0
}

partition_table_json() { # <device>
  local device=$1 sector_size
  sector_size=$(blockdev --getss "$device")
  if [[ -z "$(blkid -p -o value -s PTTYPE "$device" 2>/dev/null)" ]]; then
    jq -cn --arg device "$device" --argjson ss "$sector_size" '{device: $device, sectorSize: $ss, label: null, partitions: []}'
    return
  fi
  sfdisk --json "$device" | jq -c --arg device "$device" --argjson ss "$sector_size" '
    .partitiontable as $t | {
      device: $device, sectorSize: $ss, label: $t.label,
      partitions: [($t.partitions // [])[] | {
        number: (.node | capture("p(?<n>[0-9]+)$").n | tonumber),
        node, startSector: .start, sizeSectors: .size, type,
        byteOffset: (.start * $ss), sectorSize: $ss
      }]
    }'
}

# Partition nodes appear through udev after the kernel rescans: wait for every node the table names.
settle_partitions() { # <device> <table json>
  local device=$1 table=$2 node tries
  udevadm settle --timeout=30 || true
  for node in $(jq -r '.partitions[].node' <<<"$table"); do
    for ((tries = 0; tries < 100; tries++)); do
      [[ -b "$node" ]] && break
      sleep 0.1
    done
    [[ -b "$node" ]] || fail "$device is attached but its partition $node did not appear within 10 s"
    blockdev --setro "$node"
  done
}

report() { # <device>
  local device=$1 table
  blockdev --setro "$device"
  table=$(partition_table_json "$device")
  settle_partitions "$device" "$table"
  echo "FORENSIC_LAB_RESULT $table"
}

if [[ -d /sys/module/nbd ]]; then
  max_part=$(cat /sys/module/nbd/parameters/max_part 2>/dev/null || echo unknown)
  [[ "$max_part" != 0 ]] ||
    fail "the nbd module is loaded with max_part=0, so partitions would never appear; when no nbd device is in use, run 'rmmod nbd' (the lab then loads it with max_part=$MAX_PARTITIONS)"
else
  modprobe nbd max_part="$MAX_PARTITIONS"
  max_part=$(cat /sys/module/nbd/parameters/max_part)
fi
for ((tries = 0; tries < 50; tries++)); do
  [[ -e /sys/block/nbd0 ]] && break
  sleep 0.1
done
[[ -e /sys/block/nbd0 ]] || fail "the nbd module is loaded but /sys/block/nbd0 did not appear"

mkdir -p "$STATE_DIR"
exec 9>"$LOCK_FILE"
flock -w 120 9 || fail "another nbd attach or detach held $LOCK_FILE for more than 120 s"

state_file=$STATE_DIR/$(printf '%s' "$IMAGE_SPEC" | sha256sum | cut -c1-64)
device=$(serving_device)
if [[ -n "$device" ]]; then
  echo "nbd-attachment: the image is already served read-only on $device; nothing changed" >&2
  echo "$device" >"$state_file"
  report "$device"
  exit 0
fi

# Each layer must declare a parent exactly when the pinned chain gives it one: a snapshot whose
# backingChain was left out would otherwise show only its own changes, silently.
last=$((${#LAYER_PATHS[@]} - 1))
for i in "${!LAYER_PATHS[@]}"; do
  format=${LAYER_FORMATS[i]}
  [[ "$format" == vmdk || "$format" == qcow2 ]] || continue
  alone=json:$(jq -cn --arg driver "$format" --arg filename "${LAYER_PATHS[i]}" \
    '{driver: $driver, "read-only": true, file: {driver: "file", filename: $filename}, backing: null}')
  declared=$(qemu-img info --force-share --output=json "$alone" | jq -r '."backing-filename" // ""') ||
    fail "qemu-img cannot open '${LAYER_PATHS[i]}' as $format"
  if ((i < last)) && [[ -z "$declared" ]]; then
    fail "layer '${LAYER_PATHS[i]}' declares no parent, but backingChain lists ${LAYER_PATHS[i + 1]} below it"
  fi
  if ((i == last)) && [[ -n "$declared" ]]; then
    fail "layer '${LAYER_PATHS[i]}' declares a parent ('$declared') that backingChain does not list; pass the whole chain"
  fi
done

device=""
for sys in /sys/block/nbd*; do
  candidate=$(basename "$sys")
  if device_is_free "$candidate"; then
    device=/dev/$candidate
    break
  fi
done
[[ -n "$device" ]] || fail "no free nbd device (all $(find /sys/block -maxdepth 1 -name 'nbd*' | wc -l) are in use)"

# A create that fails after connecting leaves nothing behind: Pulumi records no resource to delete.
undo_on_failure() {
  local status=$?
  if ((status != 0)); then
    qemu-nbd -d "$device" >/dev/null 2>&1 || true
    rm -f "$state_file"
  fi
}
trap undo_on_failure EXIT

# --fork: qemu-nbd returns once the device is connected; --read-only: the kernel device is read-only too.
qemu-nbd --read-only --format="$IMAGE_FORMAT" --connect="$device" --fork "$IMAGE_SPEC" ||
  fail "qemu-nbd could not serve the image on $device"
echo "$device" >"$state_file"
for ((tries = 0; tries < 100; tries++)); do
  [[ "$(<"/sys/block/${device#/dev/}/size")" != 0 ]] && break
  sleep 0.1
done
[[ "$(<"/sys/block/${device#/dev/}/size")" != 0 ]] || fail "qemu-nbd started but $device still has size 0 after 10 s"

count=$(partition_table_json "$device" | jq '.partitions | length')
((count <= max_part)) || fail "the image has $count partitions but nbd was loaded with max_part=$max_part"
echo "nbd-attachment: attached read-only on $device" >&2
report "$device"
