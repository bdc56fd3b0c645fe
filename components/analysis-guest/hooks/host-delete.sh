#!/usr/bin/env bash
# Removes the case's analysis guest: stops and undefines the domain, then deletes its overlay, seed disk,
# kernel copy and console log (on the libvirt host) and its keys and known_hosts (here).
# "Already gone" (no domain, no files) is success; anything else (libvirt unreachable, a file that will
# not go) is a failure.
# Values (prelude): DOMAIN_NAME LIBVIRT_URI LIBVIRT_SSH_TARGET LIBVIRT_SSH_PORT STATE_DIR KEYS_DIR
#   DISKS_DIR
set -euo pipefail

# forensic-lab:include lib/hooks/ssh-options.sh
# forensic-lab:include lib/hooks/common.sh

log() { echo "analysis-guest $DOMAIN_NAME: $*" >&2; }
die() { log "$*"; exit 1; }

virsh_() { virsh -q -c "$LIBVIRT_URI" "$@"; }

domain_exists() {
  local names
  names=$(virsh_ list --all --name) || die "cannot list domains at $LIBVIRT_URI (is libvirtd running?)"
  grep -Fxq -- "$DOMAIN_NAME" <<<"$names"
}

if domain_exists; then
  if [[ "$(virsh_ domstate "$DOMAIN_NAME")" != "shut off" ]]; then
    # It may stop on its own between the two calls: only a domain still up afterwards is an error.
    virsh_ destroy "$DOMAIN_NAME" >/dev/null ||
      [[ "$(virsh_ domstate "$DOMAIN_NAME")" == "shut off" ]] || die "virsh destroy failed"
  fi
  virsh_ undefine "$DOMAIN_NAME" >/dev/null || ! domain_exists || die "virsh undefine failed"
  log "domain stopped and undefined"
else
  log "no domain; nothing to stop"
fi

# KEYS_DIR (here) and DISKS_DIR (on the libvirt host) are the guest's own; STATE_DIR may hold other
# components' files (an evidence volume), so it goes only when empty.
on_host rm -rf -- "$DISKS_DIR" "/var/log/libvirt/qemu/$DOMAIN_NAME.log"
rm -rf -- "$KEYS_DIR"
if on_host test -d "$STATE_DIR"; then
  on_host rmdir --ignore-fail-on-non-empty -- "$STATE_DIR"
fi
if [[ -n "$LIBVIRT_SSH_TARGET" && -d "$STATE_DIR" ]]; then
  rmdir --ignore-fail-on-non-empty -- "$STATE_DIR"
fi
log "overlay, seed disk, kernel copy, console log, keys and known_hosts removed"
