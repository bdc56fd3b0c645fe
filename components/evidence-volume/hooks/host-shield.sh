#!/usr/bin/env bash
# Keeps the libvirt host from parsing what a guest writes. With the lvm backend the decrypted case
# volume is a dm-crypt mapping on the host (forensic-<case>) whose every byte the guest writes: a
# compromised guest can plant an LVM PV, an md superblock or a filesystem there. Left alone, the host's
# udev would probe it with blkid, link the planted filesystem's UUID and label under /dev/disk (where
# fstab and admins look for their own disks), auto-activate a planted VG and assemble an md member; and
# any LVM command on the host would read the planted metadata (a VG named like the host's own makes the
# host's VG ambiguous). Shared by any-luks-open.sh, any-luks-close.sh (the udev rule) and host-backing-create.sh,
# host-backing-delete.sh (LVM's scope). Uses fail().

readonly SHIELD_RULE=/etc/udev/rules.d/12-forensic-lab.rules
readonly SHIELD_LOCK=/run/forensic-lab-shield.lock

# The rule matches the mapping by its kernel attributes, not by variables other rules set, so it holds
# wherever it sorts among a distribution's device-mapper rules (10-dm/13-dm-disk upstream, 55-dm and
# 60-persistent-storage-dm on Debian): each of those skips a device carrying these flags.
shield_rule_text() {
  cat <<'RULE'
# forensic-lab: the host never parses what an analysis guest writes. A mapping named forensic-* with a
# CRYPT- uuid is a forensic-lab evidence volume whose plaintext the guest writes: no blkid probe, no
# /dev/disk links, no LVM autoactivation, no md assembly, no systemd device unit, no inotify watch.
# Installed by forensic-lab's luks-open hook; its luks-close hook removes it with the last such mapping.
SUBSYSTEM=="block", KERNEL=="dm-[0-9]*", ACTION=="add|change", ATTR{dm/name}=="forensic-?*", ATTR{dm/uuid}=="CRYPT-*", ENV{DM_UDEV_DISABLE_DISK_RULES_FLAG}="1", ENV{DM_UDEV_DISABLE_OTHER_RULES_FLAG}="1", ENV{UDEV_DISABLE_PERSISTENT_STORAGE_RULES_FLAG}="1", ENV{DM_NOSCAN}="1", ENV{SYSTEMD_READY}="0", OPTIONS:="nowatch"
RULE
}

# The kernel names (dm-N) of every open forensic-lab mapping on this host, one per line.
forensic_mappings() {
  local block
  for block in /sys/block/dm-*; do
    [[ -r $block/dm/name && -r $block/dm/uuid ]] || continue
    [[ $(<"$block/dm/name") == forensic-?* && $(<"$block/dm/uuid") == CRYPT-* ]] && echo "${block##*/}"
  done
  return 0
}

# Serialises the rule's install and removal between cases on one host: fd 9 holds the lock until the
# hook exits.
shield_lock() {
  exec 9>"$SHIELD_LOCK"
  flock 9
}

# udevd takes new rules at its next event after a reload; without a udevd nothing probes devices.
udev_reload() {
  udevadm control --reload 2>/dev/null || true
}

# Installs the rule (before the mapping exists, so its very first event is already shielded). A host
# without udev has nothing to shield from. Safe to run twice.
shield_install() {
  [[ -d /etc/udev ]] || return 0
  if [[ ! -f $SHIELD_RULE || $(<"$SHIELD_RULE") != "$(shield_rule_text)" ]]; then
    mkdir -p -- "${SHIELD_RULE%/*}"
    shield_rule_text >"$SHIELD_RULE.new"
    mv -f -- "$SHIELD_RULE.new" "$SHIELD_RULE"
    udev_reload
  fi
}

# Re-runs udev on an open mapping under the rule: drops links and state an unshielded event left.
shield_refresh() {
  udevadm trigger --action=change --settle -- "$1" 2>/dev/null || true
}

# Removes the rule once no forensic-lab mapping is left open on this host.
shield_remove_if_unused() {
  [[ -e $SHIELD_RULE && -z $(forensic_mappings) ]] || return 0
  rm -f -- "$SHIELD_RULE"
  udev_reload
}

# LVM's --config for the lab's own LVM commands: the host's global_filter with every name of every open
# forensic-lab mapping rejected in front of it. LVM accepts a device if any one of its names is
# accepted, so each name (/dev/dm-N, /dev/mapper/..., /dev/block/M:N, any other link) is rejected
# exactly; the host's own patterns (or, without any, accept all) then decide for every other device as before.
lvm_scope_config() {
  local kernel alias admin rejects=""
  while IFS= read -r kernel; do
    [[ -n $kernel ]] || continue
    while IFS= read -r alias; do
      [[ $alias =~ ^/dev/[A-Za-z0-9/_.:-]+$ ]] ||
        fail "cannot keep LVM off the forensic-lab mapping $kernel: it has a name LVM's filter cannot spell ($alias)"
      rejects+="\"r|^${alias//./\\.}\$|\","
    done < <(find -L /dev -path /dev/fd -prune -o -samefile "/dev/$kernel" -print 2>/dev/null)
  done < <(forensic_mappings)
  admin=$(lvmconfig --typeconfig current devices/global_filter 2>/dev/null) || admin=""
  admin=${admin#global_filter=}
  admin=${admin#[}
  admin=${admin%]}
  # Without a filter of the host's, LVM accepts every device: say so, as LVM refuses an empty list.
  echo "devices/global_filter=[$rejects${admin:-\"a|.*|\"}]"
}

# Runs an LVM command (vgs, lvs, lvcreate, ...) that sees the host's devices but no forensic-lab mapping.
host_lvm() {
  local command=$1
  shift
  "$command" --config "$(lvm_scope_config)" "$@"
}
