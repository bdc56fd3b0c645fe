#!/usr/bin/env bash
# Helpers any hook may use, inlined at render time with `# forensic-lab:include lib/hooks/common.sh`, so
# no hook keeps a copy of its own. Functions only; fail() words its message with FAILS_AS, which the
# including hook sets first (`readonly FAILS_AS="partition-mount"`).

# fail MESSAGE...: the hook's one-line error on stderr, then exit 1.
fail() {
  echo "${FAILS_AS:-forensic-lab}: $*" >&2
  exit 1
}

# kernel_name DEVICE: the kernel's name of a block device (dm-3, nbd0p1) whatever link names it
# (/dev/mapper/x): its folder in sysfs is /sys/class/block/<name>. No basename: a process costs.
kernel_name() {
  local path
  path=$(readlink -f -- "$1")
  printf '%s' "${path##*/}"
}

# has_word WORD LIST...: whether WORD is one of LIST.
has_word() {
  local word=$1 item
  shift
  for item; do
    if [[ "$item" == "$word" ]]; then return 0; fi
  done
  return 1
}

# proc_start_time PID: field 22 of /proc/PID/stat (read after the command name, which may hold spaces
# and parentheses), the process's start time in clock ticks: with the pid it names one process for good,
# where a pid alone may be reused. Fails for a zombie.
proc_start_time() {
  local stat fields
  stat=$(<"/proc/$1/stat")
  read -ra fields <<<"${stat##*) }"
  [[ "${fields[0]}" != Z ]] || return 1
  printf '%s\n' "${fields[19]}"
}

# posix_quote ARGS...: each argument as one single-quoted word, for whatever shell the far end runs.
posix_quote() {
  local word out=""
  for word in "$@"; do out+="'${word//\'/\'\\\'\'}' "; done
  printf '%s' "$out"
}

# on_host COMMAND...: runs COMMAND on the libvirt host: here, or through ssh to LIBVIRT_SSH_TARGET
# (port LIBVIRT_SSH_PORT) with lab_ssh from lib/hooks/ssh-options.sh.
on_host() {
  if [[ -z "$LIBVIRT_SSH_TARGET" ]]; then
    "$@"
  else
    lab_ssh -o ConnectTimeout=20 -p "$LIBVIRT_SSH_PORT" -- "$LIBVIRT_SSH_TARGET" "$(posix_quote "$@")"
  fi
}
