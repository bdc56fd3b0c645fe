#!/usr/bin/env bash
# Builds the analysis guest image offline from Debian packages, without mounting anything on the host:
# mmdebstrap (unshare mode) -> rootfs folder configured by essential.sh and customize.sh -> mkfs.ext4 -d
# -> qcow2, plus the kernel and initrd for direct kernel boot and a manifest.
#
# Usage: guest-image/build.sh [OUT_ROOT]      (default /var/lib/forensic-lab/guest-image)
#   Writes OUT_ROOT/<key>/{rootfs.qcow2,vmlinuz,initrd.img,manifest.json} and points OUT_ROOT/current at it.
#   <key> hashes this script, essential.sh, customize.sh, packages.txt, rootfs/ and the apt sources: a
#   build is made only when one of them changes, else the existing complete build is reused. Concurrent runs
#   wait for each other (flock) and a build appears only complete (made in a temp folder, then renamed).
#   The image folder is the last line of stdout; progress goes to stderr.
# Environment:
#   FORENSIC_LAB_APT_SOURCES  deb822 sources file to build from; default: the host's own Debian sources.
#   SOURCE_DATE_EPOCH         timestamp baked into the image; default: a fixed date (reproducible builds).
set -euo pipefail

started_ns=$(date +%s%N)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly OUT_ROOT=${1:-/var/lib/forensic-lab/guest-image}
readonly APT_SOURCES=${FORENSIC_LAB_APT_SOURCES:-/etc/apt/sources.list.d/debian.sources}
readonly SUITE=bookworm
readonly IMAGE_SIZE=3G
# 2025-01-01T00:00:00Z unless the caller pins another time.
readonly EPOCH=${SOURCE_DATE_EPOCH:-1735689600}

log() { echo "guest-image: $*" >&2; }
die() { log "$*"; exit 1; }
elapsed() { awk -v s="$started_ns" -v e="$(date +%s%N)" 'BEGIN { printf "%.1f", (e - s) / 1e9 }'; }

((EUID == 0)) || die "must run as root (mmdebstrap's unshare mode keeps file owners right only for root)"
[[ -r "$APT_SOURCES" ]] || die "FORENSIC_LAB_APT_SOURCES: cannot read '$APT_SOURCES'"
for tool in mmdebstrap mkfs.ext4 qemu-img dpkg-query flock sha256sum tar jq chattr; do
  command -v "$tool" >/dev/null || die "'$tool' is missing: run scripts/install-host-deps.sh"
done

# The content key: every input that decides what goes into the image, with names, modes and contents.
# Files only (git keeps no empty folders) and modes normalised, so every checkout of one commit agrees.
key=$(
  {
    cd "$HERE"
    find build.sh essential.sh customize.sh packages.txt rootfs \( -type f -o -type l \) -print0 | sort -z |
      tar --null --no-recursion -T - --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=go-w -cf -
    cat "$APT_SOURCES"
  } | sha256sum | cut -c1-16
)
readonly KEY=$key
readonly IMAGE_DIR="$OUT_ROOT/$KEY"

mkdir -p "$OUT_ROOT"
exec 9>"$OUT_ROOT/.lock"
flock 9

point_current_at_key() {
  ln -sfn "$KEY" "$OUT_ROOT/.current.new"
  mv -T "$OUT_ROOT/.current.new" "$OUT_ROOT/current"
}

if [[ -f "$IMAGE_DIR/manifest.json" ]]; then
  point_current_at_key
  log "image $KEY is up to date, reused ($(elapsed) s)"
  echo "$IMAGE_DIR"
  exit 0
fi

work=$(mktemp -d "$OUT_ROOT/.build-$KEY.XXXXXX")
trap 'chattr -i "$work/rootfs.qcow2" 2>/dev/null; rm -rf "$work"' EXIT
rootfs="$work/rootfs"

mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$HERE/packages.txt" | awk 'NF')
((${#packages[@]} > 0)) || die "packages.txt lists no package"
include=$(IFS=,; echo "${packages[*]}")

log "building image $KEY from $APT_SOURCES (${#packages[@]} packages)"
# essential + the listed packages: no apt in the guest (nothing to update from, no apt timers).
SOURCE_DATE_EPOCH=$EPOCH mmdebstrap \
  --mode=unshare \
  --variant=essential \
  --include="$include" \
  --aptopt='APT::Install-Recommends "false"' \
  --aptopt='Acquire::Languages "none"' \
  --hook-dir=/usr/share/mmdebstrap/hooks/eatmydata \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --essential-hook="$HERE/essential.sh" \
  --customize-hook="$HERE/customize.sh" \
  --quiet \
  "$SUITE" "$rootfs" "$APT_SOURCES" >&2
log "root filesystem ready ($(elapsed) s)"

# Direct kernel boot: the kernel and initrd live next to the disk, not inside it.
kernels=("$rootfs"/boot/vmlinuz-*)
if ((${#kernels[@]} != 1)) || [[ ! -f "${kernels[0]}" ]]; then
  die "expected one kernel in the rootfs's /boot, found: ${kernels[*]}"
fi
kernel_version=${kernels[0]##*/vmlinuz-}
[[ -f "$rootfs/boot/initrd.img-$kernel_version" ]] || die "no initrd for kernel $kernel_version"
install -m 0644 "${kernels[0]}" "$work/vmlinuz"
install -m 0644 "$rootfs/boot/initrd.img-$kernel_version" "$work/initrd.img"

packages_json=$(dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f='${Package}\t${Version}\n' |
  jq -R -s 'split("\n") | map(select(length > 0) | split("\t") | {name: .[0], version: .[1]})')

# Files written during the build get the fixed clock too, so two builds of one key differ as little as
# possible.
find "$rootfs" -xdev -newermt "@$EPOCH" -exec touch --no-dereference --date="@$EPOCH" {} +

# A fixed UUID and hash seed (derived from the key) and a fixed clock make the filesystem reproducible.
uuid=$(sha256sum <<<"$KEY" | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\1-\2-\3-\4-\5/')
E2FSPROGS_FAKE_TIME=$EPOCH mkfs.ext4 -q -F -L forensic-root -U "$uuid" -E "hash_seed=$uuid" \
  -d "$rootfs" "$work/rootfs.raw" "$IMAGE_SIZE" >&2
qemu-img convert -f raw -O qcow2 "$work/rootfs.raw" "$work/rootfs.qcow2" >&2
rm -f "$work/rootfs.raw"
rm -rf "$rootfs"
chmod 0444 "$work/rootfs.qcow2"
log "disk image ready ($(elapsed) s)"

jq -n \
  --arg key "$KEY" \
  --arg suite "$SUITE" \
  --arg kernelVersion "$kernel_version" \
  --arg builtAt "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --argjson buildSeconds "$(elapsed)" \
  --arg sourceDateEpoch "$EPOCH" \
  --arg aptSources "$(cat "$APT_SOURCES")" \
  --arg rootfsUuid "$uuid" \
  --arg sha256Kernel "$(sha256sum "$work/vmlinuz" | cut -d' ' -f1)" \
  --arg sha256Initrd "$(sha256sum "$work/initrd.img" | cut -d' ' -f1)" \
  --argjson packages "$packages_json" \
  '{key: $key, suite: $suite, kernelVersion: $kernelVersion, builtAt: $builtAt,
    buildSeconds: $buildSeconds, sourceDateEpoch: ($sourceDateEpoch | tonumber), aptSources: $aptSources,
    rootfs: {file: "rootfs.qcow2", format: "qcow2", uuid: $rootfsUuid},
    kernel: {file: "vmlinuz", sha256: $sha256Kernel}, initrd: {file: "initrd.img", sha256: $sha256Initrd},
    packages: $packages}' >"$work/manifest.json"

chmod 0755 "$work"
# Every case's QEMU reads this base (0444, so no chown is needed). Immutable, libvirt's sVirt cannot
# hand it to the libvirt-qemu user either (its chown fails with EPERM, which libvirt tolerates): a
# compromised QEMU can never rewrite the base other cases boot from. `chattr -i` before deleting a build.
chattr +i "$work/rootfs.qcow2" ||
  log "warning: cannot make rootfs.qcow2 immutable on this filesystem; libvirt may chown it to the QEMU user"
mv -T "$work" "$IMAGE_DIR"
trap - EXIT
point_current_at_key
log "built image $KEY in $(elapsed) s: $IMAGE_DIR"
echo "$IMAGE_DIR"
