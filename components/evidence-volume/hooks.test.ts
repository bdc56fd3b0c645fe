/**
 * The host-side hooks of the file backend, run for real on this host against real files and real
 * cryptsetup (header work needs no device-mapper): create once and adopt only what is ours; erase so
 * that no keyslot, no header and no LUKS magic remains; retain; refuse while a process holds the file.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HookValue, parseHookResult, renderHook } from "../../lib/shell";
import { backingValues, BackingResult, HOOKS, planVolume, volumeMark } from "./plan";
import { isZero, luksMagicOffsets, sha256Range } from "../../test/support/luks-evidence";

const GIB = 1024 ** 3;
const PASSPHRASE = `pass ${crypto.randomBytes(12).toString("hex")} 'quoted' $(no)`;
let dir: string;

jest.setTimeout(180_000);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vol-hooks '$(x)' "));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function plan(file: string, extra: object = {}) {
  return planVolume({ caseId: "c1", backend: "file", path: file, sizeGiB: 1, encrypted: true, passphrase: null, ...extra });
}

function runHook(script: string, values: Record<string, HookValue>, stdin = "") {
  return spawnSync("/bin/bash", ["-c", renderHook(script, values)], { input: stdin, encoding: "utf8", timeout: 120_000 });
}

// Test volumes are 64 MiB (the hooks take any byte size; only the component speaks GiB) so hashing and
// scanning them stays quick, except where the real 1 GiB plan is the point.
const SIZE = 64 * 1024 ** 2;

function create(file: string, extra: object = {}, sizeBytes = SIZE) {
  return runHook(HOOKS.backingCreate, { ...backingValues(plan(file, extra)).create, SIZE_BYTES: sizeBytes });
}

function destroy(file: string, extra: object = {}) {
  return runHook(HOOKS.backingDelete, backingValues(plan(file, extra)).delete);
}

/** What the guest would do on first open, done here on the host (luksFormat needs no device-mapper). */
function luksFormat(file: string, type: "luks1" | "luks2", extra: string[] = []) {
  const kdf =
    type === "luks2"
      ? ["--pbkdf", "argon2id", "--pbkdf-memory", "32768", "--pbkdf-force-iterations", "4", "--pbkdf-parallel", "1"]
      : ["--pbkdf-force-iterations", "1000"];
  execFileSync("cryptsetup", ["luksFormat", "--batch-mode", "--type", type, ...kdf, ...extra, "--key-file=-", file], { input: PASSPHRASE });
}

function opensWith(file: string, passphrase: string): boolean {
  return spawnSync("cryptsetup", ["open", "--test-passphrase", "--key-file=-", file], { input: passphrase }).status === 0;
}

const sha256 = (file: string) => sha256Range(file);

/** Marks a file as case c1's volume, as host-backing-create.sh does when it makes one. */
function mark(file: string, caseId = "c1") {
  execFileSync("setfattr", ["-n", "trusted.forensic-lab.volume", "-v", volumeMark(caseId), "--", file]);
}

describe("host-backing-create.sh (file)", () => {
  test("makes a sparse, root-only file of the asked size; a second run changes nothing", () => {
    const file = path.join(dir, "fresh.luks");
    const first = create(file, {}, GIB);
    expect(first.stderr).toBe("");
    expect(first.status).toBe(0);
    expect(parseHookResult<BackingResult>(first.stdout)).toEqual({ backingPath: file, sizeBytes: GIB, created: true, luks: null });
    const stat = fs.statSync(file);
    expect(stat.size).toBe(GIB);
    expect(stat.blocks).toBe(0);
    expect(stat.mode & 0o777).toBe(0o600);

    const second = create(file, {}, GIB);
    expect(second.status).toBe(0);
    expect(parseHookResult<BackingResult>(second.stdout).created).toBe(false);
    const again = fs.statSync(file);
    expect([again.ino, again.mtimeMs, again.size]).toEqual([stat.ino, stat.mtimeMs, stat.size]);
  });

  test("marks what it makes as this case's volume, in an attribute the guest cannot write", () => {
    const file = path.join(dir, "marked.luks");
    expect(create(file).status).toBe(0);
    const value = execFileSync("getfattr", ["--only-values", "-n", "trusted.forensic-lab.volume", file], { encoding: "utf8" });
    expect(value).toBe("forensic-lab case c1");
    expect(fs.readdirSync(dir).filter((n) => n.startsWith("marked.luks."))).toEqual([]);
  });

  test("adopts its own LUKS volume (formatted in the guest) and reports its header as found", () => {
    const file = path.join(dir, "luks1.luks");
    expect(create(file).status).toBe(0);
    luksFormat(file, "luks1", ["--cipher", "aes-cbc-essiv:sha256", "--key-size", "256"]);
    const before = sha256(file);
    const r = create(file);
    expect(r.status).toBe(0);
    expect(parseHookResult<BackingResult>(r.stdout)).toEqual({
      backingPath: file,
      sizeBytes: SIZE,
      created: false,
      luks: { version: 1, cipher: "aes-cbc-essiv:sha256" },
    });
    expect(sha256(file)).toBe(before);
  });

  const notOurs = /was not made by forensic-lab \(no trusted\.forensic-lab\.volume mark\); refusing to adopt it$/m;
  test.each<[string, (file: string) => void, RegExp]>([
    // Pointed at evidence or at anybody's file by a careless stack: never formatted, never erased.
    [
      "somebody's LUKS volume (an encrypted image of the case)",
      (f) => (fs.writeFileSync(f, ""), fs.truncateSync(f, SIZE), luksFormat(f, "luks2")),
      notOurs,
    ],
    ["a blank file of the right size that the lab did not make", (f) => (fs.writeFileSync(f, ""), fs.truncateSync(f, SIZE)), notOurs],
    [
      "another case's retained volume",
      (f) => (fs.writeFileSync(f, ""), fs.truncateSync(f, SIZE), luksFormat(f, "luks2"), mark(f, "c2")),
      /is the evidence volume of another case \(forensic-lab case c2, not forensic-lab case c1\); refusing to adopt it$/m,
    ],
    // Marked as ours, and still not what a volume of this case can be.
    [
      "a marked file holding a filesystem",
      (f) => (execFileSync("mkfs.ext4", ["-q", "-F", f, "64M"]), mark(f)),
      /holds ext4 data, not an evidence volume; refusing to adopt it$/m,
    ],
    [
      "a marked file of another size",
      (f) => (fs.writeFileSync(f, Buffer.alloc(4096)), mark(f)),
      /has 4096 bytes, sizeGiB asks for 67108864; resizing an evidence volume is not supported$/m,
    ],
    ["a symbolic link", (f) => fs.symlinkSync("/etc/hostname", f), /is a symbolic link; give the file's real path$/m],
    ["a folder", (f) => fs.mkdirSync(f), /exists and is not a regular file$/m],
  ])("refuses %s and leaves it untouched", (_, make, message) => {
    const file = path.join(dir, `refuse-${crypto.randomUUID()}`);
    make(file);
    const before = fs.lstatSync(file).isFile() ? sha256(file) : fs.lstatSync(file).mtimeMs;
    const r = create(file);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(fs.lstatSync(file).isFile() ? sha256(file) : fs.lstatSync(file).mtimeMs).toBe(before);
  });

  test("a missing folder is an error, not a surprise folder", () => {
    const r = create(path.join(dir, "no such folder", "x.luks"));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("path: folder");
    expect(r.stderr).toContain("does not exist");
    expect(fs.existsSync(path.join(dir, "no such folder"))).toBe(false);
  });
});

describe("host-backing-delete.sh (file)", () => {
  /** A formatted volume with some ciphertext, and a second name for its inode to inspect after removal. */
  function formattedVolume(name: string, type: "luks1" | "luks2" = "luks2", extra: string[] = []) {
    const file = path.join(dir, name);
    expect(create(file).status).toBe(0);
    luksFormat(file, type, extra);
    const keep = `${file}.inode`;
    fs.linkSync(file, keep);
    expect(opensWith(keep, PASSPHRASE)).toBe(true);
    return { file, keep };
  }

  test.each<[string, "luks1" | "luks2", string[], number]>([
    ["LUKS2", "luks2", [], 16 * 1024 ** 2],
    ["LUKS2 with a 32 MiB header", "luks2", ["--offset", "65536"], 32 * 1024 ** 2],
    ["LUKS1", "luks1", [], 16 * 1024 ** 2],
  ])("%s: keyslots destroyed, header zeroed, file removed; the passphrase opens nothing", (name, type, extra, wiped) => {
    const { file, keep } = formattedVolume(`erase-${type}-${wiped}.luks`, type, extra);
    const tail = sha256Range(keep, wiped);
    expect(luksMagicOffsets(keep).length).toBeGreaterThan(0);

    const r = destroy(file);
    expect(r.status).toBe(0);
    expect(parseHookResult(r.stdout)).toEqual({ backingPath: file, erased: true, removed: true, headerBytesWiped: wiped });
    expect(fs.existsSync(file)).toBe(false);

    // The same bytes, through the second name.
    expect(spawnSync("cryptsetup", ["isLuks", keep]).status).not.toBe(0);
    expect(spawnSync("blkid", ["-p", keep]).status).toBe(2);
    expect(luksMagicOffsets(keep)).toEqual([]);
    expect(opensWith(keep, PASSPHRASE)).toBe(false);
    expect(isZero(keep, 0, wiped)).toBe(true);
    // Only the header was touched: the data area is the same ciphertext, now without any key.
    expect(sha256Range(keep, wiped)).toBe(tail);
    fs.rmSync(keep);
  });

  test("already gone is nothing to undo, twice", () => {
    const file = path.join(dir, "never-made.luks");
    for (let i = 0; i < 2; i++) {
      const r = destroy(file);
      expect(r.status).toBe(0);
      expect(r.stderr).toContain("is already gone");
      expect(parseHookResult(r.stdout)).toMatchObject({ erased: false, removed: false });
    }
  });

  test("a volume that was never opened (blank) is removed", () => {
    const file = path.join(dir, "blank.luks");
    expect(create(file).status).toBe(0);
    const r = destroy(file);
    expect(r.status).toBe(0);
    expect(parseHookResult(r.stdout)).toMatchObject({ erased: false, removed: true });
    expect(fs.existsSync(file)).toBe(false);
  });

  test("retain: closed and intact, still opens with its passphrase", () => {
    const { file, keep } = formattedVolume("retained.luks");
    const before = sha256(file);
    const r = destroy(file, { retain: true });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("retained");
    expect(sha256(file)).toBe(before);
    expect(opensWith(file, PASSPHRASE)).toBe(true);
    fs.rmSync(keep);
  });

  test("refuses while a process (a guest's QEMU) holds the file open, and changes nothing", async () => {
    const { file, keep } = formattedVolume("held.luks");
    const before = sha256(file);
    const holder: ChildProcess = spawn("/bin/bash", ["-c", 'exec 3<"$1"; echo ready; sleep 60', "holder", file], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      await new Promise((resolve) => holder.stdout!.once("data", resolve));
      const r = destroy(file);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`is still open by process ${holder.pid} \\(a running guest\\?\\); stop it first$`, "m"));
      expect(sha256(file)).toBe(before);
      expect(opensWith(file, PASSPHRASE)).toBe(true);
    } finally {
      holder.kill();
    }
    fs.rmSync(keep);
  });

  test.each<[string, string | null, RegExp]>([
    ["somebody's LUKS volume", null, /was not made by forensic-lab \(no trusted\.forensic-lab\.volume mark\); refusing to erase it$/m],
    [
      "another case's retained volume",
      "c2",
      /is the evidence volume of another case \(forensic-lab case c2, not forensic-lab case c1\); refusing to erase it$/m,
    ],
  ])("never erases %s: it still opens with its passphrase", (_, owner, message) => {
    const file = path.join(dir, `foreign-${crypto.randomUUID()}.luks`);
    fs.writeFileSync(file, "");
    fs.truncateSync(file, SIZE);
    luksFormat(file, "luks2");
    if (owner) mark(file, owner);
    const before = sha256(file);
    const r = destroy(file);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(sha256(file)).toBe(before);
    expect(opensWith(file, PASSPHRASE)).toBe(true);
  });

  // The file backend's header is the guest's to write: a compromised guest can leave one that cryptsetup
  // reads wrongly or not at all. Destroy still erases, all of it, and says so.
  test.each<[string, (file: string) => void]>([
    [
      "LUKS magic over garbage (no readable header)",
      (f) => {
        const fd = fs.openSync(f, "r+");
        fs.writeSync(fd, crypto.randomBytes(SIZE / 4), 0, SIZE / 4, 0);
        fs.writeSync(fd, Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe, 0x00, 0x02]), 0, 8, 0);
        fs.closeSync(fd);
      },
    ],
    [
      "LUKS1 whose payload offset is zero",
      (f) => {
        luksFormat(f, "luks1");
        const fd = fs.openSync(f, "r+");
        fs.writeSync(fd, Buffer.alloc(4), 0, 4, 104); // payload-offset, big-endian u32
        fs.closeSync(fd);
      },
    ],
  ])("a hostile header (%s): the whole volume is zeroed and removed", (_, spoil) => {
    const file = path.join(dir, `hostile-${crypto.randomUUID()}.luks`);
    expect(create(file).status).toBe(0);
    spoil(file);
    const keep = `${file}.inode`;
    fs.linkSync(file, keep);
    const r = destroy(file);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/zeroing all of it$/m);
    expect(parseHookResult(r.stdout)).toEqual({ backingPath: file, erased: true, removed: true, headerBytesWiped: SIZE });
    expect(fs.existsSync(file)).toBe(false);
    expect(isZero(keep, 0, SIZE)).toBe(true);
    fs.rmSync(keep);
  });

  test("does not touch something that is not a regular file", () => {
    const target = path.join(dir, "precious");
    fs.writeFileSync(target, "keep me");
    const link = path.join(dir, "link.luks");
    fs.symlinkSync(target, link);
    const r = destroy(link);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("is not a regular file; not erasing it");
    expect(fs.readFileSync(target, "utf8")).toBe("keep me");
  });
});
