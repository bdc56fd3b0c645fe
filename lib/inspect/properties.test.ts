/**
 * Property tests: whatever bytes a file holds (random, a real header with bytes changed, a descriptor
 * built from random lines or mutated a character at a time), inspect ends quickly with a manifest or
 * an InspectError, never another exception and never a hang. Files a descriptor may name include a
 * FIFO and a folder, so "never opens a FIFO" is part of every run that reaches one.
 */
import * as fc from "fast-check";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { InspectError, inspectImage, type ImageFormat, type ImageManifest } from "./index";
import { makeTempDir, qemuImg, removeTree, vmdkDescriptor, writeCowdExtent, writeRawDisk } from "../../test/support/image-chains";

// Hundreds of generated cases per test: about a second each alone, several on a loaded CI machine with
// the whole suite in one process (and far more under --detectOpenHandles). The default 5 s is too tight.
jest.setTimeout(60_000);

let root: string;
/** Real images, made once, that mutations start from: name -> bytes. */
const seeds = new Map<string, Buffer>();

beforeAll(() => {
  root = makeTempDir("inspect-props-");
  const make = (name: string, args: string[]): void => {
    qemuImg([...args.slice(0, -1), path.join(root, name), args[args.length - 1]]);
    seeds.set(name, fs.readFileSync(path.join(root, name)));
  };
  make("sparse.vmdk", ["create", "-q", "-f", "vmdk", "8M"]);
  make("stream.vmdk", ["create", "-q", "-f", "vmdk", "-o", "subformat=streamOptimized", "8M"]);
  make("disk.qcow2", ["create", "-q", "-f", "qcow2", "-b", "sparse.vmdk", "-F", "vmdk", "8M"]);
  make("disk.vdi", ["create", "-q", "-f", "vdi", "8M"]);
  make("disk.vhdx", ["create", "-q", "-f", "vhdx", "8M"]);
  make("disk.vhd", ["create", "-q", "-f", "vpc", "8M"]);
  qemuImg(["create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", path.join(root, "split.vmdk"), "8M"]);
  writeCowdExtent(path.join(root, "cowd.vmdk"), 16384);
  writeRawDisk(path.join(root, "flat.raw"), 1024 * 1024, "MBR");
  fs.writeFileSync(
    path.join(root, "parent.vmdk"),
    vmdkDescriptor({ cid: "00000001", createType: "monolithicFlat", extents: ['RW 2048 FLAT "flat.raw" 0'] }),
  );
  fs.mkdirSync(path.join(root, "folder"));
  spawnSync("mkfifo", [path.join(root, "fifo")]);
}, 30_000);
afterAll(() => removeTree(root));

/** Outcomes per test, to show the generators reach both sides (accepted and refused). */
let tally = { accepted: 0, refused: 0 };
beforeEach(() => {
  tally = { accepted: 0, refused: 0 };
});
afterEach(() => {
  expect(tally.accepted).toBeGreaterThan(0);
  expect(tally.refused).toBeGreaterThan(0);
});

let serial = 0;
/** Writes `bytes` to a new file in the shared folder (so names in it can reach the other files). */
function writeCase(bytes: Buffer | string, extension = ".vmdk"): string {
  const file = path.join(root, `case-${++serial}${extension}`);
  fs.writeFileSync(file, bytes);
  return file;
}

/** Inspects `file`; returns the manifest or the InspectError; anything else fails the property. */
async function outcome(file: string, format?: ImageFormat): Promise<ImageManifest | InspectError> {
  const started = Date.now();
  try {
    const manifest = await inspectImage(file, format ? { format } : {});
    expect(manifest.chain.length).toBeGreaterThan(0);
    expect(Number.isSafeInteger(manifest.virtualSize) && manifest.virtualSize >= 0).toBe(true);
    for (const f of manifest.files) expect(path.isAbsolute(f.path) && fs.statSync(f.path).isFile()).toBe(true);
    tally.accepted++;
    return manifest;
  } catch (err) {
    if (!(err instanceof InspectError)) throw err;
    expect(err.message).not.toContain("\n");
    expect(err.message.length).toBeLessThan(2000);
    tally.refused++;
    return err;
  } finally {
    // Generous: CI machines share their cores. A hang (a FIFO opened, a loop not caught) is far beyond it.
    expect(Date.now() - started).toBeLessThan(5000);
    fs.rmSync(file, { force: true });
  }
}

const formats = fc.constantFrom<ImageFormat | undefined>(undefined, "vmdk", "qcow2", "raw", "vdi", "vhdx", "vpc");

test("random bytes, with and without a real magic in front", async () => {
  const magics = ["", "KDMV", "COWD", "QFI\xfb", "vhdxfile", "conectix", "# Disk DescriptorFile\nversion=1\n", "\xbe\xba\xfe\xca\0\0\0\0"];
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...magics), fc.uint8Array({ maxLength: 3000 }), formats, async (magic, body, format) => {
      await outcome(writeCase(Buffer.concat([Buffer.from(magic, "latin1"), Buffer.from(body)])), format);
    }),
    { numRuns: 300 },
  );
});

test("real headers with bytes changed", async () => {
  const names = [...seeds.keys()];
  const mutation = fc.record({
    seed: fc.constantFrom(...names),
    // Mostly inside the first 1 KiB (headers, descriptors); some anywhere up to 320 KiB (VHDX tables).
    edits: fc.array(fc.record({ offset: fc.oneof(fc.nat(1023), fc.nat(320 * 1024)), value: fc.integer({ min: 0, max: 255 }) }), {
      minLength: 1,
      maxLength: 8,
    }),
    truncate: fc.option(fc.nat(400 * 1024), { freq: 5 }),
  });
  await fc.assert(
    fc.asyncProperty(mutation, async ({ seed, edits, truncate }) => {
      let bytes = Buffer.from(seeds.get(seed)!);
      for (const { offset, value } of edits) if (offset < bytes.length) bytes[offset] = value;
      if (truncate !== null) bytes = bytes.subarray(0, truncate);
      await outcome(writeCase(bytes, path.extname(seed)));
    }),
    { numRuns: 400 },
  );
});

/** Names a descriptor might use: real files, missing ones, the FIFO, a folder, devices, protocols, loops. */
const names = fc.oneof(
  fc.constantFrom(
    "flat.raw",
    "sparse.vmdk",
    "split-s001.vmdk",
    "cowd.vmdk",
    "parent.vmdk",
    "split.vmdk",
    "fifo",
    "folder",
    "missing.vmdk",
    "/dev/null",
    "/dev/zero",
    "../",
    "nbd://127.0.0.1:1/x",
    "C:\\vm\\x.vmdk",
    "",
  ),
  fc.string({ maxLength: 40 }),
);
const hex = fc.oneof(
  fc.constantFrom("ffffffff", "00000001", "0x1", "zz", "123456789"),
  fc.integer({ min: 0, max: 0xffffffff }).map((n) => n.toString(16)),
);
const line = fc.oneof(
  fc.constantFrom("version=1", "version=3", "version=9", "# comment", "", "   ", "#DDB", 'ddb.adapterType = "ide"', "\r"),
  hex.map((h) => `CID=${h}`),
  hex.map((h) => `parentCID=${h}`),
  fc
    .constantFrom("monolithicFlat", "twoGbMaxExtentSparse", "vmfs", "vmfsSparse", "monolithicSparse", "custom", "")
    .map((t) => `createType="${t}"`),
  names.map((n) => `parentFileNameHint="${n}"`),
  fc
    .record({
      access: fc.constantFrom("RW", "RDONLY", "NOACCESS", "RWX"),
      sectors: fc.oneof(fc.constantFrom(0, 1, 2048, 16384, 4194304), fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
      type: fc.constantFrom("FLAT", "SPARSE", "ZERO", "VMFS", "VMFSSPARSE", "SESPARSE", "VMFSRDM", "BOGUS"),
      name: fc.option(names),
      offset: fc.option(fc.oneof(fc.nat(4096), fc.constant(2 ** 60))),
    })
    .map(({ access, sectors, type, name, offset }) =>
      [access, sectors, type, name === null ? "" : `"${name}"`, offset ?? ""].join(" ").trim(),
    ),
  fc.string({ maxLength: 80 }),
);

/** Lines that keep a complete descriptor valid, so random documents are sometimes accepted too. */
const benignLine = fc.constantFrom(
  "# comment",
  "",
  'ddb.uuid = "60 00 C2"',
  'RW 2048 FLAT "flat.raw" 0',
  'RDONLY 16384 SPARSE "split-s001.vmdk"',
  "RW 8 ZERO",
);
const prefixes = [
  [],
  ["# Disk DescriptorFile", "version=1", "CID=00000002"],
  ["# Disk DescriptorFile", "version=1", "CID=00000002", "parentCID=ffffffff", 'createType="monolithicFlat"', 'RW 2048 FLAT "flat.raw" 0'],
];

test("descriptors built from random lines", async () => {
  const lines = fc.array(fc.oneof({ arbitrary: benignLine, weight: 5 }, { arbitrary: line, weight: 1 }), { maxLength: 10 });
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...prefixes), lines, async (prefix, rest) => {
      await outcome(writeCase([...prefix, ...rest].join("\n")));
    }),
    { numRuns: 500 },
  );
});

test("a valid descriptor changed a character at a time", async () => {
  const valid = vmdkDescriptor({
    cid: "00000002",
    parentCid: "00000001",
    createType: "twoGbMaxExtentSparse",
    parentHint: "parent.vmdk",
    extents: ['RW 16384 SPARSE "split-s001.vmdk"', 'RW 2048 FLAT "flat.raw" 0', "RW 64 ZERO"],
  });
  // The unmutated text must be accepted, or every mutation would trivially fail.
  const base = await outcome(writeCase(valid));
  expect(base).not.toBeInstanceOf(InspectError);
  const edit = fc.record({ at: fc.nat(valid.length), remove: fc.nat(3), insert: fc.string({ maxLength: 4 }) });
  await fc.assert(
    fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 4 }), async (edits) => {
      let text = valid;
      for (const e of edits) text = text.slice(0, e.at) + e.insert + text.slice(e.at + e.remove);
      await outcome(writeCase(text));
    }),
    { numRuns: 500 },
  );
});
