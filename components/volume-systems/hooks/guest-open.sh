#!/usr/bin/env bash
# VolumeSystems create, in the guest: opens the volume systems inside one attached image, or inside an
# md array RaidArray opened (a NAS's volume: Synology's SHR is LVM on md, QNAP's LVM thin and LUKS on md),
# read-only.
#   0. md RAID1 members: the data area each member's superblock names, mapped by `dmsetup create
#      --readonly` (md's own assembly is never used).
#   1. LUKS and BitLocker on partitions that have a key: `cryptsetup open --readonly` (`--type bitlk`).
#   2. LVM2: the volume groups on this image's partitions (and on what step 1 opened) are read with
#      `lvm --readonly` (no locks, no device-mapper, no metadata write, no repair) scoped by `--devices`
#      to this image alone, and each linear, striped or thin logical volume is mapped by `dmsetup create
#      --readonly` under a name of this device's own (a thin pool opened `read_only`). LVM's own activation is never used: two images
#      whose volume groups share a name or UUID (clones, a disk and its copy) would share one mapping.
#   3. LUKS on logical volumes that have a key.
# Values: NBD_DEVICE or ARRAY_DEVICE (a RaidArray's /dev/mapper/fl-array-<name>, which is partition 0; the
# other one empty), LUKS_AT (array: where each key opens LUKS: a partition number, or vg/lv),
# BITLOCKER_AT (array: where each key opens BitLocker: a partition number).
# Stdin: the keys, each base64-encoded on a line of its own, LUKS_AT's then BITLOCKER_AT's. They live in one array
# and reach cryptsetup through a pipe: never argv, never the environment, never a file.
# Every mapping is named with this device's prefix (fl-<nbdN>-..., fl-array_<name>_...: lib/hooks/evidence-device.sh),
# so the delete hook finds what this device's hook made.
# Idempotent: a mapping already there is checked (same backing device, same table) and kept.
# Names from the evidence (VG and LV names) are the attacker's: only LVM's own name characters pass.
set -euo pipefail

# shellcheck disable=SC2034 # read by fail() (lib/hooks/common.sh)
readonly FAILS_AS="volume-systems"
# forensic-lab:include lib/hooks/common.sh
# forensic-lab:include lib/hooks/device-mapper.sh
# forensic-lab:include lib/hooks/evidence-device.sh
# forensic-lab:include lib/hooks/md-superblock.sh

evidence_device
evidence_device_present
readonly DEVICE VOLUME_PREFIX
# LVM's name rule (lvm2 validate_name), without the names it reserves for itself.
readonly LVM_NAME='^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,125}$'

# lvm's JSON reports -> one line per logical volume: vg, lv, its dm table (lines joined by ';') or '!' and
# why it is not mapped, and "volume" or "part" (a thin pool or its hidden data and metadata volumes: mapped
# for the thin volumes above them, never offered as volumes). Sizes are in 512-byte sectors (--units s).
# Mapped: plain volumes (first letter of lv_attr "-", or "o"/"O" for the origin of a snapshot, whose
# segments hold the current data; a classic snapshot's own segments are its copy-on-write store, not a
# filesystem), and thin volumes and thin snapshots ("V") through their pool, opened `read_only` (dm-thin
# then never writes its metadata). Lines come in the order they must be mapped: parts first, then pools,
# then everything else. A table names another mapping as @vg/lv@, which the shell resolves.
# shellcheck disable=SC2016 # a jq program: its $names are jq variables
readonly LV_PLANS='
  def bare: ltrimstr("[") | rtrimstr("]");
  def linear_plan($start):
    if any(.segs[]; .segtype != "linear" and .segtype != "striped") then
      "!segment type \([.segs[].segtype] | unique | join(",")) is not mapped (only linear, striped and thin are)"
    elif any(.segs[]; .seg_pe_ranges | test("unknown") or . == "") then "!a physical volume of it is missing from this image"
    elif any(.segs[]; .seg_pe_ranges | split(" ") | any(sub(":[0-9]+-[0-9]+$"; "") | $start[.] == null)) then
      "!a physical volume of it is missing from this image"
    else [.segs[] | . as $s
          | ($s.seg_pe_ranges | split(" ") | map(capture("^(?<dev>.+):(?<first>[0-9]+)-[0-9]+$"))) as $ranges
          | ($s.vg_extent_size | tonumber) as $extent
          | [$ranges[] | "\(.dev) \($start[.dev] + (.first | tonumber) * $extent)"] as $targets
          | "\($s.seg_start | tonumber) \($s.seg_size | tonumber)" as $span
          | if ($s.stripes | tonumber) == 1
            then "\($span) linear \($targets[0])"
            else "\($span) striped \($s.stripes | tonumber) \($s.stripe_size | tonumber) \($targets | join(" "))"
            end] | join(";")
    end;
  ($pvs.report[0].pv | map({key: .pv_name, value: (.pe_start | tonumber)}) | from_entries) as $start
  | ($segs.report[0] | .seg // .lv) as $all
  | [$all[] | select(.segtype == "thin-pool") | .vg_name as $vg | (.data_lv, .metadata_lv) | "\($vg)/\(bare)"] as $pool_parts
  | [$all | group_by([.vg_name, .lv_name])[]
     | {vg: .[0].vg_name, lv: (.[0].lv_name | bare), hidden: (.[0].lv_name | startswith("[")),
        kind: .[0].lv_attr[0:1], segs: .}
     | select((.hidden | not) or ("\(.vg)/\(.lv)" | IN($pool_parts[])))
     | .segs[0] as $first
     | if .hidden then .rank = 0 | .role = "part" | .plan = linear_plan($start)
       elif $first.segtype == "thin-pool" then
         .rank = 1 | .role = "part"
         | .plan = (if (.segs | length) != 1 then "!a thin pool of \(.segs | length) segments is not mapped"
                    else "0 \($first.seg_size | tonumber) thin-pool @\(.vg)/\($first.metadata_lv | bare)@ @\(.vg)/\($first.data_lv | bare)@ \($first.chunk_size | tonumber) 0 1 read_only"
                    end)
       elif .kind == "V" and $first.segtype == "thin" then
         .rank = 2 | .role = "volume"
         | .plan = "0 \($first.seg_size | tonumber) thin @\(.vg)/\($first.pool_lv)@ \($first.thin_id | tonumber)"
       elif (.kind | IN("-", "o", "O") | not) then
         .rank = 2 | .role = "volume"
         | .plan = "!it is \({"s": "a snapshot", "S": "a merging snapshot", "V": "a thin volume of an unknown kind", "t": "a thin pool",
             "r": "a RAID volume", "R": "a RAID volume", "m": "a mirror", "M": "a mirror", "C": "a cached volume",
             "d": "a VDO pool", "v": "a virtual volume", "p": "a pvmove"}[.kind] // "of type \(.kind)") (lv_attr), not a plain volume; not mapped"
       else .rank = 2 | .role = "volume" | .plan = linear_plan($start)
       end]
  | sort_by(.rank)[]
  | [.vg, .lv, .plan, .role] | @tsv'

keys=()
if ((${#LUKS_AT[@]} + ${#BITLOCKER_AT[@]} > 0)); then
  while IFS= read -r line; do keys+=("$line"); done
fi
((${#keys[@]} == ${#LUKS_AT[@]} + ${#BITLOCKER_AT[@]})) ||
  fail "${#LUKS_AT[@]} LUKS and ${#BITLOCKER_AT[@]} BitLocker volume(s) named but ${#keys[@]} key(s) on stdin"
for where in "${BITLOCKER_AT[@]}"; do
  [[ "$where" =~ ^(0|[1-9][0-9]*)$ ]] || fail "BITLOCKER_AT '$where' is not a partition number"
  ! has_word "$where" "${LUKS_AT[@]}" || fail "partition $where has a LUKS key and a BitLocker key; give one"
done
for where in "${LUKS_AT[@]}"; do
  [[ "$where" =~ ^(0|[1-9][0-9]*)$ || "$where" =~ ^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*/[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$ ]] ||
    fail "LUKS_AT '$where' is neither a partition number nor vg/lv"
done

# The image's own block devices: its partitions, or the whole disk when it has no partition table. An
# array's mapping has no partitions (a partition table inside an array is not read): it is partition 0.
parts=()
if [[ -z "$ARRAY_DEVICE" ]]; then
  for sys in /sys/block/"${DEVICE#/dev/}"/"${DEVICE#/dev/}"p*; do
    if [[ -e "$sys" ]]; then parts+=("/dev/${sys##*/}"); fi
  done
fi
((${#parts[@]} > 0)) || parts=("$DEVICE")
blockdev --setro "${parts[@]}"

# Nothing half-made is left behind: if this hook fails, what it created goes again, newest first (what
# an earlier run made stays, for its delete hook).
made=()
undo_made() {
  local status=$? i
  ((status != 0)) || return 0
  for ((i = ${#made[@]} - 1; i >= 0; i--)); do
    dmsetup remove --retry -- "${made[i]}" >/dev/null 2>&1 ||
      echo "volume-systems: could not remove /dev/mapper/${made[i]} after the failure" >&2
  done
  ((${#made[@]} == 0)) || echo "volume-systems: removed the ${#made[@]} mapping(s) this run had made" >&2
}
trap undo_made EXIT

volumes=() # where (partition number or vg/lv), layer, device, over, size in bytes, detail: six per volume
skipped=() # where, layer, reason: three per volume left closed
lvm_over=() # devices to look for LVM physical volumes on

# The value of "<field>: <value>" in a tool's report (cryptsetup status, luksDump).
field_of() { # <field> < report
  local name value
  while read -r name value; do
    if [[ "$name" == "$1:" ]]; then
      printf '%s' "${value%% *}"
      return 0
    fi
  done
}

# The dm name for a location: <prefix><layer>-<vg>-<lv> (LVM's own escaping: '-' in a name doubles).
mapper_name() { # <layer> <partition number or vg/lv>
  local where=$2
  if [[ "$where" == */* ]]; then
    local vg=${where%%/*} lv=${where#*/}
    where="${vg//-/--}-${lv//-/--}"
  else
    where="p$where"
  fi
  local name="${VOLUME_PREFIX}$1-$where"
  # dm names are at most 127 bytes; long LVM names fall back to a digest of the location.
  if ((${#name} > 127)); then name="${VOLUME_PREFIX}$1-$(printf '%s' "$2" | sha256sum | cut -c1-32)"; fi
  printf '%s' "$name"
}

# An encrypted volume read-only with the key for <where>: <layer> luks (LUKS1/LUKS2) or bitlocker
# (cryptsetup's own BitLocker support, `--type bitlk`: passphrase or recovery password; it never writes
# BitLocker metadata); records the volume or fails with the reason.
crypt_open() { # <layer> <where> <device> <index of the key>
  local layer=$1 where=$2 device=$3 key=${keys[$4]} mapper what backing version cipher detail type name wrong_key
  mapper=$(mapper_name "$layer" "$where")
  if [[ "$layer" == luks ]]; then type=luks name=LUKS wrong_key=2; else type=bitlk name=BitLocker wrong_key=1; fi
  if [[ "$where" == */* ]]; then what="$name on logical volume $where"; else what="$name on partition $where"; fi
  blockdev --setro "$device"
  if [[ "$layer" == luks ]]; then
    cryptsetup isLuks -- "$device" 2>/dev/null ||
      fail "$what: $device holds no LUKS header (blkid: $(blkid -p -o value -s TYPE "$device" 2>/dev/null || echo none)); a key was given for it"
  else
    [[ "$(blkid -p -o value -s TYPE "$device" 2>/dev/null || true)" == BitLocker ]] ||
      fail "$what: $device holds no BitLocker volume (blkid: $(blkid -p -o value -s TYPE "$device" 2>/dev/null || echo none)); a key was given for it"
  fi
  if cryptsetup status -- "$mapper" >/dev/null 2>&1; then
    backing=$(cryptsetup status -- "$mapper" | field_of device)
    [[ "$(readlink -f -- "$backing")" == "$(readlink -f -- "$device")" ]] ||
      fail "$what: mapping $mapper is already open on $backing, not on $device"
    # Open already, but the key given now must still open it: a changed key fails here, not at the next
    # fresh open. --test-passphrase maps nothing and writes nothing.
    local tested=0
    printf '%s' "$key" | base64 -d | timeout 600 cryptsetup open --test-passphrase --readonly --disable-external-tokens \
      --type "$type" --key-file=- -- "$device" >/dev/null 2>&1 || tested=$?
    ((tested == 0)) || fail "$what: it is open, but the key given now does not open it (cryptsetup status $tested); nothing was changed"
    echo "volume-systems: $what is already open as /dev/mapper/$mapper; the key still opens it" >&2
  else
    # --disable-external-tokens: a header's token must never make cryptsetup load a plugin; a timeout:
    # a hostile header may ask for billions of PBKDF2 iterations.
    local refusal status=0
    refusal=$(printf '%s' "$key" | base64 -d | timeout 600 cryptsetup open --readonly --disable-external-tokens \
      --type "$type" --key-file=- -- "$device" "$mapper" 2>&1) || status=$?
    # A wrong key: status 2 for LUKS; for BitLocker cryptsetup 2.6 says nothing and returns 1.
    if ((status == wrong_key)); then
      fail "$what: the key does not open it (cryptsetup status $status${refusal:+: ${refusal//$'\n'/ }}); nothing was changed"
    fi
    case $status in
      0) ;;
      124) fail "$what: cryptsetup did not finish in 600 s (a key derivation that costly is hostile); nothing was changed" ;;
      *) fail "$what: cryptsetup open --readonly failed (status $status): ${refusal//$'\n'/ }" ;;
    esac
    made+=("$mapper")
    echo "volume-systems: opened $what read-only as /dev/mapper/$mapper" >&2
  fi
  mapped_read_only "$mapper"
  cipher=$(cryptsetup status -- "$mapper" | field_of cipher)
  if [[ "$layer" == luks ]]; then
    version=$(cryptsetup luksDump -- "$device" 2>/dev/null | field_of Version)
    detail="LUKS${version:-?} ${cipher:-?}"
  else
    version=$(cryptsetup bitlkDump -- "$device" 2>/dev/null | field_of Version)
    detail="BitLocker version ${version:-?} ${cipher:-?}"
  fi
  volumes+=("$where" "$layer" "/dev/mapper/$mapper" "$device" "$(size_of "/dev/mapper/$mapper")" "$detail")
}

# A thin pool for the thin volumes above it. dm-thin refuses a read-only table ("target type may not be
# included in a read-only table": a pool is always writable as a device), so the pool is opened with its
# own `read_only` feature, over data and metadata mappings that are read-only tables on the read-only
# image: it can write nowhere, and the kernel says so ("switching pool to read-only mode"), which
# thin_pool_read_only checks. The table is given on the command line in its one fixed shape, so the policy
# pack can see that this create without --readonly opens a read-only pool and nothing else.
create_thin_pool() { # <vg/lv> <dm name> <table>
  local start size target meta data chunk low count feature rest
  read -r start size target meta data chunk low count feature rest <<<"$3"
  # One test per line: the policy pack's shell reader ends a [[ ]] at a newline.
  local expected="0 thin-pool 0 1 read_only" prefix="/dev/mapper/${VOLUME_PREFIX}lvm-"
  [[ "$start $target $low $count $feature" == "$expected" && -z "$rest" ]] || fail "logical volume $1: unexpected thin pool table '$3'"
  [[ "$size" =~ ^[0-9]+$ && "$chunk" =~ ^[0-9]+$ ]] || fail "logical volume $1: unexpected thin pool table '$3'"
  [[ "$meta" == "$prefix"* && "$data" == "$prefix"* ]] || fail "logical volume $1: unexpected thin pool table '$3'"
  dmsetup create --table "0 $size thin-pool $meta $data $chunk 0 1 read_only" -- "$2" ||
    fail "logical volume $1: dmsetup create of the read_only thin pool $2 failed"
  made+=("$2")
  echo "volume-systems: opened thin pool $1 read_only as /dev/mapper/$2" >&2
}

# A thin pool in read-only mode: the "ro" word of its `dmsetup status` (rw, ro or out_of_data_space).
thin_pool_read_only() { # <vg/lv> <dm name>
  local words
  read -ra words < <(dmsetup status -- "$2")
  has_word ro "${words[@]}" || fail "logical volume $1: thin pool /dev/mapper/$2 is not in read-only mode (status: ${words[*]})"
}

# md RAID1 member <device> at partition <where>: its data area, read from the member's own 0.90 or 1.x
# superblock, mapped read-only (`dmsetup create --readonly`, linear). md itself never assembles anything:
# an assembly may resync or write superblocks (event counts, clean flags), and two images holding
# members of one array would meet in one md device. A mirror member alone holds all the data, so
# each opens alone, degraded arrays included. Other levels need their other members (other images) and
# are reported, as are spares, faulty members and a reshape under way.
md_open() { # <where> <device>
  local where=$1 device=$2 mapper table what
  what="md member at partition $where"
  if ! md_superblock "$device" "$what"; then
    skipped+=("$where" md "$MD_PROBLEM; not opened")
    echo "volume-systems: $what: metadata ${MD_VERSION:-?}; not opened" >&2
    return 0
  fi
  if ((MD_LEVEL != 1)); then
    skipped+=("$where" md "md level $MD_LEVEL (an array of $MD_RAID_DISKS devices) needs its other members; only RAID1 members are opened, each alone (name the members of other arrays in raidArrays)")
    echo "volume-systems: $what: RAID level $MD_LEVEL; not opened" >&2
    return 0
  fi
  if ((MD_FEATURES & 4)); then
    skipped+=("$where" md "a reshape of this md array was under way; its data layout is in flux; not opened")
    return 0
  fi
  if ((MD_ROLE >= 0xfffe)); then
    skipped+=("$where" md "this md member is a spare or marked faulty: it holds no current data; not opened")
    echo "volume-systems: $what: spare or faulty; not opened" >&2
    return 0
  fi
  ((MD_SIZE > 0)) || fail "$what: its superblock gives the array no size"
  mapper=$(mapper_name md "$where")
  table="0 $MD_SIZE linear $device $MD_DATA_OFFSET"
  if dmsetup info -- "$mapper" >/dev/null 2>&1; then
    [[ "$(dmsetup table -- "$mapper")" == "$(as_dm_table <<<"$table")" ]] ||
      fail "$what: mapping $mapper exists with another table (another image's?)"
    echo "volume-systems: $what is already mapped as /dev/mapper/$mapper" >&2
  else
    printf '%s\n' "$table" | dmsetup create --readonly -- "$mapper" || fail "$what: dmsetup create --readonly $mapper failed"
    made+=("$mapper")
    echo "volume-systems: mapped the RAID1 data of $what read-only as /dev/mapper/$mapper" >&2
  fi
  mapped_read_only "$mapper"
  volumes+=("$where" md "/dev/mapper/$mapper" "$device" "$(size_of "/dev/mapper/$mapper")" "RAID1 member, md $MD_VERSION, device $MD_ROLE of $MD_RAID_DISKS")
}

# The device a partition's contents are read from: its md RAID1 data when step 0 opened one, else itself.
partition_device() { # <partition number>
  local v
  for ((v = 0; v < ${#volumes[@]}; v += 6)); do
    if [[ "${volumes[v]}" == "$1" && "${volumes[v + 1]}" == md ]]; then
      printf '%s' "${volumes[v + 2]}"
      return 0
    fi
  done
  if (($1 == 0)); then printf '%s' "$DEVICE"; else printf '%s' "${DEVICE}p$1"; fi
}

# 0. md RAID1 members on partitions (or the whole disk).
for device in "${parts[@]}"; do
  if [[ "$(blkid -p -o value -s TYPE "$device" 2>/dev/null || true)" == linux_raid_member ]]; then
    if [[ "$device" == "$DEVICE" ]]; then md_open 0 "$device"; else md_open "${device##*p}" "$device"; fi
  fi
done

# An encrypted volume a key names by partition number: that partition (or the RAID1 data step 0 opened
# there), which must exist; partition 0 only on a disk without a partition table.
open_at_partition() { # <layer> <where> <index of the key>
  local name=LUKS device
  if [[ "$1" == bitlocker ]]; then name=BitLocker; fi
  if (($2 == 0)) && [[ "${parts[0]}" != "$DEVICE" ]]; then
    fail "$name at partition 0 (the whole disk): $DEVICE has a partition table; name a partition from 1"
  fi
  device=$(partition_device "$2")
  [[ -b "$device" ]] || fail "$name at partition $2: $DEVICE has no partition $2"
  crypt_open "$1" "$2" "$device" "$3"
}

# 1. LUKS and BitLocker straight on partitions (LUKS on a logical volume waits for step 3).
for i in "${!LUKS_AT[@]}"; do
  if [[ "${LUKS_AT[$i]}" != */* ]]; then open_at_partition luks "${LUKS_AT[$i]}" "$i"; fi
done
for i in "${!BITLOCKER_AT[@]}"; do open_at_partition bitlocker "${BITLOCKER_AT[$i]}" "$((${#LUKS_AT[@]} + i))"; done

# 2. LVM2 on partitions and on opened LUKS volumes.
for device in "${parts[@]}" $(for ((v = 0; v < ${#volumes[@]}; v += 6)); do echo "${volumes[v + 2]}"; done); do
  if [[ "$(blkid -p -o value -s TYPE "$device" 2>/dev/null || true)" == LVM2_member ]]; then lvm_over+=("$device"); fi
done
if ((${#lvm_over[@]} > 0)); then
  # metadata_read_only: even a command that would repair metadata only pretends to. No backups, no
  # archive, no devices file, no udev: nothing of the guest's own LVM state changes either.
  lvm_config='global { metadata_read_only = 1 } backup { backup = 0 archive = 0 }
    devices { use_devicesfile = 0 obtain_device_list_from_udev = 0 scan_lvs = 0 }'
  devices_list=$(IFS=,; echo "${lvm_over[*]}")
  lvm_report() { lvm "$@" --readonly --devices "$devices_list" --config "$lvm_config" --reportformat json --units s --nosuffix 2>/dev/null; }
  pv_report=$(lvm_report pvs -o pv_name,pe_start,vg_name) || fail "lvm pvs --readonly could not read the physical volumes on ${lvm_over[*]}"
  # -a: a thin pool's hidden data and metadata volumes too.
  seg_report=$(lvm_report lvs -a --segments -o vg_name,lv_name,lv_attr,segtype,stripes,stripe_size,seg_start,seg_size,seg_pe_ranges,vg_extent_size,pool_lv,thin_id,chunk_size,data_lv,metadata_lv) ||
    fail "lvm lvs --readonly could not read the volume groups on ${lvm_over[*]}"
  # One line per logical volume: vg, lv, the dm table (lines joined by ';') or "!" and the reason, its role.
  plans=$(jq -nr --argjson pvs "$pv_report" --argjson segs "$seg_report" "$LV_PLANS") ||
    fail "the LVM report on ${lvm_over[*]} could not be turned into mappings"
  while IFS=$'\t' read -r vg lv plan role; do
    [[ -n "$vg$lv" ]] || continue
    if [[ ! "$vg" =~ $LVM_NAME || ! "$lv" =~ $LVM_NAME || "$vg" == . || "$vg" == .. || "$lv" == . || "$lv" == .. ]]; then
      printf -v shown '%q/%q' "$vg" "$lv"
      skipped+=("-" lvm "the volume group or logical volume name $shown is not a name LVM allows; not opened")
      echo "volume-systems: LVM name $shown refused" >&2
      continue
    fi
    # @vg/lv@: a mapping made above (a thin volume's pool, a pool's data and metadata), by its name here.
    while [[ "$plan" =~ @([^@/]+)/([^@/]+)@ ]]; do
      ref_vg=${BASH_REMATCH[1]} ref_lv=${BASH_REMATCH[2]} ref="${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"
      if [[ ! "$ref_vg" =~ $LVM_NAME || ! "$ref_lv" =~ $LVM_NAME || ! -b "/dev/mapper/$(mapper_name lvm "$ref")" ]]; then
        plan="!it stands on $ref, which is not opened"
        break
      fi
      plan=${plan//"@$ref@"/"/dev/mapper/$(mapper_name lvm "$ref")"}
    done
    if [[ "$plan" == '!'* ]]; then
      skipped+=("$vg/$lv" lvm "${plan#!}")
      echo "volume-systems: logical volume $vg/$lv: ${plan#!}; not opened" >&2
      continue
    fi
    mapper=$(mapper_name lvm "$vg/$lv")
    table=${plan//;/$'\n'}
    if dmsetup info -- "$mapper" >/dev/null 2>&1; then
      [[ "$(dm_table_of "$mapper")" == "$(as_dm_table <<<"$table")" ]] ||
        fail "logical volume $vg/$lv: mapping $mapper exists with another table (another image's?)"
      echo "volume-systems: logical volume $vg/$lv is already mapped as /dev/mapper/$mapper" >&2
    elif [[ "$table" == *" thin-pool "* ]]; then
      create_thin_pool "$vg/$lv" "$mapper" "$table"
    else
      printf '%s\n' "$table" | dmsetup create --readonly -- "$mapper" ||
        fail "logical volume $vg/$lv: dmsetup create --readonly $mapper failed"
      made+=("$mapper")
      echo "volume-systems: mapped logical volume $vg/$lv read-only as /dev/mapper/$mapper" >&2
    fi
    if [[ "$table" == *" thin-pool "* ]]; then thin_pool_read_only "$vg/$lv" "$mapper"; else mapped_read_only "$mapper"; fi
    [[ "$role" == volume ]] || continue
    # What it reads from and its segment types, from the table's own words.
    over=() segtypes=()
    while read -ra words; do
      has_word "${words[2]}" "${segtypes[@]}" || segtypes+=("${words[2]}")
      for word in "${words[@]:3}"; do
        if [[ "$word" == /dev/* ]] && ! has_word "$word" "${over[@]}"; then over+=("$word"); fi
      done
    done <<<"$table"
    volumes+=("$vg/$lv" lvm "/dev/mapper/$mapper" "$(IFS=,; echo "${over[*]}")" "$(size_of "/dev/mapper/$mapper")" "$(IFS=,; echo "${segtypes[*]}")")
  done <<<"$plans"
fi

# 3. LUKS on logical volumes.
for i in "${!LUKS_AT[@]}"; do
  where=${LUKS_AT[$i]}
  [[ "$where" == */* ]] || continue
  device=""
  for ((v = 0; v < ${#volumes[@]}; v += 6)); do
    if [[ "${volumes[v]}" == "$where" && "${volumes[v + 1]}" == lvm ]]; then device=${volumes[v + 2]}; fi
  done
  [[ -n "$device" ]] || fail "LUKS at $where: $DEVICE has no logical volume $where that could be opened"
  crypt_open luks "$where" "$device" "$i"
done

# One value per line (none when nothing was found: printf would print one empty line), one jq for the JSON.
if ((${#volumes[@]} + ${#skipped[@]} > 0)); then printf '%s\n' "${volumes[@]}" "${skipped[@]}"; fi | jq -Rnc --argjson n "${#volumes[@]}" '
  def at: if test("^[0-9]+$") then {partition: tonumber} elif . == "-" then {} else {logicalVolume: .} end;
  [inputs] as $a | {
    volumes: [$a[:$n] as $v | range(0; $v | length; 6) as $i | $v[$i:$i + 6] | (.[0] | at) + {
      layer: .[1], device: .[2], over: (.[3] | split(",")), sizeBytes: (.[4] | tonumber), detail: .[5]}],
    skipped: [$a[$n:] as $s | range(0; $s | length; 3) as $i | $s[$i:$i + 3] | (.[0] | at) + {layer: .[1], reason: .[2]}]
  }' | sed 's/^/FORENSIC_LAB_RESULT /'
