#!/usr/bin/env bash
# Makes the three disks of a Synology-like NAS whose data volume is SHR, as examiners receive them: md
# RAID5 holding LVM, without md or device-mapper (the host here has neither) and without mounting anything:
#   nas1.raw, nas2.raw, nas3.raw   40 MiB each, GPT, p1 (Linux RAID, 38 MiB at 1 MiB): member 0, 1, 2 of
#     md RAID5 "nas:2" (metadata 1.2, data from 1 MiB into the member, 64 KiB chunks, left-symmetric), clean
#       LVM2 physical volume of volume group "vg1000" (1 MiB extents):
#         lv  ext4: nas.txt, photos/holiday.bin (1 MiB of a sha256 chain)
# LVM's metadata is written by lvm2 itself on a loop device of the array's contents (lvcreate --driverloaded
# n: no activation), the filesystem by mkfs.ext4 -d into its own file and copied to its extents, and the
# members' superblocks and stripes (parity included) by scripts/md-raid5.js exactly as md would, which
# also reads them back to check them.
#
#   scripts/make-nas-evidence.sh <outDir>     -> <outDir>/nas1.raw, nas2.raw, nas3.raw, <outDir>/nas.json
# Idempotent: complete output of this version is kept as is; runs on one folder wait for each other.
# Prints the first disk's absolute path.
set -euo pipefail

readonly GENERATOR_VERSION=1
readonly MIB=1048576
readonly DISKS=(nas1 nas2 nas3) # in role order: member 0, 1, 2
readonly DISK_MIB=40 P1_START_MIB=1 P1_MIB=38 # p1 ends clear of the GPT's backup at the disk's end
readonly LINUX_RAID=A19D880F-05FC-4D3B-A006-743F0F84911E
readonly ARRAY_UUID=73d58b7d601bfcbf071d3c00cd515b34 SET_NAME="nas:2" # Synology names its data array <host>:2
readonly NAS_TEXT="the NAS's shared folder, on SHR (LVM on RAID5)"
readonly HOLIDAY_SEED="forensic-lab test evidence: nas photos/holiday.bin"

here=$(cd -- "$(dirname -- "$0")" && pwd)
readonly here GENERATOR=make-nas-evidence
# shellcheck source=scripts/evidence-generator.sh
source "$here/evidence-generator.sh"

(($# == 1)) || die "usage: scripts/make-nas-evidence.sh <outDir>"
open_output_folder "$1"
readonly manifest="$out/nas.json"

# Complete output of this version: the manifest, and every disk with the sha256 it records.
complete() {
  local i
  [[ -f "$manifest" && "$(jq -r '.version' "$manifest")" == "$GENERATOR_VERSION" ]] || return 1
  for i in "${!DISKS[@]}"; do
    [[ -f "$out/${DISKS[i]}.raw" && "$(sha256sum <"$out/${DISKS[i]}.raw" | cut -c1-64)" == \
      "$(jq -r --argjson i "$i" '.disks[$i].sha256' "$manifest")" ]] || return 1
  done
}
if complete; then
  echo "$out/${DISKS[0]}.raw"
  exit 0
fi
rm -f -- "$manifest"
for disk in "${DISKS[@]}"; do rm -f -- "$out/$disk.raw"; done

enter_scratch_folder

say "the LVM volume group vg1000 on the array's contents (lvm2, no activation)"
array_bytes=$(node "$here/md-raid5.js" size $((P1_MIB * MIB)) "${#DISKS[@]}")
[[ "$array_bytes" =~ ^[0-9]+$ ]] || die "cannot compute the array's size"
truncate -s "$array_bytes" array.img
loop=$(losetup -f --show array.img)
lvm_here pvcreate -q "$loop" >/dev/null
lvm_here vgcreate -q -s 1M vg1000 "$loop" >/dev/null 2>&1
lvm_here lvcreate --driverloaded n -q -an -Zn -y -n lv -l 100%FREE vg1000 >/dev/null 2>&1
pe_start=$(lvm_here pvs --noheadings --units b --nosuffix -o pe_start "$loop" | tr -d ' ')
lv_pe=$(lvm_here lvs --noheadings --segments -o seg_pe_ranges vg1000/lv | sed -n 's/.*:\([0-9]*\)-[0-9]*.*/\1/p')
lv_bytes=$(lvm_here lvs --noheadings --units b --nosuffix -o lv_size vg1000/lv | tr -d ' ')
losetup -d "$loop"
loop=""
[[ "$pe_start" =~ ^[0-9]+$ && "$lv_pe" =~ ^[0-9]+$ && "$lv_bytes" =~ ^[0-9]+$ ]] || die "cannot read the LV layout"
((pe_start % MIB == 0)) || die "the PV's first extent is at byte $pe_start, not on a MiB"

say "the filesystem of vg1000/lv"
mkdir -p content/photos
printf '%s\n' "$NAS_TEXT" >content/nas.txt
# 1 MiB that does not repeat (a chunk out of place changes its sha256): sha256 of the seed, of that, ...
node -e 'const crypto = require("crypto");
  const blocks = [];
  let block = Buffer.from(process.argv[1]);
  while (blocks.length < 32768) blocks.push((block = crypto.createHash("sha256").update(block).digest()));
  process.stdout.write(Buffer.concat(blocks));' "$HOLIDAY_SEED" >content/photos/holiday.bin
holiday_sum=$(sha256sum <content/photos/holiday.bin | cut -c1-64)
truncate -s "$lv_bytes" lv.ext4
mkfs.ext4 -q -F -d content lv.ext4
dd if=lv.ext4 of=array.img bs=1M seek=$(((pe_start + lv_pe * MIB) / MIB)) conv=notrunc status=none

say "the RAID5 members (md metadata 1.2)"
members=()
for disk in "${DISKS[@]}"; do
  truncate -s "${P1_MIB}M" "$disk.p1"
  members+=("$disk.p1")
done
node "$here/md-raid5.js" write "$ARRAY_UUID" "$SET_NAME" array.img "${members[@]}"
node "$here/md-raid5.js" verify array.img "${members[@]}" || die "the members do not reassemble to the array's contents"
for member in "${members[@]}"; do
  [[ "$(blkid -p -o value -s TYPE "$member" || true)" == linux_raid_member ]] || die "blkid does not take $member for an md member"
done

say "the disks"
sums=()
for i in "${!DISKS[@]}"; do
  disk=${DISKS[i]}
  truncate -s "${DISK_MIB}M" "$disk.raw"
  printf 'label: gpt\nlabel-id: 4E415344-4953-4B00-8000-%012d\nstart=%s, size=%s, type=%s\n' $((i + 1)) \
    $((P1_START_MIB * 2048)) $((P1_MIB * 2048)) "$LINUX_RAID" | sfdisk -q "$disk.raw"
  dd if="$disk.p1" of="$disk.raw" bs=1M seek="$P1_START_MIB" conv=notrunc status=none
  chmod 0444 "$disk.raw"
  sums+=("$(sha256sum <"$disk.raw" | cut -c1-64)")
done
for disk in "${DISKS[@]}"; do mv "$disk.raw" "$out/$disk.raw"; done
uuid_text="${ARRAY_UUID:0:8}:${ARRAY_UUID:8:8}:${ARRAY_UUID:16:8}:${ARRAY_UUID:24:8}" # as mdadm prints it
jq -n --argjson version "$GENERATOR_VERSION" --arg s1 "${sums[0]}" --arg s2 "${sums[1]}" --arg s3 "${sums[2]}" \
  --arg uuid "$uuid_text" --arg text "$NAS_TEXT"$'\n' --arg holiday "$holiday_sum" '{
  generator: "scripts/make-nas-evidence.sh", version: $version,
  disks: [{file: "nas1.raw", sha256: $s1}, {file: "nas2.raw", sha256: $s2}, {file: "nas3.raw", sha256: $s3}],
  array: {name: "nas", members: ["nas1:1", "nas2:1", "nas3:1"], level: 5, uuid: $uuid},
  files: [
    {at: "vg1000/lv", path: "nas.txt", text: $text},
    {at: "vg1000/lv", path: "photos/holiday.bin", sha256: $holiday}
  ]}' >"$manifest.tmp"
mv "$manifest.tmp" "$manifest"
say "done: $out/${DISKS[0]}.raw"
echo "$out/${DISKS[0]}.raw"
