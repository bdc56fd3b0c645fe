#!/usr/bin/env node
// Runs jest with the given arguments, then prints the one plain closing line CI reads
// ("N passed, M failed"), counted from jest's JSON results, and exits non-zero on any failure.
// Guest tests boot real VMs: files run one at a time (--runInBand) so two guests never fight for cores.
"use strict";
const { spawnSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

// `--selectProjects` swallows every word after it in jest's parser, so test paths given after it would be
// taken for project names: keep only real project names there and pass the rest as test path patterns.
const PROJECTS = new Set(["unit", "guest"]);
const userArgs = process.argv.slice(2);
const projects = [];
const rest = [];
for (let i = 0; i < userArgs.length; i++) {
  if (userArgs[i] === "--selectProjects") {
    while (i + 1 < userArgs.length && PROJECTS.has(userArgs[i + 1])) projects.push(userArgs[++i]);
  } else {
    rest.push(userArgs[i]);
  }
}

const resultsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-jest-")), "results.json");
const guest = projects.length === 0 || projects.includes("guest");
const args = [
  require.resolve("jest/bin/jest"),
  "--json",
  `--outputFile=${resultsFile}`,
  ...(guest ? ["--runInBand"] : []),
  // A test that leaves a timer or a socket open would keep jest alive after the last test, and CI would
  // wait for it until its time limit: exit once results are written (jest says that it forced the exit;
  // `--detectOpenHandles` finds the culprit).
  "--forceExit",
  ...rest,
  ...(projects.length ? ["--selectProjects", ...projects] : []),
];
/** One "failed: <file> › <test>" line per failed test, and one per file that did not load. */
function failureLines(results) {
  const root = path.resolve(__dirname, "..");
  const lines = [];
  for (const file of results.testResults) {
    const name = path.relative(root, file.name);
    const failedTests = file.assertionResults.filter((a) => a.status === "failed");
    for (const test of failedTests) lines.push(`failed: ${name} › ${test.fullName}`);
    if (failedTests.length === 0 && file.status === "failed") {
      const why = (file.message || "did not run").split("\n").find((l) => l.trim() && !l.includes("●"));
      lines.push(`failed: ${name}: ${(why ?? "did not run").trim()}`);
    }
  }
  return lines;
}

const run = spawnSync(process.execPath, args, { stdio: "inherit", cwd: path.resolve(__dirname, "..") });

let passed = 0;
let failed = 0;
try {
  const results = JSON.parse(fs.readFileSync(resultsFile, "utf8"));
  passed = results.numPassedTests;
  // A suite that fails to load has no failed *tests*; count it so a broken file can never pass.
  failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
  // Named again here, just above the closing line: CI keeps only the end of a long run's output.
  for (const line of failureLines(results)) console.log(line);
} catch (err) {
  console.error(`run-jest: no jest results (${err.message})`);
  failed += 1;
} finally {
  fs.rmSync(path.dirname(resultsFile), { recursive: true, force: true });
}
if (passed + failed === 0) {
  console.error("run-jest: no test ran");
  failed = 1;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 ? 0 : 1);
