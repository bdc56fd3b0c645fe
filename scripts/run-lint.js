#!/usr/bin/env node
// `npm run lint`: ESLint (eslint.config.mjs) and Prettier's check (.prettierrc.json) over the whole
// repository, each one check; ends with "lint: N passed, M failed" for scripts/test-all.js.
// `npm run format` rewrites what Prettier would change.
"use strict";
const { spawnSync } = require("child_process");
const path = require("path");

const root = path.resolve(__dirname, "..");
const checks = [
  ["eslint", [path.join(root, "node_modules/eslint/bin/eslint.js"), "."]],
  ["prettier --check", [path.join(root, "node_modules/prettier/bin/prettier.cjs"), "--check", "--log-level=warn", "."]],
];
let passed = 0;
let failed = 0;
for (const [name, args] of checks) {
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: "inherit" });
  if (r.status === 0) {
    passed++;
    console.log(`✓ ${name}`);
  } else {
    failed++;
    console.log(`✗ ${name} (exit ${r.status ?? r.signal})${name.startsWith("prettier") ? ": npm run format fixes it" : ""}`);
  }
}
console.log(`lint: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
