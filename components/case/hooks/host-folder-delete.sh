#!/usr/bin/env bash
# Case delete, on the host: the case folder goes when it is empty. The custody log is a record of what
# was done with the evidence, not lab state: it stays, and with it the folder.
# Values: STATE_DIR, VOLUME_DIR.
set -euo pipefail

for folder in ${VOLUME_DIR:+"$VOLUME_DIR"} "$STATE_DIR"; do
  [[ -d "$folder" ]] || continue
  rmdir --ignore-fail-on-non-empty "$folder"
done
if [[ -d "$STATE_DIR" ]]; then
  echo "case folder kept: $(find "$STATE_DIR" -mindepth 1 -maxdepth 1 -printf '%f ' | head -c 400)" >&2
fi
