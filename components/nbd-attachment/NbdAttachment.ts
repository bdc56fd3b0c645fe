import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { absolutePath } from "../../lib/absolute-path";
import { componentArgsError, parseArgs } from "../../lib/args-error";
import { hookResource } from "../../lib/command";
import { result as field } from "../../lib/hook-result";
import { GuestConnection, inGuestCommand, parseHookResult } from "../../lib/shell";
import { TYPE } from "../../lib/tokens";
import { IMAGE_FORMATS, type ImageFormat, LAYERED_FORMATS } from "../../lib/image-format";

export const ATTACH_HOOK = "components/nbd-attachment/attach.sh";
export const DETACH_HOOK = "components/nbd-attachment/detach.sh";

/** One layer below the top, as the guest sees it. */
export interface BackingLayer {
  /** Absolute guest path of the layer's file (its descriptor, for a split vmdk). */
  readonly path: string;
  readonly format: ImageFormat;
}

export interface NbdAttachmentArgs {
  /** The analysis guest (from `AnalysisGuest.connection`). */
  readonly guest: pulumi.Input<GuestConnection>;
  /** Absolute guest path of the image's top file (a snapshot's descriptor, or the only file). */
  readonly imagePath: pulumi.Input<string>;
  /** Format of the top file, as `inspect` found it. Passed to qemu; never probed. */
  readonly format: ImageFormat;
  /**
   * Every layer below the top, top first, with guest paths. Each layer's backing file is pinned to the
   * next one here, so parent hints written on another machine (an absolute `parentFileNameHint`) never
   * decide what is read, and no evidence file is edited. The create hook checks that each layer declares
   * a parent exactly when this list gives it one.
   * @default [] (the image is a single layer)
   */
  readonly backingChain?: pulumi.Input<pulumi.Input<BackingLayer>[]>;
  /** Always `true`: qemu-nbd `--read-only`, and the kernel devices are set read-only too. */
  readonly readOnly: true;
  /**
   * `max_part` when this attachment loads the nbd module (partitions per device). An already loaded
   * module is used as it is, unless it was loaded with `max_part=0` (then no partition would appear).
   * @default 16
   */
  readonly maxPartitions?: number;
}

/** One entry of the partition table (`sfdisk --json`), with the byte offset worked out. */
export interface NbdPartition {
  readonly number: number;
  /** Guest device node, e.g. `/dev/nbd0p2`. */
  readonly node: string;
  readonly startSector: number;
  readonly sizeSectors: number;
  /** MBR type (`7`, `83`, ...) or GPT type GUID, as sfdisk prints it. */
  readonly type: string;
  /** `startSector × sectorSize`: where the partition starts inside the disk. */
  readonly byteOffset: number;
  readonly sectorSize: number;
}

/** What the create hook prints. */
export interface AttachResult {
  readonly device: string;
  readonly sectorSize: number;
  /** `dos`, `gpt`, ...; null when the disk has no partition table. */
  readonly label: string | null;
  readonly partitions: NbdPartition[];
}

/** What attach.sh prints: every partition node belongs to the device and carries its number. */
export const attachResultSchema = z
  .strictObject({
    device: field.nbdDevice,
    sectorSize: z.union([z.literal(512), z.literal(1024), z.literal(2048), z.literal(4096)]),
    label: z.enum(["dos", "gpt", "sun", "sgi"]).nullable(),
    partitions: z.array(
      z.strictObject({
        number: z.number().int().min(1),
        node: field.nbdPartition,
        startSector: field.count,
        sizeSectors: field.count,
        type: z.string().regex(/^[0-9A-Za-z-]+$/),
        byteOffset: field.count,
        sectorSize: z.number().int().positive(),
      }),
    ),
  })
  .refine(
    (r) =>
      r.partitions.every(
        (p) => p.node === `${r.device}p${p.number}` && p.sectorSize === r.sectorSize && p.byteOffset === p.startSector * r.sectorSize,
      ),
    "every partition must be <device>p<number> with the device's sector size",
  );

const guestPath = absolutePath("a file in the guest");

const formatSchema = z.enum(IMAGE_FORMATS);

const literalArgsSchema = z.strictObject({
  // Inputs: checked as they resolve (planAttachment).
  guest: z.unknown().optional(),
  imagePath: z.unknown().optional(),
  backingChain: z.unknown().optional(),
  format: formatSchema,
  readOnly: z.literal(true, { error: "must be the literal true: evidence is only ever attached read-only" }),
  maxPartitions: z.number().int().min(1).max(255).default(16),
});

const chainSchema = z.object({
  imagePath: guestPath,
  backingChain: z.array(z.object({ path: guestPath, format: formatSchema })),
});

/**
 * The `json:` pseudo-filename qemu opens: every layer names its driver (nothing is probed) and its
 * backing file explicitly (the base gets `backing: null`), each node read-only. The create and delete
 * hooks both match the running qemu-nbd by this exact string, so it must be built in one place.
 */
export function imageSpec(format: ImageFormat, imagePath: string, backingChain: readonly BackingLayer[]): string {
  const layers: BackingLayer[] = [{ path: imagePath, format }, ...backingChain];
  let below: Record<string, unknown> | null = null;
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i];
    const node: Record<string, unknown> = {
      driver: layer.format,
      "read-only": true,
      file: { driver: "file", filename: layer.path },
    };
    if (below !== null) {
      if (!LAYERED_FORMATS.has(layer.format)) {
        throw new Error(`a ${layer.format} layer ('${layer.path}') cannot have a backing file, but backingChain lists one below it`);
      }
      node.backing = below;
    } else if (LAYERED_FORMATS.has(layer.format)) {
      node.backing = null;
    }
    below = node;
  }
  return `json:${JSON.stringify(below)}`;
}

/** Everything the hooks need about one image, worked out from the args. */
export interface AttachmentPlan {
  /** `imageSpec(...)`: what qemu-nbd serves and both hooks match the running server by. */
  readonly spec: string;
  /** sha256 of `spec`: names the guest's state file for this attachment. */
  readonly stateKey: string;
  /** Top first: every layer's guest path and format. */
  readonly paths: string[];
  readonly formats: ImageFormat[];
  /** Each layer opened alone (`backing: null`), to ask it whether it declares a parent; "" for formats without one. */
  readonly aloneSpecs: string[];
}

/** Validates the guest paths and works out the plan; throws an Error naming the bad field. */
export function planAttachment(format: ImageFormat, imagePath: string, backingChain: readonly BackingLayer[]): AttachmentPlan {
  const chain = parseArgs(chainSchema, { imagePath, backingChain });
  const all: BackingLayer[] = [{ path: chain.imagePath, format }, ...(chain.backingChain as BackingLayer[])];
  const spec = imageSpec(format, chain.imagePath, all.slice(1));
  return {
    spec,
    stateKey: createHash("sha256").update(spec).digest("hex"),
    paths: all.map((l) => l.path),
    formats: all.map((l) => l.format),
    aloneSpecs: all.map((l) => (LAYERED_FORMATS.has(l.format) ? imageSpec(l.format, l.path, []) : "")),
  };
}

/**
 * The attach and detach texts for a planned attachment. The Case renders them before any resource
 * exists to check that no text outgrows what one command may carry.
 */
export function attachmentHooks(
  guest: pulumi.Input<GuestConnection>,
  plan: pulumi.Input<AttachmentPlan>,
  format: ImageFormat,
  maxPartitions: number,
): { create: pulumi.Output<string>; delete: pulumi.Output<string> } {
  const layers = pulumi.output(plan);
  const spec = layers.apply((l) => l.spec);
  const stateKey = layers.apply((l) => l.stateKey);
  return {
    create: inGuestCommand(
      guest,
      ATTACH_HOOK,
      {
        IMAGE_SPEC: spec,
        STATE_KEY: stateKey,
        IMAGE_FORMAT: format,
        LAYER_PATHS: layers.apply((l) => l.paths),
        LAYER_FORMATS: layers.apply((l) => l.formats),
        LAYER_ALONE_SPECS: layers.apply((l) => l.aloneSpecs),
        MAX_PARTITIONS: maxPartitions,
      },
      "fail",
    ),
    delete: inGuestCommand(guest, DETACH_HOOK, { IMAGE_SPEC: spec, STATE_KEY: stateKey }, "succeed"),
  };
}

/**
 * Serves one evidence image, read-only, as `/dev/nbdN` inside the analysis guest: `qemu-nbd --read-only
 * --format=<fmt>` on a pinned chain (see `imageSpec`), the kernel devices set read-only, the partition
 * table read back. Delete disconnects and checks the kernel really let go (size 0) and qemu-nbd is gone.
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
    const layers = pulumi.all([args.imagePath, pulumi.output(args.backingChain ?? [])]).apply(([imagePath, backingChain]) => {
      try {
        return planAttachment(format, imagePath, backingChain as BackingLayer[]);
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
      (stdout) => parseHookResult(stdout, attachResultSchema, `${name}-attach (attach.sh)`) as AttachResult,
    );
    this.nbdDevice = result.apply((r) => r.device);
    this.partitions = result.apply((r) => r.partitions);
    this.registerOutputs({ nbdDevice: this.nbdDevice, partitions: this.partitions });
  }
}
