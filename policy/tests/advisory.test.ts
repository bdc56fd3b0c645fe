/**
 * Advisory policies warn and never block: unhashed transfers, large guests, retained volumes and the
 * test-only key derivation.
 */
import { runPolicies } from "../../test/support/policy-harness";
import { evidenceVolumeRetained } from "../policies/evidence-volume-retained";
import { fastKdfForTestsOnly } from "../policies/fast-kdf-for-tests-only";
import { guestMemoryLimit } from "../policies/guest-memory-limit";
import { imageTransferHashed } from "../policies/image-transfer-hashed";
import { LabResource, build, messages, resource, safeLab } from "./fixtures";

let lab: LabResource[];
beforeEach(async () => {
  lab = await safeLab();
});

describe("advisory policies", () => {
  it("pass the safe lab", async () => {
    for (const policy of [imageTransferHashed, guestMemoryLimit, evidenceVolumeRetained, fastKdfForTestsOnly]) {
      expect(await messages(policy, lab)).toEqual([]);
    }
  });

  it("image-transfer-hashed warns about a transfer without hashes", async () => {
    resource(lab, "disk-transfer").props.hashed = false;
    expect(await messages(imageTransferHashed, lab)).toEqual([
      "disk-transfer: hashed is not true: the images go to the guest without SHA-256 sums in their manifest, so nothing ties the examined copy to the original",
    ]);
  });

  it("guest-memory-limit warns above 16 GiB, or above the configured limit", async () => {
    resource(lab, "case-42-guest").props.memoryMiB = 16 * 1024;
    expect(await messages(guestMemoryLimit, lab)).toEqual([]);
    resource(lab, "case-42-guest").props.memoryMiB = 16 * 1024 + 1;
    expect(await messages(guestMemoryLimit, lab)).toEqual([
      "case-42-guest: memoryMiB 16385 is more than 16 GiB: the host has that much less for everything else (raise the policy's maxMemoryGiB if this is intended)",
    ]);
    expect(await messages(guestMemoryLimit, lab, { "guest-memory-limit": { maxMemoryGiB: 32 } })).toEqual([]);
    resource(lab, "case-42-guest").props.memoryMiB = 4096;
    expect(await messages(guestMemoryLimit, lab, { "guest-memory-limit": { maxMemoryGiB: 2 } })).toEqual([
      "case-42-guest: memoryMiB 4096 is more than 2 GiB: the host has that much less for everything else (raise the policy's maxMemoryGiB if this is intended)",
    ]);
  });

  it("evidence-volume-retained warns about a volume that outlives destroy", async () => {
    resource(lab, "case-42-volume").props.retain = true;
    expect(await messages(evidenceVolumeRetained, lab)).toEqual([
      "case-42-volume: retain is true: 'pulumi destroy' leaves the encrypted volume in place; erase it by hand when the case closes",
    ]);
  });

  it("fast-kdf-for-tests-only warns about the weakened key derivation", async () => {
    resource(lab, "case-42-volume").props.fastKdfForTestsOnly = true;
    expect(await messages(fastKdfForTestsOnly, lab)).toEqual([
      "case-42-volume: fastKdfForTestsOnly is true: the passphrase is protected by a cheap key derivation that is easy to brute-force; never use it for a real case",
    ]);
  });

  it("are reported as advisory, so they never block", async () => {
    Object.assign(resource(lab, "case-42-volume").props, { retain: true, fastKdfForTestsOnly: true });
    resource(lab, "disk-transfer").props.hashed = false;
    resource(lab, "case-42-guest").props.memoryMiB = 65536;
    const violations = await runPolicies(build(lab));
    expect(violations.map((v) => [v.policy, v.enforcementLevel])).toEqual([
      ["image-transfer-hashed", "advisory"],
      ["guest-memory-limit", "advisory"],
      ["evidence-volume-retained", "advisory"],
      ["fast-kdf-for-tests-only", "advisory"],
    ]);
  });
});
