/**
 * The pure half of PartitionMount: validated args -> the mount and umount hook texts, and the check of
 * what the mount hook prints.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { hookFile } from "../../lib/hook-file";
import { result as field } from "../../lib/hook-result";
import { GuestConnection, inGuestCommand } from "../../lib/shell";
import { logicalVolumeName } from "../../lib/logical-volume";
import type { OpenedVolume } from "../volume-systems/plan";
import type { ValidatedMountArgs } from "./args";

export const MOUNT_HOOK = hookFile("partition-mount", "guest-mount.sh");
export const UMOUNT_HOOK = hookFile("partition-mount", "guest-umount.sh");

/** One mount as the guest reports it after mounting (options read back from `findmnt`). */
export interface MountInfo {
  /** The partition mounted; absent for a logical volume. */
  readonly partition?: number;
  /** The logical volume mounted, `vg/lv`; absent for a partition. */
  readonly logicalVolume?: string;
  /** `/dev/nbdNpK`; `/dev/mapper/fl-nbdN-...` (`fl-array_<name>_...`) through what VolumeSystems opened. */
  readonly device: string;
  readonly mountPoint: string;
  /** What `blkid` found: `ext4`, `ntfs`, `vfat`, ... */
  readonly filesystem: string;
  /** The kernel's filesystem type (`fuseblk` for ntfs-3g). */
  readonly vfsType: string;
  /** Options in effect, as `findmnt` shows them (the kernel's view); the first is always `ro`. */
  readonly options: string[];
  /**
   * The options the lab gave `mount` or `ntfs-3g`, first `ro`. For NTFS they carry the examiner's
   * ownership (`uid=,gid=,umask=0277`), which ntfs-3g applies itself: the kernel's view shows only FUSE's
   * `user_id=0,group_id=0`.
   */
  readonly requestedOptions: string[];
}

/** A partition or logical volume `"all"` left alone, and why (swap, LUKS without a key, LVM, ...). */
export interface SkippedPartition {
  readonly partition?: number;
  readonly logicalVolume?: string;
  readonly device: string;
  readonly reason: string;
}

/**
 * Partition N's device: `<nbd>pN` (partition 0, the whole disk, is the nbd device itself) or the top
 * layer VolumeSystems opened on it (LUKS or BitLocker, or a RAID1 member's data); a logical volume's is a VolumeSystems mapping.
 */
const partitionAndDevice = (m: { partition?: number; logicalVolume?: string; device: string }) => {
  if ((m.partition === undefined) === (m.logicalVolume === undefined)) return false;
  const mapping = field.volumeMapping.safeParse(m.device).success;
  if (m.partition === undefined) return mapping;
  // <prefix><layer>-p<N>: the prefix ends in '-' on an image (fl-nbd3-), in '_' on an array (fl-array_nas_).
  if (mapping) return new RegExp(`[-_](luks|bitlocker|md)-p${m.partition}$`).test(m.device);
  if (m.partition === 0) return field.nbdDevice.safeParse(m.device).success || field.arrayMapping.safeParse(m.device).success;
  return m.device.endsWith(`p${m.partition}`) && field.nbdPartition.safeParse(m.device).success;
};
const DEVICE_RULE =
  "device must be <nbd>p<partition> (the nbd device itself or a RaidArray mapping for partition 0) or a VolumeSystems mapping, and exactly one of partition and logicalVolume given";

/** What guest-mount.sh prints. */
export const mountResultSchema = z.strictObject({
  mounts: z.array(
    z
      .strictObject({
        partition: z.number().int().min(0).optional(),
        logicalVolume: logicalVolumeName.optional(),
        device: z.string(),
        mountPoint: field.absolutePath,
        filesystem: z.string().regex(/^[a-z0-9_]+$/),
        vfsType: z.string().regex(/^[a-z0-9_.]+$/),
        options: field.mountOptions,
        requestedOptions: field.mountOptions,
      })
      .refine(partitionAndDevice, DEVICE_RULE),
  ),
  skipped: z.array(
    z
      .strictObject({
        partition: z.number().int().min(0).optional(),
        logicalVolume: logicalVolumeName.optional(),
        device: z.string(),
        reason: z.string().min(1),
      })
      .refine(partitionAndDevice, DEVICE_RULE),
  ),
});

/** What guest-mount.sh reports. */
export interface MountResult {
  readonly mounts: MountInfo[];
  readonly skipped: SkippedPartition[];
}

/** The mount and umount texts of one PartitionMount (the device is an Output of its NbdAttachment or RaidArray). */
export function mountHooks(
  guest: pulumi.Input<GuestConnection>,
  device: { nbdDevice?: pulumi.Input<string>; arrayDevice?: pulumi.Input<string> },
  a: ValidatedMountArgs,
  volumes: pulumi.Input<OpenedVolume[]> = [],
): { create: pulumi.Output<string>; delete: pulumi.Output<string> } {
  const where = {
    NBD_DEVICE: device.nbdDevice ?? "",
    ARRAY_DEVICE: device.arrayDevice ?? "",
    PARTITION: String(a.partition),
    MOUNT_POINT: a.mountPoint ?? "",
    MOUNT_ROOT: a.mountRoot ?? "",
  };
  const opened = pulumi.output(volumes);
  const at = (v: OpenedVolume) => v.logicalVolume ?? String(v.partition);
  return {
    create: inGuestCommand(
      guest,
      MOUNT_HOOK,
      {
        ...where,
        EXTRA_OPTIONS: a.extraOptions,
        EXAMINER_UID: a.examinerUid,
        EXAMINER_GID: a.examinerGid,
        VOLUME_AT: opened.apply((vs) => vs.map(at)),
        VOLUME_LAYER: opened.apply((vs) => vs.map((v) => v.layer)),
        VOLUME_DEVICE: opened.apply((vs) => vs.map((v) => v.device)),
      },
      "fail",
    ),
    delete: inGuestCommand(guest, UMOUNT_HOOK, { ...where, LAZY_UNMOUNT: a.lazyUnmount }, "succeed"),
  };
}
