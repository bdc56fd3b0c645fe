#!/usr/bin/env bash
# Opens the evidence volume's LUKS layer: on the libvirt host for the lvm backend, inside the guest for
# the file backend. A blank device is formatted once (LUKS2, argon2id); an existing LUKS volume is never
# reformatted, whatever happens: a wrong passphrase is an error that changes nothing.
# The passphrase is this hook's whole stdin. It lives in one shell variable and reaches cryptsetup through
# a pipe from a builtin: never argv, never the environment, never a file.
# On the host (ON_HOST) the mapping's plaintext is the guest's to write: host-shield.sh's udev rule is in
# place before the mapping appears, so the host never probes, links or activates what the guest plants.
# Values: DEVICE MAPPER_NAME VOLUME_NAME (for messages) LUKS_TYPE LUKS_CIPHER LUKS_KEY_BITS FAST_KDF ON_HOST.
set -euo pipefail

# shellcheck disable=SC2034 # read by fail() (lib/hooks/common.sh)
readonly FAILS_AS="forensic-lab: evidence volume"
# forensic-lab:include lib/hooks/common.sh

# forensic-lab:include components/evidence-volume/hooks/host-shield.sh

IFS= read -r -d '' passphrase || true
[[ -n $passphrase ]] || fail "passphrase: empty; it must reach this hook on stdin"

for _ in $(seq 60); do
  [[ -b $DEVICE || -f $DEVICE ]] && break
  udevadm settle --timeout=1 2>/dev/null || sleep 1
done
[[ -b $DEVICE || -f $DEVICE ]] || fail "$DEVICE did not appear within 60 s"

cryptsetup_with_key() {
  printf '%s' "$passphrase" | cryptsetup --key-file=- "$@"
}

same_device() {
  [[ $(readlink -f -- "$1") == $(readlink -f -- "$2") ]]
}

if [[ $ON_HOST == true ]]; then
  shield_lock
  shield_install
fi

formatted=false
opened=false
if cryptsetup status -- "$MAPPER_NAME" >/dev/null 2>&1; then
  # Opened by an earlier run, perhaps before the rule existed: udev looks at it again under the rule.
  [[ $ON_HOST == true ]] && shield_refresh "/dev/mapper/$MAPPER_NAME"
  backing=$(cryptsetup status -- "$MAPPER_NAME" | awk '$1 == "device:" { print $2; exit }')
  same_device "$backing" "$DEVICE" ||
    fail "mapping $MAPPER_NAME is already open on $backing, not on $DEVICE; another case uses this name?"
  # Open already, but the configured passphrase must still be the volume's: a changed one fails here,
  # not at the next reopen.
  rc=0
  said=$(cryptsetup_with_key open --test-passphrase -- "$DEVICE" 2>&1) || rc=$?
  ((rc != 2)) || fail "wrong passphrase for the existing evidence volume $VOLUME_NAME; nothing was changed"
  ((rc == 0)) || fail "cryptsetup could not check the passphrase of $VOLUME_NAME (exit $rc): ${said//$'\n'/ }"
else
  if ! cryptsetup isLuks -- "$DEVICE"; then
    rc=0
    signature=$(blkid -p -o value -s TYPE -s PTTYPE -- "$DEVICE") || rc=$?
    ((rc == 2)) || fail "$VOLUME_NAME is not blank (${signature:-blkid exit $rc}); refusing to format it"
    kdf=(--pbkdf argon2id)
    if [[ $FAST_KDF == true ]]; then
      # Tests only: cheap enough for software-emulated guests. Users get cryptsetup's benchmarked defaults.
      kdf+=(--pbkdf-memory 32768 --pbkdf-force-iterations 4 --pbkdf-parallel 1)
    fi
    cryptsetup_with_key luksFormat --batch-mode --type "$LUKS_TYPE" --cipher "$LUKS_CIPHER" \
      --key-size "$LUKS_KEY_BITS" --hash sha256 "${kdf[@]}" -- "$DEVICE"
    formatted=true
  fi
  # cryptsetup's own words only matter when it failed for another reason than the passphrase.
  rc=0
  said=$(cryptsetup_with_key open --type luks -- "$DEVICE" "$MAPPER_NAME" 2>&1) || rc=$?
  case $rc in
    0) opened=true ;;
    2) fail "wrong passphrase for the existing evidence volume $VOLUME_NAME; nothing was changed" ;;
    *) fail "cryptsetup could not open $VOLUME_NAME (exit $rc): ${said//$'\n'/ }" ;;
  esac
fi

status=$(cryptsetup status -- "$MAPPER_NAME")
version=$(awk '$1 == "type:" { sub(/^LUKS/, "", $2); print $2; exit }' <<<"$status")
cipher=$(awk '$1 == "cipher:" { print $2; exit }' <<<"$status")
key_bits=$(awk '$1 == "keysize:" { print $2; exit }' <<<"$status")
echo "FORENSIC_LAB_RESULT $(jq -cn --arg mapper "/dev/mapper/$MAPPER_NAME" --argjson version "$version" \
  --arg cipher "$cipher" --argjson keyBits "$key_bits" --argjson formatted "$formatted" --argjson opened "$opened" \
  '{mapperPath: $mapper, luksVersion: $version, cipher: $cipher, keyBits: $keyBits, formatted: $formatted, opened: $opened}')"
