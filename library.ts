/**
 * forensic-lab as a library (the package's `main`): the components, to build a lab in your own Pulumi
 * program, and the pieces they stand on (config validation, `inspect`, type tokens). It sits above both
 * `components/` and `lib/`, so `lib/` never imports a component. `index.ts` beside it is the Pulumi
 * program that composes them for one case from its stack config.
 */
export { Case, type ImageLab } from "./components/case/Case";
export type { CaseArgs } from "./components/case/args";
export type { EvidenceSummary } from "./components/case/plan";
export { AnalysisGuest, type AnalysisGuestArgs } from "./components/analysis-guest/AnalysisGuest";
export { EvidenceVolume, type CaseStorage, type OpenInOptions } from "./components/evidence-volume/EvidenceVolume";
export type { EvidenceVolumeArgs } from "./components/evidence-volume/args";
export { ImageTransfer, type ImageTransferArgs } from "./components/image-transfer/ImageTransfer";
export { NbdAttachment } from "./components/nbd-attachment/NbdAttachment";
export type { NbdAttachmentArgs } from "./components/nbd-attachment/args";
export { PartitionMount } from "./components/partition-mount/PartitionMount";
export type { PartitionMountArgs } from "./components/partition-mount/args";
export { VolumeSystems } from "./components/volume-systems/VolumeSystems";
export type { LuksKey, VolumeSystemsArgs } from "./components/volume-systems/args";
export type { ClosedVolume, OpenedVolume } from "./components/volume-systems/plan";
export { RaidArray } from "./components/raid-array/RaidArray";
export type { RaidArrayArgs, RaidMember } from "./components/raid-array/args";
export { ConfigError, loadCaseConfigFromPulumi, loadStackFile, parseCaseConfig, type CaseConfig } from "./lib/config";
export { inspectImage, hashManifest, InspectError, type ImageManifest, type ImageFormat } from "./lib/inspect";
export { TYPE } from "./lib/tokens";
export type { GuestConnection } from "./lib/shell";
