/**
 * The pure half of PartitionMount: validated args -> the mount and umount hook texts, and the check of
 * what the mount hook prints.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { hookFile } from "../../lib/hook-file";
import { result as field } from "../../lib/hook-result";
import { GuestConnection, inGuestCommand } from "../../lib/shell";
import type { ValidatedMountArgs } from "./args";

export const MOUNT_HOOK = hookFile("partition-mount", "guest-mount.sh");
export const UMOUNT_HOOK = hookFile("partition-mount", "guest-umount.sh");

/** One mount as the guest reports it after mounting (options read back from `findmnt`). */
export interface MountInfo {
  readonly partition: number;
  /** `/dev/nbdNpK`. */
  readonly device: string;
  readonly mountPoint: string;
  /** What `blkid` found: `ext4`, `ntfs`, `vfat`, ... */
  readonly filesystem: string;
  /** The kernel's filesystem type (`fuseblk` for ntfs-3g). */
  readonly vfsType: string;
  /** Options in effect, as `findmnt` shows them; the first is always `ro`. */
  readonly options: string[];
}

/** A partition `"all"` left alone, and why (swap, LUKS, LVM, an extended-partition container, ...). */
export interface SkippedPartition {
  readonly partition: number;
  readonly device: string;
  readonly reason: string;
}

/** Partition N's device: `<nbd>pN`; partition 0, the whole disk, is the nbd device itself. */
const partitionAndDevice = (m: { partition: number; device: string }) =>
  m.partition === 0
    ? /^\/dev\/nbd\d+$/.test(m.device)
    : m.device.endsWith(`p${m.partition}`) && field.nbdPartition.safeParse(m.device).success;

/** What guest-mount.sh prints. */
export const mountResultSchema = z.strictObject({
  mounts: z.array(
    z
      .strictObject({
        partition: z.number().int().min(0),
        device: z.string(),
        mountPoint: field.absolutePath,
        filesystem: z.string().regex(/^[a-z0-9_]+$/),
        vfsType: z.string().regex(/^[a-z0-9_.]+$/),
        options: field.mountOptions,
      })
      .refine(partitionAndDevice, "device must be <nbd>p<partition>, or the nbd device itself for partition 0"),
  ),
  skipped: z.array(
    z
      .strictObject({ partition: z.number().int().min(0), device: z.string(), reason: z.string().min(1) })
      .refine(partitionAndDevice, "device must be <nbd>p<partition>, or the nbd device itself for partition 0"),
  ),
});

/** What guest-mount.sh reports. */
export interface MountResult {
  readonly mounts: MountInfo[];
  readonly skipped: SkippedPartition[];
}

/** The mount and umount texts of one PartitionMount (the device is an Output of its NbdAttachment). */
export function mountHooks(
  guest: pulumi.Input<GuestConnection>,
  nbdDevice: pulumi.Input<string>,
  a: ValidatedMountArgs,
): { create: pulumi.Output<string>; delete: pulumi.Output<string> } {
  const where = {
    NBD_DEVICE: nbdDevice,
    PARTITION: String(a.partition),
    MOUNT_POINT: a.mountPoint ?? "",
    MOUNT_ROOT: a.mountRoot ?? "",
  };
  return {
    create: inGuestCommand(
      guest,
      MOUNT_HOOK,
      { ...where, EXTRA_OPTIONS: a.extraOptions, EXAMINER_UID: a.examinerUid, EXAMINER_GID: a.examinerGid },
      "fail",
    ),
    delete: inGuestCommand(guest, UMOUNT_HOOK, { ...where, LAZY_UNMOUNT: a.lazyUnmount }, "succeed"),
  };
}
