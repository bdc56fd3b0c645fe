#!/usr/bin/env node
// `forensic-lab` CLI entry (`npx forensic-lab ...`). Runs the TypeScript sources through tsx, so a
// checkout needs no build step and tests always exercise the code as it is.
"use strict";
require("tsx/cjs");
require("../cli/main.ts");
