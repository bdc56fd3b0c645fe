/**
 * Hooks are single kernel arguments (`/bin/bash -c <text>`, and in the guest `bash -c <%q inner>`):
 * the Case refuses, before any resource exists, an image whose hook texts would exceed Linux's
 * MAX_ARG_STRLEN, naming the limit. Checked at the boundary with the real renderers and the real kernel.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ConfigError, parseCaseConfig, type CaseConfig } from "../../lib/config";
import type { ImageManifest } from "../../lib/inspect";
import { deepVmdkChain, makeTempDir, removeTree } from "../../test/support/image-chains";
import { HOOK_TEXT_LIMIT, MAX_ARG_STRLEN, bashQuotedLength, hookSizeProblem, imageHookSizes, imageHookTexts } from "./hook-limits";
import { inspectImages } from "./inspect-images";

const FILE = "stacks/Pulumi.case-42.yaml";

function config(transfer: "sshfs" | "scp", top = "/srv/evidence/case-42/top.vmdk"): CaseConfig {
  return parseCaseConfig(
    { caseId: "case-42", examiner: "Erika Mustermann", images: [{ name: "win7", path: top, transfer }] },
    { file: FILE, secretKeys: new Set(), requirePassphrase: false, checkFiles: false },
  );
}

/** `layers` monolithicSparse VMDK layers, each in its own folder (as VMware's snapshot folders). */
function layered(layers: number): ImageManifest {
  const chain = Array.from({ length: layers }, (_, i) => {
    const n = String(layers - i).padStart(4, "0");
    const file = `/srv/evidence/case-42/snap-${n}/disk-${n}.vmdk`;
    return {
      path: file,
      format: "vmdk" as const,
      createType: "monolithicSparse",
      cid: "00000001",
      parentCid: "ffffffff",
      parentPath: null,
      extents: [{ path: file, access: "RW" as const, sectors: 2048, type: "SPARSE" }],
    };
  });
  return { format: "vmdk", virtualSize: 1 << 20, chain, files: chain.map((l) => ({ path: l.path, size: 65536 })) };
}

/** One twoGbMaxExtentSparse-like descriptor with `extents` extents in its folder. */
function extentful(extents: number): ImageManifest {
  const top = "/srv/evidence/case-42/disk/win7.vmdk";
  const names = Array.from({ length: extents }, (_, i) => `/srv/evidence/case-42/disk/win7-s${String(i + 1).padStart(4, "0")}.vmdk`);
  return {
    format: "vmdk",
    virtualSize: extents * 2048 * 512,
    chain: [
      {
        path: top,
        format: "vmdk",
        createType: "twoGbMaxExtentSparse",
        cid: "00000001",
        parentCid: "ffffffff",
        parentPath: null,
        extents: names.map((p) => ({ path: p, access: "RW" as const, sectors: 2048, type: "SPARSE" })),
      },
    ],
    files: [top, ...names].map((p) => ({ path: p, size: 65536 })),
  };
}

/** The largest n whose image passes, by bisection over [1, high]. */
async function largestAccepted(transfer: "sshfs" | "scp", make: (n: number) => ImageManifest, high: number): Promise<number> {
  const c = config(transfer);
  let lo = 1;
  let hi = high;
  expect(await hookSizeProblem(c, c.images[0], make(lo))).toBeUndefined();
  expect(await hookSizeProblem(c, c.images[0], make(hi))).toBeDefined();
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if ((await hookSizeProblem(c, c.images[0], make(mid))) === undefined) lo = mid;
    else hi = mid;
  }
  return lo;
}

test("MAX_ARG_STRLEN is the kernel's: one argument of that many bytes (with its NUL) is refused with E2BIG, one byte less runs", () => {
  const fits = spawnSync("/bin/true", ["x".repeat(MAX_ARG_STRLEN - 1)]);
  expect(fits.error).toBeUndefined();
  expect(fits.status).toBe(0);
  const over = spawnSync("/bin/true", ["x".repeat(MAX_ARG_STRLEN)]);
  expect((over.error as NodeJS.ErrnoException | undefined)?.code).toBe("E2BIG");
});

test("bashQuotedLength is what bash's printf %q makes", () => {
  for (const text of [
    "plain",
    "a b",
    "it's",
    "two\nlines 'q' \"d\" $(x) \\ \t é",
    `#!/usr/bin/env bash\nreadonly A='x'\\''y'\necho "$A"\n`,
    "ünïcode",
  ]) {
    const quoted = spawnSync("/bin/bash", ["-c", 'printf %q "$1"', "_", text], {
      encoding: "buffer",
      env: { LC_ALL: "C", PATH: process.env.PATH },
    });
    expect(bashQuotedLength(text)).toBeGreaterThanOrEqual(quoted.stdout.length);
  }
});

describe("the boundary, measured with the real renderers", () => {
  test.each([
    ["sshfs", "layers, one folder each", layered, 40],
    ["scp", "layers, one folder each", layered, 1000],
    ["sshfs", "extents in one folder", extentful, 1000],
    ["scp", "extents in one folder", extentful, 1000],
  ] as const)(
    "%s, %s: the largest image accepted fits the kernel, one more is refused naming the limit",
    async (transfer, _what, make, high) => {
      const n = await largestAccepted(transfer, make, high);
      const c = config(transfer);
      // At the boundary every text, outer and in-guest, is a valid single argument for the real kernel.
      const sizes = await imageHookSizes(c, c.images[0], make(n));
      expect(Math.max(...sizes.map((s) => s.bytes))).toBeLessThanOrEqual(HOOK_TEXT_LIMIT);
      for (const { step, text, inner } of await imageHookTexts(c, c.images[0], make(n))) {
        expect([step, spawnSync("/bin/true", [text]).error]).toEqual([step, undefined]);
        for (const hook of inner) {
          // The command line the guest's shell gets, quoted by bash itself, passed on as one argument.
          const guestSide = spawnSync("/bin/bash", ["-c", 'exec /bin/true "bash -c $(printf %q "$1") forensic-lab-hook"', "_", hook], {
            env: { LC_ALL: "C" },
          });
          expect([step, guestSide.status]).toEqual([step, 0]);
        }
      }
      const problem = await hookSizeProblem(c, c.images[0], make(n + 1));
      expect(problem).toMatch(
        new RegExp(
          `hook of \\d+ bytes, over the ${HOOK_TEXT_LIMIT} bytes one command may carry \\(Linux MAX_ARG_STRLEN is ${MAX_ARG_STRLEN}\\)`,
        ),
      );
      // Recorded for docs/ARCHITECTURE.md: how far each shape goes.
      console.log(`${transfer}, ${_what}: at most ${n}`);
    },
    120_000,
  );
});

describe("through the Case's pre-resource validation", () => {
  let root: string;
  let top: string;
  beforeAll(() => {
    root = makeTempDir("hook-limits-");
    // 12 layers in 12 folders: more pipes than an sshfs hook can carry, nothing for scp.
    top = deepVmdkChain(root, 11).top;
  }, 60_000);
  afterAll(() => removeTree(root));

  test("sshfs over 12 folders is refused with one line naming the key, the file and the limit; scp is accepted", async () => {
    const err = await inspectImages(config("sshfs", top), FILE).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as ConfigError).message;
    expect(message.split("\n")).toHaveLength(1);
    expect(message).toMatch(
      new RegExp(
        `^${FILE}: forensic-lab:images\\[0\\]\\.path: ${top}: the image \\(12 layers, 12 files in 12 folders\\) needs a sshfs create hook of \\d+ bytes, over the ${HOOK_TEXT_LIMIT} bytes .*use transfer: scp`,
      ),
    );
    const manifests = await inspectImages(config("scp", top), FILE);
    expect(manifests.win7.chain).toHaveLength(12);
    expect(fs.existsSync(path.join(root, "base"))).toBe(true);
  }, 60_000);
});
