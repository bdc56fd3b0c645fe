/**
 * RaidArray's args: the interface callers write, and its schema (every check and default, once).
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { parseArgs } from "../../lib/args-error";
import type { GuestConnection } from "../../lib/shell";

/** One member: a partition of an attached image (0: the whole disk) and how messages name it. */
export interface RaidMember {
  /** `/dev/nbdN` of the image that holds it (from `NbdAttachment.nbdDevice`: orders this after attach). */
  readonly nbdDevice: pulumi.Input<string>;
  /** The partition that holds the md superblock; 0 when the whole disk is the member. */
  readonly partition: number;
  /** How messages and outputs name the member, e.g. `image disk2 partition 3`. */
  readonly label: string;
}

export interface RaidArrayArgs {
  /** The analysis guest (from `AnalysisGuest.connection`). */
  readonly guest: pulumi.Input<GuestConnection>;
  /**
   * The array's name in this case: its mapping is `/dev/mapper/fl-array-<name>`. 1-32 of a-z, 0-9 and
   * `-`, not ending in `-r<digits>` (the members' mappings are `fl-array-<name>-r<role>`).
   */
  readonly name: string;
  /**
   * The members that are there, in any order (their superblocks say their roles). A missing member of a
   * RAID4/5/10 array is simply left out: the array opens degraded.
   */
  readonly members: RaidMember[];
  /** Always `true`: `dmsetup create --readonly`, dm-raid `nosync` without metadata devices. */
  readonly readOnly: true;
}

const NAME = "must be 1-32 characters: a lowercase letter or digit, then lowercase letters, digits or '-', not ending in -r<digits>";
const PARTITION = "must be a partition number (0: the whole disk)";
const LABEL = "must be one line of text that names the member";

export const argsSchema = z
  .strictObject({
    guest: z.unknown().optional(),
    name: z
      .string({ error: NAME })
      .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, { error: NAME })
      .refine((n) => !/-r[0-9]+$/.test(n), { error: NAME }),
    members: z
      .array(
        z.strictObject({
          nbdDevice: z.unknown().optional(),
          partition: z.number({ error: PARTITION }).int({ error: PARTITION }).min(0, { error: PARTITION }).max(255, { error: PARTITION }),
          label: z.string({ error: LABEL }).regex(/^[^\n\r]{1,200}$/, { error: LABEL }),
        }),
        { error: "must be a list of members {nbdDevice, partition, label}" },
      )
      .min(1, { error: "must name at least one member" }),
    readOnly: z.literal(true, { error: "must be the literal true: evidence is only ever opened read-only" }),
  })
  .superRefine((a, ctx) => {
    const seen = new Map<string, number>();
    a.members.forEach((m, index) => {
      const first = seen.get(m.label);
      if (first !== undefined)
        ctx.addIssue({ code: "custom", path: ["members", index, "label"], message: `names the same member as members[${first}]` });
      seen.set(m.label, index);
    });
  });

export type ValidatedRaidArrayArgs = z.infer<typeof argsSchema>;

/** Checks the literal args; throws an Error whose message names each bad field. */
export function validateRaidArrayArgs(args: Omit<RaidArrayArgs, "guest"> & { guest?: unknown }): ValidatedRaidArrayArgs {
  return parseArgs(argsSchema, args);
}
