/**
 * EWF (E01) sets in a real analysis guest, one boot for the whole file: ImageTransfer's acquisition
 * check (ewfverify in the guest), NbdAttachment's `ewfmount -X ro` under qemu-nbd, PartitionMount on
 * top, and the way back. The set is made here by ewfacquire (test/support/ewf-evidence.ts), copied
 * into a guest folder whose name is hostile to shells, and every step runs the exact command text the
 * components render (taken from a mocked Pulumi run) through the real in-guest ssh wrapper.
 * (NbdAttachment's hooks for the qemu formats are proven in PartitionMount.guest.test.ts.)
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { inspectImage, type ImageManifest } from "../../lib/inspect";
import { parseHookResult, RESULT_MARKER } from "../../lib/shell";
import { LOCAL_COMMAND } from "../../lib/tokens";
import { MockRun, setupMocks } from "../../test/mocks";
import {
  BOOT_TIMEOUT_MS,
  bootTestGuest,
  commandReader,
  DESTROY_TIMEOUT_MS,
  HookCommands,
  runHookText,
  succeeded,
  TestGuest,
} from "../../test/guest/harness";
import { EWF_FAT_TEXT, EWF_UFO_TEXT, EwfEvidence, makeEwfEvidence } from "../../test/support/ewf-evidence";
import { manifestSchema } from "../image-transfer/args";
import { planTransfer } from "../image-transfer/plan";
import type { AttachResult } from "./plan";
import type { MountInfo } from "../partition-mount/plan";

jest.setTimeout(10 * 60_000);

const GUEST_ROOT = "/srv/evidence/e01 'set' $(id)";
const GUEST_FOLDER = `${GUEST_ROOT}/layer-folders/0`;
const MOUNT_ROOT = "/mnt/forensic/e01";

let hostDir: string;
let evidence: EwfEvidence;
let manifest: ImageManifest;
let custodyLog: string;
let guest: TestGuest;
let mocks: MockRun;
let components: {
  ImageTransfer: typeof import("../image-transfer/ImageTransfer").ImageTransfer;
  NbdAttachment: typeof import("./NbdAttachment").NbdAttachment;
  PartitionMount: typeof import("../partition-mount/PartitionMount").PartitionMount;
};

const sha256 = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
const guestSegments = (folder = GUEST_FOLDER) => evidence.segments.map((s) => `${folder}/${path.basename(s)}`);
/** A value as one bash word, for the test's own guest commands (hooks get theirs through the prelude). */
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function sh(script: string): Promise<string> {
  const r = await guest.ssh(script, { timeoutMs: 5 * 60_000 });
  if (r.code !== 0) throw new Error(`guest command failed (rc ${r.code}): ${script}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The create/delete text (and stdin) of a component's command `<name>-<step>`, from the mocked run. */
const commandsOf = commandReader(() => mocks, "e");

/** The guest root of each ImageTransfer made here, by component name: its stand-in results need it. */
const transferRoots = new Map<string, string>();

/**
 * Honest stand-in results for an ImageTransfer's host hash and scp steps (the set is copied by the test
 * itself): only the acquisition check, which waits for them, is run for real.
 */
function transferStandIn(name: string): object | undefined {
  const hashStep = name.match(/^(.*)-host-hash$/);
  const copyStep = name.match(/^(.*)-scp$/);
  const root = transferRoots.get((hashStep ?? copyStep)?.[1] ?? "");
  if (root === undefined) return undefined;
  const files = planTransfer(manifestSchema.parse(manifest), root).files;
  if (hashStep) return { files: files.map((f, i) => ({ path: f.hostPath, sha256: manifest.files[i].sha256, size: f.size })) };
  return {
    files: files.map((f, i) => {
      const sha = manifest.files[i].sha256!;
      return {
        path: f.hostPath,
        guestPath: f.guestPath,
        hostSha256: sha,
        guestSha256: sha,
        verifiedBy: "host-sent",
        guestReportedSha256: sha,
        copied: true,
      };
    }),
  };
}

/** ImageTransfer's acquisition check for the set as copied under `guestRoot`/layer-folders/0. */
function acquisitionCommands(guestRoot = GUEST_ROOT): Promise<HookCommands> {
  return commandsOf((name) => {
    transferRoots.set(name, guestRoot);
    return new components.ImageTransfer(name, {
      guest: guest.connection,
      imageName: "e01",
      manifest,
      mode: "scp",
      readOnly: true,
      hashed: true,
      guestRoot,
      custodyLogPath: custodyLog,
      examiner: "Erika",
    });
  }, "acquisition");
}

function attachCommands(segments: readonly string[]): Promise<HookCommands> {
  return commandsOf(
    (name) =>
      new components.NbdAttachment(name, {
        guest: guest.connection,
        imagePath: segments[0],
        format: "ewf",
        segments: [...segments],
        readOnly: true,
      }),
    "attach",
  );
}

/** Copies the set into a guest folder with scp (SFTP takes the remote path literally). */
async function copySet(folder: string): Promise<void> {
  await sh(`mkdir -p -- ${q(folder)}`);
  for (const segment of evidence.segments) await guest.copyIn(segment, `${folder}/${path.basename(segment)}`);
}

/** What is left of EWF work in the guest: ewfmount daemons, FUSE mounts under /run/forensic-lab/ewf, qemu-nbd servers. */
async function leftovers(): Promise<{ ewfmount: number; mounts: string; qemuNbd: number }> {
  const out = await sh(
    "pgrep -c -x ewfmount || true; pgrep -c -x qemu-nbd || true; findmnt -rn -o TARGET | grep '^/run/forensic-lab/ewf' || true",
  );
  const [ewfmount, qemuNbd, ...mounts] = out.split("\n");
  return { ewfmount: Number(ewfmount), qemuNbd: Number(qemuNbd), mounts: mounts.join("\n").trim() };
}

const custodyLines = (): Record<string, unknown>[] =>
  fs.existsSync(custodyLog)
    ? fs
        .readFileSync(custodyLog, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];

beforeAll(async () => {
  hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab ewf 'evidence' "));
  evidence = makeEwfEvidence(path.join(hostDir, "set"));
  manifest = await inspectImage(evidence.first, { hash: true });
  custodyLog = path.join(hostDir, "state", "custody.jsonl");

  const standIns: Record<string, object> = {
    attach: { device: "/dev/nbd0", sectorSize: 512, label: null, partitions: [] },
    mount: { mounts: [], skipped: [] },
    acquisition: { status: "verified", storedMd5: null, computedMd5: null, storedSha1: null, computedSha1: null },
  };
  mocks = await setupMocks({
    outputsFor: (a) => {
      const standIn = transferStandIn(a.name) ?? standIns[a.name.slice(a.name.lastIndexOf("-") + 1)];
      return a.type === LOCAL_COMMAND && standIn ? { stdout: `${RESULT_MARKER}${JSON.stringify(standIn)}\n` } : undefined;
    },
  });
  components = {
    ImageTransfer: (await import("../image-transfer/ImageTransfer")).ImageTransfer,
    NbdAttachment: (await import("./NbdAttachment")).NbdAttachment,
    PartitionMount: (await import("../partition-mount/PartitionMount")).PartitionMount,
  };

  guest = await bootTestGuest({ name: "ewf" });
  await copySet(GUEST_FOLDER);
}, BOOT_TIMEOUT_MS);

afterAll(async () => {
  if (guest) await guest.destroy();
  if (hostDir) fs.rmSync(hostDir, { recursive: true, force: true });
}, DESTROY_TIMEOUT_MS);

describe("a whole EWF set", () => {
  let attach: HookCommands;
  let mount: HookCommands;
  let device: string;
  const hostSha256 = () => Object.fromEntries(evidence.segments.map((s) => [s, sha256(s)]));
  let before: Record<string, string>;

  beforeAll(() => {
    before = hostSha256();
    expect(manifest.files.map((f) => f.sha256)).toEqual(Object.values(before));
  });

  test("the acquisition check: ewfverify in the guest finds the data matches the hashes the set stores", async () => {
    const check = await acquisitionCommands();
    const result = parseHookResult<Record<string, unknown>>(succeeded(await runHookText(check.create, { timeoutMs: 5 * 60_000 })).stdout);
    expect(result).toEqual({
      status: "verified",
      storedMd5: evidence.md5,
      computedMd5: evidence.md5,
      storedSha1: evidence.sha1,
      computedSha1: evidence.sha1,
    });
    expect(custodyLines()).toEqual([
      expect.objectContaining({
        action: "acquisition-verified",
        side: "guest",
        file: evidence.first,
        guestPath: guestSegments()[0],
        reportedBy: "guest",
        computedSha1: evidence.sha1,
      }),
    ]);
  });

  test("attach: ewfmount exposes the set read-only, qemu-nbd serves it as raw, the partition table is the one made", async () => {
    attach = await attachCommands(guestSegments());
    const result = parseHookResult<AttachResult>(succeeded(await runHookText(attach.create, { timeoutMs: 5 * 60_000 })).stdout);
    device = result.device;
    expect(result.label).toBe("dos");
    expect(
      result.partitions.map((p) => ({ number: p.number, type: p.type, startSector: p.startSector, sizeSectors: p.sizeSectors })),
    ).toEqual(evidence.partitions);
    const ewfMount = (await sh("findmnt -rn -o TARGET,FSTYPE,OPTIONS | grep '^/run/forensic-lab/ewf/'")).trim().split(" ");
    expect(ewfMount[1]).toBe("fuse");
    expect(ewfMount[2].split(",")[0]).toBe("ro");
    expect(await sh(`cat /sys/block/${device.slice(5)}/ro; blockdev --getsize64 ${device}`)).toBe(`1\n${evidence.mediaSize}\n`);
    expect(await leftovers()).toMatchObject({ ewfmount: 1, qemuNbd: 1 });
  });

  test("attach again: the same device, no second ewfmount or qemu-nbd", async () => {
    const again = succeeded(await runHookText(attach.create, { timeoutMs: 5 * 60_000 }));
    expect(again.stderr).toContain(`already served read-only on ${device}`);
    expect(parseHookResult<AttachResult>(again.stdout).device).toBe(device);
    expect(await leftovers()).toMatchObject({ ewfmount: 1, qemuNbd: 1 });
  });

  test("both partitions mount read-only on top (ext4 and FAT); their files read back; nothing was written", async () => {
    mount = await commandsOf(
      (name) =>
        new components.PartitionMount(name, {
          guest: guest.connection,
          readOnly: true,
          nbdDevice: device,
          partition: "all",
          mountRoot: MOUNT_ROOT,
        }),
      "mount",
    );
    const { mounts } = parseHookResult<{ mounts: MountInfo[] }>(
      succeeded(await runHookText(mount.create, { timeoutMs: 5 * 60_000 })).stdout,
    );
    expect(mounts.map((m) => [m.partition, m.filesystem, m.options[0]])).toEqual([
      [1, "ext4", "ro"],
      [2, "vfat", "ro"],
    ]);
    expect(await sh(`cat ${q(`${MOUNT_ROOT}/p1/ufos/ufo.txt`)} ${q(`${MOUNT_ROOT}/p2/NOTE.TXT`)}`)).toBe(EWF_UFO_TEXT + EWF_FAT_TEXT);
    const refused = await guest.ssh(`touch ${q(`${MOUNT_ROOT}/p1/new`)}`);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("Read-only file system");
    // Writes completed and sectors written on the whole device (partitions count into it).
    const stat = (await sh(`sync; cat /sys/block/${device.slice(5)}/stat`)).trim().split(/\s+/).map(Number);
    expect([stat[4], stat[6]]).toEqual([0, 0]);
  });

  test("undone in reverse: umount, then the nbd device and the ewfmount daemon go; twice is fine", async () => {
    succeeded(await runHookText(mount.delete, { timeoutMs: 5 * 60_000 }));
    const first = succeeded(await runHookText(attach.delete, { timeoutMs: 5 * 60_000 }));
    expect(first.stderr).toContain("unmounted the EWF set at /run/forensic-lab/ewf/");
    expect(await leftovers()).toEqual({ ewfmount: 0, qemuNbd: 0, mounts: "" });
    expect(await sh(`cat /sys/block/${device.slice(5)}/size; ls /run/forensic-lab/ewf`)).toBe("0\n");
    const second = succeeded(await runHookText(attach.delete, { timeoutMs: 5 * 60_000 }));
    expect(second.stderr).toContain("nothing to undo");
  });

  test("the evidence is unchanged, in the guest and on the host", async () => {
    const inGuest = await sh(`cd -- ${q(GUEST_FOLDER)} && sha256sum -- ${evidence.segments.map((s) => q(path.basename(s))).join(" ")}`);
    expect(
      inGuest
        .trim()
        .split("\n")
        .map((l) => l.slice(0, 64)),
    ).toEqual(Object.values(before));
    expect(hostSha256()).toEqual(before);
  });
});

describe("a set that is not whole is an error naming the segment, and leaves nothing behind", () => {
  const copyRoot = (what: string) => `/srv/evidence/${what}`;

  test("a damaged chunk: the acquisition check stops, naming the sectors and the segment", async () => {
    const root = copyRoot("damaged");
    const folder = `${root}/layer-folders/0`;
    await copySet(folder);
    const second = guestSegments(folder)[1];
    // Inside the compressed chunks of segment 2, past its headers: a chunk whose checksum fails.
    await sh(`printf 'XXXXXXXX' | dd of=${q(second)} bs=1 seek=1000000 conv=notrunc status=none`);
    const check = await acquisitionCommands(root);
    const failed = await runHookText(check.create, { timeoutMs: 5 * 60_000 });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`the EWF set '${evidence.first}' fails its own acquisition check (ewfverify in the guest):`);
    expect(failed.stderr).toMatch(
      new RegExp(
        `damaged: at sector\\(s\\): \\d+ - \\d+ \\(number: \\d+\\) in segment file\\(s\\): ${second.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`,
      ),
    );
    expect(custodyLines().at(-1)).toMatchObject({ action: "acquisition-check-failed", detail: "ewfverify: FAILURE" });
  });

  test("a missing segment: attach refuses, naming it, before ewfmount runs", async () => {
    const folder = copyRoot("missing/layer-folders/0");
    await copySet(folder);
    const third = guestSegments(folder)[2];
    await sh(`rm -- ${q(third)}`);
    const failed = await runHookText((await attachCommands(guestSegments(folder))).create, { timeoutMs: 5 * 60_000 });
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain(`EWF segment '${third}' is not a readable file in the guest (was it transferred?)`);
    expect(await leftovers()).toEqual({ ewfmount: 0, qemuNbd: 0, mounts: "" });
  });

  // ewfmount opens such a set (libewf reads segments lazily); reading it fails. In a lab the host's
  // inspect and the acquisition check stop it long before: this is a guest that cut a copy.
  test("a segment cut short in the guest: attach fails on the first read, and nothing is left mounted or running", async () => {
    const folder = copyRoot("truncated/layer-folders/0");
    await copySet(folder);
    const last = guestSegments(folder).at(-1)!;
    await sh(`truncate -s 4096 -- ${q(last)}`);
    const failed = await runHookText((await attachCommands(guestSegments(folder))).create, { timeoutMs: 5 * 60_000 });
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain(
      `sfdisk cannot read the partition table of /dev/nbd0 (the EWF set ${guestSegments(folder)[0]} under it cannot be read: a segment damaged or cut short?)`,
    );
    expect(await leftovers()).toEqual({ ewfmount: 0, qemuNbd: 0, mounts: "" });
    expect(await sh("ls /run/forensic-lab/ewf")).toBe("");
  });
});
