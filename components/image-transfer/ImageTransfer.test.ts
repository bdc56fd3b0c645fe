/**
 * ImageTransfer without the engine: argument validation, the resource graph, and that every value
 * reaches the hooks through the quoted prelude (a hostile folder name stays data).
 */
import * as pulumi from "@pulumi/pulumi";
import { hookValue } from "../../lib/rendered-hook";
import { LOCAL_COMMAND, TYPE } from "../../lib/tokens";
import { shellQuote } from "../../lib/shell";
import { setupMocks, settle, valueOf, MockRun } from "../../test/mocks";
import { ImageTransferArgs, TransferManifest, validateArgs } from "./args";
import { ImageTransfer } from "./ImageTransfer";
import { checkTransferResult } from "./plan";
import { pinnedChainOptions, planTransfer } from "./plan";
import { testGuestConnection } from "../../test/support/guest-connection";

const hostile = `/ev/base 'q' "d" $(touch /tmp/pwned)`;
const sha = (c: string) => c.repeat(64);

const manifest: TransferManifest = {
  format: "vmdk",
  chain: [
    { path: "/ev/snapshots/Win7-000002.vmdk", format: "vmdk", extents: [{ path: "/ev/snapshots/Win7-000002-s001.vmdk" }] },
    { path: "/ev/snapshots/Win7-000001.vmdk", format: "vmdk", extents: [{ path: "/ev/snapshots/Win7-000001-s001.vmdk" }] },
    {
      path: `${hostile}/Win7.vmdk`,
      format: "vmdk",
      extents: [{ path: `${hostile}/Win7-s001.vmdk` }, { path: `${hostile}/Win7-s002.vmdk` }],
    },
  ],
  files: [
    { path: "/ev/snapshots/Win7-000002.vmdk", size: 512, sha256: sha("a") },
    { path: "/ev/snapshots/Win7-000002-s001.vmdk", size: 65536, sha256: sha("b") },
    { path: "/ev/snapshots/Win7-000001.vmdk", size: 512, sha256: sha("c") },
    { path: "/ev/snapshots/Win7-000001-s001.vmdk", size: 65536, sha256: sha("d") },
    { path: `${hostile}/Win7.vmdk`, size: 512 },
    { path: `${hostile}/Win7-s001.vmdk`, size: 1 << 20 },
    { path: `${hostile}/Win7-s002.vmdk`, size: 1 << 20 },
  ],
};

const guest = testGuestConnection();

function args(overrides: Partial<Record<keyof ImageTransferArgs, unknown>> = {}): ImageTransferArgs {
  return {
    guest,
    imageName: "win7",
    manifest,
    mode: "sshfs",
    readOnly: true,
    hashed: true,
    custodyLogPath: "/var/lib/forensic-lab/case-1/custody.jsonl",
    examiner: "Erika Mustermann",
    ...overrides,
  } as ImageTransferArgs;
}

/** What an honest host-sshfs.sh (or host-scp.sh) prints for the manifest: one entry per file, hashes the host computed. */
/** The manifest the mocked hooks answer for (the EWF tests swap in theirs). */
let mockedManifest: TransferManifest | undefined;

function honestTransfer(mode: "sshfs" | "scp" = "sshfs") {
  const files = planTransfer(mockedManifest ?? manifest, mode === "sshfs" ? "/evidence/win7" : "/case/images/win7").files;
  const entries = files.map((f, i) => ({
    path: f.hostPath,
    guestPath: f.guestPath,
    hostSha256: sha(String(i)),
    guestSha256: sha(String(i)),
    verifiedBy: mode === "sshfs" ? "host-read-back" : "host-sent",
    guestReportedSha256: sha(String(i)),
  }));
  return mode === "sshfs"
    ? { files: entries, pipesStarted: [0, 1], pipesReused: [] }
    : { files: entries.map((e) => ({ ...e, copied: true })) };
}

/** What the hooks would print: host hashes per file, then the transfer's result. */
function hookOutputs(a: pulumi.runtime.MockResourceArgs): Record<string, unknown> | undefined {
  if (a.type !== LOCAL_COMMAND) return undefined;
  if (a.name.endsWith("-acquisition")) {
    const md5 = "a".repeat(32);
    return {
      stdout: `FORENSIC_LAB_RESULT ${JSON.stringify({ status: "verified", storedMd5: md5, computedMd5: md5, storedSha1: null, computedSha1: null })}\n`,
    };
  }
  const files = planTransfer(mockedManifest ?? manifest, "/evidence/win7").files;
  if (a.name.endsWith("-host-hash")) {
    return {
      stdout: `log\nFORENSIC_LAB_RESULT ${JSON.stringify({ files: files.map((f, i) => ({ path: f.hostPath, sha256: sha(String(i)), size: f.size })) })}\n`,
    };
  }
  return { stdout: `FORENSIC_LAB_RESULT ${JSON.stringify(honestTransfer(a.name.endsWith("-scp") ? "scp" : "sshfs"))}\n` };
}

async function build(
  overrides: Partial<Record<keyof ImageTransferArgs, unknown>> = {},
): Promise<{ run: MockRun; transfer: ImageTransfer }> {
  const run = await setupMocks({ outputsFor: hookOutputs });
  const transfer = new ImageTransfer("win7", args(overrides));
  await settle();
  return { run, transfer };
}

describe("validation", () => {
  const cases: [string, Partial<Record<keyof ImageTransferArgs, unknown>>, RegExp][] = [
    ["readOnly must be the literal true", { readOnly: false }, /^readOnly: must be the literal true/],
    ["hashed must be the literal true", { hashed: false }, /^hashed: must be the literal true/],
    ["image names are one safe path segment", { imageName: "../etc" }, /^imageName: must match/],
    ["image names have no spaces", { imageName: "win 7" }, /^imageName:/],
    ["mode is sshfs or scp", { mode: "nfs" }, /^mode:/],
    ["guestRoot is absolute", { guestRoot: "evidence/x" }, /^guestRoot: must be absolute \(got/],
    ["guestRoot is not /", { guestRoot: "/" }, /^guestRoot: must not be '\/'/],
    ["guestRoot is normalised", { guestRoot: "/case/../etc" }, /^guestRoot: must not contain '..'/],
    ["custodyLogPath is absolute", { custodyLogPath: "custody.jsonl" }, /^custodyLogPath: must be absolute \(got/],
    ["examiner is named", { examiner: "" }, /^examiner: must name who examines/],
    ["examiner has no control characters", { examiner: "a\nb" }, /^examiner: must not contain control characters/],
    [
      "manifest paths are absolute",
      { manifest: { ...manifest, chain: [{ path: "x.vmdk", format: "vmdk" }] } },
      /^manifest\.chain\[0\]\.path: must be absolute \(got/,
    ],
    ["manifest formats are known", { manifest: { ...manifest, format: "iso" } }, /^manifest\.format:/],
    [
      "manifest hashes are hex",
      { manifest: { ...manifest, files: [{ path: "/a", size: 1, sha256: "xyz" }] } },
      /^manifest\.files\[0\]\.sha256: must be 64 lower-case hex digits/,
    ],
  ];
  test.each(cases)("%s", (_name, overrides, message) => {
    expect(() => validateArgs(args(overrides))).toThrow(message);
  });

  test("the layout refuses chains it cannot lay out faithfully", () => {
    const missing = { ...manifest, files: manifest.files.slice(1) };
    expect(() => planTransfer(missing, "/e")).toThrow(
      "ImageTransfer manifest.chain[0].path: '/ev/snapshots/Win7-000002.vmdk' is not in manifest.files",
    );
    const elsewhere = {
      ...manifest,
      chain: [{ ...manifest.chain[0], extents: [{ path: "/other/Win7-000002-s001.vmdk" }] }],
      files: [...manifest.files, { path: "/other/Win7-000002-s001.vmdk", size: 1 }],
    };
    expect(() => planTransfer(elsewhere, "/e")).toThrow(
      /extents\[0\]\.path: '\/other\/Win7-000002-s001\.vmdk' is not in the folder of its descriptor/,
    );
    const twice = { ...manifest, files: [...manifest.files, manifest.files[0]] };
    expect(() => planTransfer(twice, "/e")).toThrow(/manifest\.files\[7\]\.path: .* is listed twice/);
  });

  test("a bad arg fails the component before any child exists", async () => {
    const run = await setupMocks();
    expect(() => new ImageTransfer("bad", args({ readOnly: "yes" }))).toThrow(/readOnly: must be the literal true/);
    await settle();
    expect(run.byType(LOCAL_COMMAND)).toEqual([]);
  });

  test("defaults: guestRoot by mode, stateDir next to the custody log", () => {
    expect(validateArgs(args()).guestRoot).toBe("/evidence/win7");
    expect(validateArgs(args({ mode: "scp" })).guestRoot).toBe("/case/images/win7");
    expect(validateArgs(args()).stateDir).toBe("/var/lib/forensic-lab/case-1");
  });
});

describe("layout", () => {
  test("one folder per host folder, names kept, top layer's folder first", () => {
    const plan = planTransfer(manifest, "/evidence/win7");
    expect(plan.folders.map((f) => [f.hostFolder, f.guestFolder])).toEqual([
      ["/ev/snapshots", "/evidence/win7/layer-folders/0"],
      [hostile, "/evidence/win7/layer-folders/1"],
    ]);
    expect(plan.guestChain).toEqual([
      { path: "/evidence/win7/layer-folders/0/Win7-000002.vmdk", format: "vmdk" },
      { path: "/evidence/win7/layer-folders/0/Win7-000001.vmdk", format: "vmdk" },
      { path: "/evidence/win7/layer-folders/1/Win7.vmdk", format: "vmdk" },
    ]);
    expect(plan.files.map((f) => f.guestPath)).toContain("/evidence/win7/layer-folders/1/Win7-s002.vmdk");
    expect(plan.files).toHaveLength(manifest.files.length);
  });

  test("pinned chain: each backing named explicitly, the base has none, read-only throughout", () => {
    const options = pinnedChainOptions(planTransfer(manifest, "/e").guestChain);
    expect(options).toEqual({
      driver: "vmdk",
      "read-only": true,
      file: { driver: "file", filename: "/e/layer-folders/0/Win7-000002.vmdk", "read-only": true },
      backing: {
        driver: "vmdk",
        "read-only": true,
        file: { driver: "file", filename: "/e/layer-folders/0/Win7-000001.vmdk", "read-only": true },
        backing: {
          driver: "vmdk",
          "read-only": true,
          file: { driver: "file", filename: "/e/layer-folders/1/Win7.vmdk", "read-only": true },
          backing: null,
        },
      },
    });
    expect(pinnedChainOptions([{ path: "/e/d.raw", format: "raw" }])).not.toHaveProperty("backing");
    expect(() =>
      pinnedChainOptions([
        { path: "/e/a.vdi", format: "vdi" },
        { path: "/e/b.vdi", format: "vdi" },
      ]),
    ).toThrow(/a vdi layer cannot have a backing file/);
  });
});

describe("resource graph", () => {
  test.each(["sshfs", "scp"] as const)("%s: host hash, then the transfer, both children of the component", async (mode) => {
    const { run } = await build({ mode });
    const component = run.byType(TYPE.ImageTransfer);
    expect(component).toHaveLength(1);
    expect(component[0].inputs).toMatchObject({ mode, readOnly: true, hashed: true, imageName: "win7", guest });
    const hash = run.byName("win7-host-hash");
    const transfer = run.byName(`win7-${mode}`);
    expect(run.byType(LOCAL_COMMAND)).toHaveLength(2);
    for (const r of [hash, transfer]) {
      expect(r.parent).toBe(component[0].urn);
      expect(r.inputs.interpreter).toEqual(["/bin/bash", "-c"]);
    }
    expect(transfer.dependencies).toContain(hash.urn);
    expect(transfer.deleteBeforeReplace).toBe(true);
    expect(run.destroyOrder().indexOf(transfer.urn)).toBeLessThan(run.destroyOrder().indexOf(hash.urn));
  });

  test("outputs: the guest chain top first, hashes per file", async () => {
    const { transfer } = await build();
    expect(await valueOf(transfer.guestTopPath)).toBe("/evidence/win7/layer-folders/0/Win7-000002.vmdk");
    expect((await valueOf(transfer.guestChain)).map((l) => l.path)).toEqual(
      planTransfer(manifest, "/evidence/win7").guestChain.map((l) => l.path),
    );
    const hashes = await valueOf(transfer.hashes);
    expect(hashes).toHaveLength(7);
    expect(hashes[4]).toEqual({
      path: `${hostile}/Win7.vmdk`,
      guestPath: "/evidence/win7/layer-folders/1/Win7.vmdk",
      hostSha256: sha("4"),
      guestSha256: sha("4"),
    });
  });

  const line = (r: object) => `FORENSIC_LAB_RESULT ${JSON.stringify(r)}`;
  const forged: [string, () => string, RegExp][] = [
    [
      "a second result line after the real one",
      () => `${line(honestTransfer())}\n${line(honestTransfer())}\n`,
      /2 times; exactly one result line/,
    ],
    [
      "a result line smuggled into a value",
      () => line({ ...honestTransfer(), pipesStarted: [], note: `x\n${line(honestTransfer())}` }),
      /2 times/,
    ],
    ["output after the result line", () => `${line(honestTransfer())}\nand then some`, /not the last line/],
    ["a cut-off line", () => line(honestTransfer()).slice(0, -5), /not JSON/],
    ["an unknown key", () => line({ ...honestTransfer(), verified: true }), /Unrecognized key/],
    [
      "a guest hash that is not the host's",
      () => line({ ...honestTransfer(), files: honestTransfer().files.map((f) => ({ ...f, guestSha256: sha("f") })) }),
      /guestSha256 must equal hostSha256/,
    ],
    [
      "hashes that are not the host hash step's",
      () =>
        line({ ...honestTransfer(), files: honestTransfer().files.map((f) => ({ ...f, hostSha256: sha("e"), guestSha256: sha("e") })) }),
      /with the host hash step's sha256/,
    ],
    [
      "a relative guest path",
      () => line({ ...honestTransfer(), files: honestTransfer().files.map((f) => ({ ...f, guestPath: "evidence/x" })) }),
      /guestPath: must be absolute/,
    ],
    ["one file short", () => line({ ...honestTransfer(), files: honestTransfer().files.slice(1) }), /6 files for 7/],
  ];
  test.each(forged)("a forged transfer result is rejected, naming the step: %s", (_what, stdout, why) => {
    const plan = planTransfer(manifest, "/evidence/win7");
    const hostSha256 = plan.files.map((_f, i) => sha(String(i)));
    expect(checkTransferResult(`${line(honestTransfer())}\n`, plan, hostSha256, "win7-sshfs (host-sshfs.sh)")).toHaveLength(7);
    expect(() => checkTransferResult(stdout(), plan, hostSha256, "win7-sshfs (host-sshfs.sh)")).toThrow(
      /^win7-sshfs \(host-sshfs\.sh\): result rejected: /,
    );
    expect(() => checkTransferResult(stdout(), plan, hostSha256, "win7-sshfs (host-sshfs.sh)")).toThrow(why);
  });
});

describe("hook text", () => {
  test("values only through the prelude: the hostile folder appears exactly as quoted there", async () => {
    const { run } = await build();
    const hash = run.byName("win7-host-hash").inputs.create as string;
    expect(hash).toContain(shellQuote(`${hostile}/Win7.vmdk`));
    // Outside quoting, the raw text never shows up: nothing is spliced.
    const unquoted = hash.replace(/'(?:[^']|'\\'')*'/g, "''");
    expect(unquoted).not.toContain("$(touch");
    expect(hash).toContain("# forensic-lab hook: components/image-transfer/hooks/host-hash.sh");
  });

  test("the sshfs hooks carry the host hashes and the nested guest hooks, the delete text needs no hashes", async () => {
    const { run } = await build();
    const transfer = run.byName("win7-sshfs");
    const create = transfer.inputs.create as string;
    const del = transfer.inputs.delete as string;
    expect(hookValue(create, "ACTION")).toBe("start");
    expect(create).toContain(sha("6"));
    expect(create).toContain("guest-sshfs-mount.sh");
    expect(create).toContain("host-sshfs-pipe.sh");
    expect(hookValue(del, "ACTION")).toBe("stop");
    expect(del).not.toContain(sha("6"));
    const unmount = hookValue(del, "GUEST_UNMOUNT_HOOK");
    expect(unmount).toContain("# forensic-lab hook: lib/hooks/in-guest.sh");
    expect(hookValue(unmount, "ON_GUEST_GONE")).toBe("succeed");
    expect(hookValue(unmount, "INNER_HOOK")).toContain("# forensic-lab hook: components/image-transfer/hooks/guest-unmount.sh");
    expect(hookValue(hookValue(create, "GUEST_HASH_HOOK"), "ON_GUEST_GONE")).toBe("fail");
  });

  test("the scp hooks: receive with the host hashes, remove tolerates a gone guest", async () => {
    const { run } = await build({ mode: "scp" });
    const transfer = run.byName("win7-scp");
    expect(hookValue(transfer.inputs.create, "ACTION")).toBe("copy");
    expect(transfer.inputs.create).toContain("guest-receive.sh");
    expect(transfer.inputs.create).toContain("/case/images/win7/layer-folders/1/Win7-s001.vmdk");
    const remove = hookValue(transfer.inputs.delete, "GUEST_REMOVE_HOOK");
    expect(hookValue(remove, "ON_GUEST_GONE")).toBe("succeed");
    expect(hookValue(hookValue(remove, "INNER_HOOK"), "GUEST_ROOT")).toBe("/case/images/win7");
  });
});

describe("an EWF set", () => {
  const ewfManifest = {
    format: "ewf" as const,
    virtualSize: 3 << 20,
    chain: [
      { path: "/ev/e01/disk.E01", format: "ewf" as const, createType: null, cid: null, parentCid: null, parentPath: null, extents: [] },
    ],
    files: [1, 2, 3].map((n) => ({ path: `/ev/e01/disk.E0${n}`, size: 1 << 20 })),
    acquisition: {
      container: "ewf" as const,
      segments: 3,
      setIdentifier: null,
      bytesPerSector: 512,
      sectorCount: 6144,
      md5: "a".repeat(32),
      sha1: null,
    },
  };

  test("its segments stay side by side in one guest folder, and the guest chain lists them", () => {
    const plan = planTransfer(ewfManifest, "/case/images/e01");
    const guestSegments = [1, 2, 3].map((n) => `/case/images/e01/layer-folders/0/disk.E0${n}`);
    expect(plan.guestChain).toEqual([{ path: guestSegments[0], format: "ewf", segments: guestSegments }]);
    expect(plan.files.map((f) => f.guestPath)).toEqual(guestSegments);
  });

  test.each([
    [
      "a segment in another folder",
      { files: [...ewfManifest.files, { path: "/elsewhere/disk.E04", size: 1 }] },
      /files\[3\]\.path: '\/elsewhere\/disk.E04' is not beside/,
    ],
    [
      "segments out of order",
      { files: [...ewfManifest.files].reverse() },
      /files\[0\]\.path: an EWF set's files are its segments, the first one first/,
    ],
    ["no stored hashes record", { acquisition: undefined }, /acquisition: an EWF set's stored hashes are missing/],
  ])("a manifest with %s is refused", (_what, change, message) => {
    expect(() => planTransfer({ ...ewfManifest, ...change }, "/case/images/e01")).toThrow(message);
  });

  test("after the transfer, one acquisition check that the chain waits for; its result is an output", async () => {
    mockedManifest = ewfManifest;
    const { run, transfer } = await build({ manifest: ewfManifest, mode: "scp" }).finally(() => (mockedManifest = undefined));
    const copy = run.byName("win7-scp");
    const check = run.byName("win7-acquisition");
    expect(check.dependencies).toContain(copy.urn);
    expect(check.inputs.create).toContain("ewfverify");
    expect(run.destroyOrder().indexOf(check.urn)).toBeLessThan(run.destroyOrder().indexOf(copy.urn));
    const reported = await new Promise((resolve) => transfer.acquisitionCheck.apply(resolve));
    expect(reported).toEqual(expect.objectContaining({ status: "verified" }));
  });
});
