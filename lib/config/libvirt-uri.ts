import type { LibvirtHost } from "./types";

const EXPECTED = "qemu:///system or qemu+ssh://[user@]host[:port]/system";

const LOCAL: Readonly<Record<string, LibvirtHost>> = {
  "qemu:///system": { kind: "local", mode: "system" },
};

/**
 * Why `qemu:///session` is refused (components/analysis-guest/libvirt-uri.ts says the same): the hooks run
 * as root, and root's session daemon starts QEMU as root itself, with no sVirt confinement (no
 * SELinux/AppArmor label) and without the system daemon's unprivileged QEMU user. The guest is assumed
 * compromised; a QEMU escape would then be root on the host with nothing in the way.
 */
export const SESSION_URI_REFUSED =
  "is qemu:///session, which runs QEMU as root (the hooks run as root) without sVirt confinement " +
  "(no SELinux/AppArmor label, no unprivileged QEMU user), so a guest that escapes QEMU is root on the host; use qemu:///system";

const SSH = /^qemu\+ssh:\/\/(?:([a-z_][a-z0-9_.-]{0,31})@)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?\/system(?:\?(.*))?$/;
const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Parses a libvirt connection URI of the forms the lab supports. Returns the host, or why the URI is
 * refused (a sentence to follow "libvirtUri: ").
 */
export function parseLibvirtUri(uri: string): { host: LibvirtHost } | { problem: string } {
  const local = LOCAL[uri];
  if (local !== undefined) return { host: local };
  if (/^qemu:\/\/\/session(\?.*)?$/.test(uri)) return { problem: SESSION_URI_REFUSED };
  const got = `(got '${uri}')`;
  const m = SSH.exec(uri);
  if (!m) {
    if (/^qemu\+ssh:\/\/[^/]*\/session\b/.test(uri)) {
      return { problem: `must reach qemu:///system on a remote host ${got}; a remote session daemon is not supported` };
    }
    return { problem: `must be ${EXPECTED} ${got}` };
  }
  const [, user, host, portText, query] = m;
  if (!host.startsWith("[") && !host.split(".").every((label) => HOST_LABEL.test(label))) {
    return { problem: `has an invalid host name '${host}' ${got}` };
  }
  let port: number | undefined;
  if (portText !== undefined) {
    port = Number(portText);
    if (port < 1 || port > 65535) return { problem: `has an invalid ssh port ${portText} ${got}; use 1..65535` };
  }
  if (query !== undefined) {
    for (const pair of query.split("&")) {
      const [name, value = ""] = pair.split("=", 2);
      // The lab pins every host key; libvirt's ssh transport must not skip verification either.
      if (name === "no_verify" && value !== "0") {
        return { problem: `sets no_verify ${got}; the libvirt host's ssh key must be verified (remove no_verify)` };
      }
      if (name === "known_hosts_verify" && value !== "normal") {
        return { problem: `sets known_hosts_verify=${value} ${got}; only 'normal' verification is allowed` };
      }
    }
  }
  const jumpHost = `${user !== undefined ? `${user}@` : ""}${host}${port !== undefined ? `:${port}` : ""}`;
  return { host: { kind: "ssh", user, host, port, jumpHost } };
}
