import { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPE } from "../../lib/tokens";
import { peek } from "../lib/resources";

export const imageTransferHashed: ResourceValidationPolicy = {
  name: "image-transfer-hashed",
  description: "Transferred images have a hashed manifest, so the examined copy can be tied to the original.",
  enforcementLevel: "advisory",
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPE.ImageTransfer) return;
    const hashed = peek(args.props, "hashed");
    if (hashed.known && hashed.value !== true) {
      reportViolation(
        "hashed is not true: the images go to the guest without SHA-256 sums in their manifest, so nothing ties the examined copy to the original",
      );
    }
  },
};
