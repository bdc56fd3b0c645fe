import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EngineSetup, lockMayBeHeld, stackLocks } from "./pulumi";

/** A run stopped part-way leaves its lock; the next run removes it only when the pulumi that took it is gone. */
describe("stack locks of the file backend", () => {
  let dir: string;
  let setup: EngineSetup;
  let running: ChildProcess | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-locks-"));
    setup = { binDir: dir, home: dir, backendDir: path.join(dir, "backend"), secretsPassphrase: "x" };
  });
  afterEach(() => {
    running?.kill("SIGKILL");
    running = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Writes a lock as the engine does: `.pulumi/locks/organization/<project>/<stack>/<uuid>.json`. */
  function writeLock(pid: number, hostname = os.hostname()): string {
    const lockDir = path.join(setup.backendDir, ".pulumi/locks/organization/forensic-lab/e2e-case-ci");
    fs.mkdirSync(lockDir, { recursive: true });
    const file = path.join(lockDir, "e8e57a28-3bca-438e-8e32-1a4f0de055a4.json");
    fs.writeFileSync(file, JSON.stringify({ pid, username: "root", hostname, timestamp: "2026-12-05T06:17:30.947777581Z" }));
    fs.writeFileSync(`${file}.attrs`, "{}");
    return file;
  }

  /** A process the kernel names `pulumi` (a copy of sleep), standing in for a pulumi still running. */
  function startPulumiNamedProcess(): number {
    const program = path.join(dir, "pulumi");
    fs.copyFileSync("/bin/sleep", program);
    fs.chmodSync(program, 0o755);
    running = spawn(program, ["60"], { stdio: "ignore" });
    return running.pid!;
  }

  /** A pid no process has now: a short-lived child, waited for. */
  async function exitedPid(): Promise<number> {
    const child = spawn("true", { stdio: "ignore" });
    await new Promise((resolve) => child.on("close", resolve));
    return child.pid!;
  }

  test("no lock folder: no locks", () => {
    expect(stackLocks(setup, "forensic-lab", "e2e-case-ci")).toEqual([]);
  });

  test("a lock is read with its pid, host and time; the .attrs beside it is not a lock", () => {
    const file = writeLock(20627, "vm");
    expect(stackLocks(setup, "forensic-lab", "e2e-case-ci")).toEqual([
      { file, pid: 20627, hostname: "vm", timestamp: "2026-12-05T06:17:30.947777581Z" },
    ]);
    expect(stackLocks(setup, "forensic-lab", "other-stack")).toEqual([]);
  });

  test("the lock of a pulumi that is gone may be removed", async () => {
    writeLock(await exitedPid());
    const [lock] = stackLocks(setup, "forensic-lab", "e2e-case-ci");
    expect(lockMayBeHeld(lock)).toBe(false);
  });

  test("the lock of a pulumi still running is held", () => {
    writeLock(startPulumiNamedProcess());
    const [lock] = stackLocks(setup, "forensic-lab", "e2e-case-ci");
    expect(lockMayBeHeld(lock)).toBe(true);
  });

  test("a pid reused by a program that is not pulumi does not hold the lock", () => {
    writeLock(process.pid); // node
    const [lock] = stackLocks(setup, "forensic-lab", "e2e-case-ci");
    expect(lockMayBeHeld(lock)).toBe(false);
  });

  test("another host's lock cannot be judged here and counts as held", async () => {
    writeLock(await exitedPid(), `not-${os.hostname()}`);
    const [lock] = stackLocks(setup, "forensic-lab", "e2e-case-ci");
    expect(lockMayBeHeld(lock)).toBe(true);
  });
});
