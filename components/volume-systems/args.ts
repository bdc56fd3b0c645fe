/**
 * VolumeSystems' args: the interface callers write, and its schema (every check and default, once).
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { parseArgs } from "../../lib/args-error";
import { logicalVolumeName } from "../../lib/logical-volume";
import type { GuestConnection } from "../../lib/shell";

/** Where a LUKS volume lies: a partition number (0: the whole disk) or a logical volume `vg/lv`. */
export type VolumeLocation = number | string;

export interface LuksKey {
  /** The partition (number; 0 is the whole disk) or logical volume (`vg/lv`) that holds the LUKS header. */
  readonly at: VolumeLocation;
  /** The passphrase: a Pulumi secret (it reaches the guest on the hook's stdin, never in its text). */
  readonly key: pulumi.Input<string>;
}

export interface VolumeSystemsArgs {
  /** The analysis guest (from `AnalysisGuest.connection`). */
  readonly guest: pulumi.Input<GuestConnection>;
  /** `/dev/nbdN` (from `NbdAttachment.nbdDevice`; using that Output orders this after attach). */
  readonly nbdDevice: pulumi.Input<string>;
  /**
   * The LUKS volumes to open, each with its key. LVM volume groups need no key: every linear or striped
   * logical volume found on the image is mapped read-only.
   * @default []
   */
  readonly luks?: LuksKey[];
  /** Always `true`: `cryptsetup open --readonly`, `dmsetup create --readonly`, `lvm --readonly`. */
  readonly readOnly: true;
}

const LOCATION = "must be a partition number (0: the whole disk) or a logical volume vg/lv";
const location = z.union(
  [z.number({ error: LOCATION }).int({ error: LOCATION }).min(0, { error: LOCATION }).max(255, { error: LOCATION }), logicalVolumeName],
  {
    error: LOCATION,
  },
);

export const argsSchema = z
  .strictObject({
    // Inputs: handed to the hooks as they resolve.
    guest: z.unknown().optional(),
    nbdDevice: z.unknown().optional(),
    luks: z.array(z.strictObject({ at: location, key: z.unknown().optional() })).default([]),
    readOnly: z.literal(true, { error: "must be the literal true: evidence volumes are only ever opened read-only" }),
  })
  .superRefine((a, ctx) => {
    const seen = new Map<string, number>();
    a.luks.forEach(({ at, key }, index) => {
      const first = seen.get(String(at));
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["luks", index, "at"],
          message: `${at} has a key already (luks[${first}]); give one key per volume`,
        });
      }
      seen.set(String(at), index);
      if (key === undefined || key === null || key === "") {
        ctx.addIssue({ code: "custom", path: ["luks", index, "key"], message: "is required: the volume's passphrase, as a Pulumi secret" });
      }
    });
  });

export type ValidatedVolumeArgs = z.infer<typeof argsSchema>;

/** Checks the literal args; throws an Error whose message names each bad field. */
export function validateVolumeArgs(
  args: Omit<VolumeSystemsArgs, "guest" | "nbdDevice"> & { guest?: unknown; nbdDevice?: unknown },
): ValidatedVolumeArgs {
  return parseArgs(argsSchema, args);
}
