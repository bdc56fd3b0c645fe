#!/usr/bin/env bash
# Bench, in the guest: one cold sequential read of FILE (caches dropped first), timed inside the guest so
# the ssh round trip is not counted. Reads only.
# Values: FILE (absolute guest path), BYTES (the size it must have).
set -euo pipefail

fail() {
  echo "bench: $*" >&2
  exit 1
}

[[ -f "$FILE" ]] || fail "'$FILE' is not a file in the guest"
size=$(stat -c %s -- "$FILE")
[[ "$size" == "$BYTES" ]] || fail "'$FILE' holds $size bytes, expected $BYTES"

sync
echo 3 >/proc/sys/vm/drop_caches
started=$(date +%s%N)
dd if="$FILE" of=/dev/null bs=1M status=none
ended=$(date +%s%N)
printf 'FORENSIC_LAB_RESULT {"bytes": %s, "nanoseconds": %s}\n' "$size" "$((ended - started))"
