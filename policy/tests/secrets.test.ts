/**
 * The case storage is encrypted, its passphrase is a Pulumi secret, and no secret shows up in any
 * command's text, environment or arguments.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderHook } from "../../lib/shell";
import { evidenceVolumeEncrypted } from "../policies/evidence-volume-encrypted";
import { noSecretInCommandText } from "../policies/no-secret-in-command-text";
import { passphraseIsSecret } from "../policies/passphrase-is-secret";
import { LabResource, PASSPHRASE, inGuestText, messages, resource, safeLab } from "./fixtures";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-secrets-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let lab: LabResource[];
beforeEach(async () => {
  lab = await safeLab();
});

describe("evidence-volume-encrypted", () => {
  const policy = evidenceVolumeEncrypted;

  it("passes the safe lab", async () => {
    expect(await messages(policy, lab)).toEqual([]);
  });

  it("fails an unencrypted volume and an empty passphrase", async () => {
    Object.assign(resource(lab, "case-42-volume").props, { encrypted: false, passphrase: "" });
    expect(await messages(policy, lab)).toEqual([
      "case-42-volume: encrypted must be the literal true, got false: the case storage holds evidence copies and findings in the clear",
      "case-42-volume: passphrase must be set: the encrypted volume cannot be opened without one",
    ]);
  });
});

describe("passphrase-is-secret", () => {
  const policy = passphraseIsSecret;

  it("passes the safe lab, whose passphrase and stdin are secrets", async () => {
    expect(await messages(policy, lab)).toEqual([]);
  });

  it("stops a passphrase that is not a secret", async () => {
    Object.assign(resource(lab, "case-42-volume"), { secretKeys: [] });
    expect(await messages(policy, lab)).toEqual([
      "case-42-volume: EvidenceVolume 'case-42-volume': passphrase is not a Pulumi secret, so it would be stored in plain text: set it with 'pulumi config set --secret' or wrap it in pulumi.secret()",
    ]);
  });

  it("stops a hook whose stdin is not a secret", async () => {
    Object.assign(resource(lab, "case-42-volume-luks"), { secretKeys: [] });
    expect(await messages(policy, lab)).toEqual([
      "case-42-volume-luks: command 'case-42-volume-luks': stdin is not a Pulumi secret, so what it carries would be stored in plain text: pass it through hookResource, which wraps it in pulumi.secret()",
    ]);
  });

  it("leaves a passphrase unknown at preview to `pulumi up` (an unknown value travels without its secret mark)", async () => {
    Object.assign(resource(lab, "case-42-volume"), { secretKeys: [], unknownKeys: ["passphrase"] });
    Object.assign(resource(lab, "case-42-volume-luks"), { secretKeys: [], unknownKeys: ["stdin"] });
    expect(await messages(policy, lab)).toEqual([]);
  });

  it("does nothing at a level other than remediate, where it cannot see secrets", async () => {
    Object.assign(resource(lab, "case-42-volume"), { secretKeys: [] });
    expect(await messages(policy, lab, { "passphrase-is-secret": { enforcementLevel: "mandatory" } })).toEqual([]);
  });
});

describe("no-secret-in-command-text", () => {
  const policy = noSecretInCommandText;
  const hook = (body: string) => {
    const file = path.join(dir, `hook-${Math.random().toString(36).slice(2)}.sh`);
    fs.writeFileSync(file, `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`);
    return file;
  };

  it("passes the safe lab", async () => {
    expect(await messages(policy, lab)).toEqual([]);
  });

  it("fails a passphrase spliced into an inner hook's prelude, however it is quoted", async () => {
    const passphrase = "it's a 'quoted' $(secret)";
    Object.assign(resource(lab, "case-42-volume").props, { passphrase });
    Object.assign(resource(lab, "case-42-volume-luks").props, { stdin: passphrase });
    resource(lab, "disk-p1-mount").props.create = await inGuestText(hook('echo -n "$KEY" | cryptsetup open --key-file=- /dev/x y'), {
      KEY: passphrase,
    });
    const found = await messages(policy, lab);
    expect(found).toEqual([
      "disk-p1-mount: its create text contains the passphrase of 'case-42-volume'; secrets reach hooks only on stdin",
    ]);
    expect(found.join("\n")).not.toContain("quoted");
  });

  it("fails a secret in a command's environment or delete text, found through the stdin that carries it", async () => {
    // What the engine shows a stack policy of a component is its registered outputs: no passphrase.
    delete resource(lab, "case-42-volume").props.passphrase;
    Object.assign(resource(lab, "disk-nbd-attach").props, { environment: { LUKS_KEY: PASSPHRASE } });
    resource(lab, "case-42-volume-luks").props.delete = renderHook(hook('echo "$P" >/dev/null'), { P: `${PASSPHRASE}\n` });
    expect(await messages(policy, lab)).toEqual([
      "case-42-volume-luks: its delete text contains the stdin of 'case-42-volume-luks'; secrets reach hooks only on stdin",
      "disk-nbd-attach: its environment variable LUKS_KEY contains the stdin of 'case-42-volume-luks'; secrets reach hooks only on stdin",
    ]);
  });

  it("knows secrets from additionalSecretOutputs too", async () => {
    lab.push({
      type: "command:local:Command",
      name: "token-maker",
      parent: "case-42",
      props: { create: "true", token: "s3cr3t-token-value" },
      additionalSecretOutputs: ["token"],
    });
    resource(lab, "disk-p1-mount").props.delete = "echo s3cr3t-token-value";
    expect(await messages(policy, lab)).toEqual([
      "disk-p1-mount: its delete text contains the secret token of 'token-maker'; secrets reach hooks only on stdin",
    ]);
  });
});
