/**
 * Disk images for tests and benchmarks, made by qemu-img (the independent oracle) wherever qemu-img can
 * make them, and written by hand only where it cannot (COWD extents, footers, deep chains of a thousand
 * layers). Everything lands in a folder the caller owns and removes.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** A fresh folder under the system temp dir; remove it with `removeTree`. */
export function makeTempDir(prefix = "forensic-lab-images-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeTree(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * For one test file: a scratch root made in `beforeAll` and removed in `afterAll`, and a function that
 * makes a fresh numbered folder in it on every call (`01-name`, `02-name`, ...).
 */
export function scratchFolders(prefix: string): (name?: string) => string {
  let root = "";
  let counter = 0;
  beforeAll(() => {
    root = makeTempDir(prefix);
  });
  afterAll(() => removeTree(root));
  return (name) => {
    const dir = path.join(root, `${String(++counter).padStart(2, "0")}${name ? `-${name}` : ""}`);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  };
}

/** Runs qemu-img with an argument vector (never a shell); throws with its stderr on failure. */
export function qemuImg(args: readonly string[], cwd?: string): string {
  const run = spawnSync("qemu-img", args, { cwd, encoding: "utf8" });
  if (run.error) throw run.error;
  if (run.status !== 0) throw new Error(`qemu-img ${args.join(" ")} failed: ${run.stderr.trim()}`);
  return run.stdout;
}

/** One entry of `qemu-img info --backing-chain --output=json`, reduced to what inspect must agree with. */
export interface QemuLayer {
  /** Absolute, as qemu names it (relative names resolved against `cwd`). */
  filename: string;
  format: string;
  virtualSize: number;
  backing: string | null;
  /** VMDK extent files, absolute; empty for other formats. */
  extents: string[];
  createType: string | null;
  cid: string | null;
  parentCid: string | null;
  /** qcow2 external data file name as stored. */
  dataFile: string | null;
}

/** What qemu-img says the chain is: `qemu-img info --backing-chain --output=json -f <format> <top>`. */
export function qemuChain(top: string, format: string, cwd = process.cwd()): QemuLayer[] {
  const raw = JSON.parse(qemuImg(["info", "--backing-chain", "--output=json", "-f", format, top], cwd)) as any[];
  // Joined, not path.resolve()d: `link/..` must keep its physical meaning when `link` is a symlink.
  const abs = (p: string): string => (path.isAbsolute(p) ? p : `${cwd}/${p}`);
  const hex = (n: unknown): string | null => (typeof n === "number" ? n.toString(16).padStart(8, "0") : null);
  return raw.map((layer) => {
    const data = layer["format-specific"]?.data ?? {};
    return {
      filename: abs(layer.filename),
      format: layer.format,
      virtualSize: layer["virtual-size"],
      backing: layer["full-backing-filename"] ? abs(layer["full-backing-filename"]) : null,
      extents: layer.format === "vmdk" ? (data.extents ?? []).map((e: any) => abs(e.filename)) : [],
      createType: data["create-type"] ?? null,
      cid: hex(data.cid),
      parentCid: hex(data["parent-cid"]),
      dataFile: data["data-file"] ?? null,
    };
  });
}

export interface Chain {
  /** The file to inspect. */
  top: string;
  /** Every layer's top file, top first. */
  layers: string[];
}

export type HintStyle = "relative" | "absolute" | "alternate";

export interface VmdkChainOptions {
  /** Snapshots above the base. */
  depth: number;
  /** @default "monolithicSparse" */
  baseSubformat?: string;
  /** @default "monolithicSparse" */
  snapshotSubformat?: string;
  /** @default "64M" */
  size?: string;
  /** How each snapshot names its parent. @default "alternate" */
  hints?: HintStyle;
}

/**
 * A VMDK snapshot chain as VMware lays it out across folders: the base in `root/base/`, snapshot N in
 * `root/snap-NNN/`, each made by `qemu-img create -f vmdk -b PARENT -F vmdk`, naming its parent by a
 * relative path (`../snap-NNN/...`), an absolute one, or alternately.
 */
export function vmdkSnapshotChain(root: string, options: VmdkChainOptions): Chain {
  const { depth, baseSubformat = "monolithicSparse", snapshotSubformat = "monolithicSparse", size = "64M", hints = "alternate" } = options;
  fs.mkdirSync(path.join(root, "base"), { recursive: true });
  let parent = path.join(root, "base", "base.vmdk");
  qemuImg(["create", "-q", "-f", "vmdk", "-o", `subformat=${baseSubformat}`, parent, size]);
  const layers = [parent];
  for (let i = 1; i <= depth; i++) {
    const dir = path.join(root, `snap-${String(i).padStart(3, "0")}`);
    fs.mkdirSync(dir, { recursive: true });
    const child = path.join(dir, `disk-${String(i).padStart(6, "0")}.vmdk`);
    const relative = hints === "relative" || (hints === "alternate" && i % 2 === 1);
    const hint = relative ? path.relative(dir, parent) : parent;
    qemuImg(["create", "-q", "-f", "vmdk", "-o", `subformat=${snapshotSubformat}`, "-b", hint, "-F", "vmdk", child]);
    layers.unshift(child);
    parent = child;
  }
  return { top: parent, layers };
}

/**
 * A deep VMDK snapshot chain, fast: base and first snapshot by qemu-img (monolithicSparse, in the
 * layout of `vmdkSnapshotChain`), every further snapshot a byte copy of the first with its embedded
 * descriptor rewritten (own CID, parentCID = the parent's CID, parentFileNameHint). qemu-img itself
 * would reopen the whole chain for each new snapshot, which makes 150 layers take ten seconds. The
 * result is checked by `qemu-img info --backing-chain` in the tests like any other chain.
 */
export function deepVmdkChain(root: string, depth: number, options: { size?: string; hints?: HintStyle } = {}): Chain {
  const { size = "16M", hints = "alternate" } = options;
  const first = vmdkSnapshotChain(root, { depth: 1, size, hints });
  const template = fs.readFileSync(first.top);
  const descriptorSectors = Number(template.readBigUInt64LE(36));
  const embedded = template.toString("latin1", 512, 512 + descriptorSectors * 512).replace(/\0+$/, "");
  const capacity = Number(template.readBigUInt64LE(12));
  // qemu writes CIDs without leading zeros.
  let parentCid = /^CID=([0-9a-f]+)$/m.exec(embedded)![1].padStart(8, "0");
  let parent = first.top;
  const layers = [...first.layers];
  for (let i = 2; i <= depth; i++) {
    const dir = path.join(root, `snap-${String(i).padStart(3, "0")}`);
    fs.mkdirSync(dir, { recursive: true });
    const name = `disk-${String(i).padStart(6, "0")}.vmdk`;
    const child = path.join(dir, name);
    const relative = hints === "relative" || (hints === "alternate" && i % 2 === 1);
    const cid = ((0x10000000 + i * 0x9e3779b1) >>> 0).toString(16).padStart(8, "0");
    const text = [
      "# Disk DescriptorFile",
      "version=1",
      `CID=${cid}`,
      `parentCID=${parentCid}`,
      'createType="monolithicSparse"',
      `parentFileNameHint="${relative ? path.relative(dir, parent) : parent}"`,
      "# Extent description",
      `RW ${capacity} SPARSE "${name}"`,
      "",
    ].join("\n");
    const image = Buffer.from(template);
    image.fill(0, 512, 512 + descriptorSectors * 512);
    image.write(text, 512, "latin1");
    fs.writeFileSync(child, image);
    layers.unshift(child);
    parent = child;
    parentCid = cid;
  }
  return { top: parent, layers };
}

/** A text descriptor, as VMware writes one. */
export function vmdkDescriptor(fields: {
  cid: string;
  parentCid?: string;
  createType: string;
  parentHint?: string;
  extents: readonly string[];
}): string {
  return [
    "# Disk DescriptorFile",
    "version=1",
    'encoding="UTF-8"',
    `CID=${fields.cid}`,
    `parentCID=${fields.parentCid ?? "ffffffff"}`,
    `createType="${fields.createType}"`,
    ...(fields.parentHint !== undefined ? [`parentFileNameHint="${fields.parentHint}"`] : []),
    "",
    "# Extent description",
    ...fields.extents,
    "",
    "# The Disk Data Base",
    "#DDB",
    "",
    'ddb.adapterType = "lsilogic"',
    "",
  ].join("\n");
}

/**
 * A chain of `depth` text descriptors written directly (no qemu-img), for depths qemu-img would take
 * long to make: every layer one folder, one FLAT extent shared by all (`root/flat.raw`), relative hints.
 * CIDs run 00000001, 00000002, ... from the base up. Returns the top.
 */
export function handwrittenVmdkChain(root: string, depth: number, sectors = 2048): Chain {
  fs.mkdirSync(root, { recursive: true });
  const flat = path.join(root, "flat.raw");
  fs.writeFileSync(flat, Buffer.alloc(0));
  fs.truncateSync(flat, sectors * 512);
  const layers: string[] = [];
  for (let i = 0; i < depth; i++) {
    const dir = path.join(root, `l${String(i).padStart(4, "0")}`);
    fs.mkdirSync(dir);
    const file = path.join(dir, "disk.vmdk");
    const cid = (i + 1).toString(16).padStart(8, "0");
    const text = vmdkDescriptor({
      cid,
      parentCid: i === 0 ? "ffffffff" : i.toString(16).padStart(8, "0"),
      createType: "monolithicFlat",
      parentHint: i === 0 ? undefined : `../l${String(i - 1).padStart(4, "0")}/disk.vmdk`,
      extents: [`RW ${sectors} FLAT "../flat.raw" 0`],
    });
    fs.writeFileSync(file, text);
    layers.unshift(file);
  }
  return { top: layers[0], layers };
}

/**
 * An ESX vmfsSparse ("COWD") extent qemu-img will open: header, then an all-zero L1 directory
 * (nothing allocated). qemu-img cannot create these.
 */
export function writeCowdExtent(file: string, sectors: number, granularity = 1): void {
  const l1Entries = Math.ceil(sectors / (4096 * granularity));
  const l1Offset = 4; // sectors
  const header = Buffer.alloc(512);
  header.write("COWD", 0, "latin1");
  header.writeUInt32LE(1, 4); // version
  header.writeUInt32LE(3, 8); // flags
  header.writeUInt32LE(sectors, 12);
  header.writeUInt32LE(granularity, 16);
  header.writeUInt32LE(l1Offset, 20);
  header.writeUInt32LE(l1Entries, 24);
  const total = l1Offset * 512 + Math.ceil((l1Entries * 4) / 512) * 512;
  header.writeUInt32LE(total / 512, 28); // file sectors
  fs.writeFileSync(file, Buffer.concat([header, Buffer.alloc(total - 512)]));
}

/**
 * An ESXi seSparse extent qemu-img will open: const header (sector 0), clean volatile header
 * (sector 1), an all-zero grain directory (nothing allocated). qemu-img cannot create these.
 */
export function writeSeSparseExtent(file: string, sectors: number): void {
  const sectorsPerDirEntry = 4096 * 8; // 4096 grain table entries of 8-sector grains
  const dirSectors = Math.max(1, Math.ceil((Math.ceil(sectors / sectorsPerDirEntry) * 8) / 512));
  const constHeader = Buffer.alloc(512);
  const fields: Array<[number, bigint]> = [
    [0, 0xcafebaben], // magic
    [8, 0x0000000200000001n], // version
    [16, BigInt(sectors)], // capacity
    [24, 8n], // grain size (sectors)
    [32, 64n], // grain table size (sectors)
    [80, 1n], // volatile header offset (sectors)
    [88, 1n], // volatile header size
    [128, 2n], // grain directory offset
    [136, BigInt(dirSectors)], // grain directory size (sectors)
    [144, BigInt(2 + dirSectors)], // grain tables offset
    [192, BigInt(2 + dirSectors)], // grains offset
  ];
  for (const [offset, value] of fields) constHeader.writeBigUInt64LE(value, offset);
  const volatileHeader = Buffer.alloc(512);
  volatileHeader.writeBigUInt64LE(0xcafecafen, 0);
  fs.writeFileSync(file, Buffer.concat([constHeader, volatileHeader, Buffer.alloc(dirSectors * 512)]));
}

/**
 * Turns a qemu-made sparse VMDK into the layout VMware's streaming writers use: the header's grain
 * directory offset set to "in the footer" (all ones), then footer marker, footer (the real header) and
 * end-of-stream marker appended. The front header's capacity is halved, so a reader that ignores the
 * footer reports the wrong size.
 */
export function moveHeaderToFooter(source: string, target: string): void {
  const image = fs.readFileSync(source);
  const footer = Buffer.from(image.subarray(0, 512));
  const header = Buffer.from(footer);
  header.writeBigUInt64LE(footer.readBigUInt64LE(12) / 2n, 12);
  header.writeBigUInt64LE(0xffffffffffffffffn, 56);
  const footerMarker = Buffer.alloc(512);
  footerMarker.writeUInt32LE(3, 12); // MARKER_FOOTER, size 0
  const endOfStream = Buffer.alloc(512); // all zero: MARKER_END_OF_STREAM
  const body = Buffer.alloc(Math.ceil(image.length / 512) * 512 - 512);
  image.copy(body, 0, 512);
  fs.writeFileSync(target, Buffer.concat([header, body, footerMarker, footer, endOfStream]));
}

/** A raw disk of `bytes` with a partition table signature: MBR (0x55AA at 510) or GPT ("EFI PART" at 512). */
export function writeRawDisk(file: string, bytes: number, table: "MBR" | "GPT" | "none"): void {
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, bytes);
  const fd = fs.openSync(file, "r+");
  try {
    if (table === "MBR") fs.writeSync(fd, Buffer.from([0x55, 0xaa]), 0, 2, 510);
    if (table === "GPT") {
      fs.writeSync(fd, Buffer.from([0x55, 0xaa]), 0, 2, 510); // protective MBR
      fs.writeSync(fd, Buffer.from("EFI PART", "latin1"), 0, 8, 512);
    }
  } finally {
    fs.closeSync(fd);
  }
}
