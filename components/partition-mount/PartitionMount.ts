import * as pulumi from "@pulumi/pulumi";
import { componentArgsError } from "../../lib/args-error";
import { hookResource } from "../../lib/command";
import { parseHookResult } from "../../lib/shell";
import { TYPE } from "../../lib/tokens";
import { PartitionMountArgs, ValidatedMountArgs, validateMountArgs } from "./args";
import { MountInfo, MountResult, mountHooks, mountResultSchema, SkippedPartition } from "./plan";

/**
 * Mounts one partition (or all) of an attached nbd device, or an md array's filesystem (RaidArray),
 * read-only in the analysis guest, with the
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

    // deleteBeforeReplace: two generations would fight over one mount point and one partition.
    const mount = hookResource(
      `${name}-mount`,
      mountHooks(args.guest, { nbdDevice: args.nbdDevice, arrayDevice: args.arrayDevice }, a, args.volumes),
      {
        parent: this,
        deleteBeforeReplace: true,
        replaceOnChanges: ["create"],
      },
    );

    const result = mount.stdout.apply(
      (stdout) => parseHookResult(stdout, mountResultSchema, `${name}-mount (guest-mount.sh)`) as MountResult,
    );
    this.mounts = result.apply((r) => r.mounts);
    this.skipped = result.apply((r) => r.skipped);
    this.registerOutputs({ mounts: this.mounts, skipped: this.skipped });
  }
}
