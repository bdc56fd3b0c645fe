import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { componentArgsError, parseArgs } from "../../lib/args-error";
import { hookResource } from "../../lib/command";
import { parseHookResult } from "../../lib/shell";
import { TYPE } from "../../lib/tokens";
import { BackingLayer, literalArgsSchema, NbdAttachmentArgs } from "./args";
import { AttachResult, attachResultSchema, attachmentHooks, NbdPartition, planAttachment } from "./plan";

/**
 * Serves one evidence image, read-only, as `/dev/nbdN` inside the analysis guest: `qemu-nbd --read-only
 * --format=<fmt>` on a pinned chain (see `imageSpec`), the kernel devices set read-only, the partition
 * table read back. An EWF set is first exposed as one read-only raw file by `ewfmount -X ro` (qemu has
 * no EWF driver) and served as raw. Delete disconnects and checks the kernel really let go (size 0) and qemu-nbd is gone.
 */
export class NbdAttachment extends pulumi.ComponentResource {
  /** `/dev/nbdN` in the guest. */
  public readonly nbdDevice: pulumi.Output<string>;
  /** The disk's partition table; empty when it has none. */
  public readonly partitions: pulumi.Output<NbdPartition[]>;

  constructor(name: string, args: NbdAttachmentArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(TYPE.NbdAttachment, name, { guest: args.guest, format: args.format, readOnly: args.readOnly, imagePath: args.imagePath }, opts);
    let literal: z.output<typeof literalArgsSchema>;
    try {
      literal = parseArgs(literalArgsSchema, args);
    } catch (err) {
      throw componentArgsError("NbdAttachment", name, err, this);
    }
    const { format, maxPartitions } = literal;

    // Paths may be Outputs (ImageTransfer's guest chain): they are checked as soon as they are known.
    const layers = pulumi
      .all([args.imagePath, pulumi.output(args.backingChain ?? []), pulumi.output(args.segments ?? [])])
      .apply(([imagePath, backingChain, segments]) => {
        try {
          return planAttachment(format, imagePath, backingChain as BackingLayer[], segments);
        } catch (err) {
          throw componentArgsError("NbdAttachment", name, err, this);
        }
      });

    // deleteBeforeReplace: a new generation must not attach the same image while the old one still
    // holds it. replaceOnChanges: a changed create hook must detach the old image, not merely re-run.
    const attach = hookResource(`${name}-attach`, attachmentHooks(args.guest, layers, format, maxPartitions), {
      parent: this,
      deleteBeforeReplace: true,
      replaceOnChanges: ["create"],
    });

    const result = attach.stdout.apply(
      (stdout) => parseHookResult(stdout, attachResultSchema, `${name}-attach (guest-attach.sh)`) as AttachResult,
    );
    this.nbdDevice = result.apply((r) => r.device);
    this.partitions = result.apply((r) => r.partitions);
    this.registerOutputs({ nbdDevice: this.nbdDevice, partitions: this.partitions });
  }
}
