/**
 * `command:local:Command` as pulumi-command's provider runs it (provider/pkg/provider/local): the
 * script is the last argument of `interpreter` (default `/bin/sh -c`), run in `dir` (default: the
 * provider's working directory) with the provider's environment plus `environment`, `stdin` piped in
 * when non-empty; `stdout`/`stderr` become outputs with one trailing newline trimmed; a non-zero exit
 * fails the step with the command's output. Like Go's `cmd.Wait`, a run ends only when the process has
 * exited *and* its stdout/stderr are closed: a hook that leaves a daemon holding them would hang
 * `pulumi up`, so that is reported as a failure instead of waited out.
 */
import { spawn } from "child_process";

/** The inputs of `command:local:Command` (and its outputs, which echo them). */
export interface CommandInputs {
  readonly interpreter?: string[];
  readonly create?: string;
  readonly update?: string;
  readonly delete?: string;
  readonly dir?: string;
  readonly environment?: Record<string, string>;
  readonly stdin?: string;
  readonly triggers?: unknown[];
  readonly assetPaths?: string[];
  readonly archivePaths?: string[];
}

export interface CommandContext {
  /** The provider's working directory: where a command without `dir` runs. */
  readonly cwd: string;
  /** The provider's environment, which `environment` extends. */
  readonly env: NodeJS.ProcessEnv;
  /** Kill the command (its whole process group) after this long; undefined: no limit, as in the provider. */
  readonly timeoutMs?: number;
  /** How long stdout/stderr may stay open after the process exited before that counts as a hang. */
  readonly stdioLingerMs: number;
}

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

export class CommandFailed extends Error {
  constructor(
    readonly reason: string,
    /** stdout and stderr interleaved as the command wrote them. */
    readonly output: string,
  ) {
    super(output.trim() === "" ? reason : `${reason}\n${output.replace(/\n$/, "")}`);
    this.name = "CommandFailed";
  }
}

const DEFAULT_INTERPRETER = ["/bin/sh", "-c"];

export function runLocalCommand(script: string, inputs: CommandInputs, ctx: CommandContext): Promise<CommandResult> {
  const interpreter = inputs.interpreter && inputs.interpreter.length > 0 ? inputs.interpreter : DEFAULT_INTERPRETER;
  const stdin = inputs.stdin ?? "";
  return new Promise((resolve, reject) => {
    const child = spawn(interpreter[0], [...interpreter.slice(1), script], {
      cwd: inputs.dir ?? ctx.cwd,
      env: { ...ctx.env, ...(inputs.environment ?? {}) },
      // The provider leaves stdin unset (/dev/null) unless there is something to send.
      stdio: [stdin.length > 0 ? "pipe" : "ignore", "pipe", "pipe"],
      // Own process group, so a timeout can stop everything the hook started.
      detached: true,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const combined: Buffer[] = [];
    child.stdout!.on("data", (chunk: Buffer) => (stdout.push(chunk), combined.push(chunk)));
    child.stderr!.on("data", (chunk: Buffer) => (stderr.push(chunk), combined.push(chunk)));
    if (child.stdin) {
      // A hook may exit without reading its stdin; that is not an error of the run.
      child.stdin.on("error", () => undefined);
      child.stdin.end(stdin);
    }

    let failure: string | undefined;
    let exitReason: string | undefined;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const killGroup = () => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // Already gone.
      }
    };
    const finish = () => {
      if (settled) return;
      settled = true;
      timers.forEach(clearTimeout);
      const output = Buffer.concat(combined).toString("utf8");
      if (failure !== undefined) return reject(new CommandFailed(failure, output));
      if (exitReason !== undefined) return reject(new CommandFailed(exitReason, output));
      resolve({
        stdout: trimOneNewline(Buffer.concat(stdout).toString("utf8")),
        stderr: trimOneNewline(Buffer.concat(stderr).toString("utf8")),
      });
    };

    if (ctx.timeoutMs !== undefined) {
      timers.push(
        setTimeout(() => {
          failure = `timed out after ${ctx.timeoutMs} ms; killed its process group`;
          killGroup();
          // Whatever escaped the group may still hold the pipes; do not wait for it.
          timers.push(setTimeout(finish, 1000));
        }, ctx.timeoutMs),
      );
    }
    child.on("error", (err) => {
      failure = inputs.dir !== undefined && (err as NodeJS.ErrnoException).code === "ENOENT"
        ? `cannot start '${interpreter[0]}' in dir '${inputs.dir}': ${err.message}`
        : `cannot start '${interpreter[0]}': ${err.message}`;
      finish();
    });
    child.on("exit", (code, signal) => {
      if (code !== 0) exitReason = signal ? `signal: ${signal}` : `exit status ${code}`;
      timers.push(
        setTimeout(() => {
          failure ??=
            `the command exited, but a process it started still holds its stdout/stderr open after ` +
            `${ctx.stdioLingerMs} ms; pulumi-command would wait for it forever (redirect a daemon's output)`;
          killGroup();
          child.stdout!.destroy();
          child.stderr!.destroy();
          finish();
        }, ctx.stdioLingerMs),
      );
    });
    child.on("close", finish);
  });
}

/** Go's `strings.TrimSuffix(s, "\n")`: one newline, no more. */
export function trimOneNewline(text: string): string {
  return text.endsWith("\n") ? text.slice(0, -1) : text;
}

/** Go's `time.ParseDuration` for the units Pulumi's `customTimeouts` use ("1h2m3.5s", "500ms"). */
export function parseDuration(text: string): number | undefined {
  if (text === "") return undefined;
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = part.exec(text); m !== null; m = part.exec(text)) {
    total += Number(m[1]) * units[m[2]];
    consumed = part.lastIndex;
  }
  if (consumed !== text.length || consumed === 0) throw new Error(`customTimeouts: cannot parse duration '${text}'`);
  return total;
}
