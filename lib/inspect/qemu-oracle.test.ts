/**
 * inspect against qemu-img as the independent oracle: every image here is made by qemu-img (or, where
 * qemu-img cannot make it, written by hand and still read back by qemu-img), and the manifest must
 * agree with `qemu-img info --backing-chain --output=json -f <fmt> <top>` on the chain (paths, formats,
 * parents, CIDs), the file set and the virtual size.
 */
import * as fs from "fs";
import * as path from "path";
import { inspectImage, qemuCautions, type ImageFormat, type ImageManifest } from "./index";
import {
  deepVmdkChain,
  handwrittenVmdkChain,
  moveHeaderToFooter,
  qemuChain,
  qemuImg,
  scratchFolders,
  vmdkDescriptor,
  vmdkSnapshotChain,
  writeCowdExtent,
  writeRawDisk,
  writeSeSparseExtent,
} from "../../test/support/image-chains";

const folder = scratchFolders("inspect-oracle-");

// The native realpath: Node's JS `fs.realpathSync` folds `link/..` lexically before resolving links.
const real = (p: string): string => fs.realpathSync.native(p);

/**
 * The manifest and qemu-img agree on the chain, the virtual size and the files qemu opens; every file
 * in the manifest exists with the recorded size. Returns the manifest for further checks.
 */
async function expectAgreement(top: string, format: ImageFormat, opts: { cwd?: string; explicit?: boolean } = {}): Promise<ImageManifest> {
  const cwd = opts.cwd ?? process.cwd();
  const before = process.cwd();
  process.chdir(cwd);
  let manifest: ImageManifest;
  try {
    manifest = await inspectImage(top, opts.explicit ? { format } : {});
  } finally {
    process.chdir(before);
  }
  const qemu = qemuChain(top, format, cwd);

  expect(manifest.format).toBe(format);
  expect(manifest.virtualSize).toBe(qemu[0].virtualSize);
  expect(manifest.chain.map((l) => real(l.path))).toEqual(qemu.map((l) => real(l.filename)));
  expect(manifest.chain.map((l) => l.format)).toEqual(qemu.map((l) => l.format));
  manifest.chain.forEach((layer, i) => {
    expect(path.posix.normalize(layer.path)).toBe(layer.path);
    expect(path.isAbsolute(layer.path)).toBe(true);
    expect(layer.parentPath === null ? null : real(layer.parentPath)).toEqual(qemu[i].backing === null ? null : real(qemu[i].backing!));
    if (layer.format === "vmdk") {
      expect(layer.createType).toBe(qemu[i].createType);
      expect(layer.cid).toBe(qemu[i].cid);
      expect(layer.parentCid).toBe(qemu[i].parentCid);
      const readByQemu = layer.extents.filter((e) => e.access === "RW" && e.type !== "ZERO").map((e) => real(e.path!));
      expect(readByQemu).toEqual(qemu[i].extents.map(real));
    }
  });

  const ours = manifest.files.map((f) => real(f.path));
  expect(new Set(ours).size).toBe(ours.length);
  const needed = new Set<string>();
  qemu.forEach((layer) => {
    needed.add(real(layer.filename));
    layer.extents.forEach((e) => needed.add(real(e)));
    if (layer.dataFile) needed.add(real(`${path.dirname(layer.filename)}/${layer.dataFile}`));
  });
  // Everything qemu opens is listed; anything more can only be an extent qemu skips (not RW).
  for (const f of needed) expect(ours).toContain(f);
  const skippedExtentFiles = new Set(
    manifest.chain.flatMap((l) => l.extents.filter((e) => e.access !== "RW" && e.path).map((e) => real(e.path!))),
  );
  for (const f of ours) if (!needed.has(f)) expect(skippedExtentFiles).toContain(f);
  for (const f of manifest.files) {
    expect(path.isAbsolute(f.path)).toBe(true);
    expect(path.posix.normalize(f.path)).toBe(f.path);
    expect(f.size).toBe(fs.statSync(f.path).size);
    expect(f.sha256).toBeUndefined();
  }
  return manifest;
}

describe("VMDK subformats made by qemu-img", () => {
  test.each([
    ["monolithicSparse", "64M", 1],
    ["monolithicFlat", "64M", 2],
    ["twoGbMaxExtentSparse", "5G", 4],
    ["twoGbMaxExtentFlat", "5G", 4],
    ["streamOptimized", "64M", 1],
  ])("%s", async (subformat, size, fileCount) => {
    const dir = folder(subformat);
    const top = path.join(dir, "disk.vmdk");
    qemuImg(["create", "-q", "-f", "vmdk", "-o", `subformat=${subformat}`, top, size]);
    const m = await expectAgreement(top, "vmdk");
    expect(m.files).toHaveLength(fileCount);
    expect(m.chain[0].createType).toBe(subformat);
  });

  test("streamOptimized converted from raw data", async () => {
    const dir = folder("convert");
    const raw = path.join(dir, "src.raw");
    writeRawDisk(raw, 8 * 1024 * 1024, "MBR");
    const top = path.join(dir, "stream.vmdk");
    qemuImg(["convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, top]);
    await expectAgreement(top, "vmdk");
  });

  test("streamOptimized whose header defers to the footer (grain directory at end)", async () => {
    const dir = folder("footer");
    const made = path.join(dir, "made.vmdk");
    qemuImg(["create", "-q", "-f", "vmdk", "-o", "subformat=streamOptimized", made, "64M"]);
    const top = path.join(dir, "footer.vmdk");
    moveHeaderToFooter(made, top);
    const m = await expectAgreement(top, "vmdk");
    expect(m.virtualSize).toBe(64 * 1024 * 1024);
  });

  test("vmfs descriptor with a VMFS extent (written by hand, read by qemu-img)", async () => {
    const dir = folder("vmfs");
    fs.writeFileSync(path.join(dir, "disk-flat.vmdk"), Buffer.alloc(4096 * 512));
    fs.writeFileSync(
      path.join(dir, "disk.vmdk"),
      vmdkDescriptor({ cid: "0badcafe", createType: "vmfs", extents: ['RW 4096 VMFS "disk-flat.vmdk"'] }),
    );
    const m = await expectAgreement(path.join(dir, "disk.vmdk"), "vmdk");
    expect(m.chain[0].extents[0]).toMatchObject({ type: "VMFS", sectors: 4096, access: "RW" });
  });

  test("vmfsSparse snapshot (COWD extent) over a vmfs base", async () => {
    const dir = folder("vmfssparse");
    fs.writeFileSync(path.join(dir, "base-flat.vmdk"), Buffer.alloc(8192 * 512));
    fs.writeFileSync(
      path.join(dir, "base.vmdk"),
      vmdkDescriptor({ cid: "11111111", createType: "vmfs", extents: ['RW 8192 VMFS "base-flat.vmdk"'] }),
    );
    writeCowdExtent(path.join(dir, "snap-delta.vmdk"), 8192);
    fs.writeFileSync(
      path.join(dir, "snap.vmdk"),
      vmdkDescriptor({
        cid: "22222222",
        parentCid: "11111111",
        createType: "vmfsSparse",
        parentHint: "base.vmdk",
        extents: ['RW 8192 VMFSSPARSE "snap-delta.vmdk"'],
      }),
    );
    const m = await expectAgreement(path.join(dir, "snap.vmdk"), "vmdk");
    expect(m.chain.map((l) => l.createType)).toEqual(["vmfsSparse", "vmfs"]);
    expect(m.files.map((f) => path.basename(f.path))).toEqual(["snap.vmdk", "snap-delta.vmdk", "base.vmdk", "base-flat.vmdk"]);
  });

  test("seSparse snapshot (SESPARSE extent) over a monolithicFlat base", async () => {
    const dir = folder("sesparse");
    qemuImg(["create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", path.join(dir, "base.vmdk"), "32M"]);
    const baseCid = /^CID=(\w+)$/m.exec(fs.readFileSync(path.join(dir, "base.vmdk"), "latin1"))![1];
    writeSeSparseExtent(path.join(dir, "snap-sesparse.vmdk"), 65536);
    fs.writeFileSync(
      path.join(dir, "snap.vmdk"),
      vmdkDescriptor({
        cid: "33333333",
        parentCid: baseCid,
        createType: "seSparse",
        parentHint: "base.vmdk",
        extents: ['RW 65536 SESPARSE "snap-sesparse.vmdk"'],
      }),
    );
    const m = await expectAgreement(path.join(dir, "snap.vmdk"), "vmdk");
    expect(m.chain[0].extents).toEqual([{ path: path.join(dir, "snap-sesparse.vmdk"), access: "RW", sectors: 65536, type: "SESPARSE" }]);
  });

  test("RW, RDONLY, NOACCESS and ZERO extents: size is what qemu reads, every file is listed", async () => {
    const dir = folder("access");
    for (const name of ["a.raw", "b.raw", "c.raw", "d.raw"]) fs.writeFileSync(path.join(dir, name), Buffer.alloc(128 * 512));
    fs.writeFileSync(
      path.join(dir, "disk.vmdk"),
      vmdkDescriptor({
        cid: "12345678",
        createType: "monolithicFlat",
        extents: [
          'RW 128 FLAT "a.raw" 0',
          'RDONLY 128 FLAT "b.raw" 0',
          "RW 64 ZERO",
          'NOACCESS 128 FLAT "c.raw" 0',
          'RW 64 FLAT "d.raw" 64',
        ],
      }),
    );
    const m = await expectAgreement(path.join(dir, "disk.vmdk"), "vmdk");
    expect(m.virtualSize).toBe((128 + 64) * 512);
    expect(m.chain[0].extents.map((e) => [e.access, e.type, e.path && path.basename(e.path)])).toEqual([
      ["RW", "FLAT", "a.raw"],
      ["RDONLY", "FLAT", "b.raw"],
      ["RW", "ZERO", null],
      ["NOACCESS", "FLAT", "c.raw"],
      ["RW", "FLAT", "d.raw"],
    ]);
    expect(m.files.map((f) => path.basename(f.path))).toEqual(["disk.vmdk", "a.raw", "b.raw", "c.raw", "d.raw"]);
    expect(qemuCautions(m)).toEqual([expect.stringMatching(/qemu skips 3 RDONLY\/ZERO\/NOACCESS extent\(s\) \(320 sectors\)/)]);
  });
});

describe("VMDK snapshot chains", () => {
  test("three snapshots over a split sparse base, one folder each, relative and absolute hints", async () => {
    const chain = vmdkSnapshotChain(folder("snapshots"), {
      depth: 3,
      baseSubformat: "twoGbMaxExtentSparse",
      size: "3G",
      hints: "alternate",
    });
    const m = await expectAgreement(chain.top, "vmdk");
    expect(m.chain.map((l) => l.path)).toEqual(chain.layers);
    expect(new Set(m.chain.map((l) => path.dirname(l.path))).size).toBe(4);
  });

  test("split sparse snapshots (twoGbMaxExtentSparse at every level), relative hints only", async () => {
    const chain = vmdkSnapshotChain(folder("split-snapshots"), {
      depth: 2,
      baseSubformat: "monolithicFlat",
      snapshotSubformat: "twoGbMaxExtentSparse",
      size: "3G",
      hints: "relative",
    });
    const m = await expectAgreement(chain.top, "vmdk");
    expect(m.files).toHaveLength(2 * 3 + 2);
  });

  test("the chain resolves the same from another working directory (relative top, relative hints)", async () => {
    const base = folder("cwd");
    const chain = vmdkSnapshotChain(path.join(base, "case"), { depth: 2, hints: "relative" });
    const elsewhere = folder("elsewhere");
    const relativeTop = path.relative(elsewhere, chain.top);
    expect(relativeTop.startsWith("..")).toBe(true);
    const m = await expectAgreement(relativeTop, "vmdk", { cwd: elsewhere });
    expect(m.chain[0].path).toBe(chain.top);
  });

  test("a parent reached through a symlinked folder keeps its physical meaning; the manifest names files where they are", async () => {
    const dir = folder("symlinked");
    const chain = vmdkSnapshotChain(path.join(dir, "real"), { depth: 1, hints: "relative" });
    fs.mkdirSync(path.join(dir, "elsewhere", "deep"), { recursive: true });
    // `link/..` is `real/` physically, not `dir/`: a lexical `..` would look for the base in the wrong place.
    fs.symlinkSync(path.join(dir, "real", "snap-001"), path.join(dir, "elsewhere", "deep", "link"));
    const top = path.join(dir, "elsewhere", "deep", "link", path.basename(chain.top));
    const m = await expectAgreement(top, "vmdk");
    // What is hashed, transferred and attached is the file itself, not the examiner's link to it.
    expect(m.chain.map((l) => l.path)).toEqual(chain.layers);
    expect(m.chain[0].parentPath).toBe(chain.layers[1]);
  });

  test("150-deep chain (qemu-img snapshots, cloned)", async () => {
    const chain = deepVmdkChain(folder("deep"), 149);
    const m = await expectAgreement(chain.top, "vmdk");
    expect(m.chain).toHaveLength(150);
  }, 60_000);

  test("1000 handwritten layers are accepted (the depth limit is inclusive)", async () => {
    const chain = handwrittenVmdkChain(folder("thousand"), 1000);
    const m = await inspectImage(chain.top);
    expect(m.chain).toHaveLength(1000);
    expect(m.files).toHaveLength(1001);
    expect(m.chain[999].parentPath).toBeNull();
  }, 30_000);
});

describe("qcow2 chains", () => {
  test("relative and absolute backing files across folders", async () => {
    const dir = folder("qcow2");
    fs.mkdirSync(path.join(dir, "a"));
    fs.mkdirSync(path.join(dir, "b"));
    fs.mkdirSync(path.join(dir, "c"));
    const base = path.join(dir, "a", "base.qcow2");
    qemuImg(["create", "-q", "-f", "qcow2", base, "32M"]);
    const mid = path.join(dir, "b", "mid.qcow2");
    qemuImg(["create", "-q", "-f", "qcow2", "-b", "../a/base.qcow2", "-F", "qcow2", mid]);
    const top = path.join(dir, "c", "top.qcow2");
    qemuImg(["create", "-q", "-f", "qcow2", "-b", mid, "-F", "qcow2", top]);
    const m = await expectAgreement(top, "qcow2");
    expect(m.chain.map((l) => l.path)).toEqual([top, mid, base]);
  });

  test("qcow2 over a split sparse VMDK chain", async () => {
    const dir = folder("qcow2-vmdk");
    const chain = vmdkSnapshotChain(path.join(dir, "vmdk"), { depth: 1, baseSubformat: "twoGbMaxExtentSparse", size: "3G" });
    const top = path.join(dir, "top.qcow2");
    qemuImg(["create", "-q", "-f", "qcow2", "-b", path.relative(dir, chain.top), "-F", "vmdk", top]);
    const m = await expectAgreement(top, "qcow2");
    expect(m.chain.map((l) => l.format)).toEqual(["qcow2", "vmdk", "vmdk"]);
  });

  test("qcow2 over a raw disk, and over a raw disk without partition table when the format is recorded", async () => {
    const dir = folder("qcow2-raw");
    writeRawDisk(path.join(dir, "mbr.img"), 16 * 1024 * 1024, "MBR");
    writeRawDisk(path.join(dir, "bare.img"), 16 * 1024 * 1024, "none");
    qemuImg(["create", "-q", "-f", "qcow2", "-b", "mbr.img", "-F", "raw", path.join(dir, "over-mbr.qcow2")]);
    qemuImg(["create", "-q", "-f", "qcow2", "-b", "bare.img", "-F", "raw", path.join(dir, "over-bare.qcow2")]);
    await expectAgreement(path.join(dir, "over-mbr.qcow2"), "qcow2");
    await expectAgreement(path.join(dir, "over-bare.qcow2"), "qcow2");
  });

  test("external data file: qemu opens it by the name in the header, which the lab cannot pin, so it is refused", async () => {
    const dir = folder("datafile");
    // qemu-img resolves a relative data_file against its working directory: make it in the image's folder.
    qemuImg(["create", "-q", "-f", "qcow2", "-o", "data_file=disk.data", "disk.qcow2", "16M"], dir);
    qemuImg(["create", "-q", "-f", "qcow2", "-b", "disk.qcow2", "-F", "qcow2", "top.qcow2"], dir);
    expect(qemuChain(path.join(dir, "top.qcow2"), "qcow2", dir)[1].dataFile).toBe("disk.data");
    await expect(inspectImage(path.join(dir, "top.qcow2"))).rejects.toThrow(
      `${path.join(dir, "disk.qcow2")}: keeps its data in the external file 'disk.data', which the lab does not support`,
    );
  });
});

describe("single-file formats, recognised by content", () => {
  test.each([
    ["vdi", [], "disk.img"],
    ["vdi", ["-o", "static=on"], "disk.bin"],
    ["vhdx", [], "disk"],
    ["vpc", [], "disk.vmdk"],
    ["vpc", ["-o", "subformat=fixed"], "disk.raw"],
  ])("%s %j named %s", async (format, options, name) => {
    const dir = folder(`single-${format}`);
    const file = path.join(dir, name);
    qemuImg(["create", "-q", "-f", format, ...(options as string[]), file, "20M"]);
    const m = await expectAgreement(file, format as ImageFormat);
    expect(m.files).toEqual([{ path: file, size: fs.statSync(file).size }]);
  });

  test("vpc with CHS geometry at the maximum uses the footer size, as qemu does", async () => {
    const dir = folder("vpc-big");
    const file = path.join(dir, "big.vhd");
    qemuImg(["create", "-q", "-f", "vpc", "-o", "force_size=on", file, "200G"]);
    await expectAgreement(file, "vpc");
  });

  test.each([["MBR"], ["GPT"]] as const)("raw disk with a partition table (%s)", async (table) => {
    const dir = folder(`raw-${table}`);
    const file = path.join(dir, "disk.dd");
    writeRawDisk(file, 3 * 1024 * 1024 + 512, table);
    const m = await expectAgreement(file, "raw");
    expect(m.virtualSize).toBe(3 * 1024 * 1024 + 512);
  });

  test("raw data that starts like a comment is raw when raw is given explicitly", async () => {
    const dir = folder("raw-text");
    const file = path.join(dir, "notes.dd");
    fs.writeFileSync(file, `# not a descriptor\n${"x".repeat(2000)}`);
    fs.truncateSync(file, 1024 * 1024);
    await expectAgreement(file, "raw", { explicit: true });
  });

  test("raw disk without a partition table when raw is given explicitly", async () => {
    const dir = folder("raw-explicit");
    const file = path.join(dir, "partition.dd");
    writeRawDisk(file, 1024 * 1024, "none");
    await expectAgreement(file, "raw", { explicit: true });
  });
});
