/**
 * `inspect`: given only the top file of a disk image, find every file the image needs (descriptors,
 * extents, snapshot parents, backing files, external data files), reading only text descriptors and
 * fixed-size headers, never partition or filesystem data. The result is the manifest the rest of the
 * lab works from: ImageTransfer moves its files, NbdAttachment opens its top with its format.
 */
import { hashManifest } from "./hash";
import { inspectLayers, type InspectOptions } from "./inspect";
import type { ImageFormat, ImageManifest } from "./types";

export { InspectError } from "./errors";
export { inspectEwfSet, isFirstEwfSegment, type EwfSet } from "./ewf";
export { hashManifest, sha256File } from "./hash";
export { MAX_CHAIN_DEPTH, type InspectOptions } from "./inspect";
export { EvidenceRoots, FORBIDDEN_FOLDERS, PROTECTED_FOLDERS, RootError, isWithin, resolveMaybeMissing, type RootOptions } from "./roots";
export { formatManifest, formatBytes, qemuCautions } from "./report";
export {
  IMAGE_FORMATS,
  type Acquisition,
  type ExtentAccess,
  type ExtentInfo,
  type FileInfo,
  type ImageFormat,
  type ImageManifest,
  type LayerInfo,
} from "./types";

/**
 * Inspects an image from its top file. Relative paths resolve against the working directory; every
 * path in the manifest is absolute and resolved (symlinks followed): the file that is hashed,
 * transferred and attached. Every file must lie under the image's evidence roots (`roots.ts`;
 * `options.roots` adds folders, `options.forbidden` adds lab state that is never evidence). Throws
 * `InspectError` ("<file>: <problem>") for anything unusable: files outside the roots, missing or
 * non-regular files, loops, CID mismatches, damaged or absurd headers; `RootError` (an InspectError)
 * for an unusable `options.roots` entry.
 */
export async function inspectImage(
  topPath: string,
  options: { format?: ImageFormat; hash?: boolean; roots?: readonly string[]; forbidden?: readonly string[] } = {},
): Promise<ImageManifest> {
  const opts: InspectOptions = options;
  const manifest = await inspectLayers(topPath, opts);
  return opts.hash ? hashManifest(manifest) : manifest;
}
