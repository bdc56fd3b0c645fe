/**
 * Where the guest's libvirt runs. Local (`qemu:///system`): every file and the guest's port forward are
 * on this machine. Remote (`qemu+ssh://user@host[:port]/system`): virsh talks to the remote daemon, the
 * hooks do their file work there through `ssh user@host`, and the host reaches the guest's sshd (which
 * listens on the *remote* loopback) with `ssh -J user@host[:port]`.
 */
export interface LibvirtTarget {
  /** The URI as given; handed to `virsh -c`. */
  readonly uri: string;
  /** `user@host` (or `host`) for `ssh` file operations on the libvirt host; empty when local. */
  readonly sshTarget: string;
  /** ssh port of the libvirt host; 22 when the URI names none, 0 when local. */
  readonly sshPort: number;
  /** `user@host[:port]` for `ssh -J`; empty when local. */
  readonly jumpHost: string;
}

const LOCAL_URIS = ["qemu:///system"];
// Conservative on purpose: these words end up as ssh arguments, so nothing may look like an option.
const USER = /^[a-z_][a-z0-9_.-]{0,31}$/;
const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;
const IPV6 = /^\[([0-9A-Fa-f:.]+)\]$/;
const REMOTE = /^qemu\+ssh:\/\/(?:([^@/?#]*)@)?(\[[^\]/]*\]|[^:/?#]*)(?::([^/?#]*))?\/system(\?.*)?$/;

/** Parses a libvirt URI, or throws an error naming `field` and what is wrong. */
export function parseLibvirtUri(uri: string, field = "libvirtUri"): LibvirtTarget {
  if (LOCAL_URIS.includes(uri)) return { uri, sshTarget: "", sshPort: 0, jumpHost: "" };
  if (/^qemu:\/\/\/session(\?.*)?$/.test(uri)) {
    // As lib/config/libvirt-uri.ts: the hooks run as root, and root's session daemon runs QEMU as root
    // with no sVirt confinement, so a guest that escapes QEMU would be root on the host.
    throw new Error(
      `${field}: '${uri}' runs QEMU as root without sVirt confinement (no SELinux/AppArmor label, no unprivileged QEMU user); use qemu:///system`,
    );
  }
  const match = REMOTE.exec(uri);
  if (!match) {
    throw new Error(
      `${field}: '${uri}' is not supported; use qemu:///system or qemu+ssh://[user@]host[:port]/system`,
    );
  }
  const [, user, host, portText, query] = match;
  if (query !== undefined) {
    // The hooks' own ssh (file work, -J to the guest) could not honour keyfile= and friends, and reads no
    // ~/.ssh/config (lib/hooks/ssh-options.sh): root's default identity and known_hosts must do.
    throw new Error(
      `${field}: '${uri}' has query parameters; leave them out: the lab's ssh uses root's default key (~/.ssh/id_*) and ~/.ssh/known_hosts`,
    );
  }
  if (user !== undefined && !USER.test(user)) throw new Error(`${field}: '${user}' is not a valid user name`);
  const ipv6 = IPV6.exec(host);
  if (!ipv6 && !HOST.test(host)) throw new Error(`${field}: '${host}' is not a host name or IP address`);
  let sshPort = 22;
  if (portText !== undefined) {
    sshPort = Number(portText);
    if (!/^[0-9]{1,5}$/.test(portText) || sshPort < 1 || sshPort > 65535) {
      throw new Error(`${field}: '${portText}' is not a TCP port`);
    }
  }
  const at = user === undefined ? "" : `${user}@`;
  // ssh takes a bare IPv6 address as its destination; -J wants it in brackets when a port follows.
  const sshTarget = `${at}${ipv6 ? ipv6[1] : host}`;
  return { uri, sshTarget, sshPort, jumpHost: portText === undefined ? sshTarget : `${at}${host}:${sshPort}` };
}
