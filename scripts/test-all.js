#!/usr/bin/env node
// `npm test`: every test there is. The Go tests of engine/, the jest suites (unit and real-guest), then
// the whole-lab e2e run (`npm run e2e`: the real index.ts on the real Pulumi engine, which
// scripts/install-pulumi.sh builds first if needed). Each prints its own closing line; this prints the
// total last, as the one plain line CI reads: "N passed, M failed".
"use strict";
const { spawn } = require("child_process");
const path = require("path");

const root = path.resolve(__dirname, "..");
const CLOSING = /^(?:\w+: )?(\d+) passed, (\d+) failed/;

/** Runs one part with its output streamed through, and reads its closing line. */
function run(label, command, args) {
  console.log(`\n=== ${label}: ${[command, ...args].map((a) => (a.startsWith(root + path.sep) ? path.relative(root, a) : path.basename(a))).join(" ")}`);
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    let tail = "";
    child.stdout.on("data", (chunk) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString("utf8")).slice(-4096);
    });
    // "close" waits for every holder of the child's stdout; a stray grandchild (a guest's ssh a failed
    // test left behind) could hold it forever. The child's exit, plus a moment for the last bytes, is enough.
    let finished = false;
    const finish = (status) => {
      if (finished) return;
      finished = true;
      child.stdout.destroy();
      const closing = tail.trim().split("\n").reverse().map((l) => CLOSING.exec(l.trim())).find(Boolean);
      if (!closing) {
        console.error(`${label}: no closing "N passed, M failed" line (exit ${status})`);
        resolve({ passed: 0, failed: 1 });
        return;
      }
      const counts = { passed: Number(closing[1]), failed: Number(closing[2]) };
      if (status !== 0 && counts.failed === 0) counts.failed = 1;
      resolve(counts);
    };
    child.on("close", finish);
    child.on("exit", (status) => setTimeout(() => finish(status), 10_000).unref());
  });
}

/** The CI case's evidence, where stacks/Pulumi.case-ci.yaml expects it (idempotent, seconds). */
function prepareCiEvidence() {
  return new Promise((resolve) => {
    const child = spawn("bash", [path.join(root, "scripts/make-evidence.sh"), "/var/lib/forensic-lab/ci-evidence"], { cwd: root, stdio: "inherit" });
    child.on("close", (status) => resolve(status === 0 ? { passed: 0, failed: 0 } : (console.error("make-evidence failed"), { passed: 0, failed: 1 })));
  });
}

(async () => {
  const parts = [
    await run("go", process.execPath, [path.join(root, "scripts/run-go-tests.js")]),
    await run("jest", process.execPath, [path.join(root, "scripts/run-jest.js"), "--selectProjects", "unit", "guest", ...process.argv.slice(2)]),
    await prepareCiEvidence(),
    await run("e2e", process.execPath, [require.resolve("tsx/cli"), path.join(root, "test/e2e/run.ts")]),
  ];
  const passed = parts.reduce((n, p) => n + p.passed, 0);
  const failed = parts.reduce((n, p) => n + p.failed, 0);
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
})();
