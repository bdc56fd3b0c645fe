import { ResourceValidationPolicy } from "@pulumi/policy";
import { evidenceAccess, redirectWrite, writeCapability } from "../lib/evidence-writes";
import { commandTexts, excerpt, inEvidenceScope, isCommandType, peek, show } from "../lib/resources";
import { readHookText } from "../lib/shell-text";

/** Interpreters whose `-c` text is bash, the only language this policy reads. */
const SHELL_INTERPRETERS = [/^(\/usr)?\/bin\/(ba)?sh$/, /^bash$/, /^sh$/];

export const evidenceCommandsReadOnly: ResourceValidationPolicy = {
  name: "evidence-commands-read-only",
  description: "Only allowed readers and read-only tools touch evidence, no redirection writes it, and no hook hides what it runs.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    // Children of EvidenceVolume (the case storage mount is read-write by design) and AnalysisGuest are
    // exempt; everything else is read as touching evidence, wherever it was parented.
    if (!isCommandType(args.type) || !inEvidenceScope(args.urn)) return;
    const interpreter = peek(args.props, "interpreter");
    if (interpreter.known && interpreter.value !== undefined) {
      const program = Array.isArray(interpreter.value) ? interpreter.value[0] : undefined;
      if (typeof program !== "string" || !SHELL_INTERPRETERS.some((re) => re.test(program))) {
        reportViolation(`interpreter ${show(interpreter.value)} is not bash: the policy can only read shell hooks`);
        return;
      }
    }
    const environment = peek(args.props, "environment");
    const environmentNames =
      environment.known && environment.value !== null && typeof environment.value === "object" ? Object.keys(environment.value) : [];
    for (const { step, text } of commandTexts(args.props)) {
      const reading = readHookText(text);
      for (const invocation of reading.invocations) {
        const why = writeCapability(invocation) ?? evidenceAccess(invocation);
        if (why) reportViolation(`${step} hook runs \`${excerpt(invocation.text)}\`, which ${why}`);
      }
      for (const redirect of reading.redirects) {
        const why = redirectWrite(redirect);
        if (why) reportViolation(`${step} hook ${why}`);
      }
      for (const opaque of reading.opaque) {
        // Unset under `set -u` (bash stops there) unless the command's environment supplies it.
        if (!environment.known || opaque.onlyIfEnvironmentSets === undefined || environmentNames.includes(opaque.onlyIfEnvironmentSets)) {
          reportViolation(
            `${step} hook runs \`${excerpt(opaque.text)}\`, which ${opaque.why}: the policy cannot see what it does to evidence`,
          );
        }
      }
    }
  },
};
