#!/usr/bin/env bash
# The host's own check of a file the guest holds (an sshfs mount, or an scp copy already there): the
# guest's word is not enough, so the host has it hand the file back (GUEST_READ_HOOK, guest-read.sh) and
# hashes what arrives. Shared by host-scp.sh and host-sshfs.sh (included with
# `# forensic-lab:include components/image-transfer/hooks/host-read-back.sh`). Uses IMAGE_NAME,
# GUEST_READ_HOOK and custody() (host-custody.sh).

# The sha256 of what the guest hands back as file I, computed here.
read_back_sha256() {
  local sum
  sum=$(printf '%s\n' "$1" | bash -c "$GUEST_READ_HOOK" forensic-lab-guest | sha256sum) || return 1
  printf '%s\n' "${sum%% *}"
}

# verify_by_read_back I FILE GUEST_PATH EXPECTED REPORTED HOW REFUSAL EXTRA
#   EXPECTED the host's sha256 of FILE; REPORTED the guest's of GUEST_PATH; HOW what the guest holds
#   (for the custody line); REFUSAL appended to a refusal; EXTRA a JSON object merged into the result.
# Exits 1 on any mismatch, with a custody line and a message; else prints the file's result object.
verify_by_read_back() {
  local i=$1 file=$2 guest_path=$3 expected=$4 reported=$5 how=$6 refusal=$7 extra=$8 read_back
  local said
  said=$(jq -cn --arg r "$reported" '{verifiedBy: "host-read-back", guestReportedSha256: $r}')
  if [[ "$reported" != "$expected" ]]; then
    custody guest-hash-mismatch guest "$file" "" "$guest_path" "host sha256 $expected" "$(jq -cn --arg r "$reported" '{guestReportedSha256: $r}')"
    echo "image-transfer: $IMAGE_NAME: the guest reports '$guest_path' as sha256 '$reported', the host file '$file' is $expected$refusal" >&2
    exit 1
  fi
  if ! read_back=$(read_back_sha256 "$i") || [[ "$read_back" != "$expected" ]]; then
    custody guest-hash-mismatch guest "$file" "${read_back:-}" "$guest_path" \
      "the guest reports sha256 $reported; read back by the host it is not: host sha256 $expected" "$said"
    echo "image-transfer: $IMAGE_NAME: the guest reports '$guest_path' with the host file's sha256, but what it handed back hashes to '${read_back:-nothing}' (host file '$file': $expected)$refusal" >&2
    exit 1
  fi
  custody guest-verify guest "$file" "$read_back" "$guest_path" "$how; the host hashed it read back" "$said"
  jq -cn --arg path "$file" --arg guestPath "$guest_path" --arg host "$expected" --arg sha256 "$read_back" --arg reported "$reported" \
    --argjson extra "$extra" \
    '{$path, $guestPath, hostSha256: $host, guestSha256: $sha256, verifiedBy: "host-read-back", guestReportedSha256: $reported} + $extra'
}
