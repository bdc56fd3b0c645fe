import * as path from "path";
import { LAYERED_FORMATS } from "../../lib/image-format";
import { ImageFormat, TransferManifest } from "./args";

/** One layer of the chain as the guest sees it. */
export interface GuestLayer {
  readonly path: string;
  readonly format: ImageFormat;
}

export interface PlannedFile {
  readonly hostPath: string;
  readonly guestPath: string;
  readonly size: number;
  /** From the manifest when `inspect` hashed; the host hash must then match it. */
  readonly manifestSha256?: string;
  /** Index of the folder (and, for sshfs, of the mount) the file belongs to. */
  readonly folder: number;
}

export interface PlannedFolder {
  readonly hostFolder: string;
  /** `<guestRoot>/layer-folders/<n>`: for sshfs a mount point, for scp a plain folder. */
  readonly guestFolder: string;
  readonly files: readonly PlannedFile[];
}

export interface TransferPlan {
  readonly guestRoot: string;
  readonly folders: readonly PlannedFolder[];
  /** Every file once, in folder order: the order hooks hash, copy and report in. */
  readonly files: readonly PlannedFile[];
  /** Top first, guest paths: what NbdAttachment pins the backing chain with. */
  readonly guestChain: readonly GuestLayer[];
}

/**
 * Lays the files out in the guest. Each distinct host folder becomes `<guestRoot>/layer-folders/<n>`
 * (numbered in order of first use, top layer first) and keeps its files' names, so every descriptor's
 * relative extent names still resolve. Parent hints inside descriptors are never followed or rewritten:
 * the chain is pinned from `guestChain` instead.
 */
export function planTransfer(manifest: TransferManifest, guestRoot: string): TransferPlan {
  const sizes = new Map<string, { size: number; sha256?: string }>();
  for (const [i, f] of manifest.files.entries()) {
    if (sizes.has(f.path)) throw new Error(`ImageTransfer manifest.files[${i}].path: '${f.path}' is listed twice`);
    sizes.set(f.path, { size: f.size, sha256: f.sha256 });
  }
  for (const [i, layer] of manifest.chain.entries()) {
    if (!sizes.has(layer.path)) {
      throw new Error(`ImageTransfer manifest.chain[${i}].path: '${layer.path}' is not in manifest.files`);
    }
    for (const [j, extent] of (layer.extents ?? []).entries()) {
      if (extent.path === null) continue;
      const where = `ImageTransfer manifest.chain[${i}].extents[${j}].path`;
      if (!sizes.has(extent.path)) throw new Error(`${where}: '${extent.path}' is not in manifest.files`);
      if (path.dirname(extent.path) !== path.dirname(layer.path)) {
        throw new Error(`${where}: '${extent.path}' is not in the folder of its descriptor '${layer.path}'`);
      }
    }
  }
  if (manifest.chain[0].format !== manifest.format) {
    throw new Error(`ImageTransfer manifest.format: '${manifest.format}' differs from the top layer's '${manifest.chain[0].format}'`);
  }

  // Folders in order of first use: chain layers top first, then any further file the manifest lists.
  const ordered = [...manifest.chain.map((l) => l.path), ...manifest.files.map((f) => f.path)];
  const folderIndex = new Map<string, number>();
  for (const p of ordered) {
    const dir = path.dirname(p);
    if (!folderIndex.has(dir)) folderIndex.set(dir, folderIndex.size);
  }
  const guestFolder = (n: number) => path.posix.join(guestRoot, "layer-folders", String(n));
  const guestPathOf = (hostPath: string) => path.posix.join(guestFolder(folderIndex.get(path.dirname(hostPath))!), path.basename(hostPath));

  const folders: PlannedFolder[] = [...folderIndex.entries()].map(([hostFolder, n]) => ({
    hostFolder,
    guestFolder: guestFolder(n),
    files: manifest.files
      .filter((f) => path.dirname(f.path) === hostFolder)
      .map((f) => ({
        hostPath: f.path,
        guestPath: guestPathOf(f.path),
        size: f.size,
        folder: n,
        ...(f.sha256 !== undefined ? { manifestSha256: f.sha256 } : {}),
      })),
  }));
  return {
    guestRoot,
    folders,
    files: folders.flatMap((f) => f.files),
    guestChain: manifest.chain.map((l) => ({ path: guestPathOf(l.path), format: l.format })),
  };
}

/** QEMU block options, as `--image-opts`/`json:` take them. */
export type BlockOptions = { [key: string]: string | boolean | null | BlockOptions };

/**
 * Block options that open the chain exactly as transferred: each layer's backing is the next guest
 * path, never the parent hint inside the image (which may name a path on the evidence's own machine,
 * like the absolute `parentFileNameHint` of a VMware snapshot). The base gets `backing: null`.
 */
export function pinnedChainOptions(chain: readonly GuestLayer[], readOnly = true): BlockOptions {
  if (chain.length === 0) throw new Error("pinnedChainOptions: the chain is empty");
  let below: BlockOptions | null = null;
  for (const layer of [...chain].reverse()) {
    const node: BlockOptions = {
      driver: layer.format,
      ...(readOnly ? { "read-only": true } : {}),
      file: { driver: "file", filename: layer.path, ...(readOnly ? { "read-only": true } : {}) },
    };
    if (below !== null) {
      if (!LAYERED_FORMATS.has(layer.format))
        throw new Error(`pinnedChainOptions: a ${layer.format} layer cannot have a backing file ('${layer.path}')`);
      node.backing = below;
    } else if (LAYERED_FORMATS.has(layer.format)) {
      node.backing = null;
    }
    below = node;
  }
  return below!;
}

/** The `json:` pseudo-filename QEMU tools accept for the pinned chain. */
export function pinnedChainFilename(chain: readonly GuestLayer[]): string {
  return `json:${JSON.stringify(pinnedChainOptions(chain))}`;
}
