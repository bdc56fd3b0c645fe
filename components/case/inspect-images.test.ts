/**
 * The pre-resource validation the program runs (`inspectImages`): every image's files lie under its
 * evidence roots, never in the case's state folder, and the evidence volume the lab writes and erases
 * is no file of any chain by any name, holds none, and lies in no evidence root. Each problem is one
 * line naming the stack file, the key and the file.
 */
import * as fs from "fs";
import * as path from "path";
import { ConfigError, parseCaseConfig, type CaseConfig } from "../../lib/config";
import { makeTempDir, qemuImg, removeTree, writeRawDisk } from "../../test/support/image-chains";
import { inspectImages } from "./inspect-images";

const FILE = "stacks/Pulumi.case-42.yaml";
let tmp: string;
let caseDir: string;
let top: string;
let base: string;

beforeAll(() => {
  tmp = makeTempDir("inspect-images-");
  // tmp/evidence/case/{snapshots/top.qcow2 -> ../base/disk.raw}; the case's state in tmp/state.
  caseDir = path.join(tmp, "evidence", "case");
  fs.mkdirSync(path.join(caseDir, "base"), { recursive: true });
  fs.mkdirSync(path.join(caseDir, "snapshots"));
  fs.mkdirSync(path.join(tmp, "state"));
  base = path.join(caseDir, "base", "disk.raw");
  writeRawDisk(base, 1 << 20, "MBR");
  top = path.join(caseDir, "snapshots", "top.qcow2");
  qemuImg(["create", "-q", "-f", "qcow2", "-b", "../base/disk.raw", "-F", "raw", top]);
});
afterAll(() => removeTree(tmp));

function config(image: Record<string, unknown> = {}, evidenceVolume: Record<string, unknown> = {}): CaseConfig {
  return parseCaseConfig(
    {
      caseId: "case-42",
      examiner: "Erika Mustermann",
      stateDir: path.join(tmp, "state"),
      evidenceVolume,
      images: [{ name: "win7", path: top, ...image }],
    },
    { file: FILE, secretKeys: new Set(), requirePassphrase: false, checkFiles: false },
  );
}

async function refusal(c: CaseConfig): Promise<string> {
  const err = await inspectImages(c, FILE).then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${err === null ? "success" : String(err)}`);
  expect(err.message.split("\n")).toHaveLength(1);
  return err.message;
}

test("the default layout passes: the volume in the state folder, the chain under its case folder", async () => {
  const manifests = await inspectImages(config(), FILE);
  expect(manifests.win7.files.map((f) => f.path)).toEqual([top, base]);
});

describe("an image may only bring its own files", () => {
  test("a backing file outside the roots is refused under images[i].path, naming the file", async () => {
    const dir = path.join(tmp, "outside", "case", "snapshots");
    fs.mkdirSync(dir, { recursive: true });
    const hostile = path.join(dir, "top.qcow2");
    qemuImg(["create", "-q", "-f", "qcow2", "-u", "-b", "/etc/hostname", "-F", "raw", hostile, "16M"]);
    expect(await refusal(config({ path: hostile }))).toMatch(
      new RegExp(
        `^${FILE}: forensic-lab:images\\[0\\]\\.path: /etc/hostname: lies in the system folder /etc; an image may only bring its own files`,
      ),
    );
  });

  test("a file in the case's state folder is refused even when a default root holds the state folder", async () => {
    const state = path.join(caseDir, "state");
    fs.mkdirSync(state, { recursive: true });
    writeRawDisk(path.join(state, "id_ed25519"), 1 << 20, "MBR");
    const hostile = path.join(caseDir, "snapshots", "key.qcow2");
    qemuImg(["create", "-q", "-f", "qcow2", "-b", "../state/id_ed25519", "-F", "raw", hostile]);
    const c = parseCaseConfig(
      { caseId: "case-42", examiner: "E", stateDir: state, images: [{ name: "win7", path: hostile }] },
      { file: FILE, secretKeys: new Set(), requirePassphrase: false, checkFiles: false },
    );
    expect(await refusal(c)).toMatch(/forensic-lab:images\[0\]\.path: .*state\/id_ed25519: lies in the lab's own state/);
  });

  test("an unusable root is named by its key", async () => {
    expect(await refusal(config({ roots: [caseDir, "/dev"] }))).toBe(
      `${FILE}: forensic-lab:images[0].roots[1]: /dev: evidence root holds the system folder /dev: name the evidence folder inside it`,
    );
  });
});

describe("config can never point the lab's writes at evidence: evidenceVolume.path", () => {
  test("another spelling of a chain file (a linked folder) is caught", async () => {
    const alias = path.join(tmp, "alias");
    fs.symlinkSync(path.join(caseDir, "base"), alias);
    const message = await refusal(config({}, { path: path.join(alias, "disk.raw") }));
    expect(message).toBe(
      `${FILE}: forensic-lab:evidenceVolume.path: '${alias}/disk.raw' (resolves to '${base}') is '${base}', a file of images[0]; ` +
        "the lab writes and on destroy erases this file; choose a path outside the evidence (the default is <stateDir>/evidence.luks)",
    );
  });

  test("a hard link to a chain file, outside every root, is caught by device and inode", async () => {
    const link = path.join(tmp, "state", "evidence.luks");
    fs.linkSync(base, link);
    try {
      expect(await refusal(config({}, { path: link }))).toMatch(
        new RegExp(
          `^${FILE}: forensic-lab:evidenceVolume\\.path: '${link}' is the same file as '${base}' of images\\[0\\] \\(a hard link\\); the lab writes`,
        ),
      );
    } finally {
      fs.unlinkSync(link);
    }
  });

  test("a folder holding chain files is caught", async () => {
    expect(await refusal(config({}, { path: path.join(caseDir, "base") }))).toMatch(
      /forensic-lab:evidenceVolume\.path: '.*\/case\/base' contains '.*\/case\/base\/disk\.raw', a file of images\[0\]/,
    );
  });

  test("a new file inside an evidence root (the case folder) is caught before it exists", async () => {
    const volume = path.join(caseDir, "evidence.luks");
    expect(await refusal(config({}, { path: volume }))).toBe(
      `${FILE}: forensic-lab:evidenceVolume.path: '${volume}' lies in '${caseDir}', an evidence root of images[0]; ` +
        "the lab writes and on destroy erases this file; choose a path outside the evidence (the default is <stateDir>/evidence.luks)",
    );
  });

  test("an explicit root counts as well", async () => {
    const extra = path.join(tmp, "extra");
    fs.mkdirSync(extra, { recursive: true });
    expect(await refusal(config({ roots: [extra] }, { path: path.join(extra, "evidence.luks") }))).toMatch(
      new RegExp(`evidenceVolume\\.path: .* lies in '${extra}', an evidence root of images\\[0\\]`),
    );
  });
});
