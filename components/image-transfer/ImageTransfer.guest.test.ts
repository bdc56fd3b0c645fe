/**
 * ImageTransfer against a real analysis guest (one boot for everything): seeds-like evidence from
 * `scripts/make-evidence.sh` (base, snapshots and top in three folders, the top's parent hint absolute)
 * under a folder whose name holds spaces, quotes and `$(...)`, inspected by `lib/inspect`.
 *
 * - sshfs: read-only mounts fed through the host's own ssh session (the guest opens no connection:
 *   `ss` shows only inbound sshd), writes fail even after a remount rw, hashes equal, create twice
 *   reuses, a dropped session is replaced, delete leaves nothing on either side.
 * - scp: copies are 0444, root's, immutable; create twice copies nothing; an ssh killed mid-copy
 *   resumes and converges; delete removes everything.
 * - Both: the chain pinned from `guestChain` reads exactly like the original chain on the host.
 * - Throughput of both modes for a 256 MiB file of random data.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { inspectImage } from "../../lib/inspect";
import { parseHookResult, REPO_ROOT } from "../../lib/shell";
import { bootTestGuest, BOOT_TIMEOUT_MS, DESTROY_TIMEOUT_MS, TestGuest } from "../../test/guest/harness";
import { ImageTransferArgs, TransferManifest } from "./args";
import { pinnedChainFilename } from "./plan";
import { alive, argvOf, descendants, gone } from "../../test/support/processes";
import {
  custodyLines,
  fileSha256,
  HookRun,
  readBackResults,
  startReadWriteAttempt,
  transferDriver,
  TransferDriver,
  pipePids as recordedPipePids,
} from "../../test/support/transfer-driver";
import { makeRawEvidence } from "../../test/support/transfer-evidence";

jest.setTimeout(20 * 60_000);

const MIB = 1 << 20;
const RAW_MIB = 256;

let dir: string;
let stateDir: string;
let custodyLog: string;
let guest: TestGuest;
let chain: ImageTransferArgs["manifest"];
let chainTop: string;
let raw: TransferManifest;
const drivers: TransferDriver[] = [];
const measured: Record<string, string> = {};

const sha256 = fileSha256;
const custody = (): any[] => custodyLines(custodyLog);

async function sh(script: string): Promise<string> {
  const r = await guest.ssh(script);
  if (r.code !== 0) throw new Error(`guest command failed (rc ${r.code}): ${script}\n${r.stderr}`);
  return r.stdout;
}

function succeeded(r: HookRun): void {
  if (r.status !== 0) throw new Error(`hook failed (rc ${r.status}):\n${r.stderr}`);
}

function ok(r: HookRun): any {
  if (r.status !== 0) throw new Error(`hook failed (rc ${r.status}):\n${r.stderr}`);
  return parseHookResult(r.stdout);
}

function driver(mode: "sshfs" | "scp", manifest: ImageTransferArgs["manifest"], imageName: string): TransferDriver {
  const d = transferDriver(guest.connection, {
    imageName,
    manifest,
    mode,
    readOnly: true,
    hashed: true,
    custodyLogPath: custodyLog,
    examiner: "examiner 'E' $(x)",
    stateDir,
  });
  drivers.push(d);
  return d;
}

/** The raw content of the host's original chain, as qemu reads it through the parent hints. */
function hostChainSha256(): string {
  const out = path.join(dir, "chain.raw");
  execFileSync("qemu-img", ["convert", "-f", "vmdk", "-O", "raw", chainTop, out]);
  const digest = sha256(out);
  fs.rmSync(out);
  return digest;
}

/** The same through the chain pinned from guest paths, inside the guest. */
async function guestChainSha256(d: TransferDriver): Promise<string> {
  const pinned = pinnedChainFilename(d.plan.guestChain);
  const out = await sh(`set -euo pipefail
qemu-img convert -O raw ${shq(pinned)} /root/chain.raw
sha256sum /root/chain.raw | cut -d' ' -f1
rm -f /root/chain.raw`);
  return out.trim();
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Every TCP socket in the guest, with its process: "State Local Peer users:(...)" lines. */
async function guestTcp(): Promise<string[]> {
  return (await sh("ss -Htanp")).trim().split("\n").filter(Boolean);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "xfer-guest-"));
  const evidenceDir = path.join(dir, "case 'A' $(touch /tmp/forensic-lab-pwned) `id` files");
  stateDir = path.join(dir, "state 'S' $(x)");
  custodyLog = path.join(stateDir, "custody.jsonl");
  const made = execFileSync("bash", [path.join(REPO_ROOT, "scripts/make-evidence.sh"), evidenceDir], { encoding: "utf8" });
  chainTop = made.trim().split("\n").pop()!;
  chain = await inspectImage(chainTop);
  raw = makeRawEvidence(path.join(dir, "raw 'r' $(x)"), RAW_MIB).manifest;
  guest = await bootTestGuest({ name: "xfer" });
}, BOOT_TIMEOUT_MS);

afterAll(async () => {
  for (const d of drivers.reverse()) await d.destroy();
  await guest?.destroy();
  if (Object.keys(measured).length > 0) console.log(`image-transfer measurements:\n${JSON.stringify(measured, null, 2)}`);
  execFileSync("chmod", ["-R", "u+w", dir]);
  fs.rmSync(dir, { recursive: true, force: true });
  expect(fs.existsSync("/tmp/forensic-lab-pwned")).toBe(false);
}, DESTROY_TIMEOUT_MS + 300_000);

test("the evidence has two folders and an absolute parent hint the guest cannot follow", () => {
  expect(new Set(chain.files.map((f) => path.dirname(f.path))).size).toBe(2);
  expect(fs.readFileSync(chainTop, "latin1")).toMatch(/parentFileNameHint="\/.*win7-000001\.vmdk"/);
});

describe("sshfs", () => {
  const pipePids = (d: TransferDriver) => recordedPipePids(stateDir, d);

  test("one read-only mount per folder; every file readable, 0444 root, hashes equal to the host's", async () => {
    const d = driver("sshfs", chain, "win7");
    const result = ok(await d.create());
    expect(result.pipesStarted).toEqual([0, 1]);
    expect(result.files).toEqual(readBackResults(d.plan));
    const listing = await sh(`for f in ${d.plan.files.map((f) => shq(f.guestPath)).join(" ")}; do stat -c '%a %U:%G %s %n' "$f"; done`);
    const expected = d.plan.files.map((f) => `444 root:root ${f.size} ${f.guestPath}`);
    expect(listing.trim().split("\n")).toEqual(expected);
    const mounts = await sh(`findmnt -rn -o TARGET,FSTYPE,OPTIONS`);
    const sshfs = mounts
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("/evidence/win7/"));
    expect(sshfs).toHaveLength(2);
    for (const line of sshfs) expect(line).toMatch(/ fuse\.sshfs ro,/);
    expect(custody().filter((l) => l.image === "win7" && l.action === "guest-verify" && l.side === "guest")).toHaveLength(
      chain.files.length,
    );
  });

  test("the guest opens no connection: its only TCP sockets are sshd's inbound ones", async () => {
    const sockets = await guestTcp();
    const established = sockets.filter((l) => l.startsWith("ESTAB"));
    expect(established.length).toBeGreaterThanOrEqual(3); // two sftp sessions and this ssh
    for (const line of sockets) {
      if (line.startsWith("LISTEN")) continue;
      // Inbound only: the guest's end of every socket is sshd's port 22 (closed ones linger in TIME-WAIT).
      expect(line).toMatch(/^(ESTAB|TIME-WAIT|FIN-WAIT-\d|CLOSE-WAIT|LAST-ACK|CLOSING)\s+\d+\s+\d+\s+\S+:22\s/);
      if (line.startsWith("ESTAB")) expect(line).toMatch(/users:\(\("sshd"/);
    }
  });

  test("writes fail; a guest that mounts read-WRITE is refused by the host side", async () => {
    const d = drivers.find((x) => x.args.imageName === "win7")!;
    const file = shq(d.plan.guestChain[0].path);
    const folder = shq(d.plan.folders[0].guestFolder);
    const writes = (target: string, dirName: string) => `
{ echo x >> ${target}; } 2>&1 && echo WROTE
touch ${dirName}/new 2>&1 && echo WROTE
rm -f ${target} 2>&1 && echo WROTE
mv ${target} ${dirName}/moved 2>&1 && echo WROTE
chmod 0777 ${target} 2>&1 && echo WROTE
true`;
    const before = d.plan.files.map((f) => sha256(f.hostPath));
    const ro = await guest.ssh(writes(file, folder));
    expect(ro.stdout).not.toContain("WROTE");
    expect(ro.stdout).toMatch(/Read-only file system/);

    // The hostile variant: the guest's end of a pipe mounts without ro.
    const { pid } = await startReadWriteAttempt(guest.connection, {
      hostFiles: d.plan.folders[0].files.map((f) => f.hostPath),
      mountPoint: "/root/rw-attempt",
      stateDir: path.join(dir, "rw state"),
    });
    expect((await sh(`for i in $(seq 100); do findmnt -rn -o OPTIONS -M /root/rw-attempt && break; sleep 0.2; done`)).trim()).toMatch(
      /^rw,/,
    );
    const rwFile = shq(`/root/rw-attempt/${path.basename(d.plan.folders[0].files[0].hostPath)}`);
    const rw = await guest.ssh(writes(rwFile, "/root/rw-attempt"));
    expect(rw.stdout).not.toContain("WROTE");
    expect(rw.stdout).toMatch(/Permission denied/);
    expect(rw.stdout).not.toMatch(/Read-only file system/);
    await sh("fusermount3 -u /root/rw-attempt && rmdir /root/rw-attempt");
    expect(await gone(pid, 10000)).toBe(true);
    expect(d.plan.files.map((f) => sha256(f.hostPath))).toEqual(before);
  });

  test("the chain pinned from guestChain reads exactly like the original on the host", async () => {
    const d = drivers.find((x) => x.args.imageName === "win7")!;
    // Unpinned, the top's absolute parent hint names a host path: the guest cannot open the chain.
    const unpinned = await guest.ssh(`qemu-img info --backing-chain -f vmdk ${shq(d.plan.guestChain[0].path)}`);
    expect(unpinned.code).not.toBe(0);
    expect(await guestChainSha256(d)).toBe(hostChainSha256());
    const map = JSON.parse(await sh(`qemu-img map --output=json ${shq(pinnedChainFilename(d.plan.guestChain))}`));
    expect(new Set(map.filter((m: any) => m.data).map((m: any) => m.depth))).toEqual(new Set([0, 1, 2]));
  });

  test("create again reuses the live pipes: no second mount", async () => {
    const d = drivers.find((x) => x.args.imageName === "win7")!;
    const before = pipePids(d);
    const result = ok(await d.create());
    expect(result).toMatchObject({ pipesStarted: [], pipesReused: [0, 1] });
    expect(pipePids(d)).toEqual(before);
    expect((await sh(`findmnt -rn -t fuse.sshfs -o TARGET | grep -c '^/evidence/win7/'`)).trim()).toBe("2");
  });

  test("a dropped session (its ssh killed) is replaced by the next create", async () => {
    const d = drivers.find((x) => x.args.imageName === "win7")!;
    const [pipe] = pipePids(d);
    const ssh = descendants(pipe).filter((pid) => argvOf(pid)[0] === "ssh");
    expect(ssh).toHaveLength(1);
    process.kill(ssh[0], "SIGKILL");
    expect(await gone(pipe, 10000)).toBe(true);
    const result = ok(await d.create());
    expect(result).toMatchObject({ pipesStarted: [0], pipesReused: [1] });
    expect((await sh(`findmnt -rn -t fuse.sshfs -o TARGET | grep -c '^/evidence/win7/'`)).trim()).toBe("2");
  });

  test("delete unmounts in the guest and leaves nothing on the host; twice is fine", async () => {
    const d = drivers.find((x) => x.args.imageName === "win7")!;
    const processes = pipePids(d).flatMap((p) => [p, ...descendants(p)]);
    expect(processes.map((p) => argvOf(p)[0]).filter((a) => a?.endsWith("sftp-server"))).toHaveLength(2);
    succeeded(await d.destroy());
    expect((await sh(`findmnt -rn -t fuse.sshfs -o TARGET || true; test ! -e /evidence/win7 && echo gone`)).trim()).toBe("gone");
    expect(processes.filter(alive).map((p) => argvOf(p).join(" "))).toEqual([]);
    expect(fs.existsSync(path.join(stateDir, "image-transfer", "win7"))).toBe(false);
    expect(custody().filter((l) => l.image === "win7" && l.action === "guest-unmount")).toHaveLength(chain.files.length);
    succeeded(await d.destroy());
    expect((await guestTcp()).filter((l) => l.startsWith("ESTAB"))).toHaveLength(1); // this ssh only
  });
});

describe("scp", () => {
  test("copies land 0444, root's, immutable, hashes equal; the pinned chain reads like the original", async () => {
    const d = driver("scp", chain, "win7c");
    const result = ok(await d.create());
    expect(result.files.every((f: any) => f.copied && f.guestSha256 === f.hostSha256)).toBe(true);
    for (const [i, f] of d.plan.files.entries()) expect(result.files[i].guestSha256).toBe(sha256(f.hostPath));
    const listing = await sh(
      `for f in ${d.plan.files.map((f) => shq(f.guestPath)).join(" ")}; do stat -c '%a %U:%G %s' "$f"; lsattr "$f" | cut -c1-20; done`,
    );
    const lines = listing.trim().split("\n");
    for (const [i, f] of d.plan.files.entries()) {
      expect(lines[2 * i]).toBe(`444 root:root ${f.size}`);
      expect(lines[2 * i + 1]).toMatch(/i/);
    }
    const write = await guest.ssh(`{ echo x >> ${shq(d.plan.files[0].guestPath)}; } 2>&1 || true`);
    expect(write.stdout).toMatch(/Operation not permitted/);
    expect(await guestChainSha256(d)).toBe(hostChainSha256());
    expect(custody().filter((l) => l.image === "win7c" && l.action === "guest-copy")).toHaveLength(chain.files.length);
  });

  test("create again copies nothing", async () => {
    const d = drivers.find((x) => x.args.imageName === "win7c")!;
    const inodes = await sh(`stat -c %i ${d.plan.files.map((f) => shq(f.guestPath)).join(" ")}`);
    const result = ok(await d.create());
    expect(result.files.every((f: any) => f.copied === false)).toBe(true);
    expect(await sh(`stat -c %i ${d.plan.files.map((f) => shq(f.guestPath)).join(" ")}`)).toBe(inodes);
  });

  test("delete removes every copy and folder; twice is fine", async () => {
    const d = drivers.find((x) => x.args.imageName === "win7c")!;
    succeeded(await d.destroy());
    expect((await sh(`test ! -e /case/images/win7c && echo gone`)).trim()).toBe("gone");
    succeeded(await d.destroy());
  });

  test("an ssh killed mid-copy: the next create resumes and converges", async () => {
    const d = driver("scp", raw, "raw-scp");
    const file = d.plan.files[0].hostPath;
    let killedAt = 0;
    let poll: NodeJS.Timeout | undefined;
    const first = await d
      .create((bash) => {
        poll = setInterval(() => {
          const tree = descendants(bash);
          // The host reads evidence with `dd if=FILE iflag=noatime` (host-evidence-read.sh); dd reads it as its fd 0.
          const reader = tree.find((pid) => argvOf(pid)[0] === "dd" && argvOf(pid).includes(`if=${file}`));
          if (!reader) return;
          let pos = 0;
          try {
            pos = Number(/pos:\s+(\d+)/.exec(fs.readFileSync(`/proc/${reader}/fdinfo/0`, "utf8"))?.[1] ?? 0);
          } catch {
            return;
          }
          if (pos < 64 * MIB) return;
          clearInterval(poll);
          const ssh = tree.find((pid) => argvOf(pid)[0] === "ssh");
          if (ssh) {
            killedAt = pos;
            process.kill(ssh, "SIGKILL");
          }
        }, 20);
      })
      .finally(() => clearInterval(poll)); // a poll that never found its moment must not keep jest alive
    expect(killedAt).toBeGreaterThan(0);
    expect(first.status).not.toBe(0);
    expect(first.stderr).toContain("run again to resume");
    const partial = `${path.posix.dirname(d.plan.files[0].guestPath)}/.${path.posix.basename(d.plan.files[0].guestPath)}.partial`;
    expect((await sh(`test ! -e ${shq(d.plan.files[0].guestPath)} && echo absent`)).trim()).toBe("absent");

    const second = await d.create();
    const result = ok(second);
    expect(result.files[0]).toMatchObject({ copied: true, guestSha256: sha256(file) });
    expect((await sh(`test ! -e ${shq(partial)} && stat -c '%a %b %B' ${shq(d.plan.files[0].guestPath)}`)).trim()).toMatch(/^444 /);
    const [, blocks, blockSize] = (await sh(`stat -c '%a %b %B' ${shq(d.plan.files[0].guestPath)}`)).trim().split(" ").map(Number);
    expect(blocks * blockSize).toBeLessThan((RAW_MIB - 15) * MIB); // the 16 MiB hole stayed a hole
    const actions = custody()
      .filter((l) => l.image === "raw-scp" && l.side === "guest")
      .map((l) => l.action);
    expect(actions).toEqual(["guest-copy-failed", "guest-copy"]);
    const copyLine = custody().filter((l) => l.image === "raw-scp" && l.action === "guest-copy")[0];
    const seconds = Number(/; (\d+)s$/.exec(copyLine.detail)![1]);
    measured.scpCopyAndGuestHash = `${RAW_MIB} MiB in ${second.seconds.toFixed(1)} s whole hook (${(RAW_MIB / second.seconds).toFixed(1)} MiB/s); copy+guest sha256 of the file ${seconds} s`;
    succeeded(await d.destroy());
  });
});

test("throughput, sshfs: mount and hash, then a cold sequential read", async () => {
  const d = driver("sshfs", raw, "raw-sshfs");
  const created = await d.create();
  ok(created);
  measured.sshfsMountAndGuestHash = `${RAW_MIB} MiB in ${created.seconds.toFixed(1)} s whole hook (${(RAW_MIB / created.seconds).toFixed(1)} MiB/s)`;
  const read = await sh(`sync; echo 3 > /proc/sys/vm/drop_caches
start=$(date +%s.%N); dd if=${shq(d.plan.files[0].guestPath)} of=/dev/null bs=1M status=none; end=$(date +%s.%N)
echo "$start $end"`);
  const [start, end] = read.trim().split(" ").map(Number);
  measured.sshfsColdRead = `${RAW_MIB} MiB in ${(end - start).toFixed(1)} s (${(RAW_MIB / (end - start)).toFixed(1)} MiB/s)`;
  const local = await sh(`head -c ${64 * MIB} /dev/urandom > /root/x; sync; echo 3 > /proc/sys/vm/drop_caches
start=$(date +%s.%N); sha256sum /root/x >/dev/null; end=$(date +%s.%N); rm -f /root/x; echo "$start $end"`);
  const [s2, e2] = local.trim().split(" ").map(Number);
  measured.guestSha256Local = `64 MiB in ${(e2 - s2).toFixed(1)} s (${(64 / (e2 - s2)).toFixed(1)} MiB/s): the guest's own hashing speed`;
  measured.hostLoad = fs.readFileSync("/proc/loadavg", "utf8").trim();
  succeeded(await d.destroy());
});
