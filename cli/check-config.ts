/**
 * `forensic-lab check-config <stack file>`: validates a case's stack config before `pulumi up`, with
 * the same rules and messages the program uses. Exit 0 valid (warnings may be printed), 1 invalid,
 * 2 usage. The passphrase is only checked for being a secret: a stack file is usually committed before
 * `pulumi config set --secret` runs, so a missing one is a warning here and an error in the program.
 */
// Only the parts that need no Pulumi SDK: the check stays quick.
import { ConfigError, formatIssue } from "../lib/config/parse";
import { loadStackFile } from "../lib/config/stack-file";

const USAGE = `usage: forensic-lab check-config <stack file> [--skip-file-checks]
  Validates stacks/Pulumi.<case>.yaml. --skip-file-checks: do not look for the image files
  (for a stack meant for another machine).`;

export async function main(args: string[]): Promise<number> {
  if (args.length === 1 && (args[0] === "--help" || args[0] === "-h")) {
    console.log(USAGE);
    return 0;
  }
  const flags = args.filter((a) => a.startsWith("-"));
  const files = args.filter((a) => !a.startsWith("-"));
  const unknownFlag = flags.find((f) => f !== "--skip-file-checks");
  if (files.length !== 1 || unknownFlag !== undefined) {
    console.error(unknownFlag !== undefined ? `check-config: unknown option '${unknownFlag}'\n${USAGE}` : USAGE);
    return 2;
  }
  const [file] = files;

  try {
    const config = loadStackFile(file, { checkFiles: !flags.includes("--skip-file-checks") });
    for (const warning of config.warnings) console.error(`warning: ${formatIssue(file, warning)}`);
    const n = config.images.length;
    console.log(`ok: ${file}: case ${config.caseId}, ${n} image${n === 1 ? "" : "s"}`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const warning of err.warnings) console.error(`warning: ${formatIssue(file, warning)}`);
    console.error(err.message);
    console.error(`check-config: ${err.issues.length} problem${err.issues.length === 1 ? "" : "s"} in ${file}`);
    return 1;
  }
}
