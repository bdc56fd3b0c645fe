#!/usr/bin/env bash
# Installs the Debian packages the lab's host side and its tests need. Safe to run twice: apt skips what
# is there. Used by .ci/run and `npm run demo`; on a workstation, run it once as root.
set -euo pipefail

packages=(
  # Guests: libvirt drives QEMU; KVM where the host has it, software emulation otherwise.
  qemu-system-x86 qemu-utils libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  # Guest image, built offline from Debian packages without mounting anything on the host.
  mmdebstrap uidmap e2fsprogs
  # Host side of transfers and in-guest hooks: ssh with pinned host keys, sftp-server for sshfs.
  openssh-client openssh-server
  # Evidence volume erase on the host (no device-mapper needed for header work).
  cryptsetup-bin
  # Tests: hook linting, evidence generation (partition tables, NTFS, ext4), the libguestfs comparison.
  shellcheck fdisk ntfs-3g sshfs libguestfs-tools jq
  # libguestfs' appliance boots the host's kernel (guestmount baseline of npm run bench); cloud is enough.
  linux-image-cloud-amd64
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  echo "install-host-deps: all ${#packages[@]} packages present"
  exit 0
fi
if ((EUID != 0)); then
  echo "install-host-deps: missing ${missing[*]}; run as root: sudo $0" >&2
  exit 1
fi
echo "install-host-deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
