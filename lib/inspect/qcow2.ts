/**
 * qcow2 header: virtual size, backing file name and format, external data file. Reads the header and
 * its extensions, which live in the first cluster; never L1/L2 tables or data. The checks follow
 * qemu's `qcow2_do_open`, so an image qemu refuses is refused here, with the reason.
 */
import { FormatError } from "./errors";
import type { ImageFile } from "./files";

const EXT_END = 0x00000000;
const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_DATA_FILE = 0x44415441;
const INCOMPAT_DATA_FILE = 1 << 2;
const INCOMPAT_EXTENDED_L2 = 1 << 4;
/** dirty, corrupt, external data file, compression type, extended L2 */
const INCOMPAT_KNOWN = 0x1f;
const MAX_L1_BYTES = 32 * 1024 * 1024;
const BACKING_NAME_MAX = 1023;
const BACKING_FORMAT_MAX = 15;

export interface Qcow2Header {
  version: number;
  virtualSize: number;
  /** Backing file name as stored (bytes decoded as UTF-8), or null. */
  backingFile: string | null;
  /** Backing format from the header extension, or null when the image does not say. */
  backingFormat: string | null;
  /** External data file name, when the image keeps its data in another file. */
  dataFile: string | null;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

function decodeName(bytes: Buffer, what: string): string {
  if (bytes.includes(0)) throw new FormatError(`${what} contains a NUL byte`);
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new FormatError(`${what} is not valid UTF-8`);
  }
}

export async function readQcow2Header(file: ImageFile): Promise<Qcow2Header> {
  const fixed = await file.read(0, 112);
  if (fixed.length < 72) throw new FormatError("qcow2 header is truncated");
  const version = fixed.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw new FormatError(`unsupported qcow2 version ${version}`);
  const backingOffset = fixed.readBigUInt64BE(8);
  const backingSize = fixed.readUInt32BE(16);
  const clusterBits = fixed.readUInt32BE(20);
  const size = fixed.readBigUInt64BE(24);
  const l1Size = fixed.readUInt32BE(36);
  if (clusterBits < 9 || clusterBits > 21) throw new FormatError(`unsupported cluster size 2^${clusterBits}`);
  const clusterSize = 1 << clusterBits;

  let incompatible = 0n;
  let headerLength = 72;
  if (version === 3) {
    if (fixed.length < 104) throw new FormatError("qcow2 header is truncated");
    incompatible = fixed.readBigUInt64BE(72);
    headerLength = fixed.readUInt32BE(100);
    if (headerLength < 104) throw new FormatError(`qcow2 header too short (${headerLength} bytes)`);
    if (fixed.readUInt32BE(96) > 6) throw new FormatError("refcount width over 64 bits");
  }
  if (headerLength > clusterSize) throw new FormatError("qcow2 header exceeds the cluster size");
  if (backingOffset > BigInt(clusterSize)) throw new FormatError(`invalid backing file offset ${backingOffset}`);
  if (incompatible & ~BigInt(INCOMPAT_KNOWN)) {
    throw new FormatError(`unsupported incompatible features 0x${(incompatible & ~BigInt(INCOMPAT_KNOWN)).toString(16)}`);
  }

  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(`virtual size ${size} is out of range`);
  const virtualSize = Number(size);
  // The active L1 table must be able to map the whole disk (qemu: "L1 table is too small").
  const l2Bits = clusterBits - (incompatible & BigInt(INCOMPAT_EXTENDED_L2) ? 4 : 3);
  const bytesPerL1Entry = 2 ** (clusterBits + l2Bits);
  if (l1Size * 8 > MAX_L1_BYTES) throw new FormatError(`active L1 table too large (${l1Size} entries)`);
  if (l1Size < Math.ceil(virtualSize / bytesPerL1Entry)) throw new FormatError("L1 table is too small for the virtual size");

  // Header extensions run from the end of the header to the backing file name (or the cluster end).
  const extEnd = Math.min(backingOffset !== 0n ? Number(backingOffset) : clusterSize, file.size);
  const area = extEnd > headerLength ? await file.read(headerLength, extEnd - headerLength) : Buffer.alloc(0);
  let backingFormat: string | null = null;
  let dataFileName: string | null = null;
  let pos = 0;
  while (pos + 8 <= area.length) {
    const type = area.readUInt32BE(pos);
    const length = area.readUInt32BE(pos + 4);
    pos += 8;
    if (type === EXT_END) break;
    if (length > area.length - pos) throw new FormatError("header extension too large");
    const data = area.subarray(pos, pos + length);
    if (type === EXT_BACKING_FORMAT) {
      if (length > BACKING_FORMAT_MAX) throw new FormatError(`backing format extension too long (${length} bytes)`);
      backingFormat = decodeName(data, "backing format");
    } else if (type === EXT_DATA_FILE) {
      dataFileName = decodeName(data, "external data file name");
    }
    pos += (length + 7) & ~7;
  }

  let backingFile: string | null = null;
  if (backingOffset !== 0n && backingSize !== 0) {
    if (backingSize > BACKING_NAME_MAX || backingSize > clusterSize - Number(backingOffset)) {
      throw new FormatError(`backing file name too long (${backingSize} bytes)`);
    }
    const name = await file.read(Number(backingOffset), backingSize);
    if (name.length < backingSize) throw new FormatError("backing file name lies beyond the end of the file");
    backingFile = decodeName(name, "backing file name");
  }

  let dataFile: string | null = null;
  if (incompatible & BigInt(INCOMPAT_DATA_FILE)) {
    if (dataFileName === null || dataFileName === "") {
      throw new FormatError("image keeps its data in an external file but does not name it");
    }
    dataFile = dataFileName;
  }
  // An empty backing format means "probe", as if there were none.
  if (backingFile === null || backingFormat === "") backingFormat = null;
  return { version, virtualSize, backingFile, backingFormat, dataFile };
}
