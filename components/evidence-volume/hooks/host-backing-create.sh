#!/usr/bin/env bash
# Creates the evidence volume's backing store on the libvirt host: a sparse file (file backend) or a
# logical volume (lvm backend). An existing one is adopted only if this case made it: the file carries
# the case's mark in a trusted.* extended attribute (only root on the host can set one; the guest writes
# the file's bytes, never its attributes), the LV carries LV_TAG; then the size sizeGiB asks for, and blank
# or already LUKS. Anything else is somebody's data (a LUKS image of the case, another case's retained
# volume) and stays untouched: never formatted, never erased.
# Values: BACKEND (file|lvm) BACKING_PATH SIZE_BYTES VOLUME_GROUP LV_NAME LV_TAG VOLUME_MARK.
set -euo pipefail

# shellcheck disable=SC2034 # read by fail() (lib/hooks/common.sh)
readonly FAILS_AS="forensic-lab: evidence volume"
# forensic-lab:include lib/hooks/common.sh

# The signature blkid finds (filesystem, LUKS, partition table), empty when the store is blank.
signature_of() {
  local rc=0 found
  found=$(blkid -p -o value -s TYPE -s PTTYPE -- "$1") || rc=$?
  case $rc in
    0) echo "${found%%$'\n'*}" ;;
    2) echo "" ;;
    8) echo "several signatures" ;;
    *) fail "blkid could not probe $1 (exit $rc)" ;;
  esac
}

# Version and cipher of an existing LUKS header (read from the header only; no device-mapper needed).
luks_facts() {
  local dump version cipher
  dump=$(cryptsetup luksDump -- "$1")
  version=$(awk -F'[: \t]+' '$1 == "Version" { print $2; exit }' <<<"$dump")
  if [[ $version == 1 ]]; then
    cipher=$(awk -F':[ \t]+' '$1 == "Cipher name" { n = $2 } $1 == "Cipher mode" { m = $2 } END { print n "-" m }' <<<"$dump")
  else
    cipher=$(awk '$1 == "cipher:" { print $2; exit }' <<<"$dump")
  fi
  jq -cn --argjson version "$version" --arg cipher "$cipher" '{version: $version, cipher: $cipher}'
}

# forensic-lab:include components/evidence-volume/hooks/host-mark.sh
# forensic-lab:include components/evidence-volume/hooks/host-shield.sh

adopt_or_refuse() {
  local signature
  signature=$(signature_of "$BACKING_PATH")
  if [[ -n $signature && $signature != crypto_LUKS ]]; then
    fail "$BACKING_PATH holds $signature data, not an evidence volume; refusing to adopt it"
  fi
}

created=false
case $BACKEND in
  file)
    if [[ -L $BACKING_PATH ]]; then
      fail "path: $BACKING_PATH is a symbolic link; give the file's real path"
    elif [[ -e $BACKING_PATH ]]; then
      [[ -f $BACKING_PATH ]] || fail "path: $BACKING_PATH exists and is not a regular file"
      require_mark "$BACKING_PATH" "adopt"
      size=$(stat -c %s -- "$BACKING_PATH")
      ((size == SIZE_BYTES)) ||
        fail "path: $BACKING_PATH has $size bytes, sizeGiB asks for $SIZE_BYTES; resizing an evidence volume is not supported"
      adopt_or_refuse
    else
      folder=$(dirname -- "$BACKING_PATH")
      [[ -d $folder ]] || fail "path: folder $folder does not exist"
      # Sparse, and readable by root only: the file holds case data, encrypted or not yet. Made and marked
      # under a temporary name, then linked into place (which fails if the name was taken meanwhile), so
      # no unmarked file is ever left where the next run would refuse it.
      draft=$(mktemp -- "$BACKING_PATH.XXXXXX")
      trap 'rm -f -- "$draft"' EXIT
      truncate -s "$SIZE_BYTES" -- "$draft"
      setfattr -n "$MARK_ATTRIBUTE" -v "$VOLUME_MARK" -- "$draft" 2>/dev/null ||
        fail "path: the filesystem of $folder keeps no trusted.* extended attributes, which mark the volume as this case's; put it on ext4, xfs or btrfs"
      ln -- "$draft" "$BACKING_PATH" || fail "path: $BACKING_PATH appeared while it was being made; refusing to replace it"
      created=true
    fi
    ;;
  lvm)
    host_lvm vgs -- "$VOLUME_GROUP" >/dev/null 2>&1 || fail "volumeGroup: no LVM volume group '$VOLUME_GROUP' on this host"
    if host_lvm lvs -- "$VOLUME_GROUP/$LV_NAME" >/dev/null 2>&1; then
      tags=$(host_lvm lvs --noheadings -o lv_tags -- "$VOLUME_GROUP/$LV_NAME")
      [[ ,${tags// /}, == *",$LV_TAG,"* ]] ||
        fail "$VOLUME_GROUP/$LV_NAME exists but was not made by forensic-lab (no tag $LV_TAG); refusing to adopt it"
      # lvcreate rounds the size up to whole extents.
      size=$(host_lvm lvs --noheadings --nosuffix --units b -o lv_size -- "$VOLUME_GROUP/$LV_NAME")
      extent=$(host_lvm vgs --noheadings --nosuffix --units b -o vg_extent_size -- "$VOLUME_GROUP")
      ((size >= SIZE_BYTES && size - SIZE_BYTES < extent)) ||
        fail "$VOLUME_GROUP/$LV_NAME has ${size// /} bytes, sizeGiB asks for $SIZE_BYTES; resizing an evidence volume is not supported"
      host_lvm lvchange --activate y -- "$VOLUME_GROUP/$LV_NAME"
      adopt_or_refuse
    else
      host_lvm lvcreate --yes --wipesignatures y --zero y --addtag "$LV_TAG" \
        --size "${SIZE_BYTES}b" --name "$LV_NAME" -- "$VOLUME_GROUP" >/dev/null
      created=true
    fi
    ;;
  *) fail "backend: '$BACKEND' is neither file nor lvm" ;;
esac

luks=null
if cryptsetup isLuks -- "$BACKING_PATH"; then
  luks=$(luks_facts "$BACKING_PATH")
fi
echo "FORENSIC_LAB_RESULT $(jq -cn --arg path "$BACKING_PATH" --argjson size "$SIZE_BYTES" \
  --argjson created "$created" --argjson luks "$luks" \
  '{backingPath: $path, sizeBytes: $size, created: $created, luks: $luks}')"
