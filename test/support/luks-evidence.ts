/**
 * Test helpers that look at raw volume bytes the way an examiner of a "wiped" disk would: find every
 * LUKS header magic anywhere in a file or device, hash byte ranges. Reads in chunks, so a sparse
 * multi-GiB volume costs no more memory than one chunk.
 */
import * as crypto from "crypto";
import * as fs from "fs";

/** LUKS1 and LUKS2 primary header magic, and LUKS2's secondary header magic. */
export const LUKS_MAGICS = [Buffer.from("LUKS\xba\xbe", "latin1"), Buffer.from("SKUL\xba\xbe", "latin1")];

const CHUNK = 8 * 1024 * 1024;

function eachChunk(file: string, start: number, end: number, visit: (chunk: Buffer, offset: number) => void): void {
  const fd = fs.openSync(file, "r");
  try {
    const buffer = Buffer.alloc(CHUNK);
    for (let offset = start; offset < end;) {
      const read = fs.readSync(fd, buffer, 0, Math.min(CHUNK, end - offset), offset);
      if (read === 0) break;
      visit(buffer.subarray(0, read), offset);
      offset += read;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function sizeOf(file: string): number {
  const stat = fs.statSync(file);
  if (stat.isFile()) return stat.size;
  const fd = fs.openSync(file, "r");
  try {
    // Block devices report size 0 in stat; find the end by reading.
    let low = 0;
    let high = 1;
    const probe = Buffer.alloc(1);
    while (fs.readSync(fd, probe, 0, 1, high * 512 - 1) === 1) high *= 2;
    while (low + 1 < high) {
      const mid = Math.floor((low + high) / 2);
      if (fs.readSync(fd, probe, 0, 1, mid * 512 - 1) === 1) low = mid;
      else high = mid;
    }
    return low * 512;
  } finally {
    fs.closeSync(fd);
  }
}

/** Byte offsets of every LUKS magic in the file, overlapping chunk borders included. */
export function luksMagicOffsets(file: string): number[] {
  const found = new Set<number>();
  const overlap = Math.max(...LUKS_MAGICS.map((m) => m.length)) - 1;
  let carry = Buffer.alloc(0);
  eachChunk(file, 0, sizeOf(file), (chunk, offset) => {
    const window = Buffer.concat([carry, chunk]);
    const base = offset - carry.length;
    for (const magic of LUKS_MAGICS) {
      for (let i = window.indexOf(magic); i !== -1; i = window.indexOf(magic, i + 1)) found.add(base + i);
    }
    carry = Buffer.from(window.subarray(Math.max(0, window.length - overlap)));
  });
  return [...found].sort((a, b) => a - b);
}

/** sha256 of bytes [start, end) of the file (end defaults to its size). */
export function sha256Range(file: string, start = 0, end?: number): string {
  const hash = crypto.createHash("sha256");
  eachChunk(file, start, end ?? sizeOf(file), (chunk) => hash.update(chunk));
  return hash.digest("hex");
}

/** True when bytes [start, end) are all zero. */
export function isZero(file: string, start: number, end: number): boolean {
  let zero = true;
  eachChunk(file, start, end, (chunk) => {
    if (zero && chunk.some((b) => b !== 0)) zero = false;
  });
  return zero;
}
