import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { CaseConfig, DeviceContents, ImageConfig, PartitionConfig } from "../../lib/config";
import type { ImageManifest } from "../../lib/inspect";
import { hookFile } from "../../lib/hook-file";
import { hookCommand } from "../../lib/shell";

export const FOLDER_CREATE_HOOK = hookFile("case", "host-folder-create.sh");
export const FOLDER_DELETE_HOOK = hookFile("case", "host-folder-delete.sh");

/** Host path of the custody log (JSON lines: time, action, file, sha256, who); it outlives destroy. */
export function custodyLogPath(stateDir: string): string {
  return path.posix.join(stateDir, "custody.jsonl");
}

/** The case folder's values: the state folder, and the folder of a file-backed evidence volume. */
export function caseFolderValues(config: Pick<CaseConfig, "stateDir" | "evidenceVolume">): { STATE_DIR: string; VOLUME_DIR: string } {
  const volume = config.evidenceVolume;
  return { STATE_DIR: config.stateDir, VOLUME_DIR: volume.backend === "file" ? path.posix.dirname(volume.path) : "" };
}

/** The case folder's create and delete texts. */
export function caseFolderHooks(config: Pick<CaseConfig, "stateDir" | "evidenceVolume">): {
  create: pulumi.Output<string>;
  delete: pulumi.Output<string>;
} {
  const values = caseFolderValues(config);
  return { create: hookCommand(FOLDER_CREATE_HOOK, values), delete: hookCommand(FOLDER_DELETE_HOOK, values) };
}

/** One image's evidence manifest as exported by the stack: what the image is made of, nothing more. */
export interface EvidenceSummary {
  readonly name: string;
  readonly top: string;
  readonly format: string;
  readonly virtualSize: number;
  readonly transfer: string;
  readonly chain: ImageManifest["chain"];
  readonly files: ImageManifest["files"];
  /** An evidence container's own record (EWF: segments, set identifier, stored hashes); null otherwise. */
  readonly acquisition: ImageManifest["acquisition"] | null;
}

export function summarize(image: ImageConfig, manifest: ImageManifest): EvidenceSummary {
  return {
    name: image.name,
    top: manifest.chain[0].path,
    format: manifest.format,
    virtualSize: manifest.virtualSize,
    transfer: image.transfer,
    chain: manifest.chain,
    files: manifest.files,
    acquisition: manifest.acquisition ?? null,
  };
}

/** How a Case names what it makes for one device: `<case>-<image>-...`, `<case>-array-<array>-...`. */
export const devicePrefix = {
  image: (caseName: string, image: string) => `${caseName}-${image}`,
  array: (caseName: string, array: string) => `${caseName}-array-${array}`,
};

/** A PartitionMount's name: `<prefix>-mount` for "all", `<prefix>-p<N>-mount`, `<prefix>-lvm-<vg>-<lv>-mount`. */
export function mountName(prefix: string, partition?: PartitionConfig): string {
  if (partition === undefined) return `${prefix}-mount`;
  if (partition.logicalVolume === undefined) return `${prefix}-p${partition.number}-mount`;
  // LVM's own escaping: '-' in a name doubles, so vg "a-b"/lv "c" and vg "a"/lv "b-c" differ.
  return `${prefix}-lvm-${partition.logicalVolume
    .split("/")
    .map((n) => n.replace(/-/g, "--"))
    .join("-")}-mount`;
}

/**
 * Two devices whose components would share a name, each as `<key>: ...` (empty when none). Image names
 * may hold '-', so image `disk`'s partition 1 mount (`<case>-disk-p1-mount`) is image `disk-p1`'s mount
 * of everything, and an image `array-nas` meets array `nas`: the engine would refuse the second
 * registration with half the lab built, so the Case refuses the names first.
 */
export function clashingNames(caseName: string, config: Pick<CaseConfig, "images" | "raidArrays">): string[] {
  const owners = new Map<string, string>();
  const clashes: string[] = [];
  const claim = (name: string, key: string) => {
    const first = owners.get(name);
    if (first === undefined) owners.set(name, key);
    else clashes.push(`${key}: would make '${name}', as ${first} does; rename one of the two`);
  };
  const contents = (prefix: string, entry: DeviceContents, key: string) => {
    claim(`${prefix}-volumes`, key);
    if (entry.partitions === "all") claim(mountName(prefix), `${key}.partitions`);
    else entry.partitions.forEach((p, j) => claim(mountName(prefix, p), `${key}.partitions[${j}]`));
  };
  config.images.forEach((image, i) => {
    const prefix = devicePrefix.image(caseName, image.name);
    for (const step of ["transfer", "nbd"]) claim(`${prefix}-${step}`, `images[${i}]`);
    contents(prefix, image, `images[${i}]`);
  });
  config.raidArrays.forEach((array, i) => {
    const prefix = devicePrefix.array(caseName, array.name);
    claim(prefix, `raidArrays[${i}]`);
    contents(prefix, array, `raidArrays[${i}]`);
  });
  return clashes;
}
