#!/usr/bin/env bash
# Makes a laptop-like raw disk whose volumes are encrypted and in LVM, as examiners receive them, without
# device-mapper (the host here has none) and without mounting anything:
#   p1  ext4: plain.txt
#   p2  LUKS2 (aes-xts-plain64) holding an LVM2 physical volume of volume group "evidencevg":
#         root  ext4: root.txt
#         home  LUKS1 (aes-xts-plain64) holding ext4: home.txt
# LVM's metadata is written by lvm2 itself on a loop device of the plaintext (lvcreate --driverloaded n:
# no activation), each filesystem by mkfs.ext4 -d into its own file and copied to its extents, and each
# LUKS header by cryptsetup luksFormat with a known volume key; the payloads are encrypted by
# scripts/luks-fill.js exactly as dm-crypt would. Passphrases are test constants, written to volumes.json.
#
#   scripts/make-volume-evidence.sh <outDir>     -> <outDir>/laptop.raw, <outDir>/volumes.json
# Idempotent: complete output of this version is kept as is; runs on one folder wait for each other.
# Prints the disk's absolute path.
set -euo pipefail

readonly GENERATOR_VERSION=1
readonly P2_KEY="forensic-lab test key: partition 2"
readonly HOME_KEY="forensic-lab test key: evidencevg/home"
readonly MIB=1048576
readonly P1_START_MIB=1 P1_MIB=8 P2_START_MIB=9 P2_MIB=48 DISK_MIB=58
readonly LV_MIB=12

here=$(cd -- "$(dirname -- "$0")" && pwd)
readonly here GENERATOR=make-volume-evidence
# shellcheck source=scripts/evidence-generator.sh
source "$here/evidence-generator.sh"

(($# == 1)) || die "usage: scripts/make-volume-evidence.sh <outDir>"
open_output_folder "$1"
readonly manifest="$out/volumes.json"

if [[ -f "$manifest" && -f "$out/laptop.raw" && "$(jq -r '.version' "$manifest")" == "$GENERATOR_VERSION" &&
  "$(sha256sum <"$out/laptop.raw" | cut -c1-64)" == "$(jq -r '.sha256' "$manifest")" ]]; then
  echo "$out/laptop.raw"
  exit 0
fi
rm -f -- "$manifest" "$out/laptop.raw"

enter_scratch_folder

# An ext4 image of <size MiB> holding <name>.txt with <text>; prints nothing.
ext4_file() { # <file> <size MiB> <name> <text>
  mkdir -p "content-$3"
  printf '%s\n' "$4" >"content-$3/$3.txt"
  truncate -s "$2M" "$1"
  mkfs.ext4 -q -F -d "content-$3" "$1"
}

# A LUKS container file of <size MiB> around <plaintext file>: <type> luks1 or luks2, the passphrase, and
# a fresh volume key; prints nothing.
luks_file() { # <file> <size MiB> <type> <passphrase> <plaintext file>
  local offset
  truncate -s "$2M" "$1"
  head -c 64 /dev/urandom >"$1.key"
  printf '%s' "$4" | cryptsetup luksFormat -q --type "$3" --cipher aes-xts-plain64 --key-size 512 \
    --sector-size 512 --volume-key-file "$1.key" --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file - "$1"
  if [[ "$3" == luks1 ]]; then
    offset=$(($(cryptsetup luksDump "$1" | sed -n 's/^Payload offset:[[:space:]]*//p') * 512))
  else
    offset=$(cryptsetup luksDump "$1" | sed -n 's/^[[:space:]]*offset:[[:space:]]*\([0-9]*\) \[bytes\]/\1/p' | head -n 1)
  fi
  [[ "$offset" =~ ^[0-9]+$ ]] || die "cannot read the payload offset of $1"
  node "$here/luks-fill.js" "$1" "$offset" "$1.key" "$5"
  rm -f "$1.key"
}

say "the LVM volume group evidencevg (lvm2, no activation)"
p2_payload_mib=$((P2_MIB - 16)) # LUKS2's default header and keyslots take 16 MiB
truncate -s "${p2_payload_mib}M" pv.img
loop=$(losetup -f --show pv.img)
lvm_here pvcreate -q "$loop" >/dev/null
lvm_here vgcreate -q -s 1M evidencevg "$loop" >/dev/null 2>&1
lvm_here lvcreate --driverloaded n -q -an -Zn -y -n root -L "${LV_MIB}M" evidencevg >/dev/null 2>&1
lvm_here lvcreate --driverloaded n -q -an -Zn -y -n home -L "${LV_MIB}M" evidencevg >/dev/null 2>&1
pe_start=$(lvm_here pvs --noheadings --units b --nosuffix -o pe_start "$loop" | tr -d ' ')
first_pe() { lvm_here lvs --noheadings --segments -o seg_pe_ranges "evidencevg/$1" | sed -n 's/.*:\([0-9]*\)-[0-9]*.*/\1/p'; }
root_pe=$(first_pe root)
home_pe=$(first_pe home)
losetup -d "$loop"
loop=""
[[ "$pe_start" =~ ^[0-9]+$ && "$root_pe" =~ ^[0-9]+$ && "$home_pe" =~ ^[0-9]+$ ]] || die "cannot read the LV layout"

say "filesystems and LUKS layers"
ext4_file p1.ext4 "$P1_MIB" plain "plain partition of the laptop"
ext4_file root.ext4 "$LV_MIB" root "root LV of the laptop"
ext4_file home.ext4 $((LV_MIB - 2)) home "home LV of the laptop, inside LUKS1" # LUKS1's header: 2 MiB
luks_file home.luks "$LV_MIB" luks1 "$HOME_KEY" home.ext4
dd if=root.ext4 of=pv.img bs=1M seek=$(((pe_start + root_pe * MIB) / MIB)) conv=notrunc status=none
dd if=home.luks of=pv.img bs=1M seek=$(((pe_start + home_pe * MIB) / MIB)) conv=notrunc status=none
luks_file p2.luks "$P2_MIB" luks2 "$P2_KEY" pv.img

say "the disk"
truncate -s "${DISK_MIB}M" laptop.raw
printf 'label: gpt\nlabel-id: 6F72656E-7369-4363-8C61-6C6170746F70\nstart=%s, size=%s\nstart=%s, size=%s\n' \
  $((P1_START_MIB * 2048)) $((P1_MIB * 2048)) $((P2_START_MIB * 2048)) $((P2_MIB * 2048)) | sfdisk -q laptop.raw
dd if=p1.ext4 of=laptop.raw bs=1M seek="$P1_START_MIB" conv=notrunc status=none
dd if=p2.luks of=laptop.raw bs=1M seek="$P2_START_MIB" conv=notrunc status=none
chmod 0444 laptop.raw
sum=$(sha256sum <laptop.raw | cut -c1-64)
mv laptop.raw "$out/laptop.raw"
jq -n --argjson version "$GENERATOR_VERSION" --arg sha256 "$sum" --arg p2 "$P2_KEY" --arg home "$HOME_KEY" '{
  generator: "scripts/make-volume-evidence.sh", version: $version, top: "laptop.raw", sha256: $sha256,
  keys: {"2": $p2, "evidencevg/home": $home},
  files: [
    {at: "p1", path: "plain.txt", text: "plain partition of the laptop\n"},
    {at: "evidencevg/root", path: "root.txt", text: "root LV of the laptop\n"},
    {at: "evidencevg/home", path: "home.txt", text: "home LV of the laptop, inside LUKS1\n"}
  ]}' >"$manifest.tmp"
mv "$manifest.tmp" "$manifest"
say "done: $out/laptop.raw"
echo "$out/laptop.raw"
