/**
 * `forensic-lab inspect` as examiners run it: `node bin/forensic-lab.js inspect ...` in a child
 * process, arguments as a vector (no shell anywhere), output and exit codes checked.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { inspectImage } from "./index";
import { makeTempDir, qemuImg, removeTree, vmdkSnapshotChain, writeRawDisk } from "../../test/support/image-chains";

const REPO = path.resolve(__dirname, "../..");
const CLI = path.join(REPO, "bin", "forensic-lab.js");

let root: string;
beforeAll(() => {
  root = makeTempDir("inspect-cli-");
});
afterAll(() => removeTree(root));

function cli(args: string[], cwd = REPO): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, "inspect", ...args], { cwd, encoding: "utf8", timeout: 30_000 });
  if (run.error) throw run.error;
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** coreutils' sha256sum over the file on its stdin (by name it would escape names with newlines). */
function sha256sum(file: string): string {
  const fd = fs.openSync(file, "r");
  try {
    const run = spawnSync("sha256sum", [], { stdio: [fd, "pipe", "pipe"], encoding: "utf8" });
    expect(run.status).toBe(0);
    return run.stdout.slice(0, 64);
  } finally {
    fs.closeSync(fd);
  }
}

/** A 2-snapshot chain over a split sparse base in its own folder: 3 layers, 5 small files. */
function chain(name: string): ReturnType<typeof vmdkSnapshotChain> {
  return vmdkSnapshotChain(path.join(root, name), { depth: 2, size: "3G", baseSubformat: "twoGbMaxExtentSparse", hints: "alternate" });
}

test("--json prints exactly the manifest", async () => {
  const c = chain("json");
  const run = cli([c.top, "--json"]);
  expect(run).toMatchObject({ status: 0, stderr: "" });
  expect(JSON.parse(run.stdout)).toEqual(await inspectImage(c.top));
});

test("the summary names format, size, every layer with CIDs and extents, and every file with its size", async () => {
  const c = chain("human");
  const manifest = await inspectImage(c.top);
  const run = cli([c.top]);
  expect(run).toMatchObject({ status: 0, stderr: "" });
  expect(run.stdout).toMatch(/^format {8}vmdk$/m);
  expect(run.stdout).toMatch(/^virtual size {2}3\.00 GiB \(3221225472 bytes\)$/m);
  expect(run.stdout).toMatch(/^chain {9}3 layers, top first$/m);
  for (const layer of manifest.chain) {
    expect(run.stdout).toContain(`] ${layer.path}\n`);
    expect(run.stdout).toContain(`vmdk  ${layer.createType}  CID ${layer.cid}  parentCID ${layer.parentCid}`);
    for (const e of layer.extents) expect(run.stdout).toMatch(new RegExp(`RW +${e.sectors} SPARSE +${e.path}$`, "m"));
  }
  expect(run.stdout).toMatch(new RegExp(`^files {9}${manifest.files.length} files, `, "m"));
  for (const f of manifest.files) expect(run.stdout).toMatch(new RegExp(`^ +[0-9.]+ (bytes|KiB)  ${f.path}$`, "m"));
});

test("--hash fills in sha256 for every file, equal to sha256sum", () => {
  const c = chain("hash");
  const run = cli(["--hash", "--json", c.top]);
  expect(run.status).toBe(0);
  const manifest = JSON.parse(run.stdout);
  expect(manifest.files.length).toBe(5);
  for (const f of manifest.files) expect(f.sha256).toBe(sha256sum(f.path));
  const human = cli([c.top, "--hash"]);
  for (const f of manifest.files) expect(human.stdout).toContain(`sha256 ${f.sha256}`);
});

test("names with spaces, quotes, $(...) and newlines are data: nothing runs", () => {
  const pwned = "/tmp/pwned";
  expect(fs.existsSync(pwned)).toBe(false);
  // A path that spells `$(touch /tmp/pwned)`: folders "$(touch ", "tmp", "pwned)".
  const base = path.join(root, "$(touch ", "tmp", "pwned)");
  fs.mkdirSync(base, { recursive: true });
  // A VMDK parent name cannot hold a double quote (the descriptor quotes it); the top's can.
  const parent = path.join(base, "it's base $(touch pwned) `touch pwned2`.vmdk");
  qemuImg(["create", "-q", "-f", "vmdk", parent, "8M"]);
  const top = path.join(base, 'snap "2" ; touch pwned3 #\n2.vmdk');
  qemuImg(["create", "-q", "-f", "vmdk", "-b", path.basename(parent), "-F", "vmdk", top]);

  const json = cli([top, "--json", "--hash"], base);
  expect(json.stderr).toBe("");
  expect(json.status).toBe(0);
  const manifest = JSON.parse(json.stdout);
  expect(manifest.chain.map((l: { path: string }) => l.path)).toEqual([top, parent]);
  expect(manifest.files.map((f: { sha256: string }) => f.sha256)).toEqual([sha256sum(top), sha256sum(parent)]);

  const human = cli([path.relative(root, top)], root);
  expect(human.status).toBe(0);
  // The newline in the name is shown escaped: one line per path.
  expect(human.stdout).toContain(`[0] ${JSON.stringify(top)}\n`);
  expect(human.stdout).toContain(`[1] ${parent}\n`);

  const missing = cli([path.join(base, "no\nsuch $(touch pwned).vmdk")], base);
  expect(missing.status).toBe(1);
  expect(missing.stderr.trimEnd().split("\n")).toHaveLength(1);

  for (const marker of [pwned, path.join(base, "pwned"), path.join(base, "pwned2"), path.join(base, "pwned3"), path.join(root, "pwned")]) {
    expect(fs.existsSync(marker)).toBe(false);
  }
});

test("--format: raw accepted when asked for, disagreement is exit 1", () => {
  const dir = path.join(root, "format");
  fs.mkdirSync(dir);
  const bare = path.join(dir, "partition.dd");
  writeRawDisk(bare, 1024 * 1024, "none");
  const refused = cli([bare]);
  expect(refused.status).toBe(1);
  expect(refused.stderr).toMatch(/give the format explicitly \(raw\)\n$/);
  const raw = cli(["--format", "raw", bare, "--json"]);
  expect(raw.status).toBe(0);
  expect(JSON.parse(raw.stdout)).toMatchObject({ format: "raw", virtualSize: 1024 * 1024 });
  const q = path.join(dir, "d.qcow2");
  qemuImg(["create", "-q", "-f", "qcow2", q, "1M"]);
  expect(cli([`--format=vmdk`, q])).toMatchObject({ status: 1, stdout: "" });
});

describe("exit codes and error lines", () => {
  test("bad input: exit 1, one line 'forensic-lab inspect: <file>: <problem>', no stack trace", () => {
    const dir = path.join(root, "errors");
    fs.mkdirSync(dir);
    const junk = path.join(dir, "junk.bin");
    fs.writeFileSync(junk, Buffer.alloc(4096, 0x90));
    const cases: Array<[string[], string]> = [
      [[path.join(dir, "absent.vmdk")], `forensic-lab inspect: ${path.join(dir, "absent.vmdk")}: no such file\n`],
      [[junk], `forensic-lab inspect: ${junk}: not a recognised disk image`],
      [[dir], `forensic-lab inspect: ${dir}: is a directory, not a regular file\n`],
    ];
    for (const [args, expected] of cases) {
      const run = cli(args);
      expect(run.status).toBe(1);
      expect(run.stdout).toBe("");
      expect(run.stderr.startsWith(expected)).toBe(true);
      expect(run.stderr.split("\n")).toEqual([expect.any(String), ""]);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
  });

  test.each([
    [[], "no image given"],
    [["a.vmdk", "b.vmdk"], "give exactly one image (the top file)"],
    [["--frobnicate", "a.vmdk"], 'unknown option "--frobnicate"'],
    [["--format", "iso", "a.vmdk"], 'unknown format "iso" (one of vmdk, qcow2, raw, vdi, vhdx, vpc, ewf)'],
    [["a.vmdk", "--format"], "--format needs a value"],
  ])("usage error %j: exit 2", (args, message) => {
    const run = cli(args);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(
      `forensic-lab inspect: ${message}\nusage: forensic-lab inspect <top image> [--json] [--hash] [--format <vmdk|qcow2|raw|vdi|vhdx|vpc|ewf>] [--root <folder>]...\n` +
        "  Every file of the image must lie under its evidence roots: the folder holding the top file and that folder's\n" +
        "  parent (unless it is / or top-level like /tmp); each --root adds a folder (as images[].roots does).\n",
    );
  });

  test("--help: usage on stdout, exit 0; '--' lets a file be called --help", () => {
    expect(cli(["--help"])).toMatchObject({ status: 0, stdout: expect.stringMatching(/^usage: forensic-lab inspect /) });
    const dir = path.join(root, "dashes");
    fs.mkdirSync(dir);
    qemuImg(["create", "-q", "-f", "vdi", path.join(dir, "--help"), "1M"]);
    const run = cli(["--json", "--", "--help"], dir);
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout).chain[0].path).toBe(path.join(dir, "--help"));
  });
});

test("a backing file outside the evidence roots: exit 1 naming it; --root adds its folder", () => {
  const caseDir = path.join(root, "roots", "case");
  const other = path.join(root, "roots", "other");
  fs.mkdirSync(path.join(caseDir, "snapshots"), { recursive: true });
  fs.mkdirSync(other, { recursive: true });
  writeRawDisk(path.join(other, "disk.raw"), 1 << 20, "MBR");
  const top = path.join(caseDir, "snapshots", "top.qcow2");
  qemuImg(["create", "-q", "-f", "qcow2", "-b", "../../other/disk.raw", "-F", "raw", top]);

  const refused = cli([top]);
  expect(refused.status).toBe(1);
  expect(refused.stderr).toMatch(
    new RegExp(`^forensic-lab inspect: ${path.join(other, "disk.raw")}: lies outside the image's evidence roots`),
  );
  expect(refused.stderr.trimEnd().split("\n")).toHaveLength(1);

  const widened = cli([top, "--json", "--root", other]);
  expect(widened).toMatchObject({ status: 0, stderr: "" });
  expect(JSON.parse(widened.stdout).files.map((f: { path: string }) => f.path)).toEqual([top, path.join(other, "disk.raw")]);
});
