/**
 * Looking at the host's processes through /proc, for tests that interrupt a hook part-way (kill the ssh
 * under a copy, find the reader of an evidence file). One copy for the transfer tests and the e2e.
 */
import * as fs from "fs";

/**
 * The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses): [0] is
 * field 3 (state), [1] field 4 (parent pid), [19] field 22 (start time). Throws when the process is gone.
 */
function statFields(pid: number): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** The parent pid of `pid` (throws when it is gone). */
export function parentOf(pid: number): number {
  return Number(statFields(pid)[1]);
}

/**
 * Pids of the descendants of `root` (walks /proc). `root` must be a real process's pid: the descendants
 * of 0 or 1 are every process on the machine, and a test that then kills "the ssh under the pipe" would
 * kill another run's ssh (a missing pid file read as pid 0 did exactly that to a CI run beside it).
 */
export function descendants(root: number): number[] {
  if (!Number.isInteger(root) || root < 2) throw new Error(`descendants: ${root} is not the pid of a process a test started`);
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const parent = parentOf(Number(entry));
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // Gone while we looked.
    }
  }
  const all: number[] = [];
  const walk = (pid: number) => (children.get(pid) ?? []).forEach((c) => (all.push(c), walk(c)));
  walk(root);
  return all;
}

/** argv of a process, or [] when it is gone. */
export function argvOf(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

/** Whether a process runs (a zombie waiting for its reaper counts as gone). */
export function alive(pid: number): boolean {
  try {
    return statFields(pid)[0] !== "Z";
  } catch {
    return false;
  }
}

/**
 * A process named for good: "<pid> <start time in clock ticks>" (field 22 of /proc/<pid>/stat), where a
 * pid alone may be reused by another process once it is gone. Undefined when the process is gone.
 */
export function processIdentity(pid: number): string | undefined {
  try {
    return `${pid} ${statFields(pid)[19]}`;
  } catch {
    return undefined;
  }
}

/** Whether the process `processIdentity` named still runs. */
export function identityAlive(identity: string): boolean {
  const pid = Number(identity.split(" ")[0]);
  return Number.isInteger(pid) && pid > 0 && alive(pid) && processIdentity(pid) === identity;
}

/** Waits up to `ms` for a process to be gone; says whether it is. */
export async function gone(pid: number, ms = 10_000): Promise<boolean> {
  for (const until = Date.now() + ms; alive(pid) && Date.now() < until;) await new Promise((r) => setTimeout(r, 100));
  return !alive(pid);
}
