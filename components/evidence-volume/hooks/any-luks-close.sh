#!/usr/bin/env bash
# Closes the evidence volume's LUKS mapping (host for lvm, guest for file). Already closed is fine; a
# mapping still in use is an error (its holder, a mount or a guest, must go first).
# On the host (ON_HOST), the last forensic-lab mapping to close takes host-shield.sh's udev rule with it.
# Values: MAPPER_NAME ON_HOST.
set -euo pipefail

# shellcheck disable=SC2034 # read by fail() (lib/hooks/common.sh)
readonly FAILS_AS="forensic-lab: evidence volume"
# forensic-lab:include lib/hooks/common.sh

# forensic-lab:include components/evidence-volume/hooks/host-shield.sh

[[ $ON_HOST == true ]] && shield_lock

if ! cryptsetup status -- "$MAPPER_NAME" >/dev/null 2>&1; then
  echo "forensic-lab: mapping $MAPPER_NAME is already closed" >&2
  [[ $ON_HOST == true ]] && shield_remove_if_unused
  echo 'FORENSIC_LAB_RESULT {"closed":false}'
  exit 0
fi
# A guest's QEMU may take a moment to release the device after the domain is destroyed.
for attempt in $(seq 10); do
  rc=0
  cryptsetup close -- "$MAPPER_NAME" || rc=$?
  ((rc == 0)) && break
  if ((rc != 5 || attempt == 10)); then
    fail "cannot close mapping $MAPPER_NAME (cryptsetup exit $rc)"
  fi
  sleep 1
done
[[ $ON_HOST == true ]] && shield_remove_if_unused
echo 'FORENSIC_LAB_RESULT {"closed":true}'
