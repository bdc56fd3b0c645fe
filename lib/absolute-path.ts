import * as path from "path";
import { z } from "zod";
import { got } from "./show";

/**
 * The one rule for a path the lab is given (config, component args, hook results, on the host or in
 * the guest): absolute, written plainly (no '.', '..', '//' or trailing '/'), and one line without NUL,
 * since hooks, logs and the custody record carry it. Returns why `p` breaks it, or undefined.
 */
export function absolutePathProblem(p: string): string | undefined {
  if (p === "") return "must not be empty";
  if (p.includes("\0")) return "must not contain a NUL byte";
  if (/[\n\r]/.test(p)) return `must be one line, without line breaks ${got(p)}`;
  if (!p.startsWith("/")) return `must be absolute ${got(p)}`;
  if (p.split("/").includes("..")) return `must not contain '..' ${got(p)}`;
  const plain = path.posix.normalize(p).replace(/(.)\/$/, "$1");
  if (plain !== p) return `must be written plainly as '${plain}' ${got(p)}`;
  return undefined;
}

/** A zod string holding such a path; `hint` (what the path is for) follows every message after "; ". */
export function absolutePath(hint?: string) {
  const withHint = (message: string) => (hint === undefined ? message : `${message}; ${hint}`);
  return z.string({ error: withHint("must be an absolute path") }).superRefine((p, ctx) => {
    const problem = absolutePathProblem(p);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: withHint(problem) });
  });
}
