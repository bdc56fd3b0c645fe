import { PolicyPack } from "@pulumi/policy";
import { POLICY_PACK_NAME, policies } from "./policies";

// The only place the pack is constructed: `new PolicyPack` starts the analyzer server the Pulumi CLI
// talks to, so tests import `./policies` and call the policies directly instead.
new PolicyPack(POLICY_PACK_NAME, {
  description:
    "Evidence is only ever read, inside an isolated guest: read-only attachments and mounts, no path out of the guest, secrets kept secret.",
  enforcementLevel: "mandatory",
  policies,
});
