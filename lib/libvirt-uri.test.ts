import { libvirtTarget, parseLibvirtUri, SESSION_URI_REFUSED } from "./libvirt-uri";

// One parser for config (check-config), AnalysisGuest and EvidenceVolume: what one accepts, all accept.
describe("parseLibvirtUri", () => {
  test("qemu:///system is local: no ssh", () => {
    expect(parseLibvirtUri("qemu:///system")).toEqual({
      target: { kind: "local", uri: "qemu:///system", sshTarget: "", sshPort: 0, jumpHost: "" },
    });
  });

  test("qemu:///session is refused: as root it runs QEMU as root, unconfined", () => {
    for (const uri of ["qemu:///session", "qemu:///session?socket=/run/x"]) {
      expect(parseLibvirtUri(uri)).toEqual({ problem: SESSION_URI_REFUSED });
    }
  });

  test.each([
    ["qemu+ssh://root@lab1.example.org/system", "root", "lab1.example.org", "root@lab1.example.org", 22, "root@lab1.example.org"],
    ["qemu+ssh://examiner@10.1.2.3:2222/system", "examiner", "10.1.2.3", "examiner@10.1.2.3", 2222, "examiner@10.1.2.3:2222"],
    ["qemu+ssh://lab1/system", undefined, "lab1", "lab1", 22, "lab1"],
    ["qemu+ssh://root@127.0.0.1:40022/system", "root", "127.0.0.1", "root@127.0.0.1", 40022, "root@127.0.0.1:40022"],
    ["qemu+ssh://root@[fd00::7]:2222/system", "root", "fd00::7", "root@fd00::7", 2222, "root@[fd00::7]:2222"],
    ["qemu+ssh://root@[fd00::7]/system", "root", "fd00::7", "root@fd00::7", 22, "root@[fd00::7]"],
  ])("%s: user %s, host %s, ssh %s port %d, jump host %s", (uri, user, host, sshTarget, sshPort, jumpHost) => {
    expect(parseLibvirtUri(uri)).toEqual({ target: { kind: "ssh", uri, user, host, sshTarget, sshPort, jumpHost } });
  });

  test.each([
    ["qemu+tcp://lab1/system", "must be qemu:///system or qemu+ssh://[user@]host[:port]/system (got 'qemu+tcp://lab1/system')"],
    ["xen:///system", "must be qemu:///system or qemu+ssh://[user@]host[:port]/system (got 'xen:///system')"],
    ["qemu+unix:///system", "must be qemu:///system or qemu+ssh://[user@]host[:port]/system (got 'qemu+unix:///system')"],
    [
      "qemu+ssh://root@lab1/session",
      "must reach qemu:///system on a remote host (got 'qemu+ssh://root@lab1/session'); a remote session daemon is not supported",
    ],
    // The two parsers this one replaced disagreed on these: config accepted the first, AnalysisGuest the second.
    ["qemu+ssh://lab@host/system?keyfile=/k", "has query parameters (got 'qemu+ssh://lab@host/system?keyfile=/k'); leave them out"],
    ["qemu+ssh://host-.x/system", "has an invalid host name 'host-.x' (got 'qemu+ssh://host-.x/system')"],
    ["qemu+ssh://kvm01/system?no_verify=1", "has query parameters"],
    ["qemu+ssh://root@lab1:0/system", "has an invalid ssh port '0'"],
    ["qemu+ssh://root@lab1:99999/system", "has an invalid ssh port '99999' (got 'qemu+ssh://root@lab1:99999/system'); use 1..65535"],
    ["qemu+ssh://root@lab1:22x/system", "has an invalid ssh port '22x'"],
    ["qemu+ssh://-oProxyCommand=x/system", "has an invalid host name '-oProxyCommand=x'"],
    ["qemu+ssh://-oProxyCommand=x@lab1/system", "has an invalid user name '-oProxyCommand=x'"],
    ["qemu+ssh://root@/system", "has an invalid host name ''"],
    ["qemu+ssh://root@a..b/system", "has an invalid host name 'a..b'"],
  ])("%s is refused: %s", (uri, message) => {
    const parsed = parseLibvirtUri(uri);
    expect("problem" in parsed && parsed.problem).toContain(message);
  });
});

describe("libvirtTarget (component args)", () => {
  test("throws the key and the reason", () => {
    expect(() => libvirtTarget("qemu+tcp://lab1/system")).toThrow("libvirtUri: must be qemu:///system or qemu+ssh://");
    expect(() => libvirtTarget("qemu:///session", "guest.libvirtUri")).toThrow(`guest.libvirtUri: ${SESSION_URI_REFUSED}`);
    expect(libvirtTarget("qemu+ssh://lab1/system").jumpHost).toBe("lab1");
  });
});
