/**
 * sha256 of every file in a manifest, each streamed once. Files are opened the same careful way as
 * for inspection (regular files only, access times untouched) and must still have the size the
 * manifest recorded: evidence that changes between inspection and hashing is reported, not hashed.
 */
import { createHash } from "crypto";
import { InspectError } from "./errors";
import { withImageFile } from "./files";
import type { FileInfo, ImageManifest } from "./types";

const CHUNK = 4 * 1024 * 1024;

export async function sha256File(info: FileInfo): Promise<string> {
  return withImageFile(info.path, undefined, async (file) => {
    if (file.size !== info.size) {
      throw new InspectError(info.path, `changed since inspection (was ${info.size} bytes, now ${file.size})`);
    }
    const hash = createHash("sha256");
    for (let offset = 0; offset < file.size; offset += CHUNK) {
      const chunk = await file.read(offset, CHUNK);
      if (chunk.length === 0) throw new InspectError(info.path, `shrank while being hashed (at byte ${offset})`);
      hash.update(chunk);
    }
    return hash.digest("hex");
  });
}

/** A copy of the manifest with `sha256` on every file. Files are hashed one after another. */
export async function hashManifest(manifest: ImageManifest): Promise<ImageManifest> {
  const files: FileInfo[] = [];
  for (const f of manifest.files) files.push({ ...f, sha256: await sha256File(f) });
  return { ...manifest, files };
}
