import { ResourceValidationPolicy } from "@pulumi/policy";
import { writeCapability } from "../lib/evidence-writes";
import { commandTexts, excerpt, inEvidenceScope, isCommandType, peek, show } from "../lib/resources";
import { invocationsIn } from "../lib/shell-text";

/** Interpreters whose `-c` text is bash, the only language this policy reads. */
const SHELL_INTERPRETERS = [/^(\/usr)?\/bin\/(ba)?sh$/, /^bash$/, /^sh$/];

export const evidenceCommandsReadOnly: ResourceValidationPolicy = {
  name: "evidence-commands-read-only",
  description:
    "No command outside the case storage and the guest's own disks runs a write-capable mount, ntfs-3g, sshfs, qemu-nbd, losetup or repair tool.",
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
    for (const { step, text } of commandTexts(args.props)) {
      for (const invocation of invocationsIn(text)) {
        const why = writeCapability(invocation);
        if (why) reportViolation(`${step} hook runs \`${excerpt(invocation.text)}\`, which ${why}`);
      }
    }
  },
};
