/**
 * Fixed-size headers of VMDK sparse extents: hosted sparse ("KDMV", also streamOptimized with its
 * footer), ESX vmfsSparse ("COWD") and ESXi seSparse. Only the header (and a streamOptimized footer) is
 * read, never grain tables or grains. The checks are qemu's, so a header qemu would refuse is refused
 * here with the reason; a few more (a descriptor or grain directory past the end of the file) catch
 * truncated copies that qemu would silently read as zeros.
 */
import { FormatError } from "./errors";
import type { ImageFile } from "./files";

const SECTOR = 512;
const GD_AT_END = 0xffffffffffffffffn;
const FLAG_RGD = 1 << 1;
const COMPRESSION_DEFLATE = 1;
const MARKER_FOOTER = 3;
const MARKER_END_OF_STREAM = 0;
/** qemu refuses grains over 1 GiB (0x200000 sectors) and L1 tables over 32 Mi entries. */
const MAX_GRAIN_SECTORS = 0x200000;
const MAX_L1_ENTRIES = 32 * 1024 * 1024;
const MAX_SECTORS = BigInt(Math.floor(Number.MAX_SAFE_INTEGER / SECTOR));
/** An embedded descriptor over 1 MiB is not a descriptor. */
const MAX_DESCRIPTOR_SECTORS = 2048;

export interface SparseHeader {
  /** Disk sectors this extent provides (qemu uses this, not the descriptor's number). */
  capacity: number;
  /** Embedded descriptor, in sectors; 0 when there is none. */
  descriptorOffset: number;
  descriptorSize: number;
  compressed: boolean;
}

function toNumber(value: bigint, what: string): number {
  if (value > MAX_SECTORS) throw new FormatError(`${what} ${value} is out of range`);
  return Number(value);
}

/** Hosted sparse extent ("KDMV"); reads the footer too when the header defers to it. */
export async function readKdmvHeader(file: ImageFile): Promise<SparseHeader> {
  const first = await file.read(0, SECTOR);
  if (first.length < 80) throw new FormatError("sparse header is truncated");
  const descOffset = toNumber(first.readBigUInt64LE(28), "descriptor offset");
  const descSize = toNumber(first.readBigUInt64LE(36), "descriptor size");
  if (descOffset !== 0) {
    if (descSize === 0) throw new FormatError("embedded descriptor has size 0");
    if (descSize > MAX_DESCRIPTOR_SECTORS)
      throw new FormatError(`embedded descriptor too large (${descSize} sectors; limit ${MAX_DESCRIPTOR_SECTORS})`);
    if ((descOffset + descSize) * SECTOR > file.size) throw new FormatError("embedded descriptor lies beyond the end of the file");
  }
  // qemu's reading of a descriptor wrapped in a sparse header: capacity 0 plus a descriptor means the
  // embedded text is a full descriptor whose extents are other files.
  if (first.readBigUInt64LE(12) === 0n && descOffset !== 0) {
    return { capacity: 0, descriptorOffset: descOffset, descriptorSize: descSize, compressed: false };
  }

  let header = first;
  if (first.readBigUInt64LE(56) === GD_AT_END) {
    // streamOptimized written front to back: the real header is in the footer, 1536 bytes before the
    // end (footer marker, footer, end-of-stream marker), as qemu reads it.
    if (file.size < 4 * SECTOR) throw new FormatError("streamOptimized footer missing (file too short)");
    const tail = await file.read(file.size - 3 * SECTOR, 3 * SECTOR);
    const footer = tail.subarray(SECTOR, 2 * SECTOR);
    const valid =
      footer.toString("latin1", 0, 4) === "KDMV" &&
      tail.readUInt32LE(8) === 0 &&
      tail.readUInt32LE(12) === MARKER_FOOTER &&
      tail.readBigUInt64LE(2 * SECTOR) === 0n &&
      tail.readUInt32LE(2 * SECTOR + 8) === 0 &&
      tail.readUInt32LE(2 * SECTOR + 12) === MARKER_END_OF_STREAM;
    if (!valid) throw new FormatError("header says the grain directory is in the footer, but there is no valid footer");
    header = Buffer.from(footer);
  }

  const version = header.readUInt32LE(4);
  const flags = header.readUInt32LE(8);
  const capacity = header.readBigUInt64LE(12);
  const grainSectors = header.readBigUInt64LE(20);
  const gtesPerGt = header.readUInt32LE(44);
  const rgdOffset = header.readBigUInt64LE(48);
  const gdOffset = header.readBigUInt64LE(56);
  const grainOffset = header.readBigUInt64LE(64);
  const compressed = header.readUInt16LE(77) === COMPRESSION_DEFLATE;

  if (capacity === 0n) throw new FormatError("sparse extent has capacity 0");
  if (version > 3 || version === 0) throw new FormatError(`unsupported sparse header version ${version}`);
  if (gtesPerGt > 512) throw new FormatError(`grain table size ${gtesPerGt} is too big (qemu allows 512)`);
  if (grainSectors === 0n || gtesPerGt === 0) throw new FormatError("grain size or grain table size is zero");
  if (grainSectors > BigInt(MAX_GRAIN_SECTORS)) throw new FormatError(`grain size ${grainSectors} sectors is out of range`);
  const capacitySectors = toNumber(capacity, "capacity (sectors)");
  const sectorsPerL1Entry = BigInt(gtesPerGt) * grainSectors;
  const l1Entries = (capacity + sectorsPerL1Entry - 1n) / sectorsPerL1Entry;
  if (l1Entries > BigInt(MAX_L1_ENTRIES)) throw new FormatError(`capacity ${capacity} sectors is too large for its grain directory`);
  const fileSectors = BigInt(Math.floor(file.size / SECTOR));
  if (fileSectors < grainOffset)
    throw new FormatError(`file truncated: header expects at least ${grainOffset * BigInt(SECTOR)} bytes, file has ${file.size}`);
  const tableBytes = l1Entries * 4n;
  if (gdOffset * BigInt(SECTOR) + tableBytes > BigInt(file.size)) throw new FormatError("grain directory lies beyond the end of the file");
  if (flags & FLAG_RGD && rgdOffset * BigInt(SECTOR) + tableBytes > BigInt(file.size)) {
    throw new FormatError("redundant grain directory lies beyond the end of the file");
  }
  return { capacity: capacitySectors, descriptorOffset: descOffset, descriptorSize: descSize, compressed };
}

/** ESX vmfsSparse extent ("COWD"): 32-bit fields, no descriptor of its own. */
export async function readCowdHeader(file: ImageFile): Promise<SparseHeader> {
  const header = await file.read(0, SECTOR);
  if (header.length < 44) throw new FormatError("COWD header is truncated");
  const diskSectors = header.readUInt32LE(12);
  const granularity = header.readUInt32LE(16);
  const l1Offset = header.readUInt32LE(20);
  const l1Size = header.readUInt32LE(24);
  if (diskSectors === 0) throw new FormatError("COWD extent has capacity 0");
  if (granularity === 0 || granularity > MAX_GRAIN_SECTORS) throw new FormatError(`COWD grain size ${granularity} sectors is out of range`);
  if (l1Size > MAX_L1_ENTRIES) throw new FormatError(`COWD L1 size ${l1Size} is too large`);
  if (l1Offset * SECTOR + l1Size * 4 > file.size) throw new FormatError("COWD L1 table lies beyond the end of the file");
  return { capacity: diskSectors, descriptorOffset: 0, descriptorSize: 0, compressed: false };
}

/** ESXi seSparse extent: const header at 0, volatile header where it points; qemu's strict checks. */
export async function readSeSparseHeader(file: ImageFile): Promise<SparseHeader> {
  const header = await file.read(0, SECTOR);
  if (header.length < SECTOR) throw new FormatError("seSparse header is truncated");
  if (header.readBigUInt64LE(0) !== 0xcafebaben) throw new FormatError("not a seSparse extent (bad const header magic)");
  if (header.readBigUInt64LE(8) !== 0x0000000200000001n) throw new FormatError("unsupported seSparse version");
  const capacity = header.readBigUInt64LE(16);
  if (header.readBigUInt64LE(24) !== 8n || header.readBigUInt64LE(32) !== 64n)
    throw new FormatError("unsupported seSparse grain or grain table size");
  if (header.readBigUInt64LE(40) !== 0n) throw new FormatError("unsupported seSparse flags");
  if (capacity === 0n) throw new FormatError("seSparse extent has capacity 0");
  const capacitySectors = toNumber(capacity, "seSparse capacity (sectors)");
  const volatileOffset = toNumber(header.readBigUInt64LE(80), "seSparse volatile header offset");
  const volatile = await file.read(volatileOffset * SECTOR, SECTOR);
  if (volatile.length < SECTOR || volatile.readBigUInt64LE(0) !== 0xcafecafen)
    throw new FormatError("seSparse volatile header missing or bad");
  if (volatile.readBigUInt64LE(24) !== 0n) throw new FormatError("seSparse journal needs replay (image is dirty)");
  return { capacity: capacitySectors, descriptorOffset: 0, descriptorSize: 0, compressed: false };
}
