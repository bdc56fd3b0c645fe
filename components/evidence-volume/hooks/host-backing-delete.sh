#!/usr/bin/env bash
# Crypto-erases and removes the evidence volume's backing store on the libvirt host, or leaves it closed
# and intact when RETAIN is true. Erasing means: `cryptsetup erase` destroys every keyslot (the volume key
# is gone, so the data area is noise to anyone, passphrase or not), then the whole header area is zeroed
# so nothing even says a LUKS volume was here, then the file or logical volume is removed.
# Runs after the guest is gone; a store that is already gone is nothing to undo.
# Only a store this case made is erased (the file's mark, the LV's tag; see host-backing-create.sh). The LUKS
# header was writable by the guest: nothing it says is trusted. A header cryptsetup cannot read, or an
# erase cryptsetup refuses, or data without a header it recognises, makes the whole store zeroed
# instead, so destroy never stops half-way.
# Values: BACKEND (file|lvm) BACKING_PATH VOLUME_GROUP LV_NAME LV_TAG RETAIN VOLUME_MARK.
set -euo pipefail

# LUKS2's default header (both binary headers, JSON areas and keyslots) ends at 16 MiB; LUKS1's at 2 MiB.
readonly MIN_HEADER_BYTES=$((16 * 1024 * 1024))

# shellcheck disable=SC2034 # read by fail() (lib/hooks/common.sh)
readonly FAILS_AS="forensic-lab: evidence volume"
# forensic-lab:include lib/hooks/common.sh

# forensic-lab:include components/evidence-volume/hooks/host-mark.sh
# forensic-lab:include components/evidence-volume/hooks/host-shield.sh

result() {
  echo "FORENSIC_LAB_RESULT $(jq -cn --arg path "$BACKING_PATH" --argjson erased "$1" --argjson removed "$2" \
    --argjson wiped "$3" '{backingPath: $path, erased: $erased, removed: $removed, headerBytesWiped: $wiped}')"
}

# Where the encrypted data starts: everything before it is header. Read before the keyslots go.
luks_header_bytes() {
  local dump version
  dump=$(cryptsetup luksDump -- "$1")
  version=$(awk -F'[: \t]+' '$1 == "Version" { print $2; exit }' <<<"$dump")
  if [[ $version == 1 ]]; then
    echo $(($(awk -F':[ \t]+' '$1 == "Payload offset" { print $2; exit }' <<<"$dump") * 512))
  else
    cryptsetup luksDump --dump-json-metadata -- "$1" | jq '[.segments[].offset | tonumber] | min'
  fi
}

# Processes (a guest's QEMU above all) that hold the file open: any fd on the same inode. Processes come
# and go while find walks /proc, so its complaints and exit status say nothing.
holders_of_file() {
  local fds
  fds=$(find -L /proc/[0-9]*/fd -maxdepth 1 -samefile "$1" 2>/dev/null || true)
  [[ -z $fds ]] || sed -E 's|^/proc/([0-9]+)/.*|\1|' <<<"$fds" | sort -un | tr '\n' ' '
}

case $BACKEND in
  file)
    if [[ ! -e $BACKING_PATH && ! -L $BACKING_PATH ]]; then
      echo "forensic-lab: evidence volume $BACKING_PATH is already gone" >&2
      result false false 0
      exit 0
    fi
    [[ -f $BACKING_PATH && ! -L $BACKING_PATH ]] || fail "$BACKING_PATH is not a regular file; not erasing it"
    require_mark "$BACKING_PATH" "erase"
    ;;
  lvm)
    if ! host_lvm lvs -- "$VOLUME_GROUP/$LV_NAME" >/dev/null 2>&1; then
      echo "forensic-lab: evidence volume $VOLUME_GROUP/$LV_NAME is already gone" >&2
      result false false 0
      exit 0
    fi
    tags=$(host_lvm lvs --noheadings -o lv_tags -- "$VOLUME_GROUP/$LV_NAME")
    [[ ,${tags// /}, == *",$LV_TAG,"* ]] ||
      fail "$VOLUME_GROUP/$LV_NAME was not made by forensic-lab (no tag $LV_TAG); not erasing it"
    ;;
  *) fail "backend: '$BACKEND' is neither file nor lvm" ;;
esac

if [[ $RETAIN == true ]]; then
  [[ $BACKEND == lvm ]] && host_lvm lvchange --activate n -- "$VOLUME_GROUP/$LV_NAME"
  echo "forensic-lab: evidence volume $BACKING_PATH retained (closed, intact)" >&2
  result false false 0
  exit 0
fi

if [[ $BACKEND == lvm ]]; then
  host_lvm lvchange --activate y -- "$VOLUME_GROUP/$LV_NAME"
  open=$(host_lvm lvs --noheadings -o lv_device_open -- "$VOLUME_GROUP/$LV_NAME")
  [[ -z ${open// /} ]] || fail "$BACKING_PATH is still in use (a LUKS mapping or a guest holds it); close it first"
else
  holders=$(holders_of_file "$BACKING_PATH")
  [[ -z $holders ]] || fail "$BACKING_PATH is still open by process ${holders% } (a running guest?); stop it first"
fi

if [[ $BACKEND == lvm ]]; then
  size=$(blockdev --getsize64 "$BACKING_PATH")
else
  size=$(stat -c %s -- "$BACKING_PATH")
fi

# The keyslots lie before the data area; where that starts is the header's word, which the guest could
# have written. A sane answer widens the zeroed area; anything else (no number, zero, unreadable JSON, an
# erase cryptsetup refuses) means the keyslots may be anywhere, so the whole store is zeroed.
erased=false
wipe_bytes=$MIN_HEADER_BYTES
if cryptsetup isLuks -- "$BACKING_PATH"; then
  header_bytes=$(luks_header_bytes "$BACKING_PATH" 2>/dev/null) || header_bytes=""
  if [[ $header_bytes =~ ^[1-9][0-9]{0,17}$ ]]; then
    ((header_bytes > wipe_bytes)) && wipe_bytes=$header_bytes
  else
    echo "forensic-lab: evidence volume $BACKING_PATH: its LUKS header does not say where its data starts; zeroing all of it" >&2
    wipe_bytes=$size
  fi
  if cryptsetup erase --batch-mode -- "$BACKING_PATH" >/dev/null 2>&1; then
    erased=true
  else
    echo "forensic-lab: evidence volume $BACKING_PATH: cryptsetup could not erase its keyslots; zeroing all of it" >&2
    wipe_bytes=$size
  fi
elif ! cmp -s -n "$MIN_HEADER_BYTES" -- "$BACKING_PATH" /dev/zero; then
  # Written to, yet no header cryptsetup recognises: a format cut short, or a guest's doing.
  echo "forensic-lab: evidence volume $BACKING_PATH holds data but no LUKS header cryptsetup can read; zeroing all of it" >&2
  wipe_bytes=$size
fi
((wipe_bytes > size)) && wipe_bytes=$size
dd if=/dev/zero of="$BACKING_PATH" bs=1M count="$wipe_bytes" iflag=count_bytes conv=notrunc,fsync status=none
((wipe_bytes == size)) && erased=true

if cryptsetup isLuks -- "$BACKING_PATH" || [[ $(blkid -p -o value -s TYPE -- "$BACKING_PATH" || true) == crypto_LUKS ]]; then
  fail "$BACKING_PATH still carries a LUKS header after erase; not removing it"
fi

if [[ $BACKEND == lvm ]]; then
  host_lvm lvremove --yes -- "$VOLUME_GROUP/$LV_NAME" >/dev/null
else
  rm -f -- "$BACKING_PATH"
fi
result "$erased" true "$wipe_bytes"
