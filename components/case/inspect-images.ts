import { ConfigError, type CaseConfig } from "../../lib/config";
import { inspectImage, InspectError, type ImageManifest } from "../../lib/inspect";

/**
 * Inspects every configured image before any resource exists, without hashing (the program runs on
 * every preview; hashing belongs to the transfer). Problems come back as one ConfigError naming the
 * stack file and each image's key, so a broken chain stops `pulumi up` before anything is created.
 */
export async function inspectImages(config: CaseConfig, stackFile: string): Promise<Record<string, ImageManifest>> {
  const results = await Promise.allSettled(
    config.images.map((image) => inspectImage(image.path, image.format ? { format: image.format } : {})),
  );
  const manifests: Record<string, ImageManifest> = {};
  const issues: { key: string; message: string }[] = [];
  results.forEach((result, i) => {
    const image = config.images[i];
    const key = `forensic-lab:images[${i}].path`;
    if (result.status === "fulfilled") {
      manifests[image.name] = result.value;
    } else if (result.reason instanceof InspectError) {
      issues.push({ key, message: `${result.reason.message}; fix the image files or point the path at the top file` });
    } else {
      throw result.reason;
    }
  });
  if (issues.length > 0) throw new ConfigError(stackFile, issues);
  return manifests;
}
