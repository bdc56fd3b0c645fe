import { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPE } from "../../lib/tokens";
import { readInGuestHook } from "../lib/in-guest";
import { commandTexts, isCommandType, parentType, peek, show } from "../lib/resources";

/** The components that open evidence block devices and filesystems: only ever inside the guest. */
const IN_GUEST_COMPONENTS: readonly string[] = [TYPE.NbdAttachment, TYPE.VolumeSystems, TYPE.RaidArray, TYPE.PartitionMount];

const CONNECTION_STRINGS = ["host", "user", "privateKeyPath", "knownHostsPath", "domainName"] as const;

export const evidenceAccessInGuest: ResourceValidationPolicy = {
  name: "evidence-access-in-guest",
  description: "nbd attachments and partition mounts run inside the analysis guest over pinned ssh, never on the host.",
  enforcementLevel: "mandatory",
  validateResource: [
    (args, reportViolation) => {
      if (!IN_GUEST_COMPONENTS.includes(args.type)) return;
      const guest = peek(args.props, "guest");
      // Unknown at preview: the connection comes from the guest's outputs; checked at `pulumi up`.
      if (!guest.known) return;
      const g = guest.value as Record<string, unknown> | undefined;
      if (g === null || typeof g !== "object") {
        reportViolation(`guest must be the connection of an AnalysisGuest, got ${show(g)}: without it the hook would run on the host`);
        return;
      }
      const missing: string[] = CONNECTION_STRINGS.filter((k) => typeof g[k] !== "string" || g[k] === "");
      if (typeof g.port !== "number" || !Number.isInteger(g.port) || g.port < 1 || g.port > 65535) missing.push("port");
      if (missing.length > 0) {
        reportViolation(
          `guest must be the connection of an AnalysisGuest; ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} missing or empty`,
        );
      }
    },
    (args, reportViolation) => {
      if (!isCommandType(args.type) || !IN_GUEST_COMPONENTS.includes(parentType(args.urn) ?? "")) return;
      if (args.type !== "command:local:Command") {
        reportViolation(`${args.type} cannot pin the guest's host key: use a local command running ${"lib/hooks/in-guest.sh"}`);
        return;
      }
      for (const { step, text } of commandTexts(args.props)) {
        const hook = readInGuestHook(text);
        if (!hook.ok) reportViolation(`${step} hook ${hook.problem}`);
      }
    },
  ],
};
