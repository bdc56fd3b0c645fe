import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { IMAGE_NAME } from "../../lib/config/schema";
import type { ImageManifest } from "../../lib/inspect/types";
import { GuestConnection } from "../../lib/shell";

import { absolutePath as absolutePathOf } from "../../lib/absolute-path";
import { parseArgs } from "../../lib/args-error";
import { result } from "../../lib/hook-result";
import { IMAGE_FORMATS } from "../../lib/image-format";

export type { ImageFormat } from "../../lib/image-format";

const absolutePath = absolutePathOf();

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hex digits");

/**
 * The part of `lib/inspect`'s manifest a transfer reads. Other fields pass through untouched, so the
 * inspector can grow without breaking this component.
 */
export const manifestSchema = z.looseObject({
  format: z.enum(IMAGE_FORMATS),
  chain: z
    .array(
      z.looseObject({
        path: absolutePath,
        format: z.enum(IMAGE_FORMATS),
        // A ZERO extent has no file (path null).
        extents: z.array(z.looseObject({ path: absolutePath.nullable() })).optional(),
      }),
    )
    .min(1, "must name at least the top layer"),
  files: z
    .array(z.looseObject({ path: absolutePath, size: z.number().int().nonnegative(), sha256: sha256.optional() }))
    .min(1, "must list at least one file"),
  // An EWF set's own record: the acquisition hashes its headers store, which the guest checks the data against.
  acquisition: z
    .looseObject({
      container: z.literal("ewf"),
      md5: result.md5.nullable(),
      sha1: result.sha1.nullable(),
    })
    .optional(),
});

/** What the schema checks of a manifest; `lib/inspect`'s `ImageManifest` is one. */
export type TransferManifest = z.infer<typeof manifestSchema>;

/** Image names become guest folders, state files and resource names: the config's image name rule. */
export const SAFE_NAME = IMAGE_NAME;

export interface ImageTransferArgs {
  /** The analysis guest the files go to (from `AnalysisGuest.connection`). */
  readonly guest: pulumi.Input<GuestConnection>;
  /** Names the image in guest paths, custody lines and state files: lower-case letters, digits, `-`. */
  readonly imageName: string;
  /** What `inspectImage` found: the chain (top first) and every file it needs, absolute host paths. */
  readonly manifest: ImageManifest | TransferManifest;
  /** `sshfs`: the guest reads the host files through a read-only sftp stream; `scp`: copies onto `/case`. */
  readonly mode: "sshfs" | "scp";
  /** Always `true`: evidence reaches the guest read-only (sftp-server `-R` / immutable 0444 copies). */
  readonly readOnly: true;
  /** Always `true`: every file is hashed on the host before and in the guest after, and compared. */
  readonly hashed: true;
  /**
   * Guest folder the image's files appear under.
   * @default `/evidence/<imageName>` for sshfs, `/case/images/<imageName>` for scp (the encrypted case storage)
   */
  readonly guestRoot?: string;
  /** Host path of the case's custody log (JSON lines, appended to). */
  readonly custodyLogPath: string;
  /** Who is examining: written into every custody line. */
  readonly examiner: string;
  /**
   * Host folder for this case's runtime state (sftp pipe pid files, fifos, sftp jails).
   * @default the folder of `custodyLogPath`
   */
  readonly stateDir?: string;
}

export const argsSchema = z.strictObject({
  // An Input: ImageTransfer hands it to the hooks as it resolves.
  guest: z.unknown().optional(),
  imageName: z.string().regex(SAFE_NAME, `must match ${SAFE_NAME} (lower-case letters, digits and '-', at most 32)`),
  manifest: manifestSchema,
  mode: z.enum(["sshfs", "scp"]),
  readOnly: z.literal(true, { error: "must be the literal true: evidence only ever reaches the guest read-only" }),
  hashed: z.literal(true, { error: "must be the literal true: every file is hashed on the host and in the guest" }),
  guestRoot: absolutePath.refine((p) => p !== "/", "must not be '/'").optional(),
  custodyLogPath: absolutePath,
  examiner: z
    .string()
    .min(1, "must name who examines")
    .refine((s) => !/[\0-\x1f\x7f]/.test(s), "must not contain control characters"),
  stateDir: absolutePath.optional(),
});

/** Validated args with defaults applied. */
export type ValidatedArgs = z.infer<typeof argsSchema> & { guestRoot: string; stateDir: string };

/** Validates args; the error names every bad key (`manifest.chain[1].path: must be absolute (got ...)`). */
export function validateArgs(args: Omit<ImageTransferArgs, "guest"> & { guest?: unknown }): ValidatedArgs {
  const v = parseArgs(argsSchema, args);
  return {
    ...v,
    guestRoot: v.guestRoot ?? (v.mode === "sshfs" ? `/evidence/${v.imageName}` : `/case/images/${v.imageName}`),
    stateDir: v.stateDir ?? path.dirname(v.custodyLogPath),
  };
}
