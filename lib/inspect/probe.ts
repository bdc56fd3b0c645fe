/**
 * Format by content, never by file name. Each format announces itself by a magic value at a fixed
 * offset, except raw, which has none: raw is only assumed when a partition table is where a disk keeps
 * it, or when the caller says so.
 */
import type { ImageFormat } from "./types";

/** What the first bytes of a file say it is. */
export type Signature =
  | { kind: "vmdk-sparse" } // "KDMV": hosted sparse extent, maybe with an embedded descriptor
  | { kind: "vmdk-cowd" } // "COWD": ESX vmfsSparse extent
  | { kind: "vmdk-sesparse" } // ESXi seSparse extent
  // Text descriptor. `certain`: a `version=` line was seen; otherwise only comments so far.
  | { kind: "vmdk-descriptor"; certain: boolean }
  | { kind: "qcow2" }
  | { kind: "vdi" }
  | { kind: "vhdx" }
  | { kind: "vpc"; footerAtEnd: boolean }
  | { kind: "ewf" } // "EVF\t\r\n\xff\0": an EWF (E01) segment
  | { kind: "partition-table"; table: "MBR" | "GPT" }
  | { kind: "unsupported"; name: string }
  | { kind: "unknown" };

/**
 * Bytes read from the start of a file to recognise it: sectors 0 and 1 hold every magic, the MBR
 * signature and the GPT header. For a raw disk nothing more is ever read; other formats read their
 * own headers on top, and a text descriptor is read whole.
 */
export const PROBE_BYTES = 1024;

const UNSUPPORTED: ReadonlyArray<[offset: number, magic: Buffer, name: string]> = [
  [0, Buffer.from("QED\0", "latin1"), "QED"],
  [0, Buffer.from("LUKS\xba\xbe", "latin1"), "a LUKS container"],
  [0, Buffer.from("WithoutFreeSpace", "latin1"), "Parallels"],
  [0, Buffer.from("WithouFreSpacExt", "latin1"), "Parallels"],
  [0, Buffer.from("Bochs Virtual HD Image", "latin1"), "Bochs"],
  [0, Buffer.from("EVF2\r\n\x81\0", "latin1"), "EWF2 (Ex01)"],
  [0, Buffer.from("LVF\t\r\n\xff\0", "latin1"), "a logical evidence file (L01)"],
];

function startsWith(buf: Buffer, offset: number, magic: Buffer | string): boolean {
  const bytes = typeof magic === "string" ? Buffer.from(magic, "latin1") : magic;
  return buf.length >= offset + bytes.length && buf.subarray(offset, offset + bytes.length).equals(bytes);
}

/**
 * `head`: the first PROBE_BYTES (or the whole file); `tail`: the last 512 bytes, where a fixed VHD
 * keeps its only footer (null when not read yet: see `needsTail`).
 */
export function identify(head: Buffer, tail: Buffer | null): Signature {
  if (startsWith(head, 0, "KDMV")) return { kind: "vmdk-sparse" };
  if (startsWith(head, 0, "COWD")) return { kind: "vmdk-cowd" };
  if (head.length >= 8 && head.readBigUInt64LE(0) === 0xcafebaben) return { kind: "vmdk-sesparse" };
  if (startsWith(head, 0, "QFI\xfb")) {
    return head.length >= 8 && head.readUInt32BE(4) === 1 ? { kind: "unsupported", name: "qcow version 1" } : { kind: "qcow2" };
  }
  if (head.length >= 0x48 && head.readUInt32LE(0x40) === 0xbeda107f) return { kind: "vdi" };
  if (startsWith(head, 0, "vhdxfile")) return { kind: "vhdx" };
  if (startsWith(head, 0, "conectix")) return { kind: "vpc", footerAtEnd: false };
  if (startsWith(head, 0, "EVF\t\r\n\xff\0")) return { kind: "ewf" };
  for (const [offset, magic, name] of UNSUPPORTED) {
    if (startsWith(head, offset, magic)) return { kind: "unsupported", name };
  }
  const descriptor = looksLikeDescriptor(head);
  if (descriptor) return { kind: "vmdk-descriptor", certain: descriptor === "certain" };
  if (tail !== null && tail.length === 512 && startsWith(tail, 0, "conectix")) return { kind: "vpc", footerAtEnd: true };
  if (startsWith(head, 512, "EFI PART")) return { kind: "partition-table", table: "GPT" };
  if (head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa) return { kind: "partition-table", table: "MBR" };
  return { kind: "unknown" };
}

/**
 * A VMDK text descriptor starts with comment or blank lines and then `version=`, as qemu's probe
 * requires ("certain"). A file that is only comments as far as we look (no NUL, starting with `#`)
 * may be one ("maybe"): it is read as a descriptor, so an oversized one is reported as "too large"
 * rather than "unrecognised", but it does not stand in the way of an explicit raw.
 */
function looksLikeDescriptor(head: Buffer): "certain" | "maybe" | false {
  // Descriptors are often padded to a sector with NULs (qemu-img writes snapshot descriptors that way):
  // text, then nothing but NULs. A NUL followed by more text is binary.
  const firstNul = head.indexOf(0);
  if (firstNul >= 0 && head.subarray(firstNul).some((byte) => byte !== 0)) return false;
  const text = head.subarray(0, firstNul >= 0 ? firstNul : head.length).toString("latin1");
  if (text.length === 0) return false;
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf("\n", pos);
    if (end < 0) end = text.length;
    const line = text.slice(pos, end).replace(/^[ \t\r]+/, "");
    if (line.startsWith("version")) return /^version\s*=/.test(line) ? "certain" : false;
    if (line !== "" && !line.startsWith("#")) return false;
    pos = end + 1;
  }
  return text.startsWith("#") ? "maybe" : false;
}

/** Whether the last sector could change the verdict (a fixed VHD looks like raw data from the front). */
export function needsTail(sig: Signature): boolean {
  return sig.kind === "partition-table" || sig.kind === "unknown";
}

/** Which format a signature proves, if any. */
export function formatOf(sig: Signature): ImageFormat | null {
  switch (sig.kind) {
    case "vmdk-sparse":
    case "vmdk-cowd":
    case "vmdk-sesparse":
    case "vmdk-descriptor":
      return "vmdk";
    case "qcow2":
    case "vdi":
    case "vhdx":
    case "vpc":
    case "ewf":
      return sig.kind;
    case "partition-table":
      return "raw";
    default:
      return null;
  }
}

/** For messages: what the content looks like. */
export function describeSignature(sig: Signature): string {
  switch (sig.kind) {
    case "vmdk-sparse":
      return "a VMDK sparse extent (KDMV)";
    case "vmdk-cowd":
      return "a VMDK vmfsSparse extent (COWD)";
    case "vmdk-sesparse":
      return "a VMDK seSparse extent";
    case "vmdk-descriptor":
      return "a VMDK descriptor";
    case "qcow2":
      return "qcow2 (magic QFI\\xfb)";
    case "vdi":
      return "VDI (signature 0xbeda107f)";
    case "vhdx":
      return "VHDX (signature vhdxfile)";
    case "vpc":
      return sig.footerAtEnd ? "a fixed VHD (conectix footer at the end)" : "VHD (signature conectix)";
    case "ewf":
      return "an EWF segment (signature EVF)";
    case "partition-table":
      return `a raw disk (${sig.table} partition table)`;
    case "unsupported":
      return sig.name;
    case "unknown":
      return "unrecognised content";
  }
}
