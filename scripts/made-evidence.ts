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

/**
 * The script that makes a test image of this file name, and the folder it is given: laptop.raw is
 * scripts/make-volume-evidence.sh's and nas1.raw..nas3.raw scripts/make-nas-evidence.sh's, each set in a
 * folder of its own; every other image is scripts/make-evidence.sh's, two folders below its evidence
 * folder (snapshots/, ewf/).
 */
export function evidenceGenerator(imagePath: string): [script: string, folder: string] {
  const file = path.basename(imagePath);
  if (file === "laptop.raw") return ["scripts/make-volume-evidence.sh", path.dirname(imagePath)];
  if (/^nas[1-3]\.raw$/.test(file)) return ["scripts/make-nas-evidence.sh", path.dirname(imagePath)];
  return ["scripts/make-evidence.sh", path.dirname(path.dirname(imagePath))];
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

/** `nas.json`, what scripts/make-nas-evidence.sh writes beside the NAS disks it makes. */
export interface MadeNas {
  readonly generator: "scripts/make-nas-evidence.sh";
  readonly version: number;
  /** The member disks, relative to the folder, each with its sha256. */
  readonly disks: readonly { readonly file: string; readonly sha256: string }[];
  /** The md array over them: its name in the stack, members as image:partition, level, UUID as mdadm prints it. */
  readonly array: { readonly name: string; readonly members: readonly string[]; readonly level: number; readonly uuid: string };
  /** Known files: where (vg/lv), path inside that filesystem, and its text or its sha256. */
  readonly files: readonly { readonly at: string; readonly path: string; readonly text?: string; readonly sha256?: string }[];
}

/** `<dir>/nas.json`, or undefined when there is none. */
export function readMadeNas(dir: string): MadeNas | undefined {
  const file = path.join(dir, "nas.json");
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as MadeNas) : undefined;
}

/** `<dir>/volumes.json`, or undefined when there is none. */
export function readMadeVolumes(dir: string): MadeVolumes | undefined {
  const file = path.join(dir, "volumes.json");
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as MadeVolumes) : undefined;
}
