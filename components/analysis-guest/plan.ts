import * as path from "path";
import { z } from "zod";
import { hookFile } from "../../lib/hook-file";
import { result } from "../../lib/hook-result";
import { GuestConnection, HookValue, renderHook, shellQuote } from "../../lib/shell";
import { sshOptions } from "../../lib/ssh-options";
import { Accelerator, DiskSpec, domainXml, DomainSpec, ExtraDiskSpec, GUEST_ADDRESS } from "./domain-xml";
import { libvirtTarget } from "../../lib/libvirt-uri";

export const CREATE_HOOK = hookFile("analysis-guest", "host-create.sh");
export const DELETE_HOOK = hookFile("analysis-guest", "host-delete.sh");
export const DETECT_ACCELERATOR_HOOK = hookFile("analysis-guest", "host-detect-accelerator.sh");

/** Where the create hook looks for KVM on the libvirt host. */
export const KVM_DEVICE = "/dev/kvm";
export const PVM_MODULE = "/sys/module/kvm_pvm";

/**
 * How long host-create.sh lets a booting kernel's stall warning stand without ssh before it resets the guest
 * once (and three times as long for a console gone silent). A stall that heals does so within seconds;
 * booting again takes about a minute under emulation.
 */
export const STALL_RESET_SECONDS = 60;

/** The guest's settings with every default applied; plain values (see `AnalysisGuestArgs` for meaning). */
export interface GuestSettings {
  readonly caseId: string;
  readonly stateDir: string;
  readonly imageDir: string;
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly sshPort: number;
  readonly accelerator: "auto" | Accelerator;
  readonly network: "user-restricted" | "libvirt-isolated";
  /** The libvirt network of `libvirt-isolated`; empty otherwise. */
  readonly isolatedNetwork: string;
  readonly libvirtUri: string;
  readonly bootTimeoutSeconds: number;
  /** Tests only: see STALL_RESET_SECONDS. */
  readonly stallResetSeconds?: number;
  readonly evidenceDisk?: DiskSpec;
  /** Further disks, for tests: the create hook attaches them like the evidence disk. */
  readonly extraDisks?: readonly ExtraDiskSpec[];
}

/** Everything the hooks and the component derive from the settings: names, paths, XML, connection. */
export interface GuestPlan {
  readonly domainName: string;
  readonly stateDir: string;
  readonly keysDir: string;
  readonly privateKeyPath: string;
  readonly hostKeyPath: string;
  readonly knownHostsPath: string;
  readonly disksDir: string;
  readonly domain: DomainSpec;
  readonly xml: Readonly<Record<Accelerator, string>>;
  /** The connection, less what only the create hook knows (the host key is in its result). */
  readonly connection: GuestConnection;
  readonly createValues: Readonly<Record<string, HookValue>>;
  readonly deleteValues: Readonly<Record<string, HookValue>>;
}

/** What the create hook prints after `FORENSIC_LAB_RESULT `. */
/** What host-create.sh prints (the last line of its stdout). */
export const guestCreateResultSchema = z.strictObject({
  domainName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/),
  outcome: z.enum(["created", "started", "running"]),
  accelerator: z.enum(["kvm", "tcg"]),
  hostKey: z.string().regex(/^ssh-ed25519 [A-Za-z0-9+/=]+$/, "must be an ssh-ed25519 public key"),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  user: z.string().min(1),
  privateKeyPath: result.absolutePath,
  knownHostsPath: result.absolutePath,
  jumpHost: z.string(),
  libvirtUri: z.string().min(1),
  bootSeconds: result.count,
});

export interface GuestCreateResult {
  readonly domainName: string;
  /** `created`, `started` (was defined but shut off) or `running` (left alone). */
  readonly outcome: "created" | "started" | "running";
  readonly accelerator: Accelerator;
  /** `ssh-ed25519 AAAA...`: the key the guest's sshd proved it holds. */
  readonly hostKey: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly privateKeyPath: string;
  readonly knownHostsPath: string;
  readonly jumpHost: string;
  readonly libvirtUri: string;
  /** Seconds from the hook's start until ssh answered. */
  readonly bootSeconds: number;
}

/** Kernel command line of every analysis guest: root straight on the virtio disk, console on serial. */
export const KERNEL_CMDLINE = "root=/dev/vda ro rootfstype=ext4 console=ttyS0 panic=-1";

export function domainNameFor(caseId: string): string {
  return `forensic-${caseId}`;
}

/** Pure: derives every name, path, XML variant and hook value from the settings. */
export function planGuest(settings: GuestSettings): GuestPlan {
  const target = libvirtTarget(settings.libvirtUri);
  const domainName = domainNameFor(settings.caseId);
  const stateDir = settings.stateDir;
  const keysDir = path.posix.join(stateDir, "keys");
  const disksDir = path.posix.join(stateDir, "disks");
  const privateKeyPath = path.posix.join(keysDir, "id_ed25519");
  const hostKeyPath = path.posix.join(keysDir, "ssh_host_ed25519_key");
  const knownHostsPath = path.posix.join(keysDir, "known_hosts");
  const isolated = settings.network === "libvirt-isolated";
  const domain: DomainSpec = {
    name: domainName,
    memoryMiB: settings.memoryMiB,
    vcpus: settings.vcpus,
    kernelPath: path.posix.join(disksDir, "vmlinuz"),
    initrdPath: path.posix.join(disksDir, "initrd.img"),
    cmdline: KERNEL_CMDLINE,
    overlayPath: path.posix.join(disksDir, "overlay.qcow2"),
    seedPath: path.posix.join(disksDir, "seed.img"),
    consoleLogPath: path.posix.join(disksDir, "console.log"),
    ...(settings.evidenceDisk ? { evidenceDisk: settings.evidenceDisk } : {}),
    ...(settings.extraDisks?.length ? { extraDisks: settings.extraDisks } : {}),
    network: isolated
      ? { mode: "libvirt-isolated", networkName: settings.isolatedNetwork }
      : { mode: "user-restricted", sshPort: settings.sshPort },
  };
  const connection: GuestConnection = {
    // user networking: the forward on the libvirt host's loopback; isolated: the guest's own address.
    host: isolated ? GUEST_ADDRESS : "127.0.0.1",
    port: isolated ? 22 : settings.sshPort,
    user: "root",
    privateKeyPath,
    knownHostsPath,
    jumpHost: target.jumpHost,
    domainName,
    libvirtUri: settings.libvirtUri,
  };
  const where: Record<string, HookValue> = {
    DOMAIN_NAME: domainName,
    LIBVIRT_URI: settings.libvirtUri,
    LIBVIRT_SSH_TARGET: target.sshTarget,
    LIBVIRT_SSH_PORT: target.sshPort,
    STATE_DIR: stateDir,
    KEYS_DIR: keysDir,
    DISKS_DIR: disksDir,
  };
  const xml = { kvm: domainXml(domain, "kvm"), tcg: domainXml(domain, "tcg") };
  return {
    domainName,
    stateDir,
    keysDir,
    privateKeyPath,
    hostKeyPath,
    knownHostsPath,
    disksDir,
    domain,
    xml,
    connection,
    createValues: {
      ...where,
      PRIVATE_KEY: privateKeyPath,
      HOST_KEY: hostKeyPath,
      KNOWN_HOSTS: knownHostsPath,
      OVERLAY: domain.overlayPath,
      SEED: domain.seedPath,
      KERNEL: domain.kernelPath,
      INITRD: domain.initrdPath,
      CONSOLE_LOG: domain.consoleLogPath,
      IMAGE_DIR: settings.imageDir,
      DOMAIN_XML_KVM: xml.kvm,
      DOMAIN_XML_TCG: xml.tcg,
      DETECT_ACCELERATOR_HOOK: renderHook(DETECT_ACCELERATOR_HOOK, {
        ACCELERATOR: settings.accelerator,
        KVM_DEVICE,
        PVM_MODULE,
      }),
      NETWORK_MODE: settings.network,
      ISOLATED_NETWORK: settings.isolatedNetwork,
      EVIDENCE_PATH: settings.evidenceDisk?.path ?? "",
      EVIDENCE_TYPE: settings.evidenceDisk?.type ?? "",
      GUEST_HOST: connection.host,
      GUEST_PORT: connection.port,
      GUEST_USER: connection.user,
      JUMP_HOST: connection.jumpHost,
      BOOT_TIMEOUT_SECONDS: settings.bootTimeoutSeconds,
      STALL_RESET_SECONDS: settings.stallResetSeconds ?? STALL_RESET_SECONDS,
    },
    deleteValues: where,
  };
}

/**
 * The ssh command line an examiner types to reach the guest (key and host key pinned): the hooks' own
 * options from lib/hooks/ssh-options.sh (no ssh_config, no agent, nothing forwarded, no control socket,
 * no local command), less `RequestTTY=no`, since this one is for an interactive shell.
 */
export function sshCommandFor(connection: GuestConnection): string {
  const words = [
    "ssh",
    ...sshOptions("any-host"),
    ...sshOptions("guest"),
    "-i",
    connection.privateKeyPath,
    "-o",
    `UserKnownHostsFile=${connection.knownHostsPath}`,
    "-p",
    String(connection.port),
    ...(connection.jumpHost ? ["-J", connection.jumpHost] : []),
    `${connection.user}@${connection.host}`,
  ];
  return words.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : shellQuote(w))).join(" ");
}
