/**
 * VHDX: the virtual size lives in the metadata region, found through the region table at 192 KiB. Reads
 * the two 4 KiB headers, the 64 KiB region table and the 64 KiB metadata table (all fixed-size, all
 * CRC-32C checked where the format checksums them), never the BAT or payload blocks. Differencing
 * VHDX (a parent locator) is refused, as qemu refuses it.
 */
import { FormatError } from "./errors";
import type { ImageFile } from "./files";

const KiB = 1024;
const HEADER_OFFSETS = [64 * KiB, 128 * KiB];
const HEADER_SIZE = 4 * KiB;
const REGION_TABLE_OFFSET = 192 * KiB;
const TABLE_SIZE = 64 * KiB;
const MAX_REGION_ENTRIES = 2047;

// GUIDs as stored on disk (first three fields little-endian).
const BAT_REGION = guid("2DC27766-F623-4200-9D64-115E9BFD4A08");
const METADATA_REGION = guid("8B7CA206-4790-4B9A-B8FE-575F050F886E");
const FILE_PARAMETERS = guid("CAA16737-FA36-4D43-B3B6-33F0AA44E76B");
const VIRTUAL_DISK_SIZE = guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8");
const LOGICAL_SECTOR_SIZE = guid("8141BF1D-A96F-4709-BA47-F233A8FAAB5F");
const PARENT_LOCATOR = guid("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C");

function guid(text: string): string {
  const hex = text.replace(/-/g, "");
  const bytes = Buffer.from(hex, "hex");
  bytes.subarray(0, 4).reverse();
  bytes.subarray(4, 6).reverse();
  bytes.subarray(6, 8).reverse();
  return bytes.toString("hex");
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C of `buf` with its 4-byte checksum field (at `at`) counted as zero. */
function crc32c(buf: Buffer, at: number): number {
  let crc = 0xffffffff;
  for (let i = 0; i < buf.length; i++) {
    const byte = i >= at && i < at + 4 ? 0 : buf[i];
    crc = CRC32C_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function checksummed(buf: Buffer): boolean {
  return buf.length >= 8 && crc32c(buf, 4) === buf.readUInt32LE(4);
}

export async function readVhdxVirtualSize(file: ImageFile): Promise<number> {
  let validHeaders = 0;
  for (const offset of HEADER_OFFSETS) {
    const header = await file.read(offset, HEADER_SIZE);
    if (
      header.length === HEADER_SIZE &&
      header.toString("latin1", 0, 4) === "head" &&
      checksummed(header) &&
      header.readUInt16LE(66) === 1
    ) {
      validHeaders++;
    }
  }
  if (validHeaders === 0) throw new FormatError("no valid VHDX header (both copies damaged)");

  const regions = await file.read(REGION_TABLE_OFFSET, TABLE_SIZE);
  if (regions.length < TABLE_SIZE || regions.toString("latin1", 0, 4) !== "regi") throw new FormatError("VHDX region table missing");
  if (!checksummed(regions)) throw new FormatError("VHDX region table checksum is wrong");
  const regionCount = regions.readUInt32LE(8);
  if (regionCount > MAX_REGION_ENTRIES)
    throw new FormatError(`VHDX region table has ${regionCount} entries (at most ${MAX_REGION_ENTRIES})`);
  let metadata: { offset: number; length: number } | null = null;
  let hasBat = false;
  for (let i = 0; i < regionCount; i++) {
    const entry = regions.subarray(16 + i * 32, 48 + i * 32);
    const id = entry.subarray(0, 16).toString("hex");
    const offset = Number(entry.readBigUInt64LE(16));
    const length = entry.readUInt32LE(24);
    const required = entry.readUInt32LE(28) & 1;
    if (id === METADATA_REGION) {
      if (metadata) throw new FormatError("VHDX has two metadata regions");
      metadata = { offset, length };
    } else if (id === BAT_REGION) {
      if (hasBat) throw new FormatError("VHDX has two BAT regions");
      hasBat = true;
    } else if (required) {
      throw new FormatError("VHDX has a required region this reader does not know");
    }
  }
  if (!metadata || !hasBat) throw new FormatError("VHDX region table lacks the metadata or BAT region");
  if (metadata.offset + metadata.length > file.size) throw new FormatError("VHDX metadata region lies beyond the end of the file");

  const table = await file.read(metadata.offset, Math.min(TABLE_SIZE, metadata.length));
  if (table.length < 32 || table.toString("latin1", 0, 8) !== "metadata") throw new FormatError("VHDX metadata table missing");
  const entryCount = table.readUInt16LE(10);
  if (32 + entryCount * 32 > table.length) throw new FormatError(`VHDX metadata table has too many entries (${entryCount})`);
  const items = new Map<string, { offset: number; length: number }>();
  for (let i = 0; i < entryCount; i++) {
    const entry = table.subarray(32 + i * 32, 64 + i * 32);
    const id = entry.subarray(0, 16).toString("hex");
    if (items.has(id)) throw new FormatError("VHDX metadata item appears twice");
    items.set(id, { offset: entry.readUInt32LE(16), length: entry.readUInt32LE(20) });
  }

  const item = async (id: string, bytes: number, name: string): Promise<Buffer> => {
    const where = items.get(id);
    if (!where) throw new FormatError(`VHDX metadata lacks the ${name} item`);
    const data = await file.read(metadata!.offset + where.offset, bytes);
    if (data.length < bytes || where.length < bytes) throw new FormatError(`VHDX ${name} item is truncated`);
    return data;
  };
  const params = await item(FILE_PARAMETERS, 8, "file parameters");
  const blockSize = params.readUInt32LE(0);
  if (params.readUInt32LE(4) & 2 || items.has(PARENT_LOCATOR)) {
    throw new FormatError("differencing VHDX (parent locator), not supported by qemu");
  }
  if (blockSize < 1024 * KiB || blockSize > 256 * 1024 * KiB || (blockSize & (blockSize - 1)) !== 0) {
    throw new FormatError(`invalid VHDX block size ${blockSize}`);
  }
  const logicalSectorSize = (await item(LOGICAL_SECTOR_SIZE, 4, "logical sector size")).readUInt32LE(0);
  if (logicalSectorSize !== 512 && logicalSectorSize !== 4096)
    throw new FormatError(`invalid VHDX logical sector size ${logicalSectorSize}`);
  const size = (await item(VIRTUAL_DISK_SIZE, 8, "virtual disk size")).readBigUInt64LE(0);
  if (size > BigInt(64) * BigInt(1024 ** 4)) throw new FormatError(`VHDX virtual size ${size} is over the format's 64 TiB`);
  // qemu counts whole 512-byte sectors. (qemu-img cannot make 4 KiB-sector VHDX to check older
  // releases against, which divided by the logical sector size instead.)
  return Number(size / 512n) * 512;
}
