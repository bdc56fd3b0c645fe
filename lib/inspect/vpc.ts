/**
 * VHD (qemu's "vpc") footer: a copy at offset 0 for dynamic disks, the only one in the last sector for
 * fixed disks. The virtual size follows qemu's rule: CHS geometry for images written by Virtual PC and
 * qemu, the footer's current size for Hyper-V, disk2vhd, XenServer and qemu's `qem2`, and for any image
 * whose geometry is the CHS maximum.
 */
import { FormatError } from "./errors";
import type { ImageFile } from "./files";

const FOOTER = 512;
const FIXED = 2;
const DYNAMIC = 3;
const DIFFERENCING = 4;
const MAX_GEOMETRY = 65535 * 16 * 255;
/** qemu allows 2040 GiB. */
const MAX_SECTORS = 0xff000000;
const CURRENT_SIZE_CREATORS = ["win ", "qem2", "d2v ", "CTXS", "tap\0"];

function checksumOk(footer: Buffer): boolean {
  const stored = footer.readUInt32BE(64);
  let sum = 0;
  for (let i = 0; i < FOOTER; i++) if (i < 64 || i >= 68) sum += footer[i];
  return ~sum >>> 0 === stored;
}

export async function readVpcVirtualSize(file: ImageFile, footerAtEnd: boolean): Promise<number> {
  if (file.size < FOOTER) throw new FormatError("file too small for a VHD footer");
  const footer = await file.read(footerAtEnd ? file.size - FOOTER : 0, FOOTER);
  if (footer.toString("latin1", 0, 8) !== "conectix") throw new FormatError("not a VHD image (no conectix footer)");
  const diskType = footer.readUInt32BE(60);
  if (footerAtEnd && diskType !== FIXED) throw new FormatError("VHD footer at the end of the file but the disk is not fixed");
  if (!checksumOk(footer)) throw new FormatError("VHD footer checksum is wrong");
  if (diskType === DIFFERENCING) throw new FormatError("differencing VHD (parent by locator), not supported by qemu");
  if (diskType !== FIXED && diskType !== DYNAMIC) throw new FormatError(`unknown VHD disk type ${diskType}`);

  const currentSize = footer.readBigUInt64BE(48);
  let sectors = footer.readUInt16BE(56) * footer[58] * footer[59];
  const creator = footer.toString("latin1", 28, 32);
  if (CURRENT_SIZE_CREATORS.includes(creator) || sectors === MAX_GEOMETRY) {
    if (currentSize / 512n > BigInt(MAX_SECTORS)) throw new FormatError(`VHD size ${currentSize} is too large`);
    sectors = Number(currentSize / 512n);
  }
  if (sectors > MAX_SECTORS) throw new FormatError(`VHD size of ${sectors} sectors is too large`);

  if (diskType === DYNAMIC) {
    const dataOffset = footer.readBigUInt64BE(16);
    if (dataOffset > BigInt(file.size)) throw new FormatError("VHD dynamic header lies beyond the end of the file");
    const dyn = await file.read(Number(dataOffset), 1024);
    if (dyn.length < 40 || dyn.toString("latin1", 0, 8) !== "cxsparse") throw new FormatError("VHD dynamic header missing (no cxsparse)");
    const maxTableEntries = dyn.readUInt32BE(28);
    const blockSize = dyn.readUInt32BE(32);
    if (blockSize < 512 || (blockSize & (blockSize - 1)) !== 0) throw new FormatError(`invalid VHD block size ${blockSize}`);
    if (maxTableEntries * blockSize < sectors * 512) throw new FormatError("VHD block table too small for the disk size");
    if (maxTableEntries > 0x1fffffff) throw new FormatError(`VHD block table too large (${maxTableEntries} entries)`);
  }
  return sectors * 512;
}
