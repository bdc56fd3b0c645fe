import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { absolutePath } from "../../lib/absolute-path";
import { parseArgs } from "../../lib/args-error";
import { deriveSshPort } from "../../lib/config/parse";
import { CASE_ID, DEFAULT_GUEST_IMAGE_DIR, DEFAULT_LIBVIRT_URI, DEFAULT_STATE_ROOT } from "../../lib/config/schema";
import { GuestSettings } from "./plan";
import { libvirtTarget } from "../../lib/libvirt-uri";

export interface AnalysisGuestArgs {
  /** Names the domain (`forensic-<caseId>`): a lower-case letter, then letters, digits, `-` (3-40). */
  readonly caseId: string;
  /**
   * Folder (on the libvirt host, and here for the keys) of this guest's `keys/` and `disks/`.
   * @default `/var/lib/forensic-lab/cases/<caseId>`
   */
  readonly stateDir?: string;
  /**
   * Folder of a guest image from `guest-image/build.sh`, on the libvirt host. The overlay is made over
   * the resolved folder, so rebuilding `current` never changes a running case's base.
   * @default "/var/lib/forensic-lab/guest-image/current"
   */
  readonly imageDir?: string;
  /** @default 2048 */
  readonly memoryMiB?: number;
  /** @default 2 */
  readonly vcpus?: number;
  /**
   * Loopback port of the libvirt host forwarded to the guest's sshd (`user-restricted` only).
   * @default 22000-31999, derived from `caseId` (the same port the case config derives)
   */
  readonly sshPort?: number;
  /**
   * `auto`: `tcg` when the libvirt host has no /dev/kvm or only kvm_pvm (which cannot run a stock kernel),
   * else `kvm`. `kvm`/`tcg` force one; forcing `kvm` without /dev/kvm fails at create.
   * @default "auto"
   */
  readonly accelerator?: "auto" | "kvm" | "tcg";
  /**
   * `user-restricted`: QEMU user networking with `restrict=on`; the only path is the ssh forward on the
   * libvirt host's loopback. `libvirt-isolated`: a libvirt network with no `<forward>` (checked at
   * create), on which the guest is 10.0.2.15/24 and the host needs an address in 10.0.2.0/24.
   * @default "user-restricted"
   */
  readonly network?: "user-restricted" | "libvirt-isolated";
  /** Name of the isolated libvirt network; required with `network: "libvirt-isolated"`, refused otherwise. */
  readonly isolatedNetwork?: string;
  /**
   * `qemu:///system`, or `qemu+ssh://[user@]host[:port]/system`: then disks live on that host, file work
   * goes through `ssh [user@]host`, and the guest is reached with `ssh -J`.
   * @default "qemu:///system"
   */
  readonly libvirtUri?: string;
  /**
   * The case storage disk (an EvidenceVolume's file or block device, on the libvirt host), attached
   * with serial `forensic-evidence` and cache=none. `type` is a plain literal; `path` may be an Output.
   */
  readonly evidenceDisk?: { readonly path: pulumi.Input<string>; readonly type: "file" | "block" };
  /** How long the create hook waits for ssh. @default 600 */
  readonly bootTimeoutSeconds?: number;
  /**
   * Always empty: the guest sees no host folder. The only host files it ever reads come through
   * ImageTransfer, read-only. Present so the policy pack can check it.
   * @default []
   */
  readonly hostShares?: readonly [];
}

const whole = (min: number, max: number, unit: string) =>
  z
    .number({ error: `must be a whole number${unit} from ${min} to ${max}` })
    .int(`must be a whole number${unit} from ${min} to ${max}`)
    .min(min, `must be a whole number${unit} from ${min} to ${max}`)
    .max(max, `must be a whole number${unit} from ${min} to ${max}`);

const argsSchema = z
  .object({
    caseId: z
      .string({ error: "must be a string" })
      .regex(CASE_ID, `must match ${CASE_ID} (a lower-case letter, then letters, digits, '-')`),
    stateDir: absolutePath("the case's state folder")
      .refine((p) => p !== "/", "must not be '/'")
      .optional(),
    imageDir: absolutePath("a folder guest-image/build.sh wrote").optional(),
    memoryMiB: whole(512, 262144, " of MiB").optional(),
    vcpus: whole(1, 64, "").optional(),
    sshPort: whole(1024, 65535, "").optional(),
    accelerator: z.enum(["auto", "kvm", "tcg"], { error: "must be 'auto', 'kvm' or 'tcg'" }).optional(),
    network: z.enum(["user-restricted", "libvirt-isolated"], { error: "must be 'user-restricted' or 'libvirt-isolated'" }).optional(),
    isolatedNetwork: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, "must be a libvirt network name (letters, digits, '_', '.', '-')")
      .refine((n) => n !== "default", "must not be 'default': libvirt's default network forwards to the outside (NAT)")
      .optional(),
    libvirtUri: z.string().optional(),
    evidenceDisk: z.object({ path: z.any(), type: z.enum(["file", "block"], { error: "must be 'file' or 'block'" }) }).optional(),
    bootTimeoutSeconds: whole(10, 7200, " of seconds").optional(),
    hostShares: z.tuple([], { error: "must be empty: an analysis guest gets no host folders" }).optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    const isolated = a.network === "libvirt-isolated";
    if (isolated && a.isolatedNetwork === undefined) {
      ctx.addIssue({ code: "custom", path: ["isolatedNetwork"], message: "is required with network 'libvirt-isolated'" });
    }
    if (!isolated && a.isolatedNetwork !== undefined) {
      ctx.addIssue({ code: "custom", path: ["isolatedNetwork"], message: "only applies to network 'libvirt-isolated'" });
    }
    if (isolated && a.sshPort !== undefined) {
      ctx.addIssue({ code: "custom", path: ["sshPort"], message: "only applies to network 'user-restricted'" });
    }
  });

/**
 * Validates the args and applies every default; throws an Error whose message names the field
 * (`memoryMiB: must be a whole number of MiB from 512 to 262144`). The evidence disk's path is an
 * Input and is checked when it resolves (`evidenceDiskPath`).
 */
export function resolveSettings(args: AnalysisGuestArgs): Omit<GuestSettings, "evidenceDisk"> & {
  readonly evidenceDiskType?: "file" | "block";
} {
  const a = parseArgs(argsSchema, args);
  const libvirtUri = a.libvirtUri ?? DEFAULT_LIBVIRT_URI;
  libvirtTarget(libvirtUri); // throws "libvirtUri: ..."
  return {
    caseId: a.caseId,
    stateDir: a.stateDir ?? `${DEFAULT_STATE_ROOT}/${a.caseId}`,
    imageDir: a.imageDir ?? DEFAULT_GUEST_IMAGE_DIR,
    memoryMiB: a.memoryMiB ?? 2048,
    vcpus: a.vcpus ?? 2,
    sshPort: a.sshPort ?? deriveSshPort(a.caseId),
    accelerator: a.accelerator ?? "auto",
    network: a.network ?? "user-restricted",
    isolatedNetwork: a.isolatedNetwork ?? "",
    libvirtUri,
    bootTimeoutSeconds: a.bootTimeoutSeconds ?? 600,
    ...(a.evidenceDisk ? { evidenceDiskType: a.evidenceDisk.type } : {}),
  };
}

const evidencePathSchema = absolutePath("the evidence volume's file or block device on the libvirt host");

/** Checks the evidence disk path once it is known. */
export function evidenceDiskPath(value: unknown): string {
  const parsed = evidencePathSchema.safeParse(value);
  if (!parsed.success) throw new Error(`evidenceDisk.path: ${parsed.error.issues[0].message} (got ${JSON.stringify(value)})`);
  return parsed.data;
}
