#!/usr/bin/env bash
# scp mode, host side. ACTION=copy: ask the guest which copies it has, then for each file
#   - missing: stream it through the host's ssh session into guest-receive.sh, hashing on the host what
#     is sent (tee into sha256sum): the copy is verified by that hash ("host-sent"), which must equal
#     the host hash step's; the guest's own hash must agree too, or the transfer stops;
#   - already there (a resumed or repeated run): the guest's word is not enough. The host has the guest
#     hand the copy back (guest-read.sh) and hashes what arrives ("host-read-back").
# A run cut off half-way resumes where it stopped. A copy that exists but does not match is refused,
# not overwritten: that is a custody incident to look at. ACTION=remove: remove the copies in the guest.
# Both are safe to run twice. Evidence is read with O_NOATIME: its access time stays as found.
# Values: ACTION IMAGE_NAME HOST_FILES GUEST_PATHS CUSTODY_LOG EXAMINER; for copy HOST_SHA256
#         GUEST_STATUS_HOOK GUEST_RECEIVE_HOOK GUEST_READ_HOOK; for remove GUEST_REMOVE_HOOK.
set -euo pipefail
umask 077

# forensic-lab:include components/image-transfer/hooks/host-custody.sh
# forensic-lab:include lib/hooks/result.sh
# forensic-lab:include components/image-transfer/hooks/host-evidence-read.sh
# forensic-lab:include components/image-transfer/hooks/host-read-back.sh
# forensic-lab:include lib/hooks/progress.sh

if [[ "$ACTION" == remove ]]; then
  removed=$(bash -c "$GUEST_REMOVE_HOOK" forensic-lab-guest </dev/null |
    hook_result guest-remove.sh --allow-empty '(keys == ["removed"]) and (.removed | type == "array")')
  detail="removed"
  [[ -n "$removed" ]] || detail="guest gone, and the case storage with it"
  for i in "${!HOST_FILES[@]}"; do custody guest-remove guest "${HOST_FILES[i]}" "" "${GUEST_PATHS[i]}" "$detail"; done
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

SHA256='test("^[0-9a-f]{64}$")'
if ! present=$(bash -c "$GUEST_STATUS_HOOK" forensic-lab-guest </dev/null | hook_result guest-hash.sh \
  "(keys == [\"files\"]) and ([.files[] | keys == [\"path\", \"sha256\"] and (.sha256 == null or (.sha256 | $SHA256))] | all)
   and ([.files[].path] == \$paths)" --argjson paths "$(jq -cn '$ARGS.positional' --args "${GUEST_PATHS[@]}")"); then
  echo "image-transfer: $IMAGE_NAME: could not ask the guest which copies it already has" >&2
  exit 1
fi

# Streams host file I into the guest as copy I. The guest's result goes to $work/received, the sha256 of
# the bytes that left the host to $work/sent. Fails if any part of the pipe failed.
send_file() {
  local i=$1 file=$2 hasher status=0
  rm -f -- "$work/sent" "$work/sent.fifo" "$work/received"
  mkfifo -m 0600 -- "$work/sent.fifo"
  sha256sum <"$work/sent.fifo" >"$work/sent" &
  hasher=$!
  { printf '%s\n' "$i"; read_evidence "$file" "image-transfer: $IMAGE_NAME: sending '$file' to the guest" | tee -- "$work/sent.fifo"; } |
    bash -c "$GUEST_RECEIVE_HOOK" forensic-lab-guest |
    hook_result guest-receive.sh \
      "(keys == [\"allocatedBytes\", \"immutable\", \"path\", \"sha256\"]) and .path == \$path and (.sha256 | $SHA256)
       and (.immutable | type == \"boolean\") and (.allocatedBytes | type == \"number\" and . >= 0 and floor == .)" \
      --arg path "${GUEST_PATHS[i]}" >"$work/received" || status=$?
  if ((status != 0)); then
    kill "$hasher" 2>/dev/null || true
    wait "$hasher" 2>/dev/null || true
    return "$status"
  fi
  wait "$hasher"
}

results=()
for i in "${!HOST_FILES[@]}"; do
  file=${HOST_FILES[i]} guest_path=${GUEST_PATHS[i]} expected=${HOST_SHA256[i]}
  reported=$(jq -r --argjson i "$i" '.files[$i].sha256 // ""' <<<"$present")
  if [[ -z "$reported" ]]; then
    started=$SECONDS
    if ! send_file "$i" "$file"; then
      custody guest-copy-failed guest "$file" "" "$guest_path"
      echo "image-transfer: $IMAGE_NAME: copying '$file' to the guest failed; run again to resume" >&2
      exit 1
    fi
    sent=$(<"$work/sent")
    sent=${sent%% *}
    reported=$(jq -r .sha256 <"$work/received")
    if [[ "$sent" != "$expected" ]]; then
      custody host-hash-mismatch host "$file" "$sent" "$guest_path" "the bytes sent to the guest; the host hash step had $expected"
      echo "image-transfer: $IMAGE_NAME: '$file' was sent with sha256 $sent, the host hash step found $expected: it changed on the host; destroy the transfer to remove the copy" >&2
      exit 1
    fi
    if [[ "$reported" != "$expected" ]]; then
      custody guest-hash-mismatch guest "$file" "" "$guest_path" "host sent sha256 $sent" "$(jq -cn --arg r "$reported" '{guestReportedSha256: $r}')"
      echo "image-transfer: $IMAGE_NAME: the host sent '$file' with sha256 $sent, the guest reports it received $reported; refusing (destroy the transfer to remove the copy)" >&2
      exit 1
    fi
    custody guest-copy guest "$file" "$sent" "$guest_path" \
      "$(jq -r --argjson s $((SECONDS - started)) '"guest reports \(.allocatedBytes) bytes allocated, immutable \(.immutable); \($s)s"' <"$work/received")" \
      "$(jq -cn --arg r "$reported" '{verifiedBy: "host-sent", guestReportedSha256: $r}')"
    results+=("$(jq -cn --arg path "$file" --arg guestPath "$guest_path" --arg host "$expected" --arg sha256 "$sent" --arg reported "$reported" \
      '{$path, $guestPath, hostSha256: $host, guestSha256: $sha256, verifiedBy: "host-sent", guestReportedSha256: $reported, copied: true}')")
    continue
  fi

  # Already there: checked by read-back, never overwritten.
  result=$(verify_by_read_back "$i" "$file" "$guest_path" "$expected" "$reported" "copy already there" \
    "; refusing (destroy the transfer to remove the copy)" '{"copied": false}') || exit 1
  results+=("$result")
done

printf 'FORENSIC_LAB_RESULT %s\n' "$(printf '%s\n' "${results[@]}" | jq -cs '{files: .}')"
