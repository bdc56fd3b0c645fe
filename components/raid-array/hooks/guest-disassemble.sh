#!/usr/bin/env bash
# RaidArray delete, in the guest: removes the array's mapping (fl-array-<name>), stops the md device
# under it if md runs the array (lib/hooks/md-array.sh), then removes the members' mappings
# (fl-array-<name>-r<role>). One still mounted or held is an error naming its holder: the mount goes
# first. Values: ARRAY_NAME. "Already gone" is success.
set -euo pipefail

# shellcheck disable=SC2034 # read by fail() (lib/hooks/common.sh)
readonly FAILS_AS="raid-array"
# forensic-lab:include lib/hooks/common.sh
# forensic-lab:include lib/hooks/md-array.sh

[[ "$ARRAY_NAME" =~ ^[a-z0-9][a-z0-9-]{0,31}$ ]] || fail "array name '$ARRAY_NAME' must be 1-32 of a-z, 0-9 and '-'"
readonly PREFIX="fl-array-$ARRAY_NAME"

mapped=()
while read -r name; do
  if [[ "$name" == "$PREFIX" || "$name" =~ ^$PREFIX-r[0-9]+$ ]]; then mapped+=("$name"); fi
done < <(dmsetup info -c --noheadings -o name 2>/dev/null || true)
# remove NAME: one mapping, or an error naming where it is mounted.
remove() {
  if ! dmsetup remove --retry -- "$1" 2>/dev/null; then
    where=$(findmnt -rn -o TARGET --source "/dev/mapper/$1" 2>/dev/null | paste -sd, || true)
    fail "/dev/mapper/$1 is still in use (mounted at: ${where:-nowhere}); unmount it (delete the mount) and delete again"
  fi
  echo "raid-array: removed /dev/mapper/$1" >&2
}
# The array's mapping first, then the md device under it (if md runs the array), then the members'.
for name in "${mapped[@]}"; do
  if [[ "$name" == "$PREFIX" ]]; then remove "$name"; fi
done
md=$(md_array_name "$ARRAY_NAME")
if [[ -d "/sys/block/$md/md" ]]; then
  md_stop "$md"
  echo "raid-array: stopped md device $md" >&2
fi
for name in "${mapped[@]}"; do
  if [[ "$name" != "$PREFIX" ]]; then remove "$name"; fi
done
echo "raid-array: ${#mapped[@]} mapping(s) of array $ARRAY_NAME removed; none left" >&2
