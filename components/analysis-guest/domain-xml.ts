import { create } from "xmlbuilder2";
import type { XMLBuilder } from "xmlbuilder2/lib/interfaces";

/** How QEMU runs the guest: hardware virtualisation, or multi-threaded software emulation (TCG). */
export type Accelerator = "kvm" | "tcg";

export type GuestNetwork =
  /** QEMU user networking, `restrict=on`: the only way in or out is one forward of the host's loopback. */
  | { readonly mode: "user-restricted"; readonly sshPort: number }
  /** A libvirt network that must have no `<forward>` (the create hook checks). */
  | { readonly mode: "libvirt-isolated"; readonly networkName: string };

export interface DiskSpec {
  readonly path: string;
  readonly type: "file" | "block";
}

export interface ExtraDiskSpec extends DiskSpec {
  /** virtio serial: the disk shows up in the guest as `/dev/disk/by-id/virtio-<serial>`. */
  readonly serial: string;
  readonly format: "raw" | "qcow2";
  readonly readOnly: boolean;
}

/** Everything the domain definition says, as plain values (paths are on the libvirt host). */
export interface DomainSpec {
  readonly name: string;
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly kernelPath: string;
  readonly initrdPath: string;
  readonly cmdline: string;
  /** Per-case qcow2 overlay over the read-only base image. */
  readonly overlayPath: string;
  /** Per-case seed disk (ssh keys), attached read-only. */
  readonly seedPath: string;
  /** The serial console is logged here (by virtlogd), for boot diagnostics. */
  readonly consoleLogPath: string;
  readonly evidenceDisk?: DiskSpec;
  readonly extraDisks?: readonly ExtraDiskSpec[];
  readonly network: GuestNetwork;
}

export const SEED_SERIAL = "forensic-seed";
export const EVIDENCE_SERIAL = "forensic-evidence";
/** The guest's static address (set in the image); QEMU's user network is 10.0.2.0/24 too. */
export const GUEST_ADDRESS = "10.0.2.15";
export const GUEST_NETWORK_CIDR = "10.0.2.0/24";
const QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0";
// q35 has no free slot 1 for a -device added behind libvirt's back: give the NIC a fixed address.
const NIC_PCI_ADDRESS = "bus=pcie.0,addr=0x10";
const SERIAL = /^[A-Za-z0-9_.+-]{1,20}$/;

/**
 * xmlbuilder2 escapes `<`, `>` and quotes but leaves an `&` alone when it starts something entity-like
 * (`&amp;`, `&lt;`), so a path holding `&lt;` would reach libvirt as `<`. Every value goes through
 * here first: an `&` made `&amp;` is then written as is and read back as the `&` it was.
 */
function x(value: string): string {
  return value.replace(/&/g, "&amp;");
}
function xattrs(attributes: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, x(v)]));
}

/** `restrict=on` isolates the guest; the one forward listens on the libvirt host's loopback only. */
export function userNetdev(sshPort: number): string {
  return `user,id=forensicnet,net=${GUEST_NETWORK_CIDR},ipv6=off,restrict=on,hostfwd=tcp:127.0.0.1:${sshPort}-:22`;
}

/**
 * The libvirt domain XML of an analysis guest. Pure: the create hook picks the `kvm` or `tcg` variant
 * on the libvirt host. What is absent matters as much as what is present: no graphics, video, sound,
 * USB, channels, guest agent, filesystem shares or balloon; `<seclabel>` is left to libvirt's default.
 */
export function domainXml(spec: DomainSpec, accelerator: Accelerator): string {
  const doc = create({ version: "1.0" });
  const domain = doc.ele("domain", { type: accelerator === "kvm" ? "kvm" : "qemu", "xmlns:qemu": QEMU_NS });
  domain.ele("name").txt(x(spec.name));
  domain.ele("description").txt("forensic-lab analysis guest: evidence is examined read-only inside");
  domain.ele("memory", { unit: "MiB" }).txt(String(spec.memoryMiB));
  domain.ele("vcpu").txt(String(spec.vcpus));

  const os = domain.ele("os");
  os.ele("type", { arch: "x86_64", machine: "q35" }).txt("hvm");
  os.ele("kernel").txt(x(spec.kernelPath));
  os.ele("initrd").txt(x(spec.initrdPath));
  os.ele("cmdline").txt(x(spec.cmdline));

  const features = domain.ele("features");
  features.ele("acpi");
  features.ele("apic");
  features.ele("vmport", { state: "off" });
  if (accelerator === "kvm") domain.ele("cpu", { mode: "host-passthrough", check: "none" });
  domain.ele("clock", { offset: "utc" });
  domain.ele("on_poweroff").txt("destroy");
  domain.ele("on_reboot").txt("restart");
  domain.ele("on_crash").txt("destroy");
  const pm = domain.ele("pm");
  pm.ele("suspend-to-mem", { enabled: "no" });
  pm.ele("suspend-to-disk", { enabled: "no" });

  const devices = domain.ele("devices");
  const targets = diskTargets();
  addDisk(devices, targets.next().value, { path: spec.overlayPath, type: "file" }, { format: "qcow2" });
  addDisk(
    devices,
    targets.next().value,
    { path: spec.seedPath, type: "file" },
    {
      format: "raw",
      serial: SEED_SERIAL,
      readOnly: true,
    },
  );
  if (spec.evidenceDisk) {
    // cache=none: the evidence volume's data bypasses the host page cache (O_DIRECT; the hook checks).
    addDisk(devices, targets.next().value, spec.evidenceDisk, { format: "raw", serial: EVIDENCE_SERIAL, cache: "none" });
  }
  for (const disk of spec.extraDisks ?? []) {
    addDisk(devices, targets.next().value, disk, { format: disk.format, serial: disk.serial, readOnly: disk.readOnly });
  }
  devices.ele("controller", { type: "usb", model: "none" });
  if (spec.network.mode === "libvirt-isolated") {
    const nic = devices.ele("interface", { type: "network" });
    nic.ele("source", xattrs({ network: spec.network.networkName }));
    nic.ele("model", { type: "virtio" });
  }
  const serial = devices.ele("serial", { type: "pty" });
  serial.ele("log", xattrs({ file: spec.consoleLogPath, append: "off" }));
  serial.ele("target", { port: "0" });
  devices.ele("console", { type: "pty" }).ele("target", { type: "serial", port: "0" });
  devices.ele("memballoon", { model: "none" });

  if (spec.network.mode === "user-restricted") {
    const commandline = domain.ele(QEMU_NS, "qemu:commandline");
    for (const arg of ["-netdev", userNetdev(spec.network.sshPort), "-device", `virtio-net-pci,netdev=forensicnet,${NIC_PCI_ADDRESS}`]) {
      commandline.ele(QEMU_NS, "qemu:arg", xattrs({ value: arg }));
    }
  }
  return doc.end({ prettyPrint: true });
}

function* diskTargets(): Generator<string, string> {
  for (let i = 0; i < 26; i++) yield `vd${String.fromCharCode(97 + i)}`;
  throw new Error("a guest takes at most 26 virtio disks");
}

function addDisk(
  devices: XMLBuilder,
  target: string,
  disk: DiskSpec,
  options: { format: "raw" | "qcow2"; serial?: string; readOnly?: boolean; cache?: "none" },
): void {
  if (options.serial !== undefined && !SERIAL.test(options.serial)) {
    throw new Error(`disk serial '${options.serial}' must be 1-20 of [A-Za-z0-9_.+-]`);
  }
  const element = devices.ele("disk", { type: disk.type, device: "disk" });
  element.ele("driver", { name: "qemu", type: options.format, ...(options.cache ? { cache: options.cache } : {}) });
  element.ele("source", xattrs(disk.type === "file" ? { file: disk.path } : { dev: disk.path }));
  element.ele("target", { dev: target, bus: "virtio" });
  if (options.readOnly) element.ele("readonly");
  if (options.serial !== undefined) element.ele("serial").txt(x(options.serial));
}
