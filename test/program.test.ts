/**
 * The real program (`index.ts`) for every stack in `stacks/`, run under the engine-less mocks: config is
 * validated and every image inspected before anything is registered. The CI case's whole resource graph
 * is checked in components/case/Case.test.ts.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { inspectImage } from "../lib/inspect";
import { TYPE } from "../lib/tokens";
import { setupMocks, settle, valueOf } from "./mocks";
import { ensureEvidence, runProgram } from "./support/run-program";
import { engineConfigFromStackFile } from "./support/stack-config";

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
