#!/usr/bin/env bash
# RaidArray create, in the guest: one md RAID array whose members lie in several attached images (a
# NAS's disks), mapped read-only from the members' own superblocks. md never assembles it: an assembly
# may resync, rebuild or write superblocks. RAID0, and RAID10 with near copies, are dm `striped` tables
# over the members' data areas (RAID10: one member of each group of copies); RAID4 and RAID5 are dm-raid
# (`raid` target: md's own RAID code under device-mapper) over read-only mappings of the members' data
# areas, with `nosync` and no metadata devices: nothing to resync, nowhere to write a superblock.
# What device-mapper has no table for (md's RAID6 layouts, RAID10 far or offset copies or near copies
# over an odd count, RAID0 members of different sizes) is md's own code all the same, started by hand
# with no metadata and read-only over the same read-only member mappings (lib/hooks/md-array.sh), with
# a linear mapping fl-array-<name> on top, so what a mount takes is the same for every array.
# Degraded RAID4/5/6/10 arrays open with the members there are; one with too few is refused.
# Values: ARRAY_NAME (the case's name for it: mappings fl-array-<name>, fl-array-<name>-r<role>),
# MEMBER_DEVICES (array: /dev/nbdNpK, or /dev/nbdN for a whole-disk member), MEMBER_LABELS (array, the
# same length: how messages name each member, e.g. "image disk1 partition 3").
# Checked before anything is mapped: every member carries an md superblock (0.90 or 1.x) of the same array (UUID,
# level, layout, chunk, disk count), no two claim one role, none is a spare, faulty, being rebuilt or
# of another moment than the others (fewer events, or another update time), and no reshape or write journal.
# Idempotent: mappings already there with the same tables are kept.
set -euo pipefail

# shellcheck disable=SC2034 # read by fail() (lib/hooks/common.sh)
readonly FAILS_AS="raid-array"
# forensic-lab:include lib/hooks/common.sh
# forensic-lab:include lib/hooks/device-mapper.sh
# forensic-lab:include lib/hooks/md-superblock.sh
# forensic-lab:include lib/hooks/md-array.sh

[[ "$ARRAY_NAME" =~ ^[a-z0-9][a-z0-9-]{0,31}$ ]] || fail "array name '$ARRAY_NAME' must be 1-32 of a-z, 0-9 and '-'"
readonly PREFIX="fl-array-$ARRAY_NAME"
((${#MEMBER_DEVICES[@]} > 0 && ${#MEMBER_DEVICES[@]} == ${#MEMBER_LABELS[@]})) ||
  fail "MEMBER_DEVICES and MEMBER_LABELS must name the same members, at least one"
for i in "${!MEMBER_DEVICES[@]}"; do
  device=${MEMBER_DEVICES[$i]}
  [[ "$device" =~ ^/dev/nbd[0-9]+(p[0-9]+)?$ ]] || fail "${MEMBER_LABELS[$i]}: '$device' is not an nbd device or partition"
  [[ -b "$device" ]] || fail "${MEMBER_LABELS[$i]}: $device does not exist (not attached, or no such partition)"
  for ((j = 0; j < i; j++)); do
    [[ "${MEMBER_DEVICES[$j]}" != "$device" ]] || fail "${MEMBER_LABELS[$i]} and ${MEMBER_LABELS[$j]} are one device ($device)"
  done
done
blockdev --setro "${MEMBER_DEVICES[@]}"

# Each member's superblock. The first member sets what the others must agree with.
roles=() offsets=() sizes=() events=() utimes=() by_role=()
for i in "${!MEMBER_DEVICES[@]}"; do
  device=${MEMBER_DEVICES[$i]} what=${MEMBER_LABELS[$i]}
  [[ "$(blkid -p -o value -s TYPE "$device" 2>/dev/null || true)" == linux_raid_member ]] ||
    fail "$what: $device is no md RAID member (blkid: $(blkid -p -o value -s TYPE "$device" 2>/dev/null || echo nothing))"
  md_superblock "$device" "$what" || fail "$what: $MD_PROBLEM"
  if ((i == 0)); then
    uuid=$MD_UUID level=$MD_LEVEL layout=$MD_LAYOUT chunk=$MD_CHUNK disks=$MD_RAID_DISKS size=$MD_SIZE version=$MD_VERSION
    # Striped levels cut the data in chunks; a superblock without one would divide by zero below.
    ((chunk > 0 || level == 1 || level == -1)) || fail "$what: its superblock gives RAID$level no chunk size; not opened"
  fi
  [[ "$MD_UUID" == "$uuid" ]] || fail "$what belongs to md array $MD_UUID, ${MEMBER_LABELS[0]} to $uuid: not one array"
  [[ "$MD_LEVEL $MD_LAYOUT $MD_CHUNK $MD_RAID_DISKS" == "$level $layout $chunk $disks" ]] ||
    fail "$what: its superblock disagrees with ${MEMBER_LABELS[0]}'s on level, layout, chunk or disk count ($MD_LEVEL $MD_LAYOUT $MD_CHUNK $MD_RAID_DISKS vs $level $layout $chunk $disks)"
  ((!(MD_FEATURES & 4))) || fail "$what: a reshape of the array was under way; its data layout is in flux; not opened"
  ((!(MD_FEATURES & 0x200))) || fail "$what: the array has a write journal, which may hold data not yet in the array; not opened"
  ((MD_ROLE < 0xfffe)) || fail "$what is a spare or marked faulty: it holds no current data; leave it out of the members"
  ((MD_ROLE < disks)) || fail "$what claims role $MD_ROLE in an array of $disks devices"
  ((!(MD_FEATURES & 2))) || fail "$what was being rebuilt when the array stopped: its data is partial; leave it out of the members"
  [[ -z "${by_role[MD_ROLE]:-}" ]] || fail "$what and ${MEMBER_LABELS[${by_role[MD_ROLE]}]} both claim role $MD_ROLE: copies of one disk?"
  by_role[MD_ROLE]=$i
  roles+=("$MD_ROLE") offsets+=("$MD_DATA_OFFSET") sizes+=("$MD_DATA_SIZE") events+=("$MD_EVENTS") utimes+=("$MD_UTIME")
done
# Members of one moment: md writes every superblock at once, with one event count and one update time.
# Fewer events: the member left the array before. The same events but another time: md counts a clean
# array's events back down, so a disk imaged before the array last ran shows only in the time. md's own
# assembly would take that disk and mix old stripes into the data.
newest=0 latest=0
for i in "${!events[@]}"; do
  ((events[i] <= newest)) || newest=${events[i]}
  (((utimes[i] & 0xffffffffff) <= latest)) || latest=$((utimes[i] & 0xffffffffff))
done
when() { date -u -d "@$1" '+%Y-%m-%d %H:%M:%S UTC'; }
for i in "${!events[@]}"; do
  ((events[i] == newest)) ||
    fail "${MEMBER_LABELS[$i]} is older than the other members (events ${events[i]} < $newest): it left the array before; leave it out"
  (((utimes[i] & 0xffffffffff) == latest)) ||
    fail "${MEMBER_LABELS[$i]} was last updated at $(when $((utimes[i] & 0xffffffffff))), another member at $(when "$latest"): it missed the array's last run (imaged earlier?); leave it out"
done
missing=()
for ((r = 0; r < disks; r++)); do
  [[ -n "${by_role[r]:-}" ]] || missing+=("$r")
done

# The table: chunk and sizes in 512-byte sectors. md_personality is set where md's own code starts the
# array instead (no device-mapper table for its layout); md_used is then each member's sectors in use.
member_maps=() # role, dm name, table: three per member mapped alone (dm-raid and md take whole devices)
md_personality="" md_used=0
# map_members SIZE: each member there is, alone (SIZE sectors of its data area; 0: all of it).
map_members() {
  local r i
  for ((r = 0; r < disks; r++)); do
    if [[ -n "${by_role[r]:-}" ]]; then
      i=${by_role[r]}
      member_maps+=("$r" "$PREFIX-r$r" "0 $(($1 > 0 ? $1 : sizes[i])) linear ${MEMBER_DEVICES[$i]} ${offsets[$i]}")
    fi
  done
}
# md numbers its RAID5 and RAID6 layouts; mdadm names them so.
md_layouts=([0]=left-asymmetric [1]=right-asymmetric [2]=left-symmetric [3]=right-symmetric [4]=parity-first [5]=parity-last
  [8]=ddf-zero-restart [9]=ddf-N-restart [10]=ddf-N-continue [16]=left-asymmetric-6 [17]=right-asymmetric-6
  [18]=left-symmetric-6 [19]=right-symmetric-6 [20]=parity-first-6)
case $level in
  0)
    ((${#missing[@]} == 0)) || fail "RAID0 has no redundancy: role(s) ${missing[*]} missing; every member is needed"
    # md rounds each member down to whole chunks; members of different sizes make several zones, which
    # only md's own RAID0 reads.
    per=$((sizes[0] / chunk * chunk)) zones=no
    for s in "${sizes[@]}"; do
      (((s / chunk * chunk) == per)) || zones=yes
    done
    if [[ $zones == no ]]; then
      table="0 $((per * disks)) striped $disks $chunk"
      for ((r = 0; r < disks; r++)); do table+=" ${MEMBER_DEVICES[${by_role[r]}]} ${offsets[${by_role[r]}]}"; done
      kind="RAID0, chunk $((chunk / 2)) KiB"
    else
      md_personality=raid0
      map_members 0
      kind="RAID0 over members of different sizes (md zones), chunk $((chunk / 2)) KiB"
    fi
    ;;
  10)
    # md's near layout keeps each chunk on <copies> neighbouring devices; with the device count a multiple
    # of the copies, that is RAID0 over one device of each group of neighbours. (dm-raid's own raid10
    # refuses md's layout without metadata devices: "unsupported raid10 layout".) Other layouts: md.
    near=$((layout & 255)) far=$((layout >> 8 & 255)) offset=$((layout >> 16 & 1))
    ((layout >> 19 == 0 && near * far > 1)) || fail "RAID10 layout $layout is not one md writes; not opened"
    ((size > 0)) || fail "the superblocks give the array no size"
    copies="$near near"
    if ((far > 1 && offset)); then copies+=", $far offset"; elif ((far > 1)); then copies+=", $far far"; fi
    kind="RAID10 ($copies copies), chunk $((chunk / 2)) KiB"
    if ((layout >> 16 == 0 && far == 1 && disks % near == 0)); then
      legs=$((disks / near)) per=$((size / chunk * chunk))
      table="0 $((per * legs)) striped $legs $chunk"
      for ((leg = 0; leg < legs; leg++)); do
        i=""
        for ((r = leg * near; r < (leg + 1) * near; r++)); do
          if [[ -z "$i" && -n "${by_role[r]:-}" ]]; then i=${by_role[r]}; fi
        done
        [[ -n "$i" ]] || fail "RAID10: every copy of roles $((leg * near))-$(((leg + 1) * near - 1)) is missing; the array cannot be read"
        table+=" ${MEMBER_DEVICES[$i]} ${offsets[$i]}"
      done
    else
      md_personality=raid10 md_used=$size
      map_members "$size"
    fi
    ;;
  4 | 5 | 6)
    ((size > 0)) || fail "the superblocks give the array no size"
    parity=$((level == 6 ? 2 : 1))
    ((${#missing[@]} <= parity)) ||
      fail "RAID$level keeps $parity parity chunk(s) a stripe: role(s) ${missing[*]} missing, at most $parity may be; the array cannot be read"
    type=""
    if ((level == 4)); then
      type=raid4
    elif ((level == 5)); then
      case $layout in
        0) type=raid5_la ;;
        1) type=raid5_ra ;;
        2) type=raid5_ls ;;
        3) type=raid5_rs ;;
        5) type=raid5_n ;;
      esac
    fi
    map_members "$size"
    if [[ -n "$type" ]]; then
      table="0 $(((disks - 1) * size)) raid $type 2 $chunk nosync $disks"
      for ((r = 0; r < disks; r++)); do
        if [[ -n "${by_role[r]:-}" ]]; then table+=" - /dev/mapper/$PREFIX-r$r"; else table+=" - -"; fi
      done
      kind="RAID$level ($type), chunk $((chunk / 2)) KiB"
    else
      # md's RAID6 layouts (and RAID5's rarer ones) have no dm-raid name: dm-raid's raid6_* are DDF's.
      [[ -n "${md_layouts[layout]:-}" ]] || fail "RAID$level layout $layout is not one md knows; not opened"
      md_personality=raid$level md_used=$size
      kind="RAID$level (md ${md_layouts[layout]}), chunk $((chunk / 2)) KiB"
    fi
    ;;
  -1)
    # md linear (a NAS's JBOD): the members' data one after another in role order, each rounded down
    # to whole chunks (md's rounding) where the superblock gives one: a linear table of one line each.
    ((${#missing[@]} == 0)) || fail "a linear array (JBOD) has no redundancy: role(s) ${missing[*]} missing; every member is needed"
    table="" start=0
    for ((r = 0; r < disks; r++)); do
      i=${by_role[r]} per=${sizes[${by_role[r]}]}
      if ((chunk > 0)); then per=$((per / chunk * chunk)); fi
      table+="$start $per linear ${MEMBER_DEVICES[$i]} ${offsets[$i]}"$'\n'
      start=$((start + per))
    done
    table=${table%$'\n'}
    kind="linear (JBOD) of $disks members"
    ;;
  1) fail "RAID1: each member holds all the data and opens alone; name it in its image's partitions instead" ;;
  *) fail "md level $level is not opened (linear, RAID0, RAID4, RAID5, RAID6 and RAID10 are)" ;;
esac

# Nothing half-made is left behind: if this hook fails, what it created goes again, newest first.
made=()
undo_made() {
  local status=$? k
  ((status != 0)) || return 0
  for ((k = ${#made[@]} - 1; k >= 0; k--)); do
    if [[ "${made[k]}" == md:* ]]; then
      echo clear >"/sys/block/${made[k]#md:}/md/array_state" 2>/dev/null ||
        echo "raid-array: could not stop md device ${made[k]#md:} after the failure" >&2
    else
      dmsetup remove --retry -- "${made[k]}" >/dev/null 2>&1 || echo "raid-array: could not remove /dev/mapper/${made[k]} after the failure" >&2
    fi
  done
}
trap undo_made EXIT

# map NAME TABLE: a read-only mapping, or the one already there with the same table.
map() {
  if dmsetup info -- "$1" >/dev/null 2>&1; then
    [[ "$(dm_table_of "$1")" == "$(as_dm_table <<<"$2")" ]] || fail "mapping $1 exists with another table (another array's?)"
    echo "raid-array: /dev/mapper/$1 is already mapped" >&2
  else
    local refusal
    # Why the kernel refused (dm-raid says so only in its log): its last lines from device-mapper and md.
    refusal=$(printf '%s\n' "$2" | dmsetup create --readonly -- "$1" 2>&1) ||
      fail "dmsetup create --readonly $1 failed: ${refusal//$'\n'/ } $(dmesg | grep -E 'device-mapper|md/' | tail -n 3 | tr '\n' ' ')"
    made+=("$1")
  fi
  mapped_read_only "$1"
}

for ((k = 0; k < ${#member_maps[@]}; k += 3)); do map "${member_maps[k + 1]}" "${member_maps[k + 2]}"; done
md="" health=""
if [[ -n "$md_personality" ]]; then
  md=$(md_array_name "$ARRAY_NAME")
  slots=()
  for ((k = 0; k < ${#member_maps[@]}; k += 3)); do slots+=("${member_maps[k]}:/dev/mapper/${member_maps[k + 1]}"); done
  if [[ -d "/sys/block/$md/md" ]]; then
    # Started by an earlier run: kept if it is this array over these mappings (read-only: checked below).
    [[ "$(md_members "$md")" == "$(md_members_of "${slots[@]}")" ]] || fail "md device $md exists with other members (another array's?)"
    echo "raid-array: md device $md is already started" >&2
  else
    made+=("md:$md")
    md_start "$md" "$md_personality" "$layout" "$chunk" "$disks" "$md_used" "${slots[@]}"
  fi
  [[ "$(<"/sys/block/$md/ro")" == 1 && "$(<"/sys/block/$md/md/array_state")" == readonly ]] || fail "md device $md is not read-only"
  if [[ -e "/sys/block/$md/md/sync_action" ]]; then
    [[ "$(<"/sys/block/$md/md/sync_action")" == idle ]] || fail "md device $md is not idle (sync_action: $(<"/sys/block/$md/md/sync_action"))"
  fi
  health=$(md_health "$md" "$disks")
  table="0 $(<"/sys/block/$md/size") linear /dev/$md 0"
else
  if [[ "$table" == *" raid "* ]]; then modprobe dm-raid; fi
fi
map "$PREFIX" "$table"
state=complete
if ((${#missing[@]} > 0)); then state=degraded; fi
if [[ "$table" == *" raid "* ]]; then
  # dm-raid's status: ... <health chars, A alive and in sync> <synced/total> <sync action>. Idle: it
  # neither resyncs nor recovers.
  read -ra words < <(dmsetup status -- "$PREFIX")
  health=${words[5]:-?}
  [[ "${words[7]:-}" == idle ]] || fail "/dev/mapper/$PREFIX is not idle (dm-raid status: ${words[*]})"
fi
echo "raid-array: mapped md array $uuid ($kind, $state) read-only as /dev/mapper/$PREFIX" >&2

member_json=$(for i in "${!MEMBER_DEVICES[@]}"; do printf '%s\t%s\n' "${MEMBER_DEVICES[$i]}" "${roles[$i]}"; done |
  jq -Rsc '[split("\n")[] | select(. != "") | split("\t") | {device: .[0], role: (.[1] | tonumber)}]')
jq -nc --arg device "/dev/mapper/$PREFIX" --arg uuid "$uuid" --arg version "$version" --argjson level "$level" \
  --arg kind "$kind" --arg state "$state" --arg health "$health" --argjson size "$(size_of "/dev/mapper/$PREFIX")" \
  --argjson members "$member_json" --arg missing "${missing[*]}" --arg md "$md" '{
    device: $device, uuid: $uuid, metadata: $version, level: $level, detail: $kind, state: $state,
    members: $members, missingRoles: ($missing | split(" ") | map(select(. != "") | tonumber)), sizeBytes: $size
  } + (if $health == "" then {} else {health: $health} end) + (if $md == "" then {} else {mdDevice: "/dev/\($md)"} end)' | sed 's/^/FORENSIC_LAB_RESULT /'
