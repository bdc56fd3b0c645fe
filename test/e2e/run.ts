/**
 * `npm run e2e -- [--stack <file>] [--program <file>] [--state-file <file>] [--destroy]`
 *
 * Builds the lab of one stack with the engine-less executor (engine.ts), checks it, proves the hooks
 * converge and are idempotent, destroys it and checks nothing is left; prints every step and ends with
 * `e2e: N passed, M failed` (exit 1 on any failure). `--destroy` only destroys what the state file
 * holds (after a crash). The checkpoint's secrets are sealed with PULUMI_CONFIG_PASSPHRASE, or the
 * test passphrase.
 */
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../../lib/shell";
import { TEST_PASSPHRASE } from "../support/stack-config";
import { Lab, labSteps } from "./lab";
import { Step, StepsSummary, runSteps } from "./steps";

interface Args {
  stack: string;
  program: string;
  stateFile?: string;
  destroyOnly: boolean;
}

const USAGE = "usage: npm run e2e -- [--stack stacks/Pulumi.<case>.yaml] [--program index.ts] [--state-file <file>] [--destroy]";

function parseArgs(argv: string[]): Args {
  const args: Args = { stack: path.join(REPO_ROOT, "stacks/Pulumi.case-ci.yaml"), program: path.join(REPO_ROOT, "index.ts"), destroyOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new Error(`${argv[i - 1]} needs a value\n${USAGE}`);
      return path.resolve(v);
    };
    switch (argv[i]) {
      case "--stack":
        args.stack = value();
        break;
      case "--program":
        args.program = value();
        break;
      case "--state-file":
        args.stateFile = value();
        break;
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
    print(`e2e: stack ${path.relative(process.cwd(), args.stack) || args.stack}, program ${path.relative(process.cwd(), args.program)}`);
    const stack = path.basename(args.stack).replace(/^Pulumi\.|\.ya?ml$/g, "");
    const lab = new Lab({
      stackFile: args.stack,
      program: args.program,
      stateFile: args.stateFile ?? path.join(os.tmpdir(), `forensic-lab-e2e-${stack}.state.json`),
      secretsPassphrase: process.env.PULUMI_CONFIG_PASSPHRASE ?? TEST_PASSPHRASE,
      print,
    });
    print(`e2e: checkpoint ${lab.opts.stateFile}`);
    const steps: Step<Lab>[] = args.destroyOnly
      ? [{ name: "destroy what the checkpoint holds", run: async (l) => `${(await l.destroy()).filter((s) => s.hook).length} delete hooks` }]
      : labSteps(lab);
    summary = await runSteps(steps, lab, print);
  } catch (err) {
    // Bad arguments or a stack file that does not load: one failed step, said in one line.
    print(`✗ setup: ${err instanceof Error ? err.message : String(err)}`);
    summary = { results: [], passed: 0, failed: 1 };
  }
  print(`e2e: ${summary.passed} passed, ${summary.failed} failed`);
  return summary.failed === 0 ? 0 : 1;
}

main().then((code) => process.exit(code));
