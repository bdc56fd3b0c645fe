/**
 * NbdAttachment without an engine: literal args, the pinned image spec, how values reach the hooks
 * (through the quoted prelude only), replacement options and outputs. The hooks run for real in a guest
 * in components/partition-mount/PartitionMount.guest.test.ts.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { hookBody, RESULT_MARKER } from "../../lib/shell";
import { hookList, hookValue, innerHook, readRenderedHook } from "../../lib/rendered-hook";
import { LOCAL_COMMAND, TYPE } from "../../lib/tokens";
import { MockRun, settle, setupMocks, valueOf } from "../../test/mocks";
import type { NbdAttachment as NbdAttachmentClass } from "./NbdAttachment";
import type { NbdAttachmentArgs } from "./args";
import { createHash } from "crypto";
import { ARRAY_RELEASE_SECONDS, ATTACH_HOOK, DETACH_HOOK, imageSpec, planAttachment } from "./plan";
import { testGuestConnection } from "../../test/support/guest-connection";

const PWNED = path.join(os.tmpdir(), "forensic-lab-nbd-unit-pwned");
const HOSTILE_TOP = `/case/images/win 7/it's "$(touch ${PWNED})"-000002.vmdk`;
const MIDDLE = "/case/images/win 7/win7-000001.vmdk";
const BASE = "/case/images/win 7/base/win7.vmdk";

const guest = testGuestConnection("nbd-unit");

const attachResult = {
  device: "/dev/nbd3",
  sectorSize: 512,
  label: "dos",
  partitions: [
    { number: 1, node: "/dev/nbd3p1", startSector: 2048, sizeSectors: 32768, type: "7", byteOffset: 1048576, sectorSize: 512 },
    { number: 2, node: "/dev/nbd3p2", startSector: 34816, sizeSectors: 96256, type: "83", byteOffset: 17825792, sectorSize: 512 },
  ],
};
function hookStdout(args: pulumi.runtime.MockResourceArgs): Record<string, string> | undefined {
  if (args.type !== LOCAL_COMMAND) return undefined;
  const create = String(args.inputs.create ?? "");
  if (create.includes(ATTACH_HOOK)) return { stdout: `attaching\n${RESULT_MARKER}${JSON.stringify(attachResult)}` };
  return undefined;
}

let run: MockRun;
let attachment: NbdAttachmentClass;
let NbdAttachment: typeof NbdAttachmentClass;

const goodArgs = (): NbdAttachmentArgs => ({
  guest,
  imagePath: HOSTILE_TOP,
  format: "vmdk",
  backingChain: [
    { path: MIDDLE, format: "vmdk" },
    { path: BASE, format: "vmdk" },
  ],
  readOnly: true,
});

beforeAll(async () => {
  fs.rmSync(PWNED, { force: true });
  run = await setupMocks({ outputsFor: hookStdout });
  ({ NbdAttachment } = await import("./NbdAttachment"));
  // The path arrives as an Output, as it does from ImageTransfer.
  attachment = new NbdAttachment("win7", { ...goodArgs(), imagePath: pulumi.output(HOSTILE_TOP) });
  await settle();
});

afterAll(() => fs.rmSync(PWNED, { force: true }));

describe("imageSpec", () => {
  test("names every layer's driver, pins each backing file, ends in backing null, all read-only", () => {
    const spec = imageSpec("vmdk", "/g/top.vmdk", [
      { path: "/g/mid.vmdk", format: "vmdk" },
      { path: "/g/base.vmdk", format: "vmdk" },
    ]);
    expect(spec.startsWith("json:")).toBe(true);
    expect(JSON.parse(spec.slice(5))).toEqual({
      driver: "vmdk",
      "read-only": true,
      file: { driver: "file", filename: "/g/top.vmdk" },
      backing: {
        driver: "vmdk",
        "read-only": true,
        file: { driver: "file", filename: "/g/mid.vmdk" },
        backing: { driver: "vmdk", "read-only": true, file: { driver: "file", filename: "/g/base.vmdk" }, backing: null },
      },
    });
  });

  test("a single-layer format gets no backing key (raw, vdi, vhdx and vpc drivers refuse it)", () => {
    expect(JSON.parse(imageSpec("raw", "/g/disk.img", []).slice(5))).toEqual({
      driver: "raw",
      "read-only": true,
      file: { driver: "file", filename: "/g/disk.img" },
    });
  });

  test("a layer that cannot have a parent but is given one is refused", () => {
    expect(() => imageSpec("raw", "/g/top.img", [{ path: "/g/base.img", format: "raw" }])).toThrow(
      /raw layer .* cannot have a backing file/,
    );
  });
});

describe("planAttachment", () => {
  test("each layer alone (to ask whether it declares a parent) and a state key from the spec", () => {
    const plan = planAttachment("vmdk", "/g/top.vmdk", [{ path: "/g/base.vmdk", format: "vmdk" }]);
    expect(plan.paths).toEqual(["/g/top.vmdk", "/g/base.vmdk"]);
    expect(plan.formats).toEqual(["vmdk", "vmdk"]);
    expect(plan.aloneSpecs).toEqual([imageSpec("vmdk", "/g/top.vmdk", []), imageSpec("vmdk", "/g/base.vmdk", [])]);
    expect(plan.stateKey).toBe(createHash("sha256").update(plan.spec).digest("hex"));
    expect(planAttachment("vpc", "/g/disk.vhd", []).aloneSpecs).toEqual([""]);
  });

  test.each([
    ["a relative top", "images/top.vmdk", [], /imagePath: must be absolute \(got 'images\/top.vmdk'\); a file in the guest/],
    ["a top with ..", "/case/../etc/top.vmdk", [], /imagePath: must not contain '..'/],
    ["a line break", "/case/top\n.vmdk", [], /imagePath: must be one line, without line breaks/],
    ["a relative layer", "/case/top.vmdk", [{ path: "base.vmdk", format: "vmdk" }], /backingChain\[0\]\.path: must be absolute/],
    ["an unknown layer format", "/case/top.vmdk", [{ path: "/case/base.iso", format: "iso" }], /backingChain\[0\]\.format: /],
  ])("%s is refused, naming the field", (_what, top, chain, message) => {
    expect(() => planAttachment("vmdk", top, chain as never)).toThrow(message);
  });
});

describe("planAttachment for an EWF set", () => {
  const segments = [1, 2, 3].map((n) => `/case/images/e01/layer-folders/0/disk.E0${n}`);

  test("ewfmount's raw file is what qemu-nbd serves, as raw; the folder is named by the segments", () => {
    const plan = planAttachment("ewf", segments[0], [], segments);
    const folder = `/run/forensic-lab/ewf/${createHash("sha256").update(JSON.stringify(segments)).digest("hex")}`;
    expect(plan.ewfMount).toBe(folder);
    expect(plan.spec).toBe(`json:{"driver":"raw","read-only":true,"file":{"driver":"file","filename":"${folder}/ewf1"}}`);
    expect(plan).toMatchObject({ qemuFormat: "raw", segments, paths: [segments[0]], formats: ["ewf"], aloneSpecs: [""] });
    // Another set (another segment list) gets another folder and so another spec.
    expect(planAttachment("ewf", segments[0], [], segments.slice(0, 2)).spec).not.toBe(plan.spec);
  });

  test.each([
    ["no segments", [], [], /segments: must list every segment of the set, starting with imagePath/],
    ["a list not starting with the first", [], [segments[1], segments[0]], /segments: must list every segment/],
    ["a segment twice", [], [segments[0], segments[0]], /segments: lists a segment twice/],
    ["a relative segment", [], [segments[0], "disk.E02"], /segments\[1\]: must be absolute/],
    ["a backing chain", [{ path: "/g/base.raw", format: "raw" }], segments, /backingChain: an EWF set has no backing chain/],
  ])("%s is refused, naming the field", (_what, chain, list, message) => {
    expect(() => planAttachment("ewf", segments[0], chain as never, list)).toThrow(message);
  });

  test("segments for another format are refused", () => {
    expect(() => planAttachment("raw", "/g/disk.raw", [], ["/g/disk.raw"])).toThrow(/segments: only applies to format ewf/);
  });
});

describe("NbdAttachment args", () => {
  test.each([
    ["readOnly false", { readOnly: false }, /readOnly: must be the literal true/],
    ["an unknown format", { format: "iso" }, /format: /],
    ["maxPartitions 0", { maxPartitions: 0 }, /maxPartitions: /],
    ["maxPartitions 2.5", { maxPartitions: 2.5 }, /maxPartitions: /],
  ])("%s is a ResourceError naming the field", (_what, change, message) => {
    const args = { ...goodArgs(), ...change } as unknown as NbdAttachmentArgs;
    let caught: unknown;
    try {
      new NbdAttachment(`bad-${String(_what).replace(/\W+/g, "-")}`, args);
    } catch (err) {
      caught = err;
    }
    expect(pulumi.ResourceError.isInstance(caught)).toBe(true);
    expect((caught as Error).message).toMatch(message);
  });
});

describe("NbdAttachment resources", () => {
  test("one attach command, child of the component, deleted before it is replaced", () => {
    const component = run.byName("win7");
    expect(component.type).toBe(TYPE.NbdAttachment);
    expect(component.inputs.readOnly).toBe(true);
    expect(component.inputs.format).toBe("vmdk");
    const attach = run.byName("win7-attach");
    expect(attach.type).toBe(LOCAL_COMMAND);
    expect(attach.parent).toBe(component.urn);
    expect(attach.deleteBeforeReplace).toBe(true);
    expect(attach.replaceOnChanges).toEqual(["create", "triggers[*]"]); // @pulumi/command adds "triggers[*]" itself
    expect(attach.inputs.interpreter).toEqual(["/bin/bash", "-c"]);
  });

  test("create runs guest-attach.sh in the guest; the path reaches it only through the quoted prelude", () => {
    const create = String(run.byName("win7-attach").inputs.create);
    expect(hookValue(create, "ON_GUEST_GONE")).toBe("fail");
    expect(hookValue(create, "GUEST_DOMAIN")).toBe("nbd-unit");
    const inner = innerHook(create);
    // The static part is the hook file byte for byte: nothing was spliced into it.
    expect(readRenderedHook(inner).body).toBe(hookBody(ATTACH_HOOK));
    expect(readRenderedHook(inner).body).not.toContain("win 7");
    const layers = [HOSTILE_TOP, MIDDLE, BASE];
    expect(hookList(inner, "LAYER_PATHS")).toEqual(layers);
    expect(hookList(inner, "LAYER_FORMATS")).toEqual(["vmdk", "vmdk", "vmdk"]);
    expect(hookValue(inner, "IMAGE_FORMAT")).toBe("vmdk");
    expect(hookValue(inner, "MAX_PARTITIONS")).toBe("16");
    expect(hookList(inner, "LAYER_ALONE_SPECS")).toEqual(layers.map((p) => imageSpec("vmdk", p, [])));
    expect(hookValue(inner, "STATE_KEY")).toBe(createHash("sha256").update(hookValue(inner, "IMAGE_SPEC")).digest("hex"));
    expect(hookValue(inner, "IMAGE_SPEC")).toBe(
      imageSpec("vmdk", HOSTILE_TOP, [
        { path: MIDDLE, format: "vmdk" },
        { path: BASE, format: "vmdk" },
      ]),
    );
    expect(fs.existsSync(PWNED)).toBe(false);
  });

  test("delete runs guest-detach.sh with the same spec, and a guest that is gone counts as detached; a member of an array waits for it", () => {
    const attach = run.byName("win7-attach");
    const del = String(attach.inputs.delete);
    expect(hookValue(del, "ON_GUEST_GONE")).toBe("succeed");
    const inner = innerHook(del);
    expect(readRenderedHook(inner).body).toBe(hookBody(DETACH_HOOK));
    const created = innerHook(String(attach.inputs.create));
    expect(hookValue(inner, "IMAGE_SPEC")).toBe(hookValue(created, "IMAGE_SPEC"));
    expect(hookValue(inner, "STATE_KEY")).toBe(hookValue(created, "STATE_KEY"));
    expect(hookValue(inner, "ARRAY_RELEASE_SECONDS")).toBe(String(ARRAY_RELEASE_SECONDS));
  });

  test("outputs come from the hook's result line", async () => {
    expect(await valueOf(attachment.nbdDevice)).toBe("/dev/nbd3");
    expect(await valueOf(attachment.partitions)).toEqual(attachResult.partitions);
  });
});
