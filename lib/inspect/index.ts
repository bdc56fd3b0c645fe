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
export { hashManifest, sha256File } from "./hash";
export { MAX_CHAIN_DEPTH, type InspectOptions } from "./inspect";
export { formatManifest, formatBytes, qemuCautions } from "./report";
export { IMAGE_FORMATS, type ExtentAccess, type ExtentInfo, type FileInfo, type ImageFormat, type ImageManifest, type LayerInfo } from "./types";

/**
 * Inspects an image from its top file. Relative paths resolve against the working directory; every
 * path in the manifest is absolute (not realpath'd). Throws `InspectError` ("<file>: <problem>") for
 * anything unusable: missing or non-regular files, loops, CID mismatches, damaged or absurd headers.
 */
export async function inspectImage(topPath: string, options: { format?: ImageFormat; hash?: boolean } = {}): Promise<ImageManifest> {
  const opts: InspectOptions = options;
  const manifest = await inspectLayers(topPath, opts);
  return opts.hash ? hashManifest(manifest) : manifest;
}
