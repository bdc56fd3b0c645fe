/**
 * Runs a transfer's hooks the way `pulumi up`/`destroy` would, without the engine: the same rendering
 * functions the component uses, then bash. Tests drive it against a loopback stand-in or a real guest.
 */
import { spawn, SpawnSyncReturns } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { GuestConnection, hookCommand, inGuestCommand, parseHookResult } from "../../lib/shell";
import { valueOf } from "../mocks";
import { ImageTransferArgs, ValidatedArgs, validateArgs } from "../../components/image-transfer/args";
import { hostHashHooks, pipeStatePaths, planTransfer, transferHooks, TransferPlan } from "../../components/image-transfer/plan";
import { hookFile } from "../../lib/hook-file";

export type HookRun = Pick<SpawnSyncReturns<string>, "status" | "stdout" | "stderr"> & { seconds: number; pid: number };

/** Runs a hook text with bash; `onStart` sees the bash pid (to find and kill its ssh, say). */
export function runHook(text: string, onStart?: (pid: number) => void, timeoutMs = 900_000): Promise<HookRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn("/bin/bash", ["-c", text], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, seconds: (Date.now() - started) / 1000, pid: child.pid! });
    });
    if (onStart) onStart(child.pid!);
  });
}

export interface TransferDriver {
  readonly args: ValidatedArgs;
  readonly plan: TransferPlan;
  hostHash(): Promise<HookRun>;
  create(onStart?: (pid: number) => void): Promise<HookRun>;
  destroy(): Promise<HookRun>;
  release(): Promise<HookRun>;
}

export function transferDriver(guest: GuestConnection, input: Omit<ImageTransferArgs, "guest">): TransferDriver {
  const args = validateArgs(input);
  const plan = planTransfer(args.manifest, args.guestRoot);
  const hashHooks = hostHashHooks(args, plan);
  let hostSha256: string[] | undefined;
  const hostHash = async () => {
    const r = await runHook(hashHooks.create);
    if (r.status === 0) hostSha256 = parseHookResult<{ files: { sha256: string }[] }>(r.stdout).files.map((f) => f.sha256);
    return r;
  };
  return {
    args,
    plan,
    hostHash,
    async create(onStart) {
      if (!hostSha256) {
        const r = await hostHash();
        if (r.status !== 0) throw new Error(`host hash failed: ${r.stderr}`);
      }
      return runHook(await valueOf(transferHooks(guest, args, plan, hostSha256!).create), onStart);
    },
    async destroy() {
      return runHook(await valueOf(transferHooks(guest, args, plan, []).delete));
    },
    release: () => runHook(hashHooks.delete),
  };
}

/**
 * What a hostile guest could do with its end of an sftp pipe: mount it read-WRITE. Starts one pipe
 * exactly as `host-sshfs.sh` does (setsid, private mount namespace, the real `host-sshfs-pipe.sh`), but with a
 * guest side that mounts without `ro`, so tests can show the host side alone refuses every write.
 * Returns the pipe's pid; the pipe ends when the guest unmounts.
 */
export async function startReadWriteAttempt(
  guest: GuestConnection,
  opts: { hostFiles: string[]; mountPoint: string; stateDir: string },
): Promise<{ pid: number; log: string }> {
  fs.mkdirSync(opts.stateDir, { recursive: true });
  const guestHook = path.join(opts.stateDir, "rw-attempt.sh");
  fs.writeFileSync(
    guestHook,
    [
      "#!/usr/bin/env bash",
      "set -euo pipefail",
      "exec 3>&1 1>&2",
      'mkdir -p -- "$MOUNT_POINT"',
      // Deliberately without ro: the hostile guest's choice.
      'exec sshfs -f -o "passive,allow_other" ":/evidence" "$MOUNT_POINT" >&3 3>&-',
      "",
    ].join("\n"),
  );
  const pidFile = path.join(opts.stateDir, "rw-attempt.pid");
  const log = path.join(opts.stateDir, "rw-attempt.log");
  const pipe = await valueOf(
    hookCommand(hookFile("image-transfer", "host-sshfs-pipe.sh"), {
      IMAGE_NAME: "rw-attempt",
      FOLDER_INDEX: 0,
      PID_FILE: pidFile,
      FIFO: path.join(opts.stateDir, "rw-attempt.fifo"),
      JAIL_DIR: path.join(opts.stateDir, "rw-attempt-jail"),
      HOST_FILES: opts.hostFiles,
      GUEST_MOUNT_HOOK: inGuestCommand(guest, guestHook, { MOUNT_POINT: opts.mountPoint }, "fail"),
    }),
  );
  const start = spawn(
    "/bin/bash",
    [
      "-c",
      'setsid unshare --mount --propagation private -- bash -c "$1" forensic-lab-sftp-pipe </dev/null >>"$2" 2>&1 &',
      "start",
      pipe,
      log,
    ],
    { stdio: "ignore" },
  );
  await new Promise((resolve) => start.on("close", resolve));
  for (let i = 0; i < 100 && !fs.existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 100));
  if (!fs.existsSync(pidFile)) throw new Error(`the read-write attempt's pipe did not start: ${fs.readFileSync(log, "utf8")}`);
  return { pid: Number(fs.readFileSync(pidFile, "utf8").split(" ")[0]), log };
}

/** sha256 of a host file, hex. */
export function fileSha256(file: string): string {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** What an sshfs transfer reports when all is well: per file, the host's hash of what the guest handed back. */
export function readBackResults(plan: TransferPlan): object[] {
  return plan.files.map((f) => {
    const h = fileSha256(f.hostPath);
    return {
      path: f.hostPath,
      guestPath: f.guestPath,
      hostSha256: h,
      guestSha256: h,
      verifiedBy: "host-read-back",
      guestReportedSha256: h,
    };
  });
}

/** The custody log's lines, parsed (JSON lines). */
export function custodyLines(file: string): any[] {
  return fs
    .readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

/**
 * The pids of an sshfs transfer's pipes, one per folder, from their pid files (`<pid> <start time>`).
 * A missing or unreadable pid file is an error naming it, never a pid of 0.
 */
export function pipePids(stateDir: string, d: TransferDriver): number[] {
  return pipeStatePaths(stateDir, d.args.imageName, d.plan.folders.length).pidFiles.map((file) => {
    const pid = fs.existsSync(file) ? Number(fs.readFileSync(file, "utf8").split(" ")[0]) : NaN;
    if (!Number.isInteger(pid) || pid < 2) throw new Error(`no running pipe recorded in ${file}`);
    return pid;
  });
}
