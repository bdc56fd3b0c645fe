/**
 * PartitionMount's args: the interface callers write, and its schema (every check and default, once).
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { absolutePath } from "../../lib/absolute-path";
import { parseArgs } from "../../lib/args-error";
import { evidenceDeviceFields, requireOneEvidenceDevice } from "../../lib/evidence-device";
import type { GuestConnection } from "../../lib/shell";
import { logicalVolumeName } from "../../lib/logical-volume";
import type { OpenedVolume } from "../volume-systems/plan";

export interface PartitionMountArgs {
  /** The analysis guest (from `AnalysisGuest.connection`). */
  readonly guest: pulumi.Input<GuestConnection>;
  /**
   * `/dev/nbdN` (from `NbdAttachment.nbdDevice`; using that Output orders mount after attach). Exactly
   * one of `nbdDevice` and `arrayDevice`.
   */
  readonly nbdDevice?: pulumi.Input<string>;
  /**
   * `/dev/mapper/fl-array-<name>` (from `RaidArray.device`): an md array, whose contents are partition 0
   * (a filesystem, or with `volumes` from a VolumeSystems on the array its LUKS and LVM).
   */
  readonly arrayDevice?: pulumi.Input<string>;
  /**
   * One partition number (from 1; 0 is the whole disk, a filesystem without a partition table), a
   * logical volume `"vg/lv"` that `volumes` opened, or `"all"`: every partition and logical volume that
   * holds a filesystem (on a disk without partitions: partition 0).
   */
  readonly partition: number | "all" | string;
  /**
   * What VolumeSystems opened on this device (its `volumes` Output; using it orders the mounts after the
   * opening, and their unmount before the closing). A partition or LV with an unlocked LUKS layer is
   * mounted through it.
   * @default [] (partitions only)
   */
  readonly volumes?: pulumi.Input<OpenedVolume[]>;
  /**
   * Where one partition is mounted (with `partition: N`). Its parent folder becomes the examiner's, mode
   * 0500, unless it is a top-level folder such as `/media` (left as it is).
   */
  readonly mountPoint?: string;
  /**
   * With `partition: "all"`: partition N is mounted at `<mountRoot>/p<N>`, logical volume vg/lv at
   * `<mountRoot>/lvm/<vg>/<lv>`; the folders become the examiner's, mode 0500.
   */
  readonly mountRoot?: string;
  /** Always `true`: `ro` plus the filesystem's no-replay option (ext* `noload`, xfs `norecovery`, ...). */
  readonly readOnly: true;
  /**
   * Further mount options, added after the lab's own (`noatime`, `iocharset=utf8`, ...). Options that
   * could write, replay a journal, or weaken `nodev,nosuid,noexec` or the examiner's ownership are refused.
   * @default []
   */
  readonly extraOptions?: string[];
  /** Owner of NTFS/FAT files and of the mount points' parent folder. @default 1000 (the guest's `examiner`) */
  readonly examinerUid?: number;
  /** @default 1000 */
  readonly examinerGid?: number;
  /**
   * When a mount point is busy at delete: `false` fails and names the processes holding it; `true`
   * detaches it lazily as a last resort (the filesystem lives on until they let go) and says so loudly.
   * @default false
   */
  readonly lazyUnmount?: boolean;
}

/** Option names that could write, replay a journal/log, or undo the lab's hardening or ownership. */
export const FORBIDDEN_OPTIONS: readonly string[] = [
  "rw",
  "remount",
  "defaults",
  "suid",
  "dev",
  "exec",
  "recover",
  "force",
  "load",
  "bind",
  "rbind",
  "move",
  "loop",
  "offset",
  "sizelimit",
  "journal_dev",
  "journal_path",
  "remove_hiberfile",
  "clear_cache",
  "discard",
  "user",
  "users",
  "owner",
  "group",
  "uid",
  "gid",
  "umask",
  "fmask",
  "dmask",
  "setuid",
  "setgid",
  "nosharesec",
];

const OPTION = /^[a-z][a-z0-9_.-]*(=[A-Za-z0-9_.:/+@-]*)?$/;

/** Top-level guest folders nothing is mounted under. */
const SYSTEM_DIRS = new Set([
  "bin",
  "boot",
  "dev",
  "etc",
  "home",
  "lib",
  "lib32",
  "lib64",
  "libx32",
  "opt",
  "proc",
  "root",
  "run",
  "sbin",
  "sys",
  "tmp",
  "usr",
  "var",
]);

const guestFolder = absolutePath("a folder in the guest")
  .refine((p) => p.split("/").length - 1 >= 2, "must lie at least two folders deep, like /mnt/forensic or /media/usb")
  .refine((p) => !SYSTEM_DIRS.has(p.split("/")[1]), "must not lie under a system folder (/etc, /usr, /var, /home, /tmp, ...)");

export const argsSchema = z
  .strictObject({
    // Inputs: handed to the hooks as they resolve.
    guest: z.unknown().optional(),
    ...evidenceDeviceFields,
    volumes: z.unknown().optional(),
    partition: (() => {
      const message = 'must be a partition number from 1 (0: the whole disk, without a partition table), a logical volume vg/lv, or "all"';
      return z.union(
        [z.literal("all"), z.number().int({ error: message }).min(0, { error: message }).max(255, { error: message }), logicalVolumeName],
        { error: message },
      );
    })(),
    mountPoint: guestFolder.optional(),
    mountRoot: guestFolder.optional(),
    readOnly: z.literal(true, { error: "must be the literal true: evidence is only ever mounted read-only" }),
    extraOptions: z
      .array(
        z
          .string()
          .regex(OPTION, "must be one mount option such as 'noatime' or 'iocharset=utf8' (no commas or spaces)")
          .refine((o) => !FORBIDDEN_OPTIONS.includes(o.split("=")[0]), {
            error: (issue) =>
              `'${String(issue.input)}' is refused: it could write to the evidence, replay a journal, or weaken nodev/nosuid/noexec or the examiner's ownership`,
          }),
      )
      .default([]),
    examinerUid: z.number().int().min(0).default(1000),
    examinerGid: z.number().int().min(0).default(1000),
    lazyUnmount: z.boolean().default(false),
  })
  .superRefine((a, ctx) => {
    requireOneEvidenceDevice(a, ctx);
    if (a.arrayDevice !== undefined && typeof a.partition === "number" && a.partition !== 0)
      ctx.addIssue({
        code: "custom",
        path: ["partition"],
        message: 'must be 0, a logical volume vg/lv or "all" with arrayDevice: an md array\'s contents are partition 0',
      });
    if (a.partition === "all") {
      if (a.mountRoot === undefined) ctx.addIssue({ code: "custom", path: ["mountRoot"], message: 'is required with partition "all"' });
      if (a.mountPoint !== undefined)
        ctx.addIssue({ code: "custom", path: ["mountPoint"], message: 'is for one partition; use mountRoot with partition "all"' });
    } else {
      if (a.mountPoint === undefined)
        ctx.addIssue({ code: "custom", path: ["mountPoint"], message: "is required with a partition number" });
      if (a.mountRoot !== undefined)
        ctx.addIssue({ code: "custom", path: ["mountRoot"], message: 'is for partition "all"; use mountPoint with a partition number' });
    }
  });

export type ValidatedMountArgs = z.infer<typeof argsSchema>;

/** Checks the literal args; throws an Error whose message names each bad field. */
export function validateMountArgs(
  args: Omit<PartitionMountArgs, "guest" | "nbdDevice" | "arrayDevice" | "volumes"> & {
    guest?: unknown;
    nbdDevice?: unknown;
    arrayDevice?: unknown;
    volumes?: unknown;
  },
): ValidatedMountArgs {
  return parseArgs(argsSchema, args);
}
