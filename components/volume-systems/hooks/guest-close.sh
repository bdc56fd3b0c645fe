#!/usr/bin/env bash
# VolumeSystems delete, in the guest: removes every mapping the create hook made on this device (named
# with its prefix, fl-<nbdN>-... or fl-array_<name>_...), the top layer first: a mapping nothing holds
# goes, then the ones below it.
# A mapping still mounted or held open is an error naming its holder: PartitionMount must be deleted
# first. LUKS and BitLocker mappings close through cryptsetup, which wipes the key from the kernel.
# Values: NBD_DEVICE or ARRAY_DEVICE (the other one empty).
# "Already gone" is success: never opened, closed before, guest rebooted.
set -euo pipefail

# shellcheck disable=SC2034 # read by fail() (lib/hooks/common.sh)
readonly FAILS_AS="volume-systems"
# forensic-lab:include lib/hooks/common.sh
# forensic-lab:include lib/hooks/evidence-device.sh

evidence_device
readonly DEVICE VOLUME_PREFIX

# This device's mappings, "<name> <open count>" per line.
ours() {
  local name open
  while read -r name open; do
    if [[ "$name" == "$VOLUME_PREFIX"* ]]; then echo "$name $open"; fi
  done < <(dmsetup info -c --noheadings -o name,open --separator ' ' 2>/dev/null || true)
}

closed=0
while :; do
  progress=false remaining=()
  while read -r name open; do
    [[ -n "$name" ]] || continue
    if ((open > 0)); then
      remaining+=("$name")
      continue
    fi
    if [[ "$name" == "${VOLUME_PREFIX}luks-"* || "$name" == "${VOLUME_PREFIX}bitlocker-"* ]]; then
      cryptsetup close -- "$name" || fail "cannot close /dev/mapper/$name"
    else
      dmsetup remove --retry -- "$name" || fail "cannot remove /dev/mapper/$name"
    fi
    echo "volume-systems: closed /dev/mapper/$name" >&2
    closed=$((closed + 1)) progress=true
  done < <(ours)
  ((${#remaining[@]} > 0)) || break
  if [[ "$progress" == false ]]; then
    held=""
    for name in "${remaining[@]}"; do
      where=$(findmnt -rn -o TARGET --source "/dev/mapper/$name" 2>/dev/null | paste -sd, || true)
      holders=""
      for holder in "/sys/class/block/$(kernel_name "/dev/mapper/$name")/holders"/*; do
        if [[ -e "$holder" ]]; then holders+="${holders:+,}${holder##*/}"; fi
      done
      held+=" /dev/mapper/$name (mounted at: ${where:-nowhere}; held by: ${holders:-a process})"
    done
    fail "still in use, so left open:${held}; unmount them (delete the PartitionMount) and delete again"
  fi
done
echo "volume-systems: $closed mapping(s) of $DEVICE closed; none left" >&2
