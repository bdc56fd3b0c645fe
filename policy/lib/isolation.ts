import { EVIDENCE_SERIAL } from "../../components/analysis-guest/domain-xml";
import { isLoopback } from "./checks";
import { contentTexts, invocationsIn } from "./shell-text";
import { XmlElement, embeddedDocuments, findAll, parseXml } from "./xml";

/**
 * What makes a guest that reads hostile disk images unsafe: a path out (any network but QEMU user
 * networking with restrict=on, or an isolated libvirt network), a way in other than the loopback ssh
 * forward (listening consoles, non-loopback hostfwd), or host files and devices inside it (shared
 * folders, passthrough). Read from the libvirt domain/network XML and the QEMU arguments in hook text.
 */

const SHARES: Readonly<Record<string, string>> = {
  filesystem: "shares a host folder (<filesystem>)",
  hostdev: "passes a host device through (<hostdev>)",
  redirdev: "redirects a host USB device (<redirdev>)",
  smartcard: "passes the host's smartcard through (<smartcard>)",
  vsock: "gives the guest a socket to the host (<vsock>)",
  shmem: "shares host memory with the guest (<shmem>)",
  channel: "gives the guest a channel to the host (<channel>)",
};

/**
 * Character devices the lab's guest may have: a pty (the serial console, logged by virtlogd), a file
 * (output only), null. A unix socket, host tty (`dev`), pipe or SPICE channel is a path to the host;
 * tcp and udp are checked for loopback below.
 */
const CHARDEV_TYPES = new Set(["pty", "file", "null", "vc", "stdio", "tcp", "udp"]);

/** Disk kinds with only host files behind them; the lab's evidence volume is the one block disk. */
const DISK_TYPES = new Set(["file", "block"]);
const LAB_VOLUME = /^\/dev\/mapper\/[A-Za-z0-9_.+-]+$/;

const LISTENING_DEVICES = ["serial", "console", "channel", "parallel"];

/** Problems with one parsed `<domain>`. */
export function domainProblems(domain: XmlElement): string[] {
  const problems: string[] = [];
  for (const [element, problem] of Object.entries(SHARES)) {
    if (findAll(domain, element).length > 0) problems.push(`domain XML ${problem}`);
  }
  let labVolumes = 0;
  for (const disk of findAll(domain, "disk")) {
    const type = disk.attributes.type ?? "file";
    const source = disk.children.find((c) => c.name === "source");
    const serial = disk.children.find((c) => c.name === "serial")?.text.trim();
    if (!DISK_TYPES.has(type)) problems.push(`domain XML gives the guest a '${type}' <disk>, host storage other than the lab's files`);
    else if (disk.attributes.device === "lun") problems.push("domain XML passes a host SCSI device through (<disk device='lun'>)");
    else if (type === "block") {
      const dev = source?.attributes.dev ?? "";
      // The EvidenceVolume's LUKS mapping, attached with the evidence serial: the lab's own volume.
      if (serial !== EVIDENCE_SERIAL || !LAB_VOLUME.test(dev) || ++labVolumes > 1) {
        problems.push(
          `domain XML passes the host block device '${dev}' to the guest (<disk type='block'>), which is not the lab's evidence volume`,
        );
      }
    }
  }
  for (const tpm of findAll(domain, "tpm")) {
    const backend = tpm.children.find((c) => c.name === "backend")?.attributes.type ?? "";
    if (backend !== "emulator") problems.push(`domain XML passes the host's TPM through (<tpm> backend '${backend}')`);
  }
  for (const backing of findAll(domain, "memoryBacking")) {
    if (backing.children.some((c) => c.name === "access" && c.attributes.mode === "shared")) {
      problems.push("domain XML shares the guest's memory with the host (<memoryBacking><access mode='shared'/>)");
    }
  }
  for (const name of LISTENING_DEVICES) {
    for (const device of findAll(domain, name)) {
      const type = device.attributes.type ?? "pty";
      if (name !== "channel" && !CHARDEV_TYPES.has(type)) {
        const path = device.children.find((c) => c.name === "source")?.attributes.path;
        problems.push(`domain XML's ${name} is a '${type}' device${path ? ` on the host's ${path}` : ""}, a path to the host`);
      }
    }
  }
  for (const nic of findAll(domain, "interface")) {
    const type = nic.attributes.type ?? "";
    if (type === "network") continue; // checked through the network's own XML (no <forward>)
    if (type === "user") problems.push("domain XML has a libvirt user-mode <interface>, which cannot set restrict=on");
    else problems.push(`domain XML gives the guest a '${type}' <interface>, a path to the host's networks`);
  }
  for (const graphics of findAll(domain, "graphics")) {
    const addresses = [
      graphics.attributes.listen,
      ...graphics.children.filter((c) => c.name === "listen").map((l) => l.attributes.address),
    ];
    const network = graphics.children.some((c) => c.name === "listen" && c.attributes.type === "network");
    const exposed = addresses.filter((a): a is string => a !== undefined && !isLoopback(a));
    if (network || exposed.length > 0) {
      problems.push(
        `domain XML's ${graphics.attributes.type ?? ""} console listens on ${network ? "a libvirt network" : exposed[0]}, not loopback`,
      );
    }
  }
  for (const name of LISTENING_DEVICES) {
    for (const device of findAll(domain, name)) {
      const type = device.attributes.type;
      if (type !== "tcp" && type !== "udp") continue;
      for (const source of device.children.filter((c) => c.name === "source")) {
        const host = source.attributes.host;
        if (host === undefined || !isLoopback(host)) {
          problems.push(`domain XML's ${name} is a ${type} socket on ${host ?? "every address"}, not loopback`);
        }
      }
    }
  }
  const qemuArgs = findAll(domain, "qemu:arg").map((a) => a.attributes.value ?? "");
  problems.push(...qemuArgProblems(qemuArgs).map((p) => `domain XML's qemu:commandline ${p}`));
  return problems;
}

/** An isolated libvirt network has no `<forward>`: the guest reaches nothing beyond the bridge. */
export function networkProblems(network: XmlElement): string[] {
  const forward = findAll(network, "forward");
  if (forward.length === 0) return [];
  return [`network XML forwards to the host's networks (<forward mode='${forward[0].attributes.mode ?? "nat"}'>)`];
}

function keyValues(value: string): { type: string; options: Map<string, string[]> } {
  const [type, ...rest] = value.split(",");
  const options = new Map<string, string[]>();
  for (const item of rest) {
    const eq = item.indexOf("=");
    const key = eq < 0 ? item : item.slice(0, eq);
    options.set(key, [...(options.get(key) ?? []), eq < 0 ? "on" : item.slice(eq + 1)]);
  }
  return { type, options };
}

const ON = new Set(["on", "yes", "true"]);

function userNetProblems(option: string, options: Map<string, string[]>): string[] {
  const problems: string[] = [];
  const restrict = options.get("restrict") ?? [];
  if (restrict.length === 0 || !restrict.every((r) => ON.has(r))) {
    problems.push(`${option} user without restrict=on lets the guest reach the host and beyond`);
  }
  for (const forward of options.get("hostfwd") ?? []) {
    // hostfwd=[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport; an empty hostaddr is every address.
    const address = forward.split(":")[1] ?? "";
    if (!isLoopback(address)) problems.push(`hostfwd=${forward} listens on ${address === "" ? "every address" : address}, not loopback`);
  }
  if (options.has("guestfwd")) problems.push(`${option} user has guestfwd, a path from the guest to the host`);
  if (options.has("smb")) problems.push(`${option} user shares a host folder over smb=`);
  if (options.has("tftp")) problems.push(`${option} user serves a host folder over tftp=`);
  return problems;
}

/** Problems in a QEMU argument list (from `<qemu:commandline>` or a `qemu-system-*` invocation). */
export function qemuArgProblems(args: readonly string[]): string[] {
  const problems: string[] = [];
  for (let k = 0; k < args.length; k++) {
    const option = args[k].replace(/^--/, "-");
    const value = args[k + 1] ?? "";
    if (option === "-netdev" || option === "-nic" || option === "-net") {
      const { type, options } = keyValues(value);
      if (option === "-net" && type === "nic") continue;
      if (type === "user") problems.push(...userNetProblems(option, options));
      else if (type !== "none") problems.push(`${option} ${type} connects the guest to a host network`);
    } else if (option === "-virtfs" || option === "-fsdev") {
      problems.push(`${option} shares a host folder`);
    } else if (
      option === "-device" &&
      /^(vfio|virtio-9p|vhost-user|vhost-vsock|vhost-scsi|usb-host|usb-redir|pci-assign|ivshmem|virtio-vsock|tpm-(tis|crb)-passthrough|ccid-card-passthru|scsi-generic|scsi-block)/.test(
        value,
      )
    ) {
      problems.push(`-device ${value.split(",")[0]} gives the guest host files or devices`);
    } else if (option === "-vnc" || option === "-spice") {
      const host =
        option === "-vnc" ? value.split(",")[0].replace(/:\d+$/, "") : (keyValues(`spice,${value}`).options.get("addr")?.[0] ?? "");
      if (!value.startsWith("unix:") && value !== "none" && !isLoopback(host)) {
        problems.push(`${option} ${value} listens on ${host === "" ? "every address" : host}, not loopback`);
      }
    } else if (option === "-chardev") {
      const { type, options } = keyValues(value);
      const host = options.get("host")?.[0] ?? "";
      if ((type === "socket" && options.has("port")) || type === "udp") {
        if (!isLoopback(host)) problems.push(`-chardev ${type} listens on ${host === "" ? "every address" : host}, not loopback`);
      } else if (
        type === "socket" ||
        ["pipe", "serial", "tty", "parallel", "parport", "spicevmc", "spiceport", "qemu-vdagent", "dbus"].includes(type)
      ) {
        problems.push(`-chardev ${type} is a path to the host${options.has("path") ? ` (${options.get("path")![0]})` : ""}`);
      }
    } else if (option === "-object" && /^memory-backend-(file|memfd|shm)\b/.test(value) && /(^|,)share=(on|yes|true)(,|$)/.test(value)) {
      problems.push(`-object ${value.split(",")[0]} shares the guest's memory with the host (share=on)`);
    } else if (option === "-tpmdev" && /^passthrough/.test(value)) {
      problems.push("-tpmdev passthrough passes the host's TPM through");
    } else if ((option === "-drive" || option === "-blockdev") && /(^|,)(file|filename)=\/dev\//.test(value)) {
      problems.push(`${option} ${value.split(",").find((o) => /^(file|filename)=/.test(o))} passes a host block device through`);
    } else if (["-serial", "-monitor", "-qmp", "-parallel"].includes(option) && /^(tcp|telnet|udp):/.test(value)) {
      const host = value.split(":")[1] ?? "";
      if (!isLoopback(host)) problems.push(`${option} ${value} listens on ${host === "" ? "every address" : host}, not loopback`);
    } else {
      continue;
    }
    k++;
  }
  return problems;
}

/**
 * Every isolation problem in a hook text: its embedded domain and network documents and its
 * `qemu-system-*` invocations. A document that does not parse is a problem: fail closed.
 */
export function isolationProblems(text: string): string[] {
  const problems: string[] = [];
  for (const content of contentTexts(text)) {
    for (const source of embeddedDocuments(content, "domain")) {
      try {
        problems.push(...domainProblems(parseXml(source)));
      } catch (err) {
        problems.push(`domain XML does not parse (${(err as Error).message}), so its isolation cannot be checked`);
      }
    }
    for (const source of embeddedDocuments(content, "network")) {
      try {
        problems.push(...networkProblems(parseXml(source)));
      } catch (err) {
        problems.push(`network XML does not parse (${(err as Error).message}), so its isolation cannot be checked`);
      }
    }
  }
  for (const invocation of invocationsIn(text)) {
    if (invocation.program.startsWith("qemu-system")) {
      problems.push(...qemuArgProblems(invocation.args.map((a) => a.text)).map((p) => `qemu-system ${p}`));
    }
  }
  return [...new Set(problems)];
}

/** Domain names (`<domain><name>`) in a hook text's embedded domain documents. */
export function domainNames(text: string): string[] {
  const names: string[] = [];
  for (const content of contentTexts(text)) {
    for (const source of embeddedDocuments(content, "domain")) {
      try {
        const domain = parseXml(source);
        const name = domain.children.find((c) => c.name === "name");
        if (name && name.text.trim() !== "") names.push(name.text.trim());
      } catch {
        // Reported by isolationProblems.
      }
    }
  }
  return names;
}
