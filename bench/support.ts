/**
 * What every measurement needs: a clock, a way to run programs and hooks, dropping caches, and a
 * cleanup list that undoes everything the bench made, in reverse, whatever happened.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { GuestConnection, HookValue, inGuestCommand, parseHookResult, REPO_ROOT, renderHook } from "../lib/shell";

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Text for stdin, or `{ file }` to connect a file to stdin directly (no copy through node). */
  readonly stdin?: string | { readonly file: string };
  readonly env?: NodeJS.ProcessEnv;
  /** Kill the whole process group after this long (exit code 124). @default 20 minutes */
  readonly timeoutMs?: number;
}

/** Runs argv in its own process group; never throws on the exit code. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 20 * 60_000;
  return new Promise((resolve, reject) => {
    const stdinFd = typeof opts.stdin === "object" ? fs.openSync(opts.stdin.file, "r") : undefined;
    const child = spawn(argv[0], argv.slice(1), {
      cwd: REPO_ROOT,
      env: opts.env ?? process.env,
      stdio: [stdinFd ?? "pipe", "pipe", "pipe"],
      detached: true,
    });
    if (stdinFd !== undefined) fs.closeSync(stdinFd);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.stdout!.on("data", (d: Buffer) => stdout.push(d));
    child.stderr!.on("data", (d: Buffer) => stderr.push(d));
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${argv[0]}: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const err = Buffer.concat(stderr).toString("utf8");
      resolve({
        code: timedOut ? 124 : (code ?? (signal ? 128 : 1)),
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: timedOut ? `${err}\n(timed out after ${timeoutMs / 1000} s)` : err,
      });
    });
    if (child.stdin) {
      child.stdin.on("error", () => undefined);
      child.stdin.end(typeof opts.stdin === "string" ? opts.stdin : "");
    }
  });
}

/** The last few lines of a failed command's output, for a one-paragraph error. */
export function tail(text: string, lines = 6): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}

/** Runs argv and returns its stdout; throws naming the command and its stderr when it fails. */
export async function must(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.slice(0, 3).join(" ")} failed (exit ${r.code}): ${tail(r.stderr || r.stdout)}`);
  return r.stdout;
}

/** Runs rendered hook text with bash, as a `local.Command` would; throws when it fails. */
export async function runHookText(what: string, text: string, opts: RunOptions = {}): Promise<ExecResult> {
  const r = await run(["/bin/bash", "-c", text], opts);
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${tail(r.stderr || r.stdout)}`);
  return r;
}

function resolved<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

/** Renders a bench hook to run in the guest (pinned ssh, values in the prelude), without running it. */
export function inGuestText(guest: GuestConnection, hook: string, values: Record<string, HookValue>): Promise<string> {
  return resolved(inGuestCommand(guest, hook, values, "fail"));
}

/** Runs a hook in the guest and returns its `FORENSIC_LAB_RESULT`; throws when it fails. */
export async function inGuestHook<T = Record<string, unknown>>(
  guest: GuestConnection,
  hook: string,
  values: Record<string, HookValue>,
): Promise<T> {
  const r = await runHookText(hook, await inGuestText(guest, hook, values));
  return parseHookResult<T>(r.stdout);
}

/** Runs a bench hook on the host; throws when it fails. */
export function hostHook(hook: string, values: Record<string, HookValue>, opts: RunOptions = {}): Promise<ExecResult> {
  return runHookText(hook, renderHook(hook, values), opts);
}

/**
 * CPU seconds the host spent busy, over all cores, from the first line of /proc/stat: user (guest time
 * included), nice, system, irq, softirq and steal; idle and iowait are not busy. Its unit is USER_HZ,
 * fixed at 100 by the kernel's ABI whatever the kernel's own tick.
 */
export function busyCpuSeconds(statText: string): number {
  const line = statText.split("\n")[0];
  const fields = line.trim().split(/\s+/);
  if (fields[0] !== "cpu" || fields.length < 9) throw new Error(`/proc/stat does not start with the cpu line: ${line}`);
  const [user, nice, system, , , irq, softirq, steal] = fields.slice(1, 9).map(Number);
  return (user + nice + system + irq + softirq + steal) / 100;
}

/** `busyCpuSeconds` of this host now. */
export function hostBusyCpuSeconds(): number {
  return busyCpuSeconds(fs.readFileSync("/proc/stat", "utf8"));
}

/** Seconds `fn` took (monotonic clock) and what it returned. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = process.hrtime.bigint();
  const value = await fn();
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, value };
}

/**
 * Times `measure` `runs` times; `prepare` runs untimed before each run (drop caches, undo the last
 * run). Returns the samples in seconds.
 */
export async function repeat(runs: number, measure: () => Promise<unknown>, prepare?: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    if (prepare) await prepare();
    samples.push((await timed(measure)).seconds);
  }
  return samples;
}

/** Writes dirty pages back, then drops the host's page, dentry and inode caches: the next read comes from disk. */
export async function dropHostCaches(): Promise<void> {
  await must(["sync"]);
  fs.writeFileSync("/proc/sys/vm/drop_caches", "3\n");
}

/**
 * Undo actions, run last-in first-out. `add` returns a handle whose `now()` runs that one action early,
 * on the normal path; `runAll` runs whatever is left, each guarded, and reports.
 */
export class Cleanup {
  private readonly actions: { label: string; fn: () => Promise<void> }[] = [];

  add(label: string, fn: () => Promise<void>): { now(): Promise<void> } {
    const action = { label, fn };
    this.actions.push(action);
    return {
      // Forgotten only once it succeeded: a failed undo stays on the list for `runAll` to try again.
      now: async () => {
        if (!this.actions.includes(action)) return;
        await fn();
        this.actions.splice(this.actions.indexOf(action), 1);
      },
    };
  }

  get pending(): string[] {
    return this.actions.map((a) => a.label);
  }

  /** Runs every action left; returns the labels of those that failed (each reported through `log`). */
  async runAll(log: (line: string) => void): Promise<string[]> {
    const failed: string[] = [];
    while (this.actions.length > 0) {
      const action = this.actions.pop()!;
      try {
        await action.fn();
        log(`cleanup: ${action.label}`);
      } catch (err) {
        failed.push(action.label);
        log(`cleanup FAILED: ${action.label}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return failed;
  }
}
