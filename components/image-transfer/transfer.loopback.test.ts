/**
 * Both transfer modes end to end against a loopback stand-in guest (a real sshd on 127.0.0.1, in-guest
 * hooks running on this host as root): the host side runs exactly as with a real guest (pinned ssh,
 * jailed read-only sftp-server, background pipes, resume), in seconds. `ImageTransfer.guest.test.ts` repeats
 * the essentials in a real analysis guest.
 */
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseHookResult } from "../../lib/shell";
import { TransferManifest } from "./args";
import { valueOf } from "../../test/mocks";
import { pinnedChainFilename, transferHooks } from "./plan";
import { alive, argvOf, descendants, gone } from "../../test/support/processes";
import {
  custodyLines,
  fileSha256,
  HookRun,
  readBackResults,
  runHook,
  startReadWriteAttempt,
  transferDriver,
  TransferDriver,
  pipePids as recordedPipePids,
} from "../../test/support/transfer-driver";
import { makeChainEvidence, makeRawEvidence } from "../../test/support/transfer-evidence";
import { LoopbackGuest, startLoopbackGuest } from "../../test/support/loopback-guest";

jest.setTimeout(300_000);

let dir: string;
let guest: LoopbackGuest;
/** A second stand-in whose hooks can be swapped for lies (a compromised guest). */
let liar: LoopbackGuest;
let chain: TransferManifest;
let chainTop: string;
let custodyLog: string;
let stateDir: string;
const drivers: TransferDriver[] = [];

const sha256 = fileSha256;
const custody = (): any[] => custodyLines(custodyLog);
const mountsUnder = (root: string) =>
  fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.split(" ")[4]?.startsWith(root.replace(/ /g, "\\040")));

function driver(mode: "sshfs" | "scp", manifest: TransferManifest, imageName = `win7-${mode}`, on: LoopbackGuest = guest): TransferDriver {
  const d = transferDriver(on.connection, {
    imageName,
    manifest,
    mode,
    readOnly: true,
    hashed: true,
    guestRoot: path.join(dir, `guest root 'g' $(x)`, mode, imageName),
    custodyLogPath: custodyLog,
    examiner: "examiner-1",
    stateDir,
  });
  drivers.push(d);
  return d;
}

function expectOk(r: HookRun): void {
  if (r.status !== 0) throw new Error(`hook failed (${r.status}): ${r.stderr}`);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "image-transfer loopback "));
  custodyLog = path.join(dir, "case state", "custody.jsonl");
  stateDir = path.join(dir, "case state");
  const evidence = makeChainEvidence(path.join(dir, "evidence"));
  chain = evidence.manifest;
  chainTop = evidence.top;
  guest = await startLoopbackGuest(path.join(dir, "guest"));
  liar = await startLoopbackGuest(path.join(dir, "liar"), { hostile: true });
});

afterAll(async () => {
  for (const d of drivers) await d.destroy();
  guest?.stop();
  liar?.stop();
  for (const line of mountsUnder(dir)) {
    execFileSync("fusermount3", ["-u", "-z", line.split(" ")[4].replace(/\\040/g, " ")]);
  }
  spawnSync("chattr", ["-R", "-i", dir]);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync("/tmp/forensic-lab-pwned", { force: true });
});

describe("scp", () => {
  test("copies every file, hashes equal, 0444 root immutable, chain opens pinned, custody logged", async () => {
    const d = driver("scp", chain);
    const r = await d.create();
    expectOk(r);
    const { files } = parseHookResult<{ files: any[] }>(r.stdout);
    expect(files).toHaveLength(chain.files.length);
    for (const [i, f] of d.plan.files.entries()) {
      const h = sha256(f.hostPath);
      expect(files[i]).toEqual({
        path: f.hostPath,
        guestPath: f.guestPath,
        hostSha256: h,
        guestSha256: h,
        verifiedBy: "host-sent",
        guestReportedSha256: h,
        copied: true,
      });
      const st = fs.statSync(f.guestPath);
      expect([st.uid, st.gid, (st.mode & 0o7777).toString(8)]).toEqual([0, 0, "444"]);
      expect(execFileSync("lsattr", ["-d", f.guestPath], { encoding: "utf8" })).toMatch(/^[^ ]*i[^ ]* /);
    }
    const lines = custody().filter((l) => l.image === "win7-scp");
    expect(lines.filter((l) => l.action === "host-hash")).toHaveLength(chain.files.length);
    const copies = lines.filter((l) => l.action === "guest-copy" && l.side === "guest");
    expect(copies).toHaveLength(chain.files.length);
    for (const [i, f] of d.plan.files.entries())
      expect(copies[i]).toMatchObject({ file: f.hostPath, sha256: sha256(f.hostPath), verifiedBy: "host-sent" });
    expect(fs.existsSync("/tmp/forensic-lab-pwned")).toBe(false);
    // The top's parent hint is the host's absolute path; pinned, the chain opens from the copies alone
    // and reads exactly like the original chain. (`qemu-img info` cannot take backing options: it opens
    // images with BDRV_O_NO_BACKING and walks the hints itself.)
    const pinned = pinnedChainFilename(d.plan.guestChain);
    expect(execFileSync("qemu-img", ["compare", "-F", "vmdk", pinned, chainTop], { encoding: "utf8" })).toContain("Images are identical");
    const depths = JSON.parse(execFileSync("qemu-img", ["map", "--output=json", pinned], { encoding: "utf8" }))
      .filter((m: any) => m.data)
      .map((m: any) => m.depth);
    expect(new Set(depths)).toEqual(new Set([0, 1]));
  });

  test("create again: nothing is copied twice", async () => {
    const d = driver("scp", chain);
    const inodes = d.plan.files.map((f) => fs.statSync(f.guestPath).ino);
    const r = await d.create();
    expectOk(r);
    const { files } = parseHookResult<{ files: any[] }>(r.stdout);
    expect(files.every((f) => f.copied === false && f.verifiedBy === "host-read-back")).toBe(true);
    const verified = custody()
      .filter((l) => l.image === "win7-scp" && l.action === "guest-verify")
      .slice(-d.plan.files.length);
    expect(verified.map((l) => [l.file, l.sha256, l.verifiedBy])).toEqual(
      d.plan.files.map((f) => [f.hostPath, sha256(f.hostPath), "host-read-back"]),
    );
    expect(d.plan.files.map((f) => fs.statSync(f.guestPath).ino)).toEqual(inodes);
  });

  test("a copy that changed in the guest is refused by name", async () => {
    const d = driver("scp", chain);
    const victim = d.plan.files[0].guestPath;
    execFileSync("chattr", ["-i", victim]);
    fs.chmodSync(victim, 0o644);
    fs.appendFileSync(victim, "tampered");
    const r = await d.create();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`the guest reports '${victim}' as sha256 '`);
    expect(r.stderr).toContain("; refusing (destroy the transfer to remove the copy)");
    expect(custody().pop()).toMatchObject({ action: "guest-hash-mismatch", guestPath: victim });
  });

  test("delete removes the copies and their folders; twice is fine", async () => {
    const d = driver("scp", chain);
    expectOk(await d.destroy());
    expect(fs.existsSync(d.args.guestRoot)).toBe(false);
    expect(custody().filter((l) => l.action === "guest-remove").length).toBeGreaterThanOrEqual(chain.files.length);
    expectOk(await d.destroy());
  });

  test("a copy cut off half way (ssh killed) resumes and converges", async () => {
    const raw = makeRawEvidence(path.join(dir, "raw evidence"), 192).manifest;
    const two = { ...raw, files: [...raw.files, ...chain.files.slice(0, 1)] };
    const d = driver("scp", two, "raw-scp");
    let killed = false;
    let poll: NodeJS.Timeout | undefined;
    const first = await d
      .create((bashPid) => {
        const partial = path.join(path.dirname(d.plan.files[0].guestPath), `.${path.basename(d.plan.files[0].guestPath)}.partial`);
        poll = setInterval(() => {
          const size = fs.existsSync(partial) ? fs.statSync(partial).size : 0;
          if (size < 16 << 20) return;
          clearInterval(poll);
          for (const pid of descendants(bashPid)) {
            const argv = argvOf(pid);
            if (argv[0] === "ssh" && argv.includes(String(guest.connection.port))) {
              process.kill(pid, "SIGKILL");
              killed = true;
            }
          }
        }, 5);
      })
      .finally(() => clearInterval(poll)); // a poll that never found its moment must not keep jest alive
    expect(killed).toBe(true);
    expect(first.status).not.toBe(0);
    expect(first.stderr).toContain("run again to resume");
    expect(fs.existsSync(d.plan.files[0].guestPath)).toBe(false);

    const second = await d.create();
    expectOk(second);
    for (const f of d.plan.files) expect(sha256(f.guestPath)).toBe(sha256(f.hostPath));
    // Sparse stays sparse: the raw image's 16 MiB hole is not allocated in the copy.
    expect(fs.statSync(d.plan.files[0].guestPath).blocks * 512).toBeLessThan(d.plan.files[0].size - (15 << 20)); // 16 MiB hole, less extent-tree blocks
    expect(fs.readdirSync(path.dirname(d.plan.files[0].guestPath)).filter((n) => n.endsWith(".partial"))).toEqual([]);
    const actions = custody()
      .filter((l) => l.image === "raw-scp" && l.side === "guest")
      .map((l) => l.action);
    expect(actions).toContain("guest-copy-failed");
    expect(actions.filter((a) => a === "guest-copy")).toHaveLength(2);
    expectOk(await d.destroy());
  });
});

describe("sshfs", () => {
  const pipePids = (d: TransferDriver) => recordedPipePids(stateDir, d);

  test("one read-only mount per folder, served by a jailed sftp-server as nobody; hashes equal", async () => {
    const d = driver("sshfs", chain);
    const r = await d.create();
    expectOk(r);
    const result = parseHookResult<{ files: any[]; pipesStarted: number[]; pipesReused: number[] }>(r.stdout);
    expect(result.pipesStarted).toEqual([0, 1]);
    expect(result.files).toEqual(readBackResults(d.plan));
    for (const f of d.plan.files) expect((fs.statSync(f.guestPath).mode & 0o777).toString(8)).toBe("444");
    for (const folder of d.plan.folders) {
      expect(execFileSync("findmnt", ["-n", "-o", "FSTYPE,OPTIONS", "-M", folder.guestFolder], { encoding: "utf8" })).toMatch(
        /^fuse\.sshfs +ro,/,
      );
      // Only the manifest's files are visible, nothing else of the host folder.
      expect(fs.readdirSync(folder.guestFolder).sort()).toEqual(folder.files.map((f) => path.basename(f.hostPath)).sort());
    }
    expect(() => fs.writeFileSync(d.plan.files[0].guestPath, "x")).toThrow(/EROFS|EACCES|EPERM/);

    const servers = pipePids(d)
      .flatMap((pid) => descendants(pid))
      .filter((pid) => argvOf(pid)[0]?.endsWith("sftp-server"));
    expect(servers).toHaveLength(2);
    for (const pid of servers) {
      const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
      expect(status).toMatch(/^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
      expect(status).toMatch(/^CapEff:\s+0000000000000004$/m); // CAP_DAC_READ_SEARCH only
      expect(fs.readdirSync(`/proc/${pid}/root`).sort()).toEqual(
        ["dev", "etc", "evidence", "lib", "lib64", "usr"].filter((e) => fs.existsSync(`/proc/${pid}/root/${e}`)),
      );
      expect(fs.existsSync(`/proc/${pid}/root/root`)).toBe(false);
    }
    const lines = custody().filter((l) => l.image === "win7-sshfs" && l.action === "guest-verify");
    expect(lines).toHaveLength(chain.files.length);
    expect(lines[0]).toMatchObject({
      side: "guest",
      who: "examiner-1",
      verifiedBy: "host-read-back",
      sha256: sha256(d.plan.files[0].hostPath),
    });
  });

  test("create again reuses the live pipes: no second mount", async () => {
    const d = driver("sshfs", chain);
    const before = pipePids(d);
    const r = await d.create();
    expectOk(r);
    expect(parseHookResult<any>(r.stdout)).toMatchObject({ pipesStarted: [], pipesReused: [0, 1] });
    expect(pipePids(d)).toEqual(before);
    for (const folder of d.plan.folders) expect(mountsUnder(folder.guestFolder)).toHaveLength(1);
  });

  test("a dropped session (ssh killed) is replaced on the next create", async () => {
    const d = driver("sshfs", chain);
    const [pipe] = pipePids(d);
    const ssh = descendants(pipe).filter((pid) => argvOf(pid)[0] === "ssh");
    expect(ssh).toHaveLength(1);
    process.kill(ssh[0], "SIGKILL");
    expect(await gone(pipe, 5000)).toBe(true);
    const r = await d.create();
    expectOk(r);
    expect(parseHookResult<any>(r.stdout)).toMatchObject({ pipesStarted: [0], pipesReused: [1] });
    for (const folder of d.plan.folders) expect(mountsUnder(folder.guestFolder)).toHaveLength(1);
    expect(sha256(d.plan.files[0].guestPath)).toBe(sha256(d.plan.files[0].hostPath));
  });

  test("delete unmounts, stops every pipe, leaves no fifo, pid file or jail; twice is fine", async () => {
    const d = driver("sshfs", chain);
    const pids = pipePids(d);
    const all = pids.flatMap((p) => [p, ...descendants(p)]);
    expectOk(await d.destroy());
    expect(mountsUnder(d.args.guestRoot)).toEqual([]);
    expect(fs.existsSync(d.args.guestRoot)).toBe(false);
    expect(all.filter(alive).map((pid) => argvOf(pid).join(" "))).toEqual([]);
    expect(fs.existsSync(path.join(stateDir, "image-transfer", d.args.imageName))).toBe(false);
    expect(custody().filter((l) => l.image === "win7-sshfs" && l.action === "guest-unmount")).toHaveLength(chain.files.length);
    expectOk(await d.destroy());
  });

  test("a guest that mounts read-WRITE still cannot change anything: the host side refuses", async () => {
    const folder = driver("sshfs", chain).plan.folders[0];
    const mountPoint = path.join(dir, "rw attempt");
    const { pid } = await startReadWriteAttempt(guest.connection, {
      hostFiles: folder.files.map((f) => f.hostPath),
      mountPoint,
      stateDir: path.join(dir, "rw state"),
    });
    for (let i = 0; i < 100 && mountsUnder(mountPoint).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(execFileSync("findmnt", ["-n", "-o", "OPTIONS", "-M", mountPoint], { encoding: "utf8" })).toMatch(/^rw,/);
    const victim = path.join(mountPoint, path.basename(folder.files[0].hostPath));
    const before = sha256(folder.files[0].hostPath);
    expect(() => fs.appendFileSync(victim, "x")).toThrow(/EACCES|EPERM|EROFS/);
    expect(() => fs.writeFileSync(path.join(mountPoint, "new"), "x")).toThrow(/EACCES|EPERM|EROFS/);
    expect(() => fs.unlinkSync(victim)).toThrow(/EACCES|EPERM|EROFS/);
    expect(() => fs.renameSync(victim, `${victim}.moved`)).toThrow(/EACCES|EPERM|EROFS/);
    expect(() => fs.chmodSync(victim, 0o777)).toThrow(/EACCES|EPERM|EROFS/);
    expect(sha256(folder.files[0].hostPath)).toBe(before);
    execFileSync("fusermount3", ["-u", mountPoint]);
    expect(await gone(pid, 5000)).toBe(true);
  });

  test("a hash that differs in the guest stops the transfer and leaves nothing running", async () => {
    const d = driver("sshfs", chain, "win7-bad");
    // Hand the transfer hashes the files do not have: the guest's (true) hashes must then be refused.
    const wrong = d.plan.files.map(() => "0".repeat(64));
    const r = await runHook(await valueOf(transferHooks(guest.connection, d.args, d.plan, wrong).create));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`the guest reports '${d.plan.files[0].guestPath}' as sha256 '${sha256(d.plan.files[0].hostPath)}'`);
    expect(custody().pop()).toMatchObject({
      action: "guest-hash-mismatch",
      sha256: null,
      guestReportedSha256: sha256(d.plan.files[0].hostPath),
    });
    expect(mountsUnder(d.args.guestRoot)).toEqual([]);
    expect(fs.existsSync(path.join(stateDir, "image-transfer", "win7-bad"))).toBe(false);
  });
});

describe("a guest that cannot be reached", () => {
  test("sshfs: the create fails, and with the unmount unable to reach the guest too, no fifo, pid file or jail is left on the host", async () => {
    // The engine records no failed create, so no delete hook comes for what such a run leaves behind.
    const down = await startLoopbackGuest(path.join(dir, "down"));
    down.stop();
    const d = driver("sshfs", chain, "win7-unreachable", down);
    const r = await d.create();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("unmounting in the guest failed");
    expect(r.stderr).not.toContain("run the delete hook");
    expect(fs.existsSync(path.join(stateDir, "image-transfer", "win7-unreachable"))).toBe(false);
  });
});

describe("access times", () => {
  const ageAccessTimes = (files: readonly string[]) => {
    for (const file of files) execFileSync("touch", ["-a", "-d", "2001-01-01 00:00:00 UTC", "--", file]);
  };
  const accessTimes = (files: readonly string[]) => files.map((f) => fs.statSync(f).atimeMs);

  test.each(["scp", "sshfs"] as const)("%s: hashing, sending and serving leave the evidence's access times as they were", async (mode) => {
    const d = driver(mode, chain, `atime-${mode}`);
    const files = d.plan.files.map((f) => f.hostPath);
    ageAccessTimes(files);
    const before = accessTimes(files);
    const r = await d.create();
    expectOk(r);
    // Every byte was read: by the host hash step, then by scp's stream or by the guest through sshfs.
    expect(parseHookResult<{ files: any[] }>(r.stdout).files).toHaveLength(files.length);
    expect(accessTimes(files)).toEqual(before);
    expectOk(await d.destroy());
  });
});

/**
 * The guest is assumed compromised: it gets the host's scripts and may run anything instead. Nothing it
 * says may make the host record a copy as verified, or skip verifying one.
 */
describe("a lying guest", () => {
  /** A guest-hash.sh that reports every file present with the host's own hashes (known from an earlier run). */
  const claimsEverything = (d: TransferDriver) =>
    [
      "#!/usr/bin/env bash",
      "cat <<'LIE'",
      `FORENSIC_LAB_RESULT ${JSON.stringify({ files: d.plan.files.map((f) => ({ path: f.guestPath, sha256: sha256(f.hostPath) })) })}`,
      "LIE",
      "",
    ].join("\n");
  afterEach(() => {
    for (const hook of ["guest-hash.sh", "guest-sshfs-mount.sh", "guest-receive.sh"]) liar.lie(hook, undefined);
  });
  /** The transfer stopped at the host's read-back: no result, the refusal names the file, no verify logged. */
  const expectReadBackRefusal = (r: HookRun, d: TransferDriver) => {
    expect(r.status).toBe(1);
    expect(r.stdout).not.toContain("FORENSIC_LAB_RESULT");
    expect(r.stderr).toContain(
      `the guest reports '${d.plan.files[0].guestPath}' with the host file's sha256, but what it handed back hashes to`,
    );
    expect(custody().filter((l) => l.image === d.args.imageName && l.action === "guest-verify")).toEqual([]);
  };

  test("scp: 'the copies are already there' when none is: the host reads back, refuses, logs no verify", async () => {
    const d = driver("scp", chain, "liar-scp-none", liar);
    liar.lie("guest-hash.sh", claimsEverything(d));
    expectReadBackRefusal(await d.create(), d);
    expect(custody().pop()).toMatchObject({
      action: "guest-hash-mismatch",
      guestPath: d.plan.files[0].guestPath,
      guestReportedSha256: sha256(d.plan.files[0].hostPath),
      verifiedBy: "host-read-back",
    });
  });

  test("scp: a different copy behind the right hash: the host's read-back hash gives it away", async () => {
    const d = driver("scp", chain, "liar-scp-other", liar);
    const [first] = d.plan.files;
    fs.mkdirSync(path.dirname(first.guestPath), { recursive: true });
    fs.writeFileSync(first.guestPath, "not the evidence");
    liar.lie("guest-hash.sh", claimsEverything(d));
    const r = await d.create();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`what it handed back hashes to '${crypto.createHash("sha256").update("not the evidence").digest("hex")}'`);
    expect(custody().filter((l) => l.image === "liar-scp-other" && l.action === "guest-verify")).toEqual([]);
    expectOk(await d.destroy());
  });

  test("scp: a receive that keeps nothing is caught on the next run, which reads back", async () => {
    const d = driver("scp", chain, "liar-scp-drop", liar);
    // Swallows the bytes and reports exactly what an honest receive would.
    liar.lie(
      "guest-receive.sh",
      [
        "#!/usr/bin/env bash",
        'eval "$(sed -n "/^readonly /p" <<<"$HOOK_SCRIPT")"',
        "read -r index",
        "cat >/dev/null",
        `jq -cn --arg path "\${DESTS[index]}" --arg sha256 "\${SHA256S[index]}" '"FORENSIC_LAB_RESULT " + ({$path, $sha256, immutable: true, allocatedBytes: 0} | tojson)' -r`,
        "",
      ].join("\n"),
    );
    const first = await d.create();
    expectOk(first);
    // What the host knows: it sent exactly the evidence's bytes. That the guest kept them is its word.
    expect(
      parseHookResult<{ files: any[] }>(first.stdout).files.every((f) => f.verifiedBy === "host-sent" && f.guestSha256 === f.hostSha256),
    ).toBe(true);
    liar.lie("guest-receive.sh", undefined);
    liar.lie("guest-hash.sh", claimsEverything(d));
    const second = await d.create();
    expect(second.status).toBe(1);
    expect(custody().filter((l) => l.image === "liar-scp-drop" && l.action === "guest-verify")).toEqual([]);
  });

  test("a second result line after the honest one fails the step, naming the guest hook", async () => {
    const d = driver("scp", chain, "liar-two-lines", liar);
    // The honest hook runs (no copy is there), then a forged line claims every copy present.
    liar.lie("guest-hash.sh", `#!/usr/bin/env bash\nbash -c "$HOOK_SCRIPT"\n${claimsEverything(d).replace(/^#!.*\n/, "")}`);
    const r = await d.create();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      "forensic-lab: guest-hash.sh: result rejected: its stdout holds the marker 2 times; exactly one result line is allowed",
    );
    expect(custody().filter((l) => l.image === "liar-two-lines" && ["guest-verify", "guest-copy"].includes(l.action))).toEqual([]);
  });

  test("sshfs: hashes reported without any mount: the host's read-back finds nothing, the transfer stops", async () => {
    const d = driver("sshfs", chain, "liar-sshfs", liar);
    // Takes the sftp stream and mounts nothing; then claims every file reads as the host's.
    liar.lie("guest-sshfs-mount.sh", "#!/usr/bin/env bash\nexec cat >/dev/null\n");
    liar.lie("guest-hash.sh", claimsEverything(d));
    expectReadBackRefusal(await d.create(), d);
    expect(fs.existsSync(path.join(stateDir, "image-transfer", "liar-sshfs"))).toBe(false);
  });
});
