import { parseLibvirtUri } from "./libvirt-uri";

describe("parseLibvirtUri", () => {
  test("local URIs need no ssh", () => {
    expect(parseLibvirtUri("qemu:///system")).toEqual({ uri: "qemu:///system", sshTarget: "", sshPort: 0, jumpHost: "" });
  });

  test("qemu:///session is refused: as root it runs QEMU as root, unconfined", () => {
    for (const uri of ["qemu:///session", "qemu:///session?socket=/run/x"]) {
      expect(() => parseLibvirtUri(uri)).toThrow(
        `libvirtUri: '${uri}' runs QEMU as root without sVirt confinement (no SELinux/AppArmor label, no unprivileged QEMU user); use qemu:///system`,
      );
    }
  });

  test.each([
    ["qemu+ssh://root@lab1.example.org/system", "root@lab1.example.org", 22, "root@lab1.example.org"],
    ["qemu+ssh://examiner@10.1.2.3:2222/system", "examiner@10.1.2.3", 2222, "examiner@10.1.2.3:2222"],
    ["qemu+ssh://lab1/system", "lab1", 22, "lab1"],
    ["qemu+ssh://root@127.0.0.1:40022/system", "root@127.0.0.1", 40022, "root@127.0.0.1:40022"],
    ["qemu+ssh://root@[fd00::7]:2222/system", "root@fd00::7", 2222, "root@[fd00::7]:2222"],
  ])("%s: ssh %s port %d, jump host %s", (uri, sshTarget, sshPort, jumpHost) => {
    expect(parseLibvirtUri(uri)).toEqual({ uri, sshTarget, sshPort, jumpHost });
  });

  test.each([
    ["qemu+tcp://lab1/system", "is not supported"],
    ["qemu+ssh://root@lab1/session", "is not supported"],
    ["qemu+ssh://root@lab1/system?keyfile=/k", "has query parameters"],
    ["qemu+ssh://root@lab1:0/system", "'0' is not a TCP port"],
    ["qemu+ssh://root@lab1:99999/system", "'99999' is not a TCP port"],
    ["qemu+ssh://root@lab1:22x/system", "'22x' is not a TCP port"],
    ["qemu+ssh://-oProxyCommand=x/system", "'-oProxyCommand=x' is not a host name"],
    ["qemu+ssh://-oProxyCommand=x@lab1/system", "'-oProxyCommand=x' is not a valid user name"],
    ["qemu+ssh://root@/system", "'' is not a host name"],
    ["xen:///system", "is not supported"],
  ])("%s is refused: %s", (uri, message) => {
    expect(() => parseLibvirtUri(uri)).toThrow(`libvirtUri: `);
    expect(() => parseLibvirtUri(uri)).toThrow(message);
  });
});
