/**
 * An image may only ever bring its own files: every file of a chain must resolve (symlinks followed)
 * under the image's evidence roots, system folders only under an explicit root inside them, the lab's
 * own state never. Each refusal is one line naming the file and the reason, and nothing is opened.
 */
import * as fs from "fs";
import * as path from "path";
import { InspectError, inspectImage, type ImageManifest } from "./index";
import { RootError } from "./roots";
import { makeTempDir, qemuImg, removeTree, vmdkDescriptor, writeRawDisk } from "../../test/support/image-chains";

let root: string;
beforeAll(() => {
  root = makeTempDir("inspect-roots-");
});
afterAll(() => removeTree(root));

let counter = 0;
/** `root/NN/case`: a case folder two levels below the temp folder, so its default roots are its own. */
function caseFolder(): string {
  const dir = path.join(root, String(++counter).padStart(2, "0"), "case");
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

async function refusal(top: string, options: Parameters<typeof inspectImage>[1] = {}): Promise<InspectError> {
  const err = await inspectImage(top, options).then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof InspectError)) throw new Error(`expected an InspectError, got ${err === null ? "success" : String(err)}`);
  expect(err.message.split("\n")).toHaveLength(1);
  return err;
}

/** A raw disk with an MBR at `file`, its folder made. */
function rawDisk(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeRawDisk(file, 1 << 20, "MBR");
}

/** qcow2 `name` in `dir` over `backing` (as written into the header), declared `format`. */
function qcow2Over(dir: string, name: string, backing: string, format: string): string {
  fs.mkdirSync(dir, { recursive: true });
  qemuImg(["create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", format, name, "16M"], dir);
  return path.join(dir, name);
}

describe("default roots: the top file's folder and its case folder", () => {
  test("a backing file in a system folder, declared raw, is refused naming the file and the folder", async () => {
    const dir = caseFolder();
    // /etc/hostname stands in for /root/.ssh/id_ed25519: a readable host file an image must never bring.
    const top = qcow2Over(path.join(dir, "snapshots"), "top.qcow2", "/etc/hostname", "raw");
    const err = await refusal(top);
    expect(err.file).toBe("/etc/hostname");
    expect(err.problem).toMatch(
      /^lies in the system folder \/etc; an image may only bring its own files .*\(backing file of .*top\.qcow2\)$/,
    );
  });

  test("a backing file beside the case folder (outside both default roots) is refused; an explicit root admits it", async () => {
    const dir = caseFolder();
    const outside = path.join(path.dirname(dir), "elsewhere");
    fs.mkdirSync(outside);
    rawDisk(path.join(outside, "other.raw"));
    const top = qcow2Over(path.join(dir, "snapshots"), "top.qcow2", "../../elsewhere/other.raw", "raw");
    const err = await refusal(top);
    expect(err.file).toBe(path.join(outside, "other.raw"));
    expect(err.problem).toContain(`lies outside the image's evidence roots (${path.join(dir, "snapshots")}, ${dir})`);
    const m = await inspectImage(top, { roots: [outside] });
    expect(m.chain.map((l) => l.path)).toEqual([top, path.join(outside, "other.raw")]);
  });

  test("the seeds' layout (snapshots/ naming ../base/) works by default", async () => {
    const dir = caseFolder();
    rawDisk(path.join(dir, "base", "disk.raw"));
    const top = qcow2Over(path.join(dir, "snapshots"), "top.qcow2", "../base/disk.raw", "raw");
    const m = await inspectImage(top);
    expect(m.files.map((f) => f.path)).toEqual([top, path.join(dir, "base", "disk.raw")]);
  });

  test("a top file directly in a top-level folder's child does not make the top-level folder a root", async () => {
    // root/NN/top.qcow2 -> roots root/NN and root (never /tmp itself: it is top-level).
    const dir = path.join(root, String(++counter).padStart(2, "0"));
    fs.mkdirSync(dir);
    const top = qcow2Over(dir, "top.qcow2", "/etc/hostname", "raw");
    const err = await refusal(top);
    expect(err.problem).toMatch(/^lies in the system folder \/etc/);
  });
});

describe("symbolic links: checked where they lead; the manifest names where the file is", () => {
  test("a backing file inside the case folder that links outside is refused, naming the link and its target", async () => {
    const dir = caseFolder();
    const outside = path.join(path.dirname(dir), "secret");
    fs.mkdirSync(outside);
    rawDisk(path.join(outside, "key.raw"));
    fs.mkdirSync(path.join(dir, "base"));
    fs.symlinkSync(path.join(outside, "key.raw"), path.join(dir, "base", "disk.raw"));
    const top = qcow2Over(path.join(dir, "snapshots"), "top.qcow2", "../base/disk.raw", "raw");
    const err = await refusal(top);
    expect(err.file).toBe(path.join(dir, "base", "disk.raw"));
    expect(err.problem).toContain(`(it resolves to ${path.join(outside, "key.raw")})`);
  });

  test("a linked folder whose target lies in the roots is followed, and the manifest records the resolved paths", async () => {
    const dir = caseFolder();
    rawDisk(path.join(dir, "base-2024", "disk.raw"));
    fs.symlinkSync("base-2024", path.join(dir, "base"));
    const top = qcow2Over(path.join(dir, "snapshots"), "top.qcow2", "../base/disk.raw", "raw");
    const m: ImageManifest = await inspectImage(top);
    const resolved = path.join(dir, "base-2024", "disk.raw");
    expect(m.chain.map((l) => l.path)).toEqual([top, resolved]);
    expect(m.chain[0].parentPath).toBe(resolved);
    expect(m.files.map((f) => f.path)).toEqual([top, resolved]);
  });

  test("a top file given through a link: roots come from where it really is", async () => {
    const dir = caseFolder();
    rawDisk(path.join(dir, "base", "disk.raw"));
    const top = qcow2Over(path.join(dir, "snapshots"), "top.qcow2", "../base/disk.raw", "raw");
    const link = path.join(root, `${String(++counter).padStart(2, "0")}-link.qcow2`);
    fs.symlinkSync(top, link);
    const m = await inspectImage(link);
    expect(m.chain.map((l) => l.path)).toEqual([top, path.join(dir, "base", "disk.raw")]);
  });

  test("a VMDK extent that is a link is refused (the guest finds extents only under the descriptor's names)", async () => {
    const dir = caseFolder();
    fs.writeFileSync(path.join(dir, "real-flat.bin"), Buffer.alloc(2048 * 512));
    fs.symlinkSync("real-flat.bin", path.join(dir, "disk-flat.vmdk"));
    const top = path.join(dir, "disk.vmdk");
    fs.writeFileSync(top, vmdkDescriptor({ cid: "0000abcd", createType: "monolithicFlat", extents: ['RW 2048 FLAT "disk-flat.vmdk" 0'] }));
    const err = await refusal(top);
    expect(err.file).toBe(path.join(dir, "disk-flat.vmdk"));
    expect(err.problem).toMatch(/^is a symbolic link \(it resolves to .*real-flat\.bin\); an extent must be the file its descriptor names/);
  });
});

describe("system folders and the lab's own state", () => {
  // /dev/shm is a writable folder inside a protected one (/dev) on every Linux host.
  const shm = "/dev/shm";
  let shmDir: string;
  beforeAll(() => {
    shmDir = fs.mkdtempSync(path.join(shm, "forensic-lab-roots-"));
  });
  afterAll(() => fs.rmSync(shmDir, { recursive: true, force: true }));

  test("evidence inside a system folder is refused by default and accepted under an explicit root inside it", async () => {
    const top = path.join(shmDir, "disk.raw");
    rawDisk(top);
    const err = await refusal(top);
    expect(err.file).toBe(top);
    expect(err.problem).toMatch(/^lies in the system folder \/dev; .*add its folder inside \/dev to the image's roots/);
    const m = await inspectImage(top, { roots: [shmDir] });
    expect(m.files.map((f) => f.path)).toEqual([top]);
  });

  test("an explicit root may not be /, a system folder or a folder holding one", async () => {
    const top = path.join(caseFolder(), "disk.raw");
    rawDisk(top);
    for (const [bad, problem] of [
      ["/", /^evidence root is '\/'/],
      ["/dev", /^evidence root holds the system folder \/dev/],
      ["/var", /^evidence root holds the system folder \/var\/lib\/forensic-lab/],
      [path.join(root, "no-such-folder"), /^evidence root does not exist/],
    ] as const) {
      const err = await refusal(top, { roots: [path.dirname(top), bad] });
      expect(err).toBeInstanceOf(RootError);
      expect({ index: (err as RootError).index, file: err.file }).toEqual({ index: 1, file: bad });
      expect(err.problem).toMatch(problem);
    }
  });

  test("the case's state folder is never evidence, even inside the default roots, and no root may overlap it", async () => {
    const dir = caseFolder();
    fs.mkdirSync(path.join(dir, "state"));
    rawDisk(path.join(dir, "state", "id_ed25519"));
    const top = qcow2Over(path.join(dir, "snapshots"), "top.qcow2", "../state/id_ed25519", "raw");
    const err = await refusal(top, { forbidden: [path.join(dir, "state")] });
    expect(err.file).toBe(path.join(dir, "state", "id_ed25519"));
    expect(err.problem).toMatch(/^lies in the lab's own state .*state; an image may never bring it/);
    const rootErr = await refusal(top, { forbidden: [path.join(dir, "state")], roots: [dir] });
    expect(rootErr).toBeInstanceOf(RootError);
    expect(rootErr.problem).toMatch(/^evidence root overlaps the lab's own state/);
  });
});
