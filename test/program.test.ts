/**
 * The real program (`index.ts`) for every stack in `stacks/`, run under the engine-less mocks: config is
 * validated and every image inspected before anything is registered, and the resource graph is what
 * the case asks for.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { inspectImage } from "../lib/inspect";
import { LOCAL_COMMAND, TYPE } from "../lib/tokens";
import { RecordedResource, setupMocks, settle, valueOf } from "./mocks";
import { ensureEvidence, runProgram } from "./support/run-program";
import { engineConfigFromStackFile, TEST_PASSPHRASE } from "./support/stack-config";

const root = path.resolve(__dirname, "..");
// Inspecting real evidence and running the program take seconds on a loaded 2-core machine.
jest.setTimeout(60_000);
const stackFiles = fs
  .readdirSync(path.join(root, "stacks"))
  .filter((f) => /^Pulumi\..+\.ya?ml$/.test(f))
  .map((f) => path.join("stacks", f));

describe.each(stackFiles)("%s", (stackFile) => {
  beforeAll(() => ensureEvidence(stackFile), 300_000);

  test("registers one Case and exports every image's manifest as inspect sees it", async () => {
    const { run, outputs } = await runProgram(stackFile);
    expect(run.byType(TYPE.Case)).toHaveLength(1);
    const evidence = (await valueOf(outputs.evidence as any)) as any[];
    const engine = engineConfigFromStackFile(path.join(root, stackFile));
    const images = JSON.parse(engine.config["forensic-lab:images"]) as { name: string; path: string; roots?: string[] }[];
    expect(evidence.map((e) => e.name)).toEqual(images.map((i) => i.name));
    for (const [i, image] of images.entries()) {
      const manifest = await inspectImage(image.path, { roots: image.roots });
      expect(evidence[i].format).toBe(manifest.format);
      expect(evidence[i].virtualSize).toBe(manifest.virtualSize);
      expect(evidence[i].files).toEqual(manifest.files);
      expect(evidence[i].files.every((f: any) => f.sha256 === undefined)).toBe(true); // no hashing at preview
    }
  });
});

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
    ).toEqual(["scp", "sshfs"]);
    expect(run.byType(TYPE.NbdAttachment)).toHaveLength(2);
    expect(run.byType(TYPE.PartitionMount)).toHaveLength(2);
    for (const type of [TYPE.EvidenceVolume, TYPE.AnalysisGuest, TYPE.ImageTransfer, TYPE.NbdAttachment, TYPE.PartitionMount]) {
      for (const r of run.byType(type)) expect(r.parent).toBe(lab.urn);
    }
    for (const r of run.byType(TYPE.NbdAttachment)) expect(r.inputs).toMatchObject({ readOnly: true, format: "vmdk" });
    for (const r of run.byType(TYPE.PartitionMount)) expect(r.inputs).toMatchObject({ readOnly: true, partition: "all" });
  });

  test("destroy undoes it in reverse: umount, disconnect, transfers, case storage, guest, volume", async () => {
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
    for (const name of ["win7-sshfs", "win7-scp"]) {
      const of = (type: string) => run.byType(type).find((r) => r.name.includes(`-${name}-`))!;
      const mount = below(of(TYPE.PartitionMount));
      const nbd = below(of(TYPE.NbdAttachment));
      const transfer = below(of(TYPE.ImageTransfer));
      expect(last(mount)).toBeLessThan(first(nbd));
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

describe("bad input stops the program before any resource exists", () => {
  const stackFile = "stacks/Pulumi.case-ci.yaml";
  beforeAll(() => ensureEvidence(stackFile), 300_000);

  test("a missing top image names the stack file and key", async () => {
    const engine = engineConfigFromStackFile(path.join(root, stackFile));
    const images = JSON.parse(engine.config["forensic-lab:images"]);
    images[1].path = "/nonexistent/evidence/x.vmdk";
    const run = await setupMocks({ ...engine, config: { ...engine.config, "forensic-lab:images": JSON.stringify(images) } });
    let program: () => Promise<unknown>;
    jest.isolateModules(() => {
      program = require("../index");
    });
    await expect(program!()).rejects.toThrow(/stacks\/Pulumi\.case-ci\.yaml: forensic-lab:images\[1\]\.path: .*x\.vmdk/);
    await settle();
    expect(run.resources).toHaveLength(0);
  });

  test("an evidence volume path that is a chain file under another name stops the program, naming the key and the file", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "volume alias "));
    try {
      const engine = engineConfigFromStackFile(path.join(root, stackFile));
      const images = JSON.parse(engine.config["forensic-lab:images"]);
      const manifest = await inspectImage(images[0].path, { roots: images[0].roots });
      const base = manifest.chain[manifest.chain.length - 1].path;
      fs.symlinkSync(path.dirname(base), path.join(dir, "alias"));
      const volume = path.join(dir, "alias", path.basename(base));
      const evidenceVolume = { ...JSON.parse(engine.config["forensic-lab:evidenceVolume"]), path: volume };
      const run = await setupMocks({
        ...engine,
        config: { ...engine.config, "forensic-lab:evidenceVolume": JSON.stringify(evidenceVolume) },
      });
      let program: () => Promise<unknown>;
      jest.isolateModules(() => {
        program = require("../index");
      });
      const err = await program!().then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message).toBe(
        `stacks/Pulumi.case-ci.yaml: forensic-lab:evidenceVolume.path: '${volume}' (resolves to '${base}') is '${base}', a file of images[0]; ` +
          "the lab writes and on destroy erases this file; choose a path outside the evidence (the default is <stateDir>/evidence.luks)",
      );
      await settle();
      expect(run.resources).toHaveLength(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a broken chain (missing parent) is caught by inspect, before anything is registered", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "broken chain "));
    try {
      const engine = engineConfigFromStackFile(path.join(root, stackFile));
      const images = JSON.parse(engine.config["forensic-lab:images"]);
      const top = path.join(dir, "top.vmdk");
      execFileSync("qemu-img", ["create", "-q", "-f", "vmdk", path.join(dir, "base.vmdk"), "16M"]);
      execFileSync("qemu-img", ["create", "-q", "-f", "vmdk", "-b", path.join(dir, "base.vmdk"), "-F", "vmdk", top]);
      fs.rmSync(path.join(dir, "base.vmdk"));
      images[0].path = top;
      const run = await setupMocks({ ...engine, config: { ...engine.config, "forensic-lab:images": JSON.stringify(images) } });
      let program: () => Promise<unknown>;
      jest.isolateModules(() => {
        program = require("../index");
      });
      await expect(program!()).rejects.toThrow(/forensic-lab:images\[0\]\.path: .*base\.vmdk/);
      await settle();
      expect(run.resources).toHaveLength(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
