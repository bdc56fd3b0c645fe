/**
 * Pulumi type tokens of every forensic-lab component. Components, tests and the policy pack all import
 * them from here, so a rename is one edit (and an `aliases` entry on the component).
 */
export const TYPE = {
  Case: "forensic-lab:index:Case",
  EvidenceVolume: "forensic-lab:index:EvidenceVolume",
  AnalysisGuest: "forensic-lab:index:AnalysisGuest",
  ImageTransfer: "forensic-lab:index:ImageTransfer",
  NbdAttachment: "forensic-lab:index:NbdAttachment",
  PartitionMount: "forensic-lab:index:PartitionMount",
  VolumeSystems: "forensic-lab:index:VolumeSystems",
  RaidArray: "forensic-lab:index:RaidArray",
} as const;

export type TypeToken = (typeof TYPE)[keyof typeof TYPE];

/** Token of `@pulumi/command`'s local command, the only custom resource the lab creates. */
export const LOCAL_COMMAND = "command:local:Command";
