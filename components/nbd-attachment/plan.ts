/**
 * The pure half of NbdAttachment: validated args -> the `json:` image spec qemu-nbd serves, the state
 * key, and the attach and detach hook texts; and the check of what the attach hook prints.
 */
import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { parseArgs } from "../../lib/args-error";
import { hookFile } from "../../lib/hook-file";
import { result as field } from "../../lib/hook-result";
import { type ImageFormat, LAYERED_FORMATS, qemuFormatOf, type QemuFormat } from "../../lib/image-format";
import { GuestConnection, inGuestCommand } from "../../lib/shell";
import { BackingLayer, chainSchema } from "./args";

export const ATTACH_HOOK = hookFile("nbd-attachment", "guest-attach.sh");
export const DETACH_HOOK = hookFile("nbd-attachment", "guest-detach.sh");

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

/** What guest-attach.sh prints: every partition node belongs to the device and carries its number. */
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

/**
 * The `json:` pseudo-filename qemu opens: every layer names its driver (nothing is probed) and its
 * backing file explicitly (the base gets `backing: null`), each node read-only. The create and delete
 * hooks both match the running qemu-nbd by this exact string, so it must be built in one place.
 */
export function imageSpec(format: QemuFormat, imagePath: string, backingChain: readonly BackingLayer[]): string {
  const layers: BackingLayer[] = [{ path: imagePath, format }, ...backingChain];
  let below: Record<string, unknown> | null = null;
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i];
    const node: Record<string, unknown> = {
      driver: qemuFormatOf(layer.format),
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
  /** The driver qemu-nbd is told (`--format`): the format, or raw for the file ewfmount exposes. */
  readonly qemuFormat: QemuFormat;
  /** EWF only: every segment's guest path, first first; [] otherwise. */
  readonly segments: string[];
  /** EWF only: where `ewfmount -X ro` exposes the set as `ewf1`; "" otherwise. */
  readonly ewfMount: string;
}

/** Where ewfmount exposes an EWF set in the guest: one folder per set, named by its segments. */
export const EWF_MOUNT_ROOT = "/run/forensic-lab/ewf";

/**
 * How long a detach waits for the lab's md array over the image to be removed first. `pulumi up
 * --replace` of several member attachments deletes the array in one member's steps and may detach the
 * others beside them (guest-detach.sh says more); under software emulation that removal (the array's
 * mounts, its volumes, then the array) takes tens of seconds while every image is being replaced.
 */
export const ARRAY_RELEASE_SECONDS = 180;

/** Validates the guest paths and works out the plan; throws an Error naming the bad field. */
export function planAttachment(
  format: ImageFormat,
  imagePath: string,
  backingChain: readonly BackingLayer[],
  segments: readonly string[] = [],
): AttachmentPlan {
  const chain = parseArgs(chainSchema, { format, imagePath, backingChain, segments });
  const all: BackingLayer[] = [{ path: chain.imagePath, format }, ...(chain.backingChain as BackingLayer[])];
  if (format === "ewf") {
    const ewfMount = `${EWF_MOUNT_ROOT}/${createHash("sha256").update(JSON.stringify(chain.segments)).digest("hex")}`;
    const spec = imageSpec("raw", `${ewfMount}/ewf1`, []);
    return {
      spec,
      stateKey: createHash("sha256").update(spec).digest("hex"),
      paths: [chain.imagePath],
      formats: ["ewf"],
      aloneSpecs: [""],
      qemuFormat: "raw",
      segments: chain.segments,
      ewfMount,
    };
  }
  const spec = imageSpec(qemuFormatOf(format), chain.imagePath, all.slice(1));
  return {
    spec,
    stateKey: createHash("sha256").update(spec).digest("hex"),
    paths: all.map((l) => l.path),
    formats: all.map((l) => l.format),
    aloneSpecs: all.map((l) => (LAYERED_FORMATS.has(l.format) ? imageSpec(qemuFormatOf(l.format), l.path, []) : "")),
    qemuFormat: qemuFormatOf(format),
    segments: [],
    ewfMount: "",
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
        QEMU_FORMAT: layers.apply((l) => l.qemuFormat),
        EWF_SEGMENTS: layers.apply((l) => l.segments),
        EWF_MOUNT: layers.apply((l) => l.ewfMount),
        LAYER_PATHS: layers.apply((l) => l.paths),
        LAYER_FORMATS: layers.apply((l) => l.formats),
        LAYER_ALONE_SPECS: layers.apply((l) => l.aloneSpecs),
        MAX_PARTITIONS: maxPartitions,
      },
      "fail",
    ),
    delete: inGuestCommand(
      guest,
      DETACH_HOOK,
      { IMAGE_SPEC: spec, STATE_KEY: stateKey, EWF_MOUNT: layers.apply((l) => l.ewfMount), ARRAY_RELEASE_SECONDS },
      "succeed",
    ),
  };
}
