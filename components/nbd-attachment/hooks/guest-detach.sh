#!/usr/bin/env bash
# NbdAttachment delete, in the guest: disconnects the nbd device serving IMAGE_SPEC and makes sure the
# kernel let go of it (size 0) and the qemu-nbd process is gone (it holds the evidence files open).
# Values: IMAGE_SPEC (the same `json:` pseudo-filename the create hook served), STATE_KEY (its sha256),
# EWF_MOUNT (for an EWF set, the ewfmount folder to unmount once nothing serves it; "" otherwise),
# ARRAY_RELEASE_SECONDS (how long a member of the lab's md array waits for the array to be removed).
# "Already gone" is success: never attached, disconnected before, qemu-nbd died, guest rebooted (/run is
# empty then). A device still mounted or held open is an error: PartitionMount must be deleted first.
set -euo pipefail

readonly STATE_DIR=/run/forensic-lab/nbd
readonly LOCK_FILE=/run/forensic-lab/nbd.lock

# shellcheck disable=SC2034 # read by fail() (lib/hooks/common.sh)
readonly FAILS_AS="nbd-attachment"
# forensic-lab:include lib/hooks/common.sh

[[ "$STATE_KEY" =~ ^[0-9a-f]{64}$ ]] || fail "STATE_KEY must be a sha256 in hex"
[[ -z "$EWF_MOUNT" || "$EWF_MOUNT" =~ ^/run/forensic-lab/ewf/[0-9a-f]{64}$ ]] || fail "EWF_MOUNT must be /run/forensic-lab/ewf/<sha256>"
[[ "$ARRAY_RELEASE_SECONDS" =~ ^[0-9]{1,4}$ ]] || fail "ARRAY_RELEASE_SECONDS must be a whole number of seconds"

# Last, once no qemu-nbd reads it: the ewfmount daemon goes with its mount (it holds every segment open).
unmount_ewf() {
  [[ -n "$EWF_MOUNT" ]] || return 0
  if findmnt --mountpoint "$EWF_MOUNT" >/dev/null; then
    umount "$EWF_MOUNT" || fail "cannot unmount the EWF set at $EWF_MOUNT (still in use?)"
    echo "nbd-attachment: unmounted the EWF set at $EWF_MOUNT" >&2
  fi
  rmdir "$EWF_MOUNT" 2>/dev/null || true
}

if [[ ! -d /sys/module/nbd ]]; then
  echo "nbd-attachment: the nbd module is not loaded; nothing is attached" >&2
  unmount_ewf
  exit 0
fi
mkdir -p "$STATE_DIR"
readonly STATE_FILE=$STATE_DIR/$STATE_KEY

size_of() { echo "$(<"/sys/block/${1#/dev/}/size")"; }
size_is_zero() { [[ "$(<"/sys/block/${1#/dev/}/size")" == 0 ]]; }
process_gone() { [[ ! -d "/proc/$1" ]]; }

# Sets `pid` to the live qemu-nbd process behind a device, or to "". The kernel records the thread that
# runs the nbd client loop, not the process: its Tgid is the process.
find_live_pid() { # <device>
  local tid line
  pid=""
  [[ -r "/sys/block/${1#/dev/}/pid" ]] || return 0
  tid=$(<"/sys/block/${1#/dev/}/pid") || return 0
  while IFS= read -r line; do
    if [[ "$line" =~ ^Tgid:[[:space:]]+([0-9]+)$ ]]; then pid=${BASH_REMATCH[1]}; fi
  done <"/proc/$tid/status" 2>/dev/null || true
  return 0
}

serves_our_image() { # <device> <pid>
  local argv
  mapfile -d '' -t argv <"/proc/$2/cmdline" 2>/dev/null || return 1
  ((${#argv[@]} > 0)) && has_word --read-only "${argv[@]}" && has_word "--connect=$1" "${argv[@]}" &&
    [[ "${argv[-1]}" == "$IMAGE_SPEC" ]]
}

# Each device whose live qemu-nbd serves IMAGE_SPEC, as "<device> <pid>" lines.
served_devices() {
  local pid_file device
  for pid_file in /sys/block/nbd*/pid; do
    [[ -r "$pid_file" ]] || continue
    device=${pid_file%/pid}
    device=/dev/${device##*/}
    find_live_pid "$device"
    if [[ -n "$pid" ]] && serves_our_image "$device" "$pid"; then echo "$device $pid"; fi
  done
}

# ` (<dm name>)` of a holder that is a device-mapper mapping, so a refusal names the lab's mapping.
dm_name() { # <sysfs folder of a block device>
  if [[ -r "$1/dm/name" ]]; then echo " ($(<"$1/dm/name"))"; fi
}

# Who keeps a device busy, one line each: mounts, stacked devices (dm, md), processes with it open
# other than its own qemu-nbd.
users_of() { # <device> <qemu-nbd pid or "">
  local name=${1#/dev/} server=$2 node nodes=() target holder fd process
  for node in "/dev/$name" /dev/"$name"p*; do
    if [[ -b "$node" ]]; then nodes+=("$node"); fi
  done
  for node in "${nodes[@]}"; do
    while IFS= read -r target; do
      if [[ -n "$target" ]]; then echo "$node is mounted at $(printf '%b' "$target")"; fi
    done < <(findmnt -rn -o TARGET --source "$node" 2>/dev/null || true)
    for holder in /sys/class/block/"${node#/dev/}"/holders/*; do
      if [[ -e "$holder" ]]; then echo "$node is held by /dev/${holder##*/}$(dm_name "$holder")"; fi
    done
  done
  # One find for every process's open files: under software emulation each process started costs.
  while IFS= read -r fd; do
    process=${fd#/proc/}
    process=${process%%/*}
    if [[ "$process" != "$server" ]]; then
      echo "${fd} -> $(readlink "$fd" 2>/dev/null) in process $process ($(cat "/proc/$process/comm" 2>/dev/null || echo gone))"
    fi
  done < <(for node in "${nodes[@]}"; do find /proc/[0-9]*/fd -maxdepth 1 -lname "$node" 2>/dev/null; done || true)
}

wait_for() { # <tenths of a second> <command...>
  local tries=$1
  shift
  while ((tries-- > 0)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  "$@"
}

detach() { # <device> <pid or "">
  local device=$1 server=$2 busy
  busy=$(users_of "$device" "$server")
  [[ -z "$busy" ]] || fail "refusing to disconnect $device, it is still in use (delete its PartitionMount first):
$busy"
  qemu-nbd -d "$device" >/dev/null 2>&1 || true
  # A disconnect can return 0 and leave the device connected; only size 0 proves it let go.
  if ! wait_for 50 size_is_zero "$device" && [[ -n "$server" ]]; then
    echo "nbd-attachment: $device still connected after qemu-nbd -d; stopping qemu-nbd (pid $server)" >&2
    kill -TERM "$server" 2>/dev/null || true
    wait_for 50 process_gone "$server" || kill -KILL "$server" 2>/dev/null || true
    qemu-nbd -d "$device" >/dev/null 2>&1 || true
  fi
  wait_for 50 size_is_zero "$device" || fail "$device still has size $(size_of "$device") after disconnecting:
$(users_of "$device" "")"
  # The server must go too: it holds every layer of the evidence open (and an sshfs mount busy).
  if [[ -n "$server" ]] && ! wait_for 50 process_gone "$server"; then
    kill -KILL "$server" 2>/dev/null || true
    wait_for 20 process_gone "$server" || fail "qemu-nbd (pid $server) for $device did not exit"
  fi
  echo "nbd-attachment: disconnected $device" >&2
}

# RaidArray's mappings on a device or its partitions, one name a line: the array itself where a striped
# or linear table reads the members (fl-array-<name>), else each member's (fl-array-<name>-r<role>).
array_mappings_on() { # <device>
  local node holder name
  for node in "/sys/class/block/${1#/dev/}" /sys/class/block/"${1#/dev/}"p*; do
    for holder in "$node"/holders/*; do
      [[ -r "$holder/dm/name" ]] || continue
      name=$(<"$holder/dm/name")
      if [[ "$name" =~ ^fl-array-[a-z0-9-]+$ ]]; then echo "$name"; fi
    done
  done
}

# An md array over several images is removed before any of its members is detached, and in a destroy
# it is gone by now. Not so in `pulumi up --replace` of several attachments (the documented recovery
# when a qemu-nbd died): each replacement first deletes what depends on it, but an array over two of
# them is deleted once, in the steps of whichever the engine takes first, and the engine runs the
# other's steps beside them without waiting for that delete (pulumi 3.248). So a member waits, at most
# ARRAY_RELEASE_SECONDS and before taking the lock, for the lab's array mappings on it to go. Whatever
# still holds the device after that is refused below, as always.
wait_for_array_removal() {
  local device line held deadline=$((SECONDS + ARRAY_RELEASE_SECONDS)) devices=()
  while IFS= read -r line; do devices+=("${line%% *}"); done < <(served_devices)
  if [[ -r "$STATE_FILE" ]]; then devices+=("$(<"$STATE_FILE")"); fi
  for device in "${devices[@]}"; do
    [[ "$device" =~ ^/dev/nbd[0-9]+$ ]] || continue
    held=$(array_mappings_on "$device")
    [[ -n "$held" ]] || continue
    echo "nbd-attachment: $device is a member of the lab's md array (${held//$'\n'/, }); waiting up to ${ARRAY_RELEASE_SECONDS} s for the array to be removed" >&2
    while [[ -n "$(array_mappings_on "$device")" ]] && ((SECONDS < deadline)); do sleep 0.5; done
  done
}

wait_for_array_removal
exec 9>"$LOCK_FILE"
flock -w 120 9 || fail "another nbd attach or detach held $LOCK_FILE for more than 120 s"

handled=()
mapfile -t served < <(served_devices)
for line in "${served[@]}"; do
  detach "${line%% *}" "${line#* }"
  handled+=("${line%% *}")
done

# qemu-nbd died (killed, crashed): no process to match, but the device we recorded may still be connected.
if [[ -r "$STATE_FILE" ]]; then
  recorded=$(<"$STATE_FILE")
  if [[ "$recorded" =~ ^/dev/nbd[0-9]+$ && -e "/sys/block/${recorded#/dev/}" ]] && ! has_word "$recorded" "${handled[@]}"; then
    find_live_pid "$recorded"
    if [[ -n "$pid" ]]; then
      echo "nbd-attachment: $recorded now serves another image (pid $pid); leaving it alone" >&2
    elif ! size_is_zero "$recorded"; then
      echo "nbd-attachment: the qemu-nbd behind $recorded is gone but the device is still connected; clearing it" >&2
      detach "$recorded" ""
      handled+=("$recorded")
    fi
  fi
  rm -f "$STATE_FILE"
fi
if ((${#handled[@]} == 0)); then
  echo "nbd-attachment: the image is not attached; nothing to undo" >&2
fi
unmount_ewf
