#!/usr/bin/env bash
# Host side of one sshfs mount, running in the background for as long as the mount lives:
#
#   sftp-server -R (user nobody, in a jail)  <-- fifo --  ssh into the guest  -->  sshfs -o passive,ro
#                                            -- pipe -->
#
# The guest opens no connection: the sftp stream rides in the host's own ssh session, whose stdin and
# stdout are joined to sftp-server's stdout and stdin. sshfs-start.sh starts this with setsid inside a
# private mount namespace (`unshare --mount`), so the process group is ours to stop and the jail's
# mounts vanish with us. It ends by itself when the guest unmounts (sshfs exits, the session closes,
# sftp-server reads EOF).
#
# `sftp-server -d` is no chroot, and running it as root would let a hostile guest read the whole host.
# So it runs chrooted in a jail that holds only this folder's evidence files, the two binaries and their
# libraries, each a read-only bind, as user nobody with one capability, CAP_DAC_READ_SEARCH: evidence is
# usually root's and 0600, and changing its owner, mode or ACLs to let nobody read it would alter the
# evidence's metadata. Read-only holds three times over: -R, the read-only binds, and no write capability.
# Values: IMAGE_NAME FOLDER_INDEX PID_FILE FIFO JAIL_DIR HOST_FILES GUEST_MOUNT_HOOK.
set -euo pipefail

# forensic-lab:include lib/hooks/common.sh
umask 077

log() { printf '%s image-transfer %s/%s: %s\n' "$(date -u +%FT%TZ)" "$IMAGE_NAME" "$FOLDER_INDEX" "$*" >&2; }

if [[ "$(readlink /proc/self/ns/mnt)" == "$(readlink /proc/1/ns/mnt)" ]]; then
  log "refusing to build the jail outside a private mount namespace (start me with unshare --mount)"
  exit 1
fi
if [[ "$(ps -o sid= -p $$ | tr -d ' ')" != "$$" ]]; then
  log "refusing to run outside my own session (start me with setsid): stopping me would miss processes"
  exit 1
fi

cleanup() {
  local pid _
  rm -f -- "$FIFO"
  if read -r pid _ 2>/dev/null <"$PID_FILE" && [[ "$pid" == "$$" ]]; then rm -f -- "$PID_FILE"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM

sftp_server=""
for candidate in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/libexec/sftp-server; do
  if [[ -x "$candidate" ]]; then sftp_server=$candidate; break; fi
done
[[ -n "$sftp_server" ]] || { log "no sftp-server found (install openssh-server)"; exit 1; }
setpriv_bin=$(command -v setpriv) || { log "setpriv not found (util-linux)"; exit 1; }

# The jail is a skeleton of empty files and folders on the host; in this namespace each piece becomes a
# read-only bind of the real thing. Rebuilt on every start, so nothing stale is ever served.
if mountpoint -q -- "$JAIL_DIR"; then
  log "'$JAIL_DIR' is a mount point in this namespace; refusing to rebuild it"
  exit 1
fi
rm -rf --one-file-system -- "$JAIL_DIR"
mkdir -p -- "$JAIL_DIR/evidence" "$JAIL_DIR/etc" "$JAIL_DIR/dev"
printf 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$JAIL_DIR/etc/passwd"
printf 'nogroup:x:65534:\n' >"$JAIL_DIR/etc/group"
chmod 0644 "$JAIL_DIR/etc/passwd" "$JAIL_DIR/etc/group"

binds=("$sftp_server" "$setpriv_bin" /dev/null)
if [[ -f /etc/ld.so.cache ]]; then binds+=(/etc/ld.so.cache); fi
for binary in "$sftp_server" "$setpriv_bin"; do
  while read -r line; do
    case $line in
      *"=> /"*) library=${line#*=> } ;;
      /*) library=$line ;;
      *) continue ;;
    esac
    binds+=("${library%% (*}")
  done < <(ldd "$binary")
done
for source in "${binds[@]}"; do
  mkdir -p -- "$JAIL_DIR$(dirname -- "$source")"
  : >"$JAIL_DIR$source"
done
for file in "${HOST_FILES[@]}"; do
  : >"$JAIL_DIR/evidence/$(basename -- "$file")"
done
find "$JAIL_DIR" -type d -exec chmod 0755 {} +

mount --bind -o ro -- "$JAIL_DIR" "$JAIL_DIR"
for source in "${binds[@]}"; do
  mount --bind -o ro -- "$source" "$JAIL_DIR$source"
done
# sftp-server opens the evidence itself, without O_NOATIME. Its reads leave the access times as they were
# because the kernel updates no atime through a read-only mount; noatime says so explicitly, in case the
# binds ever lose ro (both flags are per mount: only the jail's view has them).
for file in "${HOST_FILES[@]}"; do
  mount --bind -o ro,noatime -- "$file" "$JAIL_DIR/evidence/$(basename -- "$file")"
done

printf '%s %s\n' "$$" "$(proc_start_time $$)" >"$PID_FILE.new"
mv -f -- "$PID_FILE.new" "$PID_FILE"

rm -f -- "$FIFO"
mkfifo -m 0600 -- "$FIFO"
log "serving ${#HOST_FILES[@]} file(s) read-only to the guest"
status=0
# shellcheck disable=SC2094 # one fifo, read by one end and written by the other: that is the point
chroot "$JAIL_DIR" "$setpriv_bin" --reuid=65534 --regid=65534 --clear-groups \
  --inh-caps=-all,+dac_read_search --ambient-caps=+dac_read_search --bounding-set=-all,+dac_read_search \
  --no-new-privs -- "$sftp_server" -R -d /evidence <"$FIFO" |
  bash -c "$GUEST_MOUNT_HOOK" forensic-lab-sftp-pipe >"$FIFO" || status=$?
log "session ended (status $status)"
