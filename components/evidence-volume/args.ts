/**
 * EvidenceVolume's args: the interface callers write, and its schema (every check and default, once).
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { absolutePath } from "../../lib/absolute-path";
import { parseArgs } from "../../lib/args-error";
import { parseLibvirtUri } from "../../lib/libvirt-uri";

export type EvidenceBackend = "file" | "lvm";

export interface EvidenceVolumeArgs {
  /** The case; names the logical volume and the LUKS mapping (`forensic-<caseId>`). */
  readonly caseId: string;
  /** `lvm`: a logical volume, LUKS2 opened on the host, the guest sees plaintext blocks only (production).
   *  `file`: a sparse file, LUKS2 opened inside the guest (hosts without LVM or device-mapper). */
  readonly backend: EvidenceBackend;
  /** file backend: absolute path of the volume file; its folder must exist. */
  readonly path?: string;
  /** lvm backend: the volume group the logical volume is made in. */
  readonly volumeGroup?: string;
  /** Size of the volume; an existing volume of another size is an error, never resized. */
  readonly sizeGiB: number;
  /** The LUKS passphrase: a secret Output (`config.requireSecret`, `pulumi.secret`); anything else is refused. */
  readonly passphrase: pulumi.Input<string>;
  /** Always `true`: a plain literal, so the policy pack sees it at preview. */
  readonly encrypted: true;
  /** Keep the volume (closed, intact) on destroy instead of crypto-erasing it. @default false */
  readonly retain?: boolean;
  /** Cheap PBKDF settings (argon2id, 32 MiB, 4 iterations) for tests in emulated guests. Never for cases.
   *  @default false */
  readonly fastKdfForTestsOnly?: boolean;
  /** Where libvirt runs; host-side steps run there. Only local URIs for now. @default "qemu:///system" */
  readonly libvirtUri?: string;
}

const MIN_SIZE_GIB = 1 / 16;
const MAX_SIZE_GIB = 16 * 1024;

const caseId = z.string({ error: "must be a string" }).regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, {
  error: "must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit (it names the LV and the LUKS mapping)",
});
const plainBoolean = () => z.boolean({ error: "must be a plain boolean (not an Output), so policies can read it at preview" });

const common = {
  caseId,
  sizeGiB: z
    .number({ error: "must be a plain number of GiB" })
    .refine((n) => Number.isInteger(n * 1024), { error: "must be a whole number of MiB (sizeGiB × 1024 a whole number)" })
    .refine((n) => n >= MIN_SIZE_GIB, { error: `must be at least ${MIN_SIZE_GIB} GiB (64 MiB: LUKS2 header plus a filesystem)` })
    .refine((n) => n <= MAX_SIZE_GIB, { error: `must be at most ${MAX_SIZE_GIB} GiB` }),
  encrypted: z.literal(true, { error: "must be the literal true: evidence volumes are always encrypted" }),
  retain: plainBoolean().default(false),
  fastKdfForTestsOnly: plainBoolean().default(false),
  libvirtUri: z
    .string({ error: "must be a string" })
    .superRefine((uri, ctx) => {
      const parsed = parseLibvirtUri(uri);
      if ("problem" in parsed) ctx.addIssue({ code: "custom", message: parsed.problem });
      else if (parsed.target.kind !== "local") {
        ctx.addIssue({
          code: "custom",
          message: "must be the local qemu:///system; volumes on remote libvirt hosts are not supported yet",
        });
      }
    })
    .default("qemu:///system"),
  // Checked by the component itself: it must stay an Output to stay secret.
  passphrase: z.unknown(),
};

const volumeArgsSchema = z.discriminatedUnion(
  "backend",
  [
    z
      .object({
        ...common,
        backend: z.literal("file"),
        path: absolutePath("the evidence volume file").refine((p) => p !== "/", "must be a file, not '/'"),
      })
      .strict(),
    z
      .object({
        ...common,
        backend: z.literal("lvm"),
        volumeGroup: z
          .string({ error: "must be a string (the LVM volume group)" })
          .regex(/^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/, { error: "must be an LVM volume group name" }),
      })
      .strict(),
  ],
  { error: "must be 'file' or 'lvm'" },
);

/** Validates the args and applies the defaults; throws an Error naming every bad field (lib/args-error.ts). */
export function parseVolumeArgs(args: unknown): z.output<typeof volumeArgsSchema> {
  return parseArgs(volumeArgsSchema, args);
}
