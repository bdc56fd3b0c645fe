import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { absolutePath } from "../../lib/absolute-path";
import { componentArgsError, parseArgs } from "../../lib/args-error";
import { hookResource } from "../../lib/command";
import { result as field } from "../../lib/hook-result";
import { GuestConnection, inGuestCommand, parseHookResult } from "../../lib/shell";
import { TYPE } from "../../lib/tokens";

export const MOUNT_HOOK = "components/partition-mount/mount.sh";
export const UMOUNT_HOOK = "components/partition-mount/umount.sh";

export interface PartitionMountArgs {
  /** The analysis guest (from `AnalysisGuest.connection`). */
  readonly guest: pulumi.Input<GuestConnection>;
  /** `/dev/nbdN` (from `NbdAttachment.nbdDevice`; using that Output orders mount after attach). */
  readonly nbdDevice: pulumi.Input<string>;
  /** One partition number (from 1), or `"all"`: every partition that holds a filesystem. */
  readonly partition: number | "all";
  /**
   * Where one partition is mounted (with `partition: N`). Its parent folder becomes the examiner's, mode
   * 0500, unless it is a top-level folder such as `/media` (left as it is).
   */
  readonly mountPoint?: string;
  /** With `partition: "all"`: partition N is mounted at `<mountRoot>/p<N>`; the root becomes the examiner's, mode 0500. */
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

/** What mount.sh prints. */
export const mountResultSchema = z.strictObject({
  mounts: z.array(
    z.strictObject({
      partition: z.number().int().min(1),
      device: field.nbdPartition,
      mountPoint: field.absolutePath,
      filesystem: z.string().regex(/^[a-z0-9_]+$/),
      vfsType: z.string().regex(/^[a-z0-9_.]+$/),
      options: field.mountOptions,
    }),
  ),
  skipped: z.array(z.strictObject({ partition: z.number().int().min(1), device: field.nbdPartition, reason: z.string().min(1) })),
});

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
    nbdDevice: z.unknown().optional(),
    partition: z.union([z.literal("all"), z.number().int().min(1).max(255)], { error: 'must be a partition number from 1 or "all"' }),
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
  args: Omit<PartitionMountArgs, "guest" | "nbdDevice"> & { guest?: unknown; nbdDevice?: unknown },
): ValidatedMountArgs {
  return parseArgs(argsSchema, args);
}

/**
 * Mounts one partition (or all) of an attached nbd device read-only in the analysis guest, with the
 * option that keeps each filesystem from replaying its journal (ext* `noload`, xfs `norecovery`, btrfs
 * `rescue=nologreplay`, ntfs-3g `norecover`), always `nodev,nosuid,noexec`, owned by the examiner.
 * Delete unmounts; a busy mount point fails and names the processes holding it.
 */
export class PartitionMount extends pulumi.ComponentResource {
  public readonly mounts: pulumi.Output<MountInfo[]>;
  public readonly skipped: pulumi.Output<SkippedPartition[]>;

  constructor(name: string, args: PartitionMountArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(
      TYPE.PartitionMount,
      name,
      { guest: args.guest, readOnly: args.readOnly, partition: args.partition, extraOptions: args.extraOptions ?? [] },
      opts,
    );
    let a: ValidatedMountArgs;
    try {
      a = validateMountArgs(args);
    } catch (err) {
      throw componentArgsError("PartitionMount", name, err, this);
    }

    const where = {
      NBD_DEVICE: args.nbdDevice,
      PARTITION: String(a.partition),
      MOUNT_POINT: a.mountPoint ?? "",
      MOUNT_ROOT: a.mountRoot ?? "",
    };
    // deleteBeforeReplace: two generations would fight over one mount point and one partition.
    const mount = hookResource(
      `${name}-mount`,
      {
        create: inGuestCommand(
          args.guest,
          MOUNT_HOOK,
          { ...where, EXTRA_OPTIONS: a.extraOptions, EXAMINER_UID: a.examinerUid, EXAMINER_GID: a.examinerGid },
          "fail",
        ),
        delete: inGuestCommand(args.guest, UMOUNT_HOOK, { ...where, LAZY_UNMOUNT: a.lazyUnmount }, "succeed"),
      },
      { parent: this, deleteBeforeReplace: true, replaceOnChanges: ["create"] },
    );

    const result = mount.stdout.apply(
      (stdout) =>
        parseHookResult(stdout, mountResultSchema, `${name}-mount (mount.sh)`) as { mounts: MountInfo[]; skipped: SkippedPartition[] },
    );
    this.mounts = result.apply((r) => r.mounts);
    this.skipped = result.apply((r) => r.skipped);
    this.registerOutputs({ mounts: this.mounts, skipped: this.skipped });
  }
}
