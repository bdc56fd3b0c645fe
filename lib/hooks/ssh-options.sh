#!/usr/bin/env bash
# The options of every ssh the lab starts, in one place: included at render time with
# `# forensic-lab:include lib/hooks/ssh-options.sh`, and read by lib/ssh-options.ts (the lines between
# `# forensic-lab:ssh-options <list>` and `# forensic-lab:ssh-options end`) for the examiner's ssh command.
#
# The guest is assumed compromised, and root's ~/.ssh/config (read from root's passwd home, whatever
# $HOME says) is the examiner's, written for other machines: ForwardAgent would hand the guest the
# examiner's agent, RequestTTY force would echo a passphrase sent on stdin into the stored stdout,
# ControlMaster/ControlPath would reuse or leave a socket, LocalCommand runs a command on this host,
# Local/RemoteForward and Tunnel open ways between guest and host, ProxyCommand or a Host alias would skip
# the pinned address. So `-F none`: no user or system ssh_config at all (it also reaches the -J hop, which
# ssh starts with the same -F). The -o options below state the defaults that matter again, so that the
# list says what the connection does and a lost `-F none` would not silently bring them back.
# Every option here exists in OpenSSH 8.7 or newer (ForkAfterAuthentication is the newest);
# lib/hooks/ssh-isolation.test.ts checks each against the installed ssh with `ssh -G`.

# ssh to any machine the lab drives without a terminal: the libvirt host (remote libvirt URIs) and, through
# guest_ssh, the guest. Identity and known_hosts are ssh's defaults (root's ~/.ssh/id_*, the agent,
# ~/.ssh/known_hosts) unless the caller names them.
lab_ssh() {
  local options=(
    # forensic-lab:ssh-options any-host
    -F none
    -o BatchMode=yes
    -o StrictHostKeyChecking=yes
    -o UpdateHostKeys=no
    -o ForwardAgent=no
    -o ForwardX11=no
    -o ClearAllForwardings=yes
    -o Tunnel=no
    -o ControlMaster=no
    -o ControlPath=none
    -o ControlPersist=no
    -o PermitLocalCommand=no
    -o ForkAfterAuthentication=no
    # forensic-lab:ssh-options end
    # No terminal: stdin carries secrets and evidence bytes, and must reach the far command unchanged.
    -o RequestTTY=no
  )
  # shellcheck disable=SC2029 # the arguments are the caller's; callers quote the far command themselves
  ssh "${options[@]}" "$@"
}

# ssh into the analysis guest: also no agent at all (not even to authenticate; the per-case key is a file),
# only the key the caller names with -i, and only the host key the caller pins in UserKnownHostsFile.
# Key exchange: classical X25519 only. OpenSSH's default puts the post-quantum hybrid
# sntrup761x25519 first, which guards recorded traffic against a future quantum computer; this traffic
# never crosses a network (the host's loopback into the guest's forward, or, for a remote libvirt host,
# inside the -J hop, whose own key exchange stays the default), and under emulation the hybrid costs
# a fifth of every connection (1.05 s -> 0.85 s per `ssh true`, measured).
guest_ssh() {
  local options=(
    # forensic-lab:ssh-options guest
    -o IdentityAgent=none
    -o IdentitiesOnly=yes
    -o GlobalKnownHostsFile=/dev/null
    -o KexAlgorithms=curve25519-sha256
    # forensic-lab:ssh-options end
  )
  lab_ssh "${options[@]}" "$@"
}
