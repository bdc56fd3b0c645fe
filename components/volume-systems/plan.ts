/**
 * The pure half of VolumeSystems: validated args -> the open and close hook texts, the keys' stdin, and
 * the check of what the open hook prints.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { hookFile } from "../../lib/hook-file";
import { result as field } from "../../lib/hook-result";
import { GuestConnection, inGuestCommand } from "../../lib/shell";
import { logicalVolumeName } from "../../lib/logical-volume";
import type { ValidatedVolumeArgs } from "./args";

export const OPEN_HOOK = hookFile("volume-systems", "guest-open.sh");
export const CLOSE_HOOK = hookFile("volume-systems", "guest-close.sh");

/** Where a volume lies: exactly one of a partition number (0: the whole disk) or a logical volume. */
const where = {
  partition: z.number().int().min(0).optional(),
  logicalVolume: logicalVolumeName.optional(),
};

/** The layers VolumeSystems opens, in the order it opens them: md RAID1, LUKS and BitLocker on partitions, LVM, LUKS on LVs. */
export const VOLUME_LAYERS = ["md", "luks", "bitlocker", "lvm"] as const;
export type VolumeLayer = (typeof VOLUME_LAYERS)[number];

/** One layer the open hook opened, read-only: a logical volume mapped, or a LUKS volume unlocked. */
export interface OpenedVolume {
  readonly partition?: number;
  /** `vg/lv`. */
  readonly logicalVolume?: string;
  /**
   * `md` (a RAID1 member's data area mapped: the array's contents), `lvm` (a logical volume mapped),
   * `luks` and `bitlocker` (unlocked: the device holds the plaintext).
   */
  readonly layer: VolumeLayer;
  /** `/dev/mapper/fl-<nbdN>-...` (on an array `fl-array_<name>_...`): what PartitionMount mounts. */
  readonly device: string;
  /** The devices it reads from (the partition, or the physical volumes of an LV). */
  readonly over: string[];
  readonly sizeBytes: number;
  /** `LUKS2 aes-xts-plain64`; for an LV its segment types, `linear`, `striped`; `RAID1 member, md 1.2, device 0 of 2`. */
  readonly detail: string;
}

/** A volume left closed, and why (an LV of an unsupported type or with a missing PV, a refused name). */
export interface ClosedVolume {
  readonly partition?: number;
  readonly logicalVolume?: string;
  readonly layer: VolumeLayer;
  readonly reason: string;
}

/** What guest-open.sh prints. */
export const openResultSchema = z.strictObject({
  volumes: z.array(
    z
      .strictObject({
        ...where,
        layer: z.enum(VOLUME_LAYERS),
        device: field.volumeMapping,
        over: z.array(field.absolutePath).min(1),
        sizeBytes: field.count,
        detail: z.string(),
      })
      .refine((v) => (v.partition === undefined) !== (v.logicalVolume === undefined), "must name a partition or a logical volume"),
  ),
  skipped: z.array(z.strictObject({ ...where, layer: z.enum(VOLUME_LAYERS), reason: z.string().min(1) })),
});

export interface OpenResult {
  readonly volumes: OpenedVolume[];
  readonly skipped: ClosedVolume[];
}

/** A key as the caller holds it: text (a passphrase) or bytes in base64 (a BitLocker startup key file). */
export interface KeyText {
  readonly value: pulumi.Input<string>;
  readonly encoding: "utf8" | "base64";
}

/**
 * The keys as the open hook reads them on stdin: each key's bytes base64-encoded on a line of their own
 * (a passphrase may hold a newline, a startup key any byte), in the order of `LUKS_AT`, then `BITLOCKER_AT`.
 */
export function keysStdin(keys: { value: string; encoding: "utf8" | "base64" }[]): string {
  // base64 is decoded and encoded again: the line carries exactly the key's bytes, whatever the wrapping.
  return keys.map((k) => `${Buffer.from(k.encoding === "base64" ? k.value.trim() : k.value, k.encoding).toString("base64")}\n`).join("");
}

/** The open and close texts of one VolumeSystems, and the stdin that carries its keys (when it has any). */
export function volumeHooks(
  guest: pulumi.Input<GuestConnection>,
  device: { nbdDevice?: pulumi.Input<string>; arrayDevice?: pulumi.Input<string> },
  a: ValidatedVolumeArgs,
  keys: KeyText[],
): { create: pulumi.Output<string>; delete: pulumi.Output<string>; stdin?: pulumi.Output<string> } {
  const on = { NBD_DEVICE: device.nbdDevice ?? "", ARRAY_DEVICE: device.arrayDevice ?? "" };
  return {
    create: inGuestCommand(
      guest,
      OPEN_HOOK,
      { ...on, LUKS_AT: a.luks.map((l) => String(l.at)), BITLOCKER_AT: a.bitlocker.map((b) => String(b.at)) },
      "fail",
    ),
    delete: inGuestCommand(guest, CLOSE_HOOK, on, "succeed"),
    ...(keys.length > 0
      ? {
          stdin: pulumi.secret(
            pulumi
              .all(keys.map((k) => k.value))
              .apply((values) => keysStdin(values.map((value, i) => ({ value, encoding: keys[i].encoding })))),
          ),
        }
      : {}),
  };
}
