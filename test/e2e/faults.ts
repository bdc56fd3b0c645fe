/**
 * Fault steps of the whole-lab run: things that go wrong under a real lab (the guest killed, qemu-nbd
 * killed, a shell parked in a mount, ssh cut mid-transfer, a wrong passphrase) and what must still hold
 * afterwards: the evidence files on the host hash as made, and destroy leaves nothing but the custody log.
 * They reuse labs: the first set runs on the lab the interrupted-up step left, the second on one more lab.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { ImageConfig } from "../../lib/config/types";
import { GuestConnection, shellQuote as shq } from "../../lib/shell";
import { TYPE } from "../../lib/tokens";
import { runPulumi, spawnPulumi } from "./pulumi";
import { Lab, POLICY_PACK } from "./lab";
import { RESUMED, UP } from "./lab-steps";
import { bash, CUSTODY_LOG, evidenceManifest, inGuest, leftovers, mountPointOf, mustInGuest, volumeManifest } from "./outside";
import { Step } from "./steps";
import { descendants, parentOf } from "../support/processes";

const WRONG_PASSPHRASE = "fault: a wrong passphrase for the existing volume is refused, nothing erased";
const NBD_KILLED = "fault: qemu-nbd killed in the guest, up again reattaches, no stale device";
const BUSY = "fault: a process in a mount point stops destroy, naming it, nothing erased";
const BUSY_DESTROY = "fault: destroy after the busy process is gone";
const SSH_DROPPED = "fault: ssh dropped in the middle of an scp transfer, up again resumes";
const GUEST_KILLED = "fault: guest killed (virsh destroy), destroy still leaves nothing";
const KILLED = "fault: pulumi killed part-way (SIGTERM twice), then cancel, refresh and up again converge";

/** sha256 of a file on the host. */
function sha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** Every evidence file of the stack with the sha256 scripts/make-evidence.sh recorded (or, without a manifest, its hash now). */
function evidenceHashes(images: readonly ImageConfig[]): Map<string, string> {
  const hashes = new Map<string, string>();
  for (const image of images) {
    const manifest = evidenceManifest(image);
    const volumes = volumeManifest(image);
    if (!manifest?.files) {
      hashes.set(image.path, volumes?.sha256 ?? sha256(image.path));
      continue;
    }
    let dir = path.dirname(image.path);
    while (!fs.existsSync(path.join(dir, "evidence.json"))) dir = path.dirname(dir);
    // The image is the vmdk chain or the EWF set of the same disk.
    const files = image.path === path.join(dir, manifest.ewf.top) ? manifest.ewf.segments : manifest.files;
    for (const f of files) hashes.set(path.join(dir, f.path), f.sha256);
  }
  return hashes;
}

/** Throws naming every evidence file whose sha256 differs from `expected`. */
function checkEvidence(expected: Map<string, string>): string {
  const changed = [...expected].filter(([file, hash]) => sha256(file) !== hash).map(([file]) => file);
  if (changed.length > 0) throw new Error(`evidence changed on the host: ${changed.join(", ")}`);
  return `${expected.size} evidence files hash as made`;
}

/** Pids and command lines of host processes whose command line contains `needle`. */
function hostProcesses(needle: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ").trim();
      if (cmdline.includes(needle)) found.push({ pid: Number(entry), cmdline });
    } catch {
      // Gone while we looked.
    }
  }
  return found;
}

/** After a destroy: no domain, no qemu for it, no ssh/sftp pipe of the case, nothing but the custody log in the case folder. */
async function checkNothingLeft(lab: Lab, guest: GuestConnection): Promise<void> {
  const r = await bash(`virsh -c ${shq(guest.libvirtUri)} dominfo ${shq(guest.domainName)}`);
  if (r.code === 0) throw new Error(`domain ${guest.domainName} is still defined`);
  const qemu = hostProcesses(`guest=${guest.domainName}`);
  if (qemu.length > 0) throw new Error(`qemu of ${guest.domainName} still runs: pid ${qemu.map((p) => p.pid).join(", ")}`);
  // Every ssh session and sftp pipe of the case names the case's key or folder.
  const pipes = hostProcesses(lab.caseConfig.stateDir);
  if (pipes.length > 0) throw new Error(`still running for the case: ${pipes.map((p) => `${p.pid} ${p.cmdline.slice(0, 80)}`).join("; ")}`);
  const left = leftovers(lab.caseConfig.stateDir, [CUSTODY_LOG]);
  if (left.length > 0) throw new Error(`left behind in ${lab.caseConfig.stateDir}: ${left.join(", ")}`);
}

/** The first image with a partition in the evidence manifest, and that partition's mount point. */
function someMount(images: readonly ImageConfig[]): { image: ImageConfig; mountPoint: string; files: Record<string, string> } {
  for (const image of images) {
    for (const p of evidenceManifest(image)?.partitions ?? []) {
      const mountPoint = mountPointOf(image, p.number);
      if (mountPoint !== undefined && Object.keys(p.files).length > 0) return { image, mountPoint, files: p.files };
    }
  }
  throw new Error("no image with a mounted partition and known files in its evidence.json");
}

/** Reads every known file of every image in the guest, as the examiner. */
async function checkReads(lab: Lab): Promise<number> {
  let n = 0;
  for (const image of lab.caseConfig.images) {
    for (const p of evidenceManifest(image)?.partitions ?? []) {
      const mountPoint = mountPointOf(image, p.number);
      if (mountPoint === undefined) continue;
      for (const [file, content] of Object.entries(p.files)) {
        const got = await mustInGuest(lab.guest(), 'runuser -u examiner -- cat -- "$FILE"', { FILE: `${mountPoint}/${file}` });
        if (got !== content) throw new Error(`${mountPoint}/${file}: ${JSON.stringify(got)}, expected ${JSON.stringify(content)}`);
        n++;
      }
    }
  }
  return n;
}

/** sha256 of the first 16 MiB (the LUKS2 header area) of the device under /case, in the guest. */
async function luksHeaderHash(guest: GuestConnection): Promise<{ device: string; hash: string }> {
  const out = await mustInGuest(
    guest,
    `mapper=$(findmnt -n -o SOURCE /case)
device=$(cryptsetup status -- "$(basename -- "$mapper")" | awk '$1 == "device:" { print $2; exit }')
[[ -n $device ]] || { echo "no LUKS device under /case ($mapper)" >&2; exit 1; }
printf '%s %s\\n' "$device" "$(head -c 16M -- "$device" | sha256sum | cut -d' ' -f1)"`,
  );
  const [device, hash] = out.trim().split(" ");
  return { device, hash };
}

/** Connected nbd devices in the guest (size > 0), each with whether a qemu-nbd process serves it. */
async function nbdDevices(guest: GuestConnection): Promise<{ device: string; served: boolean }[]> {
  const out = await mustInGuest(
    guest,
    `for dev in /sys/block/nbd*; do
  [[ $(cat "$dev/size") != 0 ]] || continue
  served=false
  [[ -r $dev/pid ]] && kill -0 "$(cat "$dev/pid")" 2>/dev/null && served=true
  echo "/dev/$(basename "$dev") $served"
done`,
  );
  return out
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => ({ device: l.split(" ")[0], served: l.split(" ")[1] === "true" }));
}

interface Sleeper {
  guest: GuestConnection;
  pid: number;
}

/**
 * Kills the ssh session carrying one scp'd file while the host's reader of it (`dd if=FILE iflag=noatime`,
 * components/image-transfer/hooks/host-evidence-read.sh) is part-way through; resolves with what it cut.
 */
function dropSshMidTransfer(images: readonly ImageConfig[], stop: { done: boolean }): Promise<string> {
  const hostFiles = [...evidenceHashes(images.filter((i) => i.transfer === "scp")).keys()];
  return new Promise((resolve) => {
    const tick = () => {
      if (stop.done) return resolve("");
      for (const reader of hostProcesses("dd if=")) {
        const file = hostFiles.find((f) => reader.cmdline.startsWith(`dd if=${f} iflag=noatime `));
        const cut = file === undefined ? undefined : cutPipeline(reader.pid, file);
        if (cut) return resolve(cut);
      }
      setTimeout(tick, 20);
    };
    tick();
  });
}

/** If the reader (pid) has read part of `file`, SIGKILLs the ssh processes of its pipeline; says what it did. */
function cutPipeline(readerPid: number, file: string): string | undefined {
  try {
    const size = fs.statSync(file).size;
    const fd = fs.readdirSync(`/proc/${readerPid}/fd`).find((n) => fs.readlinkSync(`/proc/${readerPid}/fd/${n}`) === file);
    if (fd === undefined) return undefined;
    const pos = Number(/^pos:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${readerPid}/fdinfo/${fd}`, "utf8"))?.[1] ?? 0);
    if (pos === 0 || pos >= size) return undefined;
    // The reader feeds `bash -c <receive hook>`, whose ssh is below the nearest ancestor the two share: a
    // shell of host-scp.sh's, never above it (host-hash.sh reads with the same dd, and has no ssh below it).
    for (let ancestor = parentOf(readerPid), i = 0; i < 3 && comm(ancestor) === "bash"; ancestor = parentOf(ancestor), i++) {
      const ssh = descendants(ancestor).filter((pid) => comm(pid) === "ssh");
      if (ssh.length === 0) continue;
      for (const pid of ssh) process.kill(pid, "SIGKILL");
      return `killed ssh ${ssh.join(", ")} at byte ${pos} of ${size} of ${path.basename(file)}`;
    }
    return undefined;
  } catch {
    return undefined;
  }
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** The fault steps, to follow the interrupted-up step (whose lab they take over) in `labSteps`. */
export function faultSteps(lab: Lab): Step<Lab>[] {
  const images = lab.caseConfig.images;
  const evidence = evidenceHashes(images);
  const steps: Step<Lab>[] = [];
  let sleeper: Sleeper | undefined;

  steps.push({
    name: WRONG_PASSPHRASE,
    needs: [RESUMED],
    async run() {
      const guest = lab.guest();
      const before = await luksHeaderHash(guest);
      const right = lab.opts.volumePassphrase;
      let failure = "";
      // As a user would: `pulumi config set --secret` to the wrong value, `pulumi up`, then back.
      await lab.setPassphrase(`${right} but wrong`);
      try {
        await lab.up();
      } catch (err) {
        failure = (err as Error).message;
      } finally {
        await lab.setPassphrase(right);
      }
      if (!failure) throw new Error("up with a wrong passphrase succeeded");
      if (!/wrong passphrase for the existing evidence volume \S+/.test(failure)) {
        throw new Error(`up with a wrong passphrase failed, but not naming the volume: ${failure.split("\n").slice(0, 3).join(" | ")}`);
      }
      if (failure.includes(`${right} but wrong`)) throw new Error("the error shows the passphrase");
      const after = await luksHeaderHash(guest);
      if (after.hash !== before.hash) throw new Error(`LUKS header of ${before.device} changed: ${before.hash} -> ${after.hash}`);
      await lab.up();
      const files = await checkReads(lab);
      const volume = /wrong passphrase for the existing evidence volume ([^\s;]+)/.exec(failure)![1];
      return `refused for ${volume}, header of ${after.device} unchanged, right passphrase reads ${files} files; ${checkEvidence(evidence)}`;
    },
  });

  steps.push({
    name: NBD_KILLED,
    needs: [RESUMED],
    async run() {
      const guest = lab.guest();
      const attachments = lab.componentOutputs(TYPE.NbdAttachment).length;
      const pid = (await mustInGuest(guest, "pgrep -x -o qemu-nbd")).trim();
      await mustInGuest(guest, 'kill -KILL "$PID"; while kill -0 "$PID" 2>/dev/null; do sleep 0.1; done', { PID: pid });
      // The recovery a user runs: replace the attachments (`pulumi up --replace <urn>`); their mounts
      // depend on them and are replaced with them (delete-before-replace: unmount, detach, attach, mount).
      const attach = lab
        .commands()
        .filter((c) => lab.resources.find((r) => r.urn === c.parent)?.type === TYPE.NbdAttachment)
        .map((c) => c.urn);
      await lab.up({ replace: attach });
      const devices = await nbdDevices(guest);
      const stale = devices.filter((d) => !d.served);
      if (stale.length > 0) throw new Error(`connected without a qemu-nbd: ${stale.map((d) => d.device).join(", ")}`);
      if (devices.length !== attachments)
        throw new Error(`${devices.length} nbd devices connected, the lab has ${attachments} attachments`);
      const files = await checkReads(lab);
      return `killed qemu-nbd ${pid}; ${devices.length} devices served, ${files} files read; ${checkEvidence(evidence)}`;
    },
  });

  steps.push({
    name: BUSY,
    needs: [RESUMED],
    async run() {
      const guest = lab.guest();
      const { mountPoint } = someMount(images);
      const pid = Number(
        (
          await mustInGuest(guest, '(cd -- "$MOUNT_POINT" && exec setsid sleep 900) </dev/null >/dev/null 2>&1 & echo $!', {
            MOUNT_POINT: mountPoint,
          })
        ).trim(),
      );
      sleeper = { guest, pid };
      const resourcesBefore = lab.resources.length;
      let failure = "";
      try {
        await lab.destroy();
      } catch (err) {
        failure = (err as Error).message;
      }
      if (!failure) throw new Error(`destroy succeeded with sleep (pid ${pid}) in ${mountPoint}`);
      if (!failure.includes(mountPoint) || !/busy/.test(failure) || !(failure.includes(String(pid)) || failure.includes("sleep"))) {
        throw new Error(`destroy failed, but not naming the busy mount and its process: ${failure.split("\n").slice(0, 4).join(" | ")}`);
      }
      // Nothing erased half-way: the guest, the case storage and the busy mount are all still there.
      const state = (await bash(`virsh -c ${shq(guest.libvirtUri)} domstate ${shq(guest.domainName)}`)).stdout.trim();
      if (state !== "running") throw new Error(`after the refused destroy the domain is ${state || "gone"}`);
      await mustInGuest(guest, 'findmnt -n /case >/dev/null && findmnt -n -- "$MOUNT_POINT" >/dev/null', { MOUNT_POINT: mountPoint });
      const left = lab.resources.length;
      const holder = failure
        .split("\n")
        .find((l) => l.includes(String(pid)) || /\bsleep\b/.test(l))
        ?.trim();
      return `refused: ${failure
        .split("\n")
        .find((l) => l.includes("busy"))
        ?.trim()} ${holder}; ${left} of ${resourcesBefore} resources kept; ${checkEvidence(evidence)}`;
    },
  });

  steps.push({
    name: BUSY_DESTROY,
    always: true,
    async run() {
      if (sleeper) {
        await inGuest(sleeper.guest, 'kill -KILL "$PID" 2>/dev/null || true', { PID: sleeper.pid });
        sleeper = undefined;
      }
      if (!lab.built) return "nothing to destroy";
      const guest = lab.guest();
      const log = await lab.destroy();
      await checkNothingLeft(lab, guest);
      return `${log.filter((s) => s.hook).length} delete hooks; ${checkEvidence(evidence)}`;
    },
  });

  steps.push({
    name: SSH_DROPPED,
    // Not on BUSY_DESTROY passing: a leftover file fails that step, but the lab is gone and this one can run.
    needs: [UP],
    async run() {
      if (lab.built) throw new Error("the faulted lab is still there (its destroy failed); this step builds a new one");
      if (!images.some((i) => i.transfer === "scp")) throw new Error("the stack has no scp image to cut a transfer of");
      const stop = { done: false };
      const dropped = dropSshMidTransfer(images, stop);
      let failure = "";
      try {
        await lab.up();
      } catch (err) {
        failure = (err as Error).message;
      } finally {
        stop.done = true;
      }
      const cut = await dropped;
      if (!cut) throw new Error("up ran without an scp transfer to cut (every copy was already there?)");
      if (!failure) throw new Error(`up succeeded though ssh was cut (${cut})`);
      if (!/copying .* to the guest failed; run again to resume/.test(failure)) {
        throw new Error(`up failed, but not as a cut transfer: ${failure.split("\n").slice(0, 3).join(" | ")}`);
      }
      await lab.up();
      const files = await checkReads(lab);
      return `${cut}; up again converged, ${files} files read; ${checkEvidence(evidence)}`;
    },
  });

  steps.push({
    name: GUEST_KILLED,
    needs: [SSH_DROPPED],
    async run() {
      const guest = lab.guest();
      const r = await bash(`virsh -c ${shq(guest.libvirtUri)} destroy ${shq(guest.domainName)}`);
      if (r.code !== 0) throw new Error(`virsh destroy ${guest.domainName}: ${r.stderr.trim()}`);
      const log = await lab.destroy();
      await checkNothingLeft(lab, guest);
      return `${log.filter((s) => s.hook).length} delete hooks after the guest was killed; ${checkEvidence(evidence)}`;
    },
  });

  steps.push({
    name: KILLED,
    // Not on the earlier faults passing: it needs no lab, only that none is left.
    needs: [UP],
    async run() {
      if (lab.built) throw new Error("a lab from the earlier faults is still there (its destroy failed)");
      // `pulumi up`, then SIGTERM twice once a few hooks are done: the first starts a graceful cancel,
      // the second ends the CLI at once, as `kill` twice or a closing terminal would. The state keeps
      // pending operations and the file backend its lock.
      const stack = await lab.stack();
      const pulumi = spawnPulumi(
        ["up", "--yes", "--skip-preview", "--non-interactive", "--stack", stack.name, "--policy-pack", POLICY_PACK],
        lab.opts.engine,
      );
      let output = "";
      let killedAt = "";
      const exited = new Promise<number | null>((resolve) => pulumi.on("close", resolve));
      pulumi.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString("utf8");
        const created = output.match(/command:local:Command \S+ created/g)?.length ?? 0;
        if (created >= 4 && !killedAt) {
          killedAt = `after ${created} hooks`;
          pulumi.kill("SIGTERM");
          setTimeout(() => pulumi.kill("SIGTERM"), 200);
        }
      });
      const code = await exited;
      if (!killedAt) throw new Error(`up ended (exit ${code}) before it could be killed: ${output.split("\n").slice(-5).join(" | ")}`);
      // The hooks it started run on, in their own process groups: wait for them, as a user waits for the disk to go quiet.
      for (let i = 0; i < 600 && hostProcesses("forensic-lab hook:").length > 0; i++) await new Promise((r) => setTimeout(r, 500));
      // The documented recovery (README, "When pulumi up is interrupted").
      const recovery = [
        ["cancel", "--yes", "--stack", stack.name],
        ["refresh", "--yes", "--clear-pending-creates", "--non-interactive", "--stack", stack.name],
      ];
      for (const args of recovery) {
        const r = await runPulumi(args, lab.opts.engine);
        if (r.code !== 0)
          throw new Error(`pulumi ${args[0]}: exit ${r.code}: ${(r.stderr || r.stdout).trim().split("\n").slice(-4).join(" | ")}`);
      }
      const resumed = await lab.up();
      const files = await checkReads(lab);
      return `killed ${killedAt}; pulumi cancel, refresh --clear-pending-creates, up: ${resumed.log.filter((s) => s.hook).length} hooks, ${files} files read; ${checkEvidence(evidence)}`;
    },
  });

  steps.push({
    name: "destroy after the fault steps",
    always: true,
    async run() {
      if (!lab.built) return "nothing to destroy";
      let guest: GuestConnection | undefined;
      try {
        guest = lab.guest();
      } catch {
        guest = undefined;
      }
      const log = await lab.destroy();
      if (guest) await checkNothingLeft(lab, guest);
      return `${log.filter((s) => s.hook).length} delete hooks; ${checkEvidence(evidence)}`;
    },
  });

  return steps;
}
