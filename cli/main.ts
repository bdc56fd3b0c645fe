/**
 * `forensic-lab <command>`: subcommands for examiners and their CI. Each command lives in its own module
 * and returns an exit code; this file only dispatches and turns unexpected errors into one line.
 */
const USAGE = `usage:
  forensic-lab inspect <top image> [--json] [--hash] [--format <fmt>]
      List every file an image needs (descriptors, extents, snapshot parents), reading only
      descriptors and fixed-size headers, never disk contents.
  forensic-lab check-config <stack file> [--skip-file-checks]
      Validate a case's stack config (stacks/Pulumi.<case>.yaml) before 'pulumi up'.`;

type Command = (args: string[]) => Promise<number>;

// `require`, not `import()`: bin/forensic-lab.js registers tsx for require only, and a dynamic import
// of an extensionless .ts path goes to Node's ESM loader, which cannot find it.
/* eslint-disable @typescript-eslint/no-require-imports -- see above */
const commands: Record<string, () => Promise<Command>> = {
  inspect: async () => (require("./inspect") as typeof import("./inspect")).main,
  "check-config": async () => (require("./check-config") as typeof import("./check-config")).main,
};
/* eslint-enable @typescript-eslint/no-require-imports */

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(USAGE);
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    console.error(`forensic-lab: unknown command '${name}'\n${USAGE}`);
    return 2;
  }
  return (await load())(rest);
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Never a stack trace for users: one line saying what went wrong.
    console.error(`forensic-lab: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
