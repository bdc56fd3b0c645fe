/**
 * NbdAttachment and PartitionMount against a real analysis guest (one boot for the whole file).
 *
 * Evidence from `scripts/make-evidence.sh` in a host folder whose name holds spaces, quotes and `$(...)`,
 * copied with scp into a guest layout whose folders differ from the host's, so neither the relative
 * nor the absolute parent hint resolves there: only the pinned chain can open it. The hooks run as
 * the exact command text the components render (their `local.Command` create/delete, taken from a
 * mocked Pulumi run), through the real in-guest ssh wrapper.
 */
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseHookResult, REPO_ROOT, RESULT_MARKER } from "../../lib/shell";
import { LOCAL_COMMAND } from "../../lib/tokens";
import { MockRun, setupMocks } from "../../test/mocks";
import {
  BOOT_TIMEOUT_MS,
  bootTestGuest,
  commandReader,
  DESTROY_TIMEOUT_MS,
  ExecResult,
  HookCommands,
  run,
  runHookText,
  succeeded,
  TestGuest,
} from "../../test/guest/harness";
import type { NbdAttachmentArgs } from "../nbd-attachment/args";
import type { AttachResult } from "../nbd-attachment/plan";
import type { PartitionMountArgs } from "./args";
import type { MountInfo, SkippedPartition } from "./plan";
import { MadeEvidence, readMadeEvidence } from "../../scripts/made-evidence";
import { bitlockerEvidence } from "../../test/support/bitlocker-evidence";

jest.setTimeout(10 * 60_000);

const PWNED = "forensic-lab-nbd-guest-pwned";
const GUEST_ROOT = "/srv/evidence/case 1";
const GUEST_BASE = `${GUEST_ROOT}/it's the base`;
const GUEST_SNAPSHOTS = `${GUEST_ROOT}/snap $(touch ${PWNED}) shots`;
const MOUNT_ROOT = "/mnt/forensic/win 7";

let hostDir: string;
let evidence: MadeEvidence;
let guest: TestGuest;
let mocks: MockRun;
let NbdAttachment: typeof import("../nbd-attachment/NbdAttachment").NbdAttachment;
let PartitionMount: typeof import("./PartitionMount").PartitionMount;
const timings: Record<string, number[]> = {};

/** Guest path of each evidence file: base files in one folder, snapshots in another. */
const guestPathOf = (relative: string) =>
  relative.startsWith("base/") ? `${GUEST_BASE}/${path.basename(relative)}` : `${GUEST_SNAPSHOTS}/${path.basename(relative)}`;

const sha256 = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

/** Runs a test's own commands in the guest with bash, through the production in-guest wrapper. */
function guestShell(script: string): Promise<ExecResult> {
  return guest.ssh(script, { timeoutMs: 5 * 60_000 });
}

async function sh(script: string): Promise<string> {
  const r = await guestShell(script);
  if (r.code !== 0) throw new Error(`guest command failed (rc ${r.code}): ${script}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A value as one bash word, for the test's own guest commands (hooks get theirs through the prelude). */
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The create/delete text (and stdin) of a component's command `<name>-<step>`, from the mocked run. */
const commandsOf = commandReader(() => mocks, "c");

function attachCommands(args: Partial<NbdAttachmentArgs> = {}): Promise<HookCommands> {
  return commandsOf(
    (name) =>
      new NbdAttachment(name, {
        guest: guest.connection,
        imagePath: guestPathOf(evidence.top),
        format: "vmdk",
        backingChain: evidence.chain.slice(1).map((p) => ({ path: guestPathOf(p), format: "vmdk" as const })),
        readOnly: true,
        ...args,
      }),
    "attach",
  );
}

function mountCommands(args: Omit<PartitionMountArgs, "guest" | "readOnly">): Promise<HookCommands> {
  return commandsOf((name) => new PartitionMount(name, { guest: guest.connection, readOnly: true, ...args }), "mount");
}

/** Runs rendered command text as `local.Command` would, and records how long it took. */
async function runTimed(label: string, text: string): Promise<ExecResult> {
  const started = Date.now();
  const r = await runHookText(text, { timeoutMs: 5 * 60_000 });
  (timings[label] ??= []).push((Date.now() - started) / 1000);
  return r;
}

async function nbdState(device: string): Promise<{ size: number; qemuNbd: number; mounts: string }> {
  const name = device.replace("/dev/", "");
  const out = await sh(
    `cat /sys/block/${name}/size; pgrep -c -x qemu-nbd || true; findmnt -rn -o SOURCE,TARGET | grep "^${device}" || true`,
  );
  const [size, count, ...mounts] = out.split("\n");
  return { size: Number(size), qemuNbd: Number(count), mounts: mounts.join("\n").trim() };
}

async function guestSha256s(): Promise<Record<string, string>> {
  const files = evidence.files.map((f) => guestPathOf(f.path));
  const out = await sh(`sha256sum -- ${files.map(q).join(" ")}`);
  return Object.fromEntries(
    out
      .trim()
      .split("\n")
      .map((line) => [line.slice(66).replace(/^\*/, ""), line.slice(0, 64)]),
  );
}

function expectedGuestSha256s(): Record<string, string> {
  return Object.fromEntries(evidence.files.map((f) => [guestPathOf(f.path), f.sha256]));
}

function hostSha256s(): Record<string, string> {
  return Object.fromEntries(evidence.files.map((f) => [f.path, sha256(path.join(hostDir, f.path))]));
}

beforeAll(async () => {
  for (const stale of [path.join(REPO_ROOT, PWNED), path.join(os.tmpdir(), PWNED)]) fs.rmSync(stale, { force: true });
  hostDir = fs.mkdtempSync(path.join(os.tmpdir(), `forensic-lab nbd 'evidence' $(touch ${PWNED}) `));
  const made = await run(["bash", path.join(REPO_ROOT, "scripts/make-evidence.sh"), hostDir], { timeoutMs: 5 * 60_000 });
  if (made.code !== 0) throw new Error(`make-evidence.sh failed:\n${made.stderr}`);
  evidence = readMadeEvidence(hostDir);
  expect(hostSha256s()).toEqual(Object.fromEntries(evidence.files.map((f) => [f.path, f.sha256])));

  // Only the command texts are used here; the real hooks print the results. Each command gets a stand-in
  // result line of its own hook's shape (the components check it against that hook's strict schema), so
  // the components' outputs resolve.
  const standIns: Record<string, object> = {
    attach: { device: "/dev/nbd0", sectorSize: 512, label: null, partitions: [] },
    mount: { mounts: [], skipped: [] },
  };
  mocks = await setupMocks({
    outputsFor: (a) => {
      const standIn = standIns[a.name.slice(a.name.lastIndexOf("-") + 1)];
      return a.type === LOCAL_COMMAND && standIn ? { stdout: `${RESULT_MARKER}${JSON.stringify(standIn)}` } : undefined;
    },
  });
  ({ NbdAttachment } = await import("../nbd-attachment/NbdAttachment"));
  ({ PartitionMount } = await import("./PartitionMount"));

  guest = await bootTestGuest({ name: "nbd-mounts" });
  await sh(`mkdir -p -- ${q(GUEST_BASE)} ${q(GUEST_SNAPSHOTS)}`);
  // scp's SFTP mode takes the remote path literally: no remote shell sees the quotes or the `$(...)`.
  for (const f of evidence.files) await guest.copyIn(path.join(hostDir, f.path), guestPathOf(f.path));
  expect(await guestSha256s()).toEqual(expectedGuestSha256s());
}, BOOT_TIMEOUT_MS);

afterAll(async () => {
  if (guest) await guest.destroy();
  if (hostDir) {
    execFileSync("chmod", ["-R", "u+w", hostDir]);
    fs.rmSync(hostDir, { recursive: true, force: true });
  }
  console.log(
    "nbd-attachment/partition-mount timings under this machine's load (s):\n" +
      Object.entries(timings)
        .map(([k, v]) => `  ${k}: ${v.map((s) => s.toFixed(1)).join(", ")}`)
        .join("\n"),
  );
}, DESTROY_TIMEOUT_MS);

describe("the evidence in the guest", () => {
  test("its parent hints do not resolve there: the absolute one names the host's folder", async () => {
    const top = fs.readFileSync(path.join(hostDir, evidence.top), "latin1");
    expect(top).toContain(`parentFileNameHint="${hostDir}/snapshots/win7-000001.vmdk"`);
    const r = await guestShell(`qemu-img info -f vmdk --backing-chain ${q(guestPathOf(evidence.top))}`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(hostDir);
  });
});

describe("attach, mount all, read, refuse writes, unmount, detach", () => {
  let attach: HookCommands;
  let mountAll: HookCommands;
  let device: string;

  test("attach: the pinned chain is served read-only and the partition table read back", async () => {
    attach = await attachCommands();
    const result = parseHookResult<AttachResult>(succeeded(await runTimed("attach", attach.create)).stdout);
    device = result.device;
    expect(device).toMatch(/^\/dev\/nbd\d+$/);
    expect(result.label).toBe("dos");
    expect(result.partitions).toEqual(
      evidence.partitions.map((p) => ({
        number: p.number,
        node: `${device}p${p.number}`,
        startSector: p.startSector,
        sizeSectors: p.sizeSectors,
        type: p.type,
        byteOffset: p.startSector * 512,
        sectorSize: 512,
      })),
    );
    const name = device.slice(5);
    expect(
      (await sh(`cat /sys/block/${name}/ro /sys/class/block/${name}p1/ro /sys/class/block/${name}p2/ro`)).split("\n").slice(0, 3),
    ).toEqual(["1", "1", "1"]);
    expect(
      await sh(`tr '\\0' '\\n' </proc/$(awk '/^Tgid/ {print $2}' /proc/$(cat /sys/block/${name}/pid)/status)/cmdline | head -n 2`),
    ).toBe("qemu-nbd\n--read-only\n");
  });

  test("attach again: the same device, nothing new", async () => {
    const again = succeeded(await runTimed("attach (again)", attach.create));
    expect(parseHookResult<AttachResult>(again.stdout).device).toBe(device);
    expect(again.stderr).toContain("nothing changed");
    expect((await nbdState(device)).qemuNbd).toBe(1);
  });

  test("mount all: NTFS through ntfs-3g, ext4 with noload; every option read back", async () => {
    mountAll = await mountCommands({ nbdDevice: device, partition: "all", mountRoot: MOUNT_ROOT });
    const { mounts, skipped } = parseHookResult<{ mounts: MountInfo[]; skipped: SkippedPartition[] }>(
      succeeded(await runTimed("mount all", mountAll.create)).stdout,
    );
    expect(skipped).toEqual([]);
    expect(mounts.map((m) => [m.partition, m.device, m.mountPoint, m.filesystem, m.vfsType])).toEqual([
      [1, `${device}p1`, `${MOUNT_ROOT}/p1`, "ntfs", "fuseblk"],
      [2, `${device}p2`, `${MOUNT_ROOT}/p2`, "ext4", "ext4"],
    ]);
    for (const m of mounts) {
      expect(m.options[0]).toBe("ro");
      expect(m.options).toEqual(expect.arrayContaining(["nodev", "nosuid", "noexec"]));
    }
    // The kernel shows ext4's noload as norecovery.
    expect(mounts[1].options).toContain("norecovery");
    // ntfs-3g maps the owners itself: the kernel's view shows FUSE's root, the tool's options the examiner.
    expect(mounts[0].options).toEqual(expect.arrayContaining(["user_id=0", "group_id=0"]));
    expect(mounts[0].requestedOptions).toEqual(["ro", "norecover", "uid=1000", "gid=1000", "umask=0277", "nodev", "nosuid", "noexec"]);
    expect(mounts[1].requestedOptions).toEqual(["ro", "noload", "nodev", "nosuid", "noexec"]);
    expect(await sh(`stat -c '%u:%g %a' ${q(MOUNT_ROOT)} ${q(MOUNT_ROOT + "/p1/ufos/ufo.txt")}`)).toBe("1000:1000 500\n1000:1000 500\n");
  });

  test("the files read back through the whole chain; the ext4 journal was not replayed and is still dirty", async () => {
    for (const p of evidence.partitions) {
      for (const [file, content] of Object.entries(p.files)) {
        expect(await sh(`cat -- ${q(`${MOUNT_ROOT}/p${p.number}/${file}`)}`)).toBe(content);
      }
    }
    expect(await sh(`cat ${q(MOUNT_ROOT + "/p1/ufos/ufo.txt")}`)).toBe("Ufos are not real\n");
    expect(await sh(`cat ${q(MOUNT_ROOT + "/p2/journal/canary.txt")}`)).toBe("NOT REPLAYED\n");
    expect(await sh(`dumpe2fs -h ${device}p2 2>/dev/null | grep '^Filesystem features:'`)).toContain("needs_recovery");
  });

  test("mount all again: the same mounts, no second one; nor a second one elsewhere", async () => {
    const again = succeeded(await runTimed("mount all (again)", mountAll.create));
    expect(again.stderr).toContain("nothing changed");
    const elsewhere = await mountCommands({ nbdDevice: device, partition: 2, mountPoint: "/mnt/forensic/elsewhere/p2" });
    const refused = await runTimed("mount one (refused)", elsewhere.create);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(
      `partition 2 (${device}p2) is already mounted at '${MOUNT_ROOT}/p2', not at '/mnt/forensic/elsewhere/p2'`,
    );
    expect((await nbdState(device)).mounts.split("\n").sort()).toEqual([
      `${device}p1 ${MOUNT_ROOT.replace(/ /g, "\\x20")}/p1`,
      `${device}p2 ${MOUNT_ROOT.replace(/ /g, "\\x20")}/p2`,
    ]);
  });

  test("no write attempt leaves a trace", async () => {
    // The full matrix is its own block below; this is the quick check in the middle of the flow.
    const r = await guestShell(`touch ${q(MOUNT_ROOT + "/p2/new.txt")}`);
    expect(r.code).not.toBe(0);
    expect(await guestSha256s()).toEqual(expectedGuestSha256s());
  });

  test("a busy mount point stays mounted and the delete names the process holding it", async () => {
    await sh(`(cd ${q(MOUNT_ROOT + "/p2/notes")} && exec setsid sleep 600) >/dev/null 2>&1 </dev/null & echo $! >/run/nbd-test-busy.pid`);
    const pid = (await sh("cat /run/nbd-test-busy.pid")).trim();
    const r = await runTimed("unmount (busy)", mountAll.delete);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`'${MOUNT_ROOT}/p2' is busy`);
    expect(r.stderr).toContain(`pid ${pid} (sleep) cwd: ${MOUNT_ROOT}/p2/notes`);
    expect((await nbdState(device)).mounts).toContain(`${device}p2`);
    // The attachment refuses to go while a partition is mounted.
    const detach = await runTimed("detach (refused)", attach.delete);
    expect(detach.code).not.toBe(0);
    expect(detach.stderr).toContain(`${device}p2 is mounted at ${MOUNT_ROOT}/p2`);
    await sh(`kill ${pid}; while kill -0 ${pid} 2>/dev/null; do sleep 0.1; done`);
  });

  test("unmount twice, detach twice: nothing left, size 0, no qemu-nbd", async () => {
    succeeded(await runTimed("unmount", mountAll.delete));
    succeeded(await runTimed("unmount (again)", mountAll.delete));
    expect(await sh(`ls -A /mnt/forensic`)).toBe("");
    succeeded(await runTimed("detach", attach.delete));
    const again = succeeded(await runTimed("detach (again)", attach.delete));
    expect(again.stderr).toContain("nothing to undo");
    expect(await nbdState(device)).toEqual({ size: 0, qemuNbd: 0, mounts: "" });
    expect(await sh("ls -A /run/forensic-lab/nbd")).toBe("");
  });

  test("the evidence files are unchanged, in the guest and on the host", async () => {
    expect(await guestSha256s()).toEqual(expectedGuestSha256s());
    expect(hostSha256s()).toEqual(Object.fromEntries(evidence.files.map((f) => [f.path, f.sha256])));
  });
});

/** The write side of `/sys/block/<name>/stat` (requests to the partitions count into the whole device). */
interface WriteCounters {
  writeRequests: number;
  writeSectors: number;
  discardRequests: number;
  discardSectors: number;
  flushRequests: number;
}

function parseStat(line: string): WriteCounters {
  const f = line.trim().split(/\s+/).map(Number);
  return { writeRequests: f[4], writeSectors: f[6], discardRequests: f[11] ?? 0, discardSectors: f[13] ?? 0, flushRequests: f[15] ?? 0 };
}

async function writeCountersOf(name: string): Promise<WriteCounters> {
  return parseStat(await sh(`sync; cat /sys/block/${name}/stat`));
}

const countersAdded = (before: WriteCounters, after: WriteCounters): WriteCounters =>
  Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof WriteCounters]])) as unknown as WriteCounters;

/**
 * What must stay zero: every sector written and every discard. A write request of no sectors is a cache
 * flush (an fsync of the device, e2fsck does one): the kernel lets empty flushes through to a read-only
 * device by design (block/blk-core.c, bio_check_ro) and it carries no data, so it is reported, not refused.
 */
const dataWritten = (added: WriteCounters) => ({
  writeSectors: added.writeSectors,
  discardRequests: added.discardRequests,
  discardSectors: added.discardSectors,
});
const NOTHING_WRITTEN = { writeSectors: 0, discardRequests: 0, discardSectors: 0 };

/**
 * The write-block matrix, in the manner of NIST CFTT's write-blocker tests: every class of write a tool or
 * the kernel could issue against attached evidence, each judged by the nbd device's own counters and, at
 * the end, by every evidence file's sha256. A request the kernel sends to the device counts there even
 * when qemu-nbd would refuse it, so "nothing written" means the guest kernel itself never issued the write.
 */
describe("the write-block matrix: nothing reaches the device", () => {
  interface Attempt {
    /** The class of write, as the report names it. */
    what: string;
    script: string;
    /** The attempt must also fail by exit status (some tools succeed at doing nothing, see `mayExitZero`). */
    mustFail: boolean;
  }
  interface Outcome {
    what: string;
    exit: number;
    added: WriteCounters;
  }
  const outcomes: Outcome[] = [];
  let attach: HookCommands;
  let mountAll: HookCommands;
  let device: string;
  let name: string;

  async function tryAll(attempts: Attempt[]) {
    for (const a of attempts) {
      // One round trip per attempt (each costs about a second into an emulated guest): the read-only
      // flags, the counters, the attempt in its own bash, the counters again; then `blockdev --setro`,
      // since `blockdev --setrw` may clear the kernel flag, so that each attempt starts alike.
      const stat = `/sys/block/${name}/stat`;
      const [flags, before, exit, after] = (
        await sh(
          `cat /sys/block/${name}/ro /sys/class/block/${name}p1/ro /sys/class/block/${name}p2/ro | tr -d '\\n'; echo; ` +
            `sync; cat ${stat}; rc=0; bash -c ${q(a.script)} </dev/null >/dev/null 2>&1 || rc=$?; echo "$rc"; sync; cat ${stat}; ` +
            `blockdev --setro ${device} ${device}p1 ${device}p2`,
        )
      ).split("\n");
      expect({ what: a.what, readOnlyFlags: flags }).toEqual({ what: a.what, readOnlyFlags: "111" });
      const outcome = { what: a.what, exit: Number(exit), added: countersAdded(parseStat(before), parseStat(after)) };
      outcomes.push(outcome);
      expect({ what: a.what, written: dataWritten(outcome.added) }).toEqual({ what: a.what, written: NOTHING_WRITTEN });
      if (a.mustFail) expect({ what: a.what, failed: outcome.exit !== 0 }).toEqual({ what: a.what, failed: true });
    }
  }

  const write = (what: string, script: string): Attempt => ({ what, script, mustFail: true });
  /** Tools that exit 0 having found nothing they may do on a read-only device; the counters decide. */
  const mayExitZero = (what: string, script: string): Attempt => ({ what, script, mustFail: false });

  afterAll(() => {
    console.log(
      "write-block matrix (exit status; requests and sectors the device counted: writes/sectors, discards/sectors, flushes):\n" +
        outcomes
          .map((o) => {
            const c = o.added;
            return `  ${o.what}: exit ${o.exit}; ${c.writeRequests}/${c.writeSectors}, ${c.discardRequests}/${c.discardSectors}, ${c.flushRequests}`;
          })
          .join("\n"),
    );
  });

  test("attach and mount all", async () => {
    attach = await attachCommands();
    device = parseHookResult<AttachResult>(succeeded(await runTimed("attach (matrix)", attach.create)).stdout).device;
    name = device.slice(5);
    mountAll = await mountCommands({ nbdDevice: device, partition: "all", mountRoot: MOUNT_ROOT });
    succeeded(await runTimed("mount all (matrix)", mountAll.create));
  });

  test("through the mounted filesystems (NTFS p1, ext4 p2): every file operation refused", async () => {
    const attempts: Attempt[] = [];
    for (const [p, file] of [
      ["p1", "ufos/ufo.txt"],
      ["p2", "notes/layer.txt"],
    ] as const) {
      const root = `${MOUNT_ROOT}/${p}`;
      const f = q(`${root}/${file}`);
      attempts.push(
        write(`${p}: create a file`, `touch ${q(root + "/new.txt")}`),
        write(`${p}: make a folder`, `mkdir ${q(root + "/new")}`),
        write(`${p}: append`, `echo changed >> ${f}`),
        write(`${p}: overwrite in place`, `dd if=/dev/zero of=${f} bs=1 count=1 conv=notrunc`),
        write(`${p}: truncate`, `truncate -s 0 ${f}`),
        write(`${p}: unlink`, `rm -f ${f}`),
        write(`${p}: rename`, `mv ${f} ${f}.moved`),
        write(`${p}: hard link`, `ln ${f} ${q(root + "/linked")}`),
        write(`${p}: symlink`, `ln -s x ${q(root + "/symlinked")}`),
        write(`${p}: chmod`, `chmod 0777 ${f}`),
        write(`${p}: chown`, `chown 0:0 ${f}`),
        write(`${p}: set times`, `touch -d 2000-01-01 ${f}`),
        write(`${p}: set an inode flag (chattr)`, `chattr +i ${f}`),
        write(`${p}: set an extended attribute`, `setfattr -n user.forensic-lab -v changed ${f}`),
        write(`${p}: remount rw`, `mount -o remount,rw ${q(root)}`),
        write(`${p}: fstrim`, `fstrim ${q(root)}`),
      );
    }
    await tryAll(attempts);
    expect(await sh(`findmnt -rn -o OPTIONS --mountpoint ${q(MOUNT_ROOT + "/p2")}`)).toMatch(/^ro,/);
  });

  test("on the unmounted device and partitions: every block-level write, repair and format refused", async () => {
    succeeded(await runTimed("unmount (matrix)", mountAll.delete));
    await tryAll([
      write("dd to a partition", `dd if=/dev/zero of=${device}p2 bs=4096 count=1 oflag=direct`),
      write("dd to the whole device", `dd if=/dev/zero of=${device} bs=4096 count=1 oflag=direct`),
      write("buffered dd to the whole device", `dd if=/dev/zero of=${device} bs=4096 count=1 && sync`),
      write(
        "blockdev --setrw, then dd",
        `blockdev --setrw ${device} ${device}p2; dd if=/dev/zero of=${device}p2 bs=4096 count=1 oflag=direct`,
      ),
      write("blkdiscard", `blkdiscard ${device}p2`),
      write("blkdiscard --zeroout", `blkdiscard -z ${device}p2`),
      write("wipefs", `wipefs -a ${device}p2`),
      write("sfdisk: delete a partition", `sfdisk --no-reread --delete ${device} 2`),
      write("e2fsck -fy", `e2fsck -fy ${device}p2`),
      write("tune2fs: drop the journal", `tune2fs -f -O ^has_journal ${device}p2`),
      write("tune2fs: relabel", `tune2fs -L changed ${device}p2`),
      // debugfs reports the failed read-write open on stderr and still exits 0; ntfsfix exits 0 on a
      // read-only device having changed nothing. The counters decide.
      mayExitZero("debugfs -w: unlink a file", `debugfs -w -R 'rm /notes/layer.txt' ${device}p2`),
      mayExitZero("ntfsfix", `ntfsfix ${device}p1`),
      write("xfs_repair", `xfs_repair ${device}p2`),
      write("mkfs over a partition", `mkfs.ext4 -q -F ${device}p2`),
      write(
        "plain mount -o ro, ext4 (journal replay)",
        `mkdir -p /mnt/replay && mount -t ext4 -o ro ${device}p2 /mnt/replay; rc=$?; umount /mnt/replay 2>/dev/null; exit $rc`,
      ),
      mayExitZero(
        "ntfs-3g without norecover, read-only",
        `mkdir -p /mnt/replay && ntfs-3g -o ro ${device}p1 /mnt/replay; umount /mnt/replay 2>/dev/null; true`,
      ),
      mayExitZero("LVM scan and activation", `pvscan --cache; vgscan; vgchange -ay`),
    ]);
  });

  test("LVM inside evidence: activation and metadata repair write nothing", async () => {
    // A whole-disk PV with one LV, made in the guest on a loop device, then detached: evidence that
    // carries a volume group. The guest's udev and lvm2 see it appear on nbd like any other disk.
    const image = "/srv/evidence/lvm disk/pv.img";
    await sh(
      `mkdir -p ${q(path.posix.dirname(image))} && truncate -s 24M ${q(image)} && loop=$(losetup -f --show ${q(image)}) && ` +
        `pvcreate -q $loop && vgcreate -q evidencevg $loop && lvcreate -q -y -n data -L 8M evidencevg && mkfs.ext4 -q /dev/evidencevg/data && ` +
        `vgchange -q -an evidencevg && losetup -d $loop && chmod 0444 ${q(image)}`,
    );
    const sum = await sh(`sha256sum < ${q(image)}`);
    const lvmAttach = await attachCommands({ imagePath: image, format: "raw", backingChain: [] });
    const lvmDevice = parseHookResult<AttachResult>(succeeded(await runTimed("attach (lvm)", lvmAttach.create)).stdout).device;
    const lvmName = lvmDevice.slice(5);
    const before = await writeCountersOf(lvmName);
    const attempts = [
      "pvscan --cache -aay",
      "vgchange -ay evidencevg",
      "vgck --updatemetadata evidencevg",
      "vgchange --uuid evidencevg",
      "lvcreate -y -n more -L 4M evidencevg",
      "pvchange -u " + lvmDevice,
    ];
    const exits: Record<string, number> = {};
    for (const a of attempts) exits[a] = (await guestShell(`${a} >/dev/null 2>&1`)).code;
    const after = await writeCountersOf(lvmName);
    await sh("vgchange -q -an evidencevg >/dev/null 2>&1 || true");
    succeeded(await runTimed("detach (lvm)", lvmAttach.delete));
    console.log(`LVM attempts (exit status): ${JSON.stringify(exits)}`);
    expect(dataWritten(countersAdded(before, after))).toEqual(NOTHING_WRITTEN);
    // vgck --updatemetadata finds nothing to repair in a consistent VG and exits 0 without writing (the
    // counters above say so); these must fail outright.
    for (const a of ["vgchange --uuid evidencevg", "lvcreate -y -n more -L 4M evidencevg", "pvchange -u " + lvmDevice]) {
      expect({ a, failed: exits[a] !== 0 }).toEqual({ a, failed: true });
    }
    expect(await sh(`sha256sum < ${q(image)}`)).toBe(sum);
  });

  /**
   * Attaches `image` (raw, read-only), runs each attempt in its own shell and `cleanup` after each (so
   * that every attempt meets the device as the first did, not busy with what the one before left),
   * detaches; returns each exit status, and checks that the device counted no write and the image's
   * sha256 held.
   */
  async function attemptsOn(image: string, label: string, attempts: string[], cleanup: string): Promise<Record<string, number>> {
    const sum = await sh(`sha256sum < ${q(image)}`);
    const attached = await attachCommands({ imagePath: image, format: "raw", backingChain: [] });
    const dev = parseHookResult<AttachResult>(succeeded(await runTimed(`attach (${label})`, attached.create)).stdout).device;
    const before = await writeCountersOf(dev.slice(5));
    const exits: Record<string, number> = {};
    for (const a of attempts) {
      exits[a] = (await guestShell(`DEV=${dev}; rc=0; { ${a}; } >/dev/null 2>&1 || rc=$?; { ${cleanup}; } >/dev/null 2>&1; exit $rc`)).code;
    }
    const after = await writeCountersOf(dev.slice(5));
    succeeded(await runTimed(`detach (${label})`, attached.delete));
    console.log(`${label} attempts (exit status): ${JSON.stringify(exits)}`);
    expect({ label, written: dataWritten(countersAdded(before, after)) }).toEqual({ label, written: NOTHING_WRITTEN });
    expect(await sh(`sha256sum < ${q(image)}`)).toBe(sum);
    return exits;
  }

  test("md RAID1 member inside evidence: assembly, incremental, superblock updates and wipes write nothing", async () => {
    // mdadm only to make and attack the evidence: the analysis guest has none on purpose (VolumeSystems
    // reads the superblock itself and never assembles).
    await guest.copyIn("/usr/sbin/mdadm", "/usr/local/sbin/mdadm");
    const image = "/srv/evidence/md member/member.img";
    await sh(
      `mkdir -p ${q(path.posix.dirname(image))} && truncate -s 24M ${q(image)} && loop=$(losetup -f --show ${q(image)}) && ` +
        `mdadm --create /dev/md120 --run --quiet --metadata=1.2 --level=1 --raid-devices=2 $loop missing && mkfs.ext4 -q /dev/md120 && ` +
        `mdadm --stop --quiet /dev/md120 && losetup -d $loop && chmod 0444 ${q(image)}`,
    );
    const exits = await attemptsOn(
      image,
      "md",
      [
        "mdadm --assemble --run /dev/md121 $DEV",
        "mdadm --assemble --run --update=resync /dev/md122 $DEV",
        "mdadm --incremental --run $DEV",
        "mdadm --assemble --scan --run",
        "mdadm --zero-superblock $DEV",
        "mdadm --create /dev/md123 --run --metadata=1.2 --level=1 --raid-devices=2 $DEV missing",
        "wipefs -a $DEV",
      ],
      "mdadm --stop --scan",
    );
    for (const a of ["mdadm --zero-superblock $DEV", "wipefs -a $DEV"]) {
      expect({ a, failed: exits[a] !== 0 }).toEqual({ a, failed: true });
    }
  });

  test("BitLocker inside evidence: a writable open, writes through it, a format over it write nothing", async () => {
    const volume = bitlockerEvidence(hostDir);
    const image = "/srv/evidence/bitlocker disk/bitlocker.raw";
    await sh(`mkdir -p ${q(path.posix.dirname(image))}`);
    await guest.copyIn(volume.path, image);
    await sh(`chmod 0444 ${q(image)}`);
    const key = `printf '%s' ${q(volume.passphrase)}`;
    const open = `${key} | cryptsetup open --type bitlk --key-file=- $DEV fl-attack`;
    const format = `${key} | cryptsetup luksFormat -q --type luks2 --key-file=- $DEV`;
    const exits = await attemptsOn(
      image,
      "bitlocker",
      [open, `${open} && dd if=/dev/zero of=/dev/mapper/fl-attack bs=4096 count=1 oflag=direct`, format],
      "cryptsetup close fl-attack",
    );
    // cryptsetup opens BitLocker writable on a read-only device without complaint; what goes through fails.
    expect(exits[`${open} && dd if=/dev/zero of=/dev/mapper/fl-attack bs=4096 count=1 oflag=direct`]).not.toBe(0);
    expect(exits[format]).not.toBe(0);
  });

  test("detach; every evidence file's sha256 is unchanged, in the guest and on the host", async () => {
    succeeded(await runTimed("unmount (matrix, again)", mountAll.delete));
    succeeded(await runTimed("detach (matrix)", attach.delete));
    expect(await guestSha256s()).toEqual(expectedGuestSha256s());
    expect(hostSha256s()).toEqual(Object.fromEntries(evidence.files.map((f) => [f.path, f.sha256])));
  });
});

describe("when qemu-nbd dies under a mounted partition", () => {
  test("unmount and detach still succeed and leave the device at size 0", async () => {
    const attach = await attachCommands();
    const device = parseHookResult<AttachResult>(succeeded(await runTimed("attach", attach.create)).stdout).device;
    const mountPoint = "/mnt/forensic/win7-data/ext4";
    const mountOne = await mountCommands({ nbdDevice: device, partition: 2, mountPoint, extraOptions: ["noatime"] });
    const { mounts } = parseHookResult<{ mounts: MountInfo[] }>(succeeded(await runTimed("mount one", mountOne.create)).stdout);
    expect(mounts.map((m) => [m.partition, m.mountPoint, m.filesystem])).toEqual([[2, mountPoint, "ext4"]]);
    expect(mounts[0].options).toEqual(expect.arrayContaining(["ro", "noatime", "norecovery"]));

    await sh(`kill -KILL $(awk '/^Tgid/ {print $2}' /proc/$(cat /sys/block/${device.slice(5)}/pid)/status)`);
    await sh(`while pgrep -x qemu-nbd >/dev/null; do sleep 0.1; done`);
    succeeded(await runTimed("unmount (server gone)", mountOne.delete));
    succeeded(await runTimed("detach (server gone)", attach.delete));
    succeeded(await runTimed("detach (again)", attach.delete));
    expect(await nbdState(device)).toEqual({ size: 0, qemuNbd: 0, mounts: "" });
  });

  test("without mounts too: the device is cleared and the state forgotten", async () => {
    const attach = await attachCommands();
    const device = parseHookResult<AttachResult>(succeeded(await runTimed("attach", attach.create)).stdout).device;
    await sh(`kill -KILL $(awk '/^Tgid/ {print $2}' /proc/$(cat /sys/block/${device.slice(5)}/pid)/status)`);
    succeeded(await runTimed("detach (server gone)", attach.delete));
    expect(await nbdState(device)).toEqual({ size: 0, qemuNbd: 0, mounts: "" });
    expect(await sh("ls -A /run/forensic-lab/nbd")).toBe("");
  });
});

describe("last resorts and restarts", () => {
  test("lazyUnmount: a busy mount point is detached lazily and the holder reported loudly", async () => {
    const attach = await attachCommands();
    const device = parseHookResult<AttachResult>(succeeded(await runTimed("attach", attach.create)).stdout).device;
    // Right under /media: the top-level folder is left as it is, and stays after the delete.
    const mountPoint = "/media/win7-lazy";
    const media = await sh("stat -c '%U:%G %a' /media");
    const lazy = await mountCommands({ nbdDevice: device, partition: 2, mountPoint, lazyUnmount: true });
    succeeded(await runTimed("mount one", lazy.create));
    expect(await sh(`stat -c '%U:%G %a' /media ${q(mountPoint)}`)).toBe(`${media}root:root 755\n`);
    await sh(`(cd ${q(mountPoint + "/notes")} && exec setsid sleep 600) >/dev/null 2>&1 </dev/null & echo $! >/run/nbd-test-busy.pid`);
    const pid = (await sh("cat /run/nbd-test-busy.pid")).trim();
    const r = succeeded(await runTimed("unmount (busy, lazy)", lazy.delete));
    expect(r.stderr).toContain(`!!! LAZY UNMOUNT of '${mountPoint}' (${device}p2)`);
    expect(r.stderr).toContain(`pid ${pid} (sleep) cwd: ${mountPoint}/notes`);
    expect((await nbdState(device)).mounts).toBe("");
    // The filesystem lives on until its last user goes; then the device can be disconnected.
    await sh(`kill ${pid}; while kill -0 ${pid} 2>/dev/null; do sleep 0.1; done`);
    succeeded(await runTimed("detach", attach.delete));
    expect(await nbdState(device)).toEqual({ size: 0, qemuNbd: 0, mounts: "" });
    expect(await sh("ls -A /media; stat -c '%U:%G %a' /media")).toBe(media);
  });

  test("deletes succeed in the state a guest reboot leaves: nothing mounted, nbd not loaded, /run empty", async () => {
    const attach = await attachCommands();
    const device = parseHookResult<AttachResult>(succeeded(await runTimed("attach", attach.create)).stdout).device;
    const mountAll = await mountCommands({ nbdDevice: device, partition: "all", mountRoot: MOUNT_ROOT });
    succeeded(await runTimed("mount all", mountAll.create));
    // What a reboot does to the guest's state, without the minutes a reboot takes under emulation:
    // mounts and the nbd module gone, /run (tmpfs) empty; the mount points on disk remain.
    await sh(
      `umount ${q(MOUNT_ROOT + "/p1")} ${q(MOUNT_ROOT + "/p2")}; qemu-nbd -d ${device} >/dev/null; ` +
        `while pgrep -x qemu-nbd >/dev/null || pgrep -x ntfs-3g >/dev/null; do sleep 0.1; done; ` +
        `for i in $(seq 50); do rmmod nbd 2>/dev/null && break; sleep 0.1; done; ! test -d /sys/module/nbd; rm -rf /run/forensic-lab`,
    );
    expect(await sh(`ls -A ${q(MOUNT_ROOT)}`)).toBe("p1\np2\n");
    succeeded(await runTimed("unmount (after reboot)", mountAll.delete));
    const r = succeeded(await runTimed("detach (after reboot)", attach.delete));
    expect(r.stderr).toContain("the nbd module is not loaded; nothing is attached");
    expect(await sh("ls -A /mnt/forensic")).toBe("");
  });

  test("an nbd module loaded with max_part=0 is refused with what to do", async () => {
    await sh("modprobe nbd max_part=0 && cat /sys/module/nbd/parameters/max_part");
    try {
      const r = await runTimed("attach (refused)", (await attachCommands()).create);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("the nbd module is loaded with max_part=0, so partitions would never appear");
      expect(r.stderr).toContain("run 'rmmod nbd'");
    } finally {
      await sh("rmmod nbd");
    }
  });
});

describe("errors are clear and leave nothing behind", () => {
  test("a snapshot attached without its backingChain is refused, naming the parent it declares", async () => {
    const alone = await attachCommands({ backingChain: [] });
    const r = await runTimed("attach (refused)", alone.create);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`declares a parent ('${hostDir}/snapshots/win7-000001.vmdk') that backingChain does not list`);
    expect(await sh("pgrep -c -x qemu-nbd || true")).toBe("0\n");
  });

  test('a raw disk: swap is skipped by "all", refused by number, with what blkid said', async () => {
    // A raw, single-layer image made in the guest: an MBR with one swap partition.
    const rawPath = "/srv/evidence/raw disk/swap.img";
    await sh(
      `mkdir -p ${q(path.posix.dirname(rawPath))} && truncate -s 8M ${q(rawPath)} && ` +
        `echo 'start=2048, type=82' | sfdisk -q ${q(rawPath)} && ` +
        `truncate -s 7M /run/swap.part && mkswap -q /run/swap.part && ` +
        `dd if=/run/swap.part of=${q(rawPath)} bs=1M seek=1 conv=notrunc status=none && rm /run/swap.part && chmod 0444 ${q(rawPath)}`,
    );
    const attach = await attachCommands({ imagePath: rawPath, format: "raw", backingChain: [] });
    const device = parseHookResult<AttachResult>(succeeded(await runTimed("attach (raw)", attach.create)).stdout).device;

    const all = await mountCommands({ nbdDevice: device, partition: "all", mountRoot: "/mnt/forensic/raw" });
    const result = parseHookResult<{ mounts: MountInfo[]; skipped: SkippedPartition[] }>(
      succeeded(await runTimed("mount all (raw)", all.create)).stdout,
    );
    expect(result.mounts).toEqual([]);
    expect(result.skipped).toEqual([{ partition: 1, device: `${device}p1`, reason: expect.stringContaining("TYPE=swap") }]);

    const one = await mountCommands({ nbdDevice: device, partition: 1, mountPoint: "/mnt/forensic/raw-one/p1" });
    const refused = await runTimed("mount one (refused)", one.create);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`partition 1 (${device}p1): no read-only mount is known for what blkid found: TYPE=swap`);

    const missing = await mountCommands({ nbdDevice: device, partition: 3, mountPoint: "/mnt/forensic/raw-one/p3" });
    const noSuch = await runTimed("mount one (refused)", missing.create);
    expect(noSuch.code).not.toBe(0);
    expect(noSuch.stderr).toContain(`partition 3: ${device}p3 does not exist`);

    for (const commands of [all, one, missing]) succeeded(await runTimed("unmount", commands.delete));
    succeeded(await runTimed("detach (raw)", attach.delete));
    expect(await nbdState(device)).toEqual({ size: 0, qemuNbd: 0, mounts: "" });
    expect(await sh("ls -A /mnt/forensic")).toBe("");
  });
});

describe("a filesystem on the whole disk, without a partition table", () => {
  test('is partition 0: mounted by "all" and by number, read-only, nothing written; partition 0 of a partitioned disk is refused', async () => {
    // A raw image made in the guest: ext4 written straight onto the disk, one known file.
    const rawPath = "/srv/evidence/whole disk/ext4.img";
    await sh(
      `mkdir -p ${q(path.posix.dirname(rawPath))} /run/whole/notes && echo 'no partition table' >/run/whole/notes/where.txt && ` +
        `truncate -s 16M ${q(rawPath)} && mkfs.ext4 -q -F -L whole -d /run/whole ${q(rawPath)} && rm -r /run/whole && chmod 0444 ${q(rawPath)}`,
    );
    const attach = await attachCommands({ imagePath: rawPath, format: "raw", backingChain: [] });
    // Undone whatever fails below (each delete is safe to run twice): a failure here must not leave a
    // mount under /mnt/forensic for the next test to trip over.
    const undo = [attach.delete];
    try {
      const attached = parseHookResult<AttachResult>(succeeded(await runTimed("attach (whole disk)", attach.create)).stdout);
      const device = attached.device;
      expect([attached.label, attached.partitions]).toEqual([null, []]);

      const all = await mountCommands({ nbdDevice: device, partition: "all", mountRoot: "/mnt/forensic/whole" });
      undo.push(all.delete);
      const result = parseHookResult<{ mounts: MountInfo[]; skipped: SkippedPartition[] }>(
        succeeded(await runTimed("mount all (whole disk)", all.create)).stdout,
      );
      expect(result.skipped).toEqual([]);
      expect(result.mounts.map((m) => [m.partition, m.device, m.mountPoint, m.filesystem, m.options[0]])).toEqual([
        [0, device, "/mnt/forensic/whole/p0", "ext4", "ro"],
      ]);
      expect(result.mounts[0].options).toEqual(expect.arrayContaining(["nodev", "nosuid", "noexec", "norecovery"]));
      expect(await sh("runuser -u examiner -- cat /mnt/forensic/whole/p0/notes/where.txt")).toBe("no partition table\n");
      expect((await guestShell("touch /mnt/forensic/whole/p0/new")).stderr).toContain("Read-only file system");
      succeeded(await runTimed("unmount (whole disk)", all.delete));

      const byNumber = await mountCommands({ nbdDevice: device, partition: 0, mountPoint: "/mnt/forensic/whole-0/disk" });
      undo.push(byNumber.delete);
      succeeded(await runTimed("mount 0 (whole disk)", byNumber.create));
      expect(await sh("cat /mnt/forensic/whole-0/disk/notes/where.txt")).toBe("no partition table\n");
      succeeded(await runTimed("unmount (whole disk)", byNumber.delete));
      expect(await nbdState(device)).toMatchObject({ mounts: "" });
      const stat = (await sh(`sync; cat /sys/block/${device.slice(5)}/stat`)).trim().split(/\s+/).map(Number);
      expect([stat[4], stat[6]]).toEqual([0, 0]);
      succeeded(await runTimed("detach (whole disk)", attach.delete));

      // The evidence disk has a partition table: partition 0 would mount the wrong thing.
      const chain = await attachCommands();
      undo.push(chain.delete);
      const chained = parseHookResult<AttachResult>(succeeded(await runTimed("attach", chain.create)).stdout).device;
      const zero = await mountCommands({ nbdDevice: chained, partition: 0, mountPoint: "/mnt/forensic/zero/disk" });
      undo.push(zero.delete);
      const refused = await runTimed("mount 0 (refused)", zero.create);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain(
        `partition 0 (the whole disk) of ${chained}: the disk has a partition table; name a partition from 1`,
      );
      succeeded(await runTimed("unmount", zero.delete));
      succeeded(await runTimed("detach", chain.delete));
      undo.length = 0; // all undone on the way
    } finally {
      for (const text of undo.reverse()) await runHookText(text, { timeoutMs: 5 * 60_000 });
    }
    expect(await sh("ls -A /mnt/forensic")).toBe("");
  });
});

/**
 * Every filesystem the lab mounts, each written straight onto a disk of its own (partition 0) with one
 * known file: made on the host where its tools write into a file (ext2/3, btrfs, FAT, ISO 9660, UDF,
 * F2FS), in the guest where only a mount can fill it (exFAT) or leave its log dirty (XFS). Each is
 * attached raw and mounted by "all": read-only, read as the examiner, writes refused, no request written.
 */
describe("the filesystem matrix: each filesystem mounted read-only for real, nothing written", () => {
  const KNOWN = "known contents\n";
  const GUEST_DIR = "/srv/evidence/matrix";
  let hostMatrix: string;

  const copyIn = (file: string, guestPath: string) => guest.copyIn(file, guestPath);

  beforeAll(async () => {
    // A plain folder, not hostDir: mtools hands a file name holding shell characters to /bin/sh to
    // expand it (the `$(touch ...)` in hostDir would run). The lab itself never runs mtools.
    hostMatrix = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-matrix-"));
    const tree = path.join(hostMatrix, "tree");
    fs.mkdirSync(path.join(tree, "notes"), { recursive: true });
    fs.writeFileSync(path.join(tree, "notes", "known.txt"), KNOWN);
    const image = (name: string) => path.join(hostMatrix, name);
    const make = (program: string, args: string[]) => execFileSync(program, args, { stdio: ["ignore", "ignore", "pipe"] });
    for (const [name, mib] of [
      ["ext2", 16],
      ["ext3", 16],
      ["btrfs", 128],
      ["vfat", 16],
      ["f2fs", 64],
    ] as const) {
      make("truncate", ["-s", `${mib}M`, image(`${name}.img`)]);
    }
    make("mkfs.ext2", ["-q", "-F", "-d", tree, image("ext2.img")]);
    make("mkfs.ext3", ["-q", "-F", "-d", tree, image("ext3.img")]);
    make("mkfs.btrfs", ["-q", "--rootdir", tree, image("btrfs.img")]);
    make("mkfs.vfat", ["-n", "MATRIX", image("vfat.img")]);
    make("mmd", ["-i", image("vfat.img"), "::/notes"]);
    make("mcopy", ["-i", image("vfat.img"), path.join(tree, "notes", "known.txt"), "::/notes/known.txt"]);
    make("mkfs.f2fs", ["-q", "-f", image("f2fs.img")]);
    make("genisoimage", ["-quiet", "-R", "-J", "-V", "MATRIX", "-o", image("iso9660.img"), tree]);
    make("genisoimage", ["-quiet", "-udf", "-V", "MATRIX", "-o", image("udf.img"), tree]);
    await sh(`mkdir -p ${q(GUEST_DIR)}`);
    for (const name of ["ext2", "ext3", "btrfs", "vfat", "f2fs", "iso9660", "udf"])
      await copyIn(image(`${name}.img`), `${GUEST_DIR}/${name}.img`);
    // exFAT is filled, and XFS's log left dirty, through a scratch loop mount in the guest (never on the host).
    await sh(
      [
        "set -e",
        `cd ${q(GUEST_DIR)}`,
        "mkdir -p /run/scratch",
        "truncate -s 16M exfat.img && mkfs.exfat exfat.img >/dev/null",
        "mount -o loop exfat.img /run/scratch && mkdir /run/scratch/notes && printf 'known contents\\n' >/run/scratch/notes/known.txt && umount /run/scratch",
        "truncate -s 320M xfs.img && mkfs.xfs -q xfs.img",
        // known.txt reaches its place on disk (a clean unmount writes back what sync only logs) ...
        "mount -o loop xfs.img /run/scratch && mkdir /run/scratch/notes && printf 'known contents\\n' >/run/scratch/notes/known.txt && umount /run/scratch",
        "mount -o loop xfs.img /run/scratch",
        // ... then a committed change stays only in the log: shutdown -f flushes the log and stops all metadata writeback.
        "touch /run/scratch/notes/in-the-log-only && xfs_io -x -c 'shutdown -f' /run/scratch && umount /run/scratch",
        "chmod 0444 *.img",
      ].join("\n"),
    );
    expect(await xfsLogIsDirty()).toBe(true);
  }, 10 * 60_000);

  /** Whether xfs.img's log still holds changes a mount would replay (xfs_repair -n only reads). */
  async function xfsLogIsDirty(): Promise<boolean> {
    const r = await guestShell(`xfs_repair -n ${q(`${GUEST_DIR}/xfs.img`)} 2>&1`);
    return /metadata changes in a log/.test(r.stdout + r.stderr);
  }

  afterAll(() => {
    if (hostMatrix) fs.rmSync(hostMatrix, { recursive: true, force: true });
  });

  const mountable = ["ext2", "ext3", "xfs", "btrfs", "vfat", "exfat", "iso9660", "udf"] as const;
  test.each(mountable)("%s", async (fstype) => {
    const imagePath = `${GUEST_DIR}/${fstype}.img`;
    const before = await sh(`sha256sum < ${q(imagePath)}`);
    const attach = await attachCommands({ imagePath, format: "raw", backingChain: [] });
    const device = parseHookResult<AttachResult>(succeeded(await runTimed(`attach (${fstype})`, attach.create)).stdout).device;
    const root = `/mnt/forensic/matrix-${fstype}`;
    const all = await mountCommands({ nbdDevice: device, partition: "all", mountRoot: root });
    const { mounts, skipped } = parseHookResult<{ mounts: MountInfo[]; skipped: SkippedPartition[] }>(
      succeeded(await runTimed(`mount (${fstype})`, all.create)).stdout,
    );
    expect(skipped).toEqual([]);
    expect(mounts.map((m) => [m.partition, m.device, m.filesystem, m.options[0]])).toEqual([[0, device, fstype, "ro"]]);
    expect(mounts[0].options).toEqual(expect.arrayContaining(["nodev", "nosuid", "noexec"]));
    const journalSafe: Partial<Record<string, string>> = { ext3: "norecovery", xfs: "norecovery", btrfs: "rescue=nologreplay" };
    if (journalSafe[fstype]) expect(mounts[0].options).toContain(journalSafe[fstype]);
    // XFS: what only the dirty log holds stays unseen, and the log stays dirty; the rest reads as made.
    expect(await sh(`runuser -u examiner -- cat ${q(`${root}/p0/notes/known.txt`)}`)).toBe(KNOWN);
    if (fstype === "xfs") expect(await sh(`ls ${q(`${root}/p0/notes`)}`)).toBe("known.txt\n");
    const write = await guestShell(`touch ${q(`${root}/p0/notes/new`)}`);
    expect(write.code).not.toBe(0);
    succeeded(await runTimed(`unmount (${fstype})`, all.delete));
    // As in the write-block matrix: no sector written or discarded. XFS and btrfs send a cache flush (a
    // write request of 0 sectors) when they unmount, even read-only; it carries no data.
    const counted = parseStat(await sh(`sync; cat /sys/block/${device.slice(5)}/stat`));
    expect(dataWritten(counted)).toEqual(NOTHING_WRITTEN);
    succeeded(await runTimed(`detach (${fstype})`, attach.delete));
    expect(await sh(`sha256sum < ${q(imagePath)}`)).toBe(before);
    if (fstype === "xfs") expect(await xfsLogIsDirty()).toBe(true);
  });

  test('F2FS, which the guest kernel cannot read: skipped by "all" with the reason, refused by number', async () => {
    const imagePath = `${GUEST_DIR}/f2fs.img`;
    const attach = await attachCommands({ imagePath, format: "raw", backingChain: [] });
    const device = parseHookResult<AttachResult>(succeeded(await runTimed("attach (f2fs)", attach.create)).stdout).device;
    const all = await mountCommands({ nbdDevice: device, partition: "all", mountRoot: "/mnt/forensic/matrix-f2fs" });
    const result = parseHookResult<{ mounts: MountInfo[]; skipped: SkippedPartition[] }>(
      succeeded(await runTimed("mount all (f2fs)", all.create)).stdout,
    );
    expect(result.mounts).toEqual([]);
    expect(result.skipped).toEqual([
      {
        partition: 0,
        device,
        reason: expect.stringMatching(/^no read-only mount is known for this filesystem in the guest \(blkid: TYPE=f2fs/),
      },
    ]);
    const one = await mountCommands({ nbdDevice: device, partition: 0, mountPoint: "/mnt/forensic/matrix-f2fs-0/disk" });
    const refused = await runTimed("mount 0 (f2fs, refused)", one.create);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`partition 0 (${device}): no read-only mount is known for what blkid found: TYPE=f2fs`);
    for (const commands of [all, one]) succeeded(await runTimed("unmount", commands.delete));
    succeeded(await runTimed("detach (f2fs)", attach.delete));
    expect(await sh("ls -A /mnt/forensic")).toBe("");
  });
});

describe("when the guest is gone", () => {
  test("every delete hook succeeds without it; nothing ran anything", async () => {
    const attach = await attachCommands();
    const mountAll = await mountCommands({ nbdDevice: "/dev/nbd0", partition: "all", mountRoot: MOUNT_ROOT });
    await guest.destroy();
    for (const text of [mountAll.delete, attach.delete]) {
      const r = succeeded(await runHookText(text, { timeoutMs: 60_000 }));
      expect(r.stderr).toContain("is gone; nothing to undo inside it");
    }
    expect(fs.existsSync(path.join(REPO_ROOT, PWNED)) || fs.existsSync(path.join(os.tmpdir(), PWNED))).toBe(false);
  });
});
