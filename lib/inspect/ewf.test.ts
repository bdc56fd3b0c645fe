/**
 * EWF segment sets made here by libewf's own ewfacquire (Debian's ewf-tools), split over several 1 MiB
 * segments, then damaged, cut, mixed and renamed the ways an examiner's copy can be: every set must be
 * found whole from its first segment by headers alone, or refused naming the file at fault.
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { adler32, inspectEwfSet, MAX_SEGMENTS, segmentName } from "./ewf";
import { InspectError } from "./errors";
import { formatManifest, inspectImage } from "./index";
import { qemuImg, scratchFolders } from "../../test/support/image-chains";

const folder = scratchFolders("inspect-ewf-");
const MIB = 1 << 20;

/** A raw "disk" of random bytes, acquired into `<dir>/disk.E01...` with 1 MiB segments; its raw bytes. */
function acquire(dir: string, mib = 4, extra: string[] = []): Buffer {
  const raw = crypto.randomBytes(mib * MIB);
  const source = path.join(dir, "source.raw");
  fs.writeFileSync(source, raw);
  const r = spawnSync(
    "ewfacquire",
    ["-u", "-q", "-t", path.join(dir, "disk"), "-S", "1MiB", "-c", "none", "-d", "sha1", "-C", "case-1", "-e", "Erika", ...extra, source],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`ewfacquire failed: ${r.stdout}${r.stderr}`);
  fs.rmSync(source);
  return raw;
}

const digest = (algorithm: string, bytes: Buffer) => crypto.createHash(algorithm).update(bytes).digest("hex");

async function refusal(first: string): Promise<InspectError> {
  try {
    await inspectEwfSet(first);
  } catch (err) {
    if (err instanceof InspectError) return err;
    throw err;
  }
  throw new Error(`${first} was accepted`);
}

interface Section {
  readonly type: string;
  readonly at: number;
  readonly size: number;
}

/** The sections of one segment file, from its descriptors (test's own walk, for crafting damage). */
function sectionsOf(file: string): Section[] {
  const bytes = fs.readFileSync(file);
  const found: Section[] = [];
  for (let at = 13; ;) {
    const type = bytes
      .subarray(at, at + 16)
      .toString("latin1")
      .replace(/\0.*$/s, "");
    found.push({ type, at, size: Number(bytes.readBigUInt64LE(at + 24)) });
    if (type === "next" || type === "done") return found;
    at = Number(bytes.readBigUInt64LE(at + 16));
  }
}

/** Edits the volume or data section of a segment (1052 bytes of data) and writes its checksum again. */
function editVolume(file: string, edit: (data: Buffer) => void): void {
  const bytes = fs.readFileSync(file);
  const section = sectionsOf(file).find((s) => ["volume", "disk", "data"].includes(s.type))!;
  const data = bytes.subarray(section.at + 76, section.at + 76 + 1052);
  edit(data);
  data.writeUInt32LE(adler32(data.subarray(0, 1048)), 1048);
  fs.writeFileSync(file, bytes);
}

/** Edits a section descriptor and writes its checksum again: damage that only the walk's logic catches. */
function editDescriptor(file: string, type: string, edit: (descriptor: Buffer) => void): void {
  const bytes = fs.readFileSync(file);
  const section = sectionsOf(file).find((s) => s.type === type)!;
  const descriptor = bytes.subarray(section.at, section.at + 76);
  edit(descriptor);
  descriptor.writeUInt32LE(adler32(descriptor.subarray(0, 72)), 72);
  fs.writeFileSync(file, bytes);
}

const setGuid = (hex: string) => (data: Buffer) => Buffer.from(hex, "hex").copy(data, 64);

describe("a set as ewfacquire writes it", () => {
  test("every segment in order, the media size, and the acquisition hashes the set stores", async () => {
    const dir = folder("whole");
    const raw = acquire(dir);
    const set = await inspectEwfSet(path.join(dir, "disk.E01"));
    expect(set).toEqual({
      segments: [1, 2, 3, 4, 5].map((n) => path.join(dir, `disk.E0${n}`)),
      setIdentifier: null, // libewf 20140813 writes none; EnCase does (below)
      bytesPerSector: 512,
      sectorCount: raw.length / 512,
      mediaSize: raw.length,
      md5: digest("md5", raw),
      sha1: digest("sha1", raw),
    });
  });

  test.each(["encase5", "encase7", "linen7", "ftk"])("the %s flavour too", async (format) => {
    const dir = folder(format);
    const raw = acquire(dir, 3, ["-f", format]);
    const set = await inspectEwfSet(path.join(dir, "disk.E01"));
    expect(set.segments.length).toBeGreaterThanOrEqual(3);
    expect(set.mediaSize).toBe(raw.length);
    expect(set.md5).toBe(digest("md5", raw));
  });

  test("lower-case names (disk.e01, disk.e02, ...) are followed in lower case", async () => {
    const dir = folder("lower");
    acquire(dir, 3);
    for (const f of fs.readdirSync(dir)) fs.renameSync(path.join(dir, f), path.join(dir, f.toLowerCase()));
    const set = await inspectEwfSet(path.join(dir, "disk.e01"));
    expect(set.segments.map((f) => path.basename(f))).toEqual(["disk.e01", "disk.e02", "disk.e03", "disk.e04"]);
  });

  test("the set identifier an EnCase-written set carries is reported", async () => {
    const dir = folder("guid");
    acquire(dir, 3);
    for (let n = 1; n <= 4; n++) editVolume(path.join(dir, `disk.E0${n}`), setGuid("00112233445566778899aabbccddeeff"));
    expect((await inspectEwfSet(path.join(dir, "disk.E01"))).setIdentifier).toBe("33221100-5544-7766-8899-aabbccddeeff");
  });
});

describe("a set that is not whole, or not one set, is refused naming the file", () => {
  test("a gap: the missing segment is named", async () => {
    const dir = folder("gap");
    acquire(dir);
    fs.rmSync(path.join(dir, "disk.E03"));
    const err = await refusal(path.join(dir, "disk.E01"));
    expect(err.file).toBe(path.join(dir, "disk.E03"));
    expect(err.problem).toBe("missing: disk.E02 ends with a 'next' section, so the set goes on in segment 3");
  });

  test("a segment of another set (another set identifier) is refused", async () => {
    const [a, b] = [folder("set-a"), folder("set-b")];
    acquire(a, 3);
    acquire(b, 3);
    for (let n = 1; n <= 4; n++) {
      editVolume(path.join(a, `disk.E0${n}`), setGuid("aa".repeat(16)));
      editVolume(path.join(b, `disk.E0${n}`), setGuid("bb".repeat(16)));
    }
    fs.copyFileSync(path.join(b, "disk.E03"), path.join(a, "disk.E03"));
    const err = await refusal(path.join(a, "disk.E01"));
    expect(err.file).toBe(path.join(a, "disk.E03"));
    expect(err.problem).toMatch(/^belongs to another segment set \(set identifier bbbbbbbb-.*, not aaaaaaaa-.* of disk\.E01\)$/);
  });

  test("a segment of another acquisition with other media is refused, even without set identifiers", async () => {
    const [a, b] = [folder("media-a"), folder("media-b")];
    acquire(a, 4);
    acquire(b, 5);
    fs.copyFileSync(path.join(b, "disk.E02"), path.join(a, "disk.E02"));
    const err = await refusal(path.join(a, "disk.E01"));
    expect(err.file).toBe(path.join(a, "disk.E02"));
    expect(err.problem).toContain("describes other media than disk.E01");
  });

  test("a segment renamed into another's place is refused by the number in its header", async () => {
    const dir = folder("renamed");
    acquire(dir);
    fs.copyFileSync(path.join(dir, "disk.E02"), path.join(dir, "disk.E03"));
    const err = await refusal(path.join(dir, "disk.E01"));
    expect(err.file).toBe(path.join(dir, "disk.E03"));
    expect(err.problem).toBe("its header says it is segment 2, but its name makes it segment 3");
  });

  test("a file after the last segment is refused, not silently left out", async () => {
    const dir = folder("stray");
    acquire(dir);
    fs.copyFileSync(path.join(dir, "disk.E04"), path.join(dir, "disk.E06"));
    const err = await refusal(path.join(dir, "disk.E01"));
    expect(err.file).toBe(path.join(dir, "disk.E06"));
    expect(err.problem).toContain("follows the last segment: disk.E05 ends the set with a 'done' section");
  });

  test("tables that list other than the volume's chunk count (a segment lost and the set patched up)", async () => {
    const dir = folder("chunks");
    acquire(dir);
    editVolume(path.join(dir, "disk.E01"), (data) => data.writeUInt32LE(data.readUInt32LE(4) + 1, 4));
    // The later segments' data sections must agree with segment 1, or that is refused first.
    for (let n = 2; n <= 5; n++) editVolume(path.join(dir, `disk.E0${n}`), (data) => data.writeUInt32LE(data.readUInt32LE(4) + 1, 4));
    const err = await refusal(path.join(dir, "disk.E01"));
    expect(err.problem).toBe(
      "its segments' tables list 128 chunks, its volume section says 129: a segment is missing, extra or from another set",
    );
  });
});

describe("damaged or hostile headers are refused, in one line, without following them", () => {
  test("a file that is not EWF at all", async () => {
    const dir = folder("not-ewf");
    fs.writeFileSync(path.join(dir, "disk.E01"), crypto.randomBytes(4096));
    expect((await refusal(path.join(dir, "disk.E01"))).problem).toBe("not an EWF segment file (bad file header)");
  });

  test("a descriptor whose checksum fails", async () => {
    const dir = folder("checksum");
    acquire(dir, 2);
    const file = path.join(dir, "disk.E02");
    const bytes = fs.readFileSync(file);
    bytes[sectionsOf(file)[1].at + 17] ^= 0xff; // the sectors section's next offset
    fs.writeFileSync(file, bytes);
    const err = await refusal(path.join(dir, "disk.E01"));
    expect(err.file).toBe(file);
    expect(err.problem).toMatch(/^the section descriptor at \d+ fails its checksum$/);
  });

  test("a section that points back (a loop), with a valid checksum", async () => {
    const dir = folder("loop");
    acquire(dir, 2);
    editDescriptor(path.join(dir, "disk.E01"), "table", (d) => d.writeBigUInt64LE(13n, 16));
    expect((await refusal(path.join(dir, "disk.E01"))).problem).toMatch(/^the 'table' section at \d+ points back to 13$/);
  });

  test("a section that points past the end of the file", async () => {
    const dir = folder("past-end");
    acquire(dir, 2);
    editDescriptor(path.join(dir, "disk.E01"), "sectors", (d) => d.writeBigUInt64LE(1n << 40n, 16));
    expect((await refusal(path.join(dir, "disk.E01"))).problem).toMatch(/^the 'sectors' section at \d+ points past the end of the file/);
  });

  test("a last segment cut short", async () => {
    const dir = folder("cut");
    acquire(dir, 2);
    const last = path.join(dir, "disk.E03");
    fs.truncateSync(last, fs.statSync(last).size - 200);
    const err = await refusal(path.join(dir, "disk.E01"));
    expect(err.file).toBe(last);
    expect(err.problem).toMatch(/cut off|points past the end/);
  });

  test("an EWF2 (Ex01) or logical (L01) file named .E01 says what it is", async () => {
    const dir = folder("other-kinds");
    fs.writeFileSync(path.join(dir, "disk.E01"), Buffer.concat([Buffer.from("EVF2\r\n\x81\x00", "latin1"), Buffer.alloc(64)]));
    expect((await refusal(path.join(dir, "disk.E01"))).problem).toBe("EWF2 (Ex01) is not supported; acquire as E01");
    fs.writeFileSync(path.join(dir, "disk.E01"), Buffer.concat([Buffer.from("LVF\t\r\n\xff\x00", "latin1"), Buffer.alloc(64)]));
    expect((await refusal(path.join(dir, "disk.E01"))).problem).toBe("a logical evidence file (L01), not a disk image");
  });

  test("only a first segment names a set", async () => {
    const dir = folder("not-first");
    acquire(dir, 2);
    expect((await refusal(path.join(dir, "disk.E02"))).problem).toBe("an EWF image is named by its first segment, '<name>.E01'");
  });
});

describe("inspectImage: an EWF set is one layer whose files are its segments", () => {
  async function refusedImage(top: string, options: Parameters<typeof inspectImage>[1] = {}): Promise<InspectError> {
    try {
      await inspectImage(top, options);
    } catch (err) {
      if (err instanceof InspectError) return err;
      throw err;
    }
    throw new Error(`${top} was accepted`);
  }

  test("the manifest: format ewf, the segments in order with sizes and sha256, the media size, the acquisition", async () => {
    const dir = folder("manifest");
    const raw = acquire(dir, 3);
    const manifest = await inspectImage(path.join(dir, "disk.E01"), { hash: true });
    const segments = [1, 2, 3, 4].map((n) => path.join(dir, `disk.E0${n}`));
    expect(manifest).toEqual({
      format: "ewf",
      virtualSize: raw.length,
      chain: [{ path: segments[0], format: "ewf", createType: null, cid: null, parentCid: null, parentPath: null, extents: [] }],
      files: segments.map((f) => ({ path: f, size: fs.statSync(f).size, sha256: digest("sha256", fs.readFileSync(f)) })),
      acquisition: {
        container: "ewf",
        segments: 4,
        setIdentifier: null,
        bytesPerSector: 512,
        sectorCount: raw.length / 512,
        md5: digest("md5", raw),
        sha1: digest("sha1", raw),
      },
    });
    const report = formatManifest(manifest);
    expect(report).toContain(`acquisition   ewf, 4 segments, 6144 sectors of 512 bytes`);
    expect(report).toContain(`  stored md5  ${digest("md5", raw)}`);
    expect(report).toContain(`  stored sha1 ${digest("sha1", raw)}`);
  });

  test("the format comes from the content: a set declared as another format is refused", async () => {
    const dir = folder("declared");
    acquire(dir, 2);
    expect((await refusedImage(path.join(dir, "disk.E01"), { format: "raw" })).problem).toBe(
      "expected raw (as requested), but the file is an EWF segment (signature EVF)",
    );
  });

  test("a segment that is a link is refused, and one that leads outside the evidence roots is never opened", async () => {
    const dir = folder("links");
    acquire(dir, 3);
    const segment = path.join(dir, "disk.E02");
    // Beside the set: inside its evidence roots, but not the file its name says.
    const beside = path.join(folder("beside"), "moved.E02");
    fs.renameSync(segment, beside);
    fs.symlinkSync(beside, segment);
    const inside = await refusedImage(path.join(dir, "disk.E01"));
    expect(inside.file).toBe(segment);
    expect(inside.problem).toBe(`is a link (to ${beside}); the segments of a set must be files side by side`);
    // Outside every root (the set's folder and the one above it): refused by the roots before it is read.
    const outsideDir = fs.mkdtempSync(path.join(os.tmpdir(), "ewf-outside-"));
    try {
      fs.renameSync(beside, path.join(outsideDir, "moved.E02"));
      fs.rmSync(segment);
      fs.symlinkSync(path.join(outsideDir, "moved.E02"), segment);
      const outside = await refusedImage(path.join(dir, "disk.E01"));
      expect(outside.file).toBe(segment);
      expect(outside.problem).toMatch(
        /^lies outside the image's evidence roots .*\(it resolves to .*moved\.E02\) \(segment 2 of .*disk\.E01\)$/,
      );
    } finally {
      fs.rmSync(outsideDir, { recursive: true, force: true });
    }
  });

  test("a later segment cannot name the image, and an EWF file cannot be a backing file", async () => {
    const dir = folder("roles");
    acquire(dir, 2);
    expect((await refusedImage(path.join(dir, "disk.E02"))).problem).toBe(
      "is an EWF segment; name the set by its first segment, '<name>.E01'",
    );
    qemuImg(["create", "-q", "-f", "qcow2", "-F", "raw", "-b", "disk.E01", path.join(dir, "top.qcow2")]);
    const backing = await refusedImage(path.join(dir, "top.qcow2"));
    expect(backing.file).toBe(path.join(dir, "disk.E01"));
    expect(backing.problem).toMatch(/^is an EWF segment, which qemu cannot open as a backing file \(backing file of /);
  });
});

test("segment names run E01..E99, EAA..EZZ, FAA.. up to ZZZ", () => {
  const first = "/x/disk.E01";
  expect([1, 9, 10, 99, 100, 101, 125, 126, 775, 776, MAX_SEGMENTS].map((n) => path.basename(segmentName(first, n)))).toEqual([
    "disk.E01",
    "disk.E09",
    "disk.E10",
    "disk.E99",
    "disk.EAA",
    "disk.EAB",
    "disk.EAZ",
    "disk.EBA",
    "disk.EZZ",
    "disk.FAA",
    "disk.ZZZ",
  ]);
  expect(() => segmentName(first, MAX_SEGMENTS + 1)).toThrow("no EWF segment number");
});
