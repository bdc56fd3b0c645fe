import { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPE } from "../../lib/tokens";
import { requireLiteralTrue } from "../lib/checks";
import { isMountProgram } from "../lib/evidence-writes";
import { commandTexts, isCommandType, parentType, peek, show } from "../lib/resources";
import { invocationsIn, wordsIn } from "../lib/shell-text";

/** Mount options a user may not add: each turns a read-only, inert mount back into something else. */
export const FORBIDDEN_MOUNT_OPTIONS: Readonly<Record<string, string>> = {
  rw: "mounts the evidence read-write",
  remount: "can turn the read-only mount writable later",
  defaults: "implies rw, suid, dev and exec",
  recover: "lets ntfs-3g replay the NTFS log file onto the evidence",
  remove_hiberfile: "deletes hiberfil.sys from the evidence",
  force: "makes ntfs-3g mount a volume Windows left hibernated or unclean",
  suid: "honours set-uid programs from the evidence",
  dev: "opens device files from the evidence",
  exec: "runs programs from the evidence",
  journal_dev: "points ext3/4 at an outside journal to replay",
  journal_path: "points ext3/4 at an outside journal to replay",
  clear_cache: "makes btrfs rebuild its free-space cache, a write",
  discard: "sends discards to the device",
};

/**
 * What a PartitionMount's hook must carry for the per-filesystem choice it makes at run time: `ro`,
 * the journal-replay switches (ext3/4 `noload`, xfs `norecovery`, btrfs `nologreplay` /
 * `rescue=nologreplay`, ntfs-3g `norecover`; a "read-only" ext4 mount still replays its journal) and
 * `nodev,nosuid,noexec`.
 */
export const REQUIRED_MOUNT_WORDS: readonly string[] = [
  "ro",
  "noload",
  "norecovery",
  "nologreplay",
  "norecover",
  "nodev",
  "nosuid",
  "noexec",
];

/**
 * The mount options a word carries: its comma-separated elements, after a leading `name=` assignment
 * (`options=noload,$HARDENING`) and with `rescue=nologreplay` giving `nologreplay` too. A path such as
 * `/mnt/noload-x` is one element that names no option.
 */
function optionElements(word: string): string[] {
  const value = word.replace(/^[A-Za-z_][A-Za-z0-9_]*\+?=/, "");
  return value.split(",").flatMap((e) => [e, ...(e.includes("=") ? [e.slice(e.indexOf("=") + 1)] : [])]);
}

export const partitionMountReadOnly: ResourceValidationPolicy = {
  name: "partition-mount-read-only",
  description: "Partitions are mounted read-only, without journal replay, devices, set-uid or exec, and no option turns writing back on.",
  enforcementLevel: "mandatory",
  validateResource: [
    (args, reportViolation) => {
      if (args.type !== TYPE.PartitionMount) return;
      requireLiteralTrue(args.props, "readOnly", "the partition would be mounted writable", reportViolation);
      const extra = peek(args.props, "extraOptions");
      if (!extra.known) {
        reportViolation("extraOptions must be a literal list, not a value computed during deployment");
        return;
      }
      if (extra.value === undefined) return;
      if (!Array.isArray(extra.value) || !extra.value.every((o) => typeof o === "string")) {
        reportViolation(`extraOptions must be a list of strings, got ${show(extra.value)}`);
        return;
      }
      for (const option of extra.value.flatMap((o: string) => o.split(","))) {
        const name = option.trim().split("=")[0];
        const why = FORBIDDEN_MOUNT_OPTIONS[name];
        if (why !== undefined) reportViolation(`extraOptions must not contain '${option.trim()}': it ${why}`);
      }
    },
    (args, reportViolation) => {
      if (!isCommandType(args.type) || parentType(args.urn) !== TYPE.PartitionMount) return;
      for (const { step, text } of commandTexts(args.props)) {
        if (!invocationsIn(text).some((i) => isMountProgram(i.program))) continue;
        const carried = new Set(wordsIn(text).flatMap(optionElements));
        const missing = REQUIRED_MOUNT_WORDS.filter((w) => !carried.has(w));
        if (missing.length > 0) {
          reportViolation(
            `${step} hook mounts without ${missing.join(", ")}: the hook must pick ro plus the journal-safe option for each filesystem and nodev,nosuid,noexec`,
          );
        }
      }
    },
  ],
};
