#!/usr/bin/env bash
# scp mode, host side. ACTION=copy: ask the guest which verified copies it has (hashing each), then
# stream every missing file through the host's ssh session into guest-receive.sh, which keeps it only
# if its hash matches. A verified copy is never sent again, so a run cut off half-way resumes where it
# stopped. A copy that exists but no longer matches is refused, not overwritten: that is a custody
# incident to look at. ACTION=remove: remove the copies in the guest. Both are safe to run twice.
# Values: ACTION IMAGE_NAME HOST_FILES GUEST_PATHS CUSTODY_LOG EXAMINER; for copy HOST_SHA256
#         GUEST_STATUS_HOOK GUEST_RECEIVE_HOOK; for remove GUEST_REMOVE_HOOK.
set -euo pipefail
umask 077

# forensic-lab:include components/image-transfer/custody.sh

hook_result() { sed -n 's/^FORENSIC_LAB_RESULT //p' | tail -n 1; }

if [[ "$ACTION" == remove ]]; then
  removed=$(bash -c "$GUEST_REMOVE_HOOK" forensic-lab-guest </dev/null | hook_result)
  detail="removed"
  [[ -n "$removed" ]] || detail="guest gone, and the case storage with it"
  for i in "${!HOST_FILES[@]}"; do custody guest-remove guest "${HOST_FILES[i]}" "" "${GUEST_PATHS[i]}" "$detail"; done
  exit 0
fi

if ! present=$(bash -c "$GUEST_STATUS_HOOK" forensic-lab-guest </dev/null | hook_result) || [[ -z "$present" ]]; then
  echo "image-transfer: $IMAGE_NAME: could not ask the guest which copies it already has" >&2
  exit 1
fi

results=()
for i in "${!HOST_FILES[@]}"; do
  file=${HOST_FILES[i]} guest_path=${GUEST_PATHS[i]} expected=${HOST_SHA256[i]}
  guest_sha256=$(jq -r --argjson i "$i" '.files[$i].sha256 // ""' <<<"$present")
  copied=false
  if [[ -z "$guest_sha256" ]]; then
    started=$SECONDS
    if ! received=$({ printf '%s\n' "$i"; cat -- "$file"; } | bash -c "$GUEST_RECEIVE_HOOK" forensic-lab-guest | hook_result) ||
      [[ -z "$received" ]]; then
      custody guest-copy-failed guest "$file" "" "$guest_path"
      echo "image-transfer: $IMAGE_NAME: copying '$file' to the guest failed; run again to resume" >&2
      exit 1
    fi
    guest_sha256=$(jq -r '.sha256' <<<"$received")
    copied=true
    custody guest-copy guest "$file" "$guest_sha256" "$guest_path" \
      "$(jq -r --argjson s $((SECONDS - started)) '"\(.allocatedBytes) bytes allocated, immutable \(.immutable), \($s)s"' <<<"$received")"
  fi
  if [[ "$guest_sha256" != "$expected" ]]; then
    custody guest-hash-mismatch guest "$file" "$guest_sha256" "$guest_path" "host sha256 $expected"
    echo "image-transfer: $IMAGE_NAME: the guest copy '$guest_path' hashes to $guest_sha256, the host file '$file' to $expected; refusing (destroy the transfer to remove the copy)" >&2
    exit 1
  fi
  if [[ "$copied" != true ]]; then custody guest-verify guest "$file" "$guest_sha256" "$guest_path" "copy already there"; fi
  results+=("$(jq -cn --arg path "$file" --arg guestPath "$guest_path" --arg sha256 "$guest_sha256" --argjson copied "$copied" \
    '{$path, $guestPath, hostSha256: $sha256, guestSha256: $sha256, $copied}')")
done

printf 'FORENSIC_LAB_RESULT %s\n' "$(printf '%s\n' "${results[@]}" | jq -cs '{files: .}')"
