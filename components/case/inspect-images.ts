import { promises as fsp } from "fs";
import { ConfigError, configKey, type CaseConfig, type ConfigIssue } from "../../lib/config";
import { hookSizeProblem } from "./hook-limits";
import { EvidenceRoots, inspectImage, InspectError, isWithin, resolveMaybeMissing, RootError, type ImageManifest } from "../../lib/inspect";

/**
 * Inspects every configured image before any resource exists, without hashing (the program runs on
 * every preview; hashing belongs to the transfer). Every file must lie under the image's evidence roots
 * (its defaults plus `images[].roots`), never in the case's state folder. Then the lab's own writes are
 * checked against what was found: the evidence volume file must not be any file of any chain (by any
 * name, hard links included), hold one, or lie in an evidence root; and no hook the image needs may
 * outgrow one kernel argument (`hook-limits.ts`). Problems come back as one
 * ConfigError naming the stack file and each key, so `pulumi up` stops before anything is created.
 */
export async function inspectImages(config: CaseConfig, stackFile: string): Promise<Record<string, ImageManifest>> {
  // The case's state (keys, disks, custody log) and the guest's own image are never evidence.
  const forbidden = [config.stateDir, config.guest.imageDir];
  const results = await Promise.allSettled(
    config.images.map((image) =>
      inspectImage(image.path, { ...(image.format ? { format: image.format } : {}), roots: image.roots, forbidden }),
    ),
  );
  const manifests: Record<string, ImageManifest> = {};
  const issues: ConfigIssue[] = [];
  results.forEach((result, i) => {
    const image = config.images[i];
    if (result.status === "fulfilled") {
      manifests[image.name] = result.value;
    } else if (result.reason instanceof RootError) {
      issues.push({ key: configKey(["images", i, "roots", result.reason.index]), message: result.reason.message });
    } else if (result.reason instanceof InspectError) {
      issues.push({
        key: configKey(["images", i, "path"]),
        message: `${result.reason.message}; fix the image files or point the path at the top file`,
      });
    } else {
      throw result.reason;
    }
  });
  if (issues.length > 0) throw new ConfigError(stackFile, issues);

  const volumeIssue = await evidenceVolumeClash(config, manifests, forbidden);
  if (volumeIssue) throw new ConfigError(stackFile, [volumeIssue]);

  // Every hook is one argument to the kernel: an image whose texts would not fit is refused now,
  // not by E2BIG half way through `up`.
  for (const [i, image] of config.images.entries()) {
    const problem = await hookSizeProblem(config, image, manifests[image.name]);
    if (problem) issues.push({ key: configKey(["images", i, "path"]), message: `${image.path}: ${problem}` });
  }
  if (issues.length > 0) throw new ConfigError(stackFile, issues);
  return manifests;
}

/** `dev:ino` of what `p` names (symlinks followed), or null when there is nothing there yet. */
async function identityOf(p: string): Promise<string | null> {
  try {
    const st = await fsp.stat(p);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

/**
 * Why the file-backed evidence volume would land on evidence, or `undefined`. `pulumi destroy` erases
 * that file and `up` creates its folder and writes it, so it must not be (by any spelling, symlink or
 * hard link), contain, or lie inside any file of any image's chain, nor lie in an evidence root.
 */
async function evidenceVolumeClash(
  config: CaseConfig,
  manifests: Readonly<Record<string, ImageManifest>>,
  forbidden: readonly string[],
): Promise<ConfigIssue | undefined> {
  const volume = config.evidenceVolume;
  if (volume.backend !== "file") return undefined;
  const key = configKey(["evidenceVolume", "path"]);
  const resolved = await resolveMaybeMissing(volume.path);
  const id = await identityOf(volume.path);
  const shown = resolved === volume.path ? `'${volume.path}'` : `'${volume.path}' (resolves to '${resolved}')`;
  const erase =
    "the lab writes and on destroy erases this file; choose a path outside the evidence (the default is <stateDir>/evidence.luks)";
  for (const [i, image] of config.images.entries()) {
    const manifest = manifests[image.name];
    for (const file of manifest.files) {
      if (file.path === resolved) return { key, message: `${shown} is '${file.path}', a file of images[${i}]; ${erase}` };
      if (id !== null && (await identityOf(file.path)) === id) {
        return { key, message: `${shown} is the same file as '${file.path}' of images[${i}] (a hard link); ${erase}` };
      }
      if (isWithin(file.path, resolved)) return { key, message: `${shown} contains '${file.path}', a file of images[${i}]; ${erase}` };
      if (isWithin(resolved, file.path)) return { key, message: `${shown} lies inside '${file.path}', a file of images[${i}]; ${erase}` };
    }
    const roots = await EvidenceRoots.forImage(manifest.chain[0].path, { roots: image.roots, forbidden });
    const root = roots.all.find((r) => isWithin(resolved, r));
    if (root !== undefined) return { key, message: `${shown} lies in '${root}', an evidence root of images[${i}]; ${erase}` };
  }
  return undefined;
}
