#!/usr/bin/env node
// The Go tests of engine/ (our language host and command provider), counted per test like jest's:
// `go test -json` events, one "pass" or "fail" per test (subtests included). Ends with the line
// "go: N passed, M failed" that scripts/test-all.js reads; exits non-zero on any failure.
"use strict";
const { spawn } = require("child_process");
const path = require("path");

const engine = path.resolve(__dirname, "..", "engine");
const child = spawn("go", ["test", "-json", "-count=1", "./..."], {
  cwd: engine,
  env: { ...process.env, GOFLAGS: "-mod=readonly", GOTOOLCHAIN: "local" },
  stdio: ["ignore", "pipe", "inherit"],
});
let passed = 0;
let failed = 0;
let buffer = "";
child.stdout.on("data", (chunk) => {
  buffer += chunk.toString("utf8");
  const lines = buffer.split("\n");
  buffer = lines.pop();
  for (const line of lines) {
    let event;
    try {
      event = JSON.parse(line);
    } catch {
      process.stdout.write(`${line}\n`); // build errors come as plain text
      continue;
    }
    if (event.Action === "output" && (event.Test === undefined || /^(--- FAIL|panic)/.test(event.Output.trim())))
      process.stdout.write(event.Output);
    if (!event.Test) continue;
    if (event.Action === "pass") passed++;
    if (event.Action === "fail") {
      failed++;
      console.log(`FAIL ${event.Package} ${event.Test}`);
    }
  }
});
child.on("close", (status) => {
  if (status !== 0 && failed === 0) failed = 1; // the build broke: nothing ran, which is a failure
  console.log(`go: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
});
