import { execFileSync } from "child_process";
import * as fc from "fast-check";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { deriveSshPort, parseCaseConfig, type ParseSource } from "./parse";
import { MAX_IMAGES } from "./schema";
import type { CaseConfig } from "./types";
import { configErrorOf } from "../../test/support/config-error";

const FILE = "stacks/Pulumi.case-42.yaml";
const PASSPHRASE = "correct horse battery staple";

/** A valid config as YAML gives it (keys without the namespace); each case mutates a fresh copy. */
function valid(): Record<string, any> {
  return {
    caseId: "case-42",
    examiner: "Erika Mustermann",
    evidenceVolumePassphrase: PASSPHRASE,
    images: [
      { name: "win7", path: "/vmw/Win7/Win7-000003.vmdk", format: "vmdk" },
      { name: "usb", path: "/evidence/usb.raw", transfer: "scp", partitions: [1, { number: 2, options: ["show_sys_files"] }] },
    ],
  };
}

function source(overrides: Partial<ParseSource> = {}): ParseSource {
  return {
    file: FILE,
    secretKeys: new Set(["evidenceVolumePassphrase"]),
    requirePassphrase: true,
    checkFiles: false,
    ...overrides,
  };
}

function parse(raw: Record<string, unknown>, overrides: Partial<ParseSource> = {}): CaseConfig {
  return parseCaseConfig(raw, source(overrides));
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-config-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("defaults and resolution", () => {
  test("a minimal config resolves every default", () => {
    const c = parse(valid());
    expect(c.caseId).toBe("case-42");
    expect(c.libvirtUri).toBe("qemu:///system");
    expect(c.libvirtHost).toEqual({ kind: "local", uri: "qemu:///system", sshTarget: "", sshPort: 0, jumpHost: "" });
    expect(c.stateDir).toBe("/var/lib/forensic-lab/cases/case-42");
    expect(c.guest).toEqual({
      imageDir: "/var/lib/forensic-lab/guest-image/current",
      memoryMiB: 2048,
      vcpus: 2,
      network: "user-restricted",
      accelerator: "auto",
      sshPort: deriveSshPort("case-42"),
      sshPortSource: "derived",
      examinerUid: 1000,
    });
    expect(c.evidenceVolume).toEqual({
      backend: "file",
      path: "/var/lib/forensic-lab/cases/case-42/evidence.luks",
      sizeGiB: 20,
      retain: false,
      fastKdfForTestsOnly: false,
    });
    expect(c.images).toEqual([
      {
        name: "win7",
        path: "/vmw/Win7/Win7-000003.vmdk",
        format: "vmdk",
        transfer: "sshfs",
        mountRoot: "/mnt/forensic/win7",
        partitions: "all",
        luksKeys: [],
        bitlockerKeys: [],
        roots: [],
      },
      {
        name: "usb",
        path: "/evidence/usb.raw",
        format: undefined,
        transfer: "scp",
        mountRoot: "/mnt/forensic/usb",
        partitions: [
          { number: 1, mountPoint: "/mnt/forensic/usb/p1", options: [] },
          { number: 2, mountPoint: "/mnt/forensic/usb/p2", options: ["show_sys_files"] },
        ],
        luksKeys: [],
        bitlockerKeys: [],
        roots: [],
      },
    ]);
    expect(c.warnings).toEqual([]);
  });

  test("images[].roots: absolute folders, kept in order; a bad entry is named by its key", () => {
    const raw = valid();
    raw.images[0].roots = ["/vmw/shared-base", "/srv/evidence/case-42"];
    expect(parse(raw).images[0].roots).toEqual(["/vmw/shared-base", "/srv/evidence/case-42"]);
    raw.images[0].roots = ["/vmw/shared-base", "relative/folder", "/"];
    raw.images[1].roots = "/srv";
    raw.images[1].root = ["/srv"];
    const err = configErrorOf(() => parse(raw));
    expect(err.message.split("\n")).toEqual([
      `${FILE}: forensic-lab:images[0].roots[1]: must be absolute (got 'relative/folder'); give the absolute folder that holds some of this image's files`,
      `${FILE}: forensic-lab:images[0].roots[2]: must not be '/'; give the absolute folder that holds some of this image's files`,
      `${FILE}: forensic-lab:images[1].roots: must be a list of absolute folders (got '/srv')`,
      `${FILE}: forensic-lab:images[1].root: unknown key; did you mean 'roots'?`,
    ]);
  });

  test("the passphrase comes back as a secret Output, never as a plain field", async () => {
    const c = parse(valid());
    expect(pulumi.Output.isInstance(c.evidenceVolumePassphrase)).toBe(true);
    expect(await pulumi.isSecret(c.evidenceVolumePassphrase!)).toBe(true);
    expect(JSON.stringify({ ...c, evidenceVolumePassphrase: undefined })).not.toContain(PASSPHRASE);
  });

  test("stateDir moves the default volume file; an explicit sshPort and isolated network are kept", () => {
    const raw = valid();
    raw.stateDir = "/srv/cases/c42";
    raw.guest = { sshPort: 40022, network: "libvirt-isolated", isolatedNetwork: "forensic-isolated" };
    const c = parse(raw);
    expect(c.evidenceVolume).toMatchObject({ backend: "file", path: "/srv/cases/c42/evidence.luks" });
    expect(c.guest).toMatchObject({
      sshPort: 40022,
      sshPortSource: "configured",
      network: "libvirt-isolated",
      isolatedNetwork: "forensic-isolated",
    });
  });

  test("lvm backend and a remote libvirt host", () => {
    const raw = valid();
    raw.libvirtUri = "qemu+ssh://examiner@kvm01.example.org:2222/system";
    raw.evidenceVolume = { backend: "lvm", volumeGroup: "vg_cases", sizeGiB: 0.5, retain: true };
    const c = parse(raw);
    expect(c.evidenceVolume).toEqual({ backend: "lvm", volumeGroup: "vg_cases", sizeGiB: 0.5, retain: true, fastKdfForTestsOnly: false });
    expect(c.libvirtHost).toEqual({
      kind: "ssh",
      uri: "qemu+ssh://examiner@kvm01.example.org:2222/system",
      user: "examiner",
      host: "kvm01.example.org",
      sshTarget: "examiner@kvm01.example.org",
      sshPort: 2222,
      jumpHost: "examiner@kvm01.example.org:2222",
    });
  });

  test("objects as the engine passes them (JSON text) parse the same as YAML objects", () => {
    const raw = valid();
    raw.guest = { memoryMiB: 4096 };
    const engine = { ...raw, guest: JSON.stringify(raw.guest), images: JSON.stringify(raw.images), evidenceVolume: "{}" };
    const fromYaml = parse(raw);
    const fromEngine = parse(engine);
    expect({ ...fromEngine, evidenceVolumePassphrase: undefined }).toEqual({ ...fromYaml, evidenceVolumePassphrase: undefined });
    expect(fromEngine.guest.memoryMiB).toBe(4096);
  });

  test("custom mount points and extra options that only add", () => {
    const raw = valid();
    raw.images[1].partitions = [
      { number: 1, mountPoint: "/media/usb-data", options: "noatime,iocharset=utf8" },
      { number: 3, options: ["streams_interface=windows", "nosuid"] },
    ];
    const c = parse(raw);
    expect(c.images[1].partitions).toEqual([
      { number: 1, mountPoint: "/media/usb-data", options: ["noatime", "iocharset=utf8"] },
      { number: 3, mountPoint: "/mnt/forensic/usb/p3", options: ["streams_interface=windows", "nosuid"] },
    ]);
  });

  test("warnings: a passphrase still to be set (check-config), a weak test KDF, a stack named unlike its case", () => {
    const raw = valid();
    delete raw.evidenceVolumePassphrase;
    raw.evidenceVolume = { fastKdfForTestsOnly: true };
    const c = parse(raw, { requirePassphrase: false, file: "stacks/Pulumi.case-43.yaml" });
    expect(c.evidenceVolumePassphrase).toBeUndefined();
    expect(c.warnings.map((w) => `${w.key}: ${w.message}`)).toEqual([
      "forensic-lab:evidenceVolumePassphrase: is not set yet; set it with `pulumi config set --secret evidenceVolumePassphrase` before `pulumi up`",
      "forensic-lab:evidenceVolume.fastKdfForTestsOnly: is true: the LUKS key derivation is weakened for tests; never use this for a real case",
      "forensic-lab:caseId: 'case-42' differs from the stack name 'case-43'; name each stack after its case (one stack, one case)",
    ]);
  });

  test("an encrypted stack-file value counts as set for check-config", () => {
    const raw = { ...valid(), evidenceVolumePassphrase: { secure: "v1:Zm9v" } };
    const c = parse(raw, { requirePassphrase: false });
    expect(c.warnings).toEqual([]);
    expect(c.evidenceVolumePassphrase).toBeUndefined();
  });

  test("image files that exist pass checkFiles, symlinks to them too", () => {
    const image = path.join(tmp, "top.vmdk");
    fs.writeFileSync(image, "# Disk DescriptorFile\n");
    fs.symlinkSync(image, path.join(tmp, "link.vmdk"));
    const raw = valid();
    raw.images = [
      { name: "a", path: image },
      { name: "b", path: path.join(tmp, "link.vmdk") },
    ];
    expect(parse(raw, { checkFiles: true }).images.map((i) => i.path)).toEqual([image, path.join(tmp, "link.vmdk")]);
  });
});

describe("volume systems: logical volumes and LUKS keys", () => {
  const LAPTOP_KEY = "p2 passphrase";
  const laptop = () => {
    const raw = valid();
    raw.images[1].partitions = [1, "vg0/root", { logicalVolume: "vg0/home", mountPoint: "/mnt/forensic/usb-home", options: ["noatime"] }];
    raw.images[1].luksKeys = { 2: "usb-p2-key", "vg0/home": "usb-home-key" };
    raw["usb-p2-key"] = LAPTOP_KEY;
    raw["usb-home-key"] = "home passphrase";
    return raw;
  };
  const secrets = new Set(["evidenceVolumePassphrase", "usb-p2-key", "forensic-lab:usb-home-key"]);

  test("logical volumes are listed as vg/lv, mounted under <mountRoot>/lvm/<vg>/<lv> by default", () => {
    const usb = parse(laptop(), { secretKeys: secrets }).images[1];
    expect(usb.partitions).toEqual([
      { number: 1, mountPoint: "/mnt/forensic/usb/p1", options: [] },
      { logicalVolume: "vg0/root", mountPoint: "/mnt/forensic/usb/lvm/vg0/root", options: [] },
      { logicalVolume: "vg0/home", mountPoint: "/mnt/forensic/usb-home", options: ["noatime"] },
    ]);
  });

  test("each LUKS key names a secret config key; the program gets the passphrase as a secret Output", async () => {
    const usb = parse(laptop(), { secretKeys: secrets }).images[1];
    expect(usb.luksKeys.map(({ at, configKey }) => ({ at, configKey }))).toEqual([
      { at: 2, configKey: "usb-p2-key" },
      { at: "vg0/home", configKey: "usb-home-key" },
    ]);
    expect(pulumi.Output.isInstance(usb.luksKeys[0].key)).toBe(true);
    expect(await new Promise((resolve) => usb.luksKeys[0].key!.apply(resolve))).toBe(LAPTOP_KEY);
    expect(await (usb.luksKeys[0].key as unknown as { isSecret: Promise<boolean> }).isSecret).toBe(true);
  });

  test.each([
    [
      "a LUKS key in plain text",
      (raw: Record<string, any>) => void raw,
      new Set(["evidenceVolumePassphrase", "usb-p2-key"]),
      "forensic-lab:usb-home-key: is a LUKS key in plain text; remove it from the stack file and set it with `pulumi config set --secret usb-home-key`",
    ],
    [
      "a LUKS key that is not set",
      (raw: Record<string, any>) => delete raw["usb-p2-key"],
      secrets,
      "forensic-lab:usb-p2-key: is named in images[].luksKeys but not set; set it with `pulumi config set --secret usb-p2-key` (pipe it on stdin, not as an argument)",
    ],
    [
      "a key naming one of the lab's own settings",
      (raw: Record<string, any>) => (raw.images[1].luksKeys = { 2: "examiner" }),
      secrets,
      "forensic-lab:images[1].luksKeys.2: 'examiner' is one of the lab's own settings; name a config key of its own for this volume's passphrase",
    ],
    [
      "a location that is neither a partition nor vg/lv",
      (raw: Record<string, any>) => (raw.images[1].luksKeys = { "/dev/sda2": "usb-p2-key" }),
      secrets,
      "forensic-lab:images[1].luksKeys./dev/sda2: each key must be a partition number or a logical volume vg/lv that holds LUKS (got '/dev/sda2')",
    ],
    [
      "a logical volume name LVM would refuse",
      (raw: Record<string, any>) => (raw.images[1].partitions = ["vg0/$(id)"]),
      secrets,
      "forensic-lab:images[1].partitions[0].logicalVolume: must be vg/lv: a volume group and a logical volume name (letters, digits, '+', '_', '.', '-') (got 'vg0/$(id)')",
    ],
    [
      "a partition entry with both a number and a logical volume",
      (raw: Record<string, any>) => (raw.images[1].partitions = [{ number: 2, logicalVolume: "vg0/root" }]),
      secrets,
      "forensic-lab:images[1].partitions[0]: must name one partition number or one logicalVolume; it is a partition number, a logical volume vg/lv, or a mapping {number or logicalVolume, mountPoint, options}",
    ],
    [
      "a logical volume listed twice",
      (raw: Record<string, any>) => (raw.images[1].partitions = ["vg0/root", { logicalVolume: "vg0/root" }]),
      secrets,
      "forensic-lab:images[1].partitions[1]: logical volume vg0/root is listed twice (also partitions[0]); list each logical volume once",
    ],
  ])("%s: one line naming the key", (_, mutate, secretKeys, expected) => {
    const raw = laptop();
    mutate(raw);
    const err = configErrorOf(() => parse(raw, { secretKeys }));
    expect(err.message.split("\n")).toContain(`${FILE}: ${expected}`);
    expect(err.message).not.toContain(LAPTOP_KEY);
  });

  test("a BitLocker key names a secret config key for a partition; the program gets it as a secret Output", async () => {
    const raw = laptop();
    raw.images[0].bitlockerKeys = { 3: "win7-p3-recovery" };
    raw["win7-p3-recovery"] = "284867-596541-514998-422114-660297-261613-215424-199408";
    const win7 = parse(raw, { secretKeys: new Set([...secrets, "win7-p3-recovery"]) }).images[0];
    expect(win7.bitlockerKeys.map(({ at, configKey }) => ({ at, configKey }))).toEqual([{ at: 3, configKey: "win7-p3-recovery" }]);
    expect(await new Promise((resolve) => win7.bitlockerKeys[0].key!.apply(resolve))).toBe(raw["win7-p3-recovery"]);
    expect(await (win7.bitlockerKeys[0].key as unknown as { isSecret: Promise<boolean> }).isSecret).toBe(true);
    expect(win7.bitlockerKeys[0].kind).toBe("password");
  });

  /** A startup key file's shape: its length, version 1, then its entries (here zeros). */
  const bek = (length = 156) => {
    const b = Buffer.alloc(length);
    b.writeUInt32LE(length, 0);
    b.writeUInt32LE(1, 4);
    return b.toString("base64");
  };

  test("a BitLocker startup key (.BEK in base64) names a secret config key for a partition; kind startupKey", async () => {
    const raw = laptop();
    raw.images[0].bitlockerStartupKeys = { 2: "win7-bek" };
    raw["win7-bek"] = bek();
    const win7 = parse(raw, { secretKeys: new Set([...secrets, "win7-bek"]) }).images[0];
    expect(win7.bitlockerKeys.map(({ at, configKey, kind }) => ({ at, configKey, kind }))).toEqual([
      { at: 2, configKey: "win7-bek", kind: "startupKey" },
    ]);
    expect(await new Promise((resolve) => win7.bitlockerKeys[0].key!.apply(resolve))).toBe(raw["win7-bek"]);
  });

  test.each([
    ["not base64", "a passphrase, not a file"],
    [
      "a file of another kind",
      Buffer.from("PK\u0003\u0004 a zip file, not a startup key....................................").toString("base64"),
    ],
    ["a .BEK whose length field disagrees", bek(156).replace(/^nA/, "nQ")],
  ])("a startup key that is %s: one line naming the secret, never its value", (_, value) => {
    const raw = laptop();
    raw.images[0].bitlockerStartupKeys = { 2: "win7-bek" };
    raw["win7-bek"] = value;
    const err = configErrorOf(() => parse(raw, { secretKeys: new Set([...secrets, "win7-bek"]) }));
    expect(err.message).toMatch(
      /forensic-lab:win7-bek: (is not base64|does not decode to a BitLocker startup key file).*; set it with `base64 -w0 <the \.BEK file> \| pulumi config set --secret win7-bek`/,
    );
    expect(err.message).not.toContain(value);
  });

  test.each([
    [
      "a startup key for a partition that has a BitLocker passphrase too",
      (raw: Record<string, any>) => (
        (raw.images[0].bitlockerKeys = { 3: "win7-p3-key" }),
        (raw.images[0].bitlockerStartupKeys = { 3: "win7-bek" })
      ),
      "forensic-lab:images[0].bitlockerStartupKeys.3: partition 3 has a key in bitlockerKeys too; one key opens a volume, give one",
    ],
    [
      "a BitLocker key in plain text",
      (raw: Record<string, any>) => ((raw.images[0].bitlockerKeys = { 3: "win7-p3-key" }), (raw["win7-p3-key"] = "password12!@")),
      "forensic-lab:win7-p3-key: is a BitLocker key in plain text; remove it from the stack file and set it with `pulumi config set --secret win7-p3-key`",
    ],
    [
      "a BitLocker key that is not set",
      (raw: Record<string, any>) => (raw.images[0].bitlockerKeys = { 3: "win7-p3-key" }),
      "forensic-lab:win7-p3-key: is named in images[].bitlockerKeys but not set; set it with `pulumi config set --secret win7-p3-key` (pipe it on stdin, not as an argument)",
    ],
    [
      "BitLocker on a logical volume",
      (raw: Record<string, any>) => (raw.images[1].bitlockerKeys = { "vg0/root": "usb-p2-key" }),
      "forensic-lab:images[1].bitlockerKeys.vg0/root: each key must be the number of a partition (0: the whole disk) that holds BitLocker (got 'vg0/root')",
    ],
    [
      "one partition with a LUKS and a BitLocker key",
      (raw: Record<string, any>) => (raw.images[1].bitlockerKeys = { 2: "usb-p2-key" }),
      "forensic-lab:images[1].bitlockerKeys.2: partition 2 has a key in luksKeys too; a volume is LUKS or BitLocker, give one key",
    ],
  ])("%s: one line naming the key", (_, mutate, expected) => {
    const raw = laptop();
    mutate(raw);
    const err = configErrorOf(() => parse(raw, { secretKeys: secrets }));
    expect(err.message.split("\n")).toContain(`${FILE}: ${expected}`);
    expect(err.message).not.toContain("password12!@");
  });

  test("a LUKS key no image names any more (its image removed) is a warning, not an error", () => {
    const raw = laptop();
    delete raw.images[1].luksKeys;
    const c = parse(raw, { secretKeys: secrets });
    expect(c.warnings).toContainEqual({
      key: "forensic-lab:usb-p2-key",
      message:
        "is a secret no image or array names in its luksKeys, bitlockerKeys or bitlockerStartupKeys; remove it with `pulumi config rm usb-p2-key` if nothing needs it",
    });
  });

  test("check-config, before any secret is set, only warns about a missing LUKS key", () => {
    const raw = laptop();
    delete raw["usb-p2-key"];
    const c = parse(raw, { secretKeys: secrets, requirePassphrase: false });
    expect(c.warnings.map((w) => w.key)).toContain("forensic-lab:usb-p2-key");
    expect(c.images[1].luksKeys[0].key).toBeUndefined();
  });
});

describe("md arrays over several images (raidArrays)", () => {
  const nas = () => {
    const raw = valid();
    raw.images = ["disk1", "disk2", "disk3"].map((name) => ({ name, path: `/evidence/nas/${name}.raw` }));
    raw.raidArrays = [{ name: "nas", members: ["disk1:2", "disk3:2"] }];
    return raw;
  };
  const problems = (mutate: (raw: Record<string, any>) => void) => {
    const raw = nas();
    mutate(raw);
    return configErrorOf(() => parse(raw)).message;
  };

  test("members as image:partition; everything inside mounted under /mnt/forensic/arrays/<name> by default; none by default", () => {
    expect(parse(nas()).raidArrays).toEqual([
      {
        name: "nas",
        members: [
          { image: "disk1", partition: 2 },
          { image: "disk3", partition: 2 },
        ],
        mountRoot: "/mnt/forensic/arrays/nas",
        partitions: "all",
        luksKeys: [],
        bitlockerKeys: [],
      },
    ]);
    expect(parse(valid()).raidArrays).toEqual([]);
  });

  test("its contents as an image's: partition 0 (the array's filesystem) or vg/lv, with mount points and options, and keys", () => {
    const raw = nas();
    raw.raidArrays = JSON.stringify([
      {
        name: "nas",
        members: ["disk2:0"],
        partitions: [{ number: 0, mountPoint: "/media/nas", options: ["noatime"] }, "vg1000/lv"],
        luksKeys: { "vg1000/lv": "nas-key" },
      },
    ]);
    raw["nas-key"] = "a passphrase";
    const array = parse(raw, { secretKeys: new Set(["evidenceVolumePassphrase", "nas-key"]) }).raidArrays[0];
    expect(array).toMatchObject({
      members: [{ image: "disk2", partition: 0 }],
      partitions: [
        { number: 0, mountPoint: "/media/nas", options: ["noatime"] },
        { logicalVolume: "vg1000/lv", mountPoint: "/mnt/forensic/arrays/nas/lvm/vg1000/lv", options: [] },
      ],
      luksKeys: [{ at: "vg1000/lv", configKey: "nas-key" }],
    });
    expect(array.luksKeys[0].key).toBeDefined();
    // Before its secret is set: a warning that says where it is named.
    delete raw["nas-key"];
    expect(parse(raw, { secretKeys: new Set(["evidenceVolumePassphrase"]), requirePassphrase: false }).warnings).toContainEqual({
      key: "forensic-lab:nas-key",
      message:
        "is named in raidArrays[].luksKeys but not set; set it with `pulumi config set --secret nas-key` (pipe it on stdin, not as an argument)",
    });
  });

  test.each<[string, (raw: Record<string, any>) => void, string]>([
    [
      "an unknown image",
      (r) => (r.raidArrays[0].members[1] = "disk9:2"),
      "forensic-lab:raidArrays[0].members[1]: names image 'disk9', which is not in images ('disk1', 'disk2', 'disk3')",
    ],
    [
      "a member without partition",
      (r) => (r.raidArrays[0].members[0] = "disk1"),
      "forensic-lab:raidArrays[0].members[0]: must be image:partition, e.g. 'disk1:2' (0: the whole disk) (got 'disk1')",
    ],
    [
      "a member also listed in its image's partitions",
      (r) => (r.images[2].partitions = [1, 2]),
      "forensic-lab:raidArrays[0].members[1]: 'disk3:2' is also images[2].partitions[1]; an array member holds no filesystem of its own: list it in one place only",
    ],
    [
      "a member listed twice",
      (r) => r.raidArrays.push({ name: "other", members: ["disk1:2"] }),
      "forensic-lab:raidArrays[1].members[0]: 'disk1:2' is already a member in raidArrays[0].members[0]; list each member once",
    ],
    [
      "two arrays of one name",
      (r) => r.raidArrays.push({ name: "nas", members: ["disk2:2"] }),
      "forensic-lab:raidArrays[1].name: 'nas' is already the name of raidArrays[0]; array names must be unique",
    ],
    [
      "a name like a member's mapping",
      (r) => (r.raidArrays[0].name = "nas-r1"),
      "forensic-lab:raidArrays[0].name: must not end in -r<digits> (the members' mappings are named so) (got 'nas-r1')",
    ],
    [
      "no members",
      (r) => (r.raidArrays[0].members = []),
      "forensic-lab:raidArrays[0].members: must list at least one member as image:partition",
    ],
    [
      "a write option",
      (r) => (r.raidArrays[0].partitions = [{ number: 0, options: ["rw"] }]),
      "forensic-lab:raidArrays[0].partitions[0].options",
    ],
    [
      "a mount point over an image's",
      (r) => (r.raidArrays[0].partitions = [{ number: 0, mountPoint: "/mnt/forensic/disk1/x" }]),
      "forensic-lab:raidArrays[0].partitions[0].mountPoint: '/mnt/forensic/disk1/x' lies inside '/mnt/forensic/disk1' (the partitions of images[0] (all, under '/mnt/forensic/disk1')); mount points must not nest",
    ],
    [
      "a partition number other than 0",
      (r) => (r.raidArrays[0].partitions = [0, 2]),
      "forensic-lab:raidArrays[0].partitions[1]: must be 0 (the array's contents) or a logical volume vg/lv: a partition table inside an md array is not read (got 2)",
    ],
    [
      "a LUKS key at partition 1",
      (r) => (r.raidArrays[0].luksKeys = { "1": "nas-key" }),
      "forensic-lab:raidArrays[0].luksKeys.1: must be 0 (the array's contents) or a logical volume vg/lv: a partition table inside an md array is not read (got '1')",
    ],
    [
      "a logical volume listed twice",
      (r) => (r.raidArrays[0].partitions = ["vg1000/lv", "vg1000/lv"]),
      "forensic-lab:raidArrays[0].partitions[1]: logical volume vg1000/lv is listed twice (also partitions[0]); list each logical volume once",
    ],
    ["the old mountPoint", (r) => (r.raidArrays[0].mountPoint = "/media/nas"), "forensic-lab:raidArrays[0].mountPoint: unknown key"],
    ["an unknown key", (r) => (r.raidArrays[0].member = ["disk1:2"]), "member"],
  ])("%s: one line naming the key", (_what, mutate, message) => {
    expect(problems(mutate)).toContain(message);
  });
});

describe("ssh port derivation", () => {
  test("stable, documented formula, below the ephemeral range", () => {
    expect(deriveSshPort("case-demo")).toBe(deriveSshPort("case-demo"));
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9-]{2,39}$/), (caseId) => {
        const port = deriveSshPort(caseId);
        expect(port).toBeGreaterThanOrEqual(22000);
        expect(port).toBeLessThanOrEqual(31999);
        const digest = execFileSync("sha256sum", { input: caseId, encoding: "utf8" }).slice(0, 8);
        expect(port).toBe(22000 + (parseInt(digest, 16) % 10000));
      }),
      { numRuns: 25 },
    );
  });
});

type Mutation = (raw: Record<string, any>) => void;

/**
 * The corpus of wrong configs: each with the one line the examiner must see (file, key, what and how).
 * Every case asserts the complete line, so a vaguer or misplaced message fails.
 */
const corpus: [string, Mutation, string, Partial<ParseSource>?][] = [
  [
    "missing caseId",
    (r) => delete r.caseId,
    "forensic-lab:caseId: is required; name the case, e.g. 'case-42' (it names the libvirt domain and the case's files)",
  ],
  [
    "caseId with capitals and underscore",
    (r) => (r.caseId = "Case_42"),
    "forensic-lab:caseId: must be 3-40 characters: a lowercase letter, then lowercase letters, digits or '-' (got 'Case_42')",
  ],
  [
    "caseId too short",
    (r) => (r.caseId = "c4"),
    "forensic-lab:caseId: must be 3-40 characters: a lowercase letter, then lowercase letters, digits or '-' (got 'c4')",
  ],
  ["missing examiner", (r) => delete r.examiner, "forensic-lab:examiner: is required; the examiner's name goes into the custody log"],
  [
    "examiner of two lines",
    (r) => (r.examiner = "Erika\nMustermann"),
    "forensic-lab:examiner: must be one line of text without control characters",
  ],
  ["examiner as a number", (r) => (r.examiner = 42), "forensic-lab:examiner: must be text (got 42)"],
  [
    "libvirt URI of another transport",
    (r) => (r.libvirtUri = "qemu+tcp://kvm01/system"),
    "forensic-lab:libvirtUri: must be qemu:///system or qemu+ssh://[user@]host[:port]/system (got 'qemu+tcp://kvm01/system')",
  ],
  [
    "libvirt URI of root's session daemon (QEMU as root, no sVirt)",
    (r) => (r.libvirtUri = "qemu:///session"),
    "forensic-lab:libvirtUri: is qemu:///session, which runs QEMU as root (the hooks run as root) without sVirt confinement " +
      "(no SELinux/AppArmor label, no unprivileged QEMU user), so a guest that escapes QEMU is root on the host; use qemu:///system",
  ],
  [
    "libvirt URI skipping host key verification",
    (r) => (r.libvirtUri = "qemu+ssh://kvm01/system?no_verify=1"),
    "forensic-lab:libvirtUri: has query parameters (got 'qemu+ssh://kvm01/system?no_verify=1'); leave them out: the lab's ssh uses root's default key (~/.ssh/id_*) and ~/.ssh/known_hosts, verified",
  ],
  [
    "libvirt URI to a remote session daemon",
    (r) => (r.libvirtUri = "qemu+ssh://kvm01/session"),
    "forensic-lab:libvirtUri: must reach qemu:///system on a remote host (got 'qemu+ssh://kvm01/session'); a remote session daemon is not supported",
  ],
  [
    "libvirt URI with an impossible port",
    (r) => (r.libvirtUri = "qemu+ssh://kvm01:70000/system"),
    "forensic-lab:libvirtUri: has an invalid ssh port '70000' (got 'qemu+ssh://kvm01:70000/system'); use 1..65535",
  ],
  [
    "relative stateDir",
    (r) => (r.stateDir = "cases/42"),
    "forensic-lab:stateDir: must be absolute (got 'cases/42'); give an absolute folder for the case's state (keys, overlay, logs)",
  ],
  [
    "stateDir climbing out with ..",
    (r) => (r.stateDir = "/var/lib/forensic-lab/../../etc"),
    "forensic-lab:stateDir: must not contain '..' (got '/var/lib/forensic-lab/../../etc'); give an absolute folder for the case's state (keys, overlay, logs)",
  ],
  [
    "too little memory",
    (r) => (r.guest = { memoryMiB: 100 }),
    "forensic-lab:guest.memoryMiB: must be a whole number of MiB from 512 to 65536 (got 100)",
  ],
  ["fractional vcpus", (r) => (r.guest = { vcpus: 1.5 }), "forensic-lab:guest.vcpus: must be a whole number from 1 to 64 (got 1.5)"],
  ["vcpus as text", (r) => (r.guest = { vcpus: "2" }), "forensic-lab:guest.vcpus: must be a whole number from 1 to 64 (got '2')"],
  ["zero vcpus", (r) => (r.guest = { vcpus: 0 }), "forensic-lab:guest.vcpus: must be a whole number from 1 to 64 (got 0)"],
  [
    "unknown guest key close to a real one",
    (r) => (r.guest = { memoryMb: 4096 }),
    "forensic-lab:guest.memoryMb: unknown key; did you mean 'memoryMiB'?",
  ],
  ["unknown top-level key close to a real one", (r) => (r.examinor = "x"), "forensic-lab:examinor: unknown key; did you mean 'examiner'?"],
  [
    "unknown top-level key far from any",
    (r) => (r.colour = "blue"),
    "forensic-lab:colour: unknown key; known keys: caseId, evidenceVolume, evidenceVolumePassphrase, examiner, guest, images, libvirtUri, raidArrays, stateDir",
  ],
  ["guest as a list", (r) => (r.guest = [2048]), "forensic-lab:guest: must be a mapping of guest settings (got a list)"],
  [
    "guest as broken JSON from the engine",
    (r) => (r.guest = "{memoryMiB: 4096"),
    "forensic-lab:guest: must be a mapping of guest settings (got '{memoryMiB: 4096')",
  ],
  [
    "isolated network without its name",
    (r) => (r.guest = { network: "libvirt-isolated" }),
    "forensic-lab:guest.isolatedNetwork: is required with network: libvirt-isolated; name a libvirt network that has no <forward>",
  ],
  [
    "network name with user networking",
    (r) => (r.guest = { isolatedNetwork: "lab" }),
    "forensic-lab:guest.isolatedNetwork: only applies to network: libvirt-isolated; remove it or set network: libvirt-isolated",
  ],
  [
    "libvirt's NAT network as the isolated one",
    (r) => (r.guest = { network: "libvirt-isolated", isolatedNetwork: "default" }),
    "forensic-lab:guest.isolatedNetwork: names libvirt's 'default' network, which forwards to the outside (NAT); define an isolated network (no <forward>) and name it here",
  ],
  [
    "unknown network mode",
    (r) => (r.guest = { network: "nat" }),
    "forensic-lab:guest.network: must be 'user-restricted' or 'libvirt-isolated' (got 'nat')",
  ],
  [
    "unknown accelerator",
    (r) => (r.guest = { accelerator: "hvf" }),
    "forensic-lab:guest.accelerator: must be 'auto', 'kvm' or 'tcg' (got 'hvf')",
  ],
  [
    "privileged ssh port",
    (r) => (r.guest = { sshPort: 80 }),
    "forensic-lab:guest.sshPort: must be a whole number from 1024 to 65535 (got 80); leave it out to derive a port from caseId",
  ],
  [
    "root as the examiner",
    (r) => (r.guest = { examinerUid: 0 }),
    "forensic-lab:guest.examinerUid: must be a whole number from 1000 to 60000 (got 0); the mounts belong to this unprivileged examiner account",
  ],
  [
    "relative guest image folder",
    (r) => (r.guest = { imageDir: "guest-image/current" }),
    "forensic-lab:guest.imageDir: must be absolute (got 'guest-image/current'); give the folder guest-image/build.sh wrote (vmlinuz, initrd.img, rootfs.qcow2)",
  ],
  [
    "zero-sized volume",
    (r) => (r.evidenceVolume = { sizeGiB: 0 }),
    "forensic-lab:evidenceVolume.sizeGiB: must be a number of GiB from 0.0625 (64 MiB) to 16384 (got 0)",
  ],
  [
    "negative volume",
    (r) => (r.evidenceVolume = { sizeGiB: -5 }),
    "forensic-lab:evidenceVolume.sizeGiB: must be a number of GiB from 0.0625 (64 MiB) to 16384 (got -5)",
  ],
  [
    "oversized volume",
    (r) => (r.evidenceVolume = { sizeGiB: 20000 }),
    "forensic-lab:evidenceVolume.sizeGiB: must be a number of GiB from 0.0625 (64 MiB) to 16384 (got 20000)",
  ],
  [
    "volume too small for LUKS and a filesystem",
    (r) => (r.evidenceVolume = { sizeGiB: 0.03125 }),
    "forensic-lab:evidenceVolume.sizeGiB: must be a number of GiB from 0.0625 (64 MiB) to 16384 (got 0.03125)",
  ],
  [
    "volume not a whole number of MiB",
    (r) => (r.evidenceVolume = { sizeGiB: 1.0001 }),
    "forensic-lab:evidenceVolume.sizeGiB: must be a whole number of MiB (a multiple of 1/1024 GiB) (got 1.0001)",
  ],
  [
    "lvm without a volume group",
    (r) => (r.evidenceVolume = { backend: "lvm" }),
    "forensic-lab:evidenceVolume.volumeGroup: is required with backend: lvm; name the LVM volume group on the libvirt host",
  ],
  [
    "file backend with a volume group",
    (r) => (r.evidenceVolume = { volumeGroup: "vg_cases" }),
    "forensic-lab:evidenceVolume.volumeGroup: only applies to backend: lvm; remove it or set backend: lvm",
  ],
  [
    "lvm with a file path",
    (r) => (r.evidenceVolume = { backend: "lvm", volumeGroup: "vg0", path: "/srv/e.luks" }),
    "forensic-lab:evidenceVolume.path: only applies to backend: file; an lvm volume is a logical volume in volumeGroup, remove path",
  ],
  [
    "volume group name starting with '-'",
    (r) => (r.evidenceVolume = { backend: "lvm", volumeGroup: "-vg" }),
    "forensic-lab:evidenceVolume.volumeGroup: is not a valid LVM volume group name (got '-vg'); use letters, digits and '+_.-', not starting with '-'",
  ],
  [
    "retain as a word",
    (r) => (r.evidenceVolume = { retain: "no" }),
    "forensic-lab:evidenceVolume.retain: must be true or false (got 'no')",
  ],
  [
    "misspelt volume key",
    (r) => (r.evidenceVolume = { reatin: true }),
    "forensic-lab:evidenceVolume.reatin: unknown key; did you mean 'retain'?",
  ],
  [
    "unknown backend",
    (r) => (r.evidenceVolume = { backend: "zfs" }),
    "forensic-lab:evidenceVolume.backend: must be 'file' or 'lvm' (got 'zfs')",
  ],
  [
    "volume file that is an image",
    (r) => (r.evidenceVolume = { path: "/evidence/usb.raw" }),
    "forensic-lab:evidenceVolume.path: is the image file of images[1] ('/evidence/usb.raw'); destroy would erase it, choose another path",
  ],
  [
    "plaintext passphrase",
    (r) => r, // present but not listed as secret
    "forensic-lab:evidenceVolumePassphrase: is in plain text; remove it from the stack file and set it with `pulumi config set --secret evidenceVolumePassphrase` (pipe it on stdin)",
    { secretKeys: new Set() },
  ],
  [
    "missing passphrase in the program",
    (r) => delete r.evidenceVolumePassphrase,
    "forensic-lab:evidenceVolumePassphrase: is not set; set it with `pulumi config set --secret evidenceVolumePassphrase` (pipe it on stdin, not as an argument)",
  ],
  [
    "short passphrase",
    (r) => (r.evidenceVolumePassphrase = "hunter2"),
    "forensic-lab:evidenceVolumePassphrase: is shorter than 12 characters; set a longer one with `pulumi config set --secret evidenceVolumePassphrase`",
  ],
  [
    "two-line passphrase",
    (r) => (r.evidenceVolumePassphrase = "first line secret\nsecond"),
    "forensic-lab:evidenceVolumePassphrase: must be one line (it contains a line break or NUL byte); set it again with `pulumi config set --secret evidenceVolumePassphrase`",
  ],
  [
    "another key stored as a secret",
    (r) => r,
    "forensic-lab:examiner: is stored as a secret, but only evidenceVolumePassphrase is secret; set it in plain text (pulumi config set without --secret)",
    { secretKeys: new Set(["evidenceVolumePassphrase", "forensic-lab:examiner"]) },
  ],
  ["no images", (r) => delete r.images, "forensic-lab:images: is required; list at least one image (name, path of the top image file)"],
  ["empty image list", (r) => (r.images = []), "forensic-lab:images: must list at least one image (name, path of the top image file)"],
  [
    "more images than the guest has nbd devices",
    (r) => (r.images = Array.from({ length: 65 }, (_, i) => ({ name: `disk${i}`, path: `/vmw/disk${i}.vmdk` }))),
    "forensic-lab:images: must list at most 64 images: the analysis guest attaches each to an nbd device of its own and has 64; split the case",
  ],
  ["images as a mapping", (r) => (r.images = { win7: "/vmw/w.vmdk" }), "forensic-lab:images: must be a list of images (got a mapping)"],
  [
    "image name with capitals",
    (r) => (r.images[0].name = "Win7"),
    "forensic-lab:images[0].name: must be 1-32 characters: a lowercase letter or digit, then lowercase letters, digits or '-' (got 'Win7')",
  ],
  [
    "duplicate image names",
    (r) => (r.images[1].name = "win7"),
    "forensic-lab:images[1].name: 'win7' is already the name of images[0]; image names must be unique",
  ],
  [
    "relative image path",
    (r) => (r.images[1].path = "vmw/x.vmdk"),
    "forensic-lab:images[1].path: must be absolute (got 'vmw/x.vmdk'); give the full path of the top image file",
  ],
  [
    "image path with ..",
    (r) => (r.images[0].path = "/vmw/../etc/shadow"),
    "forensic-lab:images[0].path: must not contain '..' (got '/vmw/../etc/shadow'); give the full path of the top image file",
  ],
  [
    "image path with a double slash",
    (r) => (r.images[0].path = "/vmw//Win7.vmdk"),
    "forensic-lab:images[0].path: must be written plainly as '/vmw/Win7.vmdk' (got '/vmw//Win7.vmdk'); give the full path of the top image file",
  ],
  [
    "image without a path",
    (r) => delete r.images[0].path,
    "forensic-lab:images[0].path: is required; give the full path of the top image file",
  ],
  [
    "VHD by its usual name",
    (r) => (r.images[0].format = "vhd"),
    "forensic-lab:images[0].format: must be 'vmdk', 'qcow2', 'raw', 'vdi', 'vhdx', 'vpc' or 'ewf' (got 'vhd'); qemu calls VHD 'vpc'",
  ],
  [
    "EWF by its file extension",
    (r) => (r.images[0].format = "E01"),
    "forensic-lab:images[0].format: must be 'vmdk', 'qcow2', 'raw', 'vdi', 'vhdx', 'vpc' or 'ewf' (got 'E01'); an E01 segment set is 'ewf' (name its first segment, <name>.E01, as path)",
  ],
  ["unknown transfer", (r) => (r.images[0].transfer = "ftp"), "forensic-lab:images[0].transfer: must be 'sshfs' or 'scp' (got 'ftp')"],
  ["misspelt image key", (r) => (r.images[0].formt = "vmdk"), "forensic-lab:images[0].formt: unknown key; did you mean 'format'?"],
  [
    "partitions as a word other than all",
    (r) => (r.images[0].partitions = "some"),
    "forensic-lab:images[0].partitions: must be 'all' or a list, each a partition number, a logical volume vg/lv, or a mapping {number or logicalVolume, mountPoint, options} (got 'some')",
  ],
  [
    "empty partition list",
    (r) => (r.images[0].partitions = []),
    "forensic-lab:images[0].partitions: must be 'all' or a list, each a partition number, a logical volume vg/lv, or a mapping {number or logicalVolume, mountPoint, options} (got a list)",
  ],
  [
    "partition -1",
    (r) => (r.images[1].partitions = [-1]),
    "forensic-lab:images[1].partitions[0].number: must be a whole number from 0 to 128 (got -1); partitions are numbered from 1 as in the partition table; 0 is the whole disk, for a filesystem without a partition table",
  ],
  [
    "partition 129",
    (r) => (r.images[1].partitions = [{ number: 129 }]),
    "forensic-lab:images[1].partitions[0].number: must be a whole number from 0 to 128 (got 129); partitions are numbered from 1 as in the partition table; 0 is the whole disk, for a filesystem without a partition table",
  ],
  [
    "partition as text",
    (r) => (r.images[1].partitions = ["p1"]),
    "forensic-lab:images[1].partitions[0]: must be a partition number, a logical volume vg/lv, or a mapping {number or logicalVolume, mountPoint, options} (got 'p1')",
  ],
  [
    "duplicate partition numbers",
    (r) => (r.images[1].partitions = [2, { number: 2, mountPoint: "/mnt/x" }]),
    "forensic-lab:images[1].partitions[1]: partition 2 is listed twice (also partitions[0]); list each partition once",
  ],
  [
    "misspelt partition key",
    (r) => (r.images[1].partitions = [{ number: 1, mountpoint: "/mnt/x" }]),
    "forensic-lab:images[1].partitions[0].mountpoint: unknown key; did you mean 'mountPoint'?",
  ],
  [
    "mount option rw",
    (r) => (r.images[1].partitions = [{ number: 1, options: ["rw"] }]),
    "forensic-lab:images[1].partitions[0].options: 'rw' is not allowed: it would mount the evidence writable; evidence is always mounted read-only",
  ],
  [
    "mount option exec hidden in a comma list",
    (r) => (r.images[1].partitions = [{ number: 1, options: "noatime,exec" }]),
    "forensic-lab:images[1].partitions[0].options: 'exec' is not allowed: it would undo noexec; nothing on the evidence may run",
  ],
  [
    "mount option remount",
    (r) => (r.images[1].partitions = [{ number: 1, options: ["remount"] }]),
    "forensic-lab:images[1].partitions[0].options: 'remount' is not allowed: it changes an existing mount instead of adding an option",
  ],
  [
    "mount option suid",
    (r) => (r.images[1].partitions = [{ number: 1, options: ["suid"] }]),
    "forensic-lab:images[1].partitions[0].options: 'suid' is not allowed: it would undo nosuid; evidence must not run set-uid programs",
  ],
  [
    "mount option dev",
    (r) => (r.images[1].partitions = [{ number: 1, options: ["dev"] }]),
    "forensic-lab:images[1].partitions[0].options: 'dev' is not allowed: it would undo nodev; evidence must not provide device files",
  ],
  [
    "mount option recover",
    (r) => (r.images[1].partitions = [{ number: 1, options: ["recover"] }]),
    "forensic-lab:images[1].partitions[0].options: 'recover' is not allowed: it lets ntfs-3g repair an unclean NTFS volume, which writes to the evidence",
  ],
  [
    "mount option force",
    (r) => (r.images[1].partitions = [{ number: 1, options: ["force"] }]),
    "forensic-lab:images[1].partitions[0].options: 'force' is not allowed: it forces a mount of an unclean or hibernated volume (ntfs-3g) and invites repairs",
  ],
  [
    "negated norecovery",
    (r) => (r.images[1].partitions = [{ number: 1, options: ["norecovery=false"] }]),
    "forensic-lab:images[1].partitions[0].options: 'norecovery=false' is not allowed: it switches off 'norecovery'; extra options may add, never remove",
  ],
  [
    "double negative of noload",
    (r) => (r.images[1].partitions = [{ number: 1, options: ["nonoload"] }]),
    "forensic-lab:images[1].partitions[0].options: 'nonoload' is not allowed: it switches off 'noload'; extra options may add, never remove",
  ],
  [
    "journal replay by load",
    (r) => (r.images[1].partitions = [{ number: 1, options: ["load"] }]),
    "forensic-lab:images[1].partitions[0].options: 'load' is not allowed: it replays the ext3/ext4 journal, which writes to the evidence; the lab mounts with noload",
  ],
  [
    "hibernation file removal",
    (r) => (r.images[1].partitions = [{ number: 1, options: ["remove_hiberfile"] }]),
    "forensic-lab:images[1].partitions[0].options: 'remove_hiberfile' is not allowed: it deletes hiberfil.sys (ntfs-3g), destroying evidence",
  ],
  [
    "ownership override",
    (r) => (r.images[1].partitions = [{ number: 1, options: ["uid=0"] }]),
    "forensic-lab:images[1].partitions[0].options: 'uid=0' is not allowed: it is set by the lab (the examiner account, guest.examinerUid); change guest.examinerUid instead",
  ],
  [
    "option with shell characters",
    (r) => (r.images[1].partitions = [{ number: 1, options: ["x=$(id)"] }]),
    "forensic-lab:images[1].partitions[0].options: 'x=$(id)' is not a plain mount option; use name or name=value without spaces, quotes or shell characters",
  ],
  [
    "mount point over a system folder",
    (r) => (r.images[1].partitions = [{ number: 1, mountPoint: "/etc/evidence" }]),
    "forensic-lab:images[1].partitions[0].mountPoint: must lie under /mnt or /media (got '/etc/evidence'); evidence must not cover the guest's own folders",
  ],
  [
    "two partitions on one mount point",
    (r) =>
      (r.images[1].partitions = [
        { number: 1, mountPoint: "/mnt/usb" },
        { number: 2, mountPoint: "/mnt/usb" },
      ]),
    "forensic-lab:images[1].partitions[1].mountPoint: '/mnt/usb' is also the mount point of images[1] partition 1; every partition needs its own mount point",
  ],
  [
    "a custom mount point on another partition's default",
    (r) => (r.images[1].partitions = [1, { number: 2, mountPoint: "/mnt/forensic/usb/p1" }]),
    "forensic-lab:images[1].partitions[1].mountPoint: '/mnt/forensic/usb/p1' is also the mount point of images[1] partition 1; every partition needs its own mount point",
  ],
  [
    "a mount point inside another image's partitions",
    (r) => (r.images[1].partitions = [{ number: 1, mountPoint: "/mnt/forensic/win7/extra" }]),
    "forensic-lab:images[1].partitions[0].mountPoint: '/mnt/forensic/win7/extra' lies inside '/mnt/forensic/win7' (the partitions of images[0] (all, under '/mnt/forensic/win7')); mount points must not nest",
  ],
  [
    "a mount point containing another",
    (r) =>
      (r.images[1].partitions = [
        { number: 1, mountPoint: "/mnt/usb/data" },
        { number: 2, mountPoint: "/mnt/usb" },
      ]),
    "forensic-lab:images[1].partitions[1].mountPoint: '/mnt/usb' contains '/mnt/usb/data' (images[1] partition 1); mount points must not nest",
  ],
];

describe("wrong configs: one specific line each", () => {
  test("the corpus is large enough", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(25);
  });

  const rows = corpus.map(([name, mutate, expected, overrides]) => ({ name, mutate, expected, overrides }));
  test.each(rows)("$name", ({ mutate, expected, overrides }) => {
    const raw = valid();
    mutate(raw);
    const err = configErrorOf(() => parse(raw, overrides));
    expect(err.message.split("\n")).toContain(`${FILE}: ${expected}`);
    expect(err.issues).toContainEqual({
      key: expected.slice(0, expected.indexOf(": ")),
      message: expected.slice(expected.indexOf(": ") + 2),
    });
    // Only what was broken is reported, and no zod boilerplate leaks through.
    expect(err.issues).toHaveLength(1);
    expect(err.message).not.toMatch(/Invalid input|expected .* received|Unrecognized key/);
  });
});

describe("files (checkFiles)", () => {
  test("a missing image file", () => {
    const raw = valid();
    raw.images[0].path = path.join(tmp, "gone.vmdk");
    expect(configErrorOf(() => parse(raw, { checkFiles: true })).message).toBe(
      [
        `${FILE}: forensic-lab:images[0].path: no such file '${tmp}/gone.vmdk'; give the full path of the top image file`,
        `${FILE}: forensic-lab:images[1].path: no such file '/evidence/usb.raw'; give the full path of the top image file`,
      ].join("\n"),
    );
  });

  test("an image path that is a directory", () => {
    const raw = valid();
    raw.images = [{ name: "win7", path: tmp }];
    expect(configErrorOf(() => parse(raw, { checkFiles: true })).message).toBe(
      `${FILE}: forensic-lab:images[0].path: is a directory ('${tmp}'), not an image file; give the full path of the top image file (for VMware: the newest snapshot's .vmdk)`,
    );
  });

  test("an image path that is a FIFO", () => {
    const fifo = path.join(tmp, "pipe.vmdk");
    execFileSync("mkfifo", [fifo]);
    const raw = valid();
    raw.images = [{ name: "win7", path: fifo }];
    expect(configErrorOf(() => parse(raw, { checkFiles: true })).message).toBe(
      `${FILE}: forensic-lab:images[0].path: is not a regular file ('${fifo}'); give the full path of the top image file`,
    );
  });

  test("checkFiles off: paths of another machine are accepted", () => {
    expect(() => parse(valid(), { checkFiles: false })).not.toThrow();
  });
});

describe("all issues at once", () => {
  test("every problem is listed, one per line, before anything is built", () => {
    const raw = valid();
    raw.caseId = "X";
    raw.guest = { vcpus: 0, memoryMb: 1 };
    raw.images[1].path = "relative.raw";
    raw.evidenceVolumePassphrase = "short";
    const err = configErrorOf(() => parse(raw));
    expect(err.message.split("\n")).toEqual([
      `${FILE}: forensic-lab:caseId: must be 3-40 characters: a lowercase letter, then lowercase letters, digits or '-' (got 'X')`,
      `${FILE}: forensic-lab:guest.vcpus: must be a whole number from 1 to 64 (got 0)`,
      `${FILE}: forensic-lab:guest.memoryMb: unknown key; did you mean 'memoryMiB'?`,
      `${FILE}: forensic-lab:evidenceVolumePassphrase: is shorter than 12 characters; set a longer one with \`pulumi config set --secret evidenceVolumePassphrase\``,
      `${FILE}: forensic-lab:images[1].path: must be absolute (got 'relative.raw'); give the full path of the top image file`,
    ]);
    expect(err.issues).toHaveLength(5);
  });

  test("the Pulumi runtime shows a ConfigError without a stack trace (RunError marker)", () => {
    const err = configErrorOf(() => parse({}));
    expect(pulumi.RunError.isInstance(err)).toBe(true);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe("ConfigError");
  });

  test("no passphrase ever appears in a message (property)", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 40 }).map((s) => `pass-\u03a9${s}`),
        (secret) => {
          for (const secretKeys of [new Set<string>(), new Set(["evidenceVolumePassphrase"])]) {
            const raw = { ...valid(), caseId: "BAD", evidenceVolumePassphrase: secret };
            const err = configErrorOf(() => parse(raw, { secretKeys }));
            expect(err.message).not.toContain(secret);
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});

test("a case lists no more images than the guest image gives nbd devices (nbds_max)", () => {
  const conf = fs.readFileSync(path.join(__dirname, "../../guest-image/rootfs/etc/modprobe.d/forensic-lab.conf"), "utf8");
  expect(/^options nbd .*\bnbds_max=(\d+)/m.exec(conf)?.[1]).toBe(String(MAX_IMAGES));
});
