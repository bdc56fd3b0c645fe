/**
 * The pure part of `npm run bench`: which numbers it reports, how each is worked out from its timed
 * runs (medians, then a ratio), the shape of `bench/results.json`, and the printed table. Nothing here
 * times or runs anything, so bench.test.ts can check it all without a guest.
 */
import { z } from "zod";

/** Every number the bench reports: a ratio (lab / baseline) unless the key says seconds. */
export const BENCH_KEYS = {
  attach_to_read_vs_guestmount: "ratio",
  read_vs_host_raw: "ratio",
  read_vs_guestmount: "ratio",
  hash_overhead: "ratio",
  sshfs_vs_scp: "ratio",
  noop_rerun_vs_first_up: "ratio",
  destroy_vs_up: "ratio",
  inspect_deep_chain_s: "seconds",
  three_cases_vs_one: "ratio",
  boot_vs_appliance: "ratio",
} as const;

export type BenchKey = keyof typeof BENCH_KEYS;
export const BENCH_KEY_NAMES = Object.keys(BENCH_KEYS) as BenchKey[];

/** One timed thing: its runs in seconds. */
export interface Timing {
  /** What was timed, in a few words (`guestmount cold start + first read`). */
  readonly label: string;
  readonly samples: readonly number[];
}

/** What one key was worked out from. */
export interface Measurement {
  readonly key: BenchKey;
  /** The lab side of a ratio (its numerator), or the timed thing of a `_s` key. */
  readonly subject: Timing;
  /** The denominator of a ratio; absent for a `_s` key. */
  readonly baseline?: Timing;
  /** How the number was obtained, for a reader who wants to repeat it. */
  readonly how: string;
}

/** The median of the runs (the mean of the middle two for an even count). */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new Error("median: no samples");
  const bad = samples.find((s) => !Number.isFinite(s));
  if (bad !== undefined) throw new Error(`median: sample ${bad} is not a finite number`);
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A key's number: median(subject) / median(baseline) for a ratio, median(subject) for seconds. */
export function resultOf(m: Measurement): number {
  const kind = BENCH_KEYS[m.key];
  if (kind === undefined) throw new Error(`'${m.key}' is not a bench key`);
  if (kind === "seconds") {
    if (m.baseline !== undefined) throw new Error(`${m.key}: a seconds key has no baseline`);
    return median(m.subject.samples);
  }
  if (m.baseline === undefined) throw new Error(`${m.key}: a ratio needs a baseline`);
  const denominator = median(m.baseline.samples);
  if (!(denominator > 0)) throw new Error(`${m.key}: the baseline '${m.baseline.label}' took ${denominator} s; cannot divide by it`);
  return median(m.subject.samples) / denominator;
}

/** Four significant digits: more would be noise on a shared two-core machine. */
export function roundValue(value: number): number {
  return Number(value.toPrecision(4));
}

/** `bench/results.json`: exactly the bench keys, one positive number each. */
export const resultsSchema = z.strictObject(
  Object.fromEntries(BENCH_KEY_NAMES.map((key) => [key, z.number().finite().positive()])) as Record<BenchKey, z.ZodNumber>,
);

export type BenchResults = z.infer<typeof resultsSchema>;

/** The results file from a complete set of measurements (each key once); throws naming what is wrong. */
export function buildResults(measurements: readonly Measurement[]): BenchResults {
  const seen = new Set<string>();
  for (const m of measurements) {
    if (seen.has(m.key)) throw new Error(`${m.key} was measured twice`);
    seen.add(m.key);
  }
  const missing = BENCH_KEY_NAMES.filter((key) => !seen.has(key));
  if (missing.length > 0) throw new Error(`not measured: ${missing.join(", ")}`);
  const results = Object.fromEntries(BENCH_KEY_NAMES.map((key) => [key, roundValue(resultOf(measurements.find((m) => m.key === key)!))]));
  return parseResults(results);
}

/** Checks a parsed results file; the error names the key and what is wrong with it. */
export function parseResults(data: unknown): BenchResults {
  const parsed = resultsSchema.safeParse(data);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue.path.length > 0 ? issue.path.join(".") : "results";
  throw new Error(`results.json: ${where}: ${issue.message}`);
}

/** `1.23 s`, `45.6 s`, `0.045 s`: three significant digits. */
export function formatSeconds(seconds: number): string {
  return `${seconds >= 100 ? seconds.toFixed(0) : seconds.toPrecision(3)} s`;
}

/** A key's value as printed: `0.42×` for a ratio, `1.23 s` for seconds. */
export function formatValue(key: BenchKey, value: number): string {
  return BENCH_KEYS[key] === "seconds" ? formatSeconds(value) : `${value >= 100 ? value.toFixed(0) : value.toPrecision(3)}×`;
}

function formatTiming(t: Timing): string {
  return `${t.label}: ${formatSeconds(median(t.samples))} (median of ${t.samples.length})`;
}

/** Splits text into lines of at most `width` characters at spaces (a longer word stands alone). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line === "") line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}

/**
 * The table `npm run bench` prints: per key its value, what the lab side and the baseline took, and
 * below it, indented, how the number was obtained.
 */
export function formatTable(measurements: readonly Measurement[], width = 110): string {
  const keyWidth = Math.max(3, ...measurements.map((m) => m.key.length));
  const values = measurements.map((m) => formatValue(m.key, resultOf(m)));
  const valueWidth = Math.max(5, ...values.map((v) => v.length));
  const indent = " ".repeat(keyWidth + 2);
  const lines = [`${"key".padEnd(keyWidth)}  ${"value".padStart(valueWidth)}  measured`];
  lines.push("-".repeat(Math.min(width, keyWidth + valueWidth + 40)));
  measurements.forEach((m, i) => {
    lines.push(`${m.key.padEnd(keyWidth)}  ${values[i].padStart(valueWidth)}  ${formatTiming(m.subject)}`);
    if (m.baseline) lines.push(`${indent}${" ".repeat(valueWidth)}  vs ${formatTiming(m.baseline)}`);
    for (const line of wrap(`how: ${m.how}`, Math.max(40, width - indent.length))) lines.push(`${indent}${line}`);
  });
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------------
// Peers: the tools an examiner would pick instead, in a table of facts beside the lab (no ratio keys).

/** One row of the peers table. */
export interface PeerRow {
  /** The tool and how it was run, in a few words. */
  readonly peer: string;
  /** From nothing running (host caches dropped) to the first file's text. */
  readonly firstFile: Timing;
  /** A cold sequential read of `bytes`. */
  readonly read: Timing;
  readonly bytes: number;
  /** Where the untrusted image is parsed, as a fact: does a crafted image reach the host kernel? */
  readonly isolation: string;
  /** How it was obtained, for a reader who wants to repeat it. */
  readonly how: string;
}

/** Median throughput of a read in MB/s (10^6 bytes, as dd prints it). */
export function throughputMBps(bytes: number, read: Timing): number {
  const seconds = median(read.samples);
  if (!(seconds > 0)) throw new Error(`${read.label}: took ${seconds} s; no throughput`);
  return bytes / 1e6 / seconds;
}

/**
 * The peers table: per tool its time to the first file and read throughput (medians), the isolation
 * fact, and below it, indented, what was timed and how.
 */
export function formatPeersTable(rows: readonly PeerRow[], width = 110): string {
  const peerWidth = Math.max(4, ...rows.map((r) => r.peer.length));
  const indent = "  ";
  const lines = [`${"peer".padEnd(peerWidth)}  ${"first file".padStart(10)}  ${"read".padStart(10)}  parser isolated from the host`];
  lines.push("-".repeat(Math.min(width, peerWidth + 60)));
  for (const r of rows) {
    const first = formatSeconds(median(r.firstFile.samples));
    const read = `${throughputMBps(r.bytes, r.read).toPrecision(3)} MB/s`;
    lines.push(`${r.peer.padEnd(peerWidth)}  ${first.padStart(10)}  ${read.padStart(10)}  ${r.isolation.split(":")[0]}`);
    const detail = `isolation: ${r.isolation}. First file: ${formatTiming(r.firstFile)}. Read: ${formatTiming(r.read)}. How: ${r.how}`;
    for (const line of wrap(detail, width - indent.length)) lines.push(`${indent}${line}`);
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------------
// Where an `up` spends its time: the hooks the engine ran, longest first.

/** One engine step as the bench sees it (test/e2e/pulumi.ts StepLog, reduced). */
export interface HookStep {
  readonly name: string;
  readonly hook: boolean;
  readonly durationMs: number;
}

/**
 * The hooks of one `up`, longest first, each with its seconds and share of the wall time; steps that ran
 * no hook (component resources, same) are left out. The engine runs independent hooks at once, so the
 * shares can add up to more than 100 %.
 */
export function formatPhases(steps: readonly HookStep[], wallSeconds: number): string[] {
  return steps
    .filter((s) => s.hook)
    .sort((a, b) => b.durationMs - a.durationMs)
    .map((s) => {
      const seconds = s.durationMs / 1000;
      return `${formatSeconds(seconds).padStart(7)}  ${String(Math.round((seconds / wallSeconds) * 100)).padStart(3)} %  ${s.name}`;
    });
}

/**
 * The same up alone and beside others: per hook (named by `stepName`, which drops what differs between
 * the stacks), its seconds alone, then in each of the others' ups, the hooks whose slowest copy lost most
 * first. Shows what cases sharing a host wait on: the CPU-bound hooks stretch, the waiting ones do not.
 */
export function formatPhaseComparison(
  alone: readonly HookStep[],
  together: readonly (readonly HookStep[])[],
  stepName: (name: string) => string,
): string[] {
  const secondsOf = (steps: readonly HookStep[]) =>
    new Map(steps.filter((s) => s.hook).map((s) => [stepName(s.name), s.durationMs / 1000] as const));
  const one = secondsOf(alone);
  const many = together.map(secondsOf);
  return [...one.entries()]
    .map(([name, seconds]) => {
      const others = many.map((m) => m.get(name));
      const slowest = Math.max(...others.map((s) => s ?? 0));
      return { name, seconds, others, lost: slowest - seconds };
    })
    .sort((a, b) => b.lost - a.lost)
    .map(({ name, seconds, others, lost }) => {
      const each = others.map((s) => (s === undefined ? "-" : formatSeconds(s))).join(" / ");
      return `${formatSeconds(seconds).padStart(7)} -> ${each}  (+${formatSeconds(Math.max(0, lost))})  ${name}`;
    });
}
