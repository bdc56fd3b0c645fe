/**
 * NbdAttachment's args: the interface callers write, and its schemas (every check and default, once).
 * Paths may be Outputs (ImageTransfer's guest chain): `chainSchema` checks them once they resolve.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { absolutePath } from "../../lib/absolute-path";
import { IMAGE_FORMATS, type ImageFormat } from "../../lib/image-format";
import type { GuestConnection } from "../../lib/shell";

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
  /**
   * For format `ewf` only, and then required: every segment's guest path, first segment first
   * (ImageTransfer's `guestChain[0].segments`). libewf's `ewfmount -X ro` exposes exactly these as one
   * read-only raw file, which qemu-nbd serves as raw; nothing is globbed in the guest.
   */
  readonly segments?: pulumi.Input<string[]>;
  /** Always `true`: qemu-nbd `--read-only`, and the kernel devices are set read-only too. */
  readonly readOnly: true;
  /**
   * `max_part` when this attachment loads the nbd module (partitions per device). An already loaded
   * module is used as it is, unless it was loaded with `max_part=0` (then no partition would appear).
   * @default 16
   */
  readonly maxPartitions?: number;
}

const guestPath = absolutePath("a file in the guest");

const formatSchema = z.enum(IMAGE_FORMATS);

export const literalArgsSchema = z.strictObject({
  // Inputs: checked as they resolve (planAttachment).
  guest: z.unknown().optional(),
  imagePath: z.unknown().optional(),
  backingChain: z.unknown().optional(),
  segments: z.unknown().optional(),
  format: formatSchema,
  readOnly: z.literal(true, { error: "must be the literal true: evidence is only ever attached read-only" }),
  maxPartitions: z.number().int().min(1).max(255).default(16),
});

export const chainSchema = z
  .object({
    format: formatSchema,
    imagePath: guestPath,
    backingChain: z.array(z.object({ path: guestPath, format: formatSchema })),
    segments: z.array(guestPath),
  })
  .superRefine((c, ctx) => {
    if (c.format !== "ewf") {
      if (c.segments.length > 0) ctx.addIssue({ code: "custom", path: ["segments"], message: "only applies to format ewf" });
      return;
    }
    if (c.backingChain.length > 0) ctx.addIssue({ code: "custom", path: ["backingChain"], message: "an EWF set has no backing chain" });
    if (c.segments[0] !== c.imagePath) {
      ctx.addIssue({
        code: "custom",
        path: ["segments"],
        message: "must list every segment of the set, starting with imagePath (its first)",
      });
    }
    if (new Set(c.segments).size !== c.segments.length)
      ctx.addIssue({ code: "custom", path: ["segments"], message: "lists a segment twice" });
  });
