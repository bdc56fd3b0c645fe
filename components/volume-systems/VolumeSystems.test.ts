/**
 * VolumeSystems without an engine: literal args, how the locations reach the hook (the prelude) and the
 * keys (stdin only, a wrapped secret), the resource graph (open after attach, mount after open, undone
 * in reverse), the result schema, and PartitionMount's use of what was opened. The hooks run for real in
 * a guest in VolumeSystems.guest.test.ts.
 */
import * as pulumi from "@pulumi/pulumi";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { hookBody, RESULT_MARKER } from "../../lib/shell";
import { LOCAL_COMMAND, TYPE } from "../../lib/tokens";
import { MockRun, settle, setupMocks, valueOf } from "../../test/mocks";
import { hookList, hookValue, innerHook, readRenderedHook } from "../../lib/rendered-hook";
import { testGuestConnection } from "../../test/support/guest-connection";
import { ATTACH_HOOK } from "../nbd-attachment/plan";
import { MOUNT_HOOK, mountResultSchema } from "../partition-mount/plan";
import type { VolumeSystems as VolumeSystemsClass } from "./VolumeSystems";
import { CLOSE_HOOK, keysStdin, OPEN_HOOK, openResultSchema } from "./plan";

const guest = testGuestConnection("volumes-unit");
const P2_KEY = "p2 key with 'quotes' and $(id)";
const HOME_KEY = "home\nkey";
const text = (value: string) => ({ value, encoding: "utf8" as const });

const attachResult = { device: "/dev/nbd3", sectorSize: 512, label: "gpt", partitions: [] };
const openResult = {
  volumes: [
    {
      partition: 2,
      layer: "luks",
      device: "/dev/mapper/fl-nbd3-luks-p2",
      over: ["/dev/nbd3p2"],
      sizeBytes: 41943040,
      detail: "LUKS2 aes-xts-plain64",
    },
    {
      logicalVolume: "vg0/home",
      layer: "lvm",
      device: "/dev/mapper/fl-nbd3-lvm-vg0-home",
      over: ["/dev/mapper/fl-nbd3-luks-p2"],
      sizeBytes: 12582912,
      detail: "linear",
    },
    {
      logicalVolume: "vg0/home",
      layer: "luks",
      device: "/dev/mapper/fl-nbd3-luks-vg0-home",
      over: ["/dev/mapper/fl-nbd3-lvm-vg0-home"],
      sizeBytes: 10485760,
      detail: "LUKS1 aes-xts-plain64",
    },
  ],
  skipped: [{ logicalVolume: "vg0/snap", layer: "lvm", reason: "it is a snapshot (lv_attr), not a plain volume; not mapped" }],
};

function hookStdout(args: pulumi.runtime.MockResourceArgs): Record<string, string> | undefined {
  if (args.type !== LOCAL_COMMAND) return undefined;
  const create = String(args.inputs.create ?? "");
  if (create.includes(ATTACH_HOOK)) return { stdout: `${RESULT_MARKER}${JSON.stringify(attachResult)}` };
  if (create.includes(OPEN_HOOK)) return { stdout: `${RESULT_MARKER}${JSON.stringify(openResult)}` };
  if (create.includes(MOUNT_HOOK)) return { stdout: `${RESULT_MARKER}${JSON.stringify({ mounts: [], skipped: [] })}` };
  return undefined;
}

let run: MockRun;
let volumes: VolumeSystemsClass;
let VolumeSystems: typeof VolumeSystemsClass;

beforeAll(async () => {
  run = await setupMocks({ outputsFor: hookStdout });
  const { NbdAttachment } = await import("../nbd-attachment/NbdAttachment");
  const { PartitionMount } = await import("../partition-mount/PartitionMount");
  ({ VolumeSystems } = await import("./VolumeSystems"));
  const attachment = new NbdAttachment("laptop", { guest, imagePath: "/case/images/laptop.raw", format: "raw", readOnly: true });
  volumes = new VolumeSystems("laptop-volumes", {
    guest,
    nbdDevice: attachment.nbdDevice,
    luks: [
      { at: 2, key: pulumi.secret(P2_KEY) },
      { at: "vg0/home", key: pulumi.secret(HOME_KEY) },
    ],
    readOnly: true,
  });
  new PartitionMount("laptop-all", {
    guest,
    nbdDevice: attachment.nbdDevice,
    volumes: volumes.volumes,
    partition: "all",
    mountRoot: "/mnt/forensic/laptop",
    readOnly: true,
  });
  await settle();
});

describe("VolumeSystems args", () => {
  const base = { guest, nbdDevice: "/dev/nbd0", readOnly: true as const };
  test.each([
    ["readOnly false", { readOnly: false }, /readOnly: must be the literal true/],
    ["a negative partition", { luks: [{ at: -1, key: "k" }] }, /luks\[0\]\.at: must be a partition number .* or a logical volume vg\/lv/],
    ["a path as location", { luks: [{ at: "/dev/sda2", key: "k" }] }, /luks\[0\]\.at: must be vg\/lv: a volume group and a logical volume/],
    ["a hostile LV name", { luks: [{ at: "vg/$(id)", key: "k" }] }, /luks\[0\]\.at: must be vg\/lv/],
    ["vg/..", { luks: [{ at: "vg/..", key: "k" }] }, /luks\[0\]\.at: must be vg\/lv/],
    ["no key", { luks: [{ at: 2 }] }, /luks\[0\]\.key: is required: the volume's passphrase/],
    [
      "two keys for one volume",
      {
        luks: [
          { at: 2, key: "a" },
          { at: 2, key: "b" },
        ],
      },
      /luks\[1\]\.at: 2 has a key already \(luks\[0\]\)/,
    ],
    ["BitLocker on a logical volume", { bitlocker: [{ at: "vg0/root", key: "k" }] }, /bitlocker\[0\]\.at: must be a partition number/],
    [
      "a LUKS and a BitLocker key for one partition",
      { luks: [{ at: 3, key: "a" }], bitlocker: [{ at: 3, key: "b" }] },
      /bitlocker\[0\]\.at: 3 has a key already \(luks\[0\]\)/,
    ],
    ["a BitLocker volume without a key", { bitlocker: [{ at: 1 }] }, /bitlocker\[0\]\.key: is required/],
    ["both an image and an array", { arrayDevice: "/dev/mapper/fl-array-nas" }, /nbdDevice: give exactly one of nbdDevice \(an image\)/],
    ["neither an image nor an array", { nbdDevice: undefined }, /nbdDevice: give exactly one of nbdDevice/],
  ])("%s is a ResourceError naming the field", (what, change, message) => {
    let caught: unknown;
    try {
      new VolumeSystems(`bad-${what.replace(/\W+/g, "-")}`, { ...base, ...change } as never);
    } catch (err) {
      caught = err;
    }
    expect(pulumi.ResourceError.isInstance(caught)).toBe(true);
    expect((caught as Error).message).toMatch(message);
  });

  test("partition 0 (a LUKS disk without partition table) and vg/lv names LVM allows are accepted", () => {
    expect(() => new VolumeSystems("ok-0", { ...base, luks: [{ at: 0, key: "k" }] })).not.toThrow();
    expect(() => new VolumeSystems("ok-lv", { ...base, luks: [{ at: "vg_0.x+/lv-home", key: "k" }] })).not.toThrow();
  });
});

describe("VolumeSystems resources", () => {
  test("one open command, after the attachment, before the mounts; destroy closes after unmounting and before detaching", () => {
    const cmd = run.byName("laptop-volumes-open");
    expect(cmd.parent).toBe(run.byName("laptop-volumes").urn);
    expect(run.byName("laptop-volumes").type).toBe(TYPE.VolumeSystems);
    expect(cmd.deleteBeforeReplace).toBe(true);
    expect(cmd.dependencies).toContain(run.byName("laptop-attach").urn);
    expect(run.byName("laptop-all-mount").dependencies).toContain(cmd.urn);
    const order = run.destroyOrder();
    expect(order.indexOf(run.byName("laptop-all-mount").urn)).toBeLessThan(order.indexOf(cmd.urn));
    expect(order.indexOf(cmd.urn)).toBeLessThan(order.indexOf(run.byName("laptop-attach").urn));
  });

  test("the locations reach the hook through the prelude; the keys only on stdin, a wrapped secret", () => {
    const cmd = run.byName("laptop-volumes-open");
    const create = innerHook(String(cmd.inputs.create));
    expect(readRenderedHook(create).body).toBe(hookBody(OPEN_HOOK));
    expect(hookValue(create, "NBD_DEVICE")).toBe("/dev/nbd3");
    expect(hookList(create, "LUKS_AT")).toEqual(["2", "vg0/home"]);
    expect(readRenderedHook(innerHook(String(cmd.inputs.delete))).body).toBe(hookBody(CLOSE_HOOK));
    const wire = JSON.stringify(run.resources.map((r) => ({ ...r.wireInputs, stdin: undefined })));
    for (const key of [P2_KEY, HOME_KEY, Buffer.from(P2_KEY).toString("base64")])
      expect(wire).not.toContain(JSON.stringify(key).slice(1, -1));
    expect(cmd.wireInputs.stdin).toEqual({ [specialSigKey]: specialSecretSig, value: keysStdin([text(P2_KEY), text(HOME_KEY)]) });
    expect(cmd.additionalSecretOutputs).toEqual(["stdin"]);
  });

  test("on an md array: ARRAY_DEVICE reaches both hooks, NBD_DEVICE empty", async () => {
    new VolumeSystems("nas-volumes", { guest, arrayDevice: "/dev/mapper/fl-array-nas", luks: [{ at: 0, key: "k" }], readOnly: true });
    await settle();
    for (const step of ["create", "delete"]) {
      const text = innerHook(String(run.byName("nas-volumes-open").inputs[step]));
      expect(hookValue(text, "ARRAY_DEVICE")).toBe("/dev/mapper/fl-array-nas");
      expect(hookValue(text, "NBD_DEVICE")).toBe("");
    }
  });

  test("without keys there is no stdin at all", async () => {
    new VolumeSystems("no-keys", { guest, nbdDevice: "/dev/nbd1", readOnly: true });
    await settle();
    expect(run.byName("no-keys-open").inputs.stdin).toBeUndefined();
    expect(hookList(innerHook(String(run.byName("no-keys-open").inputs.create)), "LUKS_AT")).toEqual([]);
  });

  test("BitLocker locations have a list of their own; their keys follow the LUKS keys on stdin", async () => {
    new VolumeSystems("both", {
      guest,
      nbdDevice: "/dev/nbd2",
      luks: [{ at: "vg0/home", key: pulumi.secret(HOME_KEY) }],
      bitlocker: [{ at: 3, key: pulumi.secret("284867-596541") }],
      readOnly: true,
    });
    await settle();
    const cmd = run.byName("both-open");
    const create = innerHook(String(cmd.inputs.create));
    expect(hookList(create, "LUKS_AT")).toEqual(["vg0/home"]);
    expect(hookList(create, "BITLOCKER_AT")).toEqual(["3"]);
    expect(cmd.wireInputs.stdin).toEqual({ [specialSigKey]: specialSecretSig, value: keysStdin([text(HOME_KEY), text("284867-596541")]) });
    expect(JSON.stringify({ ...cmd.wireInputs, stdin: undefined })).not.toContain("284867-596541");
  });

  test("a startup key (.BEK, given in base64) reaches the hook as its own bytes, not as the text of its base64", async () => {
    const bek = Buffer.from([0x9c, 0, 0, 0, 1, 0, 0, 0, 0x30, 0, 0, 0, 0xff, 0xfe]);
    new VolumeSystems("bek", {
      guest,
      nbdDevice: "/dev/nbd4",
      bitlocker: [{ at: 2, key: pulumi.secret(bek.toString("base64")), kind: "startupKey" }],
      readOnly: true,
    });
    await settle();
    const stdin = run.byName("bek-open").wireInputs.stdin as { value: string };
    expect(Buffer.from(stdin.value.trim(), "base64")).toEqual(bek);
  });

  test("keys on stdin: one base64 line each, so a key may hold a line break", () => {
    expect(keysStdin([text("a\nb"), text("c")])).toBe("YQpi\nYw==\n");
    // A startup key file's bytes arrive in base64 and go on as exactly those bytes.
    expect(keysStdin([{ value: " nAAAAAEAAAA=\n", encoding: "base64" }])).toBe("nAAAAAEAAAA=\n");
  });

  test("PartitionMount gets what was opened, as three lists in one order", () => {
    const create = innerHook(String(run.byName("laptop-all-mount").inputs.create));
    expect(hookList(create, "VOLUME_AT")).toEqual(["2", "vg0/home", "vg0/home"]);
    expect(hookList(create, "VOLUME_LAYER")).toEqual(["luks", "lvm", "luks"]);
    expect(hookList(create, "VOLUME_DEVICE")).toEqual(openResult.volumes.map((v) => v.device));
  });

  test("outputs come from the hook's result line", async () => {
    expect(await valueOf(volumes.volumes)).toEqual(openResult.volumes);
    expect(await valueOf(volumes.skipped)).toEqual(openResult.skipped);
  });
});

describe("result schemas", () => {
  const volume = (over: object) => ({ volumes: [{ ...openResult.volumes[1], ...over }], skipped: [] });
  test("an opened volume is a mapping of this lab's, at a partition or an LV, never both", () => {
    expect(openResultSchema.safeParse(openResult).success).toBe(true);
    expect(openResultSchema.safeParse(volume({ device: "/dev/mapper/vg0-home" })).success).toBe(false);
    expect(openResultSchema.safeParse(volume({ device: "/dev/sda1" })).success).toBe(false);
    expect(openResultSchema.safeParse(volume({ partition: 2 })).success).toBe(false);
    expect(openResultSchema.safeParse(volume({ logicalVolume: "vg0/../../etc" })).success).toBe(false);
    // Inside an md array: fl-array_<name>_..., '_' after the array's name (names hold '-', never '_').
    expect(openResultSchema.safeParse(volume({ device: "/dev/mapper/fl-array_nas_lvm-vg1000-lv" })).success).toBe(true);
    expect(openResultSchema.safeParse(volume({ device: "/dev/mapper/fl-array-nas-lvm-vg1000-lv" })).success).toBe(false);
    expect(openResultSchema.safeParse(volume({ device: "/dev/mapper/fl-array_nas_x_lvm-vg1000-lv" })).success).toBe(false);
  });

  test("a RAID1 member's data is a layer of its own (md), at a partition; no other layer name passes", () => {
    const md = {
      partition: 1,
      layer: "md",
      device: "/dev/mapper/fl-nbd3-md-p1",
      over: ["/dev/nbd3p1"],
      sizeBytes: 29360128,
      detail: "RAID1 member, md 1.2, device 0 of 2",
    };
    expect(
      openResultSchema.safeParse({ volumes: [md], skipped: [{ partition: 2, layer: "md", reason: "md level 0 needs its other members" }] })
        .success,
    ).toBe(true);
    expect(openResultSchema.safeParse({ volumes: [{ ...md, layer: "raid" }], skipped: [] }).success).toBe(false);
  });

  test("a mount: an LV's device is a mapping; a partition's is its nbd partition or its own LUKS or RAID1 mapping", () => {
    const mount = (at: object, device: string) => ({
      mounts: [
        { ...at, device, mountPoint: "/mnt/forensic/x/p", filesystem: "ext4", vfsType: "ext4", options: ["ro"], requestedOptions: ["ro"] },
      ],
      skipped: [],
    });
    expect(mountResultSchema.safeParse(mount({ logicalVolume: "vg0/root" }, "/dev/mapper/fl-nbd3-lvm-vg0-root")).success).toBe(true);
    expect(mountResultSchema.safeParse(mount({ partition: 2 }, "/dev/mapper/fl-nbd3-luks-p2")).success).toBe(true);
    expect(mountResultSchema.safeParse(mount({ partition: 3 }, "/dev/mapper/fl-nbd3-luks-p2")).success).toBe(false);
    expect(mountResultSchema.safeParse(mount({ partition: 1 }, "/dev/mapper/fl-nbd3-md-p1")).success).toBe(true);
    expect(mountResultSchema.safeParse(mount({ partition: 2 }, "/dev/mapper/fl-nbd3-md-p1")).success).toBe(false);
    expect(mountResultSchema.safeParse(mount({ logicalVolume: "vg0/root" }, "/dev/nbd3p1")).success).toBe(false);
    expect(mountResultSchema.safeParse(mount({ partition: 1, logicalVolume: "vg0/root" }, "/dev/nbd3p1")).success).toBe(false);
    expect(mountResultSchema.safeParse(mount({}, "/dev/nbd3p1")).success).toBe(false);
  });
});
