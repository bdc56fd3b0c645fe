#!/usr/bin/env bash
# Hashes every file of the image on the host, one streamed read each, before anything reaches the guest.
# A hash from `inspect` (MANIFEST_SHA256, '' when it did not hash) must match: evidence that changed
# since it was inspected is not transferred. Each hash is a custody line. Running it again re-hashes,
# which is a new, logged check, and changes nothing, not even the files' access times (O_NOATIME).
# Values: IMAGE_NAME HOST_FILES MANIFEST_SIZES MANIFEST_SHA256 CUSTODY_LOG EXAMINER.
set -euo pipefail
umask 077

# forensic-lab:include components/image-transfer/hooks/host-custody.sh
# forensic-lab:include components/image-transfer/hooks/host-evidence-read.sh
# forensic-lab:include lib/hooks/progress.sh

results=()
for i in "${!HOST_FILES[@]}"; do
  file=${HOST_FILES[i]}
  if [[ ! -f "$file" ]]; then
    echo "image-transfer: $IMAGE_NAME: evidence file '$file' is missing or not a regular file" >&2
    exit 1
  fi
  size=$(stat -c %s -- "$file")
  if [[ "$size" != "${MANIFEST_SIZES[i]}" ]]; then
    echo "image-transfer: $IMAGE_NAME: '$file' is $size bytes, the manifest says ${MANIFEST_SIZES[i]}: it changed since inspection" >&2
    exit 1
  fi
  if ! sha256=$(evidence_sha256 "$file" "image-transfer: $IMAGE_NAME: hashing '$file' on the host"); then
    echo "image-transfer: $IMAGE_NAME: could not read '$file' without changing its access time (O_NOATIME is for root or the file's owner)" >&2
    exit 1
  fi
  expected=${MANIFEST_SHA256[i]}
  if [[ -n "$expected" && "$sha256" != "$expected" ]]; then
    custody host-hash-mismatch host "$file" "$sha256" "" "manifest sha256 $expected"
    echo "image-transfer: $IMAGE_NAME: '$file' hashes to $sha256, the manifest says $expected: it changed since inspection" >&2
    exit 1
  fi
  custody host-hash host "$file" "$sha256" "" "$(stat -c 'size %s, modified %y' -- "$file")"
  results+=("$(jq -cn --arg path "$file" --arg sha256 "$sha256" --argjson size "$size" '{$path, $sha256, $size}')")
done

printf 'FORENSIC_LAB_RESULT %s\n' "$(printf '%s\n' "${results[@]}" | jq -cs '{files: .}')"
