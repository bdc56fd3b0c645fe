/**
 * Watches every process's command line and environment for a secret while hooks run, on the host and in
 * a guest (proc-scan.sh), and proves each watcher can see: a decoy process carrying the secret in its
 * argv must be caught, or the watch is void. The decoys never fork: a forked child shows its parent's
 * argv until it execs, and was once caught as a second process with the secret (a false hit).
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { TestGuest } from "../guest/harness";

const SCANNER = path.join(__dirname, "proc-scan.sh");
const GUEST_DIR = "/run/vol-watch";

export interface WatchReport {
  /** How many full passes over /proc the scanner made. */
  readonly scans: number;
  /** `<pid> <cmdline|environ> <comm>` of every process that showed the secret. */
  readonly hits: string[];
}

interface Watcher {
  /** Runs a process with the secret in its argv for a moment; resolves with its pid. */
  decoy(): Promise<number>;
  stop(): Promise<WatchReport>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function parse(output: string): WatchReport {
  const scans = Number(/^scans=(\d+)$/m.exec(output)?.[1] ?? NaN);
  if (Number.isNaN(scans)) throw new Error(`proc-scan printed no scan count:\n${output}`);
  return {
    scans,
    hits: output
      .split("\n")
      .filter((l) => l.startsWith("hit "))
      .map((l) => l.slice(4)),
  };
}

function watchHost(secret: string): Watcher {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vol-watch-"));
  const needle = path.join(dir, "needle");
  const stopFile = path.join(dir, "stop");
  fs.writeFileSync(needle, secret, { mode: 0o600 });
  const scanner = spawn("/bin/bash", [SCANNER, needle, stopFile], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  scanner.stdout.on("data", (d: Buffer) => (output += d.toString()));
  scanner.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => scanner.on("close", resolve));
  return {
    decoy: () =>
      new Promise<number>((resolve, reject) => {
        // It waits in bash's own `read` on a pipe nobody writes to: a decoy that forked (`sleep`) would show
        // the secret in its child's argv too, between fork and exec, under another pid.
        const decoy = spawn("/bin/bash", ["-c", "read -r -t 1.5 _ || true", "decoy", secret], { stdio: ["pipe", "ignore", "ignore"] });
        decoy.on("close", () => resolve(decoy.pid!));
        decoy.on("error", reject);
      }),
    async stop() {
      fs.writeFileSync(stopFile, "");
      const code = await exited;
      fs.rmSync(dir, { recursive: true, force: true });
      if (code !== 0) throw new Error(`host proc-scan failed (${code}):\n${output}`);
      return parse(output);
    },
  };
}

async function watchGuest(guest: TestGuest, secret: string): Promise<Watcher> {
  const steps = [
    {
      script: `rm -rf ${GUEST_DIR} && install -d -m 0700 ${GUEST_DIR} && cat > ${GUEST_DIR}/proc-scan.sh`,
      stdin: fs.readFileSync(SCANNER, "utf8"),
    },
    { script: `umask 077 && cat > ${GUEST_DIR}/needle`, stdin: secret },
    { script: `setsid bash ${GUEST_DIR}/proc-scan.sh ${GUEST_DIR}/needle ${GUEST_DIR}/stop > ${GUEST_DIR}/out 2>&1 < /dev/null &` },
  ];
  for (const step of steps) {
    const r = await guest.ssh(step.script, { stdin: step.stdin });
    if (r.code !== 0) throw new Error(`guest proc-scan setup failed: ${step.script}\n${r.stderr}`);
  }
  return {
    async decoy() {
      // The secret comes from the root-only file at run time, so only the decoy's own argv carries it. It
      // waits in bash's own `read` on a FIFO nobody writes to, never forking (see the host's decoy).
      const r = await guest.ssh(
        `mkfifo -m 0600 ${GUEST_DIR}/decoy.fifo && { bash -c 'read -r -t 3 _ <> "$1" || true' decoy ${GUEST_DIR}/decoy.fifo "$(cat ${GUEST_DIR}/needle)" & echo "$!"; wait; }`,
      );
      if (r.code !== 0) throw new Error(`guest decoy failed:\n${r.stderr}`);
      return Number(r.stdout.trim());
    },
    async stop() {
      for (let i = 0; i < 120; i++) {
        const r = await guest.ssh(`touch ${GUEST_DIR}/stop && grep -q '^scans=' ${GUEST_DIR}/out && cat ${GUEST_DIR}/out`);
        if (r.code === 0) {
          await guest.ssh(`rm -rf ${GUEST_DIR}`);
          return parse(r.stdout);
        }
        await sleep(500);
      }
      throw new Error("guest proc-scan did not stop within 60 s");
    },
  };
}

/** Drops the decoy's own hits; throws when the watcher missed the decoy, since it would be blind. */
function withoutDecoy(where: string, report: WatchReport, decoyPid: number): WatchReport {
  const isDecoy = (hit: string) => hit.startsWith(`${decoyPid} cmdline `);
  if (!report.hits.some(isDecoy)) throw new Error(`the ${where} watcher missed its decoy (pid ${decoyPid}): ${JSON.stringify(report)}`);
  return { scans: report.scans, hits: report.hits.filter((h) => !isDecoy(h)) };
}

/**
 * Runs `work` while the host and the guest are watched for `secret` in any process's argv or
 * environment. Each watcher first has to catch a decoy. Returns what work returned and both reports.
 */
export async function watchForSecret<T>(
  guest: TestGuest,
  secret: string,
  work: () => Promise<T>,
): Promise<{ result: T; host: WatchReport; guest: WatchReport }> {
  const host = watchHost(secret);
  const inGuest = await watchGuest(guest, secret);
  const hostDecoy = await host.decoy();
  const guestDecoy = await inGuest.decoy();
  const outcome = await work().then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  const hostReport = await host.stop();
  const guestReport = await inGuest.stop();
  if (!outcome.ok) throw outcome.error;
  return {
    result: outcome.value,
    host: withoutDecoy("host", hostReport, hostDecoy),
    guest: withoutDecoy("guest", guestReport, guestDecoy),
  };
}
