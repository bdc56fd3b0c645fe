import { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPE } from "../../lib/tokens";
import { peek } from "../lib/resources";

export interface GuestMemoryLimitConfig {
  /** Largest guest, in GiB, that passes without a warning. @default 16 */
  readonly maxMemoryGiB: number;
}

export const guestMemoryLimit: ResourceValidationPolicy = {
  name: "guest-memory-limit",
  description: "Analysis guests stay within a memory budget (maxMemoryGiB, default 16 GiB).",
  enforcementLevel: "advisory",
  configSchema: {
    properties: { maxMemoryGiB: { type: "number", minimum: 1, default: 16 } },
  },
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPE.AnalysisGuest) return;
    // The engine fills schema defaults in; the fallback keeps the documented default without it.
    const maxMemoryGiB = args.getConfig<Partial<GuestMemoryLimitConfig>>().maxMemoryGiB ?? 16;
    const memory = peek(args.props, "memoryMiB");
    if (memory.known && typeof memory.value === "number" && memory.value > maxMemoryGiB * 1024) {
      reportViolation(
        `memoryMiB ${memory.value} is more than ${maxMemoryGiB} GiB: the host has that much less for everything else (raise the policy's maxMemoryGiB if this is intended)`,
      );
    }
  },
};
