import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { TYPE } from "../../lib/tokens";
import { readInGuestHook } from "../lib/in-guest";
import { domainNames } from "../lib/isolation";
import { commandTexts, isCommandType, peek } from "../lib/resources";

const IN_GUEST_COMPONENTS: readonly string[] = [TYPE.NbdAttachment, TYPE.VolumeSystems, TYPE.RaidArray, TYPE.PartitionMount];

function hasAncestor(resource: PolicyResource, urn: string): boolean {
  for (let p = resource.parent; p !== undefined; p = p.parent) if (p.urn === urn) return true;
  return false;
}

export const evidenceGuestInStack: StackValidationPolicy = {
  name: "evidence-guest-in-stack",
  description:
    "Every in-guest hook targets the domain of an AnalysisGuest defined in this stack, and every guest's domain XML is there to check.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const commands = args.resources.filter((r) => isCommandType(r.type));
    const domains = new Set<string>();
    let allKnown = true;
    for (const guest of args.resources.filter((r) => r.type === TYPE.AnalysisGuest)) {
      const names: string[] = [];
      let guestKnown = true;
      for (const command of commands.filter((c) => hasAncestor(c, guest.urn))) {
        const texts = commandTexts(command.props);
        guestKnown &&= texts.complete;
        for (const { text } of texts) names.push(...domainNames(text));
      }
      names.forEach((n) => domains.add(n));
      allKnown &&= guestKnown;
      if (guestKnown && names.length === 0) {
        reportViolation(
          "none of its commands carries a libvirt domain XML, so neither its domain name nor its isolation can be checked",
          guest.urn,
        );
      }
    }
    // Until every guest's text is known (preview), a missing domain may just be unknown yet.
    if (!allKnown) return;
    const known = domains.size > 0 ? [...domains].map((d) => `'${d}'`).join(", ") : "none";
    // The components' own `guest` input, where the props show it (the engine gives stack policies a
    // component's registered outputs, which may leave it out; the hooks above are checked regardless).
    for (const component of args.resources.filter((r) => IN_GUEST_COMPONENTS.includes(r.type))) {
      const guest = peek(component.props, "guest");
      const domain = guest.known ? (guest.value as { domainName?: unknown } | undefined)?.domainName : undefined;
      if (typeof domain === "string" && domain !== "" && !domains.has(domain)) {
        reportViolation(`guest names domain '${domain}', which no AnalysisGuest in this stack defines (defined: ${known})`, component.urn);
      }
    }
    for (const command of commands.filter((c) => IN_GUEST_COMPONENTS.includes(c.parent?.type ?? ""))) {
      for (const { step, text } of commandTexts(command.props)) {
        const hook = readInGuestHook(text);
        if (hook.ok && !domains.has(hook.domain)) {
          reportViolation(
            `${step} hook runs in guest domain '${hook.domain}', which no AnalysisGuest in this stack defines (defined: ${known})`,
            command.urn,
          );
        }
      }
    }
  },
};
