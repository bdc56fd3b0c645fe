import { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPE } from "../../lib/tokens";
import { peek } from "../lib/resources";

export const evidenceVolumeRetained: ResourceValidationPolicy = {
  name: "evidence-volume-retained",
  description: "Retained evidence volumes outlive 'pulumi destroy' and must be erased by hand when the case closes.",
  enforcementLevel: "advisory",
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPE.EvidenceVolume) return;
    const retain = peek(args.props, "retain");
    if (retain.known && retain.value === true) {
      reportViolation("retain is true: 'pulumi destroy' leaves the encrypted volume in place; erase it by hand when the case closes");
    }
  },
};
