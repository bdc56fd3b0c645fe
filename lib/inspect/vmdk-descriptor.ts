/**
 * VMDK text descriptors: the `# Disk DescriptorFile` text that names a disk's extents and its parent,
 * either a small file of its own or embedded in a monolithic sparse file. Parsed line by line and
 * strictly; then checked against the way qemu itself reads the same text (substring search in the first
 * 10 KiB), because qemu, not this parser, will open the chain: where the two would disagree about the
 * parent or the type, the descriptor is refused rather than reported one way and opened another.
 */
import { FormatError, quoteValue } from "./errors";
import type { ExtentAccess } from "./types";

/** A VMDK descriptor is small (VMware writes a few hundred bytes); qemu reads at most 1 MiB of one. */
export const DESCRIPTOR_LIMIT = 1024 * 1024;

/** qemu looks for CID, parentCID and parentFileNameHint only in this many bytes (DESC_SIZE). */
const QEMU_DESC_SIZE = 20 * 512;

/** qemu's sscanf reads at most 511 bytes of an extent's file name. */
const QEMU_EXTENT_NAME_MAX = 511;

/** qemu keeps a parent name in a PATH_MAX buffer. */
const PARENT_HINT_MAX = 4095;

export const NO_PARENT_CID = 0xffffffff;

/** createType values qemu opens from a separate descriptor file. */
export const TEXT_CREATE_TYPES: ReadonlySet<string> = new Set([
  "monolithicFlat",
  "twoGbMaxExtentFlat",
  "twoGbMaxExtentSparse",
  "vmfs",
  "vmfsSparse",
  "seSparse",
]);

/** Extent types qemu can read; other types (VMFSRAW, VMFSRDM, ...) it skips without a word. */
const FILE_EXTENT_TYPES: ReadonlySet<string> = new Set(["FLAT", "SPARSE", "VMFS", "VMFSSPARSE", "SESPARSE"]);
const KNOWN_UNSUPPORTED_TYPES: Readonly<Record<string, string>> = {
  VMFSRAW: "a raw device",
  VMFSRDM: "a raw device mapping",
  VMFSRDMP: "a raw device mapping",
};

export interface DescriptorExtent {
  access: ExtentAccess;
  sectors: number;
  type: string;
  /** The file name as written; null for ZERO. */
  fileName: string | null;
  /** FLAT only: start of the extent in its file, in sectors. */
  offsetSectors: number;
  line: number;
}

export interface VmdkDescriptor {
  version: number;
  cid: number;
  parentCid: number;
  /** Null when absent (embedded descriptors may leave it out). */
  createType: string | null;
  parentHint: string | null;
  extents: DescriptorExtent[];
}

const MAX_SECTORS = Math.floor(Number.MAX_SAFE_INTEGER / 512);
const KEY_VALUE = /^([A-Za-z][A-Za-z0-9._]*)\s*=\s*(.*?)\s*$/;
const EXTENT = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Za-z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$/;
const TRACKED_KEYS = ["version", "CID", "parentCID", "createType", "parentFileNameHint"] as const;
type TrackedKey = (typeof TRACKED_KEYS)[number];

/**
 * Parses descriptor text. `text` is latin1-decoded bytes (one char per byte), so names keep their exact
 * bytes until `decodeName` checks them. `embedded`: the descriptor inside a monolithic sparse file,
 * whose extent lines and other text qemu ignores (the file is the extent) and which may omit createType.
 */
export function parseDescriptor(rawText: string, embedded: boolean): VmdkDescriptor {
  const nul = rawText.indexOf("\0");
  // A UTF-8 byte order mark (latin1-decoded) is not part of the first line.
  const text = (nul >= 0 ? rawText.slice(0, nul) : rawText).replace(/^\xef\xbb\xbf/, "");
  if (nul >= 0 && !embedded && /[^\0]/.test(rawText.slice(nul))) {
    throw new FormatError("binary data in a text descriptor (NUL byte followed by more data)");
  }
  const values = new Map<TrackedKey, { value: string; line: number }>();
  const extents: DescriptorExtent[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i].replace(/\r$/, "").trim();
    if (line === "" || line.startsWith("#")) continue;
    if (/^(RW|RDONLY|NOACCESS)\s/.test(line)) {
      if (!embedded) extents.push(parseExtentLine(line, lineNo));
      continue;
    }
    const kv = KEY_VALUE.exec(line);
    if (!kv) {
      // qemu reads nothing from an embedded descriptor but CID, parentCID and the parent hint; the
      // rest (an extent line naming the file itself, wrapped by a newline in its name) is not ours to judge.
      if (embedded) continue;
      throw new FormatError(`line ${lineNo} is neither a setting, an extent nor a comment: ${quoteValue(line)}`);
    }
    const key = kv[1] as TrackedKey;
    if (!(TRACKED_KEYS as readonly string[]).includes(key)) continue;
    const previous = values.get(key);
    if (previous) throw new FormatError(`${key} appears twice (lines ${previous.line} and ${lineNo})`);
    values.set(key, { value: unquote(kv[2], key, lineNo), line: lineNo });
  }

  const version = values.get("version");
  if (!version) throw new FormatError("no version= line: not a VMDK descriptor");
  if (!/^[123]$/.test(version.value))
    throw new FormatError(`unsupported descriptor version ${quoteValue(version.value)} (line ${version.line})`);
  const cid = requireHex(values, "CID");
  const parentCid = requireHex(values, "parentCID");
  const createType = values.get("createType")?.value ?? null;
  if (!embedded && createType === null) throw new FormatError("no createType= line");

  const hint = values.get("parentFileNameHint");
  let parentHint: string | null = null;
  if (hint) {
    if (hint.value === "") throw new FormatError(`parentFileNameHint is empty (line ${hint.line})`);
    if (hint.value.length > PARENT_HINT_MAX)
      throw new FormatError(`parentFileNameHint is longer than ${PARENT_HINT_MAX} bytes (line ${hint.line})`);
    parentHint = decodeName(hint.value, `parentFileNameHint (line ${hint.line})`);
  }
  // qemu takes an embedded descriptor's type from the sparse header, not from the text.
  checkQemuReadsTheSame(text, { createType: embedded ? undefined : createType, parentHint: hint?.value ?? null });

  return { version: Number(version.value), cid, parentCid, createType, parentHint, extents };
}

function unquote(value: string, key: string, line: number): string {
  if (!value.startsWith('"')) return value;
  const close = value.indexOf('"', 1);
  if (close < 0) throw new FormatError(`${key}: unterminated quote (line ${line})`);
  if (value.slice(close + 1).trim() !== "") throw new FormatError(`${key}: text after the closing quote (line ${line})`);
  return value.slice(1, close);
}

function requireHex(values: Map<TrackedKey, { value: string; line: number }>, key: "CID" | "parentCID"): number {
  const entry = values.get(key);
  if (!entry) throw new FormatError(`no ${key}= line`);
  const digits = entry.value.replace(/^0x/i, "");
  if (!/^[0-9a-fA-F]{1,8}$/.test(digits)) {
    throw new FormatError(`${key} ${quoteValue(entry.value)} is not a 32-bit hex number (line ${entry.line})`);
  }
  return parseInt(digits, 16);
}

function parseExtentLine(line: string, lineNo: number): DescriptorExtent {
  const m = EXTENT.exec(line);
  if (!m) throw new FormatError(`line ${lineNo}: malformed extent line ${quoteValue(line)}`);
  const [, access, sectorText, type, rawName, offsetText] = m;
  const where = `extent on line ${lineNo}`;
  const sectors = Number(sectorText);
  if (!Number.isSafeInteger(sectors) || sectors <= 0 || sectors > MAX_SECTORS) {
    throw new FormatError(`${where}: size ${quoteValue(sectorText)} sectors is out of range`);
  }
  if (type === "ZERO") {
    if (rawName !== undefined) throw new FormatError(`${where}: a ZERO extent has no file`);
    return { access: access as ExtentAccess, sectors, type, fileName: null, offsetSectors: 0, line: lineNo };
  }
  if (KNOWN_UNSUPPORTED_TYPES[type]) {
    throw new FormatError(`${where}: type ${type} (${KNOWN_UNSUPPORTED_TYPES[type]}) cannot be read by qemu`);
  }
  if (!FILE_EXTENT_TYPES.has(type)) throw new FormatError(`${where}: unknown extent type ${quoteValue(type)}`);
  if (rawName === undefined || rawName === "") throw new FormatError(`${where}: no file name`);
  if (rawName.length > QEMU_EXTENT_NAME_MAX) {
    throw new FormatError(`${where}: file name longer than ${QEMU_EXTENT_NAME_MAX} bytes (qemu would skip the extent)`);
  }
  let offsetSectors = 0;
  if (type === "FLAT") {
    if (offsetText === undefined) throw new FormatError(`${where}: a FLAT extent needs a start offset`);
    offsetSectors = Number(offsetText);
    if (!Number.isSafeInteger(offsetSectors) || offsetSectors + sectors > MAX_SECTORS) {
      throw new FormatError(`${where}: offset ${quoteValue(offsetText)} is out of range`);
    }
  } else if (offsetText !== undefined) {
    throw new FormatError(`${where}: a ${type} extent takes no offset`);
  }
  return {
    access: access as ExtentAccess,
    sectors,
    type,
    fileName: decodeName(rawName, where),
    offsetSectors,
    line: lineNo,
  };
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Names are bytes on disk; descriptors declare UTF-8. A name that is not valid UTF-8 is refused. */
function decodeName(latin1: string, where: string): string {
  try {
    return UTF8.decode(Buffer.from(latin1, "latin1"));
  } catch {
    throw new FormatError(`${where}: file name is not valid UTF-8`);
  }
}

/**
 * qemu finds `parentFileNameHint`, `CID` and `parentCID` by substring search in the first 10 KiB
 * and skips a fixed `="`; `createType` likewise in the whole text. A descriptor that qemu would read
 * differently (a hint mentioned in a comment first, `key = "value"` spacing, a hint past 10 KiB) gets
 * refused here, so the chain reported is the chain qemu opens.
 */
function checkQemuReadsTheSame(text: string, parsed: { createType: string | null | undefined; parentHint: string | null }): void {
  const head = text.slice(0, QEMU_DESC_SIZE);
  const qemuHint = quotedAfter(head, "parentFileNameHint");
  if (qemuHint === "unterminated") throw new FormatError("qemu cannot read parentFileNameHint (no closing quote in the first 10 KiB)");
  if (qemuHint !== parsed.parentHint) {
    throw new FormatError(
      `ambiguous parent: qemu would read parentFileNameHint as ${qemuHint === null ? "absent" : quoteValue(qemuHint)}, the descriptor line says ${parsed.parentHint === null ? "none" : quoteValue(parsed.parentHint)}`,
    );
  }
  for (const key of ["CID", "parentCID"]) {
    if (!qemuReadsHex(head, key)) throw new FormatError(`qemu cannot read ${key} (it expects ${key}=<hex> in the first 10 KiB)`);
  }
  if (parsed.createType !== undefined) {
    const qemuType = quotedAfter(text, "createType");
    if (qemuType !== parsed.createType && !(qemuType === "unterminated" && parsed.createType === null)) {
      throw new FormatError(
        `ambiguous createType: qemu would read ${typeof qemuType === "string" && qemuType !== "unterminated" ? quoteValue(qemuType) : "none"}, the descriptor line says ${parsed.createType === null ? "none" : quoteValue(parsed.createType)}`,
      );
    }
  }
}

/** qemu's `strstr(desc, key)`, skip `key="`, read to the next `"`. */
function quotedAfter(text: string, key: string): string | null | "unterminated" {
  const at = text.indexOf(key);
  if (at < 0) return null;
  const start = at + key.length + 2;
  const end = text.indexOf('"', start);
  if (start > text.length || end < 0) return "unterminated";
  return text.slice(start, end);
}

/** qemu's `strstr(desc, key)`, skip `key=`, then `sscanf("%x")`. */
function qemuReadsHex(text: string, key: string): boolean {
  const at = text.indexOf(key);
  if (at < 0) return false;
  return /^\s*[+-]?(0[xX])?[0-9a-fA-F]/.test(text.slice(at + key.length + 1, at + key.length + 64));
}
