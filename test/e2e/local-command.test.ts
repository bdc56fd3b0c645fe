/**
 * `runLocalCommand` against real processes: the output and failure semantics of pulumi-command's
 * local provider, plus the two ways a hook can hang a real `pulumi up` (no timeout, a daemon holding
 * its stdout), which the engine turns into clear failures.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CommandFailed, CommandContext, parseDuration, runLocalCommand, trimOneNewline } from "./local-command";

const ctx: CommandContext = { cwd: os.tmpdir(), env: process.env, stdioLingerMs: 1000 };
const bash = { interpreter: ["/bin/bash", "-c"] };

/** Running means: exists and is not a zombie (a killed orphan waits for init to reap it). */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function stopped(pid: number): Promise<boolean> {
  for (let i = 0; i < 40 && running(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return !running(pid);
}

async function failure(promise: Promise<unknown>): Promise<CommandFailed> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof CommandFailed) return err;
    throw err;
  }
  throw new Error("the command succeeded, expected it to fail");
}

test("stdout and stderr lose exactly one trailing newline", async () => {
  const r = await runLocalCommand("printf 'out\\n\\n'; printf 'err\\n' >&2", bash, ctx);
  expect(r).toEqual({ stdout: "out\n", stderr: "err" });
  expect(trimOneNewline("x")).toBe("x");
});

test("the default interpreter is /bin/sh -c", async () => {
  // dash has no $BASH_VERSION.
  expect((await runLocalCommand('echo "[${BASH_VERSION:-}]"', {}, ctx)).stdout).toBe("[]");
  expect((await runLocalCommand('echo "[${BASH_VERSION:-}]"', bash, ctx)).stdout).not.toBe("[]");
});

test("stdin is piped when given and /dev/null otherwise", async () => {
  expect((await runLocalCommand("cat", { ...bash, stdin: "secret\nline" }, ctx)).stdout).toBe("secret\nline");
  expect((await runLocalCommand("cat; echo done", bash, ctx)).stdout).toBe("done");
  // A hook that does not read its stdin is not a failure.
  expect((await runLocalCommand("true", { ...bash, stdin: "x".repeat(1 << 20) }, ctx)).stdout).toBe("");
});

test("environment extends the provider's, and dir sets the working directory", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-cmd-"));
  try {
    const r = await runLocalCommand('echo "$FORENSIC_X $HOME"; pwd', { ...bash, dir, environment: { FORENSIC_X: "x y" } }, {
      ...ctx,
      env: { ...process.env, HOME: "/home-of-provider" },
    });
    expect(r.stdout).toBe(`x y /home-of-provider\n${fs.realpathSync(dir)}`);
    expect((await runLocalCommand("pwd", bash, { ...ctx, cwd: dir })).stdout).toBe(fs.realpathSync(dir));
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});

test("a non-zero exit fails with the exit status and the output, interleaved as written", async () => {
  const err = await failure(runLocalCommand("echo one; echo two >&2; sleep 0.05; echo three; exit 7", bash, ctx));
  expect(err.reason).toBe("exit status 7");
  expect(err.output).toBe("one\ntwo\nthree\n");
  expect(err.message).toBe("exit status 7\none\ntwo\nthree");
});

test("a missing dir fails with a message naming it", async () => {
  const err = await failure(runLocalCommand("true", { ...bash, dir: "/nonexistent/forensic" }, ctx));
  expect(err.message).toContain("dir '/nonexistent/forensic'");
});

test("a timeout kills the hook's whole process group", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-cmd-"));
  const pidFile = path.join(dir, "pid");
  const started = Date.now();
  const err = await failure(
    runLocalCommand(`sleep 30 >/dev/null 2>&1 & echo $! > '${pidFile}'; sleep 30`, bash, { ...ctx, timeoutMs: 500 }),
  );
  expect(err.reason).toContain("timed out after 500 ms");
  expect(Date.now() - started).toBeLessThan(5000);
  const pid = Number(fs.readFileSync(pidFile, "utf8"));
  expect(pid).toBeGreaterThan(1);
  // The background sleep was in the group: it is gone.
  expect(await stopped(pid)).toBe(true);
  fs.rmSync(dir, { recursive: true });
});

test("a daemon left holding stdout is reported instead of hanging, and stopped", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-cmd-"));
  const err = await failure(runLocalCommand(`sleep 30 & echo $! > pid; echo started`, { ...bash, dir }, ctx));
  expect(err.reason).toContain("still holds its stdout/stderr open");
  expect(err.output).toBe("started\n");
  const pid = Number(fs.readFileSync(path.join(dir, "pid"), "utf8"));
  expect(pid).toBeGreaterThan(1);
  expect(await stopped(pid)).toBe(true);
  // Redirected, the same daemon is fine (and is ours to stop).
  const ok = await runLocalCommand(`sleep 30 >/dev/null 2>&1 & echo $! > pid; echo started`, { ...bash, dir }, ctx);
  expect(ok.stdout).toBe("started");
  const daemon = Number(fs.readFileSync(path.join(dir, "pid"), "utf8"));
  expect(running(daemon)).toBe(true);
  execFileSync("kill", [String(daemon)]);
  expect(await stopped(daemon)).toBe(true);
  fs.rmSync(dir, { recursive: true });
});

test("customTimeouts durations parse like Go's", () => {
  expect(parseDuration("")).toBeUndefined();
  expect(parseDuration("90s")).toBe(90_000);
  expect(parseDuration("1h2m3.5s")).toBe(3_723_500);
  expect(parseDuration("250ms")).toBe(250);
  expect(() => parseDuration("5 minutes")).toThrow("customTimeouts: cannot parse duration '5 minutes'");
});
