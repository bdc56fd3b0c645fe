#!/usr/bin/env bash
# In the guest: checks an EWF set's data against the acquisition hashes it stores, once, with libewf's
# ewfverify (every chunk's checksum, then MD5 and SHA1 over the media), and prints what it found. The
# host decides and keeps the custody log: this is the guest's report, so it can stop a transfer and is
# logged as the guest's word, never as a hash the host computed.
# Values: SEGMENTS (every segment's guest path, first first; ewfverify is given exactly these, nothing
# is globbed).
set -euo pipefail

for segment in "${SEGMENTS[@]}"; do
  [[ -f "$segment" && -r "$segment" ]] || {
    echo "image-transfer: EWF segment '$segment' is not a readable file in the guest" >&2
    exit 1
  }
done

# ewfverify exits 1 for a failed check and for an unreadable set alike; its report tells them apart.
status=0
report=$(ewfverify -q -d sha1 "${SEGMENTS[@]}" 2>&1) || status=$?

stored_md5="" computed_md5="" stored_sha1="" computed_sha1="" errors=()
hash_line='^(MD5|SHA1) hash (stored in file|calculated over data):[[:space:]]+([0-9a-f]+|N/A)$'
while IFS= read -r line; do
  if [[ "$line" =~ $hash_line ]]; then
    value=${BASH_REMATCH[3]}
    [[ "$value" != N/A ]] || value=""
    case "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}" in
      "MD5 stored in file") stored_md5=$value ;;
      "MD5 calculated over data") computed_md5=$value ;;
      "SHA1 stored in file") stored_sha1=$value ;;
      "SHA1 calculated over data") computed_sha1=$value ;;
    esac
  elif [[ "$line" =~ ^[[:space:]]+at\ sector ]]; then
    # "at sector(s): 2560 - 2623 (number: 64) in segment file(s): /case/.../disk.E02"
    errors+=("${line#"${line%%[![:space:]]*}"}")
  fi
done <<<"$report"

outcome=unreadable
if [[ "$report" == *"ewfverify: SUCCESS"* && "$status" == 0 ]]; then
  outcome=success
elif [[ "$report" == *"ewfverify: FAILURE"* ]]; then
  outcome=failure
fi
if [[ "$outcome" == unreadable ]]; then
  echo "image-transfer: ewfverify could not read the EWF set ${SEGMENTS[0]}:" >&2
  printf '%s\n' "$report" | tail -n 5 >&2
fi

jq -cn --arg outcome "$outcome" --arg storedMd5 "$stored_md5" --arg computedMd5 "$computed_md5" \
  --arg storedSha1 "$stored_sha1" --arg computedSha1 "$computed_sha1" \
  '{$outcome, $storedMd5, $computedMd5, $storedSha1, $computedSha1, sectorErrors: $ARGS.positional}
   | with_entries(if .value == "" then .value = null else . end)' \
  --args "${errors[@]}" | sed 's/^/FORENSIC_LAB_RESULT /'
