/**
 * `hook_result` (lib/hooks/result.sh): how a host hook reads the result of a guest hook it ran. The same
 * rule as parseHookResult, and stricter on one point: bash sees the raw stream, so the result line
 * must end with a newline (a session cut off mid-line leaves none).
 */
import { spawnSync } from "child_process";
import { renderHook } from "../shell";

const reader = renderHook("lib/hooks/result.sh", {});
/** Feeds `stdout` (as a guest would print it) to hook_result with a schema; returns its status and output. */
function read(stdout: string, ...schema: string[]) {
  const text = `${reader}\nset -euo pipefail\nhook_result guest-hash.sh "$@"\n`;
  return spawnSync("/bin/bash", ["-c", text, "result-test", ...schema], { input: stdout, encoding: "utf8" });
}
const line = (r: unknown) => `FORENSIC_LAB_RESULT ${JSON.stringify(r)}`;
const good = { files: [{ path: "/case/images/x", sha256: "a".repeat(64) }] };
const schema = ['(keys == ["files"]) and ([.files[].sha256 | test("^[0-9a-f]{64}$")] | all)'];

test("one result line, last, newline-terminated, fitting the schema: printed as compact JSON", () => {
  const r = read(`progress\n${line(good)}\n`, ...schema);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual(good);
});

test.each<[string, string, RegExp]>([
  ["no newline at the end", line(good), /does not end with a newline/],
  ["two result lines", `${line(good)}\n${line(good)}\n`, /marker 2 times; exactly one result line/],
  [
    "a result line smuggled inside a value",
    `${line({ files: [{ path: `/x\n${line(good)}`, sha256: "a".repeat(64) }] })}\n`,
    /marker 2 times/,
  ],
  ["lines after the result line", `${line(good)}\nmore\n`, /not the last line/],
  ["a partial line", `${line(good).slice(0, 30)}\n`, /not JSON/],
  ["not an object", "FORENSIC_LAB_RESULT [1]\n", /not a JSON object/],
  ["an unknown key", `${line({ ...good, extra: 1 })}\n`, /does not fit the hook's schema/],
  ["a hash that is not hex", `${line({ files: [{ path: "/x", sha256: "z".repeat(64) }] })}\n`, /does not fit the hook's schema/],
  ["nothing at all", "", /does not end with a newline/],
])("rejected, naming the hook: %s", (_what, stdout, why) => {
  const r = read(stdout, ...schema);
  expect(r.status).not.toBe(0);
  expect(r.stdout).toBe("");
  expect(r.stderr).toMatch(/^forensic-lab: guest-hash\.sh: result rejected: /);
  expect(r.stderr).toMatch(why);
});

test("--allow-empty: a delete hook's wrapper that found the guest gone printed nothing", () => {
  const r = read("", "--allow-empty");
  expect([r.status, r.stdout, r.stderr]).toEqual([0, "", ""]);
});
