import { runPolicies } from "../../test/support/policy-harness";
import { policies } from "../policies";
import { build, safeLab } from "./fixtures";

describe("the safe lab", () => {
  it("passes every policy of the pack", async () => {
    expect(await runPolicies(build(await safeLab()))).toEqual([]);
  });

  it("is checked by every policy, each with a one-line description", () => {
    expect(policies.map((p) => p.name)).toEqual([
      "nbd-attachment-read-only",
      "partition-mount-read-only",
      "evidence-access-in-guest",
      "evidence-guest-in-stack",
      "guest-isolated",
      "evidence-volume-encrypted",
      "passphrase-is-secret",
      "evidence-commands-read-only",
      "no-secret-in-command-text",
      "image-transfer-read-only",
      "image-transfer-hashed",
      "guest-memory-limit",
      "evidence-volume-retained",
      "fast-kdf-for-tests-only",
    ]);
    for (const p of policies) expect(p.description).toMatch(/^[^\n]{20,160}$/);
  });
});
