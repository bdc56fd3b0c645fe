/**
 * VolumeSystems' args: the interface callers write, and its schema (every check and default, once).
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { parseArgs } from "../../lib/args-error";
import { evidenceDeviceFields, requireOneEvidenceDevice } from "../../lib/evidence-device";
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

export interface BitLockerKey {
  /** The partition (number; 0 is the whole disk) that holds the BitLocker volume. */
  readonly at: number;
  /**
   * A Pulumi secret (it reaches the guest on stdin): with `kind: "password"` its user passphrase or its
   * 48-digit recovery password; with `kind: "startupKey"` its startup key file (.BEK), base64-encoded.
   */
  readonly key: pulumi.Input<string>;
  /** @default "password" */
  readonly kind?: "password" | "startupKey";
}

export interface VolumeSystemsArgs {
  /** The analysis guest (from `AnalysisGuest.connection`). */
  readonly guest: pulumi.Input<GuestConnection>;
  /**
   * `/dev/nbdN` (from `NbdAttachment.nbdDevice`; using that Output orders this after attach). Exactly one
   * of `nbdDevice` and `arrayDevice`.
   */
  readonly nbdDevice?: pulumi.Input<string>;
  /**
   * `/dev/mapper/fl-array-<name>` (from `RaidArray.device`): the volume systems inside an md array (a
   * NAS's: LVM, thin pools, LUKS), the array's contents being partition 0. Its mappings are named
   * `fl-array_<name>_...`.
   */
  readonly arrayDevice?: pulumi.Input<string>;
  /**
   * The LUKS volumes to open, each with its key. LVM volume groups need no key: every linear or striped
   * logical volume found on the image is mapped read-only.
   * @default []
   */
  readonly luks?: LuksKey[];
  /**
   * The BitLocker volumes to open (cryptsetup's own BitLocker support, read-only), each with its key.
   * @default []
   */
  readonly bitlocker?: BitLockerKey[];
  /** Always `true`: `cryptsetup open --readonly`, `dmsetup create --readonly`, `lvm --readonly`. */
  readonly readOnly: true;
}

const LOCATION = "must be a partition number (0: the whole disk) or a logical volume vg/lv";
const PARTITION = "must be a partition number (0: the whole disk)";
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
    ...evidenceDeviceFields,
    luks: z.array(z.strictObject({ at: location, key: z.unknown().optional() })).default([]),
    bitlocker: z
      .array(
        z.strictObject({
          at: z.number({ error: PARTITION }).int({ error: PARTITION }).min(0, { error: PARTITION }).max(255, { error: PARTITION }),
          key: z.unknown().optional(),
          kind: z.enum(["password", "startupKey"], { error: 'must be "password" or "startupKey"' }).default("password"),
        }),
      )
      .default([]),
    readOnly: z.literal(true, { error: "must be the literal true: evidence volumes are only ever opened read-only" }),
  })
  .superRefine((a, ctx) => {
    requireOneEvidenceDevice(a, ctx);
    // One key per volume, whichever kind: a location named twice (in one list or both) is a mistake.
    const seen = new Map<string, string>();
    for (const list of ["luks", "bitlocker"] as const) {
      a[list].forEach(({ at, key }, index) => {
        const first = seen.get(String(at));
        if (first !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [list, index, "at"],
            message: `${at} has a key already (${first}); give one key per volume`,
          });
        }
        seen.set(String(at), `${list}[${index}]`);
        if (key === undefined || key === null || key === "") {
          ctx.addIssue({ code: "custom", path: [list, index, "key"], message: "is required: the volume's passphrase, as a Pulumi secret" });
        }
      });
    }
  });

export type ValidatedVolumeArgs = z.infer<typeof argsSchema>;

/** Checks the literal args; throws an Error whose message names each bad field. */
export function validateVolumeArgs(
  args: Omit<VolumeSystemsArgs, "guest" | "nbdDevice" | "arrayDevice"> & { guest?: unknown; nbdDevice?: unknown; arrayDevice?: unknown },
): ValidatedVolumeArgs {
  return parseArgs(argsSchema, args);
}
