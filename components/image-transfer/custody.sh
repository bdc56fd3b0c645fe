#!/usr/bin/env bash
# Custody log, shared by ImageTransfer's host hooks (included at render time with
# `# forensic-lab:include components/image-transfer/custody.sh`). Uses IMAGE_NAME, EXAMINER, CUSTODY_LOG.

# One JSON line per custody event, appended under a lock (several images log into one file).
custody() {
  local event=$1 side=$2 file=$3 sha256=$4 guest_path=${5:-} detail=${6:-} line
  line=$(jq -cn --arg time "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" --arg action "$event" --arg side "$side" \
    --arg image "$IMAGE_NAME" --arg file "$file" --arg sha256 "$sha256" --arg who "$EXAMINER" \
    --arg guestPath "$guest_path" --arg detail "$detail" \
    '{$time, $action, $image, $file, sha256: (if $sha256 == "" then null else $sha256 end), $who, $side}
     + (if $guestPath == "" then {} else {$guestPath} end) + (if $detail == "" then {} else {$detail} end)')
  mkdir -p -- "$(dirname -- "$CUSTODY_LOG")"
  # Appending through a link planted in the case folder would write root's lines into whatever it names
  # (the evidence, /etc/...). The case folder hook refuses a folder where anyone but root could plant one.
  if [[ -L "$CUSTODY_LOG" ]]; then
    echo "forensic-lab:stateDir: the custody log '$CUSTODY_LOG' is a symbolic link (to '$(readlink -- "$CUSTODY_LOG")'); refusing to write through it" >&2
    exit 1
  fi
  { flock 9; printf '%s\n' "$line" >&9; } 9>>"$CUSTODY_LOG"
}
