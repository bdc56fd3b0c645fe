/**
 * The real Pulumi engine for whole-lab runs, driven the way Pulumi's users test their stacks: the
 * Automation API (`LocalWorkspace` on this project folder) over the CLI that `scripts/install-pulumi.sh`
 * builds (or an official install it found), with state in a file backend of the run's own and the
 * secrets provider's passphrase from the caller. Nothing here imitates the engine: plans, diffs,
 * replacements, state and secrets are the CLI's; this module only starts it and reads what it reports.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EngineEvent, LocalWorkspace, OpType, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { REPO_ROOT } from "../../lib/shell";

/** Where the engine runs and keeps its state for one whole-lab run. */
export interface EngineSetup {
  /** Folder holding `pulumi` and the plugins it finds on PATH. */
  readonly binDir: string;
  /** PULUMI_HOME of the run: plugin cache, workspace settings, credentials (none). */
  readonly home: string;
  /** The file backend's folder (PULUMI_BACKEND_URL=file://...). */
  readonly backendDir: string;
  /** Passphrase of the backend's secrets provider (PULUMI_CONFIG_PASSPHRASE). */
  readonly secretsPassphrase: string;
}

/**
 * Builds (or finds) the engine with scripts/install-pulumi.sh; its progress goes to stderr, and its last
 * line of stdout is the bin folder. A warm cache makes this a second.
 */
export function installEngine(): string {
  const r = spawnSync("bash", [path.join(REPO_ROOT, "scripts/install-pulumi.sh")], {
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`scripts/install-pulumi.sh failed (exit ${r.status ?? r.signal})`);
  const binDir = r.stdout.trim().split("\n").pop() ?? "";
  if (!fs.existsSync(path.join(binDir, "pulumi"))) throw new Error(`scripts/install-pulumi.sh named '${binDir}', which has no pulumi`);
  return binDir;
}

/**
 * The engine folders under `root`: PULUMI_HOME, the file backend, and the secrets provider's passphrase,
 * made once and kept beside the state (0600) so a later `--destroy` can open it.
 */
export function engineSetup(root: string, binDir: string): EngineSetup {
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const passphraseFile = path.join(root, "secrets-passphrase");
  if (!fs.existsSync(passphraseFile)) fs.writeFileSync(passphraseFile, randomBytes(24).toString("base64"), { mode: 0o600 });
  return {
    binDir,
    home: path.join(root, "pulumi-home"),
    backendDir: path.join(root, "backend"),
    secretsPassphrase: fs.readFileSync(passphraseFile, "utf8").trim(),
  };
}

/** The environment every pulumi process of the run gets: nothing may be downloaded, nothing shared with the user's own Pulumi. */
export function engineEnv(setup: EngineSetup): Record<string, string> {
  return {
    PATH: `${setup.binDir}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    PULUMI_HOME: setup.home,
    PULUMI_BACKEND_URL: `file://${setup.backendDir}`,
    PULUMI_CONFIG_PASSPHRASE: setup.secretsPassphrase,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    // The lab's hooks can take minutes under software emulation; nothing else to tune here.
  };
}

/** One step the engine reported: what it did to which resource, and whether a hook (a command) ran. */
export interface StepLog {
  readonly op: OpType;
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  /** A `command:local:Command` whose create, update or delete script ran in this step. */
  readonly hook: boolean;
  readonly result: "done" | "failed";
  /** Inputs whose change caused the step (update/replace). */
  readonly changed?: readonly string[];
  readonly durationMs: number;
}

/** Ops that leave a resource as it was: no script runs. */
const NO_OP: readonly OpType[] = ["same", "read", "refresh", "discard", "discard-replaced", "import", "import-replacement"];

/** Collects StepLogs from the engine's events; `onStep` sees each as it completes. */
export class StepRecorder {
  readonly steps: StepLog[] = [];
  readonly diagnostics: string[] = [];
  private readonly started = new Map<string, number>();

  constructor(private readonly onStep?: (step: StepLog) => void) {}

  readonly onEvent = (event: EngineEvent): void => {
    const pre = event.resourcePreEvent?.metadata;
    if (pre) this.started.set(`${pre.op} ${pre.urn}`, Date.now());
    const done = event.resOutputsEvent?.metadata;
    const failed = event.resOpFailedEvent?.metadata;
    const meta = done ?? failed;
    if (meta) {
      const key = `${meta.op} ${meta.urn}`;
      const step: StepLog = {
        op: meta.op,
        urn: meta.urn,
        type: meta.type,
        name: meta.urn.split("::").pop() ?? meta.urn,
        hook: meta.type === "command:local:Command" && !NO_OP.includes(meta.op),
        result: done ? "done" : "failed",
        ...(meta.diffs && meta.diffs.length > 0 ? { changed: meta.diffs } : {}),
        durationMs: Date.now() - (this.started.get(key) ?? Date.now()),
      };
      this.steps.push(step);
      this.onStep?.(step);
    }
    const diag = event.diagnosticEvent;
    if (diag && (diag.severity === "error" || diag.severity === "warning")) this.diagnostics.push(diag.message.trim());
  };

  get hooks(): StepLog[] {
    return this.steps.filter((s) => s.hook);
  }
}

/** The stack `name` of the project in `workDir` (this one by default), on the engine of `setup`, created when missing. */
export async function openStack(name: string, setup: EngineSetup, workDir = REPO_ROOT): Promise<Stack> {
  fs.mkdirSync(setup.home, { recursive: true, mode: 0o700 });
  fs.mkdirSync(setup.backendDir, { recursive: true, mode: 0o700 });
  const pulumiCommand = await PulumiCommand.get({ root: path.dirname(setup.binDir) });
  const workspace = await LocalWorkspace.create({ workDir, pulumiCommand, envVars: engineEnv(setup) });
  return Stack.createOrSelect(name, workspace);
}

/** One resource of the stack's state, secrets shown (`pulumi stack export --show-secrets`). */
export interface StateResource {
  readonly urn: string;
  readonly type: string;
  readonly custom: boolean;
  readonly id?: string;
  readonly parent?: string;
  readonly inputs: Record<string, any>;
  readonly outputs: Record<string, any>;
  readonly dependencies?: string[];
  readonly pendingReplacement?: boolean;
  readonly delete?: boolean;
}

/** The stack's resources as the engine holds them now, secrets decrypted (tests only). */
export function stateResources(stackName: string, setup: EngineSetup): StateResource[] {
  return exportState(stackName, setup).resources;
}

/**
 * The resources a run stopped part-way was creating: the engine recorded the create as begun (with its
 * inputs) but never its result. `pulumi refresh --clear-pending-creates` forgets them, work and all.
 */
export function pendingCreates(stackName: string, setup: EngineSetup): StateResource[] {
  return exportState(stackName, setup)
    .pending.filter((op) => op.type === "creating")
    .map((op) => op.resource);
}

function exportState(stackName: string, setup: EngineSetup): { resources: StateResource[]; pending: PendingOperation[] } {
  const r = spawnSync(path.join(setup.binDir, "pulumi"), ["stack", "export", "--show-secrets", "--stack", stackName], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...engineEnv(setup) },
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`pulumi stack export --stack ${stackName}: ${r.stderr.trim()}`);
  const { deployment } = JSON.parse(r.stdout) as {
    deployment?: { resources?: StateResource[]; pending_operations?: PendingOperation[] };
  };
  const revealed = (res: StateResource): StateResource => ({
    ...res,
    inputs: reveal(res.inputs ?? {}),
    outputs: reveal(res.outputs ?? {}),
  });
  return {
    resources: (deployment?.resources ?? []).map(revealed),
    pending: (deployment?.pending_operations ?? []).map((op) => ({ ...op, resource: revealed(op.resource) })),
  };
}

interface PendingOperation {
  readonly type: "creating" | "updating" | "deleting" | "reading" | "importing";
  readonly resource: StateResource;
}

/** The lock a file backend holds on a stack while an update runs (`.pulumi/locks/...`, written by the engine). */
export interface StackLock {
  readonly file: string;
  readonly pid: number;
  readonly hostname: string;
  readonly timestamp: string;
}

/** The locks on `stackName` of `project` in the file backend of `setup`. */
export function stackLocks(setup: EngineSetup, project: string, stackName: string): StackLock[] {
  const dir = path.join(setup.backendDir, ".pulumi", "locks", "organization", project, stackName);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .map((name) => {
      const file = path.join(dir, name);
      const lock = JSON.parse(fs.readFileSync(file, "utf8")) as Omit<StackLock, "file">;
      return { file, pid: lock.pid, hostname: lock.hostname, timestamp: lock.timestamp };
    });
}

/**
 * Whether the pulumi that took `lock` may still run: it does when the lock comes from another host
 * (nothing here can tell), or when its pid is alive on this host and runs a program named pulumi. A pid
 * reused by another pulumi counts as alive: the lock is then left for a person to judge.
 */
export function lockMayBeHeld(lock: StackLock, hostname = os.hostname()): boolean {
  if (lock.hostname !== hostname) return true;
  try {
    return fs.readFileSync(`/proc/${lock.pid}/comm`, "utf8").trim() === "pulumi";
  } catch {
    return false; // no such process
  }
}

/** `stack export --show-secrets` keeps the secret wrapper around the plaintext; unwrap it. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
function reveal(value: any): any {
  if (Array.isArray(value)) return value.map(reveal);
  if (value && typeof value === "object") {
    if (value[SECRET_SIG] === "1b47061264138c4ac30d75fd1eb44270") {
      return "plaintext" in value ? reveal(JSON.parse(value.plaintext)) : reveal(value.value);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)]));
  }
  return value;
}

/** `pulumi <args>` in this project, on the engine of `setup`, as a child the caller can signal. */
export function spawnPulumi(args: string[], setup: EngineSetup): ChildProcess {
  return spawn(path.join(setup.binDir, "pulumi"), [...args, "--color", "never"], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...engineEnv(setup) },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** `pulumi <args>` to its end: exit code and output. */
export function runPulumi(args: string[], setup: EngineSetup): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawnPulumi(args, setup);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr })));
}
