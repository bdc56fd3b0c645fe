/**
 * inspect reads descriptors and fixed-size headers, never disk contents: every read is recorded (the
 * FileHandle.read every ImageFile goes through) and checked against the byte ranges each format allows.
 */
import * as fs from "fs";
import * as path from "path";
import { inspectImage } from "./index";
import { makeTempDir, qemuImg, removeTree, writeRawDisk } from "../../test/support/image-chains";

interface Read {
  file: string;
  start: number;
  end: number;
}

let root: string;
let reads: Read[] = [];
let restore: () => void;

beforeAll(async () => {
  root = makeTempDir("inspect-reads-");
  // FileHandle is not exported; take its prototype from a handle.
  const probe = await fs.promises.open(__filename, "r");
  const proto = Object.getPrototypeOf(probe) as { read: (...args: any[]) => Promise<{ bytesRead: number }> };
  await probe.close();
  const original = proto.read;
  const names = new WeakMap<object, string>();
  const originalOpen = fs.promises.open;
  (fs.promises as any).open = async (file: fs.PathLike, ...rest: any[]) => {
    const handle = await (originalOpen as any)(file, ...rest);
    names.set(handle, String(file));
    return handle;
  };
  proto.read = async function (this: object, buffer: Buffer, offset: number, length: number, position: number) {
    reads.push({ file: names.get(this) ?? "?", start: position, end: position + length });
    return original.call(this, buffer, offset, length, position);
  };
  restore = () => {
    proto.read = original;
    (fs.promises as any).open = originalOpen;
  };
});
afterAll(() => {
  restore();
  removeTree(root);
});
beforeEach(() => {
  reads = [];
});

/** Every read of `file` lies inside one of `allowed` ([start, end) byte ranges). */
function expectReadsWithin(file: string, allowed: Array<[number, number]>): void {
  const ofFile = reads.filter((r) => r.file === file);
  expect(ofFile.length).toBeGreaterThan(0);
  for (const r of ofFile) {
    expect(allowed.some(([start, end]) => r.start >= start && r.end <= end)).toBe(true);
  }
}

test("raw disk: the first two sectors and the last one, nothing else", async () => {
  const file = path.join(root, "disk.dd");
  writeRawDisk(file, 8 * 1024 * 1024, "MBR");
  await inspectImage(file);
  const size = fs.statSync(file).size;
  expectReadsWithin(file, [
    [0, 1024],
    [size - 512, size],
  ]);
});

test("monolithicFlat: the descriptor only; the flat extent is never read", async () => {
  const dir = path.join(root, "flat");
  fs.mkdirSync(dir);
  qemuImg(["create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", path.join(dir, "d.vmdk"), "16M"]);
  await inspectImage(path.join(dir, "d.vmdk"));
  expect(reads.filter((r) => r.file.endsWith("d-flat.vmdk"))).toEqual([]);
  expectReadsWithin(path.join(dir, "d.vmdk"), [[0, fs.statSync(path.join(dir, "d.vmdk")).size]]);
});

test("sparse VMDK chain: headers and embedded descriptors (first 21 sectors of each file)", async () => {
  const dir = path.join(root, "sparse");
  fs.mkdirSync(dir);
  qemuImg(["create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", path.join(dir, "base.vmdk"), "3G"]);
  qemuImg(["create", "-q", "-f", "vmdk", "-b", "base.vmdk", "-F", "vmdk", path.join(dir, "snap.vmdk")]);
  const m = await inspectImage(path.join(dir, "snap.vmdk"));
  for (const f of m.files) {
    if (f.path.endsWith("base.vmdk")) expectReadsWithin(f.path, [[0, f.size]]);
    else expectReadsWithin(f.path, [[0, 21 * 512]]);
  }
});

test("qcow2 over raw: the qcow2 header cluster, the raw file's first sectors", async () => {
  const dir = path.join(root, "qcow2");
  fs.mkdirSync(dir);
  writeRawDisk(path.join(dir, "base.img"), 4 * 1024 * 1024, "GPT");
  qemuImg(["create", "-q", "-f", "qcow2", "-b", "base.img", "-F", "raw", path.join(dir, "top.qcow2")]);
  await inspectImage(path.join(dir, "top.qcow2"));
  expectReadsWithin(path.join(dir, "top.qcow2"), [[0, 65536]]);
  const size = 4 * 1024 * 1024;
  expectReadsWithin(path.join(dir, "base.img"), [
    [0, 1024],
    [size - 512, size],
  ]);
});

test("the library starts no process: no child_process in its sources, none called while inspecting", async () => {
  const sources = fs.readdirSync(__dirname).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
  expect(sources.length).toBeGreaterThan(5);
  for (const f of sources) expect(fs.readFileSync(path.join(__dirname, f), "utf8")).not.toMatch(/child_process/);

  const dir = path.join(root, "no-processes $(touch pwned)");
  fs.mkdirSync(dir);
  writeRawDisk(path.join(dir, "base `touch pwned`.img"), 1024 * 1024, "MBR");
  const top = path.join(dir, "top;touch pwned.qcow2");
  qemuImg(["create", "-q", "-f", "qcow2", "-b", "base `touch pwned`.img", "-F", "raw", top]);

  const childProcess = require("child_process") as Record<string, unknown>;
  const spies = ["spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork"].map((name) =>
    jest.spyOn(childProcess as any, name),
  );
  try {
    const m = await inspectImage(top, { hash: true });
    expect(m.files).toHaveLength(2);
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
  expect(fs.readdirSync(dir).sort()).toEqual(["base `touch pwned`.img", "top;touch pwned.qcow2"]);
});
