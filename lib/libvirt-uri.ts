/**
 * The libvirt connection URIs the lab supports, parsed once for config, AnalysisGuest and EvidenceVolume.
 *
 * Local (`qemu:///system`): every file and the guest's port forward are on this machine. Remote
 * (`qemu+ssh://[user@]host[:port]/system`): virsh talks to the remote daemon, the hooks do their file
 * work there through `ssh [user@]host`, and the host reaches the guest's sshd (which listens on the
 * *remote* loopback) with `ssh -J [user@]host[:port]`. Everything else is refused, with the reason.
 */

export type LibvirtTarget =
  | {
      readonly kind: "local";
      /** The URI as given; handed to `virsh -c`. */
      readonly uri: string;
      readonly sshTarget: "";
      readonly sshPort: 0;
      readonly jumpHost: "";
    }
  | {
      readonly kind: "ssh";
      readonly uri: string;
      readonly user: string | undefined;
      /** Host name, IPv4 address, or IPv6 address without brackets. */
      readonly host: string;
      /** `[user@]host` for `ssh` file operations on the libvirt host. */
      readonly sshTarget: string;
      /** ssh port of the libvirt host; 22 when the URI names none. */
      readonly sshPort: number;
      /** `[user@]host[:port]` (an IPv6 host in brackets) for `ssh -J` and `GuestConnection.jumpHost`. */
      readonly jumpHost: string;
    };

const EXPECTED = "qemu:///system or qemu+ssh://[user@]host[:port]/system";

/**
 * Why `qemu:///session` is refused: the hooks run as root, and root's session daemon starts QEMU as root
 * itself, with no sVirt confinement (no SELinux/AppArmor label) and without the system daemon's
 * unprivileged QEMU user. The guest is assumed compromised; a QEMU escape would then be root on the host
 * with nothing in the way.
 */
export const SESSION_URI_REFUSED =
  "is qemu:///session, which runs QEMU as root (the hooks run as root) without sVirt confinement " +
  "(no SELinux/AppArmor label, no unprivileged QEMU user), so a guest that escapes QEMU is root on the host; use qemu:///system";

// Conservative on purpose: user and host end up as ssh arguments, so nothing may look like an option.
const USER = /^[a-z_][a-z0-9_.-]{0,31}$/;
const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const IPV6 = /^\[([0-9A-Fa-f:.]+)\]$/;
const REMOTE = /^qemu\+ssh:\/\/(?:([^@/?#]*)@)?(\[[^\]/]*\]|[^:/?#]*)(?::([^/?#]*))?\/system(\?.*)?$/;

/**
 * Parses a libvirt URI. Returns the target, or why the URI is refused: a sentence to follow
 * "libvirtUri: " (or whichever key holds it).
 */
export function parseLibvirtUri(uri: string): { target: LibvirtTarget } | { problem: string } {
  if (uri === "qemu:///system") return { target: { kind: "local", uri, sshTarget: "", sshPort: 0, jumpHost: "" } };
  if (/^qemu:\/\/\/session(\?.*)?$/.test(uri)) return { problem: SESSION_URI_REFUSED };
  const got = `(got '${uri}')`;
  const match = REMOTE.exec(uri);
  if (!match) {
    if (/^qemu\+ssh:\/\/[^/]*\/session\b/.test(uri)) {
      return { problem: `must reach qemu:///system on a remote host ${got}; a remote session daemon is not supported` };
    }
    return { problem: `must be ${EXPECTED} ${got}` };
  }
  const [, user, hostPart, portText, query] = match;
  if (query !== undefined) {
    // The hooks' own ssh (file work, -J to the guest) could not honour keyfile=, no_verify= and friends,
    // and reads no ~/.ssh/config (lib/hooks/ssh-options.sh): root's default identity and known_hosts must do.
    return {
      problem: `has query parameters ${got}; leave them out: the lab's ssh uses root's default key (~/.ssh/id_*) and ~/.ssh/known_hosts, verified`,
    };
  }
  if (user !== undefined && !USER.test(user)) return { problem: `has an invalid user name '${user}' ${got}` };
  const ipv6 = IPV6.exec(hostPart);
  if (!ipv6 && (hostPart.length > 253 || !hostPart.split(".").every((label) => HOST_LABEL.test(label)))) {
    return { problem: `has an invalid host name '${hostPart}' ${got}` };
  }
  let sshPort = 22;
  if (portText !== undefined) {
    sshPort = Number(portText);
    if (!/^[0-9]{1,5}$/.test(portText) || sshPort < 1 || sshPort > 65535) {
      return { problem: `has an invalid ssh port '${portText}' ${got}; use 1..65535` };
    }
  }
  const at = user === undefined ? "" : `${user}@`;
  const host = ipv6 ? ipv6[1] : hostPart;
  return {
    target: {
      kind: "ssh",
      uri,
      user,
      host,
      // ssh takes a bare IPv6 address as its destination; -J wants it in brackets.
      sshTarget: `${at}${host}`,
      sshPort,
      jumpHost: `${at}${hostPart}${portText === undefined ? "" : `:${sshPort}`}`,
    },
  };
}

/** `parseLibvirtUri` for component args: the target, or an Error "`key`: <why>". */
export function libvirtTarget(uri: string, key = "libvirtUri"): LibvirtTarget {
  const parsed = parseLibvirtUri(uri);
  if ("problem" in parsed) throw new Error(`${key}: ${parsed.problem}`);
  return parsed.target;
}
