import { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPE } from "../../lib/tokens";
import { requireOneOf } from "../lib/checks";
import { isolationProblems } from "../lib/isolation";
import { commandTexts, isCommandType, peek, show } from "../lib/resources";

export const GUEST_NETWORKS: readonly string[] = ["user-restricted", "libvirt-isolated"];

export const guestIsolated: ResourceValidationPolicy = {
  name: "guest-isolated",
  description: "The analysis guest has no network path out, no listener beyond loopback ssh, and no host folders or devices.",
  enforcementLevel: "mandatory",
  validateResource: [
    (args, reportViolation) => {
      if (args.type !== TYPE.AnalysisGuest) return;
      requireOneOf(args.props, "network", GUEST_NETWORKS, "any other network gives malware in the evidence a path out", reportViolation);
      const shares = peek(args.props, "hostShares");
      if (!shares.known) reportViolation("hostShares must be a literal empty list, not a value computed during deployment");
      else if (shares.value !== undefined && !(Array.isArray(shares.value) && shares.value.length === 0)) {
        reportViolation(`hostShares must be empty, got ${show(shares.value)}: host files reach the guest only through ImageTransfer`);
      }
    },
    // Every command, not only the guest's: a domain or qemu-system anywhere in the stack is a guest.
    (args, reportViolation) => {
      if (!isCommandType(args.type)) return;
      for (const { step, text } of commandTexts(args.props)) {
        for (const problem of isolationProblems(text)) reportViolation(`${step} hook: ${problem}`);
      }
    },
  ],
};
