/**
 * `evidence.json`, what scripts/make-evidence.sh writes beside the evidence it makes: the layout, the known
 * files of each partition, and every file of the chain with its size and sha256. One definition for the
 * tests, the e2e and the bench (none of which is part of the package build).
 */
import * as fs from "fs";
import * as path from "path";

export interface MadeEvidence {
  readonly generator: "scripts/make-evidence.sh";
  readonly version: number;
  /** Size of ext4's bulk.bin, MiB (`--size-mib`). */
  readonly sizeMib: number;
  readonly format: "vmdk";
  readonly virtualSize: number;
  /** Relative to the evidence folder, like every path here. */
  readonly top: string;
  /** Top first. */
  readonly chain: readonly string[];
  readonly partitions: readonly MadePartition[];
  readonly files: readonly MadeFile[];
  /** The same disk as an EWF set (ewfacquire): its first segment, every segment, and the hashes it stores. */
  readonly ewf: { readonly top: string; readonly md5: string; readonly sha1: string; readonly segments: readonly MadeFile[] };
}

export interface MadeFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export interface MadePartition {
  readonly number: number;
  readonly type: string;
  readonly filesystem: string;
  readonly startSector: number;
  readonly sizeSectors: number;
  /** ext4 only: its dirty journal, and what a replay would change. */
  readonly journal?: string;
  /** ext4 only: bytes of bulk.bin. */
  readonly bulkBytes?: number;
  /** Known files: path in the partition -> content. */
  readonly files: Readonly<Record<string, string>>;
}

/** `<dir>/evidence.json`. */
export function readMadeEvidence(dir: string): MadeEvidence {
  return JSON.parse(fs.readFileSync(path.join(dir, "evidence.json"), "utf8")) as MadeEvidence;
}

/** `volumes.json`, what scripts/make-volume-evidence.sh writes beside the laptop disk it makes. */
export interface MadeVolumes {
  readonly generator: "scripts/make-volume-evidence.sh";
  readonly version: number;
  /** The disk, relative to the folder. */
  readonly top: string;
  readonly sha256: string;
  /** Where each LUKS volume lies (a partition number, or vg/lv) -> its test passphrase. */
  readonly keys: Readonly<Record<string, string>>;
  /** Known files: where (`p1`, or vg/lv), path inside that filesystem, content. */
  readonly files: readonly { readonly at: string; readonly path: string; readonly text: string }[];
}

/** `<dir>/volumes.json`, or undefined when there is none. */
export function readMadeVolumes(dir: string): MadeVolumes | undefined {
  const file = path.join(dir, "volumes.json");
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as MadeVolumes) : undefined;
}
