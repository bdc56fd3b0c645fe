import type { GuestConnection } from "../../lib/shell";

/** The connection of a stand-in guest for tests that only render hooks (nothing connects to it). */
export function testGuestConnection(domainName = "forensic-case-1"): GuestConnection {
  return {
    host: "127.0.0.1",
    port: 2222,
    user: "root",
    privateKeyPath: "/var/lib/forensic-lab/case-1/id_ed25519",
    knownHostsPath: "/var/lib/forensic-lab/case-1/known_hosts",
    jumpHost: "",
    domainName,
    libvirtUri: "qemu:///system",
  };
}
