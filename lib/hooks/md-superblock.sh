#!/usr/bin/env bash
# md RAID member superblocks (metadata 0.90, 1.0, 1.1, 1.2) read from the device with dd and od: md
# itself never assembles anything here (an assembly may resync or write superblocks). Inlined with
# `# forensic-lab:include lib/hooks/md-superblock.sh` after common.sh.

# md_superblock DEVICE WHAT: reads DEVICE's md superblock (WHAT names it in messages). Returns 0 with
# MD_VERSION, MD_UUID (as mdadm prints it), MD_LEVEL, MD_LAYOUT, MD_SIZE (each member's used sectors),
# MD_CHUNK (sectors), MD_RAID_DISKS, MD_DATA_OFFSET, MD_DATA_SIZE, MD_ROLE (0xfffe faulty, 0xffff spare),
# MD_EVENTS, MD_UTIME, MD_FEATURES (1.x's feature bits; for 0.90 bit 4, a reshape under way) and MD_SUPER
# (the sector it lies at) set; returns 1 with MD_PROBLEM set for a member it does not read (unknown
# metadata, a 0.90 superblock of a big-endian machine). A damaged superblock (magic, checksum, a data area
# outside the device) fails the hook: the evidence is not what blkid says.
# shellcheck disable=SC2034 # the MD_* values are read by the including hook
md_superblock() {
  local device=$1 what=$2 probe line sectors words=() w i sum max_dev
  MD_VERSION="" MD_PROBLEM=""
  probe=$(blkid -p -o export -- "$device" 2>/dev/null || true)
  while IFS= read -r line; do
    if [[ "$line" == VERSION=* ]]; then MD_VERSION=${line#VERSION=}; fi
  done <<<"$probe"
  sectors=$(<"/sys/class/block/${device#/dev/}/size")
  case "$MD_VERSION" in
    0.90.0) md_superblock_0_90 "$device" "$what" "$sectors" || return 1; return 0 ;;
    1.2) MD_SUPER=8 ;;
    1.1) MD_SUPER=0 ;;
    1.0) MD_SUPER=$(((sectors - 16) & ~7)) ;;
    *)
      MD_PROBLEM="md metadata ${MD_VERSION:-of unknown version} is not read (only 0.90, 1.0, 1.1 and 1.2 are)"
      return 1
      ;;
  esac
  md_words "$device" "$what"
  ((words[0] == 0xa92b4efc && words[1] == 1)) || fail "$what: blkid says md $MD_VERSION, but no md 1.x superblock is at sector $MD_SUPER"
  max_dev=${words[55]}
  ((max_dev <= 1920)) || fail "$what: its superblock claims $max_dev device slots (more than fit in 4 KiB); not read"
  # mdadm's checksum: the 32-bit words of the superblock and its role table summed with the checksum
  # word as 0, the carry folded back in once.
  sum=0
  for ((i = 0; i < 64 + max_dev / 2; i++)); do
    if ((i != 54)); then sum=$((sum + words[i])); fi
  done
  if ((max_dev % 2 == 1)); then sum=$((sum + (words[i] & 0xffff))); fi
  sum=$((((sum & 0xffffffff) + (sum >> 32)) & 0xffffffff))
  ((sum == words[54])) || fail "$what: its md superblock's checksum does not match (damaged?); not opened"
  MD_FEATURES=${words[2]}
  # The array's UUID, bytes 16-31, grouped by four as mdadm prints it.
  MD_UUID=""
  for w in "${words[@]:4:4}"; do
    printf -v MD_UUID '%s%s%02x%02x%02x%02x' "$MD_UUID" "${MD_UUID:+:}" $((w & 255)) $((w >> 8 & 255)) $((w >> 16 & 255)) $((w >> 24))
  done
  MD_LEVEL=${words[18]}
  ((MD_LEVEL < 2147483648)) || MD_LEVEL=$((MD_LEVEL - 4294967296))
  MD_LAYOUT=${words[19]}
  MD_SIZE=$((words[20] + (words[21] << 32)))
  MD_CHUNK=${words[22]}
  MD_RAID_DISKS=${words[23]}
  # A hostile count would have the hooks loop over billions of roles; md's own tables hold 1920.
  ((MD_RAID_DISKS >= 1 && MD_RAID_DISKS <= 1920)) || fail "$what: its superblock claims $MD_RAID_DISKS devices in the array; not read"
  MD_DATA_OFFSET=$((words[32] + (words[33] << 32)))
  MD_DATA_SIZE=$((words[34] + (words[35] << 32)))
  MD_EVENTS=$((words[50] + (words[51] << 32)))
  # The last superblock update: seconds in the low 40 bits, microseconds above. md writes one value to
  # every member at once.
  MD_UTIME=$((words[48] + (words[49] << 32)))
  # This member's role, from the role table after the 256-byte superblock (16 bits per device slot).
  MD_ROLE=0xffff
  if ((words[40] < max_dev)); then
    w=$((64 + words[40] / 2)) # the 32-bit word holding its 16-bit slot
    w=${words[w]}
    if ((words[40] % 2 == 1)); then MD_ROLE=$((w >> 16)); else MD_ROLE=$((w & 0xffff)); fi
  fi
  # The data area must lie inside the device and clear of the superblock.
  if ((MD_DATA_SIZE == 0 || MD_SIZE > MD_DATA_SIZE || MD_DATA_OFFSET + MD_DATA_SIZE > sectors)) ||
    { [[ "$MD_VERSION" != 1.0 ]] && ((MD_DATA_OFFSET < MD_SUPER + 8)); } || { [[ "$MD_VERSION" == 1.0 ]] && ((MD_DATA_OFFSET + MD_DATA_SIZE > MD_SUPER)); }; then
    fail "$what: its superblock puts the data at sectors $MD_DATA_OFFSET+$MD_DATA_SIZE, which does not fit the device ($sectors sectors) beside the superblock"
  fi
  return 0
}

# md_words DEVICE WHAT: the 4 KiB superblock at sector MD_SUPER as 1024 little-endian 32-bit words, into
# the calling function's `words` (od prints host order: x86 is little-endian).
md_words() {
  read -ra words < <(dd if="$1" bs=512 skip="$MD_SUPER" count=8 status=none | od -An -v -tu4 -w4096)
  ((${#words[@]} == 1024)) || fail "$2: cannot read its superblock at sector $MD_SUPER"
}

# md_superblock_0_90 DEVICE WHAT SECTORS: md_superblock for metadata 0.90: 4 KiB in the device's last
# whole 64 KiB but one, in the byte order of the machine that wrote it (little-endian read here), the
# data from sector 0 up to it. Its fields by 32-bit word: the array's in 0-63, the personality's
# (layout, chunk) from 64, the table of 27 devices from 128, this member's own entry at 992.
md_superblock_0_90() {
  local device=$1 what=$2 sectors=$3 words=() i sum state
  MD_SUPER=$(((sectors & ~127) - 128))
  ((MD_SUPER > 0)) || fail "$what: too small to hold an md 0.90 superblock"
  md_words "$device" "$what"
  if ((words[0] == 0xfc4e2ba9)); then
    MD_PROBLEM="its md 0.90 superblock was written by a big-endian machine; not read"
    return 1
  fi
  ((words[0] == 0xa92b4efc && words[1] == 0 && (words[2] == 90 || words[2] == 91))) ||
    fail "$what: blkid says md 0.90, but no md 0.90 superblock is at sector $MD_SUPER"
  # md's checksum: every 32-bit word with the checksum word (38) as 0, summed, the carry folded in once.
  sum=0
  for ((i = 0; i < 1024; i++)); do
    if ((i != 38)); then sum=$((sum + words[i])); fi
  done
  sum=$((((sum & 0xffffffff) + (sum >> 32)) & 0xffffffff))
  ((sum == words[38])) || fail "$what: its md superblock's checksum does not match (damaged?); not opened"
  MD_VERSION=0.90
  # 0.91: the array was being reshaped (md writes 0.91 while it is).
  MD_FEATURES=$((words[2] == 91 ? 4 : 0))
  printf -v MD_UUID '%08x:%08x:%08x:%08x' "${words[5]}" "${words[13]}" "${words[14]}" "${words[15]}"
  MD_LEVEL=${words[7]}
  ((MD_LEVEL < 2147483648)) || MD_LEVEL=$((MD_LEVEL - 4294967296))
  MD_SIZE=$((words[8] * 2))
  MD_RAID_DISKS=${words[10]}
  ((MD_RAID_DISKS >= 1 && MD_RAID_DISKS <= 27)) || fail "$what: its superblock claims $MD_RAID_DISKS devices in the array (0.90 holds 27); not read"
  MD_UTIME=${words[32]}
  MD_EVENTS=$(((words[40] << 32) + words[39])) # little-endian: the low word first
  MD_LAYOUT=${words[64]}
  MD_CHUNK=$((words[65] / 512))
  MD_DATA_OFFSET=0 MD_DATA_SIZE=$MD_SUPER
  # This member's entry: its role (raid_disk) and state (bit 0 faulty, 1 active, 2 in sync).
  state=${words[996]}
  if ((state & 1)); then
    MD_ROLE=0xfffe
  elif (((state & 6) == 6)); then
    MD_ROLE=${words[995]}
  else
    MD_ROLE=0xffff
  fi
  ((MD_SIZE <= MD_DATA_SIZE)) ||
    fail "$what: its superblock puts $MD_SIZE sectors of data before the superblock at sector $MD_SUPER; it does not fit"
  return 0
}
