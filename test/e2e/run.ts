/**
 * `npm run e2e -- [--stack <file>] [--destroy]`
 *
 * Builds the lab of one stack with the real Pulumi engine (pulumi.ts: the CLI of
 * scripts/install-pulumi.sh through the Automation API), checks it, proves the hooks converge and are
 * idempotent, survives faults, destroys it and checks nothing is left; prints every step and ends with
 * `e2e: N passed, M failed` (exit 1 on any failure).
 *
 * The run's state lives in a file backend under FORENSIC_LAB_E2E_DIR (default
 * /var/lib/forensic-lab/e2e-engine), kept between runs only so that `--destroy` can undo a crashed
 * run: each run first undoes what a run stopped part-way left (its stale lock, the creates it had under
 * way, its lab), and `npm run e2e -- --destroy` does only that.
 */
import * as path from "path";
import { loadStackFile } from "../../lib/config/stack-file";
import { REPO_ROOT } from "../../lib/shell";
import { TEST_PASSPHRASE } from "../support/stack-config";
import { Lab } from "./lab";
import { LIBVIRT_ANSWERS, labSteps, startLibvirt } from "./lab-steps";
import { engineSetup, installEngine } from "./pulumi";
import { Step, StepsSummary, runSteps } from "./steps";

interface Args {
  stack: string;
  destroyOnly: boolean;
}

const USAGE = "usage: npm run e2e -- [--stack stacks/Pulumi.<case>.yaml] [--destroy]";

function parseArgs(argv: string[]): Args {
  const args: Args = { stack: path.join(REPO_ROOT, "stacks/Pulumi.case-ci.yaml"), destroyOnly: false };
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case "--stack": {
        const v = argv[++i];
        if (v === undefined || v.startsWith("--")) throw new Error(`--stack needs a value\n${USAGE}`);
        args.stack = path.resolve(v);
        break;
      }
      case "--destroy":
        args.destroyOnly = true;
        break;
      default:
        throw new Error(`unknown argument '${argv[i]}'\n${USAGE}`);
    }
  }
  return args;
}

async function main(): Promise<number> {
  const print = (line: string) => console.log(line);
  let summary: StepsSummary;
  try {
    const args = parseArgs(process.argv.slice(2));
    print(`e2e: stack ${path.relative(process.cwd(), args.stack) || args.stack}, real Pulumi engine`);
    // A stack file that does not load is said before minutes go into building the engine.
    loadStackFile(args.stack, { checkFiles: false });
    const binDir = installEngine();
    const lab = new Lab({
      stackFile: args.stack,
      engine: engineSetup(process.env.FORENSIC_LAB_E2E_DIR ?? "/var/lib/forensic-lab/e2e-engine", binDir),
      volumePassphrase: TEST_PASSPHRASE,
      print,
    });
    print(`e2e: engine ${binDir}, stack ${lab.stackName}, backend ${lab.opts.engine.backendDir}`);
    const steps: Step<Lab>[] = args.destroyOnly
      ? [
          { name: LIBVIRT_ANSWERS, run: (l) => startLibvirt(l) },
          { name: "destroy what the stack holds, then remove it", run: (l) => l.clearEarlierRun() },
        ]
      : labSteps(lab);
    summary = await runSteps(steps, lab, print);
  } catch (err) {
    // Bad arguments, a stack file that does not load, an engine that does not build: one failed step.
    print(`✗ setup: ${err instanceof Error ? err.message : String(err)}`);
    summary = { results: [], passed: 0, failed: 1 };
  }
  print(`e2e: ${summary.passed} passed, ${summary.failed} failed`);
  return summary.failed === 0 ? 0 : 1;
}

main().then((code) => process.exit(code));
