/**
 * The host side of hashing and the custody log, run for real with bash against real files: the hash
 * step, its refusals, and the release lines on destroy; and the guest's end of an scp copy.
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { hookFile } from "../../lib/hook-file";
import { inspectImage } from "../../lib/inspect";
import { renderHook } from "../../lib/shell";
import { TransferManifest, validateArgs } from "./args";
import { hostHashHooks } from "./plan";
import { planTransfer } from "./plan";
import { HOSTILE_FOLDER, makeChainEvidence, SNAPSHOT_FOLDER } from "../../test/support/transfer-evidence";

let dir: string;
let manifest: TransferManifest;
let top: string;
let custodyLog: string;

function hooksFor(m: TransferManifest) {
  const args = validateArgs({
    imageName: "win7",
    manifest: m,
    mode: "sshfs",
    readOnly: true,
    hashed: true,
    custodyLogPath: custodyLog,
    examiner: "Erika 'E.' Mustermann",
  });
  return hostHashHooks(args, planTransfer(args.manifest, args.guestRoot));
}

function bash(text: string) {
  return spawnSync("/bin/bash", ["-c", text], { encoding: "utf8", timeout: 60_000 });
}

function custodyLines(): any[] {
  return fs
    .readFileSync(custodyLog, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

const sha256 = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "image-transfer host hash "));
  ({ manifest, top } = makeChainEvidence(path.join(dir, "evidence")));
});

beforeEach(() => {
  custodyLog = path.join(dir, `case ${crypto.randomUUID()}`, "custody.jsonl");
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync("/tmp/forensic-lab-pwned", { force: true });
});

test("hashes every file once, matches the manifest, logs one custody line per file", () => {
  const r = bash(hooksFor(manifest).create);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  const result = JSON.parse(
    r.stdout
      .trim()
      .split("\n")
      .pop()!
      .replace(/^FORENSIC_LAB_RESULT /, ""),
  );
  expect(result.files.map((f: any) => f.path)).toEqual(planTransfer(manifest, "/e").files.map((f) => f.hostPath));
  for (const f of result.files) expect(f.sha256).toBe(sha256(f.path));
  expect(result.files.some((f: any) => f.path.includes(HOSTILE_FOLDER))).toBe(true);

  const lines = custodyLines();
  expect(lines).toHaveLength(manifest.files.length);
  for (const [i, line] of lines.entries()) {
    expect(line).toMatchObject({
      action: "host-hash",
      image: "win7",
      side: "host",
      who: "Erika 'E.' Mustermann",
      file: result.files[i].path,
      sha256: result.files[i].sha256,
    });
    expect(line.detail).toMatch(/^size \d+, modified \d{4}-/);
    expect(Date.parse(line.time)).not.toBeNaN();
  }
  expect(fs.existsSync("/tmp/forensic-lab-pwned")).toBe(false);
  expect((fs.statSync(custodyLog).mode & 0o777).toString(8)).toBe("600");
});

/**
 * Sets every file's access time far into the past: older than its modification time, so a relatime
 * mount (the default) would update it on the next read, as strictatime always would.
 */
function ageAccessTimes(files: readonly string[]): void {
  for (const file of files) spawnSync("touch", ["-a", "-d", "2001-01-01 00:00:00 UTC", "--", file]);
}
const accessTimes = (files: readonly string[]) => files.map((f) => fs.statSync(f).atimeMs);

test("hashing leaves every evidence file's access time as it was, also for a file another user owns", () => {
  const files = manifest.files.map((f) => f.path);
  fs.chownSync(files[0], 65534, 65534); // root reads it with O_NOATIME through CAP_FOWNER
  ageAccessTimes(files);
  const before = accessTimes(files);
  expect(before.every((t) => t === Date.parse("2001-01-01T00:00:00Z"))).toBe(true);
  const r = bash(hooksFor(manifest).create);
  expect(r.status).toBe(0);
  expect(accessTimes(files)).toEqual(before);
  // The same read without O_NOATIME does move it here: the test can see the difference.
  spawnSync("cat", [files[1]], { stdio: "ignore" });
  expect(fs.statSync(files[1]).atimeMs).not.toBe(before[1]);
  fs.chownSync(files[0], 0, 0);
});

test("running it again changes nothing but adds a second, logged check", () => {
  const hooks = hooksFor(manifest);
  const first = bash(hooks.create);
  const second = bash(hooks.create);
  expect(second.status).toBe(0);
  expect(second.stdout).toBe(first.stdout);
  expect(custodyLines()).toHaveLength(2 * manifest.files.length);
});

test("works without manifest hashes (inspect did not hash)", () => {
  const unhashed = { ...manifest, files: manifest.files.map(({ sha256: _s, ...f }) => f) };
  expect(bash(hooksFor(unhashed).create).status).toBe(0);
});

test("a file whose hash differs from the manifest is refused, by name, and the refusal is logged", () => {
  const changed = { ...manifest, files: manifest.files.map((f, i) => (i === 2 ? { ...f, sha256: "0".repeat(64) } : f)) };
  const r = bash(hooksFor(changed).create);
  expect(r.status).toBe(1);
  const name = planTransfer(manifest, "/e").files[2].hostPath;
  expect(r.stderr).toContain(`'${name}' hashes to ${sha256(name)}, the manifest says ${"0".repeat(64)}: it changed since inspection`);
  expect(r.stdout).not.toContain("FORENSIC_LAB_RESULT");
  const last = custodyLines().pop();
  expect(last).toMatchObject({ action: "host-hash-mismatch", file: name, sha256: sha256(name) });
});

test("a size that differs from the manifest is refused before hashing", () => {
  const changed = { ...manifest, files: manifest.files.map((f, i) => (i === 0 ? { ...f, size: f.size + 1 } : f)) };
  const r = bash(hooksFor(changed).create);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/is \d+ bytes, the manifest says \d+: it changed since inspection/);
});

test("a missing file is refused by name", () => {
  const gone = { ...manifest, files: [...manifest.files, { path: path.join(dir, "evidence", "nope.vmdk"), size: 1 }] };
  const r = bash(hooksFor(gone).create);
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`evidence file '${path.join(dir, "evidence", "nope.vmdk")}' is missing or not a regular file`);
});

test("lib/inspect's manifest is accepted as is and laid out like the test's own", async () => {
  const inspected = await inspectImage(top);
  const args = validateArgs({
    imageName: "win7",
    manifest: inspected,
    mode: "scp",
    readOnly: true,
    hashed: true,
    custodyLogPath: custodyLog,
    examiner: "e",
  });
  const plan = planTransfer(args.manifest, args.guestRoot);
  expect(plan.guestChain).toEqual(planTransfer(manifest, args.guestRoot).guestChain);
  expect(new Set(plan.files.map((f) => f.hostPath))).toEqual(new Set(manifest.files.map((f) => f.path)));
});

test("release: one line per file, a missing file is logged and not an error", () => {
  const extra = path.join(dir, "evidence", SNAPSHOT_FOLDER, "extra.bin");
  fs.writeFileSync(extra, "x");
  const m = { ...manifest, files: [...manifest.files, { path: extra, size: 1 }] };
  fs.rmSync(extra);
  const r = bash(hooksFor(m).delete);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  const lines = custodyLines();
  expect(lines).toHaveLength(m.files.length);
  expect(lines.every((l) => l.action === "host-release" && l.side === "host")).toBe(true);
  expect(lines[0].detail).toMatch(/^size \d+, modified /);
  expect(lines.find((l) => l.file === extra).detail).toBe("missing on the host at release");
});

test("a custody log that is a symbolic link (planted in the case folder) is not written through", () => {
  const target = path.join(dir, `evidence-or-etc ${crypto.randomUUID()}`);
  fs.writeFileSync(target, "not a custody log\n", { mode: 0o600 });
  fs.mkdirSync(path.dirname(custodyLog), { recursive: true });
  fs.symlinkSync(target, custodyLog);
  const r = bash(hooksFor(manifest).create);
  expect(r.status).toBe(1);
  expect(r.stderr).toBe(
    `forensic-lab:stateDir: the custody log '${custodyLog}' is a symbolic link (to '${target}'); refusing to write through it\n`,
  );
  expect(fs.readFileSync(target, "utf8")).toBe("not a custody log\n");
});

/**
 * An EWF set's acquisition check: host-acquisition.sh with the real guest-ewf-verify.sh run in place of
 * the guest (libewf's ewfverify is on the host too), on sets ewfacquire writes here.
 */
describe("the acquisition check of an EWF set", () => {
  let ewfDir: string;
  let media: Buffer;
  const segments = () => [1, 2, 3, 4].map((n) => path.join(ewfDir, `disk.E0${n}`));
  const digest = (algorithm: string, bytes: Buffer) => crypto.createHash(algorithm).update(bytes).digest("hex");

  beforeAll(() => {
    ewfDir = path.join(dir, "ewf");
    fs.mkdirSync(ewfDir);
    media = crypto.randomBytes(3 << 20);
    fs.writeFileSync(path.join(dir, "media.raw"), media);
    const made = spawnSync(
      "ewfacquire",
      ["-u", "-q", "-t", path.join(ewfDir, "disk"), "-S", "1MiB", "-c", "none", "-d", "sha1", path.join(dir, "media.raw")],
      {
        encoding: "utf8",
      },
    );
    if (made.status !== 0) throw new Error(`ewfacquire: ${made.stdout}${made.stderr}`);
  });

  /** The check as the lab renders it, with the guest's hook run right here (or a stand-in's text). */
  function check(options: { storedMd5?: string; guestHook?: string } = {}) {
    const guestHook = options.guestHook ?? renderHook(hookFile("image-transfer", "guest-ewf-verify.sh"), { SEGMENTS: segments() });
    const text = renderHook(hookFile("image-transfer", "host-acquisition.sh"), {
      IMAGE_NAME: "e01",
      HOST_FIRST_SEGMENT: segments()[0],
      GUEST_FIRST_SEGMENT: "/case/images/e01/layer-folders/0/disk.E01",
      STORED_MD5: options.storedMd5 ?? digest("md5", media),
      STORED_SHA1: digest("sha1", media),
      CUSTODY_LOG: custodyLog,
      EXAMINER: "Erika",
      GUEST_VERIFY_HOOK: guestHook,
    });
    return bash(text);
  }

  test("a whole set is verified: the result and a custody line with both hashes, as the guest's word", () => {
    const run = check();
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout.replace(/^FORENSIC_LAB_RESULT /, ""))).toEqual({
      status: "verified",
      storedMd5: digest("md5", media),
      computedMd5: digest("md5", media),
      storedSha1: digest("sha1", media),
      computedSha1: digest("sha1", media),
    });
    expect(custodyLines()).toEqual([
      expect.objectContaining({
        action: "acquisition-verified",
        side: "guest",
        file: segments()[0],
        sha256: null,
        reportedBy: "guest",
        computedMd5: digest("md5", media),
        sectorErrors: [],
      }),
    ]);
  });

  test("damaged data stops the lab, naming the sectors and the segment that holds them", () => {
    const second = segments()[1];
    const original = fs.readFileSync(second);
    try {
      const damaged = Buffer.from(original);
      damaged.write("XXXX", 300_000, "latin1");
      fs.writeFileSync(second, damaged);
      const run = check();
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(`the EWF set '${segments()[0]}' fails its own acquisition check (ewfverify in the guest):`);
      expect(run.stderr).toMatch(new RegExp(`damaged: at sector\\(s\\): \\d+ - \\d+ \\(number: \\d+\\) in segment file\\(s\\): ${second}`));
      expect(run.stderr).toContain(`md5 stored ${digest("md5", media)}, computed `);
      expect(custodyLines()).toEqual([expect.objectContaining({ action: "acquisition-check-failed", detail: "ewfverify: FAILURE" })]);
    } finally {
      fs.writeFileSync(second, original);
    }
  });

  test("a guest that reports other stored hashes than the host read is refused", () => {
    const run = check({ storedMd5: "0".repeat(32) });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`differ from what the host read in '${segments()[0]}' (md5 '${"0".repeat(32)}'`);
    expect(custodyLines()[0].action).toBe("acquisition-check-failed");
  });

  test("a guest whose report does not fit the schema gets no say", () => {
    const liar = `printf 'FORENSIC_LAB_RESULT %s\\n' '{"outcome":"success","storedMd5":"x"}'`;
    const run = check({ guestHook: liar });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("guest-ewf-verify.sh: result rejected: it does not fit the hook's schema");
    expect(custodyLines()).toEqual([
      expect.objectContaining({ action: "acquisition-check-failed", detail: "the guest's ewfverify gave no usable report" }),
    ]);
  });

  test("a missing segment is named before ewfverify runs", () => {
    const guestHook = renderHook(hookFile("image-transfer", "guest-ewf-verify.sh"), {
      SEGMENTS: [...segments(), path.join(ewfDir, "disk.E05")],
    });
    const run = check({ guestHook });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`image-transfer: EWF segment '${path.join(ewfDir, "disk.E05")}' is not a readable file in the guest`);
  });
});

/**
 * guest-receive.sh, the guest's end of an scp copy, run right here: it hashes the bytes as they arrive
 * (one pass) and keeps a copy under its final name only when that hash is the host's.
 */
describe("receiving a copy (guest-receive.sh)", () => {
  let folder: string;
  let dest: string;
  // Sparse on purpose: dd conv=sparse skips writing the zero run, the hash must still cover it.
  const bytes = Buffer.concat([crypto.randomBytes(3 << 20), Buffer.alloc(4 << 20), crypto.randomBytes(1 << 20)]);
  const digest = crypto.createHash("sha256").update(bytes).digest("hex");
  const partial = () => path.join(folder, `.${path.basename(dest)}.partial`);

  function receive(expected: string, stream: Buffer = bytes) {
    const text = renderHook(hookFile("image-transfer", "guest-receive.sh"), { DESTS: [dest], SHA256S: [expected] });
    return spawnSync("/bin/bash", ["-c", text], { input: Buffer.concat([Buffer.from("0\n"), stream]), encoding: "utf8", timeout: 60_000 });
  }

  beforeEach(() => {
    folder = fs.mkdtempSync(path.join(dir, "received "));
    dest = path.join(folder, "copies", "disk 1.vmdk");
  });

  afterEach(() => {
    spawnSync("chattr", ["-i", dest]);
    fs.rmSync(folder, { recursive: true, force: true });
  });

  test("keeps the copy under its final name, read-only, and reports the hash of what arrived", () => {
    const r = receive(digest);
    expect(r.stderr.replace(/.*no immutable flag.*\n/, "")).toBe("");
    expect(r.status).toBe(0);
    const result = JSON.parse(r.stdout.trim().replace(/^FORENSIC_LAB_RESULT /, ""));
    expect(result).toMatchObject({ path: dest, sha256: digest });
    expect(fs.readFileSync(dest).equals(bytes)).toBe(true);
    expect(fs.statSync(dest).mode & 0o777).toBe(0o444);
    expect(fs.existsSync(partial())).toBe(false);
    // The zero run stayed a hole.
    expect(fs.statSync(dest).blocks * 512).toBeLessThan(bytes.length - (3 << 20));
  });

  test("bytes that are not the host's (one flipped, or cut short) are not kept, and say so", () => {
    const flipped = Buffer.from(bytes);
    flipped[5 << 20] ^= 1; // inside the zero run, among the holes dd does not write
    for (const stream of [flipped, bytes.subarray(0, bytes.length - 1)]) {
      const r = receive(digest, stream);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`image-transfer: '${dest}' arrived with sha256 `);
      expect(r.stderr).toContain(`, the host file has ${digest}; not kept`);
      expect(fs.existsSync(dest)).toBe(false);
      expect(fs.existsSync(partial())).toBe(false);
    }
  });

  test("a second run refuses to replace a kept copy", () => {
    expect(receive(digest).status).toBe(0);
    const again = receive(digest);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain(`image-transfer: '${dest}' is already there; the host sends only missing files`);
    expect(fs.readFileSync(dest).equals(bytes)).toBe(true);
  });
});

describe("hashing in the guest (guest-hash.sh)", () => {
  let folder: string;
  let bin: string;
  beforeAll(() => {
    folder = fs.mkdtempSync(path.join(dir, "guest hash "));
    // A stand-in dd that copies its input and reports as if each 128 MiB took ten seconds: dd's own clock
    // is in its records, so the test needs no waiting for the lines to show.
    bin = path.join(folder, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(
      path.join(bin, "dd"),
      `#!/bin/bash\nfile=\${1#if=}\ncat -- "$file"\nfor s in 1 2; do printf '%d bytes (x) copied, %d.0 s, y\\r' $((s << 27)) $((s * 10)) >&2; done\nprintf '\\n2+1 records in\\n2+1 records out\\n%d bytes (x) copied, 25.0 s, y\\n' $(stat -c %s -- "$file") >&2\n`,
      { mode: 0o755 },
    );
  });

  function guestHash(paths: string[], missingOk = false) {
    const text = renderHook(hookFile("image-transfer", "guest-hash.sh"), {
      PATHS: paths,
      WAIT_MOUNTS: [],
      WAIT_SECONDS: 0,
      MISSING_OK: missingOk,
    });
    return spawnSync("/bin/bash", ["-c", text], {
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
  }

  test("a large file shows progress while it is hashed, a small one hashes quietly; both hashes right", () => {
    const large = path.join(folder, "disk 'large' $(id).vmdk");
    const small = path.join(folder, "small.vmdk");
    fs.writeFileSync(large, "");
    fs.truncateSync(large, 300 << 20); // sparse: 300 MiB of zeros without writing them
    fs.writeFileSync(small, crypto.randomBytes(1 << 20));
    const r = guestHash([small, large]);
    expect(r.status).toBe(0);
    expect(r.stderr.trim().split("\n")).toEqual([
      `image-transfer: hashing '${large}' in the guest: 128.0 MiB of 300.0 MiB (42%), 12.7 MiB/s, about 13s left`,
      `image-transfer: hashing '${large}' in the guest: 256.0 MiB of 300.0 MiB (85%), 12.7 MiB/s, about 3s left`,
      `image-transfer: hashing '${large}' in the guest: 300.0 MiB in 25s`,
    ]);
    const result = JSON.parse(r.stdout.trim().replace(/^FORENSIC_LAB_RESULT /, ""));
    expect(result).toEqual({
      files: [
        { path: small, sha256: sha256(small) },
        { path: large, sha256: sha256(large) },
      ],
    });
  });

  test("a missing copy is null when allowed (scp resume), and an error naming it otherwise", () => {
    const there = path.join(folder, "there.vmdk");
    fs.writeFileSync(there, "x");
    const gone = path.join(folder, "gone.vmdk");
    const allowed = guestHash([gone, there], true);
    expect(allowed.status).toBe(0);
    expect(JSON.parse(allowed.stdout.trim().replace(/^FORENSIC_LAB_RESULT /, ""))).toEqual({
      files: [
        { path: gone, sha256: null },
        { path: there, sha256: sha256(there) },
      ],
    });
    const refused = guestHash([there, gone]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe(`image-transfer: '${gone}' is not there in the guest\n`);
  });
});
