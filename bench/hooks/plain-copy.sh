#!/usr/bin/env bash
# Bench, host side: the scp transfer's copy path with nothing hashed. Each file goes through the host's
# pinned ssh session into the guest's `dd`, exactly as components/image-transfer/hooks/host-scp.sh sends it to
# guest-receive.sh, but neither side runs sha256sum. Only for measuring what hashing costs.
# Values: HOST_FILES, GUEST_RECEIVE_HOOK (bench/hooks/receive-plain.sh rendered for the guest).
set -euo pipefail

for i in "${!HOST_FILES[@]}"; do
  { printf '%s\n' "$i"; cat -- "${HOST_FILES[i]}"; } | bash -c "$GUEST_RECEIVE_HOOK" forensic-lab-guest
done
printf 'FORENSIC_LAB_RESULT {"files": %s}\n' "${#HOST_FILES[@]}"
