/**
 * PartitionMount without an engine: literal args (readOnly, forbidden options, mount point rules), how
 * values reach the hooks (through the quoted prelude only), the resource graph (mount after attach,
 * undone in reverse) and replacement options. The hooks run for real in a guest in
 * PartitionMount.guest.test.ts.
 */
import * as pulumi from "@pulumi/pulumi";
import { hookBody, RESULT_MARKER } from "../../lib/shell";
import { LOCAL_COMMAND, TYPE } from "../../lib/tokens";
import { MockRun, settle, setupMocks, valueOf } from "../../test/mocks";
import { hookList, hookValue, innerHook, readRenderedHook } from "../../lib/rendered-hook";
import { ATTACH_HOOK } from "../nbd-attachment/plan";
import type { PartitionMount as PartitionMountClass } from "./PartitionMount";
import { MOUNT_HOOK, mountResultSchema, UMOUNT_HOOK } from "./plan";
import { testGuestConnection } from "../../test/support/guest-connection";

const guest = testGuestConnection("nbd-unit");

const attachResult = { device: "/dev/nbd3", sectorSize: 512, label: "dos", partitions: [] };
const mountResult = {
  mounts: [
    {
      partition: 1,
      device: "/dev/nbd3p1",
      mountPoint: "/mnt/forensic/win7/p1",
      filesystem: "ntfs",
      vfsType: "fuseblk",
      options: ["ro", "nosuid", "nodev", "noexec", "user_id=0", "group_id=0", "allow_other", "blksize=4096"],
      requestedOptions: ["ro", "norecover", "uid=1000", "gid=1000", "umask=0277", "nodev", "nosuid", "noexec"],
    },
  ],
  skipped: [],
};

function hookStdout(args: pulumi.runtime.MockResourceArgs): Record<string, string> | undefined {
  if (args.type !== LOCAL_COMMAND) return undefined;
  const create = String(args.inputs.create ?? "");
  if (create.includes(ATTACH_HOOK)) return { stdout: `${RESULT_MARKER}${JSON.stringify(attachResult)}` };
  if (create.includes(MOUNT_HOOK)) return { stdout: `mounting\n${RESULT_MARKER}${JSON.stringify(mountResult)}` };
  return undefined;
}

let run: MockRun;
let mount: PartitionMountClass;
let PartitionMount: typeof PartitionMountClass;

beforeAll(async () => {
  run = await setupMocks({ outputsFor: hookStdout });
  const { NbdAttachment } = await import("../nbd-attachment/NbdAttachment");
  ({ PartitionMount } = await import("./PartitionMount"));
  const attachment = new NbdAttachment("win7", { guest, imagePath: "/case/images/win7/win7.vmdk", format: "vmdk", readOnly: true });
  mount = new PartitionMount("win7-p1", {
    guest,
    nbdDevice: attachment.nbdDevice,
    partition: 1,
    mountPoint: "/mnt/forensic/win7/p1",
    readOnly: true,
    extraOptions: ["noatime"],
  });
  await settle();
});

describe("PartitionMount args", () => {
  const base = { guest, nbdDevice: "/dev/nbd0", readOnly: true as const };
  test.each([
    ["readOnly false", { partition: 1, mountPoint: "/mnt/forensic/x/p1", readOnly: false }, /readOnly: must be the literal true/],
    ["rw", { partition: 1, mountPoint: "/mnt/forensic/x/p1", extraOptions: ["rw"] }, /'rw' is refused/],
    ["remount", { partition: 1, mountPoint: "/mnt/forensic/x/p1", extraOptions: ["remount"] }, /'remount' is refused/],
    ["suid", { partition: 1, mountPoint: "/mnt/forensic/x/p1", extraOptions: ["noatime", "suid"] }, /extraOptions\[1\]: 'suid' is refused/],
    ["dev", { partition: 1, mountPoint: "/mnt/forensic/x/p1", extraOptions: ["dev"] }, /'dev' is refused/],
    ["exec", { partition: 1, mountPoint: "/mnt/forensic/x/p1", extraOptions: ["exec"] }, /'exec' is refused/],
    ["recover", { partition: 1, mountPoint: "/mnt/forensic/x/p1", extraOptions: ["recover"] }, /'recover' is refused/],
    ["force", { partition: 1, mountPoint: "/mnt/forensic/x/p1", extraOptions: ["force"] }, /'force' is refused/],
    ["uid=0", { partition: 1, mountPoint: "/mnt/forensic/x/p1", extraOptions: ["uid=0"] }, /'uid=0' is refused/],
    ["two options in one", { partition: 1, mountPoint: "/mnt/forensic/x/p1", extraOptions: ["noatime,rw"] }, /no commas or spaces/],
    ["a relative mount point", { partition: 1, mountPoint: "mnt/x/p1" }, /mountPoint: must be absolute \(got/],
    ["a mount point with ..", { partition: 1, mountPoint: "/mnt/forensic/../etc" }, /mountPoint: must not contain '..'/],
    ["a top-level mount point", { partition: 1, mountPoint: "/p1" }, /mountPoint: must lie at least two folders deep/],
    ["a top-level mount root", { partition: "all", mountRoot: "/evidence" }, /mountRoot: must lie at least two folders deep/],
    ["a system folder", { partition: 1, mountPoint: "/etc/forensic/p1" }, /mountPoint: must not lie under a system folder/],
    ["all without mountRoot", { partition: "all" }, /mountRoot: is required with partition "all"/],
    [
      "all with mountPoint",
      { partition: "all", mountRoot: "/mnt/forensic/x", mountPoint: "/mnt/forensic/x/p1" },
      /mountPoint: is for one partition/,
    ],
    [
      "a number with mountRoot",
      { partition: 2, mountRoot: "/mnt/forensic/x" },
      /mountPoint: is required.*mountRoot: is for partition "all"/,
    ],
    [
      "partition -1",
      { partition: -1, mountPoint: "/mnt/forensic/x/p0" },
      /partition: must be a partition number from 1 \(0: the whole disk/,
    ],
    [
      "both an nbd device and an array",
      { partition: 0, mountPoint: "/mnt/forensic/x/a", arrayDevice: "/dev/mapper/fl-array-nas" },
      /nbdDevice: give exactly one of nbdDevice \(an image\) and arrayDevice \(an md array\)/,
    ],
    ["neither", { partition: 0, mountPoint: "/mnt/forensic/x/a", nbdDevice: undefined }, /nbdDevice: give exactly one of nbdDevice/],
    [
      "an array's partition 1",
      { partition: 1, mountPoint: "/mnt/forensic/x/a", nbdDevice: undefined, arrayDevice: "/dev/mapper/fl-array-nas" },
      /partition: must be 0, a logical volume vg\/lv or "all" with arrayDevice/,
    ],
  ])("%s is a ResourceError naming the field", (what, change, message) => {
    let caught: unknown;
    try {
      new PartitionMount(`bad-${what.replace(/\W+/g, "-")}`, { ...base, ...change } as never);
    } catch (err) {
      caught = err;
    }
    expect(pulumi.ResourceError.isInstance(caught)).toBe(true);
    expect((caught as Error).message).toMatch(message);
  });

  test("partition 0, the whole disk of a filesystem without a partition table, is accepted", () => {
    expect(() => new PartitionMount("ok-whole", { ...base, partition: 0, mountPoint: "/mnt/forensic/whole/disk" })).not.toThrow();
  });

  test("the mount result: partition N is <nbd>pN, partition 0 the nbd device itself, nothing else", () => {
    const mount = (partition: number, device: string) => ({
      mounts: [
        {
          partition,
          device,
          mountPoint: "/mnt/forensic/x/p",
          filesystem: "ext4",
          vfsType: "ext4",
          options: ["ro"],
          requestedOptions: ["ro"],
        },
      ],
      skipped: [],
    });
    expect(mountResultSchema.safeParse(mount(0, "/dev/nbd3")).success).toBe(true);
    expect(mountResultSchema.safeParse(mount(2, "/dev/nbd3p2")).success).toBe(true);
    expect(mountResultSchema.safeParse(mount(0, "/dev/nbd3p1")).success).toBe(false);
    expect(mountResultSchema.safeParse(mount(2, "/dev/nbd3")).success).toBe(false);
    expect(mountResultSchema.safeParse(mount(2, "/dev/nbd3p12")).success).toBe(false);
    expect(mountResultSchema.safeParse(mount(1, "/dev/sda1")).success).toBe(false);
    // A RaidArray's mapping is partition 0 of itself; never a numbered partition, never another mapping.
    expect(mountResultSchema.safeParse(mount(0, "/dev/mapper/fl-array-nas")).success).toBe(true);
    expect(mountResultSchema.safeParse(mount(1, "/dev/mapper/fl-array-nas")).success).toBe(false);
    expect(mountResultSchema.safeParse(mount(0, "/dev/mapper/fl-array-nas-r0")).success).toBe(false);
    expect(mountResultSchema.safeParse(mount(0, "/dev/mapper/other")).success).toBe(false);
    // What VolumeSystems opened inside an array: its LUKS as partition 0, its logical volumes.
    expect(mountResultSchema.safeParse(mount(0, "/dev/mapper/fl-array_nas_luks-p0")).success).toBe(true);
    expect(mountResultSchema.safeParse(mount(1, "/dev/mapper/fl-array_nas_luks-p0")).success).toBe(false);
    const lv = (device: string) => ({
      mounts: [
        {
          logicalVolume: "vg1000/lv",
          device,
          mountPoint: "/mnt/forensic/x/lv",
          filesystem: "ext4",
          vfsType: "ext4",
          options: ["ro"],
          requestedOptions: ["ro"],
        },
      ],
      skipped: [],
    });
    expect(mountResultSchema.safeParse(lv("/dev/mapper/fl-array_nas_lvm-vg1000-lv")).success).toBe(true);
    expect(mountResultSchema.safeParse(lv("/dev/mapper/fl-array-nas_lvm-vg1000-lv")).success).toBe(false);
    expect(mountResultSchema.safeParse(lv("/dev/mapper/fl-array_Nas_lvm-vg1000-lv")).success).toBe(false);
  });

  test('an md array\'s logical volumes (arrayDevice with volumes) are accepted, "all" too', () => {
    const array = { ...base, nbdDevice: undefined, arrayDevice: "/dev/mapper/fl-array-nas", volumes: [] };
    expect(
      () => new PartitionMount("ok-array-lv", { ...array, partition: "vg1000/lv", mountPoint: "/mnt/forensic/arrays/nas" }),
    ).not.toThrow();
    expect(() => new PartitionMount("ok-array-all", { ...array, partition: "all", mountRoot: "/mnt/forensic/arrays/nas" })).not.toThrow();
  });

  test("an md array's filesystem (arrayDevice) is partition 0, and reaches the hooks as ARRAY_DEVICE", async () => {
    new PartitionMount("ok-array", {
      guest,
      arrayDevice: "/dev/mapper/fl-array-nas",
      partition: 0,
      mountPoint: "/mnt/forensic/arrays/nas",
      readOnly: true,
    });
    await settle();
    const cmd = run.byName("ok-array-mount");
    for (const step of ["create", "delete"]) {
      const text = innerHook(String(cmd.inputs[step]));
      expect(hookValue(text, "ARRAY_DEVICE")).toBe("/dev/mapper/fl-array-nas");
      expect(hookValue(text, "NBD_DEVICE")).toBe("");
    }
  });

  test("a mount point right under /media is accepted (its parent is left alone)", () => {
    expect(() => new PartitionMount("ok-media", { ...base, partition: 1, mountPoint: "/media/usb-data" })).not.toThrow();
  });

  test("harmless additions are accepted", () => {
    expect(
      () =>
        new PartitionMount("ok-opts", {
          ...base,
          partition: "all",
          mountRoot: "/mnt/forensic/ok",
          extraOptions: ["noatime", "iocharset=utf8", "norecovery"],
        }),
    ).not.toThrow();
  });
});

describe("PartitionMount resources", () => {
  test("one mount command, deleted before it is replaced, that depends on the attachment", () => {
    const component = run.byName("win7-p1");
    expect(component.type).toBe(TYPE.PartitionMount);
    expect(component.inputs.readOnly).toBe(true);
    expect(component.inputs.partition).toBe(1);
    expect(component.inputs.extraOptions).toEqual(["noatime"]);
    const cmd = run.byName("win7-p1-mount");
    expect(cmd.parent).toBe(component.urn);
    expect(cmd.deleteBeforeReplace).toBe(true);
    expect(cmd.replaceOnChanges).toEqual(["create", "triggers[*]"]); // @pulumi/command adds "triggers[*]" itself
    expect(cmd.dependencies).toContain(run.byName("win7-attach").urn);
  });

  test("create and delete get the device and mount point through the prelude", () => {
    const cmd = run.byName("win7-p1-mount");
    const create = innerHook(String(cmd.inputs.create));
    expect(readRenderedHook(create).body).toBe(hookBody(MOUNT_HOOK));
    expect(hookValue(create, "NBD_DEVICE")).toBe("/dev/nbd3");
    expect(hookValue(create, "PARTITION")).toBe("1");
    expect(hookValue(create, "MOUNT_POINT")).toBe("/mnt/forensic/win7/p1");
    expect(hookList(create, "EXTRA_OPTIONS")).toEqual(["noatime"]);
    expect(hookValue(create, "EXAMINER_UID")).toBe("1000");
    const del = String(cmd.inputs.delete);
    expect(hookValue(del, "ON_GUEST_GONE")).toBe("succeed");
    const inner = innerHook(del);
    expect(readRenderedHook(inner).body).toBe(hookBody(UMOUNT_HOOK));
    expect(hookValue(inner, "LAZY_UNMOUNT")).toBe("false");
  });

  test("pulumi destroy unmounts before it disconnects", () => {
    const order = run.destroyOrder();
    expect(order.indexOf(run.byName("win7-p1-mount").urn)).toBeLessThan(order.indexOf(run.byName("win7-attach").urn));
  });

  test("outputs come from the hook's result line", async () => {
    expect(await valueOf(mount.mounts)).toEqual(mountResult.mounts);
  });
});
