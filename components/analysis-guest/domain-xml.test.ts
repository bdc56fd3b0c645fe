import type { Element } from "@oozcitak/dom/lib/dom/interfaces";
import { create } from "xmlbuilder2";
import { domainXml, DomainSpec, userNetdev } from "./domain-xml";

const QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0";

const spec: DomainSpec = {
  name: "forensic-case-42",
  memoryMiB: 2048,
  vcpus: 2,
  kernelPath: "/var/lib/forensic-lab/cases/case-42/disks/vmlinuz",
  initrdPath: "/var/lib/forensic-lab/cases/case-42/disks/initrd.img",
  cmdline: "root=/dev/vda ro console=ttyS0",
  overlayPath: "/var/lib/forensic-lab/cases/case-42/disks/overlay.qcow2",
  seedPath: "/var/lib/forensic-lab/cases/case-42/disks/seed.img",
  consoleLogPath: "/var/lib/forensic-lab/cases/case-42/disks/console.log",
  evidenceDisk: { path: "/dev/vg0/case-42", type: "block" },
  network: { mode: "user-restricted", sshPort: 22042 },
};

function parse(xml: string): Element {
  return create(xml).root().node as unknown as Element;
}
const all = (root: Element, tag: string) => Array.from(root.getElementsByTagName(tag)) as Element[];
const one = (root: Element, tag: string) => {
  const found = all(root, tag);
  if (found.length !== 1) throw new Error(`expected one <${tag}>, found ${found.length}`);
  return found[0]!;
};
const disks = (root: Element) =>
  all(root, "disk").map((d: Element) => ({
    type: d.getAttribute("type"),
    source: one(d, "source").getAttribute(d.getAttribute("type") === "file" ? "file" : "dev"),
    format: one(d, "driver").getAttribute("type"),
    cache: one(d, "driver").getAttribute("cache"),
    target: one(d, "target").getAttribute("dev"),
    bus: one(d, "target").getAttribute("bus"),
    readOnly: all(d, "readonly").length === 1,
    serial: all(d, "serial")[0]?.textContent ?? null,
  }));
const qemuArgs = (root: Element) =>
  (Array.from(root.getElementsByTagNameNS(QEMU_NS, "arg")) as Element[]).map((a) => a.getAttribute("value"));

describe("domainXml", () => {
  const tcg = parse(domainXml(spec, "tcg"));
  const kvm = parse(domainXml(spec, "kvm"));

  test("tcg runs as a qemu domain without a host CPU model; kvm as a kvm domain with host-passthrough", () => {
    expect(tcg.getAttribute("type")).toBe("qemu");
    expect(all(tcg, "cpu")).toHaveLength(0);
    expect(kvm.getAttribute("type")).toBe("kvm");
    expect(one(kvm, "cpu").getAttribute("mode")).toBe("host-passthrough");
    // Nothing else differs between the variants.
    const strip = (x: string) => x.replace(/<domain type="[a-z]+"/, "<domain").replace(/\s*<cpu [^>]*\/>/, "");
    expect(strip(domainXml(spec, "kvm"))).toBe(strip(domainXml(spec, "tcg")));
  });

  test("q35, direct kernel boot from the case's kernel copy, crash destroys", () => {
    expect(one(tcg, "name").textContent).toBe("forensic-case-42");
    expect(one(tcg, "type").getAttribute("machine")).toBe("q35");
    expect(one(tcg, "kernel").textContent).toBe(spec.kernelPath);
    expect(one(tcg, "initrd").textContent).toBe(spec.initrdPath);
    expect(one(tcg, "cmdline").textContent).toBe(spec.cmdline);
    expect(one(tcg, "memory").getAttribute("unit")).toBe("MiB");
    expect(one(tcg, "memory").textContent).toBe("2048");
    expect(one(tcg, "vcpu").textContent).toBe("2");
    expect(one(tcg, "on_crash").textContent).toBe("destroy");
    expect(all(tcg, "boot")).toHaveLength(0);
  });

  test("root overlay, read-only seed, evidence with cache=none and its serial", () => {
    expect(disks(tcg)).toEqual([
      { type: "file", source: spec.overlayPath, format: "qcow2", cache: null, target: "vda", bus: "virtio", readOnly: false, serial: null },
      {
        type: "file",
        source: spec.seedPath,
        format: "raw",
        cache: null,
        target: "vdb",
        bus: "virtio",
        readOnly: true,
        serial: "forensic-seed",
      },
      {
        type: "block",
        source: "/dev/vg0/case-42",
        format: "raw",
        cache: "none",
        target: "vdc",
        bus: "virtio",
        readOnly: false,
        serial: "forensic-evidence",
      },
    ]);
    const fileEvidence = parse(domainXml({ ...spec, evidenceDisk: { path: "/srv/case-42.luks", type: "file" } }, "tcg"));
    expect(disks(fileEvidence)[2]).toMatchObject({ type: "file", source: "/srv/case-42.luks", cache: "none" });
    expect(disks(parse(domainXml({ ...spec, evidenceDisk: undefined }, "tcg")))).toHaveLength(2);
  });

  test("extra disks follow, each with its serial and read-only flag", () => {
    const x = parse(
      domainXml(
        {
          ...spec,
          extraDisks: [
            { path: "/tmp/a.qcow2", type: "file", format: "qcow2", serial: "extra-a", readOnly: true },
            { path: "/dev/loop7", type: "block", format: "raw", serial: "extra-b", readOnly: false },
          ],
        },
        "tcg",
      ),
    );
    expect(disks(x).slice(3)).toEqual([
      {
        type: "file",
        source: "/tmp/a.qcow2",
        format: "qcow2",
        cache: null,
        target: "vdd",
        bus: "virtio",
        readOnly: true,
        serial: "extra-a",
      },
      { type: "block", source: "/dev/loop7", format: "raw", cache: null, target: "vde", bus: "virtio", readOnly: false, serial: "extra-b" },
    ]);
    expect(() =>
      domainXml({ ...spec, extraDisks: [{ path: "/x", type: "file", format: "raw", serial: "bad serial!", readOnly: true }] }, "tcg"),
    ).toThrow(/serial 'bad serial!'/);
  });

  test("no graphics, video, sound, USB, channels, guest agent, shares, host devices, balloon or seclabel", () => {
    for (const root of [tcg, kvm]) {
      for (const tag of [
        "graphics",
        "video",
        "sound",
        "audio",
        "redirdev",
        "channel",
        "filesystem",
        "hostdev",
        "smartcard",
        "tpm",
        "seclabel",
        "shmem",
        "rng",
        "input",
        "watchdog",
      ]) {
        expect({ tag, count: all(root, tag).length }).toEqual({ tag, count: 0 });
      }
      const controllers = all(root, "controller");
      expect(controllers.map((c: Element) => [c.getAttribute("type"), c.getAttribute("model")])).toEqual([["usb", "none"]]);
      expect(one(root, "memballoon").getAttribute("model")).toBe("none");
    }
  });

  test("user-restricted: one restrict=on user netdev, forward on 127.0.0.1 only, NIC at a fixed PCI address", () => {
    expect(all(tcg, "interface")).toHaveLength(0);
    const args = qemuArgs(tcg);
    expect(args).toEqual([
      "-netdev",
      "user,id=forensicnet,net=10.0.2.0/24,ipv6=off,restrict=on,hostfwd=tcp:127.0.0.1:22042-:22",
      "-device",
      "virtio-net-pci,netdev=forensicnet,bus=pcie.0,addr=0x10",
    ]);
    const forwards = args.join(" ").match(/hostfwd=[^,\s]+/g);
    expect(forwards).toEqual(["hostfwd=tcp:127.0.0.1:22042-:22"]);
    expect(args.join(" ")).not.toMatch(/guestfwd|smb=|tftp=|bootfile=/);
    expect(userNetdev(40000)).toContain("restrict=on");
  });

  test("libvirt-isolated: a network interface, no qemu command line", () => {
    const x = parse(domainXml({ ...spec, network: { mode: "libvirt-isolated", networkName: "forensic-isolated" } }, "kvm"));
    const nic = one(x, "interface");
    expect(nic.getAttribute("type")).toBe("network");
    expect(one(nic, "source").getAttribute("network")).toBe("forensic-isolated");
    expect(one(nic, "model").getAttribute("type")).toBe("virtio");
    expect(x.getElementsByTagNameNS(QEMU_NS, "commandline")).toHaveLength(0);
  });

  test("the serial console is logged to the case folder", () => {
    const serial = one(one(tcg, "devices"), "log").parentNode as Element;
    expect(serial.nodeName).toBe("serial");
    expect(one(serial, "log").getAttribute("file")).toBe(spec.consoleLogPath);
  });

  test("values are escaped by the XML builder, never spliced", () => {
    const evil = "/tmp/x'\"><hostdev mode='subsystem'/><disk a='&amp; &lt;b&#62; & c";
    const xml = domainXml({ ...spec, overlayPath: evil, kernelPath: evil }, "tcg");
    const x = parse(xml);
    expect(all(x, "hostdev")).toHaveLength(0);
    expect(all(x, "disk")).toHaveLength(3);
    // Decoded by the XML rules (xmlbuilder2's own parser decodes `&amp;#62;` twice), the text is the path.
    const decode = (s: string) =>
      s.replace(/&(amp|lt|gt|quot|apos|#[0-9]+);/g, (_, e: string) =>
        e.startsWith("#") ? String.fromCharCode(Number(e.slice(1))) : { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }[e]!,
      );
    expect(decode(/<kernel>([^<]*)<\/kernel>/.exec(xml)![1])).toBe(evil);
    expect(decode(/<source file="([^"]*)"/.exec(xml)![1])).toBe(evil);
  });
});
