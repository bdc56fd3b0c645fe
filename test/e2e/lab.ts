/**
 * The lab on the real Pulumi engine (pulumi.ts), as the e2e and the bench drive it: one stack of this
 * project in a local backend, its config edited the way a user would, `up`/`destroy` with the policy pack,
 * and the state read back. The checks it is put through are in lab-steps.ts.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { Stack, UpResult } from "@pulumi/pulumi/automation";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { NAMESPACE, PASSPHRASE_KEY } from "../../lib/config/parse";
import { loadStackFile } from "../../lib/config/stack-file";
import type { CaseConfig } from "../../lib/config/types";
import { GuestConnection, REPO_ROOT } from "../../lib/shell";
import { LOCAL_COMMAND, TYPE } from "../../lib/tokens";
import {
  EngineSetup,
  StateResource,
  StepLog,
  StepRecorder,
  lockMayBeHeld,
  openStack,
  pendingCreates,
  runPulumi,
  stackLocks,
  stateResources,
} from "./pulumi";
import { seconds } from "./steps";
import { ExecResult, volumeManifest } from "./outside";

export const PASSPHRASE_CONFIG = `${NAMESPACE}:${PASSPHRASE_KEY}`;
export const POLICY_PACK = path.join(REPO_ROOT, "policy");
/** The project's name (Pulumi.yaml), under which the file backend keeps its stacks and locks. */
const PROJECT = (parseYaml(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8")) as { name: string }).name;

export interface LabOptions {
  /** The stack file the run copies (`stacks/Pulumi.case-ci.yaml`); the run's own stack is `e2e-<stack>`. */
  readonly stackFile: string;
  readonly engine: EngineSetup;
  /** The evidence volume's passphrase, set with `pulumi config set --secret`. */
  readonly volumePassphrase: string;
  readonly print: (line: string) => void;
}

/** What one `up` or `destroy` did: the engine's own steps and, for `up`, its summary and outputs. */
export interface EngineRun {
  readonly log: StepLog[];
  readonly changes: Record<string, number>;
  readonly outputs: Record<string, unknown>;
}

/** Settings of `up` a step may change. */
export interface UpSettings {
  readonly policyPack?: boolean;
  /** URNs to replace (`pulumi up --replace`). */
  readonly replace?: string[];
  /** Aborts the run (SIGINT to pulumi, as Ctrl-C would). */
  readonly signal?: AbortSignal;
  readonly onStep?: (step: StepLog) => void;
}

/**
 * The lab of one stack on the real engine. The run works on a stack of its own, `e2e-<stack>`, whose
 * stack file is a copy of the given one (gitignored, removed by `removeStack`): `pulumi config set`
 * writes the encrypted passphrase into it, and the checked-in stack file stays as it is.
 */
export class Lab {
  readonly caseConfig: CaseConfig;
  readonly stackName: string;
  readonly stackConfigFile: string;
  /** The last up's result and the resources the engine holds (refreshed after each operation). */
  run: EngineRun | undefined;
  resources: StateResource[] = [];
  /** The state the last successful destroy started from. */
  destroyed: StateResource[] | undefined;
  private stackHandle: Stack | undefined;

  constructor(readonly opts: LabOptions) {
    // Image files are a step of their own (with a hint), not a load error.
    this.caseConfig = loadStackFile(opts.stackFile, { checkFiles: false });
    this.stackName = `e2e-${path.basename(opts.stackFile).replace(/^Pulumi\.|\.ya?ml$/g, "")}`;
    this.stackConfigFile = path.join(REPO_ROOT, "stacks", `Pulumi.${this.stackName}.yaml`);
  }

  /** The run's stack, created from a copy of the stack file, with the passphrase set as a secret. */
  async stack(): Promise<Stack> {
    if (this.stackHandle) return this.stackHandle;
    if (fs.existsSync(this.stackConfigFile)) {
      // A crashed run's stack: `stack rm` removes it (and its file) when it is empty and refuses while it
      // holds resources; then its file, with its encryption salt, stays for `npm run e2e -- --destroy`.
      await runPulumi(["stack", "rm", "--yes", "--stack", this.stackName], this.opts.engine);
    }
    if (!fs.existsSync(this.stackConfigFile)) fs.copyFileSync(this.opts.stackFile, this.stackConfigFile);
    const stack = await openStack(this.stackName, this.opts.engine);
    await stack.setConfig(PASSPHRASE_CONFIG, { value: this.opts.volumePassphrase, secret: true });
    // Each LUKS key an image names, from the volumes.json its evidence was made with.
    for (const image of this.caseConfig.images) {
      for (const k of image.luksKeys) {
        const made = volumeManifest(image);
        const value = made?.keys[String(k.at)];
        if (value === undefined) throw new Error(`${image.name}: no volumes.json beside ${image.path} with the key of ${k.at}`);
        await stack.setConfig(`${NAMESPACE}:${k.configKey}`, { value, secret: true });
      }
    }
    this.stackHandle = stack;
    this.resources = stateResources(this.stackName, this.opts.engine);
    return stack;
  }

  /** Rewrites `forensic-lab:images` in the run's stack file, as an examiner edits it; returns the list before. */
  editImages(change: (images: Record<string, unknown>[]) => Record<string, unknown>[]): Record<string, unknown>[] {
    return this.editConfig("images", change as (v: unknown) => unknown) as Record<string, unknown>[];
  }

  /** Rewrites `forensic-lab:guest` in the run's stack file; returns the mapping before. */
  editGuest(change: (guest: Record<string, unknown>) => Record<string, unknown>): Record<string, unknown> {
    return this.editConfig("guest", (v) => change((v ?? {}) as Record<string, unknown>)) as Record<string, unknown>;
  }

  private editConfig(key: string, change: (value: unknown) => unknown): unknown {
    const doc = parseYaml(fs.readFileSync(this.stackConfigFile, "utf8")) as { config: Record<string, unknown> };
    const before = doc.config[`${NAMESPACE}:${key}`];
    doc.config[`${NAMESPACE}:${key}`] = change(structuredClone(before));
    fs.writeFileSync(this.stackConfigFile, stringifyYaml(doc));
    return before;
  }

  /** Sets the evidence volume passphrase (as a secret), e.g. a wrong one for a fault. */
  async setPassphrase(value: string): Promise<void> {
    await (await this.stack()).setConfig(PASSPHRASE_CONFIG, { value, secret: true });
  }

  private printStep = (s: StepLog): void => {
    const result = s.result === "done" ? "" : " FAILED";
    const changed = s.changed ? ` (changed: ${s.changed.join(", ")})` : "";
    this.opts.print(`    ${s.op.padEnd(18)} ${s.name.padEnd(44)} ${seconds(s.durationMs)}${result}${changed}`);
  };

  private printOutput = (text: string): void => {
    for (const line of text.trimEnd().split("\n")) if (line.trim()) this.opts.print(`    | ${line}`);
  };

  /** `pulumi up` (with the policy pack unless told otherwise); state is re-read whether it succeeds or not. */
  async up(settings: UpSettings = {}): Promise<EngineRun> {
    const stack = await this.stack();
    const recorder = new StepRecorder((s) => (this.printStep(s), settings.onStep?.(s)));
    try {
      const result: UpResult = await stack.up({
        onEvent: recorder.onEvent,
        onOutput: this.printOutput,
        color: "never",
        suppressProgress: true,
        ...(settings.policyPack === false ? {} : { policyPacks: [POLICY_PACK] }),
        ...(settings.replace ? { replace: settings.replace } : {}),
        ...(settings.signal ? { signal: settings.signal } : {}),
      });
      this.run = {
        log: recorder.steps,
        changes: (result.summary.resourceChanges ?? {}) as Record<string, number>,
        outputs: Object.fromEntries(Object.entries(result.outputs).map(([k, v]) => [k, v.value])),
      };
      return this.run;
    } finally {
      this.resources = stateResources(this.stackName, this.opts.engine);
    }
  }

  /** `pulumi destroy`; what is left stays in the state. */
  async destroy(): Promise<StepLog[]> {
    const stack = await this.stack();
    const before = this.resources;
    const recorder = new StepRecorder(this.printStep);
    try {
      await stack.destroy({ onEvent: recorder.onEvent, onOutput: this.printOutput, color: "never", suppressProgress: true });
      if (before.length > 0) this.destroyed = before;
      return recorder.steps;
    } finally {
      this.resources = stateResources(this.stackName, this.opts.engine);
    }
  }

  /**
   * Undoes what an earlier run of this stack left when it was stopped part-way (a CI job killed, a machine
   * rebooted, Ctrl-C twice), so that it cannot fail this run: the stack's lock, once the pulumi that took
   * it is gone; the hooks that were creating when it stopped (the engine never recorded their result, and
   * `refresh --clear-pending-creates` forgets them, so their delete scripts run here first, as the engine
   * would run them); then `destroy` and `stack rm`. Says what it found; a lock whose pulumi may still run
   * is an error, since two runs on one lab would undo each other's work.
   */
  async clearEarlierRun(): Promise<string> {
    const locks = stackLocks(this.opts.engine, PROJECT, this.stackName);
    const held = locks.filter((lock) => lockMayBeHeld(lock));
    if (held.length > 0) {
      const who = held.map((l) => `pid ${l.pid} on ${l.hostname} since ${l.timestamp}`).join(", ");
      throw new Error(`stack ${this.stackName} is locked by a pulumi that may still run (${who}); let it end, or stop it and run again`);
    }
    const found: string[] = [];
    if (locks.length > 0) {
      await this.mustPulumi(["cancel", "--yes", "--stack", this.stackName]);
      found.push(`a stale lock (pid ${locks.map((l) => l.pid).join(", ")}, gone) removed`);
    }
    await this.stack();
    const pending = pendingCreates(this.stackName, this.opts.engine);
    if (pending.length > 0) {
      for (const command of pending.filter((r) => r.type === LOCAL_COMMAND)) {
        const r = await runRecorded(command, "delete");
        if (r.code !== 0)
          throw new Error(`the delete script of ${command.urn} (create under way when the run stopped) failed: ${r.stderr.trim()}`);
      }
      await this.mustPulumi(["refresh", "--yes", "--clear-pending-creates", "--non-interactive", "--stack", this.stackName]);
      this.resources = stateResources(this.stackName, this.opts.engine);
      found.push(`${pending.length} create(s) under way undone (${pending.map((r) => r.urn.split("::").pop()).join(", ")})`);
    }
    if (this.built) {
      const count = this.resources.length;
      await this.destroy();
      if (this.built) throw new Error(`destroy left ${this.resources.length} resources of the earlier run`);
      found.push(`its lab destroyed (${count} resources)`);
    }
    if (found.length === 0) return "nothing left by an earlier run";
    await this.removeStack();
    return `an earlier run stopped part-way: ${found.join("; ")}; stack removed`;
  }

  private async mustPulumi(args: string[]): Promise<void> {
    const r = await runPulumi(args, this.opts.engine);
    if (r.code !== 0)
      throw new Error(`pulumi ${args.join(" ")}: exit ${r.code}: ${(r.stderr || r.stdout).trim().split("\n").slice(-4).join(" | ")}`);
  }

  /** `pulumi stack rm`, and the run's copy of the stack file with it. */
  async removeStack(): Promise<void> {
    const stack = await this.stack();
    await stack.workspace.removeStack(this.stackName);
    fs.rmSync(this.stackConfigFile, { force: true });
    this.stackHandle = undefined;
  }

  /** Whether the engine holds any resource of the lab. */
  get built(): boolean {
    return this.resources.some((r) => r.type !== "pulumi:pulumi:Stack" && !r.type.startsWith("pulumi:providers:"));
  }

  /** The guest connection of the lab's AnalysisGuest, as recorded in the state. */
  guest(): GuestConnection {
    const guest = this.resources.find((r) => r.type === TYPE.AnalysisGuest);
    const connection = guest?.outputs.connection as GuestConnection | undefined;
    if (!connection) throw new Error("the state holds no AnalysisGuest with a connection");
    return connection;
  }

  /** Outputs of every component of `type` in the state. */
  componentOutputs(type: string): Record<string, any>[] {
    return this.resources.filter((r) => r.type === type).map((r) => r.outputs);
  }

  /** The lab's hooks as the state holds them, in the engine's (dependency) order. */
  commands(): StateResource[] {
    return this.resources.filter((r) => r.type === LOCAL_COMMAND);
  }
}

/** Runs a command resource's create or delete script from the state, as pulumi-command would: its interpreter, stdin and environment. */
export function runRecorded(command: StateResource, script: "create" | "delete"): Promise<ExecResult> {
  const text = command.inputs[script] as string | undefined;
  if (!text) return Promise.resolve({ code: 0, stdout: "", stderr: "" });
  const interpreter = (command.inputs.interpreter as string[] | undefined) ?? ["/bin/sh", "-c"];
  const stdin = command.inputs.stdin as string | undefined;
  const env = {
    ...process.env,
    ...(command.inputs.environment ?? {}),
    PULUMI_COMMAND_STDOUT: String(command.outputs.stdout ?? ""),
    PULUMI_COMMAND_STDERR: String(command.outputs.stderr ?? ""),
  };
  return new Promise((resolve, reject) => {
    const child = spawn(interpreter[0], [...interpreter.slice(1), text], { stdio: [stdin ? "pipe" : "ignore", "pipe", "pipe"], env });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    // A hook that exits without reading its stdin closes the pipe: that is its answer, not an error here.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(stdin);
  });
}
