#!/usr/bin/env bash
# Makes seeds-like test evidence: a VMware-style split sparse vmdk ("Win7") with two snapshots kept in
# another folder, like the case in the seed articles. Nothing is mounted on the host: filesystems are
# built in their own files (mkntfs, mkfs.ext4 -d, debugfs), copied into a partitioned raw disk, and the
# disk is converted with qemu-img. The one FUSE mount (ntfs-3g has no other way to make a folder) is of a
# scratch partition FILE, inside a private mount namespace when run as root.
#
#   scripts/make-evidence.sh [--size-mib N] <outDir>
#
# Layout (64 MiB virtual by default):
#   <outDir>/base/win7.vmdk (+ win7-s001.vmdk)       twoGbMaxExtentSparse, the original disk
#   <outDir>/snapshots/win7-000001.vmdk (+ -s001)     parentFileNameHint="../base/win7.vmdk" (relative)
#   <outDir>/snapshots/win7-000002.vmdk (+ -s001)     parentFileNameHint="<outDir>/snapshots/win7-000001.vmdk"
#                                                     (absolute: the hint a lab must remap); the top
#   <outDir>/ewf/win7.E01 ... .E05                    the same disk as an EWF set (ewfacquire, uncompressed,
#                                                     16 MiB segments), as an examiner would receive it
#   <outDir>/evidence.json                            what was made: layout, known files, sha256 of every file
# The disk has an MBR with
#   p1 NTFS (type 7, 16 MiB at sector 2048): ufos/ufo.txt "Ufos are not real", sightings added by each snapshot
#   p2 ext4 (type 83): notes/layer.txt names the newest layer, bulk.bin (N MiB of numbered 32-byte lines),
#      journal/canary.txt. Snapshot 2 leaves the journal DIRTY (needs_recovery): it holds a committed
#      transaction, written with debugfs' journal_write, that would rewrite canary.txt from "NOT REPLAYED"
#      to "REPLAYED!!!!". A read-only mount with `noload` shows "NOT REPLAYED"; one that replays the
#      journal (or e2fsck) shows "REPLAYED!!!!".
# Snapshots receive whole, aligned 64 KiB grains only (qemu-io), because QEMU 7.2 copies backing data from
# the wrong offset on partial-grain writes in the 2nd or later extent of a split sparse child.
#
# File contents are deterministic (fixed UUIDs, fake mkfs/mkntfs time); NTFS timestamps and VMDK CIDs are not.
# Idempotent: complete output (evidence.json present, same --size-mib, every file there) is kept as is.
# Each folder is built in a scratch folder and renamed into place; evidence.json is written last, so a
# run that stops half way is never taken for complete (the next run removes its remains and starts over).
# Prints the top file's absolute path; files end read-only (0444).
set -euo pipefail

readonly GENERATOR_VERSION=2
readonly GRAIN=65536
readonly NTFS_START_SECTOR=2048
readonly NTFS_MIB=16
readonly FAKE_TIME=1262304000 # 2010-01-01T00:00:00Z, the seeds' era
readonly DISK_LABEL_ID=0x7e57e71d
readonly EXT4_UUID=6f72656e-7369-4363-8c61-620000000002
readonly EXT4_HASH_SEED=6f72656e-7369-4363-8c61-620000000003

usage() {
  cat <<'USAGE'
usage: scripts/make-evidence.sh [--size-mib N] <outDir>
  Writes seeds-like vmdk evidence (base + two snapshots in another folder) into <outDir> and prints the
  top file's path. --size-mib N: size of bulk.bin in the ext4 partition in MiB (default 4, which gives a
  64 MiB disk; the disk grows to fit, e.g. --size-mib 1024 puts a 1 GiB file in partition 2).
USAGE
}

die() {
  echo "make-evidence: $*" >&2
  exit 1
}

say() { echo "make-evidence: $*" >&2; }

bulk_mib=4
out_arg=""
while (($# > 0)); do
  case "$1" in
    --size-mib) (($# >= 2)) || die "--size-mib needs a value"; bulk_mib=$2; shift 2 ;;
    --size-mib=*) bulk_mib=${1#--size-mib=}; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; (($# == 1)) || { usage >&2; exit 2; }; out_arg=$1; shift ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *) [[ -z "$out_arg" ]] || { usage >&2; die "one outDir only (got '$out_arg' and '$1')"; }; out_arg=$1; shift ;;
  esac
done
[[ -n "$out_arg" ]] || { usage >&2; exit 2; }
if ! [[ "$bulk_mib" =~ ^[1-9][0-9]{0,4}$ ]] || ((bulk_mib > 16384)); then die "--size-mib: '$bulk_mib' is not a whole number of MiB from 1 to 16384"; fi
# A VMDK descriptor quotes the parent hint with double quotes and cannot escape one inside it.
[[ "$out_arg" != *'"'* ]] || die "outDir '$out_arg': a double quote cannot be written into a VMDK parentFileNameHint; choose another folder"
[[ "$out_arg" != *$'\n'* ]] || die "outDir: a newline cannot be written into a VMDK descriptor; choose another folder"

for tool in sfdisk mkntfs ntfs-3g mkfs.ext4 debugfs dumpe2fs qemu-img qemu-io jq sha256sum cmp flock mountpoint; do
  command -v "$tool" >/dev/null || die "'$tool' is missing; run scripts/install-host-deps.sh"
done

# As root, everything below runs in a private mount namespace: the scratch NTFS mount is invisible to the
# host and cannot outlive us. (Without root, ntfs-3g mounts through its setuid FUSE helper instead.)
if ((EUID == 0)) && [[ "${FORENSIC_LAB_EVIDENCE_NS:-}" != "$$-private" ]]; then
  FORENSIC_LAB_EVIDENCE_NS="$$-private" exec unshare --mount --propagation private -- \
    env FORENSIC_LAB_EVIDENCE_NS="$$-private" "$BASH" "$0" --size-mib "$bulk_mib" -- "$out_arg"
fi
# `exec` keeps our pid, so the marker above matches in the re-executed script and it does not loop.

mkdir -p -- "$out_arg"
out=$(cd -- "$out_arg" && pwd -P)
readonly out bulk_mib
readonly top="$out/snapshots/win7-000002.vmdk"
readonly manifest="$out/evidence.json"

# One generator per folder at a time: lock the folder itself (no lock file left behind).
exec 8<"$out"
flock -w 600 8 || die "$out: another make-evidence run holds it for more than 10 minutes"

if [[ -f "$manifest" ]]; then
  made_mib=$(jq -r '.sizeMib' "$manifest" 2>/dev/null) || die "$manifest: not valid JSON; remove the folder's contents and run again"
  [[ "$made_mib" == "$bulk_mib" ]] ||
    die "$out already holds evidence made with --size-mib $made_mib (asked for $bulk_mib); remove it or choose another folder"
  complete=true
  [[ "$(jq -r '.version' "$manifest")" == "$GENERATOR_VERSION" ]] || complete=false
  while IFS=$'\t' read -r path size; do
    [[ -f "$out/$path" && "$(stat -c %s -- "$out/$path")" == "$size" ]] || { complete=false; break; }
  done < <(jq -r '(.files + (.ewf.segments // []))[] | [.path, (.size | tostring)] | @tsv' "$manifest")
  if [[ "$complete" == true ]]; then
    say "complete evidence already in $out; kept as is"
    echo "$top"
    exit 0
  fi
  say "$manifest lists files that are missing or changed; making the evidence again"
  chmod u+w -- "$manifest" && rm -f -- "$manifest"
fi

# Remains of an interrupted run: only our own file names are removed; anything else is left alone.
for dir in base snapshots ewf; do
  [[ -e "$out/$dir" ]] || continue
  [[ -d "$out/$dir" ]] || die "$out/$dir exists and is not a folder; refusing to touch it"
  while IFS= read -r -d '' entry; do
    [[ "$(basename -- "$entry")" =~ ^win7((-00000[12])?(-s[0-9]{3})?\.vmdk|\.E[0-9]{2})$ ]] ||
      die "$out/$dir holds '$(basename -- "$entry")', which make-evidence did not write; refusing to touch it"
  done < <(find "$out/$dir" -mindepth 1 -maxdepth 1 -print0)
  say "removing the remains of an interrupted run in $out/$dir"
  find "$out/$dir" -mindepth 1 -maxdepth 1 \( -name 'win7*.vmdk' -o -name 'win7.E[0-9][0-9]' \) -delete
  rmdir -- "$out/$dir"
done
find "$out" -mindepth 1 -maxdepth 1 -name '.make-evidence.*' -exec rm -rf -- {} +

scratch=$(mktemp -d "$out/.make-evidence.XXXXXX")
ntfs_mount_point=""
ntfs_daemon=""
cleanup() {
  if [[ -n "$ntfs_mount_point" ]]; then
    umount -- "$ntfs_mount_point" 2>/dev/null || fusermount -u -z -- "$ntfs_mount_point" 2>/dev/null || true
  fi
  if [[ -n "$ntfs_daemon" ]]; then kill "$ntfs_daemon" 2>/dev/null || true; fi
  rm -rf -- "$scratch"
}
trap cleanup EXIT
# Every tool below sees only relative names: debugfs and qemu-io split their command strings on spaces,
# and the output folder may contain spaces, quotes or `$(...)`.
cd -- "$scratch"
export E2FSPROGS_FAKE_TIME=$FAKE_TIME

# --- geometry -----------------------------------------------------------------------------------------
# ext4 needs room beyond bulk.bin: the journal (4-32 MiB at these sizes), inode tables (1/64), metadata.
ext4_mib=$((bulk_mib + (bulk_mib + 15) / 16 + 42))
disk_mib=$((1 + NTFS_MIB + ext4_mib))
readonly ext4_mib disk_mib
readonly ntfs_start_byte=$((NTFS_START_SECTOR * 512))
readonly ext4_start_sector=$((NTFS_START_SECTOR + NTFS_MIB * 2048))
readonly ext4_start_byte=$((ext4_start_sector * 512))

# --- partition contents, base layer ---------------------------------------------------------------------
say "building the filesystems (ext4 with a ${bulk_mib} MiB bulk.bin, NTFS) in $out"
mkdir -p ext4-root/notes ext4-root/journal
printf 'base\n' >ext4-root/notes/layer.txt
printf 'NOT REPLAYED\n' >ext4-root/journal/canary.txt
# Numbered 32-byte lines: every offset is recognisable, so a misread block shows up in a diff.
seq -f 'forensic-lab bulk %013.0f' 0 $((bulk_mib * 1024 * 1024 / 32 - 1)) >ext4-root/bulk.bin
find ext4-root -exec touch -h -d "@$FAKE_TIME" {} +
truncate -s "${ext4_mib}M" p2.ext4
mkfs.ext4 -q -F -b 4096 -m 0 -L DATA -U "$EXT4_UUID" -E "hash_seed=$EXT4_HASH_SEED,root_owner=0:0" -d ext4-root p2.ext4

truncate -s "${NTFS_MIB}M" p1.ntfs
# -T fakes the clock, which also seeds mkntfs' serial number and GUIDs: the empty volume is reproducible.
mkntfs -F -Q -T -q -s 512 -p "$NTFS_START_SECTOR" -H 255 -S 63 -L WIN7 p1.ntfs 2>/dev/null

# ntfsprogs cannot make a folder, so folders and files go in through ntfs-3g on the partition file.
# no_detach keeps ntfs-3g our child: after umount we wait for it, so every write has reached the file.
with_ntfs_mounted() { # <partition file> <function to run with the mount point>
  mkdir -p ntfs-mnt
  ntfs-3g -o rw,no_detach "$1" ntfs-mnt >ntfs-3g.log 2>&1 &
  ntfs_daemon=$!
  ntfs_mount_point=$PWD/ntfs-mnt
  local tries
  for ((tries = 0; tries < 100; tries++)); do
    mountpoint -q ntfs-mnt && break
    kill -0 "$ntfs_daemon" 2>/dev/null || die "ntfs-3g could not mount $1: $(tail -n 3 ntfs-3g.log)"
    sleep 0.1
  done
  mountpoint -q ntfs-mnt || die "ntfs-3g did not mount $1 within 10 s: $(tail -n 3 ntfs-3g.log)"
  "$2" ntfs-mnt
  if ((EUID == 0)); then umount ntfs-mnt; else fusermount -u ntfs-mnt; fi
  ntfs_mount_point=""
  wait "$ntfs_daemon" || die "ntfs-3g exited with an error while writing $1: $(tail -n 3 ntfs-3g.log)"
  ntfs_daemon=""
}

ntfs_base() {
  mkdir "$1/ufos"
  printf 'Ufos are not real\n' >"$1/ufos/ufo.txt"
}
ntfs_snapshot_1() { printf 'seen in snapshot 1\n' >"$1/ufos/sighting-1.txt"; }
ntfs_snapshot_2() { printf 'seen in snapshot 2\n' >"$1/ufos/sighting-2.txt"; }

with_ntfs_mounted p1.ntfs ntfs_base

# debugfs exits 0 even when a command fails: every edit is read back.
ext4_set_layer() { # <layer name>
  printf '%s\n' "$1" >layer.txt
  debugfs -w -f - p2.ext4 >/dev/null 2>debugfs.log <<'DEBUGFS'
cd notes
rm layer.txt
write layer.txt layer.txt
DEBUGFS
  [[ "$(debugfs -R 'cat notes/layer.txt' p2.ext4 2>/dev/null)" == "$1" ]] ||
    die "internal: debugfs could not rewrite notes/layer.txt: $(tail -n 3 debugfs.log)"
}

# --- the raw disk and the base vmdk ---------------------------------------------------------------------
truncate -s "${disk_mib}M" disk.raw
sfdisk --quiet --no-reread --no-tell-kernel disk.raw <<SFDISK
label: dos
label-id: $DISK_LABEL_ID
unit: sectors

start=$NTFS_START_SECTOR, size=$((NTFS_MIB * 2048)), type=7
start=$ext4_start_sector, size=$((ext4_mib * 2048)), type=83
SFDISK
dd if=p1.ntfs of=disk.raw bs=1M seek=1 conv=notrunc,sparse status=none
dd if=p2.ext4 of=disk.raw bs=1M seek=$((ext4_start_byte / 1048576)) conv=notrunc,sparse status=none

mkdir base snapshots top
qemu-img convert -q -f raw -O vmdk -o subformat=twoGbMaxExtentSparse disk.raw base/win7.vmdk

# --- snapshots --------------------------------------------------------------------------------------------
# Writes into a snapshot every 64 KiB grain of a partition that differs between two of its versions.
write_changed_grains() { # <snapshot vmdk> <old partition file> <new partition file> <partition start byte>
  local image=$1 old=$2 new=$3 start=$4 grain grains commands=()
  # cmp -l prints the 1-based offset of every differing byte, in order; its exit status 1 means "differ".
  grains=$(
    set +o pipefail
    cmp -l -- "$old" "$new" | awk -v g="$GRAIN" -v last=-1 '{ n = int(($1 - 1) / g); if (n != last) print n; last = n }'
    status=("${PIPESTATUS[@]}")
    ((status[0] <= 1 && status[1] == 0))
  ) || die "comparing $old with $new failed"
  [[ -n "$grains" ]] || die "internal: $new does not differ from $old"
  for grain in $grains; do
    dd if="$new" of="grain-$grain" bs="$GRAIN" skip="$grain" count=1 status=none
    commands+=(-c "write -q -s grain-$grain $((start + grain * GRAIN)) $GRAIN")
  done
  qemu-io -f vmdk "${commands[@]}" "$image"
  rm -f grain-*
}

say "snapshot 1 (relative parent hint)"
cp --sparse=always p1.ntfs p1.ntfs.before && cp --sparse=always p2.ext4 p2.ext4.before
with_ntfs_mounted p1.ntfs ntfs_snapshot_1
ext4_set_layer "snapshot 1"
(cd snapshots && qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse -b ../base/win7.vmdk -F vmdk win7-000001.vmdk)
write_changed_grains snapshots/win7-000001.vmdk p1.ntfs.before p1.ntfs "$ntfs_start_byte"
write_changed_grains snapshots/win7-000001.vmdk p2.ext4.before p2.ext4 "$ext4_start_byte"

# The base and snapshot 1 are complete: put them in place, so snapshot 2 can name its parent by the
# absolute path it will have for good.
chmod 0444 base/* snapshots/*
mv -T base "$out/base"
mv -T snapshots "$out/snapshots"

say "snapshot 2 (absolute parent hint, dirty ext4 journal)"
cp --sparse=always p1.ntfs p1.ntfs.before && cp --sparse=always p2.ext4 p2.ext4.before
with_ntfs_mounted p1.ntfs ntfs_snapshot_2
ext4_set_layer "snapshot 2"
canary_block=$(debugfs -R "bmap journal/canary.txt 0" p2.ext4 2>/dev/null)
[[ "$canary_block" =~ ^[0-9]+$ ]] || die "internal: no data block for journal/canary.txt (debugfs said '$canary_block')"
{ printf 'REPLAYED!!!!\n'; head -c $((4096 - 13)) /dev/zero; } >canary.replay
# jo/jw/jc: open the journal, commit one transaction holding the canary's block, close it without
# checkpointing. The superblock keeps needs_recovery: mounting without `noload` would replay it.
debugfs -w -f - p2.ext4 >/dev/null 2>debugfs.log <<DEBUGFS
jo
jw -b $canary_block canary.replay
jc
DEBUGFS
dumpe2fs -h p2.ext4 2>/dev/null | grep -q '^Filesystem features:.*needs_recovery' ||
  die "internal: the ext4 journal of snapshot 2 is not dirty (dumpe2fs shows no needs_recovery)"
[[ "$(debugfs -R 'cat journal/canary.txt' p2.ext4 2>/dev/null)" == "NOT REPLAYED" ]] ||
  die "internal: journal/canary.txt changed on disk; it must change only through journal replay"

(cd top && qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse -b "$out/snapshots/win7-000001.vmdk" -F vmdk win7-000002.vmdk)
write_changed_grains top/win7-000002.vmdk p1.ntfs.before p1.ntfs "$ntfs_start_byte"
write_changed_grains top/win7-000002.vmdk p2.ext4.before p2.ext4 "$ext4_start_byte"

# --- check what a reader of the chain sees, then publish --------------------------------------------------
dd if=p1.ntfs of=disk.raw bs=1M seek=1 conv=notrunc,sparse status=none
dd if=p2.ext4 of=disk.raw bs=1M seek=$((ext4_start_byte / 1048576)) conv=notrunc,sparse status=none
qemu-img compare -q -f raw -F vmdk disk.raw top/win7-000002.vmdk ||
  die "internal: the snapshot chain does not read back as the intended disk"
[[ "$(qemu-img info -f vmdk --backing-chain --output=json top/win7-000002.vmdk | jq length)" == 3 ]] ||
  die "internal: the top does not resolve to a chain of three layers"

chmod 0444 top/*
mv -T top/win7-000002-s001.vmdk "$out/snapshots/win7-000002-s001.vmdk"
mv -T top/win7-000002.vmdk "$out/snapshots/win7-000002.vmdk"

say "the same disk as an EWF set (ewfacquire, 16 MiB segments)"
mkdir ewf
ewfacquire -u -q -t ewf/win7 -S 16MiB -c none -d sha1 -C "forensic-lab test case" -e "scripts/make-evidence.sh" \
  -D "seeds-like Win7 disk" disk.raw >ewfacquire.log 2>&1 || die "ewfacquire failed: $(tail -n 3 ewfacquire.log)"
chmod 0444 ewf/*
mv -T ewf "$out/ewf"
disk_md5=$(md5sum <disk.raw | cut -d' ' -f1)
disk_sha1=$(sha1sum <disk.raw | cut -d' ' -f1)
ewf_json=$(
  cd -- "$out"
  for file in ewf/win7.E*; do
    jq -cn --arg path "$file" --argjson size "$(stat -c %s -- "$file")" --arg sha256 "$(sha256sum -- "$file" | cut -d' ' -f1)" \
      '{path: $path, size: $size, sha256: $sha256}'
  done | jq -cs --arg md5 "$disk_md5" --arg sha1 "$disk_sha1" \
    '{top: "ewf/win7.E01", md5: $md5, sha1: $sha1, segments: .}'
)

files_json=$(
  cd -- "$out"
  for file in base/win7.vmdk base/win7-s001.vmdk snapshots/win7-000001.vmdk snapshots/win7-000001-s001.vmdk \
    snapshots/win7-000002.vmdk snapshots/win7-000002-s001.vmdk; do
    jq -cn --arg path "$file" --argjson size "$(stat -c %s -- "$file")" --arg sha256 "$(sha256sum -- "$file" | cut -d' ' -f1)" \
      '{path: $path, size: $size, sha256: $sha256}'
  done | jq -cs .
)
jq -n \
  --argjson version "$GENERATOR_VERSION" --argjson sizeMib "$bulk_mib" --argjson virtualSize $((disk_mib * 1048576)) \
  --argjson ntfsStart "$NTFS_START_SECTOR" --argjson ntfsSectors $((NTFS_MIB * 2048)) \
  --argjson ext4Start "$ext4_start_sector" --argjson ext4Sectors $((ext4_mib * 2048)) \
  --argjson bulkBytes $((bulk_mib * 1048576)) --argjson files "$files_json" --argjson ewf "$ewf_json" '{
    generator: "scripts/make-evidence.sh", version: $version, sizeMib: $sizeMib,
    format: "vmdk", virtualSize: $virtualSize,
    top: "snapshots/win7-000002.vmdk",
    chain: ["snapshots/win7-000002.vmdk", "snapshots/win7-000001.vmdk", "base/win7.vmdk"],
    partitions: [
      {number: 1, type: "7", filesystem: "ntfs", startSector: $ntfsStart, sizeSectors: $ntfsSectors,
       files: {"ufos/ufo.txt": "Ufos are not real\n", "ufos/sighting-1.txt": "seen in snapshot 1\n",
               "ufos/sighting-2.txt": "seen in snapshot 2\n"}},
      {number: 2, type: "83", filesystem: "ext4", startSector: $ext4Start, sizeSectors: $ext4Sectors,
       journal: "dirty: replay would change journal/canary.txt to \"REPLAYED!!!!\\n\"",
       bulkBytes: $bulkBytes,
       files: {"notes/layer.txt": "snapshot 2\n", "journal/canary.txt": "NOT REPLAYED\n"}}
    ],
    files: $files,
    ewf: $ewf
  }' >manifest.json
chmod 0444 manifest.json
mv -T manifest.json "$manifest"
say "done: $disk_mib MiB virtual disk, three layers"
echo "$top"
