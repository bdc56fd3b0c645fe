/**
 * The tools an examiner would pick instead of the lab, each run the way its users run it, on the bench
 * evidence: Dissect (userspace parsers), the seeds' own method (`qemu-img convert`, then `losetup -r` and
 * a read-only mount on the host) and libyal's vmdkmount (FUSE, then a loop device and a mount on the
 * host). guestmount is measured in host.ts; the lab in lab.ts. For each: the time to the first file
 * (`ufos/ufo.txt` on the NTFS partition, host caches dropped first) and a sequential read of the 1 GiB
 * `bulk.bin` on the ext4 partition.
 *
 * The two host-mount peers mount filesystems with the host's kernel (ext4) or a root FUSE driver
 * (ntfs-3g): exactly what the seeds warn against for untrusted images. They run only on a scratch copy
 * or FUSE view of the bench's own evidence, made by scripts/make-evidence.sh, never on a case's.
 */
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT } from "../lib/shell";
import { Evidence } from "./host";
import { PeerRow } from "./report";
import { Cleanup, dropHostCaches, must, repeat, run, tail } from "./support";

const SECTOR = 512;
const REQUIREMENTS = path.join(REPO_ROOT, "bench/peers/requirements.txt");
const DISSECT_READ = path.join(REPO_ROOT, "bench/peers/dissect-read.py");

export interface PeerOptions {
  readonly workDir: string;
  readonly evidence: Evidence;
  readonly cleanup: Cleanup;
  /** The file read first (on the NTFS partition), and its expected text. */
  readonly firstFile: string;
  readonly runs: { readonly firstFile: number; readonly read: number };
  readonly print: (line: string) => void;
}

/** What the isolation column says of each peer: facts about where the untrusted bytes are parsed. */
export const ISOLATION = {
  lab: "yes: vmdk by qemu-nbd, partitions and filesystems by the kernel of a confined QEMU/KVM guest; the host only copies or serves bytes (scp, read-only sshfs)",
  guestmount: "yes: every parser in libguestfs' appliance VM; the host sees a FUSE file system served by guestmount",
  dissect: "no: vmdk, MBR, NTFS and ext4 parsed by Python in a host process with the examiner's rights (no kernel parser)",
  seeds: "no: ext4 parsed by the host kernel, NTFS by ntfs-3g as root on the host; vmdk by qemu-img on the host",
  vmdkmount: "no: vmdk parsed by libvmdk in a root FUSE process; ext4 by the host kernel, NTFS by ntfs-3g as root",
} as const;

// ---------------------------------------------------------------------------------------------------
// Host mounts, as the seeds do them: a read-only loop device over one partition, mounted read-only.

interface HostMount {
  readonly mountPoint: string;
  unmount(): Promise<void>;
}

/**
 * `losetup -r` over the partition's bytes of `disk` (a raw file or a FUSE view of one), mounted `ro`
 * (ext4: `noload`, so the dirty journal is not replayed). `-o/--sizelimit`, not `-P`: this host's kernel
 * finds no partitions on a loop device.
 */
async function mountPartition(disk: string, partition: Evidence["ntfs"], mountPoint: string, cleanup: Cleanup): Promise<HostMount> {
  fs.mkdirSync(mountPoint, { recursive: true });
  const loop = (
    await must([
      "losetup",
      "--read-only",
      "--find",
      "--show",
      "--offset",
      String(partition.startSector * SECTOR),
      "--sizelimit",
      String(partition.sizeSectors * SECTOR),
      disk,
    ])
  ).trim();
  const detach = cleanup.add(`losetup -d ${loop}`, () => must(["losetup", "-d", loop]).then(() => undefined));
  const options = partition.filesystem === "ext4" ? "ro,noload" : "ro";
  const mounted = await run(["mount", "-o", options, loop, mountPoint]);
  if (mounted.code !== 0) {
    await detach.now();
    throw new Error(`mount -o ${options} ${loop} (${disk}, partition ${partition.number}) failed: ${tail(mounted.stderr)}`);
  }
  const unmount = cleanup.add(`umount ${mountPoint}`, () => must(["umount", mountPoint]).then(() => undefined));
  return {
    mountPoint,
    unmount: async () => {
      await unmount.now();
      await detach.now();
    },
  };
}

function checkText(peer: string, actual: string, expected: string, file: string): void {
  if (actual !== expected) throw new Error(`${peer} read ${JSON.stringify(actual)} from ${file}, expected ${JSON.stringify(expected)}`);
}

/** Seconds of a cold `dd bs=1M` of `file`, checking it read `bytes`. */
async function ddFile(peer: string, file: string, bytes: number): Promise<void> {
  const r = await run(["dd", `if=${file}`, "of=/dev/null", "bs=1M"]);
  if (r.code !== 0) throw new Error(`${peer}: dd if=${file} failed: ${tail(r.stderr)}`);
  const copied = Number(/^(\d+) bytes/m.exec(r.stderr)?.[1]);
  if (copied !== bytes) throw new Error(`${peer}: dd read ${copied} bytes of ${file}, expected ${bytes}`);
}

// ---------------------------------------------------------------------------------------------------
// Dissect

/** Installs requirements.txt (exact versions) into a virtual environment in the work folder. */
async function dissectPython(workDir: string): Promise<string> {
  const venv = path.join(workDir, "dissect-venv");
  await must(["python3", "-m", "venv", venv]);
  const python = path.join(venv, "bin/python");
  await must([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--require-virtualenv", "-r", REQUIREMENTS], {
    timeoutMs: 10 * 60_000,
  });
  return python;
}

export async function dissectPeer(opts: PeerOptions): Promise<PeerRow> {
  const { evidence, firstFile } = opts;
  opts.print("bench: peers: Dissect (a virtual environment from bench/peers/requirements.txt)");
  const python = await dissectPython(opts.workDir);
  const first = await repeat(
    opts.runs.firstFile,
    async () =>
      checkText("Dissect", await must([python, DISSECT_READ, "first", evidence.top, firstFile]), evidence.ntfs.files[firstFile], firstFile),
    dropHostCaches,
  );
  const read: number[] = [];
  for (let i = 0; i < opts.runs.read; i++) {
    await dropHostCaches();
    const out = JSON.parse(await must([python, DISSECT_READ, "read", evidence.top, "bulk.bin"])) as { bytes: number; seconds: number };
    if (out.bytes !== evidence.ext4.bulkBytes)
      throw new Error(`Dissect read ${out.bytes} bytes of bulk.bin, expected ${evidence.ext4.bulkBytes}`);
    read.push(out.seconds);
  }
  return {
    peer: "Dissect (dissect.target 3.25.1)",
    firstFile: { label: "python start, Target.open(top), read", samples: first },
    read: { label: "bulk.bin via the ext4 filesystem object", samples: read },
    bytes: evidence.ext4.bulkBytes,
    isolation: ISOLATION.dissect,
    how: `bench/peers/dissect-read.py in a venv of bench/peers/requirements.txt: Target.open() on the top of the chain (parents found from the hints), the file read from the filesystem that holds it. First file: the whole process, host caches dropped. Read: 1 MiB pieces, timed in the process after opening, host caches dropped.`,
  };
}

// ---------------------------------------------------------------------------------------------------
// The two host-mount peers: a disk they make (a raw copy, a FUSE view), then a loop and a mount on it.

/** How a host-mount peer gets a disk to mount: `open` makes it and returns its path, `close` undoes that (safe twice). */
interface HostDisk {
  open(): Promise<string>;
  close(): Promise<void>;
}

/**
 * The timings of a host-mount peer: each first-file run opens the disk afresh (host caches dropped, the
 * last run's disk closed), mounts the NTFS partition and reads the first file; then the ext4 partition of
 * the last disk opened is mounted for the cold dd reads of bulk.bin. `name` names its mount points.
 */
async function hostMountTimings(
  opts: PeerOptions,
  peer: string,
  name: string,
  disk: HostDisk,
): Promise<{ first: number[]; read: number[] }> {
  const { evidence, firstFile, workDir, cleanup } = opts;
  let diskPath = "";
  let mounted: HostMount | undefined;
  try {
    const first = await repeat(
      opts.runs.firstFile,
      async () => {
        diskPath = await disk.open();
        mounted = await mountPartition(diskPath, evidence.ntfs, path.join(workDir, `${name}-ntfs`), cleanup);
        checkText(peer, fs.readFileSync(path.join(mounted.mountPoint, firstFile), "utf8"), evidence.ntfs.files[firstFile], firstFile);
      },
      async () => {
        await mounted?.unmount();
        mounted = undefined;
        await disk.close();
        await dropHostCaches();
      },
    );
    await mounted?.unmount();
    mounted = await mountPartition(diskPath, evidence.ext4, path.join(workDir, `${name}-ext4`), cleanup);
    const bulk = path.join(mounted.mountPoint, "bulk.bin");
    const read = await repeat(opts.runs.read, () => ddFile(peer, bulk, evidence.ext4.bulkBytes), dropHostCaches);
    return { first, read };
  } finally {
    await mounted?.unmount();
    await disk.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// The seeds' method

export async function seedsPeer(opts: PeerOptions): Promise<PeerRow> {
  const { evidence, workDir, cleanup } = opts;
  opts.print("bench: peers: the seeds' method (qemu-img convert to raw, losetup -r, mount -o ro on the host)");
  const raw = path.join(workDir, "seeds-scratch.raw");
  const removeRaw = cleanup.add(`remove ${raw}`, async () => fs.rmSync(raw, { force: true }));
  const { first, read } = await hostMountTimings(opts, "the seeds' method", "seeds", {
    open: async () => {
      await must(["qemu-img", "convert", "-f", "vmdk", "-O", "raw", evidence.top, raw], { timeoutMs: 30 * 60_000 });
      return raw;
    },
    close: async () => fs.rmSync(raw, { force: true }),
  });
  await removeRaw.now();
  return {
    peer: "seeds: qemu-img convert + losetup -r + mount ro",
    firstFile: { label: "convert the chain, losetup, mount, read", samples: first },
    read: { label: "bulk.bin in the host's ro,noload ext4 mount", samples: read },
    bytes: evidence.ext4.bulkBytes,
    isolation: ISOLATION.seeds,
    how: `On the host, a scratch raw copy of the bench's own evidence (never a case's): qemu-img convert -O raw of the chain, losetup --read-only --offset/--sizelimit over the partition (this kernel finds no partitions with -P), mount -o ro (NTFS, ntfs-3g) or ro,noload (ext4). First file: convert + losetup + mount + read, host caches dropped. Read: dd bs=1M of bulk.bin, host caches dropped.`,
  };
}

// ---------------------------------------------------------------------------------------------------
// vmdkmount

/**
 * A scratch folder in which the chain opens for vmdkmount: libvmdk 20200926 joins an absolute
 * parentFileNameHint to the snapshot's own folder and fails, so each descriptor is copied with its hint
 * made a plain file name, and every extent linked beside it. The evidence itself is untouched.
 */
export function chainForVmdkmount(evidence: Evidence, dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const { chain, files } = evidence.manifest;
  const names = new Set<string>();
  for (const file of files) {
    const name = path.basename(file.path);
    if (names.has(name)) throw new Error(`vmdkmount scratch chain: two files named ${name}`);
    names.add(name);
    const source = path.join(evidence.dir, file.path);
    if (chain.includes(file.path)) {
      const text = fs.readFileSync(source, "latin1");
      fs.writeFileSync(
        path.join(dir, name),
        text.replace(/parentFileNameHint="([^"]*)"/, (_, hint: string) => `parentFileNameHint="${path.basename(hint)}"`),
        "latin1",
      );
    } else {
      fs.symlinkSync(source, path.join(dir, name));
    }
  }
  return path.join(dir, path.basename(evidence.manifest.top));
}

export async function vmdkmountPeer(opts: PeerOptions): Promise<PeerRow> {
  const { evidence, workDir, cleanup } = opts;
  opts.print("bench: peers: vmdkmount (libvmdk FUSE view of the chain, losetup -r, mount -o ro on the host)");
  const fuse = path.join(workDir, "vmdkmount");
  fs.mkdirSync(fuse, { recursive: true });
  // As its users would first try it: on the top file as it is.
  const asIs = await run(["vmdkmount", evidence.top, fuse], { timeoutMs: 60_000 });
  if (asIs.code === 0) await must(["fusermount", "-u", fuse]);
  const asIsNote =
    asIs.code === 0
      ? "The chain opened as it is."
      : `On the chain as it is vmdkmount fails (${asIs.stderr.split("\n").find((l) => l.includes("parent handle: ")) ?? tail(asIs.stderr, 1).trim()}): libvmdk joins the absolute parentFileNameHint of the top snapshot to its folder. Measured on a scratch folder with each descriptor's hint made a file name and the extents linked.`;
  const top = asIs.code === 0 ? evidence.top : chainForVmdkmount(evidence, path.join(workDir, "vmdkmount-chain"));

  let fuseMount: { now(): Promise<void> } | undefined;
  const { first, read } = await hostMountTimings(opts, "vmdkmount", "vmdkmount", {
    open: async () => {
      await must(["vmdkmount", top, fuse], { timeoutMs: 60_000 });
      fuseMount = cleanup.add(`fusermount -u ${fuse}`, () => must(["fusermount", "-u", fuse]).then(() => undefined));
      // One file per layer, vmdk1 (the base) to vmdkN (the top).
      return path.join(fuse, `vmdk${evidence.manifest.chain.length}`);
    },
    close: async () => fuseMount?.now(),
  });
  return {
    peer: "vmdkmount (libvmdk 20200926) + losetup -r + mount ro",
    firstFile: { label: "vmdkmount, losetup, mount, read", samples: first },
    read: { label: "bulk.bin via FUSE, loop, ro,noload ext4", samples: read },
    bytes: evidence.ext4.bulkBytes,
    isolation: ISOLATION.vmdkmount,
    how: `${asIsNote} vmdkmount <top> <dir> (Debian libvmdk-utils), then on its vmdkN (the top layer) losetup --read-only --offset/--sizelimit and mount -o ro (NTFS) or ro,noload (ext4), as for the seeds' method. First file: vmdkmount + losetup + mount + read, host caches dropped. Read: dd bs=1M of bulk.bin, host caches dropped.`,
  };
}
