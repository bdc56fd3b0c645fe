#!/usr/bin/env bash
# RaidArray delete, in the guest: removes the array's mapping, then its members' (fl-array-<name>,
# fl-array-<name>-r<role>). One still mounted or held is an error naming its holder: the mount goes
# first. Values: ARRAY_NAME. "Already gone" is success.
set -euo pipefail

# shellcheck disable=SC2034 # read by fail() (lib/hooks/common.sh)
readonly FAILS_AS="raid-array"
# forensic-lab:include lib/hooks/common.sh

[[ "$ARRAY_NAME" =~ ^[a-z0-9][a-z0-9-]{0,31}$ ]] || fail "array name '$ARRAY_NAME' must be 1-32 of a-z, 0-9 and '-'"
readonly PREFIX="fl-array-$ARRAY_NAME"

mapped=()
while read -r name; do
  if [[ "$name" == "$PREFIX" || "$name" =~ ^$PREFIX-r[0-9]+$ ]]; then mapped+=("$name"); fi
done < <(dmsetup info -c --noheadings -o name 2>/dev/null || true)
# The array first (its name sorts before its members').
if ((${#mapped[@]} > 0)); then mapfile -t mapped < <(printf '%s\n' "${mapped[@]}" | sort); fi
for name in "${mapped[@]}"; do
  if ! dmsetup remove --retry -- "$name" 2>/dev/null; then
    where=$(findmnt -rn -o TARGET --source "/dev/mapper/$name" 2>/dev/null | paste -sd, || true)
    fail "/dev/mapper/$name is still in use (mounted at: ${where:-nowhere}); unmount it (delete the mount) and delete again"
  fi
  echo "raid-array: removed /dev/mapper/$name" >&2
done
echo "raid-array: ${#mapped[@]} mapping(s) of array $ARRAY_NAME removed; none left" >&2
