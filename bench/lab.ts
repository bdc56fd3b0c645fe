/**
 * Lab-side measurements, on whole labs built by the real Pulumi engine (test/e2e/pulumi.ts, the CLI of
 * scripts/install-pulumi.sh): the real index.ts for a stack the bench writes. Also the transfers, run with the
 * ImageTransfer component's own hooks against the lab's guest.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { stringify } from "yaml";
import { TransferPlan, planTransfer } from "../components/image-transfer/plan";
import { manifestSchema } from "../components/image-transfer/args";
import { HookRun, transferDriver } from "../test/support/transfer-driver";
import { inspectImage } from "../lib/inspect";
import { GuestConnection, parseHookResult } from "../lib/shell";
import { TYPE } from "../lib/tokens";
import { Lab, runRecorded as runStateCommand } from "../test/e2e/lab";
import { EngineSetup, StateResource, StepLog } from "../test/e2e/pulumi";
import { freeLoopbackPort } from "../test/guest/harness";
import { TEST_PASSPHRASE } from "../test/support/stack-config";
import { Evidence } from "./host";
import { Cleanup, dropHostCaches, hostHook, inGuestHook, inGuestText, must, repeat, run, timed } from "./support";

export interface StackOptions {
  /** Folder for the stack file and the case's state. */
  readonly workDir: string;
  /** The engine and its file backend (one for the whole bench). */
  readonly engine: EngineSetup;
  readonly evidence: Evidence;
  readonly transfer: "scp" | "sshfs";
  /** Size of the case storage (holds scp copies). */
  readonly volumeGiB: number;
  readonly print: (line: string) => void;
}

/** Ports handed out in this process: two cases picked at the same moment must not get the same one. */
const usedPorts = new Set<number>();

async function uniqueLoopbackPort(): Promise<number> {
  for (;;) {
    const port = await freeLoopbackPort();
    if (!usedPorts.has(port)) {
      usedPorts.add(port);
      return port;
    }
  }
}

/**
 * Writes `Pulumi.<caseId>.yaml` for one case with one image (all partitions mounted) and returns a
 * `Lab` over it. The passphrase is the test one, the key derivation the fast test one.
 */
export async function benchLab(opts: StackOptions): Promise<Lab> {
  const caseId = `bench-${randomBytes(3).toString("hex")}`;
  const dir = path.join(opts.workDir, caseId);
  const stateDir = path.join(dir, "state");
  fs.mkdirSync(stateDir, { recursive: true });
  // QEMU runs as libvirt-qemu and must reach the guest's disks under stateDir: the folders above it
  // (a 0700 mkdtemp) let it pass, not list.
  for (let d = dir; d.startsWith(opts.workDir); d = path.dirname(d)) fs.chmodSync(d, 0o711);
  const stackFile = path.join(dir, `Pulumi.${caseId}.yaml`);
  const config = {
    config: {
      "forensic-lab:caseId": caseId,
      "forensic-lab:examiner": "forensic-lab bench",
      "forensic-lab:libvirtUri": "qemu:///system",
      "forensic-lab:stateDir": stateDir,
      "forensic-lab:guest": { sshPort: await uniqueLoopbackPort() },
      "forensic-lab:evidenceVolume": { backend: "file", sizeGiB: opts.volumeGiB, fastKdfForTestsOnly: true },
      // The evidence lives under /var/lib/forensic-lab, a folder no default root reaches: name it.
      "forensic-lab:images": [
        { name: "win7", path: opts.evidence.top, roots: [opts.evidence.dir], format: "vmdk", transfer: opts.transfer, partitions: "all" },
      ],
    },
  };
  fs.writeFileSync(stackFile, `# Written by npm run bench; removed when it ends.\n${stringify(config)}`);
  return new Lab({ stackFile, engine: opts.engine, volumePassphrase: TEST_PASSPHRASE, print: opts.print });
}

/**
 * Registers the lab's destroy (if anything is left of it) with the cleanup list. A create that failed
 * is not in the engine's state (pulumi-command records no partial state), so a domain its hook defined
 * before failing would outlive the destroy: the bench's own domain name is checked and removed too.
 */
export function destroyOnCleanup(lab: Lab, cleanup: Cleanup): { now(): Promise<void> } {
  return cleanup.add(`destroy ${lab.stackName}`, async () => {
    if (lab.built) await lab.destroy();
    await lab.removeStack();
    const domain = `forensic-${lab.caseConfig.caseId}`;
    const uri = lab.caseConfig.libvirtUri;
    if ((await run(["virsh", "-c", uri, "dominfo", domain])).code !== 0) return;
    await run(["virsh", "-c", uri, "destroy", domain]);
    await must(["virsh", "-c", uri, "undefine", domain]);
    throw new Error(`domain ${domain} was still defined after destroy (a failed create left it); removed it`);
  });
}

/** The one `command:local:Command` under the lab's one component of `type`. */
function commandUnder(lab: Lab, type: string): StateResource {
  const components = lab.resources.filter((r) => r.type === type);
  if (components.length !== 1) throw new Error(`the bench lab has ${components.length} ${type} components, expected 1`);
  const commands = lab.resources.filter((r) => r.custom && r.parent === components[0].urn);
  if (commands.length !== 1) throw new Error(`${components[0].urn} has ${commands.length} commands, expected 1`);
  return commands[0];
}

/** Runs a recorded command's create or delete script as the engine's command provider runs it. */
async function runRecorded(resource: StateResource, which: "create" | "delete"): Promise<string> {
  const r = await runStateCommand(resource, which);
  if (r.code !== 0)
    throw new Error(
      `${resource.urn.split("::").pop()} ${which}: exit ${r.code}: ${(r.stderr || r.stdout).trim().split("\n").slice(-6).join("\n")}`,
    );
  return r.stdout;
}

/** Where the lab mounted partition `number` of its one image. */
function mountPointOf(lab: Lab, number: number): string {
  const mounts = lab.componentOutputs(TYPE.PartitionMount).flatMap((o) => (o.mounts ?? []) as { partition: number; mountPoint: string }[]);
  const mount = mounts.find((m) => m.partition === number);
  if (!mount) throw new Error(`the bench lab did not mount partition ${number}`);
  return mount.mountPoint;
}

export function dropGuestCaches(guest: GuestConnection): Promise<unknown> {
  return inGuestHook(guest, "bench/hooks/drop-caches.sh", {});
}

/**
 * On the running lab: unmount and detach (untimed, by the recorded delete scripts, guest caches
 * dropped), then time the recorded NbdAttachment create, PartitionMount create and the examiner's first
 * read of `file` in the NTFS partition. The lab is left as it was: attached and mounted.
 */
export async function attachToRead(lab: Lab, evidence: Evidence, file: string, runs: number): Promise<number[]> {
  const attach = commandUnder(lab, TYPE.NbdAttachment);
  const mount = commandUnder(lab, TYPE.PartitionMount);
  const device = parseHookResult<{ device: string }>(attach.outputs.stdout).device;
  const target = path.posix.join(mountPointOf(lab, evidence.ntfs.number), file);
  const expected = evidence.ntfs.files[file];
  const guest = lab.guest();
  return repeat(
    runs,
    async () => {
      const attached = parseHookResult<{ device: string }>(await runRecorded(attach, "create")).device;
      // The recorded mount script names the device of the first attach.
      if (attached !== device) throw new Error(`the image attached as ${attached} this time, not ${device}`);
      await runRecorded(mount, "create");
      const read = await inGuestHook<{ text: string }>(guest, "bench/hooks/read-as-examiner.sh", { FILE: target });
      if (read.text !== expected) throw new Error(`${target} read as ${JSON.stringify(read.text)}, expected ${JSON.stringify(expected)}`);
    },
    async () => {
      await runRecorded(mount, "delete");
      await runRecorded(attach, "delete");
      await dropGuestCaches(guest);
    },
  );
}

/** Cold sequential reads of the 1 GiB bulk.bin in the lab's read-only ext4 mount, timed in the guest. */
export async function inGuestRead(lab: Lab, evidence: Evidence, runs: number): Promise<number[]> {
  const file = path.posix.join(mountPointOf(lab, evidence.ext4.number), "bulk.bin");
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await timed(() =>
      inGuestHook<{ nanoseconds: number }>(lab.guest(), "bench/hooks/timed-read.sh", { FILE: file, BYTES: evidence.ext4.bulkBytes }),
    );
    const seconds = r.value.nanoseconds / 1e9;
    // The guest's clock runs on QEMU's virtual clock; a reading longer than the whole ssh round trip is wrong.
    if (!(seconds > 0 && seconds <= r.seconds)) throw new Error(`the guest timed ${seconds} s for a read the host saw take ${r.seconds} s`);
    samples.push(seconds);
  }
  return samples;
}

export interface TransferTimes {
  /** host-hash.sh create, host caches dropped first. */
  readonly hostHash: number[];
  /** host-scp.sh create right after it (copy through ssh into guest-receive.sh: dd, with sha256sum of the stream beside it in the guest). */
  readonly scpCreate: number[];
  /** The lab's own scp step in its first up, by the engine's clock: also carries the freshly booted guest and case storage. */
  readonly scpInFirstUp: number;
  /** plain-copy.sh: the same bytes into the same dd, nothing hashed. */
  readonly plainCopy: number[];
  /** host-sshfs.sh start: sftp pipes, read-only mounts, sha256sum of every file through the mount in the guest. */
  readonly sshfsCreate: number[];
}

function ok(what: string, r: HookRun): void {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${r.stderr.trim().split("\n").slice(-6).join("\n")}`);
}

/**
 * How long the lab's own transfer step (in the lab's mode) took in its first up, by the engine's clock.
 * Nothing else ran meanwhile (one image; the transfer waits for the case storage), so this is the step alone.
 */
export function transferInFirstUp(lab: Lab, upLog: readonly StepLog[]): number {
  const component = lab.resources.filter((r) => r.type === TYPE.ImageTransfer);
  if (component.length !== 1) throw new Error(`the bench lab has ${component.length} ImageTransfer components, expected 1`);
  const mode = component[0].inputs.mode as string;
  const name = `${component[0].urn.split("::").pop()}-${mode}`;
  const step = upLog.find((s) => s.name === name && s.hook && s.op === "create" && s.result === "done");
  if (!step) throw new Error(`the first up ran no create of ${name}`);
  return step.durationMs / 1000;
}

/**
 * The evidence moved into the lab's guest three ways (about a minute or two each under TCG): without
 * hashing, by the lab's own hashed scp, and through sshfs; host and guest caches dropped before each,
 * every copy removed again. The first up's own scp step (`transferInFirstUp`) is kept for comparison.
 */
export async function transfers(
  lab: Lab,
  upLog: readonly StepLog[],
  evidence: Evidence,
  workDir: string,
  cleanup: Cleanup,
): Promise<TransferTimes> {
  const guest = lab.guest();
  const scpInFirstUp = transferInFirstUp(lab, upLog);
  const manifest = await inspectImage(evidence.top, { roots: [evidence.dir] });
  const stateDir = path.join(workDir, "transfer-state");
  fs.mkdirSync(stateDir, { recursive: true });
  const coldBoth = async () => {
    await dropHostCaches();
    await dropGuestCaches(guest);
  };

  // One ImageTransfer of the evidence in `mode` on the lab's guest, and its removal (copies or mounts,
  // then the host's release lines) registered with the cleanup.
  const transferIn = (mode: "scp" | "sshfs") => {
    const name = `bench-${mode}`;
    const driver = transferDriver(guest, {
      imageName: name,
      manifest,
      mode,
      readOnly: true,
      hashed: true,
      custodyLogPath: path.join(stateDir, "custody.jsonl"),
      examiner: "forensic-lab bench",
      stateDir,
    });
    const remove = cleanup.add(`remove the ${mode} transfer ${name}`, async () => {
      ok(`${name} delete`, await driver.destroy());
      ok(`${name} release`, await driver.release());
    });
    return { driver, remove };
  };

  const plainRoot = "/case/bench-plain";
  const plan: TransferPlan = planTransfer(manifestSchema.parse(manifest), plainRoot);
  const removePlain = cleanup.add(`remove ${plainRoot} in the guest`, async () => {
    await inGuestHook(guest, "bench/hooks/remove-plain.sh", { ROOT: plainRoot });
  });
  const receive = await inGuestText(guest, "bench/hooks/receive-plain.sh", { DESTS: plan.files.map((f) => f.guestPath) });
  const plainCopy = await repeat(
    1,
    () => hostHook("bench/hooks/plain-copy.sh", { HOST_FILES: plan.files.map((f) => f.hostPath), GUEST_RECEIVE_HOOK: receive }),
    coldBoth,
  );
  await removePlain.now();

  // The lab's own hashed scp (host-hash.sh, then host-scp.sh), run here on the same settled guest as the
  // plain copy, both caches dropped first, so that the two differ in the hashing only. The host hash
  // leaves the files in the host's cache for the send, as in an up.
  const { driver: scp, remove: removeScp } = transferIn("scp");
  await coldBoth();
  const hostHash = [(await timed(async () => ok("host-hash.sh (scp)", await scp.hostHash()))).seconds];
  const scpCreate = [(await timed(async () => ok("host-scp.sh copy", await scp.create()))).seconds];
  await removeScp.now();

  const { driver: sshfs, remove: removeSshfs } = transferIn("sshfs");
  ok("host-hash.sh (sshfs)", await sshfs.hostHash());
  const sshfsCreate = await repeat(1, async () => ok("host-sshfs.sh start", await sshfs.create()), coldBoth);
  await removeSshfs.now();

  return { hostHash, scpCreate, scpInFirstUp, plainCopy, sshfsCreate };
}
