/**
 * Host-side measurements and baselines: the evidence, `inspectImage` on a deep chain, libguestfs'
 * `guestmount` (cold start, and a 1 GiB read through it), and a plain read of a raw copy.
 */
import * as fs from "fs";
import * as path from "path";
import { inspectImage } from "../lib/inspect";
import { REPO_ROOT } from "../lib/shell";
import { deepVmdkChain } from "../test/support/image-chains";
import { Cleanup, dropHostCaches, must, repeat, run, tail } from "./support";
import { MadeEvidence, MadePartition, readMadeEvidence } from "../scripts/made-evidence";

const MIB = 1 << 20;

export interface Evidence {
  readonly dir: string;
  /** Absolute path of the top snapshot. */
  readonly top: string;
  readonly manifest: MadeEvidence;
  /** The NTFS partition holding `ufos/ufo.txt` and the ext4 one holding `bulk.bin`. */
  readonly ntfs: MadePartition;
  readonly ext4: MadePartition & { readonly bulkBytes: number };
}

/** Makes (or reuses: the script keeps complete output) seeds-like evidence with a `sizeMib` bulk.bin. */
export async function makeEvidence(dir: string, sizeMib: number): Promise<Evidence> {
  const out = await must(["bash", path.join(REPO_ROOT, "scripts/make-evidence.sh"), "--size-mib", String(sizeMib), dir], {
    timeoutMs: 30 * 60_000,
  });
  const top = out.trim().split("\n").pop()!;
  const manifest = readMadeEvidence(dir);
  const ntfs = manifest.partitions.find((p) => p.filesystem === "ntfs" && "ufos/ufo.txt" in p.files);
  const ext4 = manifest.partitions.find((p) => p.filesystem === "ext4" && p.bulkBytes !== undefined);
  if (!ntfs || !ext4) throw new Error(`${dir}/evidence.json: no NTFS partition with ufos/ufo.txt or no ext4 partition with bulk.bin`);
  return { dir, top, manifest, ntfs, ext4: ext4 as Evidence["ext4"] };
}

/** Seconds `inspectImage` takes on the top of a chain of `layers` VMDK layers (base + snapshots). */
export async function inspectDeepChain(workDir: string, layers: number, runs: number): Promise<number[]> {
  const chain = deepVmdkChain(workDir, layers - 1);
  const first = await inspectImage(chain.top);
  if (first.chain.length !== layers) throw new Error(`inspectImage found ${first.chain.length} layers in a chain of ${layers}`);
  return repeat(runs, () => inspectImage(chain.top));
}

// ---------------------------------------------------------------------------------------------------
// libguestfs

/**
 * guestmount as the assignment fixes it: libguestfs' own appliance started directly under QEMU
 * software emulation (this host's /dev/kvm cannot run a stock kernel), with a private appliance cache.
 */
export class Guestmount {
  private readonly env: NodeJS.ProcessEnv;
  private count = 0;

  constructor(
    private readonly workDir: string,
    private readonly cleanup: Cleanup,
  ) {
    const cacheDir = path.join(workDir, "guestfs-cache");
    fs.mkdirSync(cacheDir, { recursive: true });
    this.env = { ...process.env, LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg", LIBGUESTFS_CACHEDIR: cacheDir };
  }

  /** The environment guestmount runs with, as printed in the table. */
  static readonly ENV_TEXT = "LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg";

  /**
   * Mounts one filesystem of `top` read-only (`--ro`, format given, never probed); resolves once it is
   * mounted. `mount` is guestmount's `-m` (`/dev/sda1`, `/dev/sda2:/:ro,noload`). Returns the unmount.
   */
  async mount(top: string, format: string, mount: string): Promise<{ mountPoint: string; unmount(): Promise<void> }> {
    const n = this.count++;
    const mountPoint = path.join(this.workDir, `guestmount-${n}`);
    const pidFile = path.join(this.workDir, `guestmount-${n}.pid`);
    fs.mkdirSync(mountPoint, { recursive: true });
    const handle = this.cleanup.add(`guestmount ${mountPoint}`, () => this.unmount(mountPoint, pidFile));
    const r = await run(["guestmount", "--ro", `--format=${format}`, "-a", top, "--pid-file", pidFile, "-m", mount, mountPoint], {
      env: this.env,
      timeoutMs: 10 * 60_000,
    });
    if (r.code !== 0) {
      await handle.now();
      throw new Error(`guestmount --ro -a ${top} -m ${mount} failed (exit ${r.code}): ${tail(r.stderr)}`);
    }
    return { mountPoint, unmount: () => handle.now() };
  }

  /**
   * One launch of libguestfs' appliance on `top` and its shutdown: `guestfish --ro -a <top> run`, the
   * baseline for the lab's guest boot (`boot_vs_appliance`).
   */
  async launch(top: string, format: string): Promise<void> {
    const r = await run(["guestfish", "--ro", `--format=${format}`, "-a", top, "run"], { env: this.env, timeoutMs: 10 * 60_000 });
    if (r.code !== 0) throw new Error(`guestfish --ro -a ${top} run failed (exit ${r.code}): ${tail(r.stderr)}`);
  }

  /**
   * Unmounts and waits until the guestmount process (and its appliance) is gone. guestmount exits by
   * itself when its mount goes, unless another process made a private mount namespace meanwhile (an
   * sshfs pipe, make-evidence.sh): that copy keeps the FUSE connection open. So after a short wait it
   * gets SIGTERM, on which libfuse leaves its loop and guestmount shuts its appliance down.
   */
  private async unmount(mountPoint: string, pidFile: string): Promise<void> {
    if ((await run(["mountpoint", "-q", mountPoint])).code === 0) await must(["fusermount", "-u", mountPoint]);
    const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, "utf8").trim()) : NaN;
    const isGuestmount = () => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0].endsWith("guestmount");
      } catch {
        return false;
      }
    };
    const gone = async (ms: number) => {
      for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
        if (!isGuestmount()) return true;
      }
      return !isGuestmount();
    };
    if (Number.isInteger(pid) && pid > 0 && !(await gone(3000))) {
      process.kill(pid, "SIGTERM");
      if (!(await gone(60_000))) throw new Error(`guestmount (pid ${pid}) still runs 60 s after SIGTERM (mount point ${mountPoint})`);
    }
    fs.rmSync(pidFile, { force: true });
    fs.rmdirSync(mountPoint);
  }
}

/**
 * guestmount's cold start to the first read of `file` in the NTFS partition: one untimed run builds
 * libguestfs' appliance cache, then each timed run starts guestmount with the host's caches dropped,
 * reads the file, and is unmounted (untimed) before the next.
 */
export async function guestmountColdStart(gm: Guestmount, evidence: Evidence, file: string, runs: number): Promise<number[]> {
  const expected = evidence.ntfs.files[file];
  const once = async () => {
    const m = await gm.mount(evidence.top, "vmdk", `/dev/sda${evidence.ntfs.number}`);
    const text = fs.readFileSync(path.join(m.mountPoint, file), "utf8");
    if (text !== expected) throw new Error(`guestmount read ${JSON.stringify(text)} from ${file}, expected ${JSON.stringify(expected)}`);
    return m;
  };
  await (await once()).unmount();
  let last: Awaited<ReturnType<typeof once>> | undefined;
  return repeat(
    runs,
    async () => (last = await once()),
    async () => {
      await last?.unmount();
      await dropHostCaches();
    },
  ).finally(() => last?.unmount());
}

/** Seconds to read `bytes` with dd (1 MiB blocks) from `file`, optionally from `skipMib` MiB in; checks the count. */
async function ddRead(file: string, bytes: number, skipMib = 0): Promise<void> {
  if (bytes % MIB !== 0) throw new Error(`ddRead: ${bytes} bytes is not a whole number of MiB`);
  const r = await run(["dd", `if=${file}`, "of=/dev/null", "bs=1M", `skip=${skipMib}`, `count=${bytes / MIB}`]);
  if (r.code !== 0) throw new Error(`dd if=${file} failed: ${tail(r.stderr)}`);
  const copied = /^(\d+) bytes/m.exec(r.stderr)?.[1];
  if (Number(copied) !== bytes) throw new Error(`dd read ${copied} bytes of ${file}, expected ${bytes}`);
}

/**
 * The 1 GiB bulk.bin read through guestmount: each run mounts the ext4 partition afresh (untimed; a
 * fresh appliance has an empty page cache), drops the host's caches, then times a sequential dd.
 * `noload`, like the lab's mount, so neither side replays the dirty journal.
 */
export async function guestmountRead(gm: Guestmount, evidence: Evidence, runs: number): Promise<number[]> {
  let current: Awaited<ReturnType<Guestmount["mount"]>> | undefined;
  return repeat(
    runs,
    () => ddRead(path.join(current!.mountPoint, "bulk.bin"), evidence.ext4.bulkBytes),
    async () => {
      await current?.unmount();
      current = await gm.mount(evidence.top, "vmdk", `/dev/sda${evidence.ext4.number}:/:ro,noload`);
      await dropHostCaches();
    },
  ).finally(() => current?.unmount());
}

/**
 * The same number of bytes read on the host from a raw copy of the disk (`qemu-img convert -O raw`,
 * untimed), starting at the ext4 partition: caches dropped before each timed dd.
 */
export async function hostRawRead(workDir: string, evidence: Evidence, cleanup: Cleanup, runs: number): Promise<number[]> {
  const raw = path.join(workDir, "disk.raw");
  const removeRaw = cleanup.add(`remove ${raw}`, async () => fs.rmSync(raw, { force: true }));
  try {
    await must(["qemu-img", "convert", "-f", "vmdk", "-O", "raw", evidence.top, raw], { timeoutMs: 30 * 60_000 });
    const startByte = evidence.ext4.startSector * 512;
    if (startByte % MIB !== 0) throw new Error(`the ext4 partition starts at byte ${startByte}, not on a MiB boundary`);
    return await repeat(runs, () => ddRead(raw, evidence.ext4.bulkBytes, startByte / MIB), dropHostCaches);
  } finally {
    await removeRaw.now();
  }
}

/**
 * libguestfs' appliance launch (`guestfish --ro -a <top> run`), host caches dropped before each timed run,
 * after one untimed run that builds the appliance cache.
 */
export async function applianceLaunch(gm: Guestmount, evidence: Evidence, runs: number): Promise<number[]> {
  await gm.launch(evidence.top, "vmdk");
  return repeat(runs, () => gm.launch(evidence.top, "vmdk"), dropHostCaches);
}
