/**
 * `npm run bench -- [--evidence-dir <dir>] [--out <file>] [--only <key,...>]`
 *
 * Measures the lab against its baselines side by side in one run on this host and prints a table of
 * ratios (lab / baseline), each with what was timed and how; writes `bench/results.json` (one number
 * per key) when every key was measured. Guests, mounts and temporary files are removed at the end,
 * whatever happened; Ctrl-C finishes the current step, then cleans up (twice: clean up at once).
 *
 * The evidence (`scripts/make-evidence.sh --size-mib 1024`, about 1.1 GiB) is kept in
 * `--evidence-dir` (default /var/lib/forensic-lab/bench-evidence) and reused by the next run, like the
 * CI and demo evidence next to it: it is input, not output.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../lib/shell";
import { ensureLibvirt } from "../test/guest/harness";
import { upAtOnce } from "./cases";
import {
  applianceLaunch,
  Evidence,
  Guestmount,
  guestmountColdStart,
  guestmountRead,
  hostRawRead,
  inspectDeepChain,
  makeEvidence,
} from "./host";
import { EngineSetup, engineSetup, installEngine } from "../test/e2e/pulumi";
import { attachToRead, benchLab, destroyOnCleanup, inGuestRead, transfers } from "./lab";
import { dissectPeer, ISOLATION, PeerOptions, seedsPeer, vmdkmountPeer } from "./peers";
import {
  BENCH_KEY_NAMES,
  BenchKey,
  buildResults,
  formatPeersTable,
  formatPhaseComparison,
  formatPhases,
  formatSeconds,
  formatTable,
  Measurement,
  PeerRow,
  Timing,
} from "./report";
import { Cleanup, dropHostCaches, must, timed } from "./support";

/** Runs per measurement: medians of three where a run costs seconds, fewer where it costs a minute. */
const RUNS = {
  inspect: 5,
  guestmountColdStart: 3,
  attachToRead: 3,
  read: 3,
  guestmountRead: 2,
  applianceLaunch: 3,
  transfer: 1,
  lab: 1,
  /** Each peer: its cold start to the first file, and its 1 GiB read. */
  peer: { firstFile: 3, read: 2 },
} as const;

/** bulk.bin's size in the bench evidence; `--bulk-mib` may make it smaller for a quick check. */
const DEFAULT_BULK_MIB = 1024;
const DEEP_CHAIN_LAYERS = 150;
const FIRST_FILE = "ufos/ufo.txt";
/** Holds the lab's scp copy (1.1 GiB) and one bench copy at a time. */
const LAB_VOLUME_GIB = 4;
/** The keys measured on (or against) the 1 GiB lab; they need the evidence and the lab up. */
const LAB_KEYS: readonly BenchKey[] = [
  "attach_to_read_vs_guestmount",
  "read_vs_host_raw",
  "read_vs_guestmount",
  "hash_overhead",
  "sshfs_vs_scp",
  "noop_rerun_vs_first_up",
  "destroy_vs_up",
  "boot_vs_appliance",
];
/**
 * `--only peers`: the peers table (Dissect, the seeds' method, vmdkmount; guestmount and the lab join it
 * when their keys run too). Not a key of results.json: its rows are facts beside the lab, not ratios.
 */
const PEERS = "peers";
type Section = BenchKey | typeof PEERS;
const SECTION_NAMES: readonly Section[] = [...BENCH_KEY_NAMES, PEERS];
const DEFAULT_EVIDENCE_DIR = "/var/lib/forensic-lab/bench-evidence";
const USAGE = "usage: npm run bench -- [--evidence-dir <dir>] [--out <file>] [--only <key>[,<key>...]] [--bulk-mib <N>]";

interface Args {
  evidenceDir: string;
  out: string;
  only: Set<Section> | undefined;
  /** Not the default: a quick check of the bench itself, whose numbers are not written to results.json. */
  bulkMib: number;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    evidenceDir: DEFAULT_EVIDENCE_DIR,
    out: path.join(REPO_ROOT, "bench/results.json"),
    only: undefined,
    bulkMib: DEFAULT_BULK_MIB,
  };
  for (let i = 0; i < argv.length; i++) {
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new Error(`${argv[i - 1]} needs a value\n${USAGE}`);
      return v;
    };
    switch (argv[i]) {
      case "--evidence-dir":
        args.evidenceDir = path.resolve(value());
        break;
      case "--out":
        args.out = path.resolve(value());
        break;
      case "--only": {
        const keys = value().split(",").filter(Boolean);
        const unknown = keys.filter((k) => !SECTION_NAMES.includes(k as Section));
        if (unknown.length > 0) throw new Error(`--only: unknown key '${unknown[0]}'; keys: ${SECTION_NAMES.join(", ")}`);
        args.only = new Set(keys as Section[]);
        break;
      }
      case "--bulk-mib": {
        const v = value();
        if (!/^[1-9]\d{0,4}$/.test(v)) throw new Error(`--bulk-mib: '${v}' is not a whole number of MiB from 1 to 99999`);
        args.bulkMib = Number(v);
        break;
      }
      case "-h":
      case "--help":
        console.log(USAGE);
        return process.exit(0);
      default:
        throw new Error(`unknown argument '${argv[i]}'\n${USAGE}`);
    }
  }
  return args;
}

const timing = (label: string, samples: readonly number[]): Timing => ({ label, samples });
const formatGiB = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** Stops the run between steps after the first Ctrl-C; the second cleans up at once. */
class Interrupt {
  requested = false;
  check(): void {
    if (this.requested) throw new Error("interrupted");
  }
}

/** Checks what the run needs before anything is made; `peers`: the peers' tools too. */
async function preflight(peers: boolean): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run as root: the bench drops the page cache and drives libvirt");
  for (const tool of ["guestmount", "fusermount", "qemu-img", "virsh", "dd", "jq"]) {
    await must([
      "bash",
      "-c",
      'command -v "$1" >/dev/null || { echo "$1 is missing; run scripts/install-host-deps.sh" >&2; exit 1; }',
      "bench",
      tool,
    ]);
  }
  if (peers) {
    for (const tool of ["vmdkmount", "losetup", "python3"]) {
      await must([
        "bash",
        "-c",
        'command -v "$1" >/dev/null || { echo "$1 is missing (the peers need it); run scripts/install-host-deps.sh" >&2; exit 1; }',
        "bench",
        tool,
      ]);
    }
  }
  if (!fs.readdirSync("/boot").some((f) => f.startsWith("vmlinuz"))) {
    throw new Error("no kernel in /boot: libguestfs' appliance needs one; run scripts/install-host-deps.sh (linux-image-cloud-amd64)");
  }
  await ensureLibvirt();
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const want = (...keys: Section[]) => keys.some((k) => args.only === undefined || args.only.has(k));
  const print = (line: string) => console.log(line);
  const step = (line: string) => print(`bench: ${line}`);
  const samples = (xs: readonly number[]) => xs.map((x) => formatSeconds(x)).join(", ");

  const cleanup = new Cleanup();
  const interrupt = new Interrupt();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!interrupt.requested) {
      interrupt.requested = true;
      print(`bench: ${signal}: finishing the current step, then cleaning up (again to clean up now)`);
      return;
    }
    void cleanup.runAll(print).finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-bench-"));
  // The Pulumi engine, built or found once, only when a lab-side key is measured.
  let setup: EngineSetup | undefined;
  const engine = (): EngineSetup => (setup ??= engineSetup(path.join(workDir, "engine"), installEngine()));
  cleanup.add(`remove ${workDir}`, async () => fs.rmSync(workDir, { recursive: true, force: true }));
  const measurements: Measurement[] = [];
  const peers: PeerRow[] = [];
  const started = Date.now();
  let failure: unknown;
  try {
    await preflight(want(PEERS));
    step(`work folder ${workDir}`);

    let evidence: Evidence | undefined;
    if (want(...LAB_KEYS, PEERS)) {
      step(`evidence with a ${args.bulkMib} MiB bulk.bin in ${args.evidenceDir} (made once, then reused)`);
      evidence = await makeEvidence(args.evidenceDir, args.bulkMib);
    }

    if (want("inspect_deep_chain_s")) {
      interrupt.check();
      step(`inspectImage on a ${DEEP_CHAIN_LAYERS}-layer vmdk chain, ${RUNS.inspect} runs`);
      const s = await inspectDeepChain(path.join(workDir, "deep-chain"), DEEP_CHAIN_LAYERS, RUNS.inspect);
      step(`  ${samples(s)}`);
      measurements.push({
        key: "inspect_deep_chain_s",
        subject: timing(`inspectImage, ${DEEP_CHAIN_LAYERS} layers`, s),
        how: `lib/inspect inspectImage() on the top of a ${DEEP_CHAIN_LAYERS}-layer monolithicSparse VMDK chain (base + ${DEEP_CHAIN_LAYERS - 1} snapshots, one folder each, parent hints alternately relative and absolute; test/support/image-chains.ts deepVmdkChain), files in the page cache; median of ${RUNS.inspect} runs.`,
      });
    }

    // Host-side baselines first, while none of our guests runs.
    const gm = new Guestmount(workDir, cleanup);
    let coldStart: number[] | undefined;
    if (want("attach_to_read_vs_guestmount")) {
      interrupt.check();
      step(
        `guestmount cold start to the first read of ${FIRST_FILE}, ${RUNS.guestmountColdStart} runs after one untimed (appliance cache)`,
      );
      coldStart = await guestmountColdStart(gm, evidence!, FIRST_FILE, RUNS.guestmountColdStart);
      step(`  ${samples(coldStart)}`);
    }
    let hostRaw: number[] | undefined;
    if (want("read_vs_host_raw")) {
      interrupt.check();
      step(`host: ${args.bulkMib} MiB read from a raw copy at the ext4 partition, ${RUNS.read} runs`);
      hostRaw = await hostRawRead(workDir, evidence!, cleanup, RUNS.read);
      step(`  ${samples(hostRaw)}`);
    }
    let gmRead: number[] | undefined;
    if (want("read_vs_guestmount")) {
      interrupt.check();
      step(`host: bulk.bin read through guestmount, ${RUNS.guestmountRead} runs (fresh mount each)`);
      gmRead = await guestmountRead(gm, evidence!, RUNS.guestmountRead);
      step(`  ${samples(gmRead)}`);
    }

    let appliance: number[] | undefined;
    if (want("boot_vs_appliance")) {
      interrupt.check();
      step(`libguestfs appliance launch (guestfish --ro -a <top> run), ${RUNS.applianceLaunch} runs after one untimed`);
      appliance = await applianceLaunch(gm, evidence!, RUNS.applianceLaunch);
      step(`  ${samples(appliance)}`);
    }

    if (want(PEERS)) {
      const peerOptions: PeerOptions = { workDir, evidence: evidence!, cleanup, firstFile: FIRST_FILE, runs: RUNS.peer, print };
      for (const peer of [dissectPeer, seedsPeer, vmdkmountPeer]) {
        interrupt.check();
        const row = await peer(peerOptions);
        step(`  ${row.peer}: first file ${samples(row.firstFile.samples)}; read ${samples(row.read.samples)}`);
        peers.push(row);
      }
      if (coldStart && gmRead) {
        peers.push({
          peer: "guestmount --ro (libguestfs appliance)",
          firstFile: timing("guestmount cold start + first read", coldStart),
          read: timing("bulk.bin through guestmount", gmRead),
          bytes: evidence!.ext4.bulkBytes,
          isolation: ISOLATION.guestmount,
          how: `The attach_to_read_vs_guestmount and read_vs_guestmount baselines above.`,
        });
      }
    }

    if (want(...LAB_KEYS)) {
      interrupt.check();
      const lab = await benchLab({ workDir, engine: engine(), evidence: evidence!, transfer: "scp", volumeGiB: LAB_VOLUME_GIB, print });
      const destroyLab = destroyOnCleanup(lab, cleanup);
      step(
        `up: the whole lab for ${lab.stackName} (one ${args.bulkMib} MiB-bulk image, scp), by the Pulumi engine running index.ts, host caches dropped`,
      );
      await dropHostCaches();
      const up = await timed(() => lab.up());
      step(`  up took ${formatSeconds(up.seconds)} (${up.value.log.filter((s) => s.hook).length} hooks); the hooks, longest first:`);
      for (const line of formatPhases(up.value.log, up.seconds)) step(`    ${line}`);

      const boot = up.value.log.find((s) => s.hook && s.name.endsWith("-guest-domain"));
      if (appliance) {
        if (!boot) throw new Error("the first up ran no guest-domain hook: no guest boot to time");
        measurements.push({
          key: "boot_vs_appliance",
          subject: timing("AnalysisGuest create: define, boot, ssh answers", [boot.durationMs / 1000]),
          baseline: timing("guestfish --ro -a <top> run", appliance),
          how: `Lab: the AnalysisGuest's create hook (${boot.name}) in the first up, by the engine's clock: the domain defined on its overlay disk, started, and waited for until sshd answers with the pinned host key; host caches dropped before the up. Baseline: ${Guestmount.ENV_TEXT} guestfish --ro --format=vmdk -a <top> run (the appliance boots, opens the disk, shuts down), host caches dropped, after one untimed run that builds its appliance cache. ${RUNS.lab} and ${RUNS.applianceLaunch} runs.`,
        });
      }

      let guestRead: number[] | undefined;
      if (want("read_vs_host_raw", "read_vs_guestmount")) {
        interrupt.check();
        step(`guest: bulk.bin read in the lab's read-only ext4 mount, ${RUNS.read} runs`);
        guestRead = await inGuestRead(lab, evidence!, RUNS.read);
        step(`  ${samples(guestRead)}`);
      }
      if (want("attach_to_read_vs_guestmount")) {
        interrupt.check();
        step(`guest: NbdAttachment + PartitionMount create + first read of ${FIRST_FILE}, ${RUNS.attachToRead} runs`);
        const attach = await attachToRead(lab, evidence!, FIRST_FILE, RUNS.attachToRead);
        step(`  ${samples(attach)}`);
        measurements.push({
          key: "attach_to_read_vs_guestmount",
          subject: timing("lab: attach + mount + first read", attach),
          baseline: timing("guestmount cold start + first read", coldStart!),
          how: `Warm lab (guest running, image on /case by scp): the NbdAttachment and PartitionMount create scripts the engine recorded, run again as it ran them (after their delete scripts and a guest cache drop, untimed), then ${FIRST_FILE} read as the examiner over the pinned ssh. Baseline: ${Guestmount.ENV_TEXT} guestmount --ro --format=vmdk -a <top> -m /dev/sda${evidence!.ntfs.number} started cold (host caches dropped; appliance cache built by one untimed run) until the same file is read on the host. Medians of ${RUNS.attachToRead} and ${RUNS.guestmountColdStart} runs.`,
        });
      }
      if (want(PEERS) && guestRead && peers.length > 0) {
        const attach = measurements.find((m) => m.key === "attach_to_read_vs_guestmount");
        if (attach) {
          peers.unshift({
            peer: "forensic-lab (this lab)",
            firstFile: attach.subject,
            read: timing("guest: bulk.bin, ro mount", guestRead),
            bytes: evidence!.ext4.bulkBytes,
            isolation: ISOLATION.lab,
            how: `The attach_to_read_vs_guestmount and read_vs_host_raw lab sides: a warm lab (its up took ${formatSeconds(up.seconds)} here: guest boot, LUKS2 case storage, the chain copied in by scp and hashed on both sides, which the other tools do not do).`,
          });
        }
      }
      if (guestRead && hostRaw) {
        measurements.push({
          key: "read_vs_host_raw",
          subject: timing("guest: 1 GiB bulk.bin, ro mount", guestRead),
          baseline: timing("host: 1 GiB of a raw copy", hostRaw),
          how: `In the guest: dd bs=1M of bulk.bin (${args.bulkMib} MiB) in the lab's ro,noload ext4 mount (qemu-nbd --read-only on the vmdk chain copied to /case, LUKS2), guest caches dropped, timed inside the guest. Host: qemu-img convert -O raw of the same chain (untimed), then dd bs=1M of the same number of bytes from the start of the ext4 partition, host caches dropped. Medians of ${RUNS.read} runs each.`,
        });
      }
      if (guestRead && gmRead) {
        measurements.push({
          key: "read_vs_guestmount",
          subject: timing("guest: 1 GiB bulk.bin, ro mount", guestRead),
          baseline: timing("host: 1 GiB bulk.bin via guestmount", gmRead),
          how: `The in-guest read above vs dd bs=1M of bulk.bin through ${Guestmount.ENV_TEXT} guestmount --ro -m /dev/sda${evidence!.ext4.number}:/:ro,noload, mounted afresh for each run (untimed), host caches dropped. Medians of ${RUNS.read} and ${RUNS.guestmountRead} runs.`,
        });
      }

      if (want("hash_overhead", "sshfs_vs_scp")) {
        interrupt.check();
        step("transfers into the lab's guest: the plain copy, the lab's own hashed scp, then sshfs");
        const t = await transfers(lab, up.value.log, evidence!, workDir, cleanup);
        step(
          `  host hash ${samples(t.hostHash)}, scp ${samples(t.scpCreate)} (in the first up: ${formatSeconds(t.scpInFirstUp)}), plain copy ${samples(t.plainCopy)}, sshfs ${samples(t.sshfsCreate)}`,
        );
        measurements.push({
          key: "hash_overhead",
          subject: timing(
            "host-hash.sh + host-scp.sh (hashed)",
            t.hostHash.map((h, i) => h + t.scpCreate[i]),
          ),
          baseline: timing("plain copy, nothing hashed", t.plainCopy),
          how: `With hashing: the lab's own ImageTransfer hooks, run by the bench on the lab's settled guest right after the plain copy (host and guest caches dropped first; the first up's own scp step, which also carries a freshly booted guest and case storage, is printed beside it), for the chain's ${evidence!.manifest.files.length} files (${formatGiB(evidence!.manifest.files.reduce((n, f) => n + f.size, 0))}): host-hash.sh (sha256sum on the host) + host-scp.sh create (each file streamed through the pinned ssh into guest-receive.sh: dd conv=sparse,fsync onto the LUKS2 /case, sha256sum of the same stream beside it in the guest). Without: bench/hooks/plain-copy.sh on the same lab, the same files through the same ssh into the same dd, no sha256sum on either side, host and guest caches dropped first. ${RUNS.transfer} run each.`,
        });
        measurements.push({
          key: "sshfs_vs_scp",
          subject: timing("host-sshfs.sh start (mount + full read)", t.sshfsCreate),
          baseline: timing("host-scp.sh create (copy, hashed as it arrives)", t.scpCreate),
          how: `ImageTransfer create, each mode with its own hooks, the host hash not counted: sshfs = sftp pipes started, read-only sshfs mounts in the guest, sha256sum of every file through the mount (a full sequential read), host and guest caches dropped first; scp = the lab's own host-scp.sh create, run as for hash_overhead (every file copied onto the LUKS2 /case and hashed in the guest as it arrives). ${RUNS.transfer} run each.`,
        });
      }

      let rerun: number | undefined;
      if (want("noop_rerun_vs_first_up")) {
        interrupt.check();
        step("pulumi up again on the unchanged stack");
        const r = await timed(() => lab.up());
        rerun = r.seconds;
        step(`  ${formatSeconds(rerun)} (${r.value.log.filter((s) => s.hook).length} hooks ran)`);
        measurements.push({
          key: "noop_rerun_vs_first_up",
          subject: timing("up on the unchanged stack", [rerun]),
          baseline: timing("first up", [up.seconds]),
          how: `The Pulumi engine (scripts/install-pulumi.sh, Automation API) running index.ts for the bench stack, with the policy pack: pulumi up again on the unchanged stack (the program runs, every resource diffs as same, no hook runs) vs the first up (guest boot, LUKS2 case storage, scp of the chain, nbd, mounts); ${RUNS.lab} run each.`,
        });
      }

      interrupt.check();
      step("destroy the lab");
      const destroyed = await timed(() => destroyLab.now());
      step(`  ${formatSeconds(destroyed.seconds)}`);
      if (want("destroy_vs_up")) {
        measurements.push({
          key: "destroy_vs_up",
          subject: timing("destroy", [destroyed.seconds]),
          baseline: timing("first up", [up.seconds]),
          how: `pulumi destroy of the whole bench lab (umount, nbd disconnect, copies removed, case storage closed, guest stopped and undefined, volume crypto-erased) vs its first up; ${RUNS.lab} run each.`,
        });
      }
    }

    if (want("three_cases_vs_one")) {
      interrupt.check();
      const small = await makeEvidence(path.join(workDir, "small-evidence"), 4);
      const opts = { workDir, engine: engine(), evidence: small, transfer: "sshfs" as const, volumeGiB: 1, print };
      step("one case alone: up (guest boot, case storage, sshfs transfer of the 64 MiB image, attach, mount)");
      const one = await upAtOnce(1, opts, cleanup);
      const cores = os.cpus().length;
      const busyCores = (one.cpuSeconds / one.seconds).toFixed(2);
      step(`  ${formatSeconds(one.seconds)}; the host busy ${busyCores} of ${cores} cores on average`);
      // Three cases do three times the CPU work; spread perfectly over every core they take at least this.
      const floor = (3 * one.cpuSeconds) / cores / one.seconds;
      step(
        `  so three cases, each doing this work, take at least ${(floor * one.seconds).toFixed(0)} s on ${cores} cores: a ratio of ${floor.toFixed(2)} at best`,
      );
      interrupt.check();
      step("three cases at once");
      const three = await upAtOnce(3, opts, cleanup);
      step(
        `  ${formatSeconds(three.seconds)} (each: ${three.ups.map((u) => formatSeconds(u.seconds)).join(", ")}); the host busy ${(three.cpuSeconds / three.seconds).toFixed(2)} of ${cores} cores, ${formatSeconds(three.cpuSeconds)} of CPU against ${formatSeconds(one.cpuSeconds)} for one`,
      );
      step("  the hooks, one case alone -> each of the three, those that lost most first:");
      const stepName = (name: string) => name.replace(/^bench-[0-9a-f]+-/, "");
      for (const line of formatPhaseComparison(
        one.ups[0].log,
        three.ups.map((u) => u.log),
        stepName,
      ))
        step(`    ${line}`);
      measurements.push({
        key: "three_cases_vs_one",
        subject: timing("three cases up at once", [three.seconds]),
        baseline: timing("one case up", [one.seconds]),
        how: `Wall time until every lab is up: whole cases (Pulumi engine, index.ts; guest boot, LUKS2 case storage, sshfs transfer of the 64 MiB test image, nbd attach, mounts), three stacks started together vs one alone, each destroyed afterwards (untimed). One case alone kept the host busy ${busyCores} of its ${cores} cores (QEMU software emulation is CPU work); three do three times that work, so on ${cores} cores no schedule beats a ratio of ${floor.toFixed(2)} here; ${RUNS.lab} run each.`,
      });
    }
  } catch (err) {
    failure = err;
  } finally {
    const failedCleanups = await cleanup.runAll(print);
    if (failedCleanups.length > 0) failure ??= new Error(`cleanup failed: ${failedCleanups.join("; ")}`);
  }

  print("");
  print(
    `forensic-lab bench, ${new Date().toISOString()}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}; ${formatSeconds((Date.now() - started) / 1000)} in all`,
  );
  print("");
  if (measurements.length > 0) print(formatTable(measurements));
  if (peers.length > 0) {
    print("");
    print(formatPeersTable(peers));
  }
  if (failure !== undefined) {
    print("");
    print(`bench: FAILED: ${failure instanceof Error ? failure.message : String(failure)}`);
    return interrupt.requested ? 130 : 1;
  }
  if (args.only === undefined && args.bulkMib === DEFAULT_BULK_MIB) {
    const results = buildResults(measurements);
    fs.writeFileSync(args.out, `${JSON.stringify(results, null, 2)}\n`);
    print("");
    print(`bench: wrote ${path.relative(process.cwd(), args.out) || args.out}`);
  } else {
    print("");
    print(
      `bench: ${args.only ? "--only" : "--bulk-mib"}: ${args.out} left as it was (it is written by a complete run with the 1 GiB evidence)`,
    );
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  },
);
