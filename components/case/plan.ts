import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { CaseConfig, ImageConfig } from "../../lib/config";
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
