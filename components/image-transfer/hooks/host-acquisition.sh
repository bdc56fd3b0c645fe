#!/usr/bin/env bash
# EWF sets only, host side, after the transfer: has the guest check the set's data against the
# acquisition hashes it stores (guest-ewf-verify.sh) and writes the outcome into the custody log.
# The stored hashes the guest read must be the ones `inspect` read on the host (STORED_MD5/STORED_SHA1):
# a guest that reports others read other files, or lies. Damaged data (a chunk checksum or a stored
# hash that does not hold) stops `up`, naming the sectors and segment; a set that stores no hash is
# logged as unverifiable and the lab goes on (its sha256 custody chain still holds).
# This is the guest's word: it can stop the lab, never vouch for the files (the host's sha256 does that).
# Values: IMAGE_NAME HOST_FIRST_SEGMENT GUEST_FIRST_SEGMENT STORED_MD5 STORED_SHA1 CUSTODY_LOG EXAMINER
#         GUEST_VERIFY_HOOK.
set -euo pipefail
umask 077

# forensic-lab:include components/image-transfer/hooks/host-custody.sh
# forensic-lab:include lib/hooks/result.sh

HEX='(. == null or test("^[0-9a-f]+$"))'
if ! found=$(bash -c "$GUEST_VERIFY_HOOK" forensic-lab-guest </dev/null | hook_result guest-ewf-verify.sh \
  "(keys == [\"computedMd5\", \"computedSha1\", \"outcome\", \"sectorErrors\", \"storedMd5\", \"storedSha1\"])
   and (.outcome | IN(\"success\", \"failure\", \"unreadable\"))
   and ([.storedMd5, .computedMd5, .storedSha1, .computedSha1][] | $HEX)
   and ([.sectorErrors[] | type == \"string\" and length < 4096] | all)"); then
  custody acquisition-check-failed guest "$HOST_FIRST_SEGMENT" "" "$GUEST_FIRST_SEGMENT" "the guest's ewfverify gave no usable report"
  echo "image-transfer: $IMAGE_NAME: the guest could not check the EWF set '$HOST_FIRST_SEGMENT' against its stored hashes" >&2
  exit 1
fi
outcome=$(jq -r .outcome <<<"$found")
extra=$(jq -c '{storedMd5, computedMd5, storedSha1, computedSha1, sectorErrors, reportedBy: "guest"}' <<<"$found")

stored_md5=$(jq -r '.storedMd5 // ""' <<<"$found")
stored_sha1=$(jq -r '.storedSha1 // ""' <<<"$found")
if [[ "$stored_md5" != "$STORED_MD5" || "$stored_sha1" != "$STORED_SHA1" ]]; then
  custody acquisition-check-failed guest "$HOST_FIRST_SEGMENT" "" "$GUEST_FIRST_SEGMENT" \
    "the guest read other stored hashes than the host (md5 '${STORED_MD5}', sha1 '${STORED_SHA1}')" "$extra"
  echo "image-transfer: $IMAGE_NAME: the guest reports stored hashes (md5 '$stored_md5', sha1 '$stored_sha1') that differ from what the host read in '$HOST_FIRST_SEGMENT' (md5 '$STORED_MD5', sha1 '$STORED_SHA1')" >&2
  exit 1
fi

damaged=$(jq -r '[.sectorErrors != [],
  (.storedMd5 != null and .storedMd5 != .computedMd5),
  (.storedSha1 != null and .storedSha1 != .computedSha1)] | any' <<<"$found")
if [[ "$outcome" == unreadable ]]; then
  custody acquisition-check-failed guest "$HOST_FIRST_SEGMENT" "" "$GUEST_FIRST_SEGMENT" "ewfverify could not read the set" "$extra"
  echo "image-transfer: $IMAGE_NAME: ewfverify in the guest could not read the EWF set '$HOST_FIRST_SEGMENT' (see above)" >&2
  exit 1
elif [[ "$damaged" == true || ("$outcome" == failure && (-n "$STORED_MD5" || -n "$STORED_SHA1")) ]]; then
  custody acquisition-check-failed guest "$HOST_FIRST_SEGMENT" "" "$GUEST_FIRST_SEGMENT" "ewfverify: FAILURE" "$extra"
  echo "image-transfer: $IMAGE_NAME: the EWF set '$HOST_FIRST_SEGMENT' fails its own acquisition check (ewfverify in the guest):" >&2
  jq -r '(.sectorErrors[] | "  damaged: \(.)"),
         (if .storedMd5 != null and .storedMd5 != .computedMd5 then "  md5 stored \(.storedMd5), computed \(.computedMd5)" else empty end),
         (if .storedSha1 != null and .storedSha1 != .computedSha1 then "  sha1 stored \(.storedSha1), computed \(.computedSha1)" else empty end)' \
    <<<"$found" >&2
  exit 1
elif [[ -z "$STORED_MD5" && -z "$STORED_SHA1" ]]; then
  status=unverifiable
  custody acquisition-unverifiable guest "$HOST_FIRST_SEGMENT" "" "$GUEST_FIRST_SEGMENT" \
    "the set stores no acquisition hash; the hashes computed over its data are recorded" "$extra"
else
  status=verified
  custody acquisition-verified guest "$HOST_FIRST_SEGMENT" "" "$GUEST_FIRST_SEGMENT" \
    "ewfverify: every chunk and the stored hashes hold" "$extra"
fi

jq -c --arg status "$status" '{$status, storedMd5, computedMd5, storedSha1, computedSha1}' <<<"$found" | sed 's/^/FORENSIC_LAB_RESULT /'
