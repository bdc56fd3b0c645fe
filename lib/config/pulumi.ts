import * as pulumi from "@pulumi/pulumi";
import { parseNamespacedConfig } from "./parse";
import type { CaseConfig } from "./types";

// `isConfigSecret` is what `pulumi.Config.get` uses to warn about secrets read as plain values; it
// is marked internal, so its type is not published.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- an internal module without typings
const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };

/**
 * The case's config inside a Pulumi program: every key the engine passed (`pulumi.runtime.allConfig()`),
 * secrets as the engine marked them, messages naming `stacks/Pulumi.<stack>.yaml`. The passphrase is
 * required here and comes back as a secret Output. Throws `ConfigError` (shown by the runtime without a
 * stack trace) before the program registers any resource.
 */
export function loadCaseConfigFromPulumi(
  opts: { readonly checkFiles?: boolean } = {},
): CaseConfig & { readonly evidenceVolumePassphrase: pulumi.Output<string> } {
  const all = pulumi.runtime.allConfig();
  const secretKeys = new Set(Object.keys(all).filter((key) => isConfigSecret(key)));
  const config = parseNamespacedConfig(all, {
    file: stackFileName(pulumi.getStack()),
    secretKeys,
    requirePassphrase: true,
    checkFiles: opts.checkFiles ?? true,
  });
  if (config.evidenceVolumePassphrase === undefined) {
    throw new Error("unreachable: requirePassphrase returned a config without a passphrase");
  }
  return config as CaseConfig & { readonly evidenceVolumePassphrase: pulumi.Output<string> };
}

/** Where a stack's config lives (`stackConfigDir: stacks` in Pulumi.yaml). */
export function stackFileName(stack: string): string {
  return `stacks/Pulumi.${stack}.yaml`;
}
