import * as pulumi from "@pulumi/pulumi";
import { componentArgsError } from "../../lib/args-error";
import { hookResource } from "../../lib/command";
import { parseHookResult } from "../../lib/shell";
import { TYPE } from "../../lib/tokens";
import { RaidArrayArgs, ValidatedRaidArrayArgs, validateRaidArrayArgs } from "./args";
import { ArrayResult, arrayHooks, arrayResultSchema } from "./plan";

/**
 * One md RAID array whose members lie in several attached images (a NAS's disks), mapped read-only in
 * the analysis guest from the members' own superblocks; md never assembles it. RAID0 and RAID10 (near
 * copies) are dm `striped` tables over the members' data; RAID4 and RAID5 are dm-raid with `nosync` and
 * no metadata devices, over read-only mappings of the members' data. RAID4/5/10 open degraded with the
 * members there are. Everything is checked first: one array, agreeing superblocks, no spare, faulty,
 * stale, half-rebuilt or earlier-imaged member, no reshape.
 * PartitionMount mounts `device`; delete removes the array's mappings, the array first.
 */
export class RaidArray extends pulumi.ComponentResource {
  /** The array as mapped: device, UUID, level, state, members with their roles, size. */
  public readonly array: pulumi.Output<ArrayResult>;
  /** `/dev/mapper/fl-array-<name>` (an Output of the assembly: using it orders a mount after it). */
  public readonly device: pulumi.Output<string>;

  constructor(name: string, args: RaidArrayArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(TYPE.RaidArray, name, { guest: args.guest, name: args.name, readOnly: args.readOnly }, opts);
    let a: ValidatedRaidArrayArgs;
    try {
      a = validateRaidArrayArgs(args);
    } catch (err) {
      throw componentArgsError("RaidArray", name, err, this);
    }
    // deleteBeforeReplace: two generations would fight over the same mapping names.
    const assemble = hookResource(`${name}-assemble`, arrayHooks(args.guest, a, args.members), {
      parent: this,
      deleteBeforeReplace: true,
      replaceOnChanges: ["create"],
    });
    this.array = assemble.stdout.apply((stdout) => parseHookResult(stdout, arrayResultSchema, `${name}-assemble (guest-assemble.sh)`));
    this.device = this.array.apply((r) => r.device);
    this.registerOutputs({ array: this.array });
  }
}
