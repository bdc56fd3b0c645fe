#!/usr/bin/env bash
# Creates (or finds) the case's analysis guest and waits until its sshd answers with the pinned host key.
#   - domain running:             left alone (same keys, no redefine); its result is printed again.
#   - domain defined, shut off:   started.
#   - no domain:                  keys (kept if present), seed disk, overlay, kernel, define, start.
# Keys and known_hosts live on this machine (KEYS_DIR); disks on the libvirt host (DISKS_DIR), reached
# through `ssh LIBVIRT_SSH_TARGET` when LIBVIRT_URI is remote.
# Values (prelude): DOMAIN_NAME LIBVIRT_URI LIBVIRT_SSH_TARGET LIBVIRT_SSH_PORT STATE_DIR KEYS_DIR
#   PRIVATE_KEY HOST_KEY KNOWN_HOSTS DISKS_DIR OVERLAY SEED KERNEL INITRD CONSOLE_LOG IMAGE_DIR
#   DOMAIN_XML_KVM DOMAIN_XML_TCG DETECT_ACCELERATOR_HOOK NETWORK_MODE ISOLATED_NETWORK EVIDENCE_PATH
#   EVIDENCE_TYPE GUEST_HOST GUEST_PORT GUEST_USER JUMP_HOST BOOT_TIMEOUT_SECONDS STALL_RESET_SECONDS
set -euo pipefail

# forensic-lab:include lib/hooks/ssh-options.sh
# forensic-lab:include lib/hooks/case-folder.sh
# forensic-lab:include lib/hooks/common.sh
# forensic-lab:include lib/hooks/progress.sh

log() { echo "analysis-guest $DOMAIN_NAME: $*" >&2; }
die() { log "$*"; exit 1; }

# --- the libvirt host: this machine, or the far end of LIBVIRT_SSH_TARGET ---
# Copies stdin into a file on the libvirt host, created with the given mode (secrets never touch argv).
write_on_host() { # path mode
  # shellcheck disable=SC2016 # $1 and $2 belong to the inner sh, not to this script
  on_host sh -c 'umask 077 && cat >"$1" && chmod "$2" "$1"' forensic-lab-write "$1" "$2"
}

virsh_() { virsh -q -c "$LIBVIRT_URI" "$@"; }

domain_state() {
  local names
  names=$(virsh_ list --all --name) || die "cannot list domains at $LIBVIRT_URI (is libvirtd running?)"
  if grep -Fxq -- "$DOMAIN_NAME" <<<"$names"; then
    virsh_ domstate "$DOMAIN_NAME"
  else
    echo absent
  fi
}

check_image() {
  local file
  for file in manifest.json rootfs.qcow2 vmlinuz initrd.img; do
    on_host test -f "$IMAGE_DIR/$file" ||
      die "imageDir: no guest image at '$IMAGE_DIR' (missing $file); build one with guest-image/build.sh"
  done
}

check_network() {
  [[ "$NETWORK_MODE" == libvirt-isolated ]] || return 0
  local xml bridge names domain
  xml=$(virsh_ net-dumpxml "$ISOLATED_NETWORK") || die "isolatedNetwork: no libvirt network '$ISOLATED_NETWORK'"
  if grep -q '<forward' <<<"$xml"; then
    die "isolatedNetwork: '$ISOLATED_NETWORK' has a <forward> element; an analysis guest needs an isolated network"
  fi
  # An <ip> gives the host an address on the bridge (and, with it, dnsmasq for DHCP/DNS): the guest could
  # reach every host service listening on all addresses. ipv6='yes' gives the bridge a link-local address
  # even without one. The host reaches the guest's sshd only through such an address, so there is no
  # safe way to use this mode today: user-restricted gives the guest no address of the host at all.
  if grep -Eq '<ip([[:space:]/>]|$)' <<<"$xml"; then
    die "isolatedNetwork: '$ISOLATED_NETWORK' has an <ip> element: the host has an address on it that the guest can reach; use network: user-restricted"
  fi
  if grep -Eq "<network[^>]*[[:space:]]ipv6=[\"']yes" <<<"$xml"; then
    die "isolatedNetwork: '$ISOLATED_NETWORK' sets ipv6='yes': the host's bridge gets a link-local address the guest can reach; remove it"
  fi
  # One network, one case: a guest on the same network (or on its bridge) could reach this one.
  bridge=$(sed -n "s/.*<bridge[^>]*[[:space:]]name=[\"']\([^\"']*\)[\"'].*/\1/p" <<<"$xml")
  names=$(virsh_ list --all --name) || die "cannot list domains at $LIBVIRT_URI (is libvirtd running?)"
  while read -r domain; do
    [[ -n "$domain" && "$domain" != "$DOMAIN_NAME" ]] || continue
    if virsh_ domiflist "$domain" | awk -v net="$ISOLATED_NETWORK" -v br="${bridge%%$'\n'*}" \
      '($2 == "network" && $3 == net) || (br != "" && $2 == "bridge" && $3 == br) { found = 1 } END { exit !found }'; then
      die "isolatedNetwork: '$ISOLATED_NETWORK' is already used by domain '$domain', which could reach this guest; give each case its own network"
    fi
  done <<<"$names"
  virsh_ net-info "$ISOLATED_NETWORK" | grep -Eq '^Active:[[:space:]]+yes' ||
    die "isolatedNetwork: '$ISOLATED_NETWORK' is not active (virsh net-start $ISOLATED_NETWORK)"
}

check_evidence() {
  [[ -n "$EVIDENCE_PATH" ]] || return 0
  local kind=-f
  [[ "$EVIDENCE_TYPE" == block ]] && kind=-b
  on_host test "$kind" "$EVIDENCE_PATH" || die "evidenceDisk.path: '$EVIDENCE_PATH' is not a $EVIDENCE_TYPE"
  # The disk is attached with cache=none, which needs O_DIRECT.
  on_host dd if="$EVIDENCE_PATH" of=/dev/null bs=4096 count=1 iflag=direct status=none ||
    die "evidenceDisk.path: '$EVIDENCE_PATH' cannot be read with O_DIRECT (tmpfs?); put it on a disk filesystem"
}

make_keys() {
  install -d -m 0711 "$STATE_DIR"
  install -d -m 0700 "$KEYS_DIR"
  if [[ ! -f "$PRIVATE_KEY" ]]; then
    ssh-keygen -q -t ed25519 -N '' -C "forensic-lab $DOMAIN_NAME client" -f "$PRIVATE_KEY"
  fi
  if [[ ! -f "$HOST_KEY" ]]; then
    ssh-keygen -q -t ed25519 -N '' -C "forensic-lab $DOMAIN_NAME host" -f "$HOST_KEY"
  fi
  chmod 0600 "$PRIVATE_KEY" "$HOST_KEY"
  write_known_hosts
}

write_known_hosts() {
  local pattern="$GUEST_HOST"
  [[ "$GUEST_PORT" == 22 ]] || pattern="[$GUEST_HOST]:$GUEST_PORT"
  local tmp
  tmp=$(mktemp "$KEYS_DIR/.known_hosts.XXXXXX")
  echo "$pattern $(cut -d' ' -f1,2 "$HOST_KEY.pub")" >"$tmp"
  chmod 0600 "$tmp"
  mv -f "$tmp" "$KNOWN_HOSTS"
}

make_disks() {
  local base
  base=$(on_host readlink -f "$IMAGE_DIR/rootfs.qcow2")
  on_host install -d -m 0711 "$STATE_DIR" "$DISKS_DIR"
  # No domain: whatever a half-finished run left here is rebuilt from scratch (keys are kept).
  on_host rm -rf -- "$OVERLAY" "$SEED" "$KERNEL" "$INITRD" "$DISKS_DIR/seed.d"

  # The kernel and initrd are copied next to the overlay, so the case keeps booting the kernel that
  # matches its base image's modules even after a newer image becomes `current`.
  local base_dir=${base%/*}
  on_host cp -- "$base_dir/vmlinuz" "$KERNEL"
  on_host cp -- "$base_dir/initrd.img" "$INITRD"
  # The overlay names the resolved base, never the `current` symlink.
  on_host qemu-img create -q -f qcow2 -F qcow2 -b "$base" "$OVERLAY"
  on_host chmod 0600 "$OVERLAY"

  on_host install -d -m 0700 "$DISKS_DIR/seed.d"
  write_on_host "$DISKS_DIR/seed.d/ssh_host_ed25519_key" 0600 <"$HOST_KEY"
  write_on_host "$DISKS_DIR/seed.d/ssh_host_ed25519_key.pub" 0644 <"$HOST_KEY.pub"
  write_on_host "$DISKS_DIR/seed.d/authorized_keys" 0600 <"$PRIVATE_KEY.pub"
  on_host mkfs.ext4 -q -F -O ^has_journal -L forensic-seed -d "$DISKS_DIR/seed.d" "$SEED" 8M
  on_host chmod 0600 "$SEED"
  on_host rm -rf -- "$DISKS_DIR/seed.d"
}

define_domain() {
  local accelerator xml_file
  accelerator=$(on_host bash -c "$DETECT_ACCELERATOR_HOOK")
  xml_file=$(mktemp "$KEYS_DIR/.domain.XXXXXX.xml")
  case "$accelerator" in
    kvm) printf '%s\n' "$DOMAIN_XML_KVM" >"$xml_file" ;;
    tcg) printf '%s\n' "$DOMAIN_XML_TCG" >"$xml_file" ;;
    *) die "accelerator detection printed '$accelerator'" ;;
  esac
  virsh_ define "$xml_file" >/dev/null || { rm -f "$xml_file"; die "virsh define failed"; }
  rm -f "$xml_file"
  log "defined ($accelerator)"
}

guest_answers() {
  local options=(
    -o "UserKnownHostsFile=$KNOWN_HOSTS" -o ConnectTimeout=10 -o LogLevel=ERROR -i "$PRIVATE_KEY" -p "$GUEST_PORT"
  )
  [[ -z "$JUMP_HOST" ]] || options+=(-J "$JUMP_HOST")
  guest_ssh "${options[@]}" "$GUEST_USER@$GUEST_HOST" true </dev/null 2>/dev/null
}

# Under software emulation (TCG) a booting kernel whose vCPU threads starve on a busy host can stall for
# good: the console says "rcu: INFO: rcu_preempt self-detected stall" and sshd never comes (seen once in
# CI: the whole boot timeout lost). A guest this run started and that has not answered yet holds nothing of
# the case, so a hard reset loses nothing and costs one boot: once per run, after the stall has lasted
# STALL_RESET_SECONDS. A kernel can also hang without a word: both vCPUs spinning, the console silent
# from 0.7 s of boot on (seen in the e2e: "IP idents hash table entries" its last line for ten minutes).
# A console that has not grown for three times as long counts as such a stall. A normal boot writes to
# it every few seconds until sshd answers. A guest that was already running is never reset.
STALL_PATTERN='rcu: INFO: rcu_[a-z]+ (self-)?detected stall|watchdog: BUG: soft lockup'
readonly SILENT_STALL_SECONDS=$((3 * STALL_RESET_SECONDS))
stall_seen_at=""
console_from=0 # bytes of the console log written before the reset; a reset does not truncate it
console_size=-1 console_grew_at=$SECONDS reset_done=false

reset_if_stalled() {
  [[ "$outcome" != running && "$reset_done" == false ]] || return 0
  local size why
  size=$(on_host stat -c %s "$CONSOLE_LOG" 2>/dev/null || echo 0)
  if [[ "$size" != "$console_size" ]]; then console_size=$size console_grew_at=$SECONDS; fi
  if on_host tail -c "+$((console_from + 1))" "$CONSOLE_LOG" 2>/dev/null | grep -Eq "$STALL_PATTERN"; then
    stall_seen_at=${stall_seen_at:-$SECONDS}
    ((SECONDS - stall_seen_at >= STALL_RESET_SECONDS)) || return 0
    why="the kernel stalled while booting (console above) and ssh has not answered for ${STALL_RESET_SECONDS} s since"
  elif ((SECONDS - console_grew_at >= SILENT_STALL_SECONDS)); then
    why="the kernel's console has said nothing for ${SILENT_STALL_SECONDS} s while booting (its last lines above) and ssh has not answered"
  else
    return 0
  fi
  console_from=$size reset_done=true
  on_host tail -n 5 "$CONSOLE_LOG" >&2 || true
  log "$why; resetting the guest once"
  virsh_ reset "$DOMAIN_NAME" >/dev/null || die "virsh reset failed"
}

wait_for_ssh() {
  local started=$SECONDS deadline=$((SECONDS + BOOT_TIMEOUT_SECONDS)) state
  until guest_answers; do
    state=$(domain_state)
    if [[ "$state" != running ]]; then
      on_host tail -n 40 "$CONSOLE_LOG" >&2 || true
      die "the guest stopped while booting (state: $state); console log above"
    fi
    reset_if_stalled
    progress_wait "analysis-guest $DOMAIN_NAME: booting" "$started" "$BOOT_TIMEOUT_SECONDS" "no ssh answer yet"
    if ((SECONDS >= deadline)); then
      on_host tail -n 40 "$CONSOLE_LOG" >&2 || true
      die "no ssh with the pinned host key on $GUEST_HOST:$GUEST_PORT after ${BOOT_TIMEOUT_SECONDS} s (bootTimeoutSeconds); console log above"
    fi
    sleep 1
  done
}

undo_fresh_create() {
  local status=$?
  ((status != 0)) || return 0
  log "create failed; removing what this run made"
  virsh_ destroy "$DOMAIN_NAME" >/dev/null 2>&1 || true
  virsh_ undefine "$DOMAIN_NAME" >/dev/null 2>&1 || true
  on_host rm -rf -- "$DISKS_DIR" || true
  if [[ "$keys_were_there" == false ]]; then rm -rf -- "$KEYS_DIR"; fi
  exit "$status"
}

# The keys live in the case folder on this machine: nothing is written, chmod-ed or removed there unless
# root alone controls it and it holds no planted link (keys -> /etc, known_hosts -> the evidence).
check_case_folder forensic-lab:stateDir "$STATE_DIR"

started=$SECONDS
state=$(domain_state)
case "$state" in
  running)
    [[ -f "$PRIVATE_KEY" && -f "$HOST_KEY.pub" && -f "$KNOWN_HOSTS" ]] ||
      die "the domain is running but its keys in '$KEYS_DIR' are gone; run the delete hook (pulumi destroy) first"
    outcome=running
    ;;
  "shut off" | crashed)
    [[ -f "$PRIVATE_KEY" && -f "$HOST_KEY.pub" ]] ||
      die "the domain is defined but its keys in '$KEYS_DIR' are gone; run the delete hook (pulumi destroy) first"
    # Checked again: another case may have joined the network while this one was shut off.
    check_network
    write_known_hosts
    virsh_ start "$DOMAIN_NAME" >/dev/null
    outcome=started
    ;;
  absent)
    check_image
    check_network
    check_evidence
    # A create that fails leaves no state behind for `pulumi destroy` to find, so it undoes itself:
    # domain, disks, and the keys if this run made them.
    keys_were_there=false
    [[ -f "$PRIVATE_KEY" ]] && keys_were_there=true
    trap undo_fresh_create EXIT
    make_keys
    make_disks
    define_domain
    virsh_ start "$DOMAIN_NAME" >/dev/null
    outcome=created
    ;;
  *)
    die "the domain is '$state'; resume or destroy it by hand (virsh -c $LIBVIRT_URI ...)"
    ;;
esac
wait_for_ssh
trap - EXIT
boot_seconds=$((SECONDS - started))
log "$outcome; ssh answers with the pinned host key (${boot_seconds} s)"

domain_type=$(virsh_ dumpxml "$DOMAIN_NAME" | sed -n "1s/^<domain type='\([a-z]*\)'.*/\1/p")
jq -cn \
  --arg domainName "$DOMAIN_NAME" \
  --arg outcome "$outcome" \
  --arg accelerator "$([[ "$domain_type" == kvm ]] && echo kvm || echo tcg)" \
  --arg hostKey "$(cut -d' ' -f1,2 "$HOST_KEY.pub")" \
  --arg host "$GUEST_HOST" \
  --argjson port "$GUEST_PORT" \
  --arg user "$GUEST_USER" \
  --arg privateKeyPath "$PRIVATE_KEY" \
  --arg knownHostsPath "$KNOWN_HOSTS" \
  --arg jumpHost "$JUMP_HOST" \
  --arg libvirtUri "$LIBVIRT_URI" \
  --argjson bootSeconds "$boot_seconds" \
  '{domainName: $domainName, outcome: $outcome, accelerator: $accelerator, hostKey: $hostKey, host: $host,
    port: $port, user: $user, privateKeyPath: $privateKeyPath, knownHostsPath: $knownHostsPath,
    jumpHost: $jumpHost, libvirtUri: $libvirtUri, bootSeconds: $bootSeconds}' |
  sed 's/^/FORENSIC_LAB_RESULT /'
