#!/usr/bin/env bash
# The evidence device a guest hook works on, for VolumeSystems and PartitionMount (inlined after
# common.sh): an attached image's nbd device (NBD_DEVICE) or a RaidArray's mapping (ARRAY_DEVICE),
# exactly one of them, and the prefix of the mappings VolumeSystems makes on it.

# evidence_device: checks NBD_DEVICE and ARRAY_DEVICE and sets DEVICE (the one given) and VOLUME_PREFIX:
#   /dev/nbd3                 -> fl-nbd3-
#   /dev/mapper/fl-array-nas  -> fl-array_nas_
# An array's prefix is joined by '_', which array names never hold. Joined by '-', array x's prefix would
# cover array x-lvm's mappings and RaidArray's own fl-array-<name>-r<role>, and one close would take them.
# shellcheck disable=SC2034 # DEVICE and VOLUME_PREFIX are read by the including hook
evidence_device() {
  local array
  if [[ -n "$ARRAY_DEVICE" ]]; then
    [[ -z "$NBD_DEVICE" ]] || fail "nbdDevice and arrayDevice are both given; give one"
    array=${ARRAY_DEVICE#/dev/mapper/fl-array-}
    [[ "$ARRAY_DEVICE" == "/dev/mapper/fl-array-$array" && "$array" =~ ^[a-z0-9][a-z0-9-]{0,31}$ && ! "$array" =~ -r[0-9]+$ ]] ||
      fail "arrayDevice '$ARRAY_DEVICE' is not a RaidArray mapping (/dev/mapper/fl-array-<name>)"
    DEVICE=$ARRAY_DEVICE VOLUME_PREFIX="fl-array_${array}_"
  else
    [[ "$NBD_DEVICE" =~ ^/dev/nbd[0-9]+$ ]] || fail "nbdDevice '$NBD_DEVICE' is not an nbd device (/dev/nbdN)"
    DEVICE=$NBD_DEVICE VOLUME_PREFIX="fl-${NBD_DEVICE#/dev/}-"
  fi
}

# evidence_device_present: fails unless DEVICE is there: an nbd device attached (size not 0), an array mapped.
evidence_device_present() {
  if [[ -n "$ARRAY_DEVICE" ]]; then
    [[ -b "$DEVICE" ]] || fail "$DEVICE is not mapped (no such device)"
  else
    [[ -e "/sys/block/${DEVICE#/dev/}" && "$(<"/sys/block/${DEVICE#/dev/}/size")" != 0 ]] ||
      fail "$DEVICE is not attached (no such device, or size 0)"
  fi
}
