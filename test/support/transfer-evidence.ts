/**
 * Test evidence for the transfer tests, made with qemu-img/qemu-io directly: a split sparse vmdk base
 * in a folder whose name is hostile to shells, and a split sparse snapshot in another folder whose
 * descriptor names its parent by an ABSOLUTE path (as VMware snapshots do). The manifest mirrors what
 * `lib/inspect` returns, built from `qemu-img info --backing-chain`.
 */
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { TransferManifest } from "../../components/image-transfer/args";

/**
 * The base's folder: spaces, quotes, command substitution. No double quote: a vmdk descriptor cannot
 * carry one in its parentFileNameHint (QEMU cuts the name there), so the snapshot's folder has those.
 */
export const HOSTILE_FOLDER = `base 'quoted' $(touch /tmp/forensic-lab-pwned) \`x\``;
export const SNAPSHOT_FOLDER = `snapshots "double" 'single' $(id)`;

export interface ChainEvidence {
  readonly manifest: TransferManifest;
  readonly top: string;
  readonly base: string;
}

function sha256File(file: string): string {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** Manifest of an image as `inspect` would report it (files hashed when `hash` is set). */
export function manifestOf(top: string, hash = true): TransferManifest {
  const info = JSON.parse(execFileSync("qemu-img", ["info", "--backing-chain", "--output=json", top], { encoding: "utf8" })) as any[];
  const chain = info.map((layer, i) => {
    const layerPath = i === 0 ? path.resolve(top) : path.resolve(info[i - 1]["full-backing-filename"]);
    const extents = ((layer["format-specific"]?.data?.extents ?? []) as any[]).map((e) => ({
      path: path.resolve(path.dirname(layerPath), path.basename(e.filename)),
    }));
    return { path: layerPath, format: layer.format, extents };
  });
  const paths = [...new Set(chain.flatMap((l) => [l.path, ...l.extents.map((e: { path: string }) => e.path)]))];
  return {
    format: chain[0].format,
    virtualSize: info[0]["virtual-size"],
    chain,
    files: paths.map((p) => ({ path: p, size: fs.statSync(p).size, ...(hash ? { sha256: sha256File(p) } : {}) })),
  } as TransferManifest;
}

/** Base (3 GiB virtual, two 2 GiB-max extents) plus one snapshot; writes only whole 64 KiB grains. */
export function makeChainEvidence(dir: string): ChainEvidence {
  const baseDir = path.join(dir, HOSTILE_FOLDER);
  const snapDir = path.join(dir, SNAPSHOT_FOLDER);
  fs.mkdirSync(baseDir, { recursive: true });
  fs.mkdirSync(snapDir, { recursive: true });
  const base = path.join(baseDir, "Win7.vmdk");
  const top = path.join(snapDir, "Win7-000001.vmdk");
  const q = (...args: string[]) => execFileSync(args[0], args.slice(1), { stdio: ["ignore", "ignore", "inherit"] });
  q("qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", base, "3G");
  q("qemu-io", "-f", "vmdk", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x22 2G 1M", base);
  q("qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", "-b", base, "-F", "vmdk", top);
  q("qemu-io", "-f", "vmdk", "-c", "write -P 0x33 64k 64k", "-c", "write -P 0x44 2G 64k", top);
  return { manifest: manifestOf(top), top, base };
}

/** A raw image of `sizeMiB` MiB: random data with a hole in the middle, to measure throughput. */
export function makeRawEvidence(dir: string, sizeMiB: number): { manifest: TransferManifest; file: string } {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "disk.raw");
  const fd = fs.openSync(file, "w");
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < sizeMiB; i++) {
    if (i >= sizeMiB / 2 && i < sizeMiB / 2 + 16) continue; // a 16 MiB hole stays a hole
    crypto.randomFillSync(chunk);
    fs.writeSync(fd, chunk, 0, chunk.length, i * chunk.length);
  }
  fs.ftruncateSync(fd, sizeMiB << 20);
  fs.closeSync(fd);
  return { manifest: manifestOf(file), file };
}
