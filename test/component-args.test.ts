/**
 * One format for refused component arguments: every issue (not only the first) as `key: reason`, unknown
 * keys named as such, in every component's validator. Each component's own tests check its rules; this
 * checks the shape they share.
 */
import { ArgsError, issueLines, keyPath, parseArgs } from "../lib/args-error";
import { z } from "zod";
import { resolveSettings } from "../components/analysis-guest/args";
import { planVolume } from "../components/evidence-volume/plan";
import { validateArgs } from "../components/image-transfer/args";
import { planAttachment } from "../components/nbd-attachment/plan";
import { validateMountArgs } from "../components/partition-mount/args";

function refusal(run: () => unknown): string[] {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ArgsError);
    return [...(err as ArgsError).issues];
  }
  throw new Error("accepted");
}

describe("lib/args-error", () => {
  test("keys read as a stack author writes them", () => {
    expect(keyPath([])).toBe("args");
    expect(keyPath(["manifest", "chain", 1, "path"])).toBe("manifest.chain[1].path");
  });

  test("every issue, unknown keys by name, on one line", () => {
    const schema = z.strictObject({ a: z.number(), b: z.strictObject({ c: z.string() }) });
    const parsed = schema.safeParse({ a: "x", b: { c: 1, d: 2 }, e: 3 });
    expect(parsed.success).toBe(false);
    expect(issueLines(parsed.error!).sort()).toEqual(
      [
        "a: Invalid input: expected number, received string",
        "b.c: Invalid input: expected string, received number",
        "b.d: unknown key",
        "e: unknown key",
      ].sort(),
    );
    expect(() => parseArgs(schema, { a: 1, b: { c: "" }, e: 1 })).toThrow(/^e: unknown key$/);
  });
});

describe("every component names every bad key, unknown ones included", () => {
  test("AnalysisGuest", () => {
    const issues = refusal(() => resolveSettings({ caseId: "case-42", memoryMiB: 1, vcpus: 0, colour: "red" } as never));
    expect(issues).toEqual(
      expect.arrayContaining([expect.stringMatching(/^memoryMiB: /), expect.stringMatching(/^vcpus: /), "colour: unknown key"]),
    );
  });

  test("EvidenceVolume", () => {
    const issues = refusal(() =>
      planVolume({ caseId: "c", backend: "file", path: "rel", sizeGiB: -1, encrypted: true, passphrase: null, colour: 1 }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^path: must be absolute/),
        expect.stringMatching(/^sizeGiB: /),
        "colour: unknown key",
      ]),
    );
  });

  test("ImageTransfer", () => {
    const issues = refusal(() =>
      validateArgs({
        imageName: "BAD NAME",
        manifest: { format: "raw", chain: [], files: [] },
        mode: "ftp",
        readOnly: true,
        hashed: true,
        custodyLogPath: "rel",
        examiner: "e",
        colour: 1,
      } as never),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^imageName: /),
        expect.stringMatching(/^mode: /),
        expect.stringMatching(/^custodyLogPath: /),
        "colour: unknown key",
      ]),
    );
  });

  test("NbdAttachment (the guest paths of the chain)", () => {
    const issues = refusal(() => planAttachment("vmdk", "rel.vmdk", [{ path: "/a/../b", format: "vmdk" }]));
    expect(issues).toEqual([
      expect.stringMatching(/^imagePath: must be absolute/),
      expect.stringMatching(/^backingChain\[0\]\.path: must not contain '\.\.'/),
    ]);
  });

  test("PartitionMount", () => {
    const issues = refusal(() => validateMountArgs({ partition: -1, readOnly: true, extraOptions: ["suid"], colour: 1 } as never));
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^partition: /),
        expect.stringMatching(/^extraOptions\[0\]: 'suid' is refused/),
        "colour: unknown key",
      ]),
    );
  });
});
