/** The image manifest: what `inspect` found, top layer first, absolute paths. */

import type { ImageFormat } from "../image-format";

export { IMAGE_FORMATS, QEMU_FORMATS, type ImageFormat } from "../image-format";

export type ExtentAccess = "RW" | "RDONLY" | "NOACCESS";

/** One line of a VMDK extent description. Other formats have no extents (an empty list). */
export interface ExtentInfo {
  /** Absolute path; null for a ZERO extent, which has no file. */
  path: string | null;
  access: ExtentAccess;
  /** Size in 512-byte sectors as the descriptor writes it. */
  sectors: number;
  /** As written: FLAT, SPARSE, ZERO, VMFS, VMFSSPARSE, SESPARSE. */
  type: string;
}

export interface LayerInfo {
  path: string;
  format: ImageFormat;
  /** VMDK createType as written (the embedded descriptor's for sparse files); null for other formats. */
  createType: string | null;
  /** VMDK content ID, 8 lowercase hex digits; null for other formats. */
  cid: string | null;
  /** VMDK parent content ID; "ffffffff" means no parent. Null for other formats. */
  parentCid: string | null;
  /** Absolute path of the next layer down, or null for the base. */
  parentPath: string | null;
  extents: ExtentInfo[];
}

export interface FileInfo {
  path: string;
  /** Bytes. */
  size: number;
  /** Hex sha256 of the whole file, when hashed. */
  sha256?: string;
}

/**
 * What an evidence container records about the acquisition, read from its headers (EWF: the volume,
 * hash and digest sections). The stored hashes are the acquirer's claim about the media; the guest
 * checks the data against them once (ImageTransfer's acquisition check).
 */
export interface Acquisition {
  readonly container: "ewf";
  /** Segment files in the set (`files` lists them, first to last). */
  readonly segments: number;
  /** The set identifier (GUID), or null where the writer left none. */
  readonly setIdentifier: string | null;
  readonly bytesPerSector: number;
  readonly sectorCount: number;
  /** The acquisition hashes the container stores (lower-case hex), or null where it stores none. */
  readonly md5: string | null;
  readonly sha1: string | null;
}

export interface ImageManifest {
  /** Format of the top layer: what qemu must be told (`--format`). */
  format: ImageFormat;
  /** Bytes of the disk qemu presents from the top layer (`qemu-img info` "virtual-size"). */
  virtualSize: number;
  chain: LayerInfo[];
  /** Every file the image needs, once: descriptors, extents, parents, external data files; an EWF set's segments in order. */
  files: FileInfo[];
  /** Only for an evidence container (EWF): what it records about the acquisition. */
  acquisition?: Acquisition;
}
