#!/usr/bin/env bash
# Custody log, shared by ImageTransfer's host hooks (included at render time with
# `# forensic-lab:include components/image-transfer/hooks/host-custody.sh`). Uses IMAGE_NAME, EXAMINER, CUSTODY_LOG.
# Every `sha256` in the log is one the host computed from bytes it read itself: the evidence file, the
# bytes it sent into the guest's session, or the bytes the guest handed back. What a guest reports goes
# in `guestReportedSha256`, and it can only ever stop a transfer, never vouch for one.

# One JSON line per custody event, appended under a lock (several images log into one file). EXTRA, a
# JSON object, is merged in (verifiedBy, guestReportedSha256).
custody() {
  local event=$1 side=$2 file=$3 sha256=$4 guest_path=${5:-} detail=${6:-} extra=${7:-"{}"} line
  line=$(jq -cn --arg time "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" --arg action "$event" --arg side "$side" \
    --arg image "$IMAGE_NAME" --arg file "$file" --arg sha256 "$sha256" --arg who "$EXAMINER" \
    --arg guestPath "$guest_path" --arg detail "$detail" --argjson extra "$extra" \
    '{$time, $action, $image, $file, sha256: (if $sha256 == "" then null else $sha256 end), $who, $side}
     + (if $guestPath == "" then {} else {$guestPath} end) + (if $detail == "" then {} else {$detail} end) + $extra')
  mkdir -p -- "$(dirname -- "$CUSTODY_LOG")"
  # Appending through a link planted in the case folder would write root's lines into whatever it names
  # (the evidence, /etc/...). The case folder hook refuses a folder where anyone but root could plant one.
  if [[ -L "$CUSTODY_LOG" ]]; then
    echo "forensic-lab:stateDir: the custody log '$CUSTODY_LOG' is a symbolic link (to '$(readlink -- "$CUSTODY_LOG")'); refusing to write through it" >&2
    exit 1
  fi
  { flock 9; printf '%s\n' "$line" >&9; } 9>>"$CUSTODY_LOG"
}
