/**
 * EWF (the Expert Witness Format of EnCase, FTK Imager and libewf's ewfacquire: `.E01`, `.E02`, ...):
 * the segment set from its first segment, read from the segment headers and section descriptors only,
 * never from the media data. It finds which files make the set and in which order, proves that each
 * belongs to it (its segment number, and the set identifier that segment 1's volume section and every
 * later segment's data section carry), and reads the media size and the acquisition hashes the set
 * stores (the `hash` section's MD5, the `digest` section's MD5 and SHA1).
 *
 * Everything here comes from evidence: every offset is checked against the file before it is followed,
 * every descriptor's Adler-32 must hold, offsets only move forward, and the walk is bounded.
 */
import { promises as fsp } from "fs";
import * as path from "path";
import { FormatError, InspectError } from "./errors";
import { ImageFile, withImageFile } from "./files";

const SIGNATURE = Buffer.from([0x45, 0x56, 0x46, 0x09, 0x0d, 0x0a, 0xff, 0x00]); // "EVF\t\r\n\xff\0"
const LVF_SIGNATURE = Buffer.from([0x4c, 0x56, 0x46, 0x09, 0x0d, 0x0a, 0xff, 0x00]); // logical evidence (L01)
const EWF2_SIGNATURE = Buffer.from([0x45, 0x56, 0x46, 0x32, 0x0d, 0x0a, 0x81, 0x00]); // "EVF2\r\n\x81\0" (Ex01)
const FILE_HEADER_SIZE = 13;
const DESCRIPTOR_SIZE = 76;
/** The EnCase volume section's data; the original EWF/SMART one is 94 bytes and has no set identifier. */
const VOLUME_SIZE = 1052;
const SMART_VOLUME_SIZE = 94;
/** Sections in one segment: a 2 GiB segment of 32 KiB chunks needs a few hundred; this bounds a hostile walk. */
const MAX_SECTIONS = 100_000;
const SECTOR_SIZES = new Set([512, 1024, 2048, 4096]);

/** `.E01` ... `.E99`, `.EAA` ... `.EZZ`, `.FAA` ... `.ZZZ`: 99 + 22 × 26 × 26 names. */
export const MAX_SEGMENTS = 99 + 22 * 26 * 26;

/** What a segment set is, as its own headers say. */
export interface EwfSet {
  /** Every segment file, first to last, as found next to the first one. */
  readonly segments: readonly string[];
  /** The set identifier (a GUID, lower-case hex with dashes), or null where the writer left none. */
  readonly setIdentifier: string | null;
  readonly bytesPerSector: number;
  readonly sectorCount: number;
  /** `sectorCount × bytesPerSector`: the size of the acquired media. */
  readonly mediaSize: number;
  /** The acquisition hashes the set stores (lower-case hex), or null where it stores none. */
  readonly md5: string | null;
  readonly sha1: string | null;
}

/**
 * Checks a segment's name against the evidence roots before it is opened and returns the file it
 * really is (symlinks resolved); throws an InspectError when it lies outside them.
 */
export type SegmentPlacer = (file: string, role: string | undefined) => Promise<string>;

/** Whether a file name is a first EWF segment (`.E01`, any case). */
export function isFirstEwfSegment(file: string): boolean {
  return /\.[Ee]01$/.test(file);
}

/** The name of segment `n` (1-based) of the set whose first segment is `first`, in its case. */
export function segmentName(first: string, n: number): string {
  if (!isFirstEwfSegment(first)) throw new Error(`not a first EWF segment: ${first}`);
  if (!Number.isInteger(n) || n < 1 || n > MAX_SEGMENTS) throw new Error(`no EWF segment number ${n}`);
  let extension: string;
  if (n <= 99) {
    extension = `E${String(n).padStart(2, "0")}`;
  } else {
    const k = n - 100;
    const letter = (i: number) => String.fromCharCode(65 + i);
    extension = `${letter(4 + Math.floor(k / 676))}${letter(Math.floor(k / 26) % 26)}${letter(k % 26)}`;
  }
  const lower = first.endsWith("e01");
  return `${first.slice(0, -3)}${lower ? extension.toLowerCase() : extension}`;
}

/** Adler-32 as EWF uses it (initial value 1). */
export function adler32(bytes: Buffer): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length;) {
    // 5552 bytes is the longest run that cannot overflow before the modulo (zlib's NMAX).
    const end = Math.min(bytes.length, i + 5552);
    for (; i < end; i++) {
      a += bytes[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

function hex(bytes: Buffer): string | null {
  return bytes.every((b) => b === 0) ? null : bytes.toString("hex");
}

function guid(bytes: Buffer): string | null {
  if (bytes.every((b) => b === 0)) return null;
  // Stored as a little-endian GUID (the first three fields byte-swapped), as libewf prints it.
  const le = (from: number, to: number) => Buffer.from(bytes.subarray(from, to)).reverse().toString("hex");
  const be = (from: number, to: number) => bytes.subarray(from, to).toString("hex");
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${be(8, 10)}-${be(10, 16)}`;
}

interface Volume {
  readonly setIdentifier: string | null;
  readonly chunkCount: number;
  readonly bytesPerSector: number;
  readonly sectorCount: number;
}

interface SegmentReading {
  readonly last: "next" | "done";
  /** The volume (segment 1) or data (later segments) section, when the segment has one. */
  readonly volume?: Volume;
  readonly md5?: string | null;
  readonly sha1?: string | null;
  /** Chunks the segment's `table` sections list (their `table2` mirrors not counted again). */
  readonly chunks: number;
}

async function readVolume(file: ImageFile, at: number, size: number, kind: string): Promise<Volume> {
  const length = size - DESCRIPTOR_SIZE;
  if (length !== VOLUME_SIZE && length !== SMART_VOLUME_SIZE) {
    throw new FormatError(`${kind} section at ${at} is ${length} bytes; EWF's is ${VOLUME_SIZE} (or ${SMART_VOLUME_SIZE})`);
  }
  const data = await file.read(at + DESCRIPTOR_SIZE, length);
  if (data.length < length) throw new FormatError(`${kind} section at ${at} is cut off by the end of the file`);
  const checksum = data.readUInt32LE(length - 4);
  // Some writers (Logicube, per libewf) leave it 0.
  if (checksum !== 0 && checksum !== adler32(data.subarray(0, length - 4))) {
    throw new FormatError(`${kind} section at ${at}: its checksum does not match its data`);
  }
  const bytesPerSector = data.readUInt32LE(12);
  if (!SECTOR_SIZES.has(bytesPerSector)) throw new FormatError(`${kind} section at ${at}: ${bytesPerSector} bytes per sector`);
  const sectorCount = length === VOLUME_SIZE ? data.readBigUInt64LE(16) : BigInt(data.readUInt32LE(16));
  if (sectorCount * BigInt(bytesPerSector) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FormatError(`${kind} section at ${at}: a media size of ${sectorCount} sectors is not believable`);
  }
  return {
    setIdentifier: length === VOLUME_SIZE ? guid(data.subarray(64, 80)) : null,
    chunkCount: data.readUInt32LE(4),
    bytesPerSector,
    sectorCount: Number(sectorCount),
  };
}

/** Walks one segment's sections from its file header to its `next` or `done` section. */
async function readSegment(file: ImageFile, number: number): Promise<SegmentReading> {
  const header = await file.read(0, FILE_HEADER_SIZE);
  const signature = header.subarray(0, 8);
  if (signature.equals(LVF_SIGNATURE)) throw new FormatError("a logical evidence file (L01), not a disk image");
  if (signature.equals(EWF2_SIGNATURE)) throw new FormatError("EWF2 (Ex01) is not supported; acquire as E01");
  if (header.length < FILE_HEADER_SIZE || !signature.equals(SIGNATURE) || header[8] !== 1 || header.readUInt16LE(11) !== 0) {
    throw new FormatError("not an EWF segment file (bad file header)");
  }
  const stated = header.readUInt16LE(9);
  if (stated !== number) throw new FormatError(`its header says it is segment ${stated}, but its name makes it segment ${number}`);

  let volume: Volume | undefined;
  let md5: string | null | undefined;
  let sha1: string | null | undefined;
  let chunks = 0;
  let at = FILE_HEADER_SIZE;
  for (let sections = 0; sections < MAX_SECTIONS; sections++) {
    const d = await file.read(at, DESCRIPTOR_SIZE);
    if (d.length < DESCRIPTOR_SIZE)
      throw new FormatError(`the section at ${at} is cut off by the end of the file (no 'next' or 'done' section)`);
    if (adler32(d.subarray(0, 72)) !== d.readUInt32LE(72)) throw new FormatError(`the section descriptor at ${at} fails its checksum`);
    const nul = d.indexOf(0);
    const type = d.subarray(0, nul < 0 || nul > 16 ? 16 : nul).toString("latin1");
    if (!/^[a-z0-9]{1,16}$/.test(type)) throw new FormatError(`the section at ${at} has no plain type name`);
    const next = d.readBigUInt64LE(16);
    const size = d.readBigUInt64LE(24);
    if (type === "next" || type === "done") return { last: type, volume, md5, sha1, chunks };
    if (next <= BigInt(at)) throw new FormatError(`the '${type}' section at ${at} points back to ${next}`);
    if (next > BigInt(file.size)) throw new FormatError(`the '${type}' section at ${at} points past the end of the file (${next})`);
    if (size < BigInt(DESCRIPTOR_SIZE) || size > next - BigInt(at)) {
      throw new FormatError(`the '${type}' section at ${at} says it is ${size} bytes, which does not fit before the next one`);
    }
    if (type === "volume" || type === "disk" || type === "data") {
      const found = await readVolume(file, at, Number(size), type);
      if (volume && JSON.stringify(volume) !== JSON.stringify(found))
        throw new FormatError(`its '${type}' section at ${at} disagrees with the one before it`);
      volume = found;
    } else if (type === "table") {
      const table = await file.read(at + DESCRIPTOR_SIZE, 24);
      if (table.length < 24 || adler32(table.subarray(0, 20)) !== table.readUInt32LE(20)) {
        throw new FormatError(`the table section at ${at} has a damaged header`);
      }
      chunks += table.readUInt32LE(0);
    } else if (type === "hash") {
      const data = await file.read(at + DESCRIPTOR_SIZE, 16);
      if (data.length < 16) throw new FormatError(`the hash section at ${at} is cut off`);
      md5 = hex(data);
    } else if (type === "digest") {
      const data = await file.read(at + DESCRIPTOR_SIZE, 36);
      if (data.length < 36) throw new FormatError(`the digest section at ${at} is cut off`);
      md5 = hex(data.subarray(0, 16));
      sha1 = hex(data.subarray(16, 36));
    }
    at = Number(next);
  }
  throw new FormatError(`more than ${MAX_SECTIONS} sections`);
}

async function exists(file: string): Promise<boolean> {
  try {
    await fsp.lstat(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * The segment set whose first segment is `first` (an absolute path to a `.E01`). Throws an
 * InspectError naming the file for a missing segment (a gap), a segment of another set or out of
 * place, a file after the last segment, and anything damaged on the way.
 */
export async function inspectEwfSet(first: string, options: { place?: SegmentPlacer } = {}): Promise<EwfSet> {
  if (!isFirstEwfSegment(first)) throw new InspectError(first, "an EWF image is named by its first segment, '<name>.E01'");
  const segments: string[] = [];
  let volume: Volume | undefined;
  let md5: string | null = null;
  let sha1: string | null = null;
  let chunks = 0;
  for (let n = 1; n <= MAX_SEGMENTS; n++) {
    const file = segmentName(first, n);
    const previous = segments[segments.length - 1];
    if (n > 1 && !(await exists(file))) {
      throw new InspectError(file, `missing: ${path.basename(previous)} ends with a 'next' section, so the set goes on in segment ${n}`);
    }
    const role = n === 1 ? undefined : `segment ${n} of ${first}`;
    if (n > 1 && options.place) {
      // Each segment must be the file its name says, next to the first: the guest finds the set by
      // these names, and a link would let the set reach outside the evidence roots.
      const real = await options.place(file, role);
      if (real !== file) throw new InspectError(file, `is a link (to ${real}); the segments of a set must be files side by side`);
    }
    const reading = await withImageFile(file, role, async (f) => {
      try {
        return await readSegment(f, n);
      } catch (err) {
        if (err instanceof FormatError) throw new InspectError(file, err.message);
        throw err;
      }
    });
    segments.push(file);
    if (n === 1) {
      if (!reading.volume) throw new InspectError(file, "the first segment has no volume section: no media size");
      volume = reading.volume;
    } else if (reading.volume && volume?.setIdentifier && reading.volume.setIdentifier !== volume.setIdentifier) {
      throw new InspectError(
        file,
        `belongs to another segment set (set identifier ${reading.volume.setIdentifier ?? "none"}, not ${volume.setIdentifier} of ${path.basename(first)})`,
      );
    } else if (
      reading.volume &&
      volume &&
      (reading.volume.bytesPerSector !== volume.bytesPerSector || reading.volume.sectorCount !== volume.sectorCount)
    ) {
      throw new InspectError(
        file,
        `describes other media than ${path.basename(first)} (its data section disagrees with the volume section)`,
      );
    }
    chunks += reading.chunks;
    if (reading.md5 !== undefined) md5 = reading.md5;
    if (reading.sha1 !== undefined) sha1 = reading.sha1;
    if (reading.last === "done") {
      const after = segmentName(first, Math.min(n + 1, MAX_SEGMENTS));
      if (n < MAX_SEGMENTS && (await exists(after))) {
        throw new InspectError(after, `follows the last segment: ${path.basename(file)} ends the set with a 'done' section; move it away`);
      }
      const v = volume!;
      // Without a set identifier (libewf's ewfacquire writes none) this is what ties the segments together.
      if (v.chunkCount !== 0 && chunks !== v.chunkCount) {
        throw new InspectError(
          first,
          `its segments' tables list ${chunks} chunks, its volume section says ${v.chunkCount}: a segment is missing, extra or from another set`,
        );
      }
      return {
        segments,
        setIdentifier: v.setIdentifier,
        bytesPerSector: v.bytesPerSector,
        sectorCount: v.sectorCount,
        mediaSize: v.sectorCount * v.bytesPerSector,
        md5,
        sha1,
      };
    }
  }
  throw new InspectError(first, `no 'done' section in ${MAX_SEGMENTS} segments`);
}
