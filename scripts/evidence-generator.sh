#!/usr/bin/env bash
# What the test evidence generators share (make-volume-evidence.sh, make-nas-evidence.sh), sourced after
# `readonly GENERATOR=<name>`: messages, the output folder and its lock, a scratch folder with the one
# loop device a run may hold, and lvm2 on the host without touching the host's own LVM state.

die() {
  echo "$GENERATOR: $*" >&2
  exit 1
}
say() { echo "$GENERATOR: $*" >&2; }

# open_output_folder DIR: sets `out` (DIR, absolute, made if missing) and holds its lock until the run
# ends: one generator per folder at a time, no lock file left behind.
open_output_folder() {
  mkdir -p -- "$1"
  out=$(cd -- "$1" && pwd)
  readonly out
  exec 8<"$out"
  flock -w 600 8 || die "$out: another $GENERATOR run holds it for more than 10 minutes"
}

# enter_scratch_folder: a scratch folder as the working directory, removed at exit with the loop device
# the run left in `loop` (if any).
enter_scratch_folder() {
  work=$(mktemp -d)
  loop=""
  trap 'if [[ -n "$loop" ]]; then losetup -d "$loop" 2>/dev/null || true; fi; rm -rf -- "$work"' EXIT
  cd "$work" || die "cannot enter $work"
}

# lvm2 on the host, touching nothing of the host's own: no devices file, no udev, no backups, no
# activation (there is no device-mapper to activate with).
export LVM_SUPPRESS_FD_WARNINGS=1
readonly LVM_CONFIG='devices { use_devicesfile = 0 obtain_device_list_from_udev = 0 }
  activation { udev_sync = 0 udev_rules = 0 monitoring = 0 } backup { backup = 0 archive = 0 }'
# lvm_here ARGS...: lvm on this run's loop device alone. Another generator's volume group of the same
# name on another loop device (two runs at once) stays invisible, as the guest hook scopes LVM to one image.
lvm_here() { lvm "$@" --devices "$loop" --config "$LVM_CONFIG"; }
