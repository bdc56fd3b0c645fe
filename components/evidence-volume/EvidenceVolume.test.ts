/**
 * EvidenceVolume without an engine: argument validation, the resources each backend registers, where
 * the passphrase goes (only ever as a wrapped secret on the wire), outputs, and the order `pulumi
 * destroy` undoes things in. The hooks themselves run for real in hooks.test.ts and the guest tests.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { hookValue, innerHook as inner, innermostHook, runsHook } from "../../lib/rendered-hook";
import { REPO_ROOT, RESULT_MARKER } from "../../lib/shell";
import { LOCAL_COMMAND, TYPE } from "../../lib/tokens";
import { MockRun, RecordedResource, settle, setupMocks, valueOf } from "../../test/mocks";
import type { EvidenceVolumeArgs } from "./args";
import { HOOKS, planVolume } from "./plan";
import { testGuestConnection } from "../../test/support/guest-connection";

const TSX = path.join(__dirname, "../../node_modules/.bin/tsx");
const PASSPHRASE = "correct horse 'battery' $(staple)";

const guest = testGuestConnection();

/** What the real hooks print, so outputs resolve as they would after `pulumi up`. */
function hookStdout(args: pulumi.runtime.MockResourceArgs, existingLuks: object | null): Record<string, string> | undefined {
  if (args.type !== LOCAL_COMMAND) return undefined;
  const create = String(args.inputs.create);
  const print = (result: object) => ({ stdout: `some progress\n${RESULT_MARKER}${JSON.stringify(result)}` });
  if (runsHook(create, HOOKS.backingCreate)) {
    const path = hookValue(create, "BACKING_PATH");
    return print({ backingPath: path, sizeBytes: 5 * 1024 ** 3, created: true, luks: existingLuks });
  }
  if (runsHook(create, HOOKS.luksOpen)) {
    const mapper = hookValue(innermostHook(create), "MAPPER_NAME");
    return print({
      mapperPath: `/dev/mapper/${mapper}`,
      luksVersion: 2,
      cipher: "aes-xts-plain64",
      keyBits: 512,
      formatted: true,
      opened: true,
    });
  }
  if (runsHook(create, HOOKS.storageMount)) {
    return print({ mountPoint: "/case", device: "/dev/dm-0", filesystem: "ext4", formatted: true, mounted: true });
  }
  return undefined;
}

const fileArgs = (): EvidenceVolumeArgs => ({
  caseId: "case-1",
  backend: "file",
  path: "/var/lib/forensic-lab/case-1/evidence.luks",
  sizeGiB: 5,
  passphrase: pulumi.secret(PASSPHRASE),
  encrypted: true,
});

const lvmArgs = (): EvidenceVolumeArgs => ({
  caseId: "case-1",
  backend: "lvm",
  volumeGroup: "forensic",
  sizeGiB: 5,
  passphrase: pulumi.secret(PASSPHRASE),
  encrypted: true,
});

/** A volume, a stand-in guest that attaches its disk, and the case storage opened in that guest. */
async function lab(args: EvidenceVolumeArgs, existingLuks: object | null = null) {
  const run = await setupMocks({ outputsFor: (a) => hookStdout(a, existingLuks) });
  const { EvidenceVolume } = await import("./EvidenceVolume");
  const volume = new EvidenceVolume("vol", args);
  const analysisGuest = new command.local.Command("guest", { create: volume.disk.apply((d) => `attach ${d.type} ${d.path}`) });
  const storage = volume.openIn(guest, { dependsOn: analysisGuest });
  await settle();
  return { run, volume, storage };
}

/** Every string in the recorded wire inputs that holds the passphrase outside a secret wrapper. */
function leaks(resources: readonly RecordedResource[], needle: string): string[] {
  const found: string[] = [];
  const walk = (value: unknown, where: string): void => {
    if (typeof value === "string") {
      if (value.includes(needle)) found.push(where);
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${where}[${i}]`));
    } else if (value !== null && typeof value === "object") {
      const record = value as Record<string, unknown>;
      if (record[specialSigKey] === specialSecretSig) return;
      for (const [k, v] of Object.entries(record)) walk(v, `${where}.${k}`);
    }
  };
  for (const r of resources) walk(r.wireInputs, r.name);
  return found;
}

// A constructor that throws leaves registrations in flight; let them land in this test's mock monitor.
afterEach(settle);

const names = (run: MockRun, urns: string[]) => urns.map((u) => run.resources.find((r) => r.urn === u)!.name);

describe("arguments", () => {
  test("sizes in whole MiB below 1 GiB are fine (what the case config allows)", () => {
    expect(planVolume({ ...fileArgs(), sizeGiB: 0.5 }).sizeBytes).toBe(512 * 1024 ** 2);
  });

  test("file backend: the file is the guest's disk; LUKS is opened in the guest", () => {
    expect(planVolume(fileArgs())).toMatchObject({
      backingPath: "/var/lib/forensic-lab/case-1/evidence.luks",
      mapperName: "forensic-case-1",
      sizeBytes: 5 * 1024 ** 3,
      retain: false,
      fastKdf: false,
      libvirtUri: "qemu:///system",
      luksWhere: "guest",
      disk: { path: "/var/lib/forensic-lab/case-1/evidence.luks", type: "file" },
    });
  });

  test("lvm backend: an LV named after the case; the host mapping is the guest's disk", () => {
    expect(planVolume(lvmArgs())).toMatchObject({
      backingPath: "/dev/forensic/forensic-case-1",
      volumeGroup: "forensic",
      lvName: "forensic-case-1",
      luksWhere: "host",
      disk: { path: "/dev/mapper/forensic-case-1", type: "block" },
    });
  });

  test.each<[string, Partial<Record<keyof EvidenceVolumeArgs, unknown>>, RegExp]>([
    ["caseId with a slash", { caseId: "a/b" }, /^caseId: must be 1-63 letters/],
    ["caseId empty", { caseId: "" }, /^caseId: /],
    ["caseId missing", { caseId: undefined }, /^caseId: must be a string/],
    ["unknown backend", { backend: "nfs" }, /^backend: must be 'file' or 'lvm'/],
    ["relative path", { path: "evidence.luks" }, /^path: must be absolute \(got 'evidence.luks'\); the evidence volume file$/],
    ["path is a folder", { path: "/var/lib/" }, /^path: must be written plainly as '\/var\/lib'/],
    ["path is /", { path: "/" }, /^path: must be a file, not '\/'/],
    ["no path", { path: undefined }, /^path: must be an absolute path; the evidence volume file/],
    ["size zero", { sizeGiB: 0 }, /^sizeGiB: must be at least 0.0625 GiB \(64 MiB/],
    ["size below 64 MiB", { sizeGiB: 0.03125 }, /^sizeGiB: must be at least 0.0625 GiB/],
    ["size not in whole MiB", { sizeGiB: 0.3 }, /^sizeGiB: must be a whole number of MiB/],
    ["size beyond 16 TiB", { sizeGiB: 16385 }, /^sizeGiB: must be at most 16384 GiB/],
    ["size as text", { sizeGiB: "5" }, /^sizeGiB: must be a plain number of GiB/],
    ["unencrypted", { encrypted: false }, /^encrypted: must be the literal true/],
    ["retain as an Output", { retain: pulumi.output(true) }, /^retain: must be a plain boolean \(not an Output\)/],
    ["fast KDF as text", { fastKdfForTestsOnly: "yes" }, /^fastKdfForTestsOnly: must be a plain boolean/],
    ["remote libvirt", { libvirtUri: "qemu+ssh://root@lab/system" }, /^libvirtUri: must be the local qemu:\/\/\/system; volumes on remote/],
    ["root's session daemon", { libvirtUri: "qemu:///session" }, /^libvirtUri: is qemu:\/\/\/session, which runs QEMU as root/],
    ["volumeGroup on a file volume", { volumeGroup: "vg" }, /^volumeGroup: unknown key$/],
  ])("refuses %s with a message naming the field", (_, change, message) => {
    expect(() => planVolume({ ...fileArgs(), ...change })).toThrow(message);
  });

  test("lvm backend needs a valid volume group and no path", () => {
    expect(() => planVolume({ ...lvmArgs(), volumeGroup: "-vg" })).toThrow(/^volumeGroup: must be an LVM volume group name/);
    expect(() => planVolume({ ...lvmArgs(), volumeGroup: undefined })).toThrow(/^volumeGroup: must be a string/);
    expect(() => planVolume({ ...lvmArgs(), path: "/x" })).toThrow(/^path: unknown key$/);
  });

  test("the component wraps a validation error as a ResourceError naming the component", async () => {
    await setupMocks();
    const { EvidenceVolume } = await import("./EvidenceVolume");
    const build = () => new EvidenceVolume("bad", { ...fileArgs(), sizeGiB: 0 });
    expect(build).toThrow(pulumi.ResourceError);
    expect(build).toThrow("EvidenceVolume 'bad': sizeGiB: must be at least 0.0625 GiB (64 MiB: LUKS2 header plus a filesystem)");
  });
});

describe("the passphrase", () => {
  test.each<[string, unknown, string]>([
    ["a plain string", PASSPHRASE, "not a plain string"],
    ["a promise", Promise.resolve(PASSPHRASE), "not a plain promise"],
    ["missing", undefined, "not missing"],
  ])("refuses %s at once", async (_, passphrase, message) => {
    await setupMocks();
    const { EvidenceVolume } = await import("./EvidenceVolume");
    const build = () => new EvidenceVolume("vol", { ...fileArgs(), passphrase: passphrase as pulumi.Input<string> });
    expect(build).toThrow(pulumi.ResourceError);
    expect(build).toThrow(
      `EvidenceVolume 'vol': passphrase: must be a secret Output (config.requireSecret(...) or pulumi.secret(...)), ${message}`,
    );
  });

  test("refuses an Output that is not secret: the run fails before the LUKS step registers", () => {
    // The engine reports a failed registration as an unhandled rejection, which ends the program, so
    // run such a program in its own process and look at what a user would see.
    const r = spawnSync(TSX, [path.join(REPO_ROOT, "test/fixtures/non-secret-passphrase.ts")], { encoding: "utf8", timeout: 60_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(
      "EvidenceVolume 'vol': passphrase: must be a secret Output (config.requireSecret(...) or pulumi.secret(...)), not an Output that is not secret",
    );
    expect(r.stdout).toContain("registered: vol vol-backing\n");
    expect(r.stdout + r.stderr).not.toContain("not-a-secret-passphrase");
  });

  test.each([
    ["file", fileArgs],
    ["lvm", lvmArgs],
  ])("%s backend: it is on the wire only as a wrapped secret, and only the LUKS step reads it", async (_, args) => {
    const { run } = await lab(args());
    expect(run.resources.length).toBeGreaterThan(3);
    expect(leaks(run.resources, PASSPHRASE)).toEqual([]);
    const readers = run.resources.filter((r) => r.inputs.stdin !== undefined);
    expect(readers.map((r) => r.name)).toEqual(["vol-luks"]);
    expect(readers[0].wireInputs.stdin).toEqual({ [specialSigKey]: specialSecretSig, value: PASSPHRASE });
    expect(readers[0].additionalSecretOutputs).toEqual(["stdin"]);
    // The component's own inputs (what policies read) carry it wrapped too.
    expect(run.byName("vol").wireInputs.passphrase).toEqual({ [specialSigKey]: specialSecretSig, value: PASSPHRASE });
  });
});

describe("file backend", () => {
  test("host: a backing file; guest: LUKS opened, then the case storage mounted", async () => {
    const { run } = await lab(fileArgs());
    const volume = run.byName("vol");
    expect(volume.type).toBe(TYPE.EvidenceVolume);
    expect(volume.inputs).toMatchObject({ backend: "file", encrypted: true, retain: false, fastKdfForTestsOnly: false, sizeGiB: 5 });

    const backing = run.byName("vol-backing");
    expect(backing.parent).toBe(volume.urn);
    expect(backing.inputs.create).toContain("# forensic-lab hook: components/evidence-volume/hooks/host-backing-create.sh");
    expect(hookValue(backing.inputs.create, "BACKING_PATH")).toBe("/var/lib/forensic-lab/case-1/evidence.luks");
    expect(hookValue(backing.inputs.create, "SIZE_BYTES")).toBe("5368709120");
    expect(backing.inputs.delete).toContain("hooks/host-backing-delete.sh");
    expect(hookValue(backing.inputs.delete, "RETAIN")).toBe("false");
    expect(backing.inputs.interpreter).toEqual(["/bin/bash", "-c"]);
    expect(backing.inputs.triggers).toEqual(["file", "/var/lib/forensic-lab/case-1/evidence.luks", "forensic-case-1"]);
    expect(backing.deleteBeforeReplace).toBe(true);

    const luks = run.byName("vol-luks");
    expect(luks.parent).toBe(volume.urn);
    expect(luks.inputs.create).toContain("# forensic-lab hook: lib/hooks/in-guest.sh");
    expect(hookValue(luks.inputs.create, "ON_GUEST_GONE")).toBe("fail");
    expect(inner(luks.inputs.create)).toContain("hooks/any-luks-open.sh");
    expect(hookValue(inner(luks.inputs.create), "DEVICE")).toBe("/dev/disk/by-id/virtio-forensic-evidence");
    expect(hookValue(inner(luks.inputs.create), "FAST_KDF")).toBe("false");
    expect(hookValue(luks.inputs.delete, "ON_GUEST_GONE")).toBe("succeed");
    expect(inner(luks.inputs.delete)).toContain("hooks/any-luks-close.sh");

    const storage = run.byName("vol-case-storage");
    expect(inner(storage.inputs.create)).toContain("hooks/guest-storage-mount.sh");
    expect(hookValue(inner(storage.inputs.create), "DEVICE")).toBe("/dev/mapper/forensic-case-1");
    expect(hookValue(inner(storage.inputs.create), "MOUNT_POINT")).toBe("/case");
    expect(inner(storage.inputs.delete)).toContain("hooks/guest-storage-umount.sh");
    expect(hookValue(storage.inputs.delete, "ON_GUEST_GONE")).toBe("succeed");
  });

  test("destroy: unmount and close in the guest, then the guest goes, then the host erases", async () => {
    const { run } = await lab(fileArgs());
    const order = names(run, run.destroyOrder()).filter((n) => n !== "vol");
    expect(order).toEqual(["vol-case-storage", "vol-luks", "guest", "vol-backing"]);
    expect(run.byName("vol-luks").dependencies).toEqual(expect.arrayContaining([run.byName("guest").urn, run.byName("vol-backing").urn]));
  });

  test("outputs: the guest's disk, and a fresh volume reported as it will be formatted", async () => {
    const { volume, storage } = await lab(fileArgs());
    expect(await valueOf(volume.backingPath)).toBe("/var/lib/forensic-lab/case-1/evidence.luks");
    expect(await valueOf(volume.disk)).toEqual({ path: "/var/lib/forensic-lab/case-1/evidence.luks", type: "file" });
    expect(await valueOf(volume.luksVersion)).toBe(2);
    expect(await valueOf(volume.cipher)).toBe("aes-xts-plain64");
    expect(await valueOf(volume.retained)).toBe(false);
    expect(await valueOf(storage.mountPoint)).toBe("/case");
    expect(await valueOf(storage.filesystem)).toBe("ext4");
  });

  test("outputs: an existing volume is reported as its header says", async () => {
    const { volume } = await lab(fileArgs(), { version: 1, cipher: "serpent-xts-plain64" });
    expect(await valueOf(volume.luksVersion)).toBe(1);
    expect(await valueOf(volume.cipher)).toBe("serpent-xts-plain64");
  });

  test("retain and the test-only KDF reach the hooks", async () => {
    const { run, volume } = await lab({ ...fileArgs(), retain: true, fastKdfForTestsOnly: true });
    expect(hookValue(run.byName("vol-backing").inputs.delete, "RETAIN")).toBe("true");
    expect(hookValue(inner(run.byName("vol-luks").inputs.create), "FAST_KDF")).toBe("true");
    expect(run.byName("vol").inputs).toMatchObject({ retain: true, fastKdfForTestsOnly: true });
    expect(await valueOf(volume.retained)).toBe(true);
  });
});

describe("lvm backend", () => {
  test("host: the LV, then LUKS opened on the host; the guest only mounts plaintext blocks", async () => {
    const { run } = await lab(lvmArgs());
    const backing = run.byName("vol-backing");
    expect(hookValue(backing.inputs.create, "BACKEND")).toBe("lvm");
    expect(hookValue(backing.inputs.create, "VOLUME_GROUP")).toBe("forensic");
    expect(hookValue(backing.inputs.create, "LV_NAME")).toBe("forensic-case-1");
    expect(hookValue(backing.inputs.create, "LV_TAG")).toBe("forensic-lab-evidence");

    const luks = run.byName("vol-luks");
    expect(luks.inputs.create).not.toContain("in-guest.sh");
    expect(luks.inputs.create).toContain("# forensic-lab hook: components/evidence-volume/hooks/any-luks-open.sh");
    expect(hookValue(luks.inputs.create, "DEVICE")).toBe("/dev/forensic/forensic-case-1");
    expect(hookValue(luks.inputs.create, "LUKS_TYPE")).toBe("luks2");
    expect(luks.inputs.delete).toContain("hooks/any-luks-close.sh");
    expect(luks.dependencies).toContain(backing.urn);
    expect(luks.deleteBeforeReplace).toBe(true);

    const storage = run.byName("vol-case-storage");
    expect(storage.inputs.create).toContain("in-guest.sh");
    expect(hookValue(inner(storage.inputs.create), "DEVICE")).toBe("/dev/disk/by-id/virtio-forensic-evidence");
    expect(
      run.resources
        .filter((r) => r.custom)
        .map((r) => r.name)
        .sort(),
    ).toEqual(["guest", "vol-backing", "vol-case-storage", "vol-luks"]);
  });

  test("destroy: unmount in the guest, the guest goes, then close on the host, then erase", async () => {
    const { run } = await lab(lvmArgs());
    const order = names(run, run.destroyOrder()).filter((n) => n !== "vol");
    expect(order).toEqual(["vol-case-storage", "guest", "vol-luks", "vol-backing"]);
    // The guest waits for the open mapping: it attaches /dev/mapper/..., which exists only after vol-luks.
    expect(run.byName("guest").dependencies).toContain(run.byName("vol-luks").urn);
  });

  test("outputs: the host mapping is the guest's block disk; version and cipher from the open volume", async () => {
    const { volume } = await lab(lvmArgs());
    expect(await valueOf(volume.backingPath)).toBe("/dev/forensic/forensic-case-1");
    expect(await valueOf(volume.disk)).toEqual({ path: "/dev/mapper/forensic-case-1", type: "block" });
    expect(await valueOf(volume.luksVersion)).toBe(2);
    expect(await valueOf(volume.cipher)).toBe("aes-xts-plain64");
  });
});

test("openIn is called once: one guest opens a volume", async () => {
  const { volume } = await lab(fileArgs());
  expect(() => volume.openIn(guest)).toThrow("EvidenceVolume 'vol': openIn was already called");
});
