/**
 * scripts/make-evidence.sh for real, into a folder whose name holds spaces, a quote and `$(...)`: the
 * layout qemu-img and sfdisk see, what each partition holds (read without mounting anything), the dirty
 * journal, whole-grain snapshot writes, idempotence, recovery from an interrupted run, clear errors.
 */
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { MadeEvidence, readMadeEvidence } from "./made-evidence";

jest.setTimeout(180_000);

const SCRIPT = path.resolve(__dirname, "make-evidence.sh");
const PWNED = "forensic-lab-evidence-pwned";
const MIB = 1024 * 1024;

let root: string;
let out: string;
let first: ReturnType<typeof spawnSync>;

function make(...args: string[]) {
  return spawnSync("bash", [SCRIPT, ...args], { encoding: "utf8", cwd: root });
}

function tool(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * MIB });
}

const sha256 = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

const manifest = (): MadeEvidence => readMadeEvidence(out);

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-evidence-test-"));
  out = path.join(root, `win 7 'case' $(touch ${PWNED})`);
  first = make(out);
});

afterAll(() => {
  execFileSync("chmod", ["-R", "u+w", root]);
  fs.rmSync(root, { recursive: true, force: true });
});

describe("one run", () => {
  test("succeeds and prints the top file's absolute path, nothing else", () => {
    expect(first.stderr).toContain("done: 64 MiB virtual disk, three layers");
    expect(first.status).toBe(0);
    expect(first.stdout).toBe(`${out}/snapshots/win7-000002.vmdk\n`);
    expect(fs.existsSync(path.join(root, PWNED))).toBe(false);
  });

  test("qemu-img sees a three-layer chain: absolute hint, relative hint, split sparse extents", () => {
    const chain = JSON.parse(
      tool("qemu-img", "info", "-f", "vmdk", "--backing-chain", "--output=json", `${out}/snapshots/win7-000002.vmdk`),
    );
    expect(chain.map((l: any) => [l.filename, l["backing-filename"], l.format, l["virtual-size"]])).toEqual([
      [`${out}/snapshots/win7-000002.vmdk`, `${out}/snapshots/win7-000001.vmdk`, "vmdk", 64 * MIB],
      [`${out}/snapshots/win7-000001.vmdk`, "../base/win7.vmdk", "vmdk", 64 * MIB],
      [`${out}/snapshots/../base/win7.vmdk`, undefined, "vmdk", 64 * MIB],
    ]);
    for (const layer of chain) {
      expect(layer["format-specific"].data["create-type"]).toBe("twoGbMaxExtentSparse");
      expect(layer["format-specific"].data.extents.map((e: any) => path.basename(e.filename))).toEqual([
        path.basename(layer.filename).replace(/\.vmdk$/, "-s001.vmdk"),
      ]);
    }
    expect(fs.readdirSync(path.join(out, "base")).sort()).toEqual(["win7-s001.vmdk", "win7.vmdk"]);
    expect(fs.readdirSync(path.join(out, "snapshots")).sort()).toEqual([
      "win7-000001-s001.vmdk",
      "win7-000001.vmdk",
      "win7-000002-s001.vmdk",
      "win7-000002.vmdk",
    ]);
  });

  test("each snapshot holds changes, written as whole aligned 64 KiB grains only", () => {
    const map = JSON.parse(tool("qemu-img", "map", "-f", "vmdk", "--output=json", `${out}/snapshots/win7-000002.vmdk`));
    const ownData = (depth: number) => map.filter((m: any) => m.depth === depth && m.data);
    for (const depth of [0, 1]) {
      expect(ownData(depth).length).toBeGreaterThan(0);
      for (const m of ownData(depth)) {
        expect([m.start % 65536, m.length % 65536]).toEqual([0, 0]);
      }
    }
  });

  let raw: string;
  test("sfdisk sees an MBR with NTFS at sector 2048 and ext4 after it, up to the disk's end", () => {
    raw = path.join(root, "disk.raw");
    tool("qemu-img", "convert", "-f", "vmdk", "-O", "raw", `${out}/snapshots/win7-000002.vmdk`, raw);
    expect(fs.statSync(raw).size).toBe(64 * MIB);
    const table = JSON.parse(tool("sfdisk", "--json", raw)).partitiontable;
    expect([table.label, table.id]).toEqual(["dos", "0x7e57e71d"]);
    expect(table.partitions.map((p: any) => [p.start, p.size, p.type])).toEqual([
      [2048, 32768, "7"],
      [34816, 64 * 2048 - 34816, "83"],
    ]);
    expect(manifest().partitions.map((p) => [p.startSector, p.sizeSectors, p.type, p.filesystem])).toEqual([
      [2048, 32768, "7", "ntfs"],
      [34816, 64 * 2048 - 34816, "83", "ext4"],
    ]);
  });

  test("the partitions hold the known files (read with ntfsprogs and debugfs, nothing mounted)", () => {
    const [ntfs, ext4] = manifest().partitions;
    const p1 = path.join(root, "p1.ntfs");
    const p2 = path.join(root, "p2.ext4");
    tool("dd", `if=${raw}`, `of=${p1}`, "bs=512", `skip=${ntfs.startSector}`, `count=${ntfs.sizeSectors}`, "status=none");
    tool("dd", `if=${raw}`, `of=${p2}`, "bs=512", `skip=${ext4.startSector}`, `count=${ext4.sizeSectors}`, "status=none");
    expect(ntfs.files["ufos/ufo.txt"]).toBe("Ufos are not real\n");
    for (const [file, content] of Object.entries(ntfs.files)) expect(tool("ntfscat", p1, file)).toBe(content);
    for (const [file, content] of Object.entries(ext4.files)) expect(tool("debugfs", "-R", `cat ${file}`, p2)).toBe(content);
    const bulk = tool("debugfs", "-R", "cat bulk.bin", p2);
    expect(bulk.length).toBe(4 * MIB);
    expect(bulk.split("\n").slice(0, 2)).toEqual(["forensic-lab bulk 0000000000000", "forensic-lab bulk 0000000000001"]);
    expect(bulk.endsWith(`forensic-lab bulk ${String((4 * MIB) / 32 - 1).padStart(13, "0")}\n`)).toBe(true);
  });

  test("the ext4 journal is dirty: replaying it (e2fsck) rewrites the canary", () => {
    const p2 = path.join(root, "p2.ext4");
    expect(tool("dumpe2fs", "-h", p2)).toMatch(/^Filesystem features:.*\bneeds_recovery\b/m);
    expect(tool("debugfs", "-R", "cat journal/canary.txt", p2)).toBe("NOT REPLAYED\n");
    spawnSync("e2fsck", ["-fy", p2]);
    expect(tool("dumpe2fs", "-h", p2)).not.toMatch(/needs_recovery/);
    expect(tool("debugfs", "-R", "cat journal/canary.txt", p2)).toBe("REPLAYED!!!!\n");
  });

  test("every file is read-only and listed with its sha256", () => {
    const m = manifest();
    expect(m.files.map((f) => f.path).sort()).toEqual([
      "base/win7-s001.vmdk",
      "base/win7.vmdk",
      "snapshots/win7-000001-s001.vmdk",
      "snapshots/win7-000001.vmdk",
      "snapshots/win7-000002-s001.vmdk",
      "snapshots/win7-000002.vmdk",
    ]);
    for (const f of m.files) {
      const file = path.join(out, f.path);
      expect([f.path, fs.statSync(file).mode & 0o777, fs.statSync(file).size, sha256(file)]).toEqual([f.path, 0o444, f.size, f.sha256]);
    }
    expect(fs.statSync(path.join(out, "evidence.json")).mode & 0o777).toBe(0o444);
    expect(fs.readdirSync(out).sort()).toEqual(["base", "evidence.json", "ewf", "snapshots"]);
  });

  test("the same disk as an EWF set: five segments, read-only, listed with sha256 and the hashes the set stores", () => {
    const { ewf } = manifest();
    expect(ewf.top).toBe("ewf/win7.E01");
    expect(ewf.segments.map((f) => f.path)).toEqual(["E01", "E02", "E03", "E04", "E05"].map((e) => `ewf/win7.${e}`));
    expect(fs.readdirSync(path.join(out, "ewf")).sort()).toEqual(ewf.segments.map((f) => path.basename(f.path)));
    for (const f of ewf.segments) {
      const file = path.join(out, f.path);
      expect([f.path, fs.statSync(file).mode & 0o777, fs.statSync(file).size, sha256(file)]).toEqual([f.path, 0o444, f.size, f.sha256]);
    }
    // The set holds the disk the vmdk chain presents, and stores that disk's hashes.
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "make-evidence-raw-"));
    try {
      const rawFile = path.join(scratch, "disk.raw");
      execFileSync("qemu-img", ["convert", "-O", "raw", path.join(out, "snapshots/win7-000002.vmdk"), rawFile]);
      const raw = fs.readFileSync(rawFile);
      expect(ewf.md5).toBe(crypto.createHash("md5").update(raw).digest("hex"));
      expect(ewf.sha1).toBe(crypto.createHash("sha1").update(raw).digest("hex"));
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });
});

describe("running again", () => {
  test("keeps complete output as it is", () => {
    const before = manifest()
      .files.map((f) => fs.statSync(path.join(out, f.path)))
      .map((s) => [s.ino, s.mtimeMs]);
    const again = make(out);
    expect(again.status).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    expect(again.stderr).toContain("kept as is");
    expect(
      manifest()
        .files.map((f) => fs.statSync(path.join(out, f.path)))
        .map((s) => [s.ino, s.mtimeMs]),
    ).toEqual(before);
  });

  test("after an interrupted run, removes its remains and makes everything again", () => {
    const copy = path.join(root, "interrupted");
    expect(make(copy).status).toBe(0);
    fs.chmodSync(path.join(copy, "evidence.json"), 0o644);
    fs.rmSync(path.join(copy, "evidence.json"));
    fs.rmSync(path.join(copy, "snapshots", "win7-000002.vmdk"));
    const again = make(copy);
    expect(again.stderr).toContain("removing the remains of an interrupted run");
    expect(again.status).toBe(0);
    const m = readMadeEvidence(copy);
    for (const f of m.files) expect(sha256(path.join(copy, f.path))).toBe(f.sha256);
  });

  test("refuses a folder holding files it did not write", () => {
    const other = path.join(root, "foreign");
    fs.mkdirSync(path.join(other, "base"), { recursive: true });
    fs.writeFileSync(path.join(other, "base", "notes.txt"), "mine");
    const r = make(other);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${other}/base holds 'notes.txt', which make-evidence did not write; refusing to touch it`);
    expect(fs.readFileSync(path.join(other, "base", "notes.txt"), "utf8")).toBe("mine");
  });

  test("refuses another --size-mib over existing output", () => {
    const r = make("--size-mib", "5", out);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("already holds evidence made with --size-mib 4 (asked for 5)");
  });
});

describe("bad input is one clear line", () => {
  test.each([
    [["--size-mib", "0", "x"], /--size-mib: '0' is not a whole number of MiB from 1 to 16384/],
    [["--size-mib", "lots", "x"], /--size-mib: 'lots' is not a whole number/],
    [["--size-mib", "99999", "x"], /from 1 to 16384/],
    [['with "double" quotes'], /a double quote cannot be written into a VMDK parentFileNameHint/],
    [["--bogus", "x"], /unknown option '--bogus'/],
    [["a", "b"], /one outDir only/],
  ])("%j", (args, message) => {
    const r = make(...args);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(fs.existsSync(path.join(root, "x"))).toBe(false);
  });

  test("no outDir prints the usage", () => {
    const r = make();
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("usage: scripts/make-evidence.sh [--size-mib N] <outDir>");
  });
});
