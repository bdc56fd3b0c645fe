/**
 * Evidence is opened inside an isolated guest: nbd and mounts run over the pinned in-guest ssh wrapper,
 * into a domain this stack defines, and that domain has no way out and no host files.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { domainXml } from "../../components/analysis-guest/domain-xml";
import { renderHook } from "../../lib/shell";
import { evidenceAccessInGuest } from "../policies/evidence-access-in-guest";
import { evidenceGuestInStack } from "../policies/evidence-guest-in-stack";
import { guestIsolated } from "../policies/guest-isolated";
import { CONNECTION, DOMAIN, DOMAIN_SPEC, LabResource, inGuestText, messages, resource, safeLab } from "./fixtures";
import { hookFile } from "../../lib/hook-file";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-guest-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let lab: LabResource[];
beforeEach(async () => {
  lab = await safeLab();
});

/** The guest's create hook with its domain XML passed through `edit` (both accelerator variants). */
function guestWithXml(edit: (xml: string) => string): void {
  resource(lab, "case-42-guest-domain").props.create = renderHook(hookFile("analysis-guest", "host-create.sh"), {
    DOMAIN_NAME: DOMAIN,
    DOMAIN_XML_KVM: edit(domainXml(DOMAIN_SPEC, "kvm")),
    DOMAIN_XML_TCG: edit(domainXml(DOMAIN_SPEC, "tcg")),
  });
}

describe("evidence-access-in-guest", () => {
  const policy = evidenceAccessInGuest;

  it("passes the safe lab", async () => {
    expect(await messages(policy, lab)).toEqual([]);
  });

  it("fails a PartitionMount without a guest connection", async () => {
    delete resource(lab, "disk-p1").props.guest;
    expect(await messages(policy, lab)).toEqual([
      "disk-p1: guest must be the connection of an AnalysisGuest, got undefined: without it the hook would run on the host",
    ]);
  });

  it("fails a connection that cannot pin the guest's host key", async () => {
    resource(lab, "disk-nbd").props.guest = { ...CONNECTION, knownHostsPath: "", port: 0 };
    expect(await messages(policy, lab)).toEqual([
      "disk-nbd: guest must be the connection of an AnalysisGuest; knownHostsPath, port are missing or empty",
    ]);
  });

  it("leaves a connection that is unknown at preview to `pulumi up`", async () => {
    Object.assign(resource(lab, "disk-nbd"), { unknownKeys: ["guest"] });
    expect(await messages(policy, lab)).toEqual([]);
  });

  it("fails a mount hook that would run on the host", async () => {
    resource(lab, "disk-p1-mount").props.create = renderHook(hookFile("partition-mount", "guest-mount.sh"), {
      NBD_DEVICE: "/dev/nbd0",
      PARTITION: "1",
      MOUNT_POINT: "/mnt/forensic/disk/p1",
      MOUNT_ROOT: "",
      EXTRA_OPTIONS: [],
      EXAMINER_UID: 1000,
      EXAMINER_GID: 1000,
    });
    expect(await messages(policy, lab)).toEqual([
      "disk-p1-mount: create hook is not the in-guest ssh wrapper (lib/hooks/in-guest.sh), so it would run on the host",
    ]);
  });

  it("fails a wrapper whose body was changed, even with the right header", async () => {
    const wrapper = await inGuestText(hookFile("nbd-attachment", "guest-detach.sh"), { IMAGE_SPEC: "json:{}" }, "succeed");
    resource(lab, "disk-nbd-attach").props.delete = wrapper.replace("-o StrictHostKeyChecking=yes", "-o StrictHostKeyChecking=no");
    expect(wrapper).toContain("# forensic-lab hook: lib/hooks/in-guest.sh");
    expect(await messages(policy, lab)).toEqual([
      "disk-nbd-attach: delete hook is not the in-guest ssh wrapper (lib/hooks/in-guest.sh), so it would run on the host",
    ]);
  });

  it("fails a wrapper without a guest domain or pinned host key", async () => {
    const values = { IMAGE_SPEC: "json:{}" };
    resource(lab, "disk-nbd-attach").props.delete = await inGuestText(hookFile("nbd-attachment", "guest-detach.sh"), values, "succeed", {
      ...CONNECTION,
      domainName: "",
    });
    resource(lab, "disk-nbd-attach").props.create = await inGuestText(hookFile("nbd-attachment", "guest-detach.sh"), values, "fail", {
      ...CONNECTION,
      knownHostsPath: "",
    });
    expect(await messages(policy, lab)).toEqual([
      "disk-nbd-attach: create hook runs the in-guest wrapper without a pinned host key (GUEST_KNOWN_HOSTS)",
      "disk-nbd-attach: delete hook runs the in-guest wrapper without a GUEST_DOMAIN",
    ]);
  });

  it("fails a remote command, which cannot pin the host key", async () => {
    Object.assign(resource(lab, "disk-p1-mount"), { type: "command:remote:Command" });
    expect(await messages(policy, lab)).toEqual([
      "disk-p1-mount: command:remote:Command cannot pin the guest's host key: use a local command running lib/hooks/in-guest.sh",
    ]);
  });
});

describe("evidence-guest-in-stack", () => {
  const policy = evidenceGuestInStack;

  it("passes the safe lab", async () => {
    expect(await messages(policy, lab)).toEqual([]);
  });

  it("fails an in-guest hook aimed at a domain this stack does not define", async () => {
    const other = { ...CONNECTION, domainName: "forensic-other" };
    resource(lab, "disk-p1-mount").props.create = await inGuestText(
      hookFile("partition-mount", "guest-umount.sh"),
      { MOUNT_POINT: "/m" },
      "fail",
      other,
    );
    expect(await messages(policy, lab)).toEqual([
      "disk-p1-mount: create hook runs in guest domain 'forensic-other', which no AnalysisGuest in this stack defines (defined: 'forensic-case-42')",
    ]);
  });

  it("fails a component whose guest input names another domain", async () => {
    resource(lab, "disk-nbd").props.guest = { ...CONNECTION, domainName: "forensic-other" };
    expect(await messages(policy, lab)).toEqual([
      "disk-nbd: guest names domain 'forensic-other', which no AnalysisGuest in this stack defines (defined: 'forensic-case-42')",
    ]);
  });

  it("fails in-guest hooks in a stack without any AnalysisGuest", async () => {
    lab = lab.filter((r) => !r.name.startsWith("case-42-guest"));
    const found = await messages(policy, lab);
    expect(found).toContain(
      "disk-nbd-attach: create hook runs in guest domain 'forensic-case-42', which no AnalysisGuest in this stack defines (defined: none)",
    );
    expect(found).toContain("disk-p1: guest names domain 'forensic-case-42', which no AnalysisGuest in this stack defines (defined: none)");
    expect(found).toHaveLength(6);
  });

  it("fails a guest whose commands carry no domain XML", async () => {
    resource(lab, "case-42-guest-domain").props.create = renderHook(hookFile("analysis-guest", "host-delete.sh"), { DOMAIN_NAME: DOMAIN });
    const found = await messages(policy, lab);
    expect(found[0]).toBe(
      "case-42-guest: none of its commands carries a libvirt domain XML, so neither its domain name nor its isolation can be checked",
    );
  });

  it("waits while a guest's text is unknown (preview)", async () => {
    Object.assign(resource(lab, "case-42-guest-domain"), { unknownKeys: ["create", "delete"] });
    expect(await messages(policy, lab)).toEqual([]);
  });
});

describe("guest-isolated", () => {
  const policy = guestIsolated;

  it("passes the safe lab, and the libvirt-isolated variant of the real domain XML", async () => {
    expect(await messages(policy, lab)).toEqual([]);
    resource(lab, "case-42-guest").props.network = "libvirt-isolated";
    guestWithXml(() => domainXml({ ...DOMAIN_SPEC, network: { mode: "libvirt-isolated", networkName: "forensic-isolated" } }, "kvm"));
    expect(await messages(policy, lab)).toEqual([]);
  });

  it("fails a network with a way out and host shares", async () => {
    Object.assign(resource(lab, "case-42-guest").props, { network: "bridged", hostShares: [{ hostPath: "/srv/evidence", tag: "ev" }] });
    expect(await messages(policy, lab)).toEqual([
      `case-42-guest: network must be one of 'user-restricted', 'libvirt-isolated', got "bridged": any other network gives malware in the evidence a path out`,
      `case-42-guest: hostShares must be empty, got [{"hostPath":"/srv/evidence","tag":"ev"}]: host files reach the guest only through ImageTransfer`,
    ]);
  });

  it.each([
    [
      "a host folder share",
      (x: string) => x.replace("</devices>", '<filesystem type="mount"><source dir="/srv"/><target dir="srv"/></filesystem></devices>'),
      "domain XML shares a host folder (<filesystem>)",
    ],
    [
      "a bridged interface",
      (x: string) => x.replace("</devices>", '<interface type="bridge"><source bridge="br0"/></interface></devices>'),
      "domain XML gives the guest a 'bridge' <interface>, a path to the host's networks",
    ],
    [
      "libvirt user networking",
      (x: string) => x.replace("</devices>", '<interface type="user"/></devices>'),
      "domain XML has a libvirt user-mode <interface>, which cannot set restrict=on",
    ],
    [
      "restrict=off",
      (x: string) => x.replace("restrict=on", "restrict=off"),
      "domain XML's qemu:commandline -netdev user without restrict=on lets the guest reach the host and beyond",
    ],
    [
      "no restrict at all",
      (x: string) => x.replace("restrict=on,", ""),
      "domain XML's qemu:commandline -netdev user without restrict=on lets the guest reach the host and beyond",
    ],
    [
      "ssh forwarded on every address",
      (x: string) => x.replace("hostfwd=tcp:127.0.0.1:", "hostfwd=tcp::"),
      "domain XML's qemu:commandline hostfwd=tcp::2222-:22 listens on every address, not loopback",
    ],
    [
      "a second, unrestricted netdev",
      (x: string) => x.replace("</qemu:commandline>", '<qemu:arg value="-netdev"/><qemu:arg value="user,id=out"/></qemu:commandline>'),
      "domain XML's qemu:commandline -netdev user without restrict=on lets the guest reach the host and beyond",
    ],
    [
      "a tap netdev",
      (x: string) =>
        x.replace("</qemu:commandline>", '<qemu:arg value="-netdev"/><qemu:arg value="tap,id=t0,ifname=tap0"/></qemu:commandline>'),
      "domain XML's qemu:commandline -netdev tap connects the guest to a host network",
    ],
    [
      "a VNC console on 0.0.0.0",
      (x: string) => x.replace("</devices>", '<graphics type="vnc" port="-1" listen="0.0.0.0"/></devices>'),
      "domain XML's vnc console listens on 0.0.0.0, not loopback",
    ],
    [
      "a PCI device passed through",
      (x: string) => x.replace("</devices>", '<hostdev mode="subsystem" type="pci"/></devices>'),
      "domain XML passes a host device through (<hostdev>)",
    ],
    [
      "XML that does not parse",
      (x: string) => x.replace("</name>", "</nam>"),
      "domain XML does not parse (<name> closed by </nam>), so its isolation cannot be checked",
    ],
    [
      "a host block device",
      (x: string) =>
        x.replace(
          "</devices>",
          '<disk type="block" device="disk"><source dev="/dev/sda"/><target dev="vdz" bus="virtio"/></disk></devices>',
        ),
      "domain XML passes the host block device '/dev/sda' to the guest (<disk type='block'>), which is not the lab's evidence volume",
    ],
    [
      "a second block disk posing as the evidence volume",
      (x: string) =>
        x.replace(
          "</devices>",
          '<disk type="block" device="disk"><source dev="/dev/mapper/other"/><target dev="vdy" bus="virtio"/><serial>forensic-evidence</serial></disk><disk type="block" device="disk"><source dev="/dev/mapper/case-42"/><target dev="vdz" bus="virtio"/><serial>forensic-evidence</serial></disk></devices>',
        ),
      "domain XML passes the host block device '/dev/mapper/case-42' to the guest (<disk type='block'>), which is not the lab's evidence volume",
    ],
    [
      "a network disk",
      (x: string) =>
        x.replace(
          "</devices>",
          '<disk type="network" device="disk"><source protocol="nbd" name="x"><host name="10.0.0.1"/></source><target dev="vdz" bus="virtio"/></disk></devices>',
        ),
      "domain XML gives the guest a 'network' <disk>, host storage other than the lab's files",
    ],
    [
      "a SCSI LUN passed through",
      (x: string) =>
        x.replace("</devices>", '<disk type="file" device="lun"><source file="/tmp/x"/><target dev="sda" bus="scsi"/></disk></devices>'),
      "domain XML passes a host SCSI device through (<disk device='lun'>)",
    ],
    [
      "a unix-socket serial",
      (x: string) =>
        x.replace("</devices>", '<serial type="unix"><source mode="bind" path="/run/forensic.sock"/><target port="1"/></serial></devices>'),
      "domain XML's serial is a 'unix' device on the host's /run/forensic.sock, a path to the host",
    ],
    [
      "a host tty console",
      (x: string) => x.replace("</devices>", '<console type="dev"><source path="/dev/ttyS0"/></console></devices>'),
      "domain XML's console is a 'dev' device on the host's /dev/ttyS0, a path to the host",
    ],
    [
      "a guest-agent channel",
      (x: string) =>
        x.replace("</devices>", '<channel type="unix"><target type="virtio" name="org.qemu.guest_agent.0"/></channel></devices>'),
      "domain XML gives the guest a channel to the host (<channel>)",
    ],
    [
      "a vsock",
      (x: string) => x.replace("</devices>", '<vsock model="virtio"><cid auto="yes"/></vsock></devices>'),
      "domain XML gives the guest a socket to the host (<vsock>)",
    ],
    [
      "shared memory",
      (x: string) =>
        x.replace("</devices>", '<shmem name="ivshmem"><model type="ivshmem-plain"/><size unit="M">4</size></shmem></devices>'),
      "domain XML shares host memory with the guest (<shmem>)",
    ],
    [
      "shared memory backing",
      (x: string) => x.replace("<vcpu>", "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking><vcpu>"),
      "domain XML shares the guest's memory with the host (<memoryBacking><access mode='shared'/>)",
    ],
    [
      "a redirected USB device",
      (x: string) => x.replace("</devices>", '<redirdev bus="usb" type="spicevmc"/></devices>'),
      "domain XML redirects a host USB device (<redirdev>)",
    ],
    [
      "a smartcard",
      (x: string) => x.replace("</devices>", '<smartcard mode="passthrough" type="spicevmc"/></devices>'),
      "domain XML passes the host's smartcard through (<smartcard>)",
    ],
    [
      "a TPM passed through",
      (x: string) =>
        x.replace("</devices>", '<tpm model="tpm-tis"><backend type="passthrough"><device path="/dev/tpm0"/></backend></tpm></devices>'),
      "domain XML passes the host's TPM through (<tpm> backend 'passthrough')",
    ],
    [
      "a direct (macvtap) interface",
      (x: string) => x.replace("</devices>", '<interface type="direct"><source dev="eth0" mode="bridge"/></interface></devices>'),
      "domain XML gives the guest a 'direct' <interface>, a path to the host's networks",
    ],
    [
      "a vsock device on the command line",
      (x: string) =>
        x.replace("</qemu:commandline>", '<qemu:arg value="-device"/><qemu:arg value="vhost-vsock-pci,guest-cid=3"/></qemu:commandline>'),
      "domain XML's qemu:commandline -device vhost-vsock-pci gives the guest host files or devices",
    ],
    [
      "a unix chardev on the command line",
      (x: string) =>
        x.replace(
          "</qemu:commandline>",
          '<qemu:arg value="-chardev"/><qemu:arg value="socket,id=c,path=/run/x.sock,server=on"/></qemu:commandline>',
        ),
      "domain XML's qemu:commandline -chardev socket is a path to the host (/run/x.sock)",
    ],
    [
      "shared memory on the command line",
      (x: string) =>
        x.replace(
          "</qemu:commandline>",
          '<qemu:arg value="-object"/><qemu:arg value="memory-backend-memfd,id=m,size=2G,share=on"/></qemu:commandline>',
        ),
      "domain XML's qemu:commandline -object memory-backend-memfd shares the guest's memory with the host (share=on)",
    ],
    [
      "a host disk on the command line",
      (x: string) =>
        x.replace(
          "</qemu:commandline>",
          '<qemu:arg value="-drive"/><qemu:arg value="file=/dev/sda,format=raw,if=virtio"/></qemu:commandline>',
        ),
      "domain XML's qemu:commandline -drive file=/dev/sda passes a host block device through",
    ],
  ])("fails a domain with %s", async (_what, edit, problem) => {
    guestWithXml(edit);
    expect(await messages(policy, lab)).toEqual([`case-42-guest-domain: create hook: ${problem}`]);
  });

  it("passes the lab's own evidence volume as its one block disk", async () => {
    guestWithXml(() => domainXml({ ...DOMAIN_SPEC, evidenceDisk: { path: "/dev/mapper/case-42", type: "block" } }, "kvm"));
    expect(await messages(policy, lab)).toEqual([]);
  });

  it("fails a libvirt network that forwards", async () => {
    const file = path.join(dir, "net-define.sh");
    fs.writeFileSync(file, '#!/usr/bin/env bash\nset -euo pipefail\nvirsh net-define /dev/stdin <<<"$NETWORK_XML"\n');
    lab.push({
      type: "command:local:Command",
      name: "case-42-guest-network",
      parent: "case-42-guest",
      props: {
        create: renderHook(file, { NETWORK_XML: "<network><name>forensic</name><forward mode='nat'/><bridge name='virbr9'/></network>" }),
      },
    });
    expect(await messages(policy, lab)).toEqual([
      "case-42-guest-network: create hook: network XML forwards to the host's networks (<forward mode='nat'>)",
    ]);
  });

  it("reads qemu-system invocations in any command", async () => {
    lab.push({
      type: "command:local:Command",
      name: "stray-vm",
      parent: "case-42",
      props: {
        create: "qemu-system-x86_64 -m 1024 -netdev user,id=n,restrict=on,hostfwd=tcp:127.0.0.1:2200-:22 -virtfs local,path=/,mount_tag=h",
      },
    });
    expect(await messages(policy, lab)).toEqual(["stray-vm: create hook: qemu-system -virtfs shares a host folder"]);
  });
});
