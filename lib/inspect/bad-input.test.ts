/**
 * Every way an image can be unusable gets its own case: an InspectError naming the file and the
 * problem, in one line, quickly, and without opening anything but regular files. Where qemu-img
 * refuses the same header, it is asked too, so these are qemu's limits and not invented ones.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { InspectError, inspectImage, type ImageFormat } from "./index";
import {
  handwrittenVmdkChain,
  qemuImg,
  scratchFolders,
  vmdkDescriptor,
  vmdkSnapshotChain,
  writeCowdExtent,
  writeRawDisk,
} from "../../test/support/image-chains";

const folder = scratchFolders("inspect-bad-");

/** Bound on one inspection: generous, because CI machines share their cores; a hang is far beyond it. */
const BOUND_MS = 10_000;

async function failure(top: string, options?: { format?: ImageFormat }): Promise<InspectError> {
  const started = Date.now();
  const err = await inspectImage(top, options).then(
    () => null,
    (e: unknown) => e,
  );
  expect(Date.now() - started).toBeLessThan(BOUND_MS);
  if (!(err instanceof InspectError)) throw new Error(`expected an InspectError, got ${err === null ? "success" : String(err)}`);
  expect(err.message.split("\n")).toHaveLength(1);
  return err;
}

/** Fails with `problem`, naming `file`: message "<file>: <problem>". */
async function expectFailure(top: string, file: string, problem: RegExp, options?: { format?: ImageFormat }): Promise<void> {
  const err = await failure(top, options);
  expect({ file: err.file, problem: err.problem }).toEqual({ file, problem: expect.stringMatching(problem) });
  expect(err.message).toBe(`${file}: ${err.problem}`);
}

function qemuRefuses(file: string, format: string): void {
  const run = spawnSync("qemu-img", ["info", "-f", format, file], { encoding: "utf8" });
  expect(run.status).not.toBe(0);
}

/** A monolithicFlat disk written by hand: descriptor `disk.vmdk` + `disk-flat.vmdk` (2048 sectors). */
function flatDisk(
  dir: string,
  extents = ['RW 2048 FLAT "disk-flat.vmdk" 0'],
  extra: Partial<Parameters<typeof vmdkDescriptor>[0]> = {},
): string {
  fs.writeFileSync(path.join(dir, "disk-flat.vmdk"), Buffer.alloc(2048 * 512));
  const top = path.join(dir, "disk.vmdk");
  fs.writeFileSync(top, vmdkDescriptor({ cid: "0000abcd", createType: "monolithicFlat", extents, ...extra }));
  return top;
}

function patch(file: string, offset: number, bytes: Buffer): void {
  const fd = fs.openSync(file, "r+");
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

const u64le = (n: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};
const u64be = (n: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
};
const u32 = (n: number, le = true): Buffer => {
  const b = Buffer.alloc(4);
  if (le) b.writeUInt32LE(n);
  else b.writeUInt32BE(n);
  return b;
};

describe("missing files", () => {
  test("missing flat extent", async () => {
    const dir = folder();
    const top = flatDisk(dir);
    fs.unlinkSync(path.join(dir, "disk-flat.vmdk"));
    await expectFailure(top, path.join(dir, "disk-flat.vmdk"), /^no such file \(extent on line 9 of .*\/disk\.vmdk\)$/);
  });

  test("missing second sparse extent of a split disk", async () => {
    const dir = folder();
    const top = path.join(dir, "split.vmdk");
    qemuImg(["create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", top, "5G"]);
    fs.unlinkSync(path.join(dir, "split-s002.vmdk"));
    await expectFailure(top, path.join(dir, "split-s002.vmdk"), /^no such file \(extent on line 9 of .*split\.vmdk\)$/);
  });

  test("missing snapshot parent", async () => {
    const chain = vmdkSnapshotChain(folder(), { depth: 2, size: "8M" });
    fs.unlinkSync(chain.layers[2]);
    await expectFailure(chain.top, chain.layers[2], /^no such file \(parent of .*disk-000001\.vmdk\)$/);
  });

  test("missing qcow2 backing file", async () => {
    const dir = folder();
    qemuImg(["create", "-q", "-f", "qcow2", "-u", "-b", "gone.qcow2", "-F", "qcow2", "top.qcow2", "16M"], dir);
    await expectFailure(path.join(dir, "top.qcow2"), path.join(dir, "gone.qcow2"), /^no such file \(backing file of .*top\.qcow2\)$/);
  });

  test("qcow2 external data file, there or missing: refused, naming the image", async () => {
    const dir = folder();
    qemuImg(["create", "-q", "-f", "qcow2", "-o", "data_file=disk.data", "disk.qcow2", "16M"], dir);
    const refused = /^keeps its data in the external file 'disk\.data', which the lab does not support/;
    await expectFailure(path.join(dir, "disk.qcow2"), path.join(dir, "disk.qcow2"), refused);
    fs.unlinkSync(path.join(dir, "disk.data"));
    await expectFailure(path.join(dir, "disk.qcow2"), path.join(dir, "disk.qcow2"), refused);
  });

  test("a folder on the way is a file", async () => {
    const dir = folder();
    const top = flatDisk(dir, ['RW 2048 FLAT "disk-flat.vmdk/x" 0']);
    await expectFailure(top, path.join(dir, "disk-flat.vmdk/x"), /^no such file \(a folder in its path is not a folder\)/);
  });
});

describe("loops and self-references", () => {
  test("a -> b -> a", async () => {
    const dir = folder();
    const flat = 'RW 2048 FLAT "disk-flat.vmdk" 0';
    fs.writeFileSync(path.join(dir, "disk-flat.vmdk"), Buffer.alloc(2048 * 512));
    fs.writeFileSync(
      path.join(dir, "a.vmdk"),
      vmdkDescriptor({ cid: "aaaaaaaa", parentCid: "bbbbbbbb", parentHint: "b.vmdk", createType: "monolithicFlat", extents: [flat] }),
    );
    fs.writeFileSync(
      path.join(dir, "b.vmdk"),
      vmdkDescriptor({ cid: "bbbbbbbb", parentCid: "aaaaaaaa", parentHint: "a.vmdk", createType: "monolithicFlat", extents: [flat] }),
    );
    await expectFailure(
      path.join(dir, "a.vmdk"),
      path.join(dir, "b.vmdk"),
      /^its parent .*\/a\.vmdk is already in the chain \(as .*\/a\.vmdk\): the chain loops$/,
    );
  });

  test("qcow2 a -> b -> a", async () => {
    const dir = folder();
    qemuImg(["create", "-q", "-f", "qcow2", "-u", "-b", "b.qcow2", "-F", "qcow2", "a.qcow2", "16M"], dir);
    qemuImg(["create", "-q", "-f", "qcow2", "-u", "-b", "a.qcow2", "-F", "qcow2", "b.qcow2", "16M"], dir);
    await expectFailure(path.join(dir, "a.qcow2"), path.join(dir, "b.qcow2"), /the chain loops$/);
  });

  test("a loop through another name of the same file (hard link) is still a loop", async () => {
    const dir = folder();
    const top = flatDisk(dir, undefined, { parentCid: "0000abcd", parentHint: "alias.vmdk" });
    fs.linkSync(top, path.join(dir, "alias.vmdk"));
    await expectFailure(top, top, /^its parent .*\/alias\.vmdk is the file itself$/);
  });

  test("parent hint names the descriptor itself", async () => {
    const dir = folder();
    const top = flatDisk(dir, undefined, { parentCid: "0000abcd", parentHint: "./disk.vmdk" });
    await expectFailure(top, top, /^its parent .*\/disk\.vmdk is the file itself$/);
  });

  test("extent names the descriptor itself", async () => {
    const dir = folder();
    const top = flatDisk(dir, ['RW 1 FLAT "disk.vmdk" 0']);
    await expectFailure(top, top, /^extent on line 9 \('disk\.vmdk'\) is the descriptor itself$/);
  });

  test("a chain deeper than 1000 layers", async () => {
    const chain = handwrittenVmdkChain(folder(), 1001);
    await expectFailure(chain.top, chain.top, /^snapshot chain is deeper than 1000 layers$/);
  }, 30_000);
});

describe("CID consistency", () => {
  test("text descriptor whose parentCID is not the parent's CID", async () => {
    const chain = vmdkSnapshotChain(folder(), {
      depth: 1,
      size: "3G",
      baseSubformat: "twoGbMaxExtentSparse",
      snapshotSubformat: "twoGbMaxExtentSparse",
    });
    const text = fs.readFileSync(chain.top, "latin1");
    // qemu writes CIDs without leading zeros; the manifest always has eight digits.
    const baseCid = /^CID=(\w+)$/m.exec(fs.readFileSync(chain.layers[1], "latin1"))![1].padStart(8, "0");
    fs.writeFileSync(chain.top, text.replace(/^parentCID=\w+$/m, "parentCID=0badf00d"));
    // qemu opens this without complaint and only fails when it writes; inspect refuses up front.
    qemuImg(["info", "-f", "vmdk", chain.top]);
    await expectFailure(
      chain.top,
      chain.top,
      new RegExp(`^parentCID 0badf00d does not match CID ${baseCid} of parent .*/base/base\\.vmdk$`),
    );
  });

  test("embedded descriptor (monolithicSparse snapshot) whose parentCID is not the parent's CID", async () => {
    const chain = vmdkSnapshotChain(folder(), { depth: 1, size: "8M" });
    const image = fs.readFileSync(chain.top);
    const at = image.indexOf("parentCID=") + "parentCID=".length;
    // Same length as qemu's value, which has no leading zeros (a random CID below 0x10000000 has 7 digits):
    // a longer one would overwrite the line's end.
    const digits = image.indexOf("\n", at) - at;
    const forged = "12345678".slice(8 - digits);
    patch(chain.top, at, Buffer.from(forged));
    await expectFailure(chain.top, chain.top, new RegExp(`^parentCID ${forged.padStart(8, "0")} does not match CID [0-9a-f]{8} of parent`));
  });

  test("parentCID names a parent but there is no parentFileNameHint", async () => {
    const dir = folder();
    const top = flatDisk(dir, undefined, { parentCid: "01020304" });
    await expectFailure(top, top, /^parentCID 01020304 says there is a parent, but there is no parentFileNameHint$/);
  });
});

describe("things that are not regular files are never opened", () => {
  /** A writer blocked opening the FIFO: it gets through only if someone opens the FIFO to read. */
  async function withFifoWatch(fifo: string, work: () => Promise<void>): Promise<void> {
    spawnSync("mkfifo", [fifo]);
    const marker = `${fifo}.opened`;
    const writer = spawn("bash", ["-c", 'exec 3>"$1"; echo opened > "$2"', "watch", fifo, marker], { stdio: "ignore" });
    try {
      await work();
      await new Promise((r) => setTimeout(r, 200));
      expect(fs.existsSync(marker)).toBe(false);
    } finally {
      writer.kill("SIGKILL");
      await new Promise((r) => writer.once("exit", r));
    }
  }

  test("extent is a FIFO", async () => {
    const dir = folder();
    const top = flatDisk(dir, ['RW 2048 FLAT "pipe" 0']);
    await withFifoWatch(path.join(dir, "pipe"), () =>
      expectFailure(top, path.join(dir, "pipe"), /^is a FIFO, not a regular file \(extent on line 9 of .*disk\.vmdk\)$/),
    );
  });

  test("sparse extent is a FIFO", async () => {
    const dir = folder();
    const top = flatDisk(dir, ['RW 2048 SPARSE "pipe"'], { createType: "twoGbMaxExtentSparse" });
    await withFifoWatch(path.join(dir, "pipe"), () => expectFailure(top, path.join(dir, "pipe"), /^is a FIFO, not a regular file/));
  });

  test("parent is a FIFO", async () => {
    const dir = folder();
    const top = flatDisk(dir, undefined, { parentCid: "00000001", parentHint: "pipe" });
    await withFifoWatch(path.join(dir, "pipe"), () =>
      expectFailure(top, path.join(dir, "pipe"), /^is a FIFO, not a regular file \(parent of .*\)$/),
    );
  });

  test("top is a FIFO", async () => {
    const dir = folder();
    await withFifoWatch(path.join(dir, "pipe"), () =>
      expectFailure(path.join(dir, "pipe"), path.join(dir, "pipe"), /^is a FIFO, not a regular file$/),
    );
  });

  test("extent, parent and top that are directories", async () => {
    const dir = folder();
    fs.mkdirSync(path.join(dir, "sub"));
    await expectFailure(flatDisk(dir, ['RW 2048 FLAT "sub" 0']), path.join(dir, "sub"), /^is a directory, not a regular file \(extent/);
    await expectFailure(
      flatDisk(dir, undefined, { parentCid: "00000001", parentHint: "sub" }),
      path.join(dir, "sub"),
      /^is a directory, not a regular file \(parent/,
    );
    await expectFailure(dir, dir, /^is a directory, not a regular file$/);
  });

  test("extent and parent that are devices (in /dev, refused before anything is opened)", async () => {
    const dir = folder();
    await expectFailure(flatDisk(dir, ['RW 2048 FLAT "/dev/zero" 0']), "/dev/zero", /^lies in the system folder \/dev; .* \(extent/);
    await expectFailure(
      flatDisk(dir, undefined, { parentCid: "00000001", parentHint: "/dev/null" }),
      "/dev/null",
      /^lies in the system folder \/dev; .* \(parent/,
    );
  });
});

describe("content that is not an image", () => {
  test("binary junk", async () => {
    const dir = folder();
    const junk = path.join(dir, "junk.vmdk");
    const bytes = Buffer.alloc(8192);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + 13) % 251;
    fs.writeFileSync(junk, bytes);
    await expectFailure(junk, junk, /^not a recognised disk image \(.*\); if it really is a raw disk, give the format explicitly \(raw\)$/);
  });

  test("binary junk where a sparse extent should be", async () => {
    const dir = folder();
    fs.writeFileSync(path.join(dir, "disk-s001.vmdk"), Buffer.alloc(4096, 0x41));
    const top = flatDisk(dir, ['RW 2048 SPARSE "disk-s001.vmdk"'], { createType: "twoGbMaxExtentSparse" });
    await expectFailure(top, path.join(dir, "disk-s001.vmdk"), /^is not a sparse extent \(no KDMV or COWD signature\) \(extent on line 9/);
  });

  test("empty top, empty parent, empty flat extent", async () => {
    const dir = folder();
    fs.writeFileSync(path.join(dir, "empty"), "");
    await expectFailure(path.join(dir, "empty"), path.join(dir, "empty"), /^empty file \(0 bytes\)$/);
    const withEmptyParent = flatDisk(dir, undefined, { parentCid: "00000001", parentHint: "empty" });
    await expectFailure(withEmptyParent, path.join(dir, "empty"), /^empty file \(0 bytes\) \(parent of .*\)$/);
    await expectFailure(
      flatDisk(dir, ['RW 2048 FLAT "empty" 0']),
      path.join(dir, "empty"),
      /^flat extent is 0 bytes, but extent on line 9 of .* needs 1048576/,
    );
  });

  test("a descriptor with a 3 MB line", async () => {
    const dir = folder();
    const top = flatDisk(dir, undefined, { parentCid: "00000001", parentHint: "x".repeat(3 * 1024 * 1024) });
    await expectFailure(top, top, /^descriptor too large \(\d+ bytes; a VMDK descriptor is at most 1 MiB\)$/);
    const comment = path.join(dir, "comment.vmdk");
    fs.writeFileSync(comment, `# ${"A".repeat(3 * 1024 * 1024)}`);
    await expectFailure(comment, comment, /^descriptor too large/);
  });

  test("a descriptor of 900 KiB (under the limit) with a long junk line is refused for the junk", async () => {
    const dir = folder();
    const top = path.join(dir, "long.vmdk");
    fs.writeFileSync(top, `version=1\nCID=00000001\nparentCID=ffffffff\ncreateType="monolithicFlat"\n${"z".repeat(900 * 1024)}\n`);
    await expectFailure(top, top, /^line 5 is neither a setting, an extent nor a comment: 'z{60}…'$/);
  });

  test("a bare sparse extent (split disk part) or COWD extent given as the top", async () => {
    const dir = folder();
    qemuImg(["create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", path.join(dir, "d.vmdk"), "3G"]);
    await expectFailure(
      path.join(dir, "d-s001.vmdk"),
      path.join(dir, "d-s001.vmdk"),
      /^is a sparse extent without a descriptor of its own: open the descriptor/,
    );
    writeCowdExtent(path.join(dir, "delta.vmdk"), 4096);
    await expectFailure(path.join(dir, "delta.vmdk"), path.join(dir, "delta.vmdk"), /^is a bare vmfsSparse \(COWD\) extent, not a disk/);
  });

  test("formats inspect does not open", async () => {
    const dir = folder();
    qemuImg(["create", "-q", "-f", "qed", "disk.qed", "16M"], dir);
    await expectFailure(path.join(dir, "disk.qed"), path.join(dir, "disk.qed"), /^is QED, which is not supported/);
  });
});

describe("descriptor text qemu would read differently, or not at all", () => {
  test("parentFileNameHint in a comment before the real one", async () => {
    const dir = folder();
    const top = flatDisk(dir, undefined, { parentCid: "00000001", parentHint: "base.vmdk" });
    fs.writeFileSync(
      top,
      fs.readFileSync(top, "latin1").replace("# Disk DescriptorFile", '# Disk DescriptorFile\n# old parentFileNameHint="other.vmdk"'),
    );
    await expectFailure(
      top,
      top,
      /^ambiguous parent: qemu would read parentFileNameHint as 'other\.vmdk', the descriptor line says 'base\.vmdk'$/,
    );
  });

  test("spaces around '=' that qemu would misread", async () => {
    const dir = folder();
    const top = flatDisk(dir);
    fs.writeFileSync(top, fs.readFileSync(top, "latin1").replace('createType="monolithicFlat"', 'createType = "monolithicFlat"'));
    qemuRefuses(top, "vmdk");
    await expectFailure(top, top, /^ambiguous createType: qemu would read ' ', the descriptor line says 'monolithicFlat'$/);
  });

  test("CID twice", async () => {
    const dir = folder();
    const top = flatDisk(dir);
    fs.writeFileSync(top, fs.readFileSync(top, "latin1").replace("CID=0000abcd", "CID=0000abcd\nCID=0000abce"));
    await expectFailure(top, top, /^CID appears twice \(lines 4 and 5\)$/);
  });

  test("CID that is not 32-bit hex", async () => {
    const dir = folder();
    const top = flatDisk(dir, undefined, { cid: "123456789" });
    await expectFailure(top, top, /^CID '123456789' is not a 32-bit hex number \(line 4\)$/);
  });

  test("raw device mapping extent, unknown extent type, FLAT without offset, overlong name", async () => {
    const dir = folder();
    await expectFailure(
      flatDisk(dir, ['RW 2048 VMFSRDM "disk-rdm.vmdk"']),
      path.join(dir, "disk.vmdk"),
      /^extent on line 9: type VMFSRDM \(a raw device mapping\) cannot be read by qemu$/,
    );
    await expectFailure(
      flatDisk(dir, ['RW 2048 WEIRD "x.vmdk"']),
      path.join(dir, "disk.vmdk"),
      /^extent on line 9: unknown extent type 'WEIRD'$/,
    );
    await expectFailure(
      flatDisk(dir, ['RW 2048 FLAT "disk-flat.vmdk"']),
      path.join(dir, "disk.vmdk"),
      /^extent on line 9: a FLAT extent needs a start offset$/,
    );
    await expectFailure(
      flatDisk(dir, [`RW 2048 FLAT "${"n".repeat(600)}" 0`]),
      path.join(dir, "disk.vmdk"),
      /file name longer than 511 bytes \(qemu would skip the extent\)$/,
    );
    await expectFailure(
      flatDisk(dir, ['RW 0 FLAT "disk-flat.vmdk" 0']),
      path.join(dir, "disk.vmdk"),
      /^extent on line 9: size '0' sectors is out of range$/,
    );
  });

  test("monolithicSparse as a separate descriptor", async () => {
    const dir = folder();
    const top = flatDisk(dir, undefined, { createType: "monolithicSparse" });
    qemuRefuses(top, "vmdk");
    await expectFailure(
      top,
      top,
      /^createType 'monolithicSparse' belongs inside a sparse file, and qemu refuses it in a separate descriptor$/,
    );
  });

  test("only extents qemu skips", async () => {
    const dir = folder();
    const top = flatDisk(dir, ['RDONLY 2048 FLAT "disk-flat.vmdk" 0', "RW 100 ZERO"]);
    await expectFailure(top, top, /^no extent qemu can read/);
  });
});

describe("sizes and offsets that cannot be real", () => {
  test("flat extent shorter than the descriptor says (truncated copy)", async () => {
    const dir = folder();
    const top = flatDisk(dir, ['RW 4096 FLAT "disk-flat.vmdk" 0']);
    await expectFailure(
      top,
      path.join(dir, "disk-flat.vmdk"),
      /^flat extent is 1048576 bytes, but extent on line 9 of .* needs 2097152 \(truncated copy\?\)$/,
    );
  });

  test("sparse extent whose header capacity disagrees with the descriptor", async () => {
    const dir = folder();
    const top = path.join(dir, "d.vmdk");
    qemuImg(["create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", top, "3G"]);
    fs.writeFileSync(top, fs.readFileSync(top, "latin1").replace("RW 2097152 SPARSE", "RW 2097150 SPARSE"));
    await expectFailure(
      top,
      path.join(dir, "d-s002.vmdk"),
      /^extent header says 2097152 sectors, but extent on line \d+ of .* says 2097150$/,
    );
  });

  /** A 64 MiB monolithicSparse disk made by qemu-img, then `mutate`d. */
  function sparse(mutate: (file: string) => void): string {
    const file = path.join(folder(), "disk.vmdk");
    qemuImg(["create", "-q", "-f", "vmdk", file, "64M"]);
    mutate(file);
    return file;
  }

  // qemu ignores the descriptor fields (it always reads sector 1) and reads a grain directory past the
  // end as zeros; those three are refused here because they mean a damaged or truncated copy.
  test.each([
    ["capacity 2^63 sectors", 12, u64le(1n << 63n), /^capacity \(sectors\) \d+ is out of range$/, true],
    ["grain size 0", 20, u64le(0n), /^grain size or grain table size is zero$/, true],
    ["grain size 2^31 sectors", 20, u64le(1n << 31n), /^grain size \d+ sectors is out of range$/, true],
    ["grain table of 2^20 entries", 44, u32(1 << 20), /^grain table size 1048576 is too big/, true],
    ["descriptor beyond the end", 28, u64le(1n << 40n), /^embedded descriptor lies beyond the end of the file$/, false],
    ["descriptor of 2^40 sectors", 36, u64le(1n << 40n), /^embedded descriptor too large/, false],
    ["grain directory beyond the end", 56, u64le(1n << 40n), /^grain directory lies beyond the end of the file$/, false],
    ["data offset beyond the end", 64, u64le(1n << 30n), /^file truncated: header expects at least \d+ bytes/, true],
    ["version 9", 4, u32(9), /^unsupported sparse header version 9$/, true],
  ])("sparse VMDK header: %s", async (_name, offset, bytes, problem, qemuAlsoRefuses) => {
    const file = sparse((f) => patch(f, offset, bytes));
    if (qemuAlsoRefuses) qemuRefuses(file, "vmdk");
    await expectFailure(file, file, problem);
  });

  test("COWD extent with grain size 0", async () => {
    const dir = folder();
    writeCowdExtent(path.join(dir, "delta.vmdk"), 4096);
    patch(path.join(dir, "delta.vmdk"), 16, u32(0));
    const top = flatDisk(dir, ['RW 4096 VMFSSPARSE "delta.vmdk"'], { createType: "vmfsSparse" });
    await expectFailure(top, path.join(dir, "delta.vmdk"), /^COWD grain size 0 sectors is out of range \(extent on line 9/);
  });

  function qcow2(mutate: (file: string) => void): string {
    const file = path.join(folder(), "disk.qcow2");
    qemuImg(["create", "-q", "-f", "qcow2", file, "64M"]);
    mutate(file);
    return file;
  }

  test.each([
    ["virtual size 2^52 with a one-entry L1 table", 24, u64be(1n << 52n), /^L1 table is too small for the virtual size$/],
    ["virtual size 2^63", 24, u64be(1n << 63n), /^virtual size \d+ is out of range$/],
    ["cluster bits 30", 20, u32(30, false), /^unsupported cluster size 2\^30$/],
    ["backing file offset past the first cluster", 8, u64be(1n << 20n), /^invalid backing file offset \d+$/],
    ["version 7", 4, u32(7, false), /^unsupported qcow2 version 7$/],
    ["unknown incompatible feature", 72, u64be(1n << 40n), /^unsupported incompatible features 0x10000000000$/],
    ["header length past the cluster", 100, u32(1 << 20, false), /^qcow2 header exceeds the cluster size$/],
  ])("qcow2 header: %s", async (_name, offset, bytes, problem) => {
    const file = qcow2((f) => patch(f, offset, bytes));
    qemuRefuses(file, "qcow2");
    await expectFailure(file, file, problem);
  });

  test("VDI whose disk size exceeds its block map, and a differencing VDI", async () => {
    const dir = folder();
    const big = path.join(dir, "big.vdi");
    qemuImg(["create", "-q", "-f", "vdi", big, "16M"]);
    patch(big, 0x170, u64le(1n << 50n));
    qemuRefuses(big, "vdi");
    await expectFailure(big, big, /^VDI disk size \d+ exceeds what its block map covers \(16 blocks\)$/);
    const diff = path.join(dir, "diff.vdi");
    qemuImg(["create", "-q", "-f", "vdi", diff, "16M"]);
    patch(diff, 0x1b8, Buffer.alloc(16, 0x5a));
    qemuRefuses(diff, "vdi");
    await expectFailure(diff, diff, /^differencing VDI \(parent named by UUID only\), not supported by qemu$/);
  });

  test("VHD: damaged footer, differencing disk, absurd size", async () => {
    const dir = folder();
    const make = (name: string, edit: (footer: Buffer) => void, fixChecksum = true): string => {
      const file = path.join(dir, name);
      qemuImg(["create", "-q", "-f", "vpc", file, "16M"]);
      const footer = fs.readFileSync(file).subarray(0, 512);
      edit(footer);
      if (fixChecksum) {
        footer.writeUInt32BE(0, 64);
        let sum = 0;
        for (const b of footer) sum += b;
        footer.writeUInt32BE(~sum >>> 0, 64);
      }
      patch(file, 0, footer);
      return file;
    };
    const damaged = make("damaged.vhd", (f) => (f[100] ^= 0xff), false);
    qemuRefuses(damaged, "vpc");
    await expectFailure(damaged, damaged, /^VHD footer checksum is wrong$/);
    const diff = make("diff.vhd", (f) => f.writeUInt32BE(4, 60));
    await expectFailure(diff, diff, /^differencing VHD \(parent by locator\), not supported by qemu$/);
    const huge = make("huge.vhd", (f) => {
      f.write("win ", 28, "latin1");
      f.writeBigUInt64BE(1n << 50n, 48);
    });
    qemuRefuses(huge, "vpc");
    await expectFailure(huge, huge, /^VHD size \d+ is too large$/);
  });

  test("VHDX with both headers and the region table damaged", async () => {
    const dir = folder();
    const file = path.join(dir, "disk.vhdx");
    qemuImg(["create", "-q", "-f", "vhdx", file, "16M"]);
    patch(file, 192 * 1024 + 64, Buffer.from("damage"));
    qemuRefuses(file, "vhdx");
    await expectFailure(file, file, /^VHDX region table checksum is wrong$/);
    patch(file, 64 * 1024 + 100, Buffer.from("damage"));
    patch(file, 128 * 1024 + 100, Buffer.from("damage"));
    await expectFailure(file, file, /^no valid VHDX header \(both copies damaged\)$/);
  });
});

describe("names that are not files", () => {
  test("parent hint with a protocol", async () => {
    const dir = folder();
    const top = flatDisk(dir, undefined, { parentCid: "00000001", parentHint: "nbd://127.0.0.1:10809/evidence" });
    await expectFailure(
      top,
      top,
      /^parentFileNameHint 'nbd:\/\/127\.0\.0\.1:10809\/evidence' names a protocol \('nbd:'\), not a file; refusing to follow it$/,
    );
  });

  test("qcow2 backing file with a json: protocol", async () => {
    const dir = folder();
    const backing = 'json:{"driver":"raw","file":{"driver":"file","filename":"/etc/shadow"}}';
    qemuImg(["create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", "raw", "top.qcow2", "16M"], dir);
    await expectFailure(
      path.join(dir, "top.qcow2"),
      path.join(dir, "top.qcow2"),
      /^backing file .* names a protocol \('json:'\), not a file/,
    );
  });

  test("qcow2 external data file with a protocol", async () => {
    const dir = folder();
    const file = path.join(dir, "disk.qcow2");
    qemuImg(["create", "-q", "-f", "qcow2", "-o", "data_file=disk.data", "disk.qcow2", "16M"], dir);
    const image = fs.readFileSync(file);
    patch(file, image.indexOf("disk.data"), Buffer.from("nbd:x:999"));
    await expectFailure(file, file, /^external data file 'nbd:x:999' names a protocol \('nbd:'\)/);
  });

  test("Windows path as parent hint", async () => {
    const dir = folder();
    const top = flatDisk(dir, undefined, { parentCid: "00000001", parentHint: "C:\\VMs\\Win7\\base.vmdk" });
    await expectFailure(top, top, /^parentFileNameHint 'C:\\VMs\\Win7\\base\.vmdk' is a Windows path; qemu cannot follow it here$/);
  });
});

describe("formats that disagree", () => {
  test("requested format disagrees with the content", async () => {
    const dir = folder();
    const vmdk = flatDisk(dir);
    await expectFailure(vmdk, vmdk, /^expected qcow2 \(as requested\), but the file is a VMDK descriptor$/, { format: "qcow2" });
    const q = path.join(dir, "q.qcow2");
    qemuImg(["create", "-q", "-f", "qcow2", q, "16M"]);
    await expectFailure(q, q, /^expected raw \(as requested\), but the file is qcow2 \(magic QFI\\xfb\)$/, { format: "raw" });
  });

  test("backing format recorded in qcow2 disagrees with the backing file", async () => {
    const dir = folder();
    qemuImg(["create", "-q", "-f", "qcow2", "base.qcow2", "16M"], dir);
    qemuImg(["create", "-q", "-f", "qcow2", "-u", "-b", "base.qcow2", "-F", "raw", "top.qcow2", "16M"], dir);
    await expectFailure(
      path.join(dir, "top.qcow2"),
      path.join(dir, "base.qcow2"),
      /^expected raw \(the backing format .*top\.qcow2 records\), but the file is qcow2/,
    );
  });

  test("VMDK parent that is not VMDK", async () => {
    const dir = folder();
    qemuImg(["create", "-q", "-f", "qcow2", "base.qcow2", "16M"], dir);
    const top = flatDisk(dir, undefined, { parentCid: "00000001", parentHint: "base.qcow2" });
    await expectFailure(top, path.join(dir, "base.qcow2"), /^expected vmdk \(qemu opens a VMDK's parent as VMDK\), but the file is qcow2/);
  });

  test("backing file without a recorded format and without a signature", async () => {
    const dir = folder();
    writeRawDisk(path.join(dir, "bare.img"), 1024 * 1024, "none");
    // qemu-img insists on -F now; images made before it did carry no backing format.
    qemuImg(["create", "-q", "-f", "qcow2", "-u", "-b", "bare.img", "-F", "raw", "top.qcow2", "1M"], dir);
    const file = path.join(dir, "top.qcow2");
    const image = fs.readFileSync(file);
    const backingFormatExtension = image.indexOf(Buffer.from([0xe2, 0x79, 0x2a, 0xca]));
    expect(backingFormatExtension).toBeGreaterThan(0);
    patch(file, backingFormatExtension, Buffer.alloc(8)); // -> end-of-extensions marker
    await expectFailure(
      path.join(dir, "top.qcow2"),
      path.join(dir, "bare.img"),
      /^not a recognised disk image .*; and .*top\.qcow2 does not record its format \(backing file of/,
    );
  });

  test("unknown format name", async () => {
    const top = flatDisk(folder());
    await expectFailure(top, top, /^unknown format 'iso' \(one of vmdk, qcow2, raw, vdi, vhdx, vpc, ewf\)$/, {
      format: "iso" as ImageFormat,
    });
  });
});

test("a file name with a newline stays on one line in the message", async () => {
  const dir = folder();
  const name = path.join(dir, "evil\nname.vmdk");
  fs.writeFileSync(name, "");
  const err = await failure(name);
  expect(err.file).toBe(name);
  expect(err.message).toBe(`${JSON.stringify(name)}: empty file (0 bytes)`);
});
