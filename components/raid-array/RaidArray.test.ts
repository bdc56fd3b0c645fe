/**
 * RaidArray under the engine-less mocks: args checks, the resources and their order, what reaches the
 * hook, the result schema, and the policy pack's read-only reading of its hook texts.
 */
import * as pulumi from "@pulumi/pulumi";
import { hookBody, RESULT_MARKER } from "../../lib/shell";
import { LOCAL_COMMAND, TYPE } from "../../lib/tokens";
import { MockRun, settle, setupMocks, valueOf } from "../../test/mocks";
import { hookList, hookValue, innerHook, readRenderedHook } from "../../lib/rendered-hook";
import { testGuestConnection } from "../../test/support/guest-connection";
import { readHookText } from "../../policy/lib/shell-text";
import { evidenceAccess, redirectWrite, writeCapability } from "../../policy/lib/evidence-writes";
import { ATTACH_HOOK } from "../nbd-attachment/plan";
import type { RaidArray as RaidArrayClass } from "./RaidArray";
import { validateRaidArrayArgs } from "./args";
import { arrayResultSchema, ASSEMBLE_HOOK, DISASSEMBLE_HOOK, memberDevice } from "./plan";

const guest = testGuestConnection("raid-unit");
const arrayResult = {
  device: "/dev/mapper/fl-array-nas",
  uuid: "0a1b2c3d:4e5f6071:8293a4b5:c6d7e8f9",
  metadata: "1.2",
  level: 5,
  detail: "RAID5 (raid5_ls), chunk 64 KiB",
  state: "degraded",
  members: [
    { device: "/dev/nbd0p3", role: 0 },
    { device: "/dev/nbd1", role: 2 },
  ],
  missingRoles: [1],
  sizeBytes: 81788928,
  health: "A-A",
};

let run: MockRun;
let nas: RaidArrayClass;
let RaidArray: typeof RaidArrayClass;

beforeAll(async () => {
  let attached = 0;
  run = await setupMocks({
    outputsFor: (args: pulumi.runtime.MockResourceArgs) => {
      if (args.type !== LOCAL_COMMAND) return undefined;
      const create = String(args.inputs.create ?? "");
      if (create.includes(ATTACH_HOOK))
        return {
          stdout: `${RESULT_MARKER}${JSON.stringify({ device: `/dev/nbd${attached++}`, sectorSize: 512, label: null, partitions: [] })}`,
        };
      if (create.includes(ASSEMBLE_HOOK)) return { stdout: `${RESULT_MARKER}${JSON.stringify(arrayResult)}` };
      return undefined;
    },
  });
  const { NbdAttachment } = await import("../nbd-attachment/NbdAttachment");
  ({ RaidArray } = await import("./RaidArray"));
  const disk1 = new NbdAttachment("disk1", { guest, imagePath: "/case/images/disk1.raw", format: "raw", readOnly: true });
  const disk3 = new NbdAttachment("disk3", { guest, imagePath: "/case/images/disk3.raw", format: "raw", readOnly: true });
  nas = new RaidArray("nas", {
    guest,
    name: "nas",
    members: [
      { nbdDevice: disk1.nbdDevice, partition: 3, label: "image disk1 partition 3" },
      { nbdDevice: disk3.nbdDevice, partition: 0, label: "image disk3 (the whole disk)" },
    ],
    readOnly: true,
  });
  await settle();
});

describe("RaidArray args", () => {
  const member = { partition: 3, label: "image a partition 3" };
  const problems = (args: object) => {
    try {
      validateRaidArrayArgs({ name: "nas", members: [member], readOnly: true, ...args } as never);
      return "";
    } catch (err) {
      return (err as Error).message;
    }
  };

  test("a valid array passes", () => {
    expect(problems({})).toBe("");
  });

  test.each([
    [{ name: "NAS" }, /name: must be 1-32 characters/],
    [{ name: "nas-r2" }, /name: .*not ending in -r<digits>/],
    [{ members: [] }, /members: must name at least one member/],
    [{ members: [{ partition: -1, label: "x" }] }, /members\[0\]\.partition: must be a partition number/],
    [{ members: [{ partition: 1, label: "a\nb" }] }, /members\[0\]\.label: must be one line/],
    [{ members: [member, member] }, /members\[1\]\.label: names the same member as members\[0\]/],
    [{ readOnly: false }, /readOnly: must be the literal true/],
  ])("%j is refused with a message naming the key", (args, message) => {
    expect(problems(args)).toMatch(message);
  });
});

describe("RaidArray resources", () => {
  test("one assemble command, after every member's attachment; destroy removes it before detaching them", () => {
    const cmd = run.byName("nas-assemble");
    expect(run.byName("nas").type).toBe(TYPE.RaidArray);
    expect(cmd.parent).toBe(run.byName("nas").urn);
    expect(cmd.deleteBeforeReplace).toBe(true);
    const order = run.destroyOrder();
    for (const disk of ["disk1-attach", "disk3-attach"]) {
      expect(cmd.dependencies).toContain(run.byName(disk).urn);
      expect(order.indexOf(cmd.urn)).toBeLessThan(order.indexOf(run.byName(disk).urn));
    }
  });

  test("members reach the hook as devices and labels in one order; the name as a value, never spliced", () => {
    const create = innerHook(String(run.byName("nas-assemble").inputs.create));
    expect(readRenderedHook(create).body).toBe(hookBody(ASSEMBLE_HOOK));
    expect(hookValue(create, "ARRAY_NAME")).toBe("nas");
    expect(hookList(create, "MEMBER_DEVICES")).toEqual(["/dev/nbd0p3", "/dev/nbd1"]);
    expect(hookList(create, "MEMBER_LABELS")).toEqual(["image disk1 partition 3", "image disk3 (the whole disk)"]);
    const remove = innerHook(String(run.byName("nas-assemble").inputs.delete));
    expect(readRenderedHook(remove).body).toBe(hookBody(DISASSEMBLE_HOOK));
    expect(hookValue(remove, "ARRAY_NAME")).toBe("nas");
  });

  test("outputs come from the hook's result line", async () => {
    expect(await valueOf(nas.array)).toEqual(arrayResult);
    expect(await valueOf(nas.device)).toBe("/dev/mapper/fl-array-nas");
  });

  test("the policy pack reads both hooks as read-only: no write, no evidence access outside the rules", () => {
    for (const step of ["create", "delete"] as const) {
      const reading = readHookText(String(run.byName("nas-assemble").inputs[step]));
      expect(reading.invocations.length).toBeGreaterThan(10);
      expect(reading.invocations.map((i) => writeCapability(i) ?? evidenceAccess(i)).filter(Boolean)).toEqual([]);
      expect(reading.redirects.map(redirectWrite).filter(Boolean)).toEqual([]);
      expect(reading.opaque).toEqual([]);
    }
  });
});

describe("the result schema", () => {
  test("accepts the hook's line; a mapping that is not the array's, an unknown level or health is refused", () => {
    expect(arrayResultSchema.safeParse(arrayResult).success).toBe(true);
    const { health: _health, ...raid0 } = { ...arrayResult, level: 0, state: "complete", missingRoles: [] };
    expect(arrayResultSchema.safeParse(raid0).success).toBe(true);
    const raid6 = { ...arrayResult, level: 6, detail: "RAID6 (md left-symmetric), chunk 64 KiB", mdDevice: "/dev/md_fl_0badcafe" };
    expect(arrayResultSchema.safeParse(raid6).success).toBe(true);
    expect(arrayResultSchema.safeParse({ ...raid0, level: -1, detail: "linear (JBOD) of 2 members" }).success).toBe(true);
    for (const bad of [
      { device: "/dev/mapper/fl-nbd0-md-p3" },
      { device: "/dev/mapper/fl-array-nas-r0" },
      { device: "/dev/sda" },
      { level: 1 },
      { level: 7 },
      { level: -2 },
      { mdDevice: "/dev/md0" },
      { mdDevice: "/dev/nbd0" },
      { health: "AxA" },
      { members: [{ device: "/dev/sda1", role: 0 }] },
    ]) {
      expect(arrayResultSchema.safeParse({ ...arrayResult, ...bad }).success).toBe(false);
    }
  });

  test("a member's device: the nbd device for partition 0, its partition otherwise", () => {
    expect(memberDevice("/dev/nbd2", 0)).toBe("/dev/nbd2");
    expect(memberDevice("/dev/nbd2", 5)).toBe("/dev/nbd2p5");
  });
});
