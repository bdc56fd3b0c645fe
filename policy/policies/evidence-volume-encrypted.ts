import { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPE } from "../../lib/tokens";
import { requireLiteralTrue } from "../lib/checks";
import { peek } from "../lib/resources";

export const evidenceVolumeEncrypted: ResourceValidationPolicy = {
  name: "evidence-volume-encrypted",
  description: "The case storage volume is LUKS-encrypted and has a passphrase.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPE.EvidenceVolume) return;
    requireLiteralTrue(args.props, "encrypted", "the case storage holds evidence copies and findings in the clear", reportViolation);
    const passphrase = peek(args.props, "passphrase");
    if (passphrase.known && (typeof passphrase.value !== "string" || passphrase.value === "")) {
      reportViolation("passphrase must be set: the encrypted volume cannot be opened without one");
    }
  },
};
