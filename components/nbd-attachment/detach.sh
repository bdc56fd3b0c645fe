#!/usr/bin/env bash
# NbdAttachment delete, in the guest: disconnects the nbd device serving IMAGE_SPEC and makes sure the
# kernel let go of it (size 0) and the qemu-nbd process is gone (it holds the evidence files open).
# Values: IMAGE_SPEC (the same `json:` pseudo-filename the create hook served).
# "Already gone" is success: never attached, disconnected before, qemu-nbd died, guest rebooted (/run is
# empty then). A device still mounted or held open is an error: PartitionMount must be deleted first.
set -euo pipefail

readonly STATE_DIR=/run/forensic-lab/nbd
readonly LOCK_FILE=/run/forensic-lab/nbd.lock

fail() {
  echo "nbd-attachment: $*" >&2
  exit 1
}

if [[ ! -d /sys/module/nbd ]]; then
  echo "nbd-attachment: the nbd module is not loaded; nothing is attached" >&2
  exit 0
fi
mkdir -p "$STATE_DIR"
exec 9>"$LOCK_FILE"
flock -w 120 9 || fail "another nbd attach or detach held $LOCK_FILE for more than 120 s"
state_file=$STATE_DIR/$(printf '%s' "$IMAGE_SPEC" | sha256sum | cut -c1-64)

size_of() { cat "/sys/block/${1#/dev/}/size"; }

# The pid of the live qemu-nbd behind a device; empty when none.
live_pid() {
  local pid
  pid=$(cat "/sys/block/${1#/dev/}/pid" 2>/dev/null) || return 0
  [[ -d "/proc/$pid" ]] && echo "$pid"
  return 0
}

has_word() { # <word> <list...>
  local word=$1 item
  shift
  for item; do [[ "$item" == "$word" ]] && return 0; done
  return 1
}

serves_our_image() { # <device> <pid>
  local argv
  mapfile -d '' -t argv <"/proc/$2/cmdline" 2>/dev/null || return 1
  ((${#argv[@]} > 0)) && has_word --read-only "${argv[@]}" && has_word "--connect=$1" "${argv[@]}" &&
    [[ "${argv[-1]}" == "$IMAGE_SPEC" ]]
}

# Who keeps a node busy: mounts, stacked devices (dm, md), processes with it open.
users_of() { # <device>
  local name=${1#/dev/} node target holder fd
  for node in "/dev/$name" /dev/"$name"p*; do
    [[ -b "$node" ]] || continue
    while IFS= read -r target; do
      [[ -n "$target" ]] && echo "$node is mounted at $target"
    done < <(findmnt -rn -o TARGET --source "$node" 2>/dev/null || true)
    for holder in /sys/class/block/"${node#/dev/}"/holders/*; do
      [[ -e "$holder" ]] && echo "$node is held by /dev/$(basename "$holder")"
    done
    for fd in /proc/[0-9]*/fd/*; do
      [[ "$(readlink "$fd" 2>/dev/null)" == "$node" ]] || continue
      fd=${fd#/proc/}
      echo "$node is open in process ${fd%%/*} ($(cat "/proc/${fd%%/*}/comm" 2>/dev/null || echo gone))"
    done
  done
}

wait_for() { # <tenths of a second> <command...>
  local tries=$1
  shift
  while ((tries-- > 0)); do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}
size_is_zero() { [[ "$(size_of "$1")" == 0 ]]; }
process_gone() { [[ ! -d "/proc/$1" ]]; }

detach() { # <device> <pid or empty>
  local device=$1 pid=$2 busy
  busy=$(users_of "$device" | grep -v " is open in process $pid " || true)
  [[ -z "$busy" ]] || fail "refusing to disconnect $device, it is still in use (delete its PartitionMount first):
$busy"
  qemu-nbd -d "$device" >/dev/null 2>&1 || true
  # A disconnect can return 0 and leave the device connected; only size 0 proves it let go.
  if ! wait_for 50 size_is_zero "$device" && [[ -n "$pid" ]]; then
    echo "nbd-attachment: $device still connected after qemu-nbd -d; stopping qemu-nbd (pid $pid)" >&2
    kill -TERM "$pid" 2>/dev/null || true
    wait_for 50 process_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
    qemu-nbd -d "$device" >/dev/null 2>&1 || true
  fi
  wait_for 50 size_is_zero "$device" || fail "$device still has size $(size_of "$device") after disconnecting:
$(users_of "$device")"
  # The server must go too: it holds every layer of the evidence open (and an sshfs mount busy).
  if [[ -n "$pid" ]] && ! wait_for 50 process_gone "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    wait_for 20 process_gone "$pid" || fail "qemu-nbd (pid $pid) for $device did not exit"
  fi
  echo "nbd-attachment: disconnected $device" >&2
}

handled=()
for pid_file in /sys/block/nbd*/pid; do
  [[ -r "$pid_file" ]] || continue
  device=/dev/$(basename "$(dirname "$pid_file")")
  pid=$(live_pid "$device")
  if [[ -n "$pid" ]] && serves_our_image "$device" "$pid"; then
    detach "$device" "$pid"
    handled+=("$device")
  fi
done

# qemu-nbd died (killed, crashed): no pid to match, but the device we recorded may still be connected.
if [[ -r "$state_file" ]]; then
  recorded=$(<"$state_file")
  if [[ "$recorded" =~ ^/dev/nbd[0-9]+$ && -e "/sys/block/${recorded#/dev/}" ]] && ! has_word "$recorded" "${handled[@]}"; then
    pid=$(live_pid "$recorded")
    if [[ -n "$pid" ]]; then
      echo "nbd-attachment: $recorded now serves another image (pid $pid); leaving it alone" >&2
    elif [[ "$(size_of "$recorded")" != 0 ]]; then
      echo "nbd-attachment: the qemu-nbd behind $recorded is gone but the device is still connected; clearing it" >&2
      detach "$recorded" ""
      handled+=("$recorded")
    fi
  fi
  rm -f "$state_file"
fi
if ((${#handled[@]} == 0)); then
  echo "nbd-attachment: the image is not attached; nothing to undo" >&2
fi
