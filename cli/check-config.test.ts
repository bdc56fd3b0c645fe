/** `forensic-lab check-config` as an examiner runs it: the real entry point, in a child process. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const root = path.resolve(__dirname, "..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-check-config-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function checkConfig(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, "bin/forensic-lab.js"), "check-config", ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function writeStack(name: string, text: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
}

const PASSPHRASE_WARNING =
  "forensic-lab:evidenceVolumePassphrase: is not set yet; set it with `pulumi config set --secret evidenceVolumePassphrase` before `pulumi up`";

jest.setTimeout(60_000);

test("a valid stack: ok line on stdout, the missing passphrase as a warning, exit 0", () => {
  const image = path.join(tmp, "win7-000002.vmdk");
  fs.writeFileSync(image, "# Disk DescriptorFile\n");
  const file = writeStack(
    "Pulumi.case-7.yaml",
    `config:\n  forensic-lab:caseId: case-7\n  forensic-lab:examiner: Erika\n  forensic-lab:images:\n    - name: win7\n      path: ${image}\n`,
  );
  const r = checkConfig(file);
  expect(r).toEqual({ status: 0, stdout: `ok: ${file}: case case-7, 1 image\n`, stderr: `warning: ${file}: ${PASSPHRASE_WARNING}\n` });
});

test("the shipped CI stack, its evidence being elsewhere: seven images, four warnings (no secret set yet)", () => {
  const r = checkConfig("--skip-file-checks", "stacks/Pulumi.case-ci.yaml");
  expect(r.status).toBe(0);
  expect(r.stdout).toBe("ok: stacks/Pulumi.case-ci.yaml: case case-ci, 7 images\n");
  expect(r.stderr.trim().split("\n")).toEqual([
    `warning: stacks/Pulumi.case-ci.yaml: ${PASSPHRASE_WARNING}`,
    "warning: stacks/Pulumi.case-ci.yaml: forensic-lab:ci-laptop-p2-key: is named in images[].luksKeys but not set; set it with `pulumi config set --secret ci-laptop-p2-key` (pipe it on stdin, not as an argument)",
    "warning: stacks/Pulumi.case-ci.yaml: forensic-lab:ci-laptop-home-key: is named in images[].luksKeys but not set; set it with `pulumi config set --secret ci-laptop-home-key` (pipe it on stdin, not as an argument)",
    "warning: stacks/Pulumi.case-ci.yaml: forensic-lab:evidenceVolume.fastKdfForTestsOnly: is true: the LUKS key derivation is weakened for tests; never use this for a real case",
  ]);
});

test("an invalid stack: every issue on stderr, a count, exit 1, no stack trace", () => {
  const file = writeStack(
    "Pulumi.case-8.yaml",
    [
      "config:",
      "  forensic-lab:caseId: case-8",
      "  forensic-lab:examiner: Erika",
      "  forensic-lab:evidenceVolumePassphrase: plain-text-passphrase",
      "  forensic-lab:images:",
      "    - name: win7",
      "      path: vmw/x.vmdk",
      "      partitions: [{number: 1, options: [rw]}]",
      "",
    ].join("\n"),
  );
  const r = checkConfig(file);
  expect(r.status).toBe(1);
  expect(r.stdout).toBe("");
  expect(r.stderr.trim().split("\n")).toEqual([
    `${file}: forensic-lab:evidenceVolumePassphrase: is in plain text; remove it from the stack file and set it with \`pulumi config set --secret evidenceVolumePassphrase\` (pipe it on stdin)`,
    `${file}: forensic-lab:images[0].path: must be absolute (got 'vmw/x.vmdk'); give the full path of the top image file`,
    `${file}: forensic-lab:images[0].partitions[0].options: 'rw' is not allowed: it would mount the evidence writable; evidence is always mounted read-only`,
    `check-config: 3 problems in ${file}`,
  ]);
  expect(r.stderr).not.toContain("plain-text-passphrase");
});

test("a missing image file is found unless file checks are skipped", () => {
  const file = writeStack(
    "Pulumi.case-9.yaml",
    "config:\n  forensic-lab:caseId: case-9\n  forensic-lab:examiner: E\n  forensic-lab:images:\n    - {name: a, path: /nonexistent/forensic-lab/a.vmdk}\n",
  );
  const checked = checkConfig(file);
  expect(checked.status).toBe(1);
  expect(checked.stderr).toContain(
    `${file}: forensic-lab:images[0].path: no such file '/nonexistent/forensic-lab/a.vmdk'; give the full path of the top image file\n`,
  );
  expect(checkConfig("--skip-file-checks", file)).toMatchObject({ status: 0, stdout: `ok: ${file}: case case-9, 1 image\n` });
});

test("files that are not stack files: one line each, exit 1", () => {
  const broken = writeStack("Pulumi.broken.yaml", "config:\n  forensic-lab:caseId: [\n");
  const r = checkConfig(broken);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(new RegExp(`^${broken}: line \\d+, column \\d+: not valid YAML: .+\ncheck-config: 1 problem in ${broken}\n$`));

  const missing = checkConfig(path.join(tmp, "Pulumi.none.yaml"));
  expect(missing.status).toBe(1);
  expect(missing.stderr).toContain(
    `${path.join(tmp, "Pulumi.none.yaml")}: no such file; give the path of a stack file such as stacks/Pulumi.<case>.yaml\n`,
  );
  expect(missing.stderr).not.toMatch(/\n\s+at /);
});

test("usage: no file, two files, an unknown option exit 2; --help exits 0", () => {
  for (const args of [[], ["a.yaml", "b.yaml"], ["--strict", "stacks/Pulumi.case-demo.yaml"]]) {
    const r = checkConfig(...args);
    expect({ args, status: r.status }).toEqual({ args, status: 2 });
    expect(r.stderr).toContain("usage: forensic-lab check-config <stack file> [--skip-file-checks]");
    expect(r.stdout).toBe("");
  }
  expect(checkConfig("--strict", "x.yaml").stderr).toMatch(/^check-config: unknown option '--strict'\n/);
  const help = checkConfig("--help");
  expect(help.status).toBe(0);
  expect(help.stdout).toContain("usage: forensic-lab check-config <stack file>");
});
