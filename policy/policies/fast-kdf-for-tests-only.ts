import { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPE } from "../../lib/tokens";
import { peek } from "../lib/resources";

export const fastKdfForTestsOnly: ResourceValidationPolicy = {
  name: "fast-kdf-for-tests-only",
  description: "The weakened LUKS key derivation (fastKdfForTestsOnly) is for tests, never for a real case.",
  enforcementLevel: "advisory",
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPE.EvidenceVolume) return;
    const fast = peek(args.props, "fastKdfForTestsOnly");
    if (fast.known && fast.value === true) {
      reportViolation(
        "fastKdfForTestsOnly is true: the passphrase is protected by a cheap key derivation that is easy to brute-force; never use it for a real case",
      );
    }
  },
};
