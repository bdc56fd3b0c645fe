import * as pulumi from "@pulumi/pulumi";
import type { CaseConfig } from "../../lib/config";
import type { ImageManifest } from "../../lib/inspect";

/**
 * A Case's args. The config is validated and resolved by `lib/config` (every key, its default and its
 * check live there, once); the Case only checks that the two agree.
 */
export interface CaseArgs {
  /** The validated, resolved stack config (`loadCaseConfigFromPulumi`); carries the passphrase as a secret. */
  readonly config: CaseConfig & { readonly evidenceVolumePassphrase: pulumi.Output<string> };
  /** What `inspect` found for each image, by image name: the file set the lab works from. */
  readonly manifests: Readonly<Record<string, ImageManifest>>;
}

/** The configured images `inspect` has no manifest for (the Case refuses to start without one). */
export function imagesWithoutManifest(args: CaseArgs): string[] {
  return args.config.images.map((image) => image.name).filter((name) => !args.manifests[name]);
}
