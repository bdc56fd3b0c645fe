#!/usr/bin/env bash
# Closes the image's custody record when the transfer is destroyed: one line per file with its size and
# modification time now, so the log shows the lab ends with the evidence as it found it (the hash lines
# at the start are the reference). A missing file is logged, not an error: destroy must always finish.
# Values: IMAGE_NAME HOST_FILES CUSTODY_LOG EXAMINER.
set -euo pipefail
umask 077

# One JSON line per custody event, appended under a lock (several images log into one file).
custody() {
  local event=$1 side=$2 file=$3 sha256=$4 guest_path=${5:-} detail=${6:-} line
  line=$(jq -cn --arg time "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" --arg action "$event" --arg side "$side" \
    --arg image "$IMAGE_NAME" --arg file "$file" --arg sha256 "$sha256" --arg who "$EXAMINER" \
    --arg guestPath "$guest_path" --arg detail "$detail" \
    '{$time, $action, $image, $file, sha256: (if $sha256 == "" then null else $sha256 end), $who, $side}
     + (if $guestPath == "" then {} else {$guestPath} end) + (if $detail == "" then {} else {$detail} end)')
  mkdir -p -- "$(dirname -- "$CUSTODY_LOG")"
  { flock 9; printf '%s\n' "$line" >&9; } 9>>"$CUSTODY_LOG"
}

for file in "${HOST_FILES[@]}"; do
  if facts=$(stat -c 'size %s, modified %y' -- "$file" 2>/dev/null); then
    custody host-release host "$file" "" "" "$facts"
  else
    custody host-release host "$file" "" "" "missing on the host at release"
  fi
done
