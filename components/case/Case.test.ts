/**
 * The Case under the engine-less mocks: the CI case's whole graph (every component once per case or
 * image, destroy in reverse, the passphrase only ever wrapped as a secret), built by the real program
 * from stacks/Pulumi.case-ci.yaml, and a Case refused before any child exists.
 */
import { LOCAL_COMMAND, TYPE } from "../../lib/tokens";
import { hookValue, innerHook } from "../../lib/rendered-hook";
import type * as pulumi from "@pulumi/pulumi";
import { RecordedResource, setupMocks, valueOf } from "../../test/mocks";
import { ensureEvidence, runProgram } from "../../test/support/run-program";
import { clashingNames } from "./plan";
import { engineConfigFromStackFile, TEST_PASSPHRASE } from "../../test/support/stack-config";

// Inspecting real evidence and running the program take seconds on a loaded 2-core machine.
jest.setTimeout(60_000);

/** The secret signature Pulumi wraps secret values in on the wire (`{<sig>: <secret>, value}`). */
const SECRET_SIG = ["4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"] as const;

/** Property paths where `needle` appears outside a secret wrapper. */
function plaintextOccurrences(value: unknown, needle: string, at = "$"): string[] {
  if (typeof value === "string") return value.includes(needle) ? [at] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => plaintextOccurrences(v, needle, `${at}[${i}]`));
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record[SECRET_SIG[0]] === SECRET_SIG[1]) return [];
    return Object.entries(record).flatMap(([k, v]) => plaintextOccurrences(v, needle, `${at}.${k}`));
  }
  return [];
}

/** The commands below a component (its whole subtree), by URN. */
function commandsBelow(resources: readonly RecordedResource[], component: RecordedResource): string[] {
  const below = new Set([component.urn]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const r of resources) {
      if (below.has(r.parent) && !below.has(r.urn)) {
        below.add(r.urn);
        grew = true;
      }
    }
  }
  return resources.filter((r) => r.type === LOCAL_COMMAND && below.has(r.urn)).map((r) => r.urn);
}

describe("the whole lab for the CI case", () => {
  const stackFile = "stacks/Pulumi.case-ci.yaml";
  beforeAll(() => ensureEvidence(stackFile), 300_000);

  test("every component once per case or image, all below the Case", async () => {
    const { run } = await runProgram(stackFile);
    const [lab] = run.byType(TYPE.Case);
    expect(run.byType(TYPE.EvidenceVolume)).toHaveLength(1);
    expect(run.byType(TYPE.AnalysisGuest)).toHaveLength(1);
    expect(
      run
        .byType(TYPE.ImageTransfer)
        .map((r) => r.inputs.mode)
        .sort(),
    ).toEqual(["scp", "sshfs", "sshfs", "sshfs", "sshfs", "sshfs", "sshfs"]);
    expect(run.byType(TYPE.NbdAttachment)).toHaveLength(7);
    // One per image, and one inside the NAS's md array.
    expect(run.byType(TYPE.VolumeSystems)).toHaveLength(8);
    expect(run.byType(TYPE.PartitionMount)).toHaveLength(8);
    expect(run.byType(TYPE.RaidArray)).toHaveLength(1);
    for (const type of [
      TYPE.EvidenceVolume,
      TYPE.AnalysisGuest,
      TYPE.ImageTransfer,
      TYPE.NbdAttachment,
      TYPE.VolumeSystems,
      TYPE.PartitionMount,
      TYPE.RaidArray,
    ]) {
      for (const r of run.byType(type)) expect(r.parent).toBe(lab.urn);
    }
    expect(
      run
        .byType(TYPE.NbdAttachment)
        .map((r) => [r.name, r.inputs.format, r.inputs.readOnly])
        .sort(),
    ).toEqual([
      ["case-ci-laptop-nbd", "raw", true],
      ["case-ci-nas1-nbd", "raw", true],
      ["case-ci-nas2-nbd", "raw", true],
      ["case-ci-nas3-nbd", "raw", true],
      ["case-ci-win7-e01-nbd", "ewf", true],
      ["case-ci-win7-scp-nbd", "vmdk", true],
      ["case-ci-win7-sshfs-nbd", "vmdk", true],
    ]);
    // The E01 set's acquisition check runs after its transfer and before it is attached.
    const check = run.byName("case-ci-win7-e01-transfer-acquisition");
    expect(check.dependencies).toContain(run.byName("case-ci-win7-e01-transfer-sshfs").urn);
    expect(run.createOrder().indexOf(check.urn)).toBeLessThan(run.createOrder().indexOf(run.byName("case-ci-win7-e01-nbd-attach").urn));
    for (const r of run.byType(TYPE.PartitionMount)) expect(r.inputs).toMatchObject({ readOnly: true, partition: "all" });
    // The laptop's two LUKS keys: where they open, on the component; the keys only on its command's stdin.
    expect(run.byName("case-ci-laptop-volumes").inputs).toMatchObject({ readOnly: true, luksAt: [2, "evidencevg/home"] });
    expect(run.byName("case-ci-laptop-volumes-open").additionalSecretOutputs).toEqual(["stdin"]);
    expect(run.byName("case-ci-win7-scp-volumes-open").inputs.stdin).toBeUndefined();
  });

  test("destroy undoes it in reverse: umount, close volumes, disconnect, transfers, case storage, guest, volume", async () => {
    const { run } = await runProgram(stackFile);
    const destroy = run.destroyOrder();
    const position = (urns: string[]) => urns.map((u) => destroy.indexOf(u));
    const last = (urns: string[]) => Math.max(...position(urns));
    const first = (urns: string[]) => Math.min(...position(urns));
    const below = (r: RecordedResource) => commandsBelow(run.resources, r);
    const [volume] = run.byType(TYPE.EvidenceVolume);
    const [guest] = run.byType(TYPE.AnalysisGuest);
    // File backend: the LUKS layer is opened in the guest (`-luks`) and mounted there (`-case-storage`);
    // the host side is the sparse file (`-backing`), erased after the guest is gone.
    const volumeCommands = run.resources.filter((r) => below(volume).includes(r.urn));
    const caseStorage = volumeCommands.filter((r) => /-(luks|case-storage)$/.test(r.name)).map((r) => r.urn);
    const volumeHostSide = volumeCommands.filter((r) => r.name.endsWith("-backing")).map((r) => r.urn);
    expect(caseStorage).toHaveLength(2);
    expect(volumeHostSide).toHaveLength(1);
    for (const name of ["win7-sshfs", "win7-scp", "win7-e01", "laptop"]) {
      const of = (type: string) => run.byType(type).find((r) => r.name.includes(`-${name}-`))!;
      const mount = below(of(TYPE.PartitionMount));
      const volumes = below(of(TYPE.VolumeSystems));
      const nbd = below(of(TYPE.NbdAttachment));
      const transfer = below(of(TYPE.ImageTransfer));
      expect(last(mount)).toBeLessThan(first(volumes));
      expect(last(volumes)).toBeLessThan(first(nbd));
      expect(last(nbd)).toBeLessThan(first(transfer));
      expect(last(transfer)).toBeLessThan(first(caseStorage));
    }
    expect(last(caseStorage)).toBeLessThan(first(below(guest)));
    expect(last(below(guest))).toBeLessThan(first(volumeHostSide));
    // And create order is exactly the reverse.
    expect(run.createOrder()).toEqual([...destroy].reverse());
  });

  test("the passphrase reaches resources only wrapped as a secret", async () => {
    const { run } = await runProgram(stackFile);
    for (const r of run.resources) expect(plaintextOccurrences(r.wireInputs, TEST_PASSPHRASE)).toEqual([]);
    const withStdin = run.resources.filter((r) => r.type === LOCAL_COMMAND && r.wireInputs.stdin !== undefined);
    expect(withStdin.length).toBeGreaterThan(0);
  });
});

describe("an md array over several images (raidArrays)", () => {
  const stackFile = "stacks/Pulumi.case-ci.yaml";
  beforeAll(() => ensureEvidence(stackFile), 300_000);

  test("one RaidArray after its members' attachments, then its VolumeSystems and mount; destroy: unmount, close, remove, then detach", async () => {
    const arrays = [{ name: "nas", members: ["laptop:1", "win7-scp:2"], partitions: [{ number: 0, options: ["noatime"] }] }];
    const { run, outputs } = await runProgram(stackFile, { "forensic-lab:raidArrays": JSON.stringify(arrays) });
    const [lab] = run.byType(TYPE.Case);
    const [array] = run.byType(TYPE.RaidArray);
    expect(array).toMatchObject({ name: "case-ci-array-nas", parent: lab.urn, inputs: { name: "nas", readOnly: true } });
    const assemble = run.byName("case-ci-array-nas-assemble");
    const open = run.byName("case-ci-array-nas-volumes-open");
    const mount = run.byName("case-ci-array-nas-p0-mount-mount");
    expect(run.byName("case-ci-array-nas-p0-mount").inputs).toMatchObject({
      partition: 0,
      readOnly: true,
      extraOptions: ["noatime"],
    });
    expect(open.dependencies).toContain(assemble.urn);
    expect(mount.dependencies).toContain(open.urn);
    const destroy = run.destroyOrder();
    expect(destroy.indexOf(mount.urn)).toBeLessThan(destroy.indexOf(open.urn));
    expect(destroy.indexOf(open.urn)).toBeLessThan(destroy.indexOf(assemble.urn));
    for (const image of ["laptop", "win7-scp"]) {
      const attach = run.byName(`case-ci-${image}-nbd-attach`);
      expect(assemble.dependencies).toContain(attach.urn);
      // `pulumi up --replace` of an attachment replaces what depends on it through an input (its
      // property dependencies), never through `dependsOn`: the array must be among them.
      expect(assemble.propertyDependencies.create).toContain(attach.urn);
      expect(destroy.indexOf(assemble.urn)).toBeLessThan(destroy.indexOf(attach.urn));
    }
    expect(run.byName("case-ci-win7-e01-nbd-attach").urn).not.toBe(undefined);
    expect(assemble.dependencies).not.toContain(run.byName("case-ci-win7-e01-nbd-attach").urn);
    const nas = (outputs.raidArrays as Record<string, { array: pulumi.Output<{ device: string }>; volumes: unknown; mounts: unknown }>).nas;
    expect((await valueOf(nas.array)).device).toBe("/dev/mapper/fl-array-nas");
    expect(Object.keys(nas).sort()).toEqual(["array", "mounts", "skipped", "volumes", "volumesLeftClosed"]);
  });

  test("by default everything inside is mounted under /mnt/forensic/arrays/<name> (its filesystem at p0, LVs under lvm/)", async () => {
    const arrays = [{ name: "nas", members: ["laptop:1", "win7-scp:2"] }];
    const { run } = await runProgram(stackFile, { "forensic-lab:raidArrays": JSON.stringify(arrays) });
    expect(run.byName("case-ci-array-nas-mount").inputs).toMatchObject({ partition: "all", readOnly: true });
    const text = innerHook(String(run.byName("case-ci-array-nas-mount-mount").inputs.create));
    expect(hookValue(text, "MOUNT_ROOT")).toBe("/mnt/forensic/arrays/nas");
    expect(hookValue(text, "NBD_DEVICE")).toBe("");
    expect(hookValue(innerHook(String(run.byName("case-ci-array-nas-volumes-open").inputs.create)), "ARRAY_DEVICE")).toBe(
      "/dev/mapper/fl-array-nas",
    );
  });

  test("none configured: no RaidArray, and an empty output", async () => {
    const { run, outputs } = await runProgram(stackFile, { "forensic-lab:raidArrays": "[]" });
    expect(run.byType(TYPE.RaidArray)).toEqual([]);
    expect(outputs.raidArrays).toEqual({});
  });
});

describe("a Case refuses args that disagree, before any child exists", () => {
  test("an image without a manifest names the Case, the key and every such image", async () => {
    const engine = engineConfigFromStackFile(require.resolve("../../stacks/Pulumi.case-ci.yaml"));
    const run = await setupMocks(engine);
    let build: () => unknown;
    jest.isolateModules(() => {
      const { Case } = require("./Case") as typeof import("./Case");
      const { loadCaseConfigFromPulumi } = require("../../lib/config") as typeof import("../../lib/config");
      build = () => new Case("case-ci", { config: loadCaseConfigFromPulumi(), manifests: {} });
    });
    expect(() => build()).toThrow("Case 'case-ci': manifests: no manifest for image 'win7-sshfs', 'win7-scp', 'win7-e01'");
    expect(run.resources.filter((r) => r.type !== TYPE.Case)).toEqual([]);
  });
});

describe("names: two devices never give their components one name", () => {
  const image = (name: string, partitions: "all" | { number?: number; logicalVolume?: string }[] = "all") => ({
    name,
    mountRoot: `/mnt/forensic/${name}`,
    partitions: partitions === "all" ? partitions : partitions.map((p) => ({ ...p, mountPoint: "/mnt/x", options: [] })),
    luksKeys: [],
    bitlockerKeys: [],
  });
  const clashes = (images: ReturnType<typeof image>[], arrays: string[] = []) =>
    clashingNames("case-1", {
      images: images as never,
      raidArrays: arrays.map((name) => ({ ...image(name), members: [] })) as never,
    });

  test("image 'disk' with partition 1 and image 'disk-p1': one mount name; refused naming both keys", () => {
    expect(clashes([image("disk", [{ number: 1 }]), image("disk-p1")])).toEqual([
      "images[1].partitions: would make 'case-1-disk-p1-mount', as images[0].partitions[0] does; rename one of the two",
    ]);
  });

  test("an image named array-<name> meets that array; an LV's mount meets an image named after it", () => {
    expect(clashes([image("array-nas"), image("disk")], ["nas"])).toEqual([
      "raidArrays[0]: would make 'case-1-array-nas-volumes', as images[0] does; rename one of the two",
      "raidArrays[0].partitions: would make 'case-1-array-nas-mount', as images[0].partitions does; rename one of the two",
    ]);
    expect(clashes([image("disk", [{ logicalVolume: "vg/root" }]), image("disk-lvm-vg-root")])).toHaveLength(1);
  });

  test("names that merely share a beginning are fine: disk, disk-2, disk-p1 without partition 1, an array of any name", () => {
    expect(clashes([image("disk", [{ number: 2 }]), image("disk-2"), image("disk-p1")], ["disk", "nas"])).toEqual([]);
  });

  test("a Case with clashing names is refused before any child exists", async () => {
    const engine = engineConfigFromStackFile(require.resolve("../../stacks/Pulumi.case-ci.yaml"));
    const run = await setupMocks(engine);
    let build: () => unknown;
    jest.isolateModules(() => {
      const { Case } = require("./Case") as typeof import("./Case");
      const { loadCaseConfigFromPulumi } = require("../../lib/config") as typeof import("../../lib/config");
      build = () => {
        const config = loadCaseConfigFromPulumi();
        const images = [...config.images, { ...config.images[0], name: "array-x" }];
        return new Case("case-ci", { config: { ...config, images, raidArrays: [{ ...image("x"), members: [] } as never] }, manifests: {} });
      };
    });
    expect(() => build()).toThrow(
      /^Case 'case-ci': raidArrays\[0\]: would make 'case-ci-array-x-volumes', as images\[\d+\] does; rename one of the two/,
    );
    expect(run.resources.filter((r) => r.type !== TYPE.Case)).toEqual([]);
  });
});
