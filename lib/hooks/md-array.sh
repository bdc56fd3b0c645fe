#!/usr/bin/env bash
# md arrays started by hand through sysfs, for the RAID layouts device-mapper has no table for (md's
# RAID6 layouts, RAID10 far and offset copies, RAID0 zones): md's own RAID code over read-only member
# mappings, with metadata "none" (md neither reads nor writes a superblock: nothing on the members
# changes, and no array is ever assembled by md from what it finds) and started read-only (array_state
# `readonly`: no resync, no recovery, no write from above; md also keeps an array read-only whose
# members are). Not mdadm: an assembly by mdadm reads the members' superblocks and may write them.
# Inlined with `# forensic-lab:include lib/hooks/md-array.sh` after common.sh.

# md_array_name ARRAY_NAME: the md device of one of the case's arrays, `md_fl_<crc32 of the name>`
# (md names are at most 31 characters; the case's names up to 32).
md_array_name() {
  local crc _
  read -r crc _ < <(printf '%s' "$1" | cksum)
  printf 'md_fl_%08x\n' "$crc"
}

# md_members MD: its members as `<slot> <major:minor>` lines, sorted.
md_members() {
  local dev
  for dev in "/sys/block/$1/md"/dev-*; do
    [[ -e "$dev" ]] || continue
    printf '%s %s\n' "$(<"$dev/slot")" "$(<"$dev/block/dev")"
  done | sort
}

# md_members_of SLOT:DEVICE...: the same lines for the members md_start is given.
md_members_of() {
  local member
  for member in "$@"; do
    printf '%s %s\n' "${member%%:*}" "$(<"/sys/class/block/$(kernel_name "${member#*:}")/dev")"
  done | sort
}

# md_start MD PERSONALITY LAYOUT CHUNK DISKS SIZE SLOT:DEVICE...: starts the md device MD (which must
# not exist) read-only with no metadata: PERSONALITY (raid0, raid6, raid10), LAYOUT as md numbers it,
# CHUNK in sectors, DISKS roles, SIZE the sectors of each member in use (0 for RAID0, which uses each
# member whole), and each member's role and read-only device, which md takes whole. A missing role has no SLOT:DEVICE. Fails
# naming md's reason (from the kernel log) when md refuses; the caller stops MD then.
md_start() {
  local md=$1 personality=$2 layout=$3 chunk=$4 disks=$5 size=$6 member slot device sys dm
  shift 6
  sys=/sys/block/$md/md
  modprobe "md-$personality" # raid456 (md-raid4/5/6), raid0, raid10
  echo "$md" >/sys/module/md_mod/parameters/new_array
  echo none >"$sys/metadata_version"
  echo "$personality" >"$sys/level"
  echo $((chunk * 512)) >"$sys/chunk_size"
  echo "$layout" >"$sys/layout"
  echo "$disks" >"$sys/raid_disks"
  for member in "$@"; do
    slot=${member%%:*} device=${member#*:}
    dm=$(kernel_name "$device")
    cat "/sys/class/block/$dm/dev" >"$sys/new_dev"
    echo "$slot" >"$sys/dev-$dm/slot"
    echo 0 >"$sys/dev-$dm/offset"
    echo $(($(<"/sys/class/block/$dm/size") / 2)) >"$sys/dev-$dm/size"
  done
  if ((size > 0)); then echo $((size / 2)) >"$sys/component_size"; fi
  # In sync as the superblocks say (the caller checked them): nothing to resync, and md may read a
  # degraded array from parity or copies.
  echo none >"$sys/resync_start"
  echo readonly >"$sys/array_state" 2>/dev/null ||
    fail "md refused to start $md: $(dmesg | grep -E "md/|md:|$md" | tail -n 3 | tr '\n' ' ')"
}

# md_stop MD: stops the md device if it is there. Fails naming what holds it (a mapping or a mount).
md_stop() {
  local sys=/sys/block/$1 holder held=()
  [[ -d "$sys/md" ]] || return 0
  if ! echo clear >"$sys/md/array_state" 2>/dev/null; then
    for holder in "$sys/holders"/*; do
      if [[ -e "$holder" ]]; then held+=("${holder##*/}"); fi
    done
    fail "md device $1 is still in use (held by: ${held[*]:-a process}); remove what holds it first"
  fi
}

# md_health MD DISKS: one character per role, as dm-raid reports its own: `A` in sync, `a` there but not
# in sync, `D` faulty, `-` missing.
md_health() {
  local dev slot state health=() out="" r
  for dev in "/sys/block/$1/md"/dev-*; do
    [[ -e "$dev" ]] || continue
    slot=$(<"$dev/slot") state=$(<"$dev/state")
    [[ "$slot" =~ ^[0-9]+$ ]] || continue
    case ",$state," in
      *,faulty,*) health[slot]=D ;;
      *,in_sync,*) health[slot]=A ;;
      *) health[slot]=a ;;
    esac
  done
  for ((r = 0; r < $2; r++)); do out+=${health[r]:--}; done
  echo "$out"
}
