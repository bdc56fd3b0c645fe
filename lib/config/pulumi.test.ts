/**
 * `loadCaseConfigFromPulumi` as a program sees it: config handed over by the (mock) engine, converted
 * from the shipped stack files by `test/support/stack-config.ts`.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { setupMocks, settle, valueOf } from "../../test/mocks";
import { engineConfigFromStackFile, TEST_PASSPHRASE, type EngineConfig } from "../../test/support/stack-config";
import { loadCaseConfigFromPulumi } from "./pulumi";
import { loadStackFile } from "./stack-file";
import { configErrorOf } from "../../test/support/config-error";

const root = path.resolve(__dirname, "../..");
const ciStack = path.join(root, "stacks/Pulumi.case-ci.yaml");

async function loadWith(engine: EngineConfig) {
  const run = await setupMocks({ project: engine.project, stack: engine.stack, config: engine.config, secretKeys: engine.secretKeys });
  return { run, load: () => loadCaseConfigFromPulumi({ checkFiles: false }) };
}

describe("loadCaseConfigFromPulumi", () => {
  test("the engine's view of the CI stack: objects as JSON text, the passphrase as a secret", () => {
    const engine = engineConfigFromStackFile(ciStack);
    expect(engine.stack).toBe("case-ci");
    expect(engine.config["forensic-lab:caseId"]).toBe("case-ci");
    expect(JSON.parse(engine.config["forensic-lab:images"])).toHaveLength(7);
    expect(engine.config["forensic-lab:evidenceVolumePassphrase"]).toBe(TEST_PASSPHRASE);
    expect(engine.secretKeys).toEqual([
      "forensic-lab:evidenceVolumePassphrase",
      "forensic-lab:ci-laptop-p2-key",
      "forensic-lab:ci-laptop-home-key",
    ]);
  });

  test("resolves the same config as check-config reads from the file, plus the secret passphrase", async () => {
    const { run, load } = await loadWith(engineConfigFromStackFile(ciStack));
    const config = load();
    const fromFile = loadStackFile(ciStack, { checkFiles: false });
    const { evidenceVolumePassphrase, warnings, ...rest } = config;
    const { evidenceVolumePassphrase: none, warnings: fileWarnings, ...restFromFile } = fromFile;
    // The LUKS keys: secret Outputs here, not readable from the file.
    const withoutKeys = (c: typeof rest) => ({
      ...c,
      images: c.images.map((i) => ({ ...i, luksKeys: i.luksKeys.map(({ at, configKey }) => ({ at, configKey })) })),
    });
    expect(withoutKeys(rest)).toEqual(withoutKeys(restFromFile));
    expect(none).toBeUndefined();
    expect(restFromFile.images[3].luksKeys.map((k) => k.key)).toEqual([undefined, undefined]);
    expect(await valueOf(rest.images[3].luksKeys[0].key!)).toBe(TEST_PASSPHRASE);
    expect(await pulumi.isSecret(rest.images[3].luksKeys[0].key!)).toBe(true);
    // The file has no passphrase and no LUKS key yet (warnings there); the engine has them (none here).
    expect(fileWarnings.map((w) => w.key)).toEqual([
      "forensic-lab:evidenceVolumePassphrase",
      "forensic-lab:ci-laptop-p2-key",
      "forensic-lab:ci-laptop-home-key",
      "forensic-lab:evidenceVolume.fastKdfForTestsOnly",
    ]);
    expect(warnings.map((w) => w.key)).toEqual(["forensic-lab:evidenceVolume.fastKdfForTestsOnly"]);

    expect(await valueOf(evidenceVolumePassphrase)).toBe(TEST_PASSPHRASE);
    expect(await pulumi.isSecret(evidenceVolumePassphrase)).toBe(true);
    await settle();
    expect(run.resources).toEqual([]);
  });

  test("a passphrase the engine does not mark secret is refused, naming the stack file", async () => {
    const engine = engineConfigFromStackFile(ciStack);
    const { load } = await loadWith({ ...engine, secretKeys: [] });
    const err = configErrorOf(load);
    expect(err.message.split("\n")).toEqual([
      "stacks/Pulumi.case-ci.yaml: forensic-lab:evidenceVolumePassphrase: is in plain text; remove it from the stack file and set it with `pulumi config set --secret evidenceVolumePassphrase` (pipe it on stdin)",
      "stacks/Pulumi.case-ci.yaml: forensic-lab:ci-laptop-p2-key: is a LUKS key in plain text; remove it from the stack file and set it with `pulumi config set --secret ci-laptop-p2-key`",
      "stacks/Pulumi.case-ci.yaml: forensic-lab:ci-laptop-home-key: is a LUKS key in plain text; remove it from the stack file and set it with `pulumi config set --secret ci-laptop-home-key`",
    ]);
    expect(err.message).not.toContain(TEST_PASSPHRASE);
    expect(pulumi.RunError.isInstance(err)).toBe(true);
  });

  test("the program insists on the passphrase that check-config only warns about", async () => {
    const { load } = await loadWith(engineConfigFromStackFile(ciStack, { setPassphrase: false }));
    expect(configErrorOf(load).message.split("\n")).toEqual([
      "stacks/Pulumi.case-ci.yaml: forensic-lab:evidenceVolumePassphrase: is not set; set it with `pulumi config set --secret evidenceVolumePassphrase` (pipe it on stdin, not as an argument)",
      "stacks/Pulumi.case-ci.yaml: forensic-lab:ci-laptop-p2-key: is named in images[].luksKeys but not set; set it with `pulumi config set --secret ci-laptop-p2-key` (pipe it on stdin, not as an argument)",
      "stacks/Pulumi.case-ci.yaml: forensic-lab:ci-laptop-home-key: is named in images[].luksKeys but not set; set it with `pulumi config set --secret ci-laptop-home-key` (pipe it on stdin, not as an argument)",
    ]);
  });

  test("other namespaces pass through untouched; a broken value names the stack's file and key", async () => {
    const engine = engineConfigFromStackFile(path.join(root, "examples/Pulumi.case-demo.yaml"));
    const config = {
      ...engine.config,
      "aws:region": "eu-central-1",
      "forensic-lab:guest": JSON.stringify({ vcpus: 0 }),
    };
    const { run, load } = await loadWith({ ...engine, config });
    expect(configErrorOf(load).message).toBe(
      "stacks/Pulumi.case-demo.yaml: forensic-lab:guest.vcpus: must be a whole number from 1 to 64 (got 0)",
    );
    await settle();
    expect(run.resources).toEqual([]);
  });

  test("checkFiles is on by default inside the program", async () => {
    const engine = engineConfigFromStackFile(ciStack);
    const images = [{ name: "gone", path: "/nonexistent/forensic-lab/gone.vmdk" }];
    await setupMocks({
      project: engine.project,
      stack: engine.stack,
      config: { ...engine.config, "forensic-lab:images": JSON.stringify(images) },
      secretKeys: engine.secretKeys,
    });
    expect(configErrorOf(() => loadCaseConfigFromPulumi()).issues).toEqual([
      {
        key: "forensic-lab:images[0].path",
        message: "no such file '/nonexistent/forensic-lab/gone.vmdk'; give the full path of the top image file",
      },
    ]);
  });
});
