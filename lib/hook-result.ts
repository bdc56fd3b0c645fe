import { z } from "zod";
import { absolutePath } from "./absolute-path";

/** The marker a hook prints before its one-line JSON result, as the last line of its stdout. */
export const RESULT_MARKER = "FORENSIC_LAB_RESULT ";

/**
 * The result-line rule, for every hook (and, in bash, `lib/hooks/result.sh` for a guest hook run from a
 * host hook):
 * - the marker `FORENSIC_LAB_RESULT` occurs exactly once in the whole stdout, anywhere: a second result
 *   line, or one smuggled inside another value or a progress line, fails;
 * - it starts the last line (after one trailing newline, which Pulumi's command provider strips from
 *   `stdout`; bash, which sees the raw stream, also requires that newline, so a cut-off line fails there);
 * - the rest of that line is one JSON object that the hook's schema accepts: strict objects (no unknown
 *   keys), types, ranges, absolute paths, device names, sha256 hex.
 * Lines before it (progress) are allowed. Anything else fails the step, naming the hook.
 */
export function parseHookResult<S extends z.ZodType>(stdout: string, schema: S, hook: string): z.infer<S>;
/**
 * Tests and the bench only, for their ad-hoc scripts: the same line rule, any JSON object. Product code
 * always names the hook and its schema (lib/shell.test.ts checks that).
 */
export function parseHookResult<T = Record<string, unknown>>(stdout: string): T;
export function parseHookResult(stdout: string, schema: z.ZodType = z.record(z.string(), z.unknown()), hook = "hook"): unknown {
  const fail = (why: string): never => {
    throw new Error(`${hook}: result rejected: ${why}`);
  };
  const marker = RESULT_MARKER.trim();
  const count = stdout.split(marker).length - 1;
  if (count === 0) fail(`it printed no '${marker}' line`);
  if (count > 1) fail(`its stdout holds '${marker}' ${count} times; exactly one result line is allowed`);
  const body = stdout.endsWith("\n") ? stdout.slice(0, -1) : stdout;
  const last = body.slice(body.lastIndexOf("\n") + 1);
  if (!last.startsWith(RESULT_MARKER)) fail(`the '${marker}' line is not the last line of its stdout`);
  let value: unknown;
  try {
    value = JSON.parse(last.slice(RESULT_MARKER.length));
  } catch (err) {
    fail(`the result line is not JSON (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    fail(parsed.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(result)"}: ${i.message}`).join("; "));
  }
  return parsed.data;
}

/** Building blocks for the hooks' result schemas. */
export const result = {
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be a sha256 in lowercase hex"),
  md5: z.string().regex(/^[0-9a-f]{32}$/, "must be an md5 in lowercase hex"),
  sha1: z.string().regex(/^[0-9a-f]{40}$/, "must be a sha1 in lowercase hex"),
  absolutePath: absolutePath(),
  /** A whole nbd device, `/dev/nbd3`. */
  nbdDevice: z.string().regex(/^\/dev\/nbd\d+$/, "must be an nbd device like /dev/nbd0"),
  /** A partition of one, `/dev/nbd3p2`. */
  nbdPartition: z.string().regex(/^\/dev\/nbd\d+p\d+$/, "must be an nbd partition like /dev/nbd0p1"),
  /**
   * A device-mapper device VolumeSystems made on an nbd device, `/dev/mapper/fl-nbd3-lvm-vg-root`, or on a
   * RaidArray's mapping, `/dev/mapper/fl-array_nas_lvm-vg1000-lv` (lib/hooks/evidence-device.sh).
   */
  volumeMapping: z
    .string()
    .regex(
      /^\/dev\/mapper\/fl-(nbd\d+-|array_[a-z0-9][a-z0-9-]{0,31}_)(md|luks|bitlocker|lvm)-[A-Za-z0-9+_.-]+$/,
      "must be a mapping like /dev/mapper/fl-nbd0-lvm-vg-root or /dev/mapper/fl-array_nas_lvm-vg1000-lv",
    ),
  /** A RaidArray's mapping, `/dev/mapper/fl-array-nas`; never one of its members' (`fl-array-<name>-r<role>`). */
  arrayMapping: z
    .string()
    .regex(/^\/dev\/mapper\/fl-array-[a-z0-9][a-z0-9-]*$/, "must be a mapping like /dev/mapper/fl-array-nas")
    .refine((d) => !/-r[0-9]+$/.test(d), "must be the array's mapping, not a member's (fl-array-<name>-r<role>)"),
  count: z.number().int().nonnegative(),
  /** Mount options as findmnt shows them: read-only first. */
  mountOptions: z
    .array(z.string().regex(/^[a-z][a-z0-9_.-]*(=[^,\s]*)?$/, "must be a mount option"))
    .refine((o) => o[0] === "ro", "must start with 'ro'"),
} as const;
