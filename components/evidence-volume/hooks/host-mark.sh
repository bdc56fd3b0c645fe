#!/usr/bin/env bash
# The file backend's proof that a volume file is this case's own, shared by host-backing-create.sh and
# host-backing-delete.sh. A trusted.* extended attribute: only root on the host can set or read one, and the
# guest, which writes the file's bytes (its LUKS header included), cannot touch it. Uses VOLUME_MARK.

readonly MARK_ATTRIBUTE=trusted.forensic-lab.volume

# Fails unless FILE carries VOLUME_MARK; ACTION (adopt|erase) words the refusal.
require_mark() {
  local file=$1 action=$2 mark
  mark=$(getfattr --absolute-names --only-values -n "$MARK_ATTRIBUTE" -- "$file" 2>/dev/null) || mark=""
  if [[ -z $mark ]]; then
    fail "path: $file was not made by forensic-lab (no $MARK_ATTRIBUTE mark); refusing to $action it"
  elif [[ $mark != "$VOLUME_MARK" ]]; then
    fail "path: $file is the evidence volume of another case ($mark, not $VOLUME_MARK); refusing to $action it"
  fi
}
