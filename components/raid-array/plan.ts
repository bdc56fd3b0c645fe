/**
 * The pure half of RaidArray: validated args -> the assemble and disassemble hook texts, and the check
 * of what the assemble hook prints.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { hookFile } from "../../lib/hook-file";
import { result as field } from "../../lib/hook-result";
import { GuestConnection, inGuestCommand } from "../../lib/shell";
import type { RaidMember, ValidatedRaidArrayArgs } from "./args";

export const ASSEMBLE_HOOK = hookFile("raid-array", "guest-assemble.sh");
export const DISASSEMBLE_HOOK = hookFile("raid-array", "guest-disassemble.sh");

/** What guest-assemble.sh prints: the array as mapped. */
export const arrayResultSchema = z.strictObject({
  /** `/dev/mapper/fl-array-<name>`: what PartitionMount mounts. */
  device: field.arrayMapping,
  /** The md array's UUID as mdadm prints it. */
  uuid: z.string().regex(/^[0-9a-f]{8}(:[0-9a-f]{8}){3}$/),
  /** md metadata version: 0.90, 1.0, 1.1 or 1.2. */
  metadata: z.enum(["0.90", "1.0", "1.1", "1.2"]),
  /** md's level; -1: linear (a JBOD). */
  level: z.union([z.literal(-1), z.literal(0), z.literal(4), z.literal(5), z.literal(6), z.literal(10)]),
  /** `RAID5 (raid5_ls), chunk 64 KiB`, `RAID6 (md left-symmetric), chunk 512 KiB`. */
  detail: z.string().min(1),
  /** `degraded`: some roles are missing (RAID4/5/10 read them from parity or copies). */
  state: z.enum(["complete", "degraded"]),
  /** Each member given, with its role from its superblock. */
  members: z.array(z.strictObject({ device: z.union([field.nbdDevice, field.nbdPartition]), role: field.count })).min(1),
  missingRoles: z.array(field.count),
  sizeBytes: field.count,
  /**
   * One character per role, as dm-raid reports it (`A`: there and in sync, `a`: there, not in sync, `D`:
   * faulty, `-`: missing); absent where a striped table reads the array (RAID0, RAID10 near copies).
   */
  health: z
    .string()
    .regex(/^[AaD-]+$/)
    .optional(),
  /**
   * `/dev/md_fl_<crc32 of the name>`: where md's own code reads the array (layouts device-mapper has
   * no table for: RAID6, RAID10 far or offset copies, RAID0 zones), started read-only with no metadata
   * under the array's mapping. Absent where device-mapper reads it.
   */
  mdDevice: z
    .string()
    .regex(/^\/dev\/md_fl_[0-9a-f]{8}$/)
    .optional(),
});

export type ArrayResult = z.infer<typeof arrayResultSchema>;

/** A member's device in the guest: the nbd device for partition 0, else its partition. */
export function memberDevice(nbdDevice: string, partition: number): string {
  return partition === 0 ? nbdDevice : `${nbdDevice}p${partition}`;
}

/** The assemble and disassemble texts of one RaidArray. */
export function arrayHooks(
  guest: pulumi.Input<GuestConnection>,
  a: ValidatedRaidArrayArgs,
  members: readonly RaidMember[],
): { create: pulumi.Output<string>; delete: pulumi.Output<string> } {
  const devices = pulumi.all(members.map((m) => pulumi.output(m.nbdDevice).apply((nbd) => memberDevice(nbd, m.partition))));
  return {
    create: inGuestCommand(
      guest,
      ASSEMBLE_HOOK,
      { ARRAY_NAME: a.name, MEMBER_DEVICES: devices, MEMBER_LABELS: a.members.map((m) => m.label) },
      "fail",
    ),
    delete: inGuestCommand(guest, DISASSEMBLE_HOOK, { ARRAY_NAME: a.name }, "succeed"),
  };
}
