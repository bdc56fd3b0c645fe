/**
 * The case folder hook, run for real with bash (as root) in a temporary folder: it makes the case folder,
 * and refuses one that someone other than root could have tampered with, or that holds a planted link,
 * with one line naming the config key, before creating anything and without chmod-ing anything.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderHook } from "../../lib/shell";
import { FOLDER_CREATE_HOOK as CREATE } from "./plan";

let scratch: string;
beforeEach(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "case-folder-"));
});
afterEach(() => fs.rmSync(scratch, { recursive: true, force: true }));

function create(stateDir: string, volumeDir = "") {
  return spawnSync("/bin/bash", ["-c", renderHook(CREATE, { STATE_DIR: stateDir, VOLUME_DIR: volumeDir })], {
    encoding: "utf8",
    timeout: 30_000,
  });
}
const modeOf = (p: string) => fs.statSync(p).mode & 0o7777;

/** The hook failed with exactly one line, which names the key and says why. */
function expectRefused(r: ReturnType<typeof create>, key: string, reason: RegExp) {
  expect(r.status).toBe(1);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0].startsWith(`${key}: `)).toBe(true);
  expect(lines[0]).toMatch(reason);
}

test("a new case folder (and volume folder) is made 0711; a second run changes nothing", () => {
  const stateDir = path.join(scratch, "cases", "case-42");
  const volumeDir = path.join(scratch, "volumes");
  for (let i = 0; i < 2; i++) {
    const r = create(stateDir, volumeDir);
    expect(r).toMatchObject({ status: 0, stderr: "" });
  }
  expect(modeOf(stateDir)).toBe(0o711);
  expect(modeOf(volumeDir)).toBe(0o711);
});

test("an existing root folder holding the lab's own files (and a file QEMU's user owns) is kept", () => {
  const stateDir = path.join(scratch, "case");
  fs.mkdirSync(path.join(stateDir, "keys"), { recursive: true, mode: 0o700 });
  fs.mkdirSync(path.join(stateDir, "disks"), { mode: 0o711 });
  fs.writeFileSync(path.join(stateDir, "custody.jsonl"), "{}\n", { mode: 0o600 });
  fs.writeFileSync(path.join(stateDir, "disks", "overlay.qcow2"), "");
  fs.chownSync(path.join(stateDir, "disks", "overlay.qcow2"), 64055, 994);
  expect(create(stateDir)).toMatchObject({ status: 0, stderr: "" });
  expect(fs.readFileSync(path.join(stateDir, "custody.jsonl"), "utf8")).toBe("{}\n");
});

describe("refused, unchanged, nothing created", () => {
  test("a case folder owned by someone else", () => {
    const stateDir = path.join(scratch, "case");
    fs.mkdirSync(stateDir, { mode: 0o700 });
    fs.chownSync(stateDir, 1000, 1000);
    const volumeDir = path.join(scratch, "volumes");
    const r = create(stateDir, volumeDir);
    expectRefused(r, "forensic-lab:stateDir", new RegExp(`'${stateDir}' is owned by uid 1000, not root`));
    expect(fs.statSync(stateDir)).toMatchObject({ uid: 1000 });
    expect(modeOf(stateDir)).toBe(0o700);
    expect(fs.existsSync(volumeDir)).toBe(false);
  });

  test.each([
    ["0777", 0o777],
    ["0775", 0o775],
    ["1777", 0o1777], // sticky or not: the case folder is root's alone
  ])("a root case folder with mode %s", (shown, mode) => {
    const stateDir = path.join(scratch, "case");
    fs.mkdirSync(stateDir);
    fs.chmodSync(stateDir, mode);
    const r = create(stateDir);
    expectRefused(r, "forensic-lab:stateDir", new RegExp(`'${stateDir}' is writable by group or others \\(mode ${shown}\\)`));
    expect(modeOf(stateDir)).toBe(mode);
  });

  test("a case folder that does not exist yet, below a folder someone else owns", () => {
    const theirs = path.join(scratch, "home-of-1000");
    fs.mkdirSync(theirs, { mode: 0o755 });
    fs.chownSync(theirs, 1000, 1000);
    const stateDir = path.join(theirs, "cases", "case-42");
    const r = create(stateDir);
    expectRefused(r, "forensic-lab:stateDir", new RegExp(`'${theirs}' is owned by uid 1000, not root`));
    expect(fs.readdirSync(theirs)).toEqual([]);
  });

  test("below a world-writable folder without the sticky bit (a sticky one, like /tmp, is fine)", () => {
    const open = path.join(scratch, "open");
    fs.mkdirSync(open);
    fs.chmodSync(open, 0o777);
    const r = create(path.join(open, "case"));
    expectRefused(r, "forensic-lab:stateDir", new RegExp(`'${open}' is writable by group or others \\(mode 0777\\)`));
    expect(fs.readdirSync(open)).toEqual([]);
    fs.chmodSync(open, 0o1777);
    expect(create(path.join(open, "case"))).toMatchObject({ status: 0, stderr: "" });
  });

  test("a case folder that is itself a symbolic link", () => {
    const real = path.join(scratch, "real");
    fs.mkdirSync(real, { mode: 0o700 });
    fs.symlinkSync(real, path.join(scratch, "case"));
    const r = create(path.join(scratch, "case"));
    expectRefused(r, "forensic-lab:stateDir", /is a symbolic link \(to '.*real'\); give the real path/);
    expect(modeOf(real)).toBe(0o700);
  });

  test.each([
    [
      "custody.jsonl",
      "a file the custody log would be appended to",
      (target: string) => fs.writeFileSync(target, "evidence\n", { mode: 0o400 }),
    ],
    ["keys", "a folder the keys would be written into", (target: string) => fs.mkdirSync(target, { mode: 0o755 })],
    ["disks/console.log", "a link deeper down", (target: string) => fs.writeFileSync(target, "passwd\n", { mode: 0o644 })],
  ])("a planted %s link (%s)", (name, _what, makeTarget) => {
    const stateDir = path.join(scratch, "case");
    fs.mkdirSync(path.join(stateDir, "disks"), { recursive: true, mode: 0o711 });
    fs.chmodSync(stateDir, 0o711);
    const target = path.join(scratch, "etc-or-evidence");
    makeTarget(target);
    const before = {
      mode: modeOf(target),
      entries: fs.statSync(target).isDirectory() ? fs.readdirSync(target) : fs.readFileSync(target, "utf8"),
    };
    fs.symlinkSync(target, path.join(stateDir, name));
    const r = create(stateDir, path.join(scratch, "volumes"));
    expectRefused(r, "forensic-lab:stateDir", new RegExp(`'${stateDir}/${name}' is a symbolic link \\(to '${target}'\\)`));
    expect({
      mode: modeOf(target),
      entries: fs.statSync(target).isDirectory() ? fs.readdirSync(target) : fs.readFileSync(target, "utf8"),
    }).toEqual(before);
    expect(fs.existsSync(path.join(scratch, "volumes"))).toBe(false);
  });

  test("a folder inside the case folder that someone else owns", () => {
    const stateDir = path.join(scratch, "case");
    fs.mkdirSync(path.join(stateDir, "keys"), { recursive: true, mode: 0o700 });
    fs.chmodSync(stateDir, 0o711);
    fs.chownSync(path.join(stateDir, "keys"), 1000, 1000);
    const r = create(stateDir);
    expectRefused(r, "forensic-lab:stateDir", new RegExp(`'${stateDir}/keys' is owned by uid 1000, not root`));
  });

  test("the evidence volume's folder is checked the same way, under its own key", () => {
    const stateDir = path.join(scratch, "case");
    const volumeDir = path.join(scratch, "volumes");
    fs.mkdirSync(volumeDir);
    fs.chmodSync(volumeDir, 0o777);
    const r = create(stateDir, volumeDir);
    expectRefused(r, "forensic-lab:evidenceVolume.path", new RegExp(`'${volumeDir}' is writable by group or others \\(mode 0777\\)`));
    expect(fs.existsSync(stateDir)).toBe(false);
    expect(modeOf(volumeDir)).toBe(0o777);
  });
});
