#!/usr/bin/env bash
# PartitionMount create, in the guest: mounts one partition (or all) of an attached nbd device read-only,
# with the option that keeps each filesystem from replaying its journal or log (a replay writes), and
# no device files, setuid or execution.
# Values: NBD_DEVICE or ARRAY_DEVICE (a RaidArray's /dev/mapper/fl-array-<name>, whose contents are
# partition 0; the other one empty), PARTITION ("all", a number, or vg/lv: a logical volume), MOUNT_POINT (one) or
# MOUNT_ROOT (all: <root>/p<N>, <root>/lvm/<vg>/<lv>), EXTRA_OPTIONS (array, validated by the
# component), EXAMINER_UID, EXAMINER_GID, and what VolumeSystems opened on this device, as three arrays
# of the same length: VOLUME_AT (a partition number or vg/lv), VOLUME_LAYER (md, luks, bitlocker, lvm), VOLUME_DEVICE.
# A partition or logical volume with an opened LUKS or BitLocker layer is mounted through it (its filesystem is inside);
# a partition holding a RAID1 member, through the member's data.
# Partition 0 is the whole disk: a filesystem written straight onto it, without a partition table
# ("all" on a disk without partitions means partition 0).
# Idempotent: a partition already mounted at its mount point is reported, never mounted a second time
# (a second ext4 mount to ANOTHER target would succeed, so `findmnt --source` is checked first).
# Under software emulation every process costs a few hundred ms: state is read with bash builtins.
set -euo pipefail

# shellcheck disable=SC2034 # read by fail() (lib/hooks/common.sh)
readonly FAILS_AS="partition-mount"
# forensic-lab:include lib/hooks/common.sh
# forensic-lab:include lib/hooks/json.sh
# forensic-lab:include lib/hooks/evidence-device.sh

evidence_device
evidence_device_present
readonly DEVICE VOLUME_PREFIX
# The nbd device's kernel name, for its partitions in sysfs; an array's mapping has none (partition 0).
readonly NAME=${NBD_DEVICE#/dev/}
[[ "$EXAMINER_UID" =~ ^[0-9]+$ && "$EXAMINER_GID" =~ ^[0-9]+$ ]] || fail "examinerUid/examinerGid must be numbers"

# What VolumeSystems opened: the device to mount for a location, its top layer (LUKS over the rest).
readonly LVM_NAME='[A-Za-z0-9+_.][A-Za-z0-9+_.-]*'
((${#VOLUME_AT[@]} == ${#VOLUME_LAYER[@]} && ${#VOLUME_AT[@]} == ${#VOLUME_DEVICE[@]})) ||
  fail "VOLUME_AT, VOLUME_LAYER and VOLUME_DEVICE must have the same length"
logical_volumes=()
for i in "${!VOLUME_AT[@]}"; do
  [[ "${VOLUME_DEVICE[$i]}" =~ ^/dev/mapper/${VOLUME_PREFIX}[A-Za-z0-9+_.-]+$ ]] ||
    fail "volume device '${VOLUME_DEVICE[$i]}' is not a mapping VolumeSystems made on $DEVICE"
  case "${VOLUME_LAYER[$i]}" in
    luks | bitlocker | md) ;;
    lvm)
      [[ "${VOLUME_AT[$i]}" =~ ^$LVM_NAME/$LVM_NAME$ ]] || fail "volume '${VOLUME_AT[$i]}' is not vg/lv"
      logical_volumes+=("${VOLUME_AT[$i]}")
      ;;
    *) fail "volume layer '${VOLUME_LAYER[$i]}' is none of md, luks, bitlocker, lvm" ;;
  esac
done

# The top layer VolumeSystems opened at a location (LUKS or BitLocker over the LV, partition or RAID1
# data), or nothing.
top_of() { # <partition number or vg/lv>
  local i found=""
  for i in "${!VOLUME_AT[@]}"; do
    if [[ "${VOLUME_AT[$i]}" == "$1" ]]; then
      if [[ "${VOLUME_LAYER[$i]}" == luks || "${VOLUME_LAYER[$i]}" == bitlocker || -z "$found" ]]; then found=${VOLUME_DEVICE[$i]}; fi
    fi
  done
  printf '%s' "$found"
}

numbers=() # partition numbers and vg/lv names, in mount order
if [[ "$PARTITION" == all ]]; then
  [[ "$MOUNT_ROOT" == /* ]] || fail "mountRoot '$MOUNT_ROOT' must be an absolute path"
  if [[ -z "$ARRAY_DEVICE" ]]; then
    for sys in /sys/block/"$NAME"/"$NAME"p*; do
      if [[ -e "$sys" ]]; then numbers+=("${sys##*p}"); fi
    done
  fi
  if ((${#numbers[@]} == 0)); then
    numbers=(0)
  else
    mapfile -t numbers < <(printf '%s\n' "${numbers[@]}" | sort -n)
  fi
  if ((${#logical_volumes[@]} > 0)); then
    mapfile -t -O "${#numbers[@]}" numbers < <(printf '%s\n' "${logical_volumes[@]}" | sort)
  fi
elif [[ "$PARTITION" == */* ]]; then
  [[ "$PARTITION" =~ ^$LVM_NAME/$LVM_NAME$ ]] || fail "logical volume '$PARTITION' must be vg/lv"
  [[ "$MOUNT_POINT" == /* ]] || fail "mountPoint '$MOUNT_POINT' must be an absolute path"
  has_word "$PARTITION" "${logical_volumes[@]}" ||
    fail "logical volume $PARTITION is not open on $DEVICE (VolumeSystems opened: ${logical_volumes[*]:-no logical volume})"
  numbers=("$PARTITION")
else
  [[ "$PARTITION" =~ ^(0|[1-9][0-9]*)$ ]] || fail "partition '$PARTITION' must be a number from 0 (the whole disk), or \"all\""
  [[ -z "$ARRAY_DEVICE" || "$PARTITION" == 0 ]] || fail "partition '$PARTITION' of $ARRAY_DEVICE: an array's contents are partition 0"
  [[ "$MOUNT_POINT" == /* ]] || fail "mountPoint '$MOUNT_POINT' must be an absolute path"
  numbers=("$PARTITION")
fi

# The device to mount for partition N (0: the whole disk) or logical volume vg/lv: its top layer.
node_of() {
  local top
  top=$(top_of "$1")
  if [[ -n "$top" ]]; then
    echo "$top"
  elif (($1 == 0)); then
    echo "$DEVICE"
  else
    echo "${NBD_DEVICE}p$1"
  fi
}
# How messages name partition N or logical volume vg/lv.
label_of() { if [[ "$1" == */* ]]; then echo "logical volume $1"; else echo "partition $1"; fi; }

nodes=()
for number in "${numbers[@]}"; do
  node=$(node_of "$number")
  if [[ "$number" == */* ]]; then
    nodes+=("$node")
    continue
  fi
  [[ -b "$node" ]] || fail "partition $number: $node does not exist ($DEVICE has no partition $number)"
  if ((number == 0)) && [[ -z "$ARRAY_DEVICE" ]] && compgen -G "/sys/block/$NAME/${NAME}p*" >/dev/null; then
    fail "partition 0 (the whole disk) of $NBD_DEVICE: the disk has a partition table; name a partition from 1"
  fi
  nodes+=("$node")
done
blockdev --setro "${nodes[@]}"

extra=""
for option in "${EXTRA_OPTIONS[@]}"; do extra+=",$option"; done
readonly HARDENING=nodev,nosuid,noexec

# partition, device, mount point, filesystem, vfs type, the options in effect (the kernel's view) and
# those the tool was given: seven values per mount. They differ where it matters to an examiner: ntfs-3g
# maps owners in FUSE, where the kernel shows only user_id=0,group_id=0 (the daemon's), not uid=,gid=,umask=.
results=()
skipped=() # partition, device, reason: three values per partition left alone
for number in "${numbers[@]}"; do
  node=$(node_of "$number")
  what=$(label_of "$number")
  if [[ "$PARTITION" != all ]]; then
    target=$MOUNT_POINT
  elif [[ "$number" == */* ]]; then
    target=$MOUNT_ROOT/lvm/$number
  else
    target=$MOUNT_ROOT/p$number
  fi
  [[ "$(<"/sys/class/block/$(kernel_name "$node")/ro")" == 1 ]] || fail "$what: $node does not stay read-only"

  # -p probes the device itself (no cache); exit status 2 means no signature at all.
  probe_status=0
  probe=$(blkid -p -o export "$node" 2>&1) || probe_status=$?
  ((probe_status == 0 || probe_status == 2)) ||
    fail "$what ($node): blkid cannot tell what it holds (status $probe_status): ${probe//$'\n'/ }"
  fstype="" usage="" details=""
  while IFS= read -r line; do
    case "$line" in
      TYPE=*) fstype=${line#TYPE=} ;;
      USAGE=*) usage=${line#USAGE=} ;;
      SEC_TYPE=* | VERSION=* | PTTYPE=*) details+=" $line" ;;
    esac
  done <<<"$probe"
  said="${fstype:+TYPE=$fstype }${usage:+USAGE=$usage}${details}"
  said=${said% }

  current=""
  while IFS= read -r line; do
    [[ -n "$line" ]] || continue
    printf -v elsewhere '%b' "$line" # findmnt -r writes odd characters as \xNN
    [[ "$elsewhere" == "$target" ]] ||
      fail "$what ($node) is already mounted at '$elsewhere', not at '$target'; unmount it there first"
    current=$elsewhere
  done < <(findmnt -rn -o TARGET --source "$node" 2>/dev/null || true)

  case "$fstype" in
    # ext2 has no journal, and the kernel refuses noload for it.
    ext2) tool=mount options="$HARDENING" ;;
    ext3 | ext4) tool=mount options="noload,$HARDENING" ;;
    xfs) tool=mount options="norecovery,$HARDENING" ;;
    btrfs) tool=mount options="rescue=nologreplay,$HARDENING" ;;
    ntfs) tool=ntfs-3g options="norecover,uid=$EXAMINER_UID,gid=$EXAMINER_GID,umask=0277,$HARDENING" ;;
    vfat | exfat) tool=mount options="uid=$EXAMINER_UID,gid=$EXAMINER_GID,umask=0277,$HARDENING" ;;
    # Optical media: nothing to replay; the examiner owns every file, as on FAT.
    iso9660) tool=mount options="uid=$EXAMINER_UID,gid=$EXAMINER_GID,mode=0400,dmode=0500,$HARDENING" ;;
    udf) tool=mount options="uid=$EXAMINER_UID,gid=$EXAMINER_GID,umask=0277,$HARDENING" ;;
    *)
      if [[ "$PARTITION" == all ]]; then
        # Swap, LUKS, LVM, RAID members, extended-partition containers hold no filesystem; a filesystem
        # without a known journal-safe read-only mount here (HFS+, F2FS, ...) is not guessed at.
        if [[ "$usage" == filesystem ]]; then
          reason="no read-only mount is known for this filesystem in the guest (blkid: $said)"
        else
          reason="blkid: ${said:-no signature}"
        fi
        skipped+=("$number" "$node" "$reason")
        echo "partition-mount: $what ($node): $reason; skipped" >&2
        continue
      fi
      fail "$what ($node): no read-only mount is known for what blkid found: ${said:-no filesystem signature}"
      ;;
  esac

  if [[ -z "$current" ]]; then
    occupant=$(findmnt -rn -o SOURCE --mountpoint "$target" 2>/dev/null || true)
    [[ -z "$occupant" ]] || fail "'$target' already has ${occupant//$'\n'/ and } mounted on it; choose another mount point"
    # The examiner reaches the files through the parent folder and nobody else does. ext4, xfs and btrfs
    # keep their on-disk owners (no uid option), so this folder is what keeps other users out. A
    # top-level parent (/media) stays as it is: it belongs to the system, not to this mount.
    owned=("$target")
    if [[ "$PARTITION" == all && "$number" == */* ]]; then
      owned=("$MOUNT_ROOT" "$MOUNT_ROOT/lvm" "$MOUNT_ROOT/lvm/${number%/*}" "$target")
    elif [[ "${target%/*}" == /*/* ]]; then
      owned=("${target%/*}" "$target")
    fi
    install -d -o "$EXAMINER_UID" -g "$EXAMINER_GID" -m 0500 -- "${owned[@]}"
    mount_status=0
    if [[ "$tool" == ntfs-3g ]]; then
      refusal=$(ntfs-3g -o "ro,${options}${extra}" "$node" "$target" 2>&1) || mount_status=$?
    else
      refusal=$(mount -t "$fstype" -o "ro,${options}${extra}" -- "$node" "$target" 2>&1) || mount_status=$?
    fi
    if ((mount_status != 0)); then
      refusal="$tool -o ro,${options}${extra} failed: ${refusal//$'\n'/ } $(dmesg | tail -n 3 | tr '\n' ' ')"
      if [[ "$PARTITION" == all ]]; then
        # A damaged filesystem, or one the guest's kernel cannot read: reported, and the others mount.
        rmdir "$target" 2>/dev/null || true
        skipped+=("$number" "$node" "$fstype: ${refusal% }")
        echo "partition-mount: $what ($node): $fstype: ${refusal% }; skipped" >&2
        continue
      fi
      fail "$what ($node): ${refusal% }"
    fi
    echo "partition-mount: mounted $node ($fstype) read-only at $target" >&2
  else
    echo "partition-mount: $node is already mounted at $target; nothing changed" >&2
  fi

  # What the kernel actually put in effect, not what was asked for.
  read -r vfs_type effective < <(findmnt -rn -o FSTYPE,OPTIONS --mountpoint "$target" | tail -n 1) ||
    fail "$what ($node): nothing is mounted at '$target' after mounting it"
  if [[ ",$effective," != *,ro,* ]]; then
    umount "$target" || true
    fail "$what ($node) came up with options '$effective', not read-only; unmounted it again"
  fi
  results+=("$number" "$node" "$target" "$fstype" "$vfs_type" "$effective" "ro,${options}${extra}")
done

# The result, quoted by lib/hooks/json.sh: device nodes, mount points and options are plain, so no jq
# starts (about 0.4 s under emulation) unless a refusal quoted something odd from the kernel's log.
# where_json <partition number or vg/lv>: REPLY is `"partition":N` or `"logicalVolume":"vg/lv"`.
where_json() {
  if [[ "$1" == */* ]]; then
    json_string "$1"
    REPLY="\"logicalVolume\":$REPLY"
  else
    REPLY="\"partition\":$1"
  fi
}
mounts=()
for ((i = 0; i < ${#results[@]}; i += 7)); do
  object=""
  for field in device:1 mountPoint:2 filesystem:3 vfsType:4; do
    json_string "${results[i + ${field#*:}]}"
    object+="\"${field%:*}\":$REPLY,"
  done
  IFS=, read -ra option_words <<<"${results[i + 5]}"
  json_strings "${option_words[@]}"
  object+="\"options\":$REPLY,"
  IFS=, read -ra option_words <<<"${results[i + 6]}"
  json_strings "${option_words[@]}"
  object+="\"requestedOptions\":$REPLY,"
  where_json "${results[i]}"
  mounts+=("{$object$REPLY}")
done
left=()
for ((i = 0; i < ${#skipped[@]}; i += 3)); do
  json_string "${skipped[i + 1]}"
  object="\"device\":$REPLY,"
  json_string "${skipped[i + 2]}"
  object+="\"reason\":$REPLY,"
  where_json "${skipped[i]}"
  left+=("{$object$REPLY}")
done
IFS=,
printf 'FORENSIC_LAB_RESULT {"mounts":[%s],"skipped":[%s]}\n' "${mounts[*]}" "${left[*]}"
