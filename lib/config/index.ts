/**
 * One case's configuration: the zod-validated, fully resolved `CaseConfig`, read from a stack file
 * (`loadStackFile`, for `forensic-lab check-config`) or inside the Pulumi program
 * (`loadCaseConfigFromPulumi`). Keys and defaults are documented in `lib/config/README.md`.
 */
export * from "./types";
export {
  ConfigError,
  MIN_PASSPHRASE_LENGTH,
  NAMESPACE,
  PASSPHRASE_KEY,
  configKey,
  deriveSshPort,
  formatIssue,
  parseCaseConfig,
  parseNamespacedConfig,
  type ParseSource,
} from "./parse";
export { DEFAULT_GUEST_IMAGE_DIR, DEFAULT_LIBVIRT_URI, DEFAULT_MOUNT_ROOT, DEFAULT_STATE_ROOT } from "./schema";
export { loadStackFile, readStackConfig, type LoadStackFileOptions } from "./stack-file";
export { loadCaseConfigFromPulumi, stackFileName } from "./pulumi";
export { mountOptionProblem } from "./mount-options";
export { parseLibvirtUri, type LibvirtTarget } from "../libvirt-uri";
