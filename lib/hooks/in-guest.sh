#!/usr/bin/env bash
# Runs INNER_HOOK inside the analysis guest over ssh, with the guest's host key pinned (no TOFU).
# Values come from the generated prelude: GUEST_HOST GUEST_PORT GUEST_USER GUEST_PRIVATE_KEY
# GUEST_KNOWN_HOSTS GUEST_HOST_KEY GUEST_JUMP_HOST GUEST_DOMAIN LIBVIRT_URI ON_GUEST_GONE INNER_HOOK.
# GUEST_HOST_KEY, when set, is the key pinned; otherwise the key in GUEST_KNOWN_HOSTS is.
# Our stdin (a secret, if the hook takes one) is handed to the inner hook unchanged.
# ssh reads no ssh_config and forwards nothing: see lib/hooks/ssh-options.sh.
set -euo pipefail

# forensic-lab:include lib/hooks/ssh-options.sh

guest_is_gone() {
  # The domain is gone, or exists but is not running, or its pinned key/known_hosts were removed with it.
  [[ ! -r "$GUEST_PRIVATE_KEY" || ! -r "$GUEST_KNOWN_HOSTS" ]] && return 0
  local state
  state=$(virsh -c "$LIBVIRT_URI" domstate "$GUEST_DOMAIN" 2>/dev/null) || return 0
  [[ "$state" != running* ]]
}

if [[ "$ON_GUEST_GONE" == succeed ]] && guest_is_gone; then
  echo "forensic-lab: guest '$GUEST_DOMAIN' is gone; nothing to undo inside it" >&2
  exit 0
fi

# ssh splits UserKnownHostsFile at white space: give it a file with a plain name, holding the key from the
# command text when there is one (so the key pinned is the one this command was made for), else a link
# to the case's known_hosts.
link_dir=$(mktemp -d)
trap 'rm -rf "$link_dir"' EXIT
if [[ -n "$GUEST_HOST_KEY" ]]; then
  if [[ "$GUEST_PORT" == 22 ]]; then known_host=$GUEST_HOST; else known_host="[$GUEST_HOST]:$GUEST_PORT"; fi
  printf '%s %s\n' "$known_host" "$GUEST_HOST_KEY" >"$link_dir/known_hosts"
else
  ln -s "$GUEST_KNOWN_HOSTS" "$link_dir/known_hosts"
fi

ssh_options=(
  -o "UserKnownHostsFile=$link_dir/known_hosts"
  -o ConnectTimeout=20
  -o ServerAliveInterval=10
  -o ServerAliveCountMax=3
  -o LogLevel=ERROR
  -i "$GUEST_PRIVATE_KEY"
  -p "$GUEST_PORT"
)
if [[ -n "$GUEST_JUMP_HOST" ]]; then
  ssh_options+=(-J "$GUEST_JUMP_HOST")
fi

# ssh joins its arguments into one string for the remote shell: quote the script as one bash word.
guest_ssh "${ssh_options[@]}" "$GUEST_USER@$GUEST_HOST" -- "bash -c $(printf '%q' "$INNER_HOOK") forensic-lab-hook"
