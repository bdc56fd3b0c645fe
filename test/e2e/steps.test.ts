import { spawnSync } from "child_process";
import * as path from "path";
import { Step, runSteps } from "./steps";

interface Ctx {
  ran: string[];
}

const ok = (name: string, extra: Partial<Step<Ctx>> = {}): Step<Ctx> => ({
  name,
  run: async (c) => void c.ran.push(name),
  ...extra,
});
const bad = (name: string, message: string, extra: Partial<Step<Ctx>> = {}): Step<Ctx> => ({
  name,
  run: async (c) => {
    c.ran.push(name);
    throw new Error(message);
  },
  ...extra,
});

test("steps run in order; a step whose needs failed is not run and counts as failed; always-steps run anyway", async () => {
  const ctx: Ctx = { ran: [] };
  const lines: string[] = [];
  const summary = await runSteps(
    [
      ok("prepare"),
      bad("up", "create failed: exit status 3\nline one\nline two"),
      ok("check", { needs: ["up"] }),
      ok("other", { needs: ["prepare"] }),
      ok("cleanup", { needs: ["up"], always: true }),
    ],
    ctx,
    (l) => lines.push(l),
  );
  expect(ctx.ran).toEqual(["prepare", "up", "other", "cleanup"]);
  expect(summary.results.map((r) => r.status)).toEqual(["passed", "failed", "not run", "passed", "passed"]);
  expect(summary).toMatchObject({ passed: 3, failed: 2 });
  expect(lines).toContain("- check: not run (needs: up)");
  const failure = lines.findIndex((l) => l.startsWith("✗ up: create failed: exit status 3 ("));
  expect(lines.slice(failure + 1, failure + 3)).toEqual(["    line one", "    line two"]);
});

test("a step's note is printed with its result", async () => {
  const lines: string[] = [];
  await runSteps([{ name: "count", run: async () => "12 hooks" }], {}, (l) => lines.push(l));
  expect(lines[1]).toMatch(/^✓ count: 12 hooks \(\d+\.\d s\)$/);
});

describe("npm run e2e (test/e2e/run.ts)", () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", path.join(__dirname, "run.ts"), ...args], {
      cwd: path.resolve(__dirname, "../.."),
      encoding: "utf8",
      timeout: 60_000,
    });

  test("a missing stack file is one failed step with a clear line, and exit 1", () => {
    const r = run("--stack", "/nonexistent/Pulumi.case-x.yaml");
    expect(r.stdout).toContain("✗ setup: /nonexistent/Pulumi.case-x.yaml");
    expect(r.stdout).toContain("no such file");
    expect(r.stdout.trim().split("\n").pop()).toBe("e2e: 0 passed, 1 failed");
    expect(r.status).toBe(1);
  }, 60_000);

  test("an unknown argument prints the usage", () => {
    const r = run("--stak", "x");
    expect(r.stdout).toContain("unknown argument '--stak'");
    expect(r.stdout).toContain("usage: npm run e2e --");
    expect(r.status).toBe(1);
  }, 60_000);
});
