#!/usr/bin/env bash
# mmdebstrap customize hook: configures the analysis guest's root filesystem by writing files into it
# (no chroot, nothing mounted on the host). Argument: the rootfs directory. Running it twice is harmless.
set -euo pipefail

readonly ROOTFS=${1:?usage: customize.sh ROOTFS}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
umask 022

# Config files (sshd, network, seed unit, modprobe options, ...). --remove-destination: never write
# through a symlink the packages left in the rootfs.
cp -rT --remove-destination --no-preserve=ownership "$HERE/rootfs" "$ROOTFS"
chmod 0755 "$ROOTFS/usr/local/sbin/forensic-seed"
chmod 0700 "$ROOTFS/root"

# Host keys made by openssh-server's postinst would be shared by every case: each guest gets its own
# from the seed disk instead, so the host knows the key before it first connects.
rm -f "$ROOTFS"/etc/ssh/ssh_host_*

systemd_dir="$ROOTFS/etc/systemd/system"
enable_unit() { # unit, target folder (for example multi-user.target.wants)
  mkdir -p "$systemd_dir/$2"
  ln -sfn "/lib/systemd/system/$1" "$systemd_dir/$2/$1"
}
enable_unit systemd-networkd.service multi-user.target.wants
enable_unit systemd-networkd.socket sockets.target.wants
mkdir -p "$systemd_dir/ssh.service.requires"
ln -sfn /etc/systemd/system/forensic-seed.service "$systemd_dir/ssh.service.requires/forensic-seed.service"

# Nothing may try to reach the outside, and nothing should run that the examiner did not ask for.
masked=(
  apt-daily.timer apt-daily.service apt-daily-upgrade.timer apt-daily-upgrade.service
  dpkg-db-backup.timer dpkg-db-backup.service
  e2scrub_all.timer e2scrub_all.service e2scrub_reap.service
  fstrim.timer fstrim.service
  systemd-timesyncd.service
  systemd-networkd-wait-online.service
  # LVM must not activate volume groups it finds on evidence by itself; `vgchange -ay` still works.
  lvm2-monitor.service lvm2-lvmpolld.socket lvm2-lvmpolld.service
  getty@tty1.service
)
for unit in "${masked[@]}"; do
  ln -sfn /dev/null "$systemd_dir/$unit"
done
# No display manager, no graphical target: boot to multi-user and stop there.
ln -sfn /lib/systemd/system/multi-user.target "$systemd_dir/default.target"

# An empty rule file of the same name overrides lvm2's udev rule that auto-activates volume groups found
# on new disks (evidence). Fail loudly if lvm2 renames it, rather than silently activating again.
readonly LVM_RULE=69-lvm.rules
[[ -f "$ROOTFS/lib/udev/rules.d/$LVM_RULE" ]] || { echo "customize.sh: lvm2 has no $LVM_RULE any more" >&2; exit 1; }
printf '# forensic-lab: no automatic LVM activation on evidence disks.\n' >"$ROOTFS/etc/udev/rules.d/$LVM_RULE"

# The examiner: owns the read-only mounts, has no password and no ssh login of its own.
if ! grep -q '^examiner:' "$ROOTFS/etc/passwd"; then
  echo 'examiner:x:1000:1000:forensic examiner:/home/examiner:/bin/bash' >>"$ROOTFS/etc/passwd"
  echo 'examiner:*:0:0:99999:7:::' >>"$ROOTFS/etc/shadow"
  echo 'examiner:x:1000:' >>"$ROOTFS/etc/group"
  echo 'examiner:*::' >>"$ROOTFS/etc/gshadow"
fi
install -d -o 1000 -g 1000 -m 0700 "$ROOTFS/home/examiner"

# Reproducible names, no DNS, no trace of the build machine.
echo forensic-guest >"$ROOTFS/etc/hostname"
: >"$ROOTFS/etc/machine-id"
