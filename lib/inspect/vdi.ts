/**
 * VirtualBox VDI header (one sector): virtual size and the checks qemu makes before it opens one.
 * Differencing VDIs name their parent only by UUID; qemu cannot follow that, and neither do we.
 */
import { FormatError } from "./errors";
import type { ImageFile } from "./files";

const SIGNATURE = 0xbeda107f;
const VERSION_1_1 = 0x00010001;
const SECTOR = 512;
const BLOCK_SIZE = 1024 * 1024;
/** qemu: VDI_BLOCKS_IN_IMAGE_MAX */
const MAX_BLOCKS = 0x3fffffff;

function isNullUuid(buf: Buffer, offset: number): boolean {
  return buf.subarray(offset, offset + 16).every((b) => b === 0);
}

export async function readVdiVirtualSize(file: ImageFile): Promise<number> {
  const h = await file.read(0, SECTOR);
  if (h.length < 0x1c8) throw new FormatError("VDI header is truncated");
  if (h.readUInt32LE(0x40) !== SIGNATURE) throw new FormatError("not a VDI image (bad signature)");
  const version = h.readUInt32LE(0x44);
  if (version !== VERSION_1_1) throw new FormatError(`unsupported VDI version ${version >>> 16}.${version & 0xffff}`);
  const offsetBmap = h.readUInt32LE(0x154);
  const offsetData = h.readUInt32LE(0x158);
  const sectorSize = h.readUInt32LE(0x168);
  const diskSize = h.readBigUInt64LE(0x170);
  const blockSize = h.readUInt32LE(0x178);
  const blocksInImage = h.readUInt32LE(0x180);
  if (offsetBmap % SECTOR !== 0 || offsetData % SECTOR !== 0) throw new FormatError("VDI bitmap or data offset is not sector-aligned");
  if (sectorSize !== SECTOR) throw new FormatError(`unsupported VDI sector size ${sectorSize}`);
  if (blockSize !== BLOCK_SIZE) throw new FormatError(`unsupported VDI block size ${blockSize}`);
  if (blocksInImage > MAX_BLOCKS) throw new FormatError(`too many VDI blocks (${blocksInImage})`);
  if (diskSize > BigInt(blocksInImage) * BigInt(blockSize)) {
    throw new FormatError(`VDI disk size ${diskSize} exceeds what its block map covers (${blocksInImage} blocks)`);
  }
  if (!isNullUuid(h, 0x1a8)) throw new FormatError("VDI has a link UUID (not supported by qemu)");
  if (!isNullUuid(h, 0x1b8)) throw new FormatError("differencing VDI (parent named by UUID only), not supported by qemu");
  // qemu: total_sectors = disk_size / 512
  return Number(diskSize / BigInt(SECTOR)) * SECTOR;
}
