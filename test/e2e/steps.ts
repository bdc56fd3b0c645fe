/**
 * A scenario is a list of named steps run in order, each passing or failing with a one-line reason.
 * A step that `needs` an earlier one which did not pass is not run and counts as failed: a check that
 * could not run never passes. `always` steps (cleanup) run whatever happened before.
 */
export interface Step<C> {
  readonly name: string;
  /** Names of earlier steps that must have passed. */
  readonly needs?: readonly string[];
  /** Run even after failures (cleanup). */
  readonly always?: boolean;
  /** Resolves with an optional note to print; throws (one clear line) to fail. */
  run(ctx: C): Promise<string | void>;
}

export interface StepResult {
  readonly name: string;
  readonly status: "passed" | "failed" | "not run";
  readonly note?: string;
  readonly durationMs: number;
}

export interface StepsSummary {
  readonly results: StepResult[];
  readonly passed: number;
  /** Failed plus not run. */
  readonly failed: number;
}

const MAX_DETAIL_LINES = 30;

export async function runSteps<C>(steps: readonly Step<C>[], ctx: C, print: (line: string) => void): Promise<StepsSummary> {
  const results: StepResult[] = [];
  const passed = new Set<string>();
  for (const step of steps) {
    const missing = (step.needs ?? []).filter((name) => !passed.has(name));
    if (missing.length > 0 && !step.always) {
      const note = `needs: ${missing.join(", ")}`;
      results.push({ name: step.name, status: "not run", note, durationMs: 0 });
      print(`- ${step.name}: not run (${note})`);
      continue;
    }
    print(`> ${step.name}`);
    const started = Date.now();
    try {
      const note = (await step.run(ctx)) ?? undefined;
      const durationMs = Date.now() - started;
      results.push({ name: step.name, status: "passed", note, durationMs });
      passed.add(step.name);
      print(`✓ ${step.name}${note ? `: ${note}` : ""} (${seconds(durationMs)})`);
    } catch (err) {
      const durationMs = Date.now() - started;
      const [note, ...more] = (err instanceof Error ? err.message : String(err)).split("\n");
      results.push({ name: step.name, status: "failed", note, durationMs });
      print(`✗ ${step.name}: ${note} (${seconds(durationMs)})`);
      // The rest of the message (a hook's output) indented under it, the last lines if it is long.
      for (const line of more.slice(-MAX_DETAIL_LINES)) print(`    ${line}`);
    }
  }
  const passedCount = results.filter((r) => r.status === "passed").length;
  return { results, passed: passedCount, failed: results.length - passedCount };
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
