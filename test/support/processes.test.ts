/**
 * The process helpers tests use to interrupt hooks: they must never reach a process the test did not
 * start. A missing pid file once read as pid 0, whose "descendants" are every process on the machine,
 * and the sshfs test killed the ssh of a CI run beside it.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { descendants } from "./processes";
import { pipePids, TransferDriver } from "./transfer-driver";

test("descendants of pid 0, 1 or not a pid at all: refused, not every process on the machine", () => {
  for (const root of [0, 1, -5, NaN, 1.5]) expect(() => descendants(root)).toThrow(/is not the pid of a process a test started/);
});

test("descendants of a real process: its children, and nobody else", async () => {
  const parent = spawn("bash", ["-c", "sleep 30 & sleep 30 & wait"], { stdio: "ignore" });
  let kids: number[] = [];
  try {
    for (let i = 0; i < 50 && kids.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      kids = descendants(parent.pid!);
    }
    expect(kids).toHaveLength(2);
    expect(kids).not.toContain(process.pid);
  } finally {
    for (const pid of kids) process.kill(pid, "SIGKILL");
    parent.kill("SIGKILL");
  }
});

test("an sshfs pipe without a pid file is an error naming the file, never pid 0", () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-pids-"));
  try {
    const d = { args: { imageName: "win7" }, plan: { folders: [{}] } } as unknown as TransferDriver;
    expect(() => pipePids(stateDir, d)).toThrow(new RegExp(`^no running pipe recorded in ${stateDir}/.+`));
  } finally {
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
});
