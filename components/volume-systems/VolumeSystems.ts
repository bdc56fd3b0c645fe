import * as pulumi from "@pulumi/pulumi";
import { componentArgsError } from "../../lib/args-error";
import { hookResource } from "../../lib/command";
import { parseHookResult } from "../../lib/shell";
import { TYPE } from "../../lib/tokens";
import { ValidatedVolumeArgs, validateVolumeArgs, VolumeSystemsArgs } from "./args";
import { ClosedVolume, OpenedVolume, OpenResult, openResultSchema, volumeHooks } from "./plan";

/**
 * Opens the volume systems inside one attached image (or inside an md array RaidArray opened: a NAS's
 * LVM, thin pools and LUKS), read-only, in the analysis guest: md RAID1 members
 * (their data mapped, md never assembling), LUKS volumes on partitions and on logical volumes and
 * BitLocker volumes on partitions (with their keys, `cryptsetup open --readonly`), and every linear
 * or striped LVM2 logical volume, read with `lvm --readonly` scoped to this image's devices and mapped
 * by `dmsetup create --readonly` under names of this device's own (never LVM's activation: two images
 * with one volume group name must each show their own). Delete closes them, top layer first.
 * PartitionMount takes `volumes` to mount what is inside.
 */
export class VolumeSystems extends pulumi.ComponentResource {
  /** Every layer opened, in the order it was opened. */
  public readonly volumes: pulumi.Output<OpenedVolume[]>;
  /** What was found and left closed, with the reason. */
  public readonly skipped: pulumi.Output<ClosedVolume[]>;

  constructor(name: string, args: VolumeSystemsArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(
      TYPE.VolumeSystems,
      name,
      {
        guest: args.guest,
        readOnly: args.readOnly,
        luksAt: (args.luks ?? []).map((l) => l.at),
        bitlockerAt: (args.bitlocker ?? []).map((b) => b.at),
      },
      opts,
    );
    let a: ValidatedVolumeArgs;
    try {
      a = validateVolumeArgs(args);
    } catch (err) {
      throw componentArgsError("VolumeSystems", name, err, this);
    }

    // deleteBeforeReplace: two generations would fight over the same mapping names.
    const open = hookResource(
      `${name}-open`,
      volumeHooks(
        args.guest,
        { nbdDevice: args.nbdDevice, arrayDevice: args.arrayDevice },
        a,
        // In the hook's order: LUKS_AT's keys, then BITLOCKER_AT's; a startup key's bytes come in base64.
        [
          ...(args.luks ?? []).map((k) => ({ value: k.key, encoding: "utf8" as const })),
          ...(args.bitlocker ?? []).map((k) => ({
            value: k.key,
            encoding: k.kind === "startupKey" ? ("base64" as const) : ("utf8" as const),
          })),
        ],
      ),
      { parent: this, deleteBeforeReplace: true, replaceOnChanges: ["create"] },
    );

    const result = open.stdout.apply((stdout) => parseHookResult(stdout, openResultSchema, `${name}-open (guest-open.sh)`) as OpenResult);
    this.volumes = result.apply((r) => r.volumes);
    this.skipped = result.apply((r) => r.skipped);
    this.registerOutputs({ volumes: this.volumes, skipped: this.skipped });
  }
}
