/**
 * An engine-less executor for whole-lab runs. The Pulumi CLI cannot run here, so `up` runs the real
 * program for a real stack under Pulumi's mocks in a fresh child process (program-host.ts) and plays
 * the engine's part itself: every `command:local:Command` is executed for real, as pulumi-command's
 * provider would (local-command.ts), in dependency order, and its stdout/stderr flow back into the
 * program as outputs. `destroy` runs the recorded delete hooks in reverse dependency order. State is
 * a JSON checkpoint with secrets sealed under a passphrase.
 *
 * Engine semantics followed (and tested in engine.test.ts):
 * - A step starts when its parent and dependencies have completed; independent steps run in
 *   parallel (`parallel`, unbounded by default like `pulumi up`). After the first failure no new
 *   step starts, steps in flight finish, and the run fails with the failing command's output.
 * - With a previous state: unchanged inputs -> no-op; changed inputs -> `update` (or `create` when
 *   `update` is empty); a changed `triggers` (or a `replaceOnChanges` property) -> replace:
 *   create the new one, delete the old one at the end (old one first with `deleteBeforeReplace`).
 *   Resources no longer in the program are deleted at the end, dependents first.
 * - A failed create is not recorded (pulumi-command returns no partial state); a failed update keeps
 *   the old state.
 * - A delete runs with the inputs as created; `deletedWith` skips it when that resource goes in the
 *   same operation; `retainOnDelete` skips it; `protect` refuses it. A failed delete stops destroy.
 * Not modelled: aliases (refused), `.get`/invokes (refused), assets/archives (refused), previews.
 */
import { fork } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { pathToFileURL } from "url";
import { LOCAL_COMMAND } from "../../lib/tokens";
import { CommandInputs, parseDuration, runLocalCommand } from "./local-command";
import type { EngineMessage, HostMessage, Registration } from "./protocol";
import { Sealer, SecretsProviderState, WireMap, assertKnown, containsSecret, reveal, revealMap, secretValue } from "./wire";

// ---------------------------------------------------------------------------------------------
// Public types

/** What a step did. `same`: inputs unchanged, nothing ran. `rerun`: unchanged, create run again (forceRerun). */
export type StepOp = "create" | "update" | "replace" | "rerun" | "same" | "delete" | "delete-replaced";

export interface StepLog {
  readonly op: StepOp;
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  /** The script that ran (`create`, `update` or `delete`); absent when nothing ran. */
  readonly hook?: "create" | "update" | "delete";
  readonly result: "done" | "failed" | "skipped";
  /** Why a step was skipped, or what failed. */
  readonly detail?: string;
  /** For an update or replace: the inputs that changed. */
  readonly changed?: readonly string[];
  readonly durationMs: number;
  /** The command's outputs; `[secret]` when they are secret. */
  readonly stdout?: string;
  readonly stderr?: string;
}

/** One resource as the stack now holds it. */
export interface ExecutedResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  /** Provider ID (custom resources only). */
  readonly id?: string;
  readonly parent: string;
  readonly dependencies: readonly string[];
  readonly deletedWith: string;
  readonly deleteBeforeReplace: boolean;
  readonly retainOnDelete: boolean;
  readonly protect: boolean;
  readonly customTimeouts: Registration["customTimeouts"];
  /** Inputs and outputs as plain values (secrets revealed), for assertions. */
  readonly inputs: Record<string, any>;
  readonly outputs: Record<string, any>;
  /** The same in Pulumi's wire encoding, secrets still marked. */
  readonly wireInputs: WireMap;
  readonly wireOutputs: WireMap;
  /** An old generation replaced create-before-delete whose delete has not run yet. */
  readonly pendingDelete?: boolean;
  /** What this run did to it; absent when this run did not reach it (kept from the previous state). */
  readonly op?: StepOp;
}

export interface EngineRun {
  readonly project: string;
  readonly stack: string;
  /** The provider's working directory (where commands without `dir` run); kept for destroy. */
  readonly workDir: string;
  readonly resources: ExecutedResource[];
  /** Stack outputs, secrets revealed. */
  readonly outputs: Record<string, unknown>;
  readonly wireOutputs: WireMap;
  readonly log: StepLog[];
}

export interface StateResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  readonly id?: string;
  readonly parent: string;
  readonly dependencies: readonly string[];
  readonly deletedWith: string;
  readonly deleteBeforeReplace: boolean;
  readonly retainOnDelete: boolean;
  readonly protect: boolean;
  readonly customTimeouts: Registration["customTimeouts"];
  /** Wire encoding with every secret sealed. */
  readonly inputs: WireMap;
  readonly outputs: WireMap;
  readonly pendingDelete?: boolean;
}

/** A checkpoint: plain JSON, in dependency order, secrets sealed. */
export interface EngineState {
  readonly version: 1;
  readonly project: string;
  readonly stack: string;
  readonly workDir: string;
  readonly secretsProvider: SecretsProviderState;
  readonly resources: StateResource[];
  readonly outputs: WireMap;
}

interface CommonOptions {
  /** Passphrase sealing secrets in the state. Default: PULUMI_CONFIG_PASSPHRASE, else "" (as Pulumi allows). */
  secretsPassphrase?: string;
  /** The environment commands inherit (the provider's). Default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** Time limit per hook when the resource sets no `customTimeouts`. Default: none, as in Pulumi. */
  hookTimeoutMs?: number;
  /** How long a hook's stdout/stderr may stay open after it exited. Default 5000 ms. */
  stdioLingerMs?: number;
  /** Called as each step finishes. */
  onStep?(step: StepLog): void;
}

export interface UpOptions extends CommonOptions {
  stack: string;
  /** Default "forensic-lab". */
  project?: string;
  /** `namespace:key` -> value, as `pulumi config` hands them to a program (objects JSON-encoded). */
  config: Record<string, string>;
  secretKeys: string[];
  previous?: EngineState;
  /** Re-run the create hook of every command whose inputs did not change (proves hooks idempotent). */
  forceRerun?: boolean;
  /** The program's own console output (Pulumi shows it as diagnostics). Default: kept only for errors. */
  onProgramOutput?(text: string): void;
  /** Simulates an interrupted `up`: no new create/update hook starts after this many have started. */
  interruptAfterHooks?: number;
  /** Steps running at once. Default: unbounded, as `pulumi up`. */
  parallel?: number;
  /** The program's and the provider's working directory. Default: the program's directory. */
  workDir?: string;
}

export type DestroyOptions = CommonOptions;

/** A failed (or interrupted) up or destroy. `run`/`state` hold what the stack holds now. */
export class EngineError extends Error {
  constructor(
    message: string,
    readonly kind: "failed" | "interrupted",
    readonly log: StepLog[],
    /** For `up`: the run as far as it got; `stateOf(err.run)` is the checkpoint to resume from. */
    readonly run?: EngineRun,
    /** For `destroy`: what is left to destroy. */
    readonly state?: EngineState,
  ) {
    super(message);
    this.name = "EngineError";
  }
}

const DEFAULT_PROJECT = "forensic-lab";
const PROGRAM_HOST = path.join(__dirname, "program-host.ts");
const TSX_LOADER = pathToFileURL(require.resolve("tsx")).href;
const sealers = new WeakMap<EngineRun, Sealer>();

function passphraseOf(opts: CommonOptions): string {
  return opts.secretsPassphrase ?? process.env.PULUMI_CONFIG_PASSPHRASE ?? "";
}

// ---------------------------------------------------------------------------------------------
// up

/**
 * Runs `program` (a module path, like Pulumi.yaml's `main`: its exports are the stack outputs) for
 * one stack and executes what it registers. Resolves with the run; throws `EngineError` when a step
 * fails, the program fails, or the run was interrupted.
 */
export async function up(program: string, opts: UpOptions): Promise<EngineRun> {
  if (!fs.existsSync(program)) throw new Error(`${program}: no such program file`);
  const project = opts.project ?? DEFAULT_PROJECT;
  const workDir = path.resolve(opts.workDir ?? path.dirname(program));
  const passphrase = passphraseOf(opts);
  let previous: OpenedState | undefined;
  if (opts.previous) {
    previous = openState(opts.previous, passphrase, "previous state");
    if (previous.project !== project || previous.stack !== opts.stack) {
      throw new Error(`previous state is for ${previous.project}/${previous.stack}, not ${project}/${opts.stack}`);
    }
  }
  const sealer = previous?.sealer ?? Sealer.create(passphrase);
  const deployment = new Deployment(opts, workDir, previous);

  let wireOutputs: WireMap = {};
  try {
    wireOutputs = await runProgram(path.resolve(program), project, opts, workDir, deployment);
  } catch (err) {
    // Like the engine when the program dies: what is running finishes, nothing new starts.
    deployment.halt(new Halt("failed", `program failed: ${(err as Error).message}`));
  }
  await deployment.settled();
  if (!deployment.halted) await deployment.deleteLeftovers();

  const halt = deployment.halted;
  // A failed update keeps the stack's previous outputs.
  const outputs = halt ? (previous?.outputs ?? {}) : wireOutputs;
  const run: EngineRun = {
    project,
    stack: opts.stack,
    workDir,
    resources: deployment.finalResources(),
    outputs: revealMap(outputs) as Record<string, unknown>,
    wireOutputs: outputs,
    log: deployment.log,
  };
  sealers.set(run, sealer);
  if (halt) throw new EngineError(halt.message, halt.kind, run.log, run);
  return run;
}

/** The run as a checkpoint: JSON-serialisable, dependency-ordered, secrets sealed. */
export function stateOf(run: EngineRun): EngineState {
  const sealer = sealers.get(run);
  if (!sealer) throw new Error("stateOf: not a run returned by up() in this process");
  return {
    version: 1,
    project: run.project,
    stack: run.stack,
    workDir: run.workDir,
    secretsProvider: sealer.state,
    resources: run.resources.map((r) => ({
      urn: r.urn,
      type: r.type,
      name: r.name,
      custom: r.custom,
      ...(r.id !== undefined ? { id: r.id } : {}),
      parent: r.parent,
      dependencies: [...r.dependencies],
      deletedWith: r.deletedWith,
      deleteBeforeReplace: r.deleteBeforeReplace,
      retainOnDelete: r.retainOnDelete,
      protect: r.protect,
      customTimeouts: r.customTimeouts,
      inputs: sealer.sealMap(r.wireInputs),
      outputs: sealer.sealMap(r.wireOutputs),
      ...(r.pendingDelete ? { pendingDelete: true } : {}),
    })),
    outputs: sealer.sealMap(run.wireOutputs),
  };
}

function runProgram(program: string, project: string, opts: UpOptions, workDir: string, deployment: Deployment): Promise<WireMap> {
  const child = fork(PROGRAM_HOST, [], {
    execArgv: ["--import", TSX_LOADER],
    cwd: workDir,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  // The program's console output, kept for the error message when the host dies without a word.
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-8000);
    opts.onProgramOutput?.(chunk.toString("utf8"));
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);

  let outcome: { outputs: WireMap } | { error: Error } | undefined;
  child.on("message", (message: HostMessage) => {
    switch (message.kind) {
      case "register":
        deployment.register(message.registration).then(
          ({ resourceId, outputs }) => reply({ kind: "registered", id: message.id, resourceId, outputs }),
          (err: Error) => reply({ kind: "rejected", id: message.id, message: err.message }),
        );
        break;
      case "outputs":
        deployment.componentOutputs(message.urn, message.outputs);
        break;
      case "done":
        outcome ??= { outputs: message.outputs };
        break;
      case "failed":
        outcome ??= { error: new Error(message.message) };
        break;
    }
  });
  const reply = (message: EngineMessage) => {
    if (child.connected) child.send(message);
  };
  // A failed or interrupted deployment stops the program once the steps in flight are done.
  deployment.onHalt(() => child.kill("SIGKILL"));

  // Every message is delivered before the channel reports its end; the process is gone after exit.
  const disconnected = new Promise<void>((resolve) => child.once("disconnect", resolve));
  const exited = new Promise<string>((resolve) =>
    child.once("exit", (code, signal) => resolve(signal ? `was killed (${signal})` : `exited with code ${code}`)),
  );
  child.send({ kind: "start", program, project, stack: opts.stack, config: opts.config, secretKeys: opts.secretKeys } satisfies EngineMessage);
  return Promise.all([exited, disconnected]).then(([how]) => {
    if (outcome && "outputs" in outcome) return outcome.outputs;
    if (outcome) throw outcome.error;
    throw new Error(`the program host ${how}${output.trim() ? `:\n${output.trim()}` : ""}`);
  });
}

// ---------------------------------------------------------------------------------------------
// destroy

/**
 * Deletes everything `state` holds, dependents before dependencies, children before parents, each
 * command's delete run with its inputs as created. Resolves with the log; throws `EngineError`
 * (with the state that is left) at the first failed delete.
 */
export async function destroy(state: EngineState, opts: DestroyOptions = {}): Promise<StepLog[]> {
  const opened = openState(state, passphraseOf(opts), "destroy");
  const log: StepLog[] = [];
  const remaining = [...opened.resources];
  const going = new Set(remaining.map((r) => r.urn));
  const ctx = executionContext(opts, opened.workDir);
  while (remaining.length > 0) {
    const resource = remaining[remaining.length - 1];
    const step = await deleteResource(resource, "delete", going, ctx);
    if (step) {
      log.push(step);
      opts.onStep?.(step);
      if (step.result === "failed") {
        const left = stateFromResources(opened, remaining);
        throw new EngineError(`${resource.urn}: ${step.detail}`, "failed", log, undefined, left);
      }
    }
    remaining.pop();
  }
  return log;
}

// ---------------------------------------------------------------------------------------------
// Internals

interface OpenedState {
  readonly project: string;
  readonly stack: string;
  readonly workDir: string;
  readonly sealer: Sealer;
  readonly resources: ExecutedResource[];
  readonly outputs: WireMap;
}

function openState(state: EngineState, passphrase: string, where: string): OpenedState {
  if (state?.version !== 1 || !Array.isArray(state.resources)) throw new Error(`${where}: not an e2e engine state (version 1)`);
  const sealer = Sealer.open(passphrase, state.secretsProvider, where);
  const resources = state.resources.map((r): ExecutedResource => {
    const wireInputs = sealer.unsealMap(r.inputs);
    const wireOutputs = sealer.unsealMap(r.outputs);
    return { ...r, wireInputs, wireOutputs, inputs: revealMap(wireInputs), outputs: revealMap(wireOutputs), op: undefined };
  });
  return { project: state.project, stack: state.stack, workDir: state.workDir, sealer, resources, outputs: sealer.unsealMap(state.outputs) };
}

function stateFromResources(opened: OpenedState, resources: ExecutedResource[]): EngineState {
  return {
    version: 1,
    project: opened.project,
    stack: opened.stack,
    workDir: opened.workDir,
    secretsProvider: opened.sealer.state,
    resources: resources.map(({ wireInputs, wireOutputs, op: _op, ...meta }) => ({
      ...meta,
      inputs: opened.sealer.sealMap(wireInputs),
      outputs: opened.sealer.sealMap(wireOutputs),
    })),
    outputs: opened.sealer.sealMap(opened.outputs),
  };
}

interface ExecutionContext {
  readonly workDir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly hookTimeoutMs?: number;
  readonly stdioLingerMs: number;
}

function executionContext(opts: CommonOptions, workDir: string): ExecutionContext {
  return { workDir, env: opts.env ?? process.env, hookTimeoutMs: opts.hookTimeoutMs, stdioLingerMs: opts.stdioLingerMs ?? 5000 };
}

type Hook = "create" | "update" | "delete";

/** Runs one script of a command; `operation` picks the `customTimeouts` entry that limits it. */
async function runHook(
  resource: Pick<ExecutedResource, "customTimeouts">,
  operation: Hook,
  script: string,
  inputs: CommandInputs,
  ctx: ExecutionContext,
) {
  const timeoutMs = parseDuration(resource.customTimeouts[operation]) ?? ctx.hookTimeoutMs;
  return runLocalCommand(script, inputs, { cwd: ctx.workDir, env: ctx.env, timeoutMs, stdioLingerMs: ctx.stdioLingerMs });
}

/** Runs one resource's delete as the engine would; undefined for resources with nothing to delete. */
async function deleteResource(
  resource: ExecutedResource,
  op: "delete" | "delete-replaced",
  going: ReadonlySet<string>,
  ctx: ExecutionContext,
): Promise<StepLog | undefined> {
  if (!resource.custom || resource.type !== LOCAL_COMMAND) return undefined;
  const base = { op, urn: resource.urn, type: resource.type, name: resource.name };
  if (resource.protect) {
    return { ...base, result: "failed", detail: "resource is protected (protect: true); unprotect it before deleting", durationMs: 0 };
  }
  if (resource.retainOnDelete) return { ...base, result: "skipped", detail: "retainOnDelete", durationMs: 0 };
  if (resource.deletedWith && going.has(resource.deletedWith)) {
    return { ...base, result: "skipped", detail: `deletedWith ${resource.deletedWith}`, durationMs: 0 };
  }
  const inputs = resource.inputs as CommandInputs;
  if (inputs.delete === undefined) return { ...base, result: "done", durationMs: 0 };
  const started = Date.now();
  try {
    await runHook(resource, "delete", inputs.delete, inputs, ctx);
    return { ...base, hook: "delete", result: "done", durationMs: Date.now() - started };
  } catch (err) {
    return { ...base, hook: "delete", result: "failed", detail: failureText("delete", err), durationMs: Date.now() - started };
  }
}

function failureText(hook: Hook, err: unknown): string {
  return `${hook} failed: ${(err as Error).message}`;
}

class Halt {
  constructor(
    readonly kind: "failed" | "interrupted",
    readonly message: string,
  ) {}
}

/** A counting semaphore: `parallel` steps at once. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(size: number) {
    this.free = size;
  }
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

interface Node {
  readonly registration: Registration;
  /** Resolves true when the step succeeded, false when it failed or was skipped. */
  readonly done: Promise<boolean>;
}

/** One `up`: the registrations the program made, the steps they became, and the resulting stack. */
class Deployment {
  readonly log: StepLog[] = [];
  halted: Halt | undefined;
  private readonly nodes = new Map<string, Node>();
  /** Resources this run produced (created, updated, replaced, unchanged), in completion order. */
  private readonly results = new Map<string, ExecutedResource>();
  /** Old generations replaced create-before-delete in this run; deleted at the end. */
  private readonly replacedOld: ExecutedResource[] = [];
  /** Old resources (previous entries or replaced generations) whose delete ran in this run. */
  private readonly gone = new Set<ExecutedResource>();
  private readonly inFlight = new Set<Promise<boolean>>();
  private readonly slots: Slots;
  private readonly ctx: ExecutionContext;
  private readonly haltListeners: (() => void)[] = [];
  private hooksStarted = 0;

  constructor(
    private readonly opts: UpOptions,
    workDir: string,
    private readonly previous: OpenedState | undefined,
  ) {
    this.slots = new Slots(opts.parallel ?? Number.MAX_SAFE_INTEGER);
    this.ctx = executionContext(opts, workDir);
  }

  onHalt(listener: () => void): void {
    this.haltListeners.push(listener);
  }

  register(registration: Registration): Promise<{ resourceId: string; outputs: WireMap }> {
    if (this.nodes.has(registration.urn)) {
      return Promise.reject(new Error(`${registration.urn}: duplicate resource URN`));
    }
    const work = this.step(registration);
    const done = work.then(
      () => true,
      () => false,
    );
    this.nodes.set(registration.urn, { registration, done });
    this.inFlight.add(done);
    void done.then(() => this.inFlight.delete(done));
    return work;
  }

  /** Waits until no step is running. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Stops the deployment: steps in flight finish, no new one starts; the first reason is kept. */
  halt(halt: Halt): void {
    if (this.halted) return;
    this.halted = halt;
    // Like the engine: steps in flight finish, nothing new starts, then the program is stopped.
    void this.settled().then(() => this.haltListeners.forEach((listener) => listener()));
  }

  private record(step: StepLog): void {
    this.log.push(step);
    this.opts.onStep?.(step);
  }

  private previousOf(urn: string): ExecutedResource | undefined {
    return this.previous?.resources.find((r) => r.urn === urn && !r.pendingDelete);
  }

  private async step(reg: Registration): Promise<{ resourceId: string; outputs: WireMap }> {
    for (const urn of [reg.parent, ...reg.dependencies]) {
      const node = this.nodes.get(urn);
      if (node && !(await node.done)) throw new Error(`${reg.urn}: not started: ${urn} failed`);
    }
    await this.slots.take();
    try {
      if (this.halted) throw new Error(`${reg.urn}: not started: ${this.halted.message}`);
      if (reg.aliasCount > 0) throw new Error(`${reg.urn}: aliases are not supported by the e2e engine`);
      assertKnown(reg.inputs, `${reg.urn} inputs`);
      if (!reg.custom || reg.type.startsWith("pulumi:providers:")) return this.recordWithoutHook(reg);
      if (reg.type !== LOCAL_COMMAND) {
        throw new Error(`${reg.urn}: the e2e engine executes only ${LOCAL_COMMAND} resources, not ${reg.type}`);
      }
      return await this.commandStep(reg);
    } catch (err) {
      this.halt(new Halt("failed", (err as Error).message));
      throw err;
    } finally {
      this.slots.give();
    }
  }

  /** A component's `registerOutputs`, recorded with it (the engine keeps them in the state too). */
  componentOutputs(urn: string, wireOutputs: WireMap): void {
    const resource = this.results.get(urn);
    if (resource && !resource.custom) this.results.set(urn, { ...resource, wireOutputs, outputs: revealMap(wireOutputs) });
  }

  /** Components and providers: nothing to run, the engine only records them. */
  private recordWithoutHook(reg: Registration): { resourceId: string; outputs: WireMap } {
    const old = this.previousOf(reg.urn);
    this.results.set(reg.urn, executed(reg, reg.inputs, reg.inputs, old ? "same" : "create", old?.id));
    return { resourceId: old?.id ?? "", outputs: reg.inputs };
  }

  private async commandStep(reg: Registration): Promise<{ resourceId: string; outputs: WireMap }> {
    const old = this.previousOf(reg.urn);
    const wireInputs: WireMap = { ...reg.inputs };
    if (old) {
      // ignoreChanges: the old value stands in for the new one.
      for (const key of reg.ignoreChanges) {
        if (key in old.wireInputs) wireInputs[key] = old.wireInputs[key];
        else delete wireInputs[key];
      }
    }
    const inputs = revealMap(wireInputs) as CommandInputs;
    if (inputs.assetPaths !== undefined || inputs.archivePaths !== undefined) {
      throw new Error(`${reg.urn}: assetPaths/archivePaths are not supported by the e2e engine`);
    }
    const changed = old ? changedKeys(old.inputs, inputs as Record<string, unknown>) : [];
    const replace = changed.some((k) => k === "triggers" || reg.replaceOnChanges.includes(k));
    const op: StepOp = !old ? "create" : replace ? "replace" : changed.length > 0 ? "update" : this.opts.forceRerun ? "rerun" : "same";
    // Like `pulumi up --diff`: which inputs made this an update or a replace.
    const base = { op, urn: reg.urn, type: reg.type, name: reg.name, ...(changed.length > 0 ? { changed } : {}) };

    if (op === "same") {
      this.record({ ...base, result: "done", durationMs: 0 });
      this.results.set(reg.urn, executed(reg, wireInputs, old!.wireOutputs, "same", old!.id));
      return { resourceId: old!.id ?? "", outputs: old!.wireOutputs };
    }

    // pulumi-command: an update runs `update`, or `create` again when there is no `update`.
    const hook: Hook = op === "update" && inputs.update !== undefined ? "update" : "create";
    const script = hook === "update" ? inputs.update : inputs.create;
    if (script !== undefined && this.opts.interruptAfterHooks !== undefined && this.hooksStarted >= this.opts.interruptAfterHooks) {
      this.halt(new Halt("interrupted", `interrupted after ${this.hooksStarted} create/update hooks (interruptAfterHooks)`));
      throw new Error(`${reg.urn}: not started: ${this.halted!.message}`);
    }
    if (op === "replace" && reg.deleteBeforeReplace) {
      const step = await deleteResource(old!, "delete-replaced", new Set(), this.ctx);
      if (step) this.record(step);
      if (step?.result === "failed") throw new Error(`${reg.urn}: ${step.detail}`);
      this.gone.add(old!);
    }

    const started = Date.now();
    let stdout = "";
    let stderr = "";
    if (script !== undefined) {
      this.hooksStarted++;
      try {
        ({ stdout, stderr } = await runHook(reg, op === "update" ? "update" : "create", script, inputs, this.ctx));
      } catch (err) {
        const detail = failureText(hook, err);
        this.record({ ...base, hook, result: "failed", detail, durationMs: Date.now() - started });
        throw new Error(`${reg.urn}: ${detail}`);
      }
    }
    const wireOutputs = commandOutputs(reg, wireInputs, stdout, stderr);
    const secret = containsSecret(wireOutputs.stdout);
    this.record({
      ...base,
      ...(script !== undefined ? { hook } : {}),
      result: "done",
      durationMs: Date.now() - started,
      stdout: secret ? "[secret]" : stdout,
      stderr: secret ? "[secret]" : stderr,
    });
    const id = op === "create" || op === "replace" ? `${reg.name}-${crypto.randomBytes(4).toString("hex")}` : old!.id;
    this.results.set(reg.urn, executed(reg, wireInputs, wireOutputs, op, id));
    if (op === "replace" && !reg.deleteBeforeReplace) this.replacedOld.push({ ...old!, pendingDelete: true, op: undefined });
    return { resourceId: id ?? "", outputs: wireOutputs };
  }

  /** Old resources in the previous state's order, each as the entry to delete; undefined where none. */
  private oldWorld(): ExecutedResource[] {
    return (this.previous?.resources ?? []).map((r) => (r.pendingDelete ? r : (this.replacedOld.find((o) => o.urn === r.urn) ?? r)));
  }

  /**
   * After a successful program: delete the old generations of replaced resources and whatever the
   * program no longer declares, dependents first (the reverse of the previous state's order).
   */
  async deleteLeftovers(): Promise<void> {
    const leftovers = this.oldWorld().filter((r) => !this.gone.has(r) && (r.pendingDelete || !this.nodes.has(r.urn)));
    const going = new Set(leftovers.map((r) => r.urn));
    for (const resource of leftovers.reverse()) {
      const step = await deleteResource(resource, resource.pendingDelete ? "delete-replaced" : "delete", going, this.ctx);
      if (step) this.record(step);
      if (step?.result === "failed") {
        this.halt(new Halt("failed", `${resource.urn}: ${step.detail}`));
        return;
      }
      this.gone.add(resource);
    }
  }

  /**
   * What the stack holds now, in an order valid for the next run and for destroy: old generations
   * still pending deletion, this run's results in completion order, then every previous resource
   * this run neither reached nor deleted.
   */
  finalResources(): ExecutedResource[] {
    const old = this.oldWorld().filter((r) => !this.gone.has(r));
    const pending = old.filter((r) => r.pendingDelete);
    const unreached = old.filter((r) => !r.pendingDelete && !this.results.has(r.urn));
    return dependencyOrder([...pending, ...this.results.values(), ...unreached]);
  }
}

function executed(reg: Registration, wireInputs: WireMap, wireOutputs: WireMap, op: StepOp, id: string | undefined): ExecutedResource {
  return {
    urn: reg.urn,
    type: reg.type,
    name: reg.name,
    custom: reg.custom,
    ...(id ? { id } : {}),
    parent: reg.parent,
    dependencies: reg.dependencies,
    deletedWith: reg.deletedWith,
    deleteBeforeReplace: reg.deleteBeforeReplace,
    retainOnDelete: reg.retainOnDelete,
    protect: reg.protect,
    customTimeouts: reg.customTimeouts,
    inputs: revealMap(wireInputs),
    outputs: revealMap(wireOutputs),
    wireInputs,
    wireOutputs,
    op,
  };
}

/** Top-level input keys whose values differ (deep, JSON-wise). */
function changedKeys(olds: Record<string, unknown>, news: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(olds), ...Object.keys(news)]);
  return [...keys].filter((k) => JSON.stringify(canonical(olds[k])) !== JSON.stringify(canonical(news[k])));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
  }
  return value;
}

/**
 * The provider's outputs: every input echoed, plus stdout and stderr. Secretness flows as in
 * pulumi-command: an echoed input keeps its own; stdout/stderr are secret when any input is secret
 * (every output depends on every input); `additionalSecretOutputs` are made secret.
 */
function commandOutputs(reg: Registration, wireInputs: WireMap, stdout: string, stderr: string): WireMap {
  const anySecret = containsSecret(wireInputs);
  const outputs: WireMap = {
    ...wireInputs,
    stdout: anySecret ? secretValue(stdout) : stdout,
    stderr: anySecret ? secretValue(stderr) : stderr,
  };
  for (const key of reg.additionalSecretOutputs) {
    if (key in outputs && !containsSecret(outputs[key])) outputs[key] = secretValue(reveal(outputs[key]));
  }
  return outputs;
}

/**
 * A stable topological order over parent and dependency edges: an entry comes after every other
 * entry with a URN it depends on (both generations of a replaced resource); ties keep the given
 * order. A cycle, possible only when a program reversed a dependency across a replacement, is broken
 * at the earliest entry.
 */
function dependencyOrder(entries: ExecutedResource[]): ExecutedResource[] {
  const placed = new Set<ExecutedResource>();
  const order: ExecutedResource[] = [];
  const ready = (e: ExecutedResource) =>
    [e.parent, ...e.dependencies].every((urn) => entries.every((d) => d.urn !== urn || d === e || placed.has(d)));
  while (order.length < entries.length) {
    const unplaced = entries.filter((e) => !placed.has(e));
    const next = unplaced.find(ready) ?? unplaced[0];
    placed.add(next);
    order.push(next);
  }
  return order;
}
