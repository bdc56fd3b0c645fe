#!/usr/bin/env bash
# In the guest: removes the image's copies (scp mode), finished or partial, and then their folders.
# Files already gone are fine. The copies live on the encrypted case storage, which is erased with it.
# Values: DESTS FOLDERS LAYER_DIR GUEST_ROOT.
set -euo pipefail

removed=()
for dest in "${DESTS[@]}"; do
  partial="$(dirname -- "$dest")/.$(basename -- "$dest").partial"
  if [[ -e "$dest" ]]; then
    chattr -i -- "$dest" 2>/dev/null || true
    rm -f -- "$dest"
    removed+=("$dest")
  fi
  rm -f -- "$partial"
done
for dir in "${FOLDERS[@]}" "$LAYER_DIR" "$GUEST_ROOT"; do
  if [[ -d "$dir" ]]; then
    rmdir -- "$dir" 2>/dev/null || echo "image-transfer: '$dir' is not empty; leaving it" >&2
  fi
done

printf 'FORENSIC_LAB_RESULT %s\n' "$(jq -cn '{removed: $ARGS.positional}' --args "${removed[@]}")"
