/**
 * forensic-lab as a library (the package's `main`): the components, to build a lab in your own Pulumi
 * program, and the pieces they stand on (config validation, `inspect`, type tokens). It sits above both
 * `components/` and `lib/`, so `lib/` never imports a component. `index.ts` beside it is the Pulumi
 * program that composes them for one case from its stack config.
 */
export { Case, type CaseArgs, type EvidenceSummary, type ImageLab } from "./components/case/Case";
export { AnalysisGuest, type AnalysisGuestArgs } from "./components/analysis-guest/AnalysisGuest";
export { EvidenceVolume, type EvidenceVolumeArgs, type CaseStorage, type OpenInOptions } from "./components/evidence-volume";
export { ImageTransfer, type ImageTransferArgs } from "./components/image-transfer/ImageTransfer";
export { NbdAttachment, type NbdAttachmentArgs } from "./components/nbd-attachment/NbdAttachment";
export { PartitionMount, type PartitionMountArgs } from "./components/partition-mount/PartitionMount";
export { ConfigError, loadCaseConfigFromPulumi, loadStackFile, parseCaseConfig, type CaseConfig } from "./lib/config";
export { inspectImage, hashManifest, InspectError, type ImageManifest, type ImageFormat } from "./lib/inspect";
export { TYPE } from "./lib/tokens";
export type { GuestConnection } from "./lib/shell";
