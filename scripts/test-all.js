#!/usr/bin/env node
// `npm test`: every test there is. ESLint and Prettier's check, the jest suites (unit, then real-guest),
// the Go tests of engine/ (in the background once the engine is built), then the whole-lab e2e run
// (`npm run e2e`: the real index.ts on the real Pulumi engine, which scripts/install-pulumi.sh builds in the
// background from the start). Each prints its own closing line; this prints the total last, as the one
// plain line CI reads: "N passed, M failed".
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const root = path.resolve(__dirname, "..");
const CLOSING = /^(?:\w+: )?(\d+) passed, (\d+) failed/;
// How each part names a failed test: run-jest.js "failed: <file> › <test>", run-go-tests.js
// "FAIL <package> <test>", the e2e "✗ <step>: <why>". Repeated at the very end, because CI keeps only the
// tail of this run's output, and a count alone does not say where to look.
const FAILURE = /^(?:failed: |FAIL |✗ )/;
const FAILURES_KEPT = 20;

/** The lines of a part's output that name a failed test, at most FAILURES_KEPT of them. */
function failuresIn(output) {
  return output
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => FAILURE.test(l))
    .slice(0, FAILURES_KEPT);
}

/**
 * A part's counts from its last "N passed, M failed" line, or null when it printed none. A part that
 * exits non-zero while claiming no failure counts one.
 */
function countsFrom(output, status) {
  const closing = output
    .trim()
    .split("\n")
    .reverse()
    .map((l) => CLOSING.exec(l.trim()))
    .find(Boolean);
  if (!closing) return null;
  const counts = { passed: Number(closing[1]), failed: Number(closing[2]) };
  if (status !== 0 && counts.failed === 0) counts.failed = 1;
  return counts;
}

/** Runs one part with its output streamed through, and reads its closing line. */
function run(label, command, args) {
  console.log(
    `\n=== ${label}: ${[command, ...args].map((a) => (a.startsWith(root + path.sep) ? path.relative(root, a) : path.basename(a))).join(" ")}`,
  );
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    let tail = "";
    let partial = "";
    const failures = [];
    child.stdout.on("data", (chunk) => {
      process.stdout.write(chunk);
      const text = chunk.toString("utf8");
      tail = (tail + text).slice(-4096);
      const lines = (partial + text).split("\n");
      partial = lines.pop();
      for (const line of failuresIn(lines.join("\n"))) if (failures.length < FAILURES_KEPT) failures.push(line);
    });
    // "close" waits for every holder of the child's stdout; a stray grandchild (a guest's ssh a failed
    // test left behind) could hold it forever. The child's exit, plus a moment for the last bytes, is enough.
    let finished = false;
    const finish = (status) => {
      if (finished) return;
      finished = true;
      child.stdout.destroy();
      const counts = countsFrom(tail, status);
      if (!counts) {
        const why = `${label}: no closing "N passed, M failed" line (exit ${status})`;
        console.error(why);
        resolve({ label, passed: 0, failed: 1, failures: [...failures, why] });
        return;
      }
      resolve({ label, ...counts, failures });
    };
    child.on("close", finish);
    child.on("exit", (status) => setTimeout(() => finish(status), 10_000).unref());
  });
}

/**
 * Runs one part in the background with its output kept, to be printed (and its closing line read) when
 * it is awaited: two parts streaming at once would interleave their lines.
 */
function runCaptured(label, command, args, niceness) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn("nice", ["-n", String(niceness), command, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c) => (output += c.toString("utf8")));
    child.stderr.on("data", (c) => (output += c.toString("utf8")));
    child.on("close", (status) => {
      const seconds = Math.round((Date.now() - started) / 1000);
      const counts = countsFrom(output, status) ?? { passed: 0, failed: 1 };
      resolve({
        print: () => console.log(`\n=== ${label} (ran in the background, ${seconds} s)\n${output.trimEnd()}`),
        counts: { label, ...counts, failures: failuresIn(output) },
      });
    });
  });
}

/** The CI case's evidence, where stacks/Pulumi.case-ci.yaml expects it (idempotent, seconds). */
async function prepareCiEvidence() {
  const make = (script, outDir) =>
    new Promise((resolve) => {
      const child = spawn("bash", [path.join(root, "scripts", script), outDir], { cwd: root, stdio: "inherit" });
      child.on("close", (status) => resolve(status === 0 || (console.error(`${script} failed`), false)));
    });
  const made = [
    await make("make-evidence.sh", "/var/lib/forensic-lab/ci-evidence"),
    await make("make-volume-evidence.sh", "/var/lib/forensic-lab/ci-volume-evidence/laptop"),
    await make("make-nas-evidence.sh", "/var/lib/forensic-lab/ci-volume-evidence/nas"),
  ];
  const failed = made.filter((ok) => !ok).length;
  return { label: "ci evidence", passed: 0, failed, failures: failed ? ["✗ ci evidence: a script above failed"] : [] };
}

/**
 * Builds the engine (scripts/install-pulumi.sh; cold, about 13 minutes of two cores) beside the jest
 * parts, at idle priority: they leave cores idle while they wait on guests and ssh, and the build takes
 * only those. Only the e2e (and the Go tests) need it; they wait, and if this build failed the e2e builds
 * again itself and says why.
 */
function startEngineBuild() {
  const log = path.join(os.tmpdir(), `forensic-lab-engine-build-${process.pid}.log`);
  const out = fs.openSync(log, "w");
  const started = Date.now();
  // SCHED_IDLE, not only nice 19: the build starts a compiler per package, and CFS weighs each task on
  // its own, so many nice-19 compilers together still took a real share from the emulated guests.
  const child = spawn("chrt", ["--idle", "0", "nice", "-n", "19", "bash", path.join(root, "scripts/install-pulumi.sh")], {
    cwd: root,
    stdio: ["ignore", out, out],
  });
  fs.closeSync(out);
  console.log(`engine: building or finding it in the background (idle priority); log: ${log}`);
  return new Promise((resolve) => {
    child.on("close", (status) => {
      const seconds = Math.round((Date.now() - started) / 1000);
      const last = fs
        .readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .filter((l) => l.startsWith("install-pulumi:"))
        .slice(-3);
      // A log worth reading (a failed build) stays, and is named; a good one goes with the run.
      if (status === 0) fs.rmSync(log, { force: true });
      const logNote = status === 0 ? "" : ` (log: ${log})`;
      console.log(`\n=== engine: install-pulumi.sh exited ${status} after ${seconds} s${logNote}\n${last.join("\n")}`);
      resolve(status);
    });
  });
}

/**
 * Builds the guest image (guest-image/build.sh; cold, about 7 minutes, mostly waiting on apt and the disk)
 * beside the lint, go and unit parts, at normal priority: the first guest test waits for it. build.sh locks
 * its folder, so the harness's own call waits for this one and then finds the image current.
 */
function startGuestImageBuild() {
  const imageRoot = process.env.FORENSIC_LAB_GUEST_IMAGE_ROOT ?? "/var/lib/forensic-lab/guest-image";
  const log = path.join(os.tmpdir(), `forensic-lab-guest-image-build-${process.pid}.log`);
  const out = fs.openSync(log, "w");
  const started = Date.now();
  const child = spawn("bash", [path.join(root, "guest-image/build.sh"), imageRoot], { cwd: root, stdio: ["ignore", out, out] });
  fs.closeSync(out);
  console.log(`guest image: building or finding it in the background; log: ${log}`);
  return new Promise((resolve) => {
    child.on("close", (status) => {
      const seconds = Math.round((Date.now() - started) / 1000);
      // A failed build is not counted here: the guest tests build again themselves and fail with its message.
      if (status === 0) fs.rmSync(log, { force: true });
      console.log(`\n=== guest image: guest-image/build.sh exited ${status} after ${seconds} s${status === 0 ? "" : ` (log: ${log})`}`);
      resolve(status);
    });
  });
}

(async () => {
  const engine = startEngineBuild();
  const guestImage = startGuestImageBuild();
  // Extra arguments (`npm test -- <pattern>`) go to one jest run over both projects, as they would to jest.
  const extra = process.argv.slice(2);
  const jest = (...projects) => [path.join(root, "scripts/run-jest.js"), "--selectProjects", ...projects, ...extra];
  // The Go tests compile much of what the engine build compiles (one GOCACHE): run after it, they find
  // it compiled, and run beside the other parts instead of in front of them.
  const goTests = engine.then(() => runCaptured("go", process.execPath, [path.join(root, "scripts/run-go-tests.js")], 10));
  const parts = [await run("lint", process.execPath, [path.join(root, "scripts/run-lint.js")])];
  if (extra.length > 0) {
    await guestImage;
    parts.push(await run("jest", process.execPath, jest("unit", "guest")));
  } else {
    // Unit files run on both cores while the image builds; guest files one at a time after it.
    parts.push(await run("jest unit", process.execPath, [...jest("unit"), "--maxWorkers=2"]));
    await guestImage;
    parts.push(await run("jest guest", process.execPath, jest("guest")));
  }
  parts.push(await prepareCiEvidence());
  await engine;
  const go = await goTests;
  go.print();
  parts.push(go.counts);
  parts.push(await run("e2e", process.execPath, [require.resolve("tsx/cli"), path.join(root, "test/e2e/run.ts")]));
  const passed = parts.reduce((n, p) => n + p.passed, 0);
  const failed = parts.reduce((n, p) => n + p.failed, 0);
  console.log("\n=== summary");
  for (const part of parts) {
    console.log(`${part.label}: ${part.passed} passed, ${part.failed} failed`);
    for (const line of part.failures) console.log(`  ${line}`);
  }
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
})();
