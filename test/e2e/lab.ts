/**
 * The whole-lab scenario `npm run e2e` runs: build the lab for a stack with the e2e engine, check it
 * from the outside (in the guest, over the same pinned ssh the hooks use), prove the hooks converge
 * and are idempotent, destroy it and check nothing is left. Each check is one named step (steps.ts);
 * new checks slot into `labSteps`.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { loadStackFile } from "../../lib/config/stack-file";
import type { CaseConfig, ImageConfig } from "../../lib/config/types";
import { GuestConnection, HookValue, REPO_ROOT, renderHook, renderInGuest, renderPrelude, shellQuote as shq } from "../../lib/shell";
import { TYPE } from "../../lib/tokens";
import { EngineConfig, engineConfigFromStackFile } from "../support/stack-config";
import { EngineRun, EngineState, StepLog, destroy, stateOf, up } from "./engine";
import { faultSteps } from "./faults";
import { Step, seconds } from "./steps";

/** A hung hook fails the run instead of hanging CI (pulumi itself would wait forever). */
const HOOK_TIMEOUT_MS = 20 * 60_000;

export interface LabOptions {
  readonly stackFile: string;
  /** The Pulumi program. @default `<repo>/index.ts` */
  readonly program: string;
  /** Where the checkpoint is kept between steps (and for `--destroy` after a crash). */
  readonly stateFile: string;
  /** Passphrase sealing secrets in the checkpoint. */
  readonly secretsPassphrase: string;
  readonly print: (line: string) => void;
}

/** What the steps share: the stack, the latest run, and the checkpoint on disk. */
export class Lab {
  readonly engine: EngineConfig;
  readonly caseConfig: CaseConfig;
  run: EngineRun | undefined;
  /** The checkpoint the last successful destroy started from. */
  destroyed: EngineState | undefined;

  constructor(readonly opts: LabOptions) {
    this.engine = engineConfigFromStackFile(opts.stackFile);
    // Image files are a step of their own (with a hint), not a load error.
    this.caseConfig = loadStackFile(opts.stackFile, { checkFiles: false });
  }

  get state(): EngineState | undefined {
    return fs.existsSync(this.opts.stateFile) ? (JSON.parse(fs.readFileSync(this.opts.stateFile, "utf8")) as EngineState) : undefined;
  }

  private save(state: EngineState | undefined): void {
    if (state === undefined || state.resources.length === 0) fs.rmSync(this.opts.stateFile, { force: true });
    else fs.writeFileSync(this.opts.stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });
  }

  private printStep = (s: StepLog): void => {
    // `update (create)`: an update that ran the create script; otherwise the op says it.
    const what = s.hook && s.hook !== s.op ? `${s.op} (${s.hook})` : s.op;
    const result = s.result === "done" ? "" : ` ${s.result.toUpperCase()}${s.detail ? `: ${s.detail.split("\n")[0]}` : ""}`;
    const changed = s.changed ? ` (changed: ${s.changed.join(", ")})` : "";
    this.opts.print(`    ${what.padEnd(22)} ${s.name.padEnd(44)} ${seconds(s.durationMs)}${result}${changed}`);
  };

  /** `up` from the saved checkpoint; the checkpoint is updated whether it succeeds or not. */
  async up(extra: { forceRerun?: boolean; interruptAfterHooks?: number; config?: Record<string, string> } = {}): Promise<EngineRun> {
    const { config, ...options } = extra;
    try {
      this.run = await up(this.opts.program, {
        stack: this.engine.stack,
        project: this.engine.project,
        config: { ...this.engine.config, ...config },
        secretKeys: this.engine.secretKeys,
        previous: this.state,
        workDir: REPO_ROOT,
        secretsPassphrase: this.opts.secretsPassphrase,
        hookTimeoutMs: HOOK_TIMEOUT_MS,
        onStep: this.printStep,
        onProgramOutput: (text) => text.trimEnd().split("\n").forEach((line) => this.opts.print(`    | ${line}`)),
        ...options,
      });
      this.save(stateOf(this.run));
      return this.run;
    } catch (err) {
      const run = (err as { run?: EngineRun }).run;
      if (run) this.save(stateOf(run));
      throw err;
    }
  }

  /** `destroy` of the saved checkpoint; what is left stays saved. */
  async destroy(): Promise<StepLog[]> {
    const state = this.state;
    if (!state) return [];
    try {
      const log = await destroy(state, { secretsPassphrase: this.opts.secretsPassphrase, hookTimeoutMs: HOOK_TIMEOUT_MS, onStep: this.printStep });
      this.save(undefined);
      this.destroyed = state;
      return log;
    } catch (err) {
      this.save((err as { state?: EngineState }).state);
      throw err;
    }
  }

  /** The guest connection the lab's in-guest components were given. */
  guest(): GuestConnection {
    const holder = this.run?.resources.find(
      (r) => [TYPE.ImageTransfer, TYPE.NbdAttachment, TYPE.PartitionMount].includes(r.type as never) && r.inputs.guest,
    );
    if (!holder) throw new Error("no ImageTransfer/NbdAttachment/PartitionMount in the run carries a guest connection");
    return holder.inputs.guest as GuestConnection;
  }

  /** Outputs of every component of `type` in the run. */
  componentOutputs(type: string): Record<string, any>[] {
    return (this.run?.resources ?? []).filter((r) => r.type === type).map((r) => r.outputs);
  }
}

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `bash -c` with `stdin`; never throws on the exit code. */
export function bash(script: string, timeoutMs = 120_000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/bash", ["-c", script], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/**
 * Runs `body` as root in the guest through `lib/hooks/in-guest.sh`, the way every in-guest hook runs
 * (pinned host key, per-case key); values reach it through a quoted prelude, never spliced.
 */
export function inGuest(guest: GuestConnection, body: string, values: Record<string, HookValue> = {}): Promise<ExecResult> {
  const inner = `#!/usr/bin/env bash\nset -euo pipefail\n${renderPrelude(values)}\n${body}\n`;
  return bash(renderInGuest(guest, inner, "fail"));
}

export async function mustInGuest(guest: GuestConnection, body: string, values: Record<string, HookValue> = {}): Promise<string> {
  const r = await inGuest(guest, body, values);
  if (r.code !== 0) throw new Error(`in the guest: exit ${r.code}: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`);
  return r.stdout;
}

/** `evidence.json` of scripts/make-evidence.sh: what the test image holds, per partition. */
export interface EvidenceManifest {
  readonly files?: readonly { readonly path: string; readonly sha256: string }[];
  readonly partitions: readonly { readonly number: number; readonly filesystem: string; readonly files: Record<string, string> }[];
}

/** The manifest next to an image made by make-evidence.sh (`<out>/snapshots/x.vmdk` -> `<out>/evidence.json`). */
export function evidenceManifest(image: ImageConfig): EvidenceManifest | undefined {
  for (let dir = path.dirname(image.path), i = 0; i < 3; dir = path.dirname(dir), i++) {
    const file = path.join(dir, "evidence.json");
    if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, "utf8")) as EvidenceManifest;
  }
  return undefined;
}

export function mountPointOf(image: ImageConfig, partition: number): string | undefined {
  if (image.partitions === "all") return `${image.mountRoot}/p${partition}`;
  return image.partitions.find((p) => p.number === partition)?.mountPoint;
}

export const UP = "up: the lab is built";
const DESTROY = "destroy: everything is undone";

/** The steps for one stack, in order. */
export function labSteps(lab: Lab): Step<Lab>[] {
  const images = lab.caseConfig.images;
  const steps: Step<Lab>[] = [];

  steps.push({
    name: "host: libvirt answers",
    async run() {
      const uri = lab.caseConfig.libvirtUri;
      if ((await bash(`virsh -c ${shq(uri)} version`)).code === 0) return uri;
      if (lab.caseConfig.libvirtHost.kind !== "local") throw new Error(`virsh -c ${uri} fails; start libvirtd on that host`);
      // No init system here (containers, CI): start the daemons by hand, as scripts/demo.sh does.
      await bash("pgrep -x virtlogd >/dev/null || virtlogd -d; pgrep -x libvirtd >/dev/null || libvirtd -d");
      for (let i = 0; i < 50; i++) {
        if ((await bash(`virsh -c ${shq(uri)} version`)).code === 0) return `${uri} (started libvirtd)`;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`virsh -c ${uri} still fails after starting virtlogd and libvirtd`);
    },
  });

  for (const image of images) {
    steps.push({
      name: `evidence: ${image.name} is there`,
      async run() {
        if (!fs.existsSync(image.path)) {
          throw new Error(`${image.path}: no such file; make the test evidence with: scripts/make-evidence.sh ${path.dirname(path.dirname(image.path))}`);
        }
        return image.path;
      },
    });
  }

  steps.push({
    name: UP,
    needs: ["host: libvirt answers", ...images.map((i) => `evidence: ${i.name} is there`)],
    async run() {
      if (lab.state) throw new Error(`${lab.opts.stateFile} holds a lab from an earlier run; npm run e2e -- --destroy ${lab.opts.stateFile}`);
      const run = await lab.up();
      return `${run.log.filter((s) => s.hook).length} hooks`;
    },
  });

  steps.push({
    name: "up again: nothing to do",
    needs: [UP],
    async run() {
      const ran = (await lab.up()).log.filter((s) => s.hook);
      if (ran.length > 0) throw new Error(`hooks ran on an unchanged stack: ${ran.map((s) => s.name).join(", ")}`);
    },
  });

  steps.push({
    name: "up with every create hook re-run: hooks are idempotent",
    needs: [UP],
    async run() {
      const before = lab.run!.outputs;
      const run = await lab.up({ forceRerun: true });
      if (JSON.stringify(run.outputs) !== JSON.stringify(before)) throw new Error("stack outputs changed when hooks ran again");
      return `${run.log.filter((s) => s.hook).length} hooks re-run`;
    },
  });

  steps.push({
    name: "guest: running, reached over ssh with its pinned host key",
    needs: [UP],
    async run() {
      const guest = lab.guest();
      const state = await bash(`virsh -c ${shq(guest.libvirtUri)} domstate ${shq(guest.domainName)}`);
      if (state.stdout.trim() !== "running") throw new Error(`domain ${guest.domainName}: ${state.stdout.trim() || state.stderr.trim()}`);
      return `${guest.domainName}: ${(await mustInGuest(guest, "uname -r")).trim()}`;
    },
  });

  steps.push({
    name: "guest: case storage mounted at /case",
    needs: [UP],
    async run() {
      return (await mustInGuest(lab.guest(), "findmnt -n -o SOURCE,FSTYPE /case")).trim();
    },
  });

  for (const image of images) {
    const manifest = evidenceManifest(image);
    const mounts = `${image.name}: every evidence mount is read-only`;
    steps.push({
      name: mounts,
      needs: [UP],
      async run() {
        // Each mount below the image's mount root, and each sshfs mount of the image.
        const out = await mustInGuest(
          lab.guest(),
          'findmnt -rn -o TARGET,OPTIONS | while read -r target options; do case "$target" in "$MOUNT_ROOT"/*|"$SSHFS_ROOT"|"$SSHFS_ROOT"/*) echo "$target $options";; esac; done',
          { MOUNT_ROOT: image.mountRoot, SSHFS_ROOT: `/evidence/${image.name}` },
        );
        const lines = out.trim().split("\n").filter(Boolean);
        if (lines.length === 0) throw new Error(`no mounts under ${image.mountRoot}`);
        const writable = lines.filter((l) => !l.split(" ")[1].split(",").includes("ro"));
        if (writable.length > 0) throw new Error(`not read-only: ${writable.join("; ")}`);
        return `${lines.length} mounts`;
      },
    });
    if (!manifest) {
      steps.push({
        name: `${image.name}: known files read back`,
        needs: [UP],
        async run() {
          throw new Error(`no evidence.json near ${image.path}: cannot tell what the image should hold`);
        },
      });
      continue;
    }
    for (const partition of manifest.partitions) {
      const mountPoint = mountPointOf(image, partition.number);
      if (mountPoint === undefined) continue;
      steps.push({
        name: `${image.name}: p${partition.number} (${partition.filesystem}) reads as made, as the examiner`,
        needs: [UP],
        async run() {
          const files = Object.keys(partition.files);
          for (const file of files) {
            const got = await mustInGuest(lab.guest(), 'runuser -u examiner -- cat -- "$FILE"', { FILE: `${mountPoint}/${file}` });
            if (got !== partition.files[file]) throw new Error(`${mountPoint}/${file}: ${JSON.stringify(got)}, expected ${JSON.stringify(partition.files[file])}`);
          }
          return `${files.length} files under ${mountPoint}`;
        },
      });
      steps.push({
        name: `${image.name}: p${partition.number} refuses writes`,
        needs: [UP],
        async run() {
          const r = await inGuest(lab.guest(), 'touch -- "$MOUNT_POINT/forensic-lab-write-probe"', { MOUNT_POINT: mountPoint });
          if (r.code === 0) throw new Error(`root could create a file in ${mountPoint}`);
          if (!/Read-only file system/.test(r.stderr)) throw new Error(`write failed, but not as read-only: ${r.stderr.trim()}`);
        },
      });
    }
  }

  steps.push({
    name: DESTROY,
    always: true,
    async run() {
      if (!lab.state) return "nothing to destroy";
      const guest = lab.run ? safe(() => lab.guest()) : undefined;
      const log = await lab.destroy();
      if (guest) {
        const r = await bash(`virsh -c ${shq(guest.libvirtUri)} dominfo ${shq(guest.domainName)}`);
        if (r.code === 0) throw new Error(`domain ${guest.domainName} is still defined`);
      }
      // The custody log is the case's record and stays; anything else in the case folder is a leftover.
      const left = leftovers(lab.caseConfig.stateDir, [CUSTODY_LOG]);
      if (left.length > 0) throw new Error(`left behind in ${lab.caseConfig.stateDir}: ${left.join(", ")}`);
      return `${log.filter((s) => s.hook).length} delete hooks`;
    },
  });

  steps.push({
    name: "destroy again: every delete hook tolerates \"already gone\"",
    // Not on DESTROY passing: a leftover file fails that step, but every delete hook ran.
    needs: [UP],
    async run() {
      if (!lab.destroyed) throw new Error("the lab was never destroyed, so there is nothing to destroy again");
      const log = await destroy(lab.destroyed!, { secretsPassphrase: lab.opts.secretsPassphrase, hookTimeoutMs: HOOK_TIMEOUT_MS });
      return `${log.filter((s) => s.hook).length} delete hooks ran again`;
    },
  });

  steps.push({
    name: "fault: an interrupted up, then up again, converges",
    // Not on DESTROY: a leftover file fails that step, but the lab is gone and this one can run.
    needs: [UP],
    async run() {
      if (lab.state) throw new Error("the first lab is still there (its destroy failed); an interrupted up needs none");
      const hooks = lab.run!.resources.filter((r) => r.custom && r.inputs.create !== undefined).length;
      const stopAfter = Math.max(1, Math.floor(hooks / 2));
      try {
        await lab.up({ interruptAfterHooks: stopAfter });
        throw new Error(`up with interruptAfterHooks ${stopAfter} did not stop`);
      } catch (err) {
        if (!/interrupted after/.test((err as Error).message)) throw err;
      }
      const resumed = await lab.up();
      const rerun = resumed.log.filter((s) => s.op === "create").length;
      if (rerun + stopAfter !== hooks) throw new Error(`resumed up created ${rerun}, expected ${hooks - stopAfter}`);
      return `stopped after ${stopAfter} of ${hooks} hooks, resumed with ${rerun}`;
    },
  });

  // Faults on the resumed lab, then on one more; they end with a destroy that leaves nothing.
  steps.push(...faultSteps(lab));

  return steps;
}

export const CUSTODY_LOG = "custody.jsonl";

/** Every file and folder under `dir` (relative), except the `kept` names at its top. */
export function leftovers(dir: string, kept: readonly string[]): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((name) => !kept.includes(name)).sort();
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
