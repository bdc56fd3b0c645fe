import { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPE } from "../../lib/tokens";
import { requireLiteralTrue, requireOneOf } from "../lib/checks";

export const TRANSFER_MODES: readonly string[] = ["sshfs", "scp"];

export const imageTransferReadOnly: ResourceValidationPolicy = {
  name: "image-transfer-read-only",
  description: "Images reach the guest read-only: an sshfs mount with ro, or a copy onto the case storage.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPE.ImageTransfer) return;
    requireLiteralTrue(args.props, "readOnly", "the guest could write back to the original image", reportViolation);
    requireOneOf(args.props, "mode", TRANSFER_MODES, "no other transfer keeps the original out of the guest's reach", reportViolation);
  },
};
