/**
 * The policy pack over what the real program registers: every stack in `stacks/` passes every
 * mandatory policy, and a deliberately unsafe variant of the CI lab is caught by each policy.
 */
import * as fs from "fs";
import * as path from "path";
import { LOCAL_COMMAND, TYPE } from "../lib/tokens";
import { RecordedResource } from "./mocks";
import { runPolicies, Violation } from "./support/policy-harness";
import { ensureEvidence, REPO, runProgram } from "./support/run-program";

jest.setTimeout(120_000);

const stackFiles = fs
  .readdirSync(path.join(REPO, "stacks"))
  .filter((f) => /^Pulumi\..+\.ya?ml$/.test(f))
  .map((f) => path.join("stacks", f));

const mandatory = (violations: Violation[]) => violations.filter((v) => v.enforcementLevel === "mandatory");

describe.each(stackFiles)("%s", (stackFile) => {
  beforeAll(() => ensureEvidence(stackFile), 300_000);

  test("passes every mandatory policy", async () => {
    const { run } = await runProgram(stackFile);
    expect(run.resources.length).toBeGreaterThan(10);
    const violations = await runPolicies(run.resources);
    expect(mandatory(violations)).toEqual([]);
    // The CI case weakens the LUKS KDF on purpose: the pack says so, as advice.
    const advisories = violations.map((v) => v.policy);
    expect(advisories.includes("fast-kdf-for-tests-only")).toBe(stackFile.endsWith("case-ci.yaml"));
  });
});

describe("a deliberately unsafe CI lab", () => {
  const stackFile = "stacks/Pulumi.case-ci.yaml";
  let safe: RecordedResource[];

  beforeAll(async () => {
    ensureEvidence(stackFile);
    safe = (await runProgram(stackFile)).run.resources;
  }, 300_000);

  /** A copy of the records with one change made to the inputs (and their wire form) of the matching ones. */
  function unsafe(match: (r: RecordedResource) => boolean, change: (inputs: Record<string, any>) => void): RecordedResource[] {
    let changed = 0;
    const records = safe.map((r) => {
      if (!match(r)) return r;
      changed++;
      const inputs = structuredClone(r.inputs);
      const wireInputs = structuredClone(r.wireInputs);
      change(inputs);
      change(wireInputs);
      return { ...r, inputs, wireInputs };
    });
    expect(changed).toBeGreaterThan(0);
    return records;
  }

  const cases: [string, (r: RecordedResource) => boolean, (inputs: Record<string, any>) => void][] = [
    ["nbd-attachment-read-only", (r) => r.type === TYPE.NbdAttachment, (i) => (i.readOnly = false)],
    ["partition-mount-read-only", (r) => r.type === TYPE.PartitionMount, (i) => (i.extraOptions = ["rw"])],
    ["guest-isolated", (r) => r.type === TYPE.AnalysisGuest, (i) => (i.hostShares = [{ source: "/", target: "host" }])],
    ["evidence-volume-encrypted", (r) => r.type === TYPE.EvidenceVolume, (i) => (i.encrypted = false)],
    [
      "passphrase-is-secret",
      (r) => r.type === TYPE.EvidenceVolume,
      (i) => (i.passphrase = typeof i.passphrase === "object" ? i.passphrase.value : i.passphrase),
    ],
    [
      "evidence-commands-read-only",
      (r) => r.type === LOCAL_COMMAND && r.name.endsWith("-nbd-attach"),
      (i) => (i.create = String(i.create).replace(/--read-only/g, "")),
    ],
    ["image-transfer-read-only", (r) => r.type === TYPE.ImageTransfer, (i) => (i.readOnly = false)],
  ];

  test.each(cases)("%s catches it", async (policy, match, change) => {
    const violations = mandatory(await runPolicies(unsafe(match, change)));
    expect(violations.map((v) => v.policy)).toContain(policy);
  });

  test("the safe records themselves pass (the mutations above are what is caught)", async () => {
    expect(mandatory(await runPolicies(safe))).toEqual([]);
  });
});
